// New and edit pages: a YAML editor with line numbers, live validation by
// the API and a live DAG preview.

import { api, validateSpec } from "../api.js";
import { DagView } from "../dag.js";
import { clearError, debounce, h, reportError, toast } from "../ui.js";
import { previewWorkflow } from "../yaml.js";

const VALIDATE_DELAY_MS = 450;
const PREVIEW_DELAY_MS = 250;

const TEMPLATE = `# A workflow is a DAG of HTTP tasks. Each task calls a function of the
# gateway (function:) or any URL (url:), after the tasks it depends on.
name: my-workflow
description: Fetch two things in parallel, then combine them.
triggers:
- type: http
  name: on-demand
tasks:
- name: first
  function: echo
  body: {step: first, input: "{{ input }}"}
- name: second
  function: sleep
  body: {seconds: 0.5}
- name: combine
  function: echo
  body:
    first: "{{ tasks.first.output }}"
    second: "{{ tasks.second.output }}"
  depends: [first, second]
`;

export async function renderEditor(ctx, name) {
  let original = TEMPLATE;
  if (name) {
    const workflow = await api.getWorkflow(name);
    if (!ctx.active) return;
    original = workflow.spec;
  }
  const editor = new YamlEditor(original);
  const issuesBox = h("div.issues", { "data-testid": "issues" });
  const statusLine = h("div.validation-status", { "data-testid": "validation-status" }, "Checking…");
  const previewBox = h("div.dag-container.preview");
  const dag = new DagView(previewBox);
  const saveButton = h("button.btn.primary", { type: "button", "data-testid": "save" }, name ? "Save new version" : "Create workflow");

  ctx.page.replaceChildren(
    h(
      "div.page-header",
      {},
      h(
        "div",
        {},
        h("div.crumbs", {}, h("a", { href: "#/" }, "Workflows"), name ? [" / ", h("a", { href: `#/workflows/${encodeURIComponent(name)}` }, name)] : null),
        h("h1", {}, name ? `Edit ${name}` : "New workflow"),
      ),
      h(
        "div.actions",
        {},
        h("a.btn", { href: name ? `#/workflows/${encodeURIComponent(name)}` : "#/" }, "Cancel"),
        saveButton,
      ),
    ),
    h(
      "div.editor-layout",
      {},
      h("section.card.editor-card", {}, h("div.card-title", {}, "Spec (YAML)", statusLine), editor.root, issuesBox),
      h("section.card.preview-card", {}, h("div.card-title", {}, "DAG preview"), previewBox),
    ),
  );

  let lastPreviewKey = null;
  const updatePreview = (text, serverDag) => {
    try {
      const spec = serverDag ?? previewWorkflow(text);
      const key = JSON.stringify(spec.tasks);
      if (key === lastPreviewKey) return;
      lastPreviewKey = key;
      if (!spec.tasks.length) {
        previewBox.replaceChildren(h("div.empty", {}, "Add tasks to see the graph."));
        return;
      }
      dag.render(spec.tasks);
    } catch (error) {
      lastPreviewKey = null;
      previewBox.replaceChildren(h("div.empty", {}, `No preview: ${error.message}`));
    }
  };

  let inflight = null;
  let generation = 0;
  const validate = async () => {
    const text = editor.value;
    const mine = ++generation;
    inflight?.abort();
    inflight = new AbortController();
    statusLine.className = "validation-status";
    statusLine.textContent = "Checking…";
    try {
      const result = await validateSpec(text, inflight.signal);
      if (mine !== generation || !ctx.active) return;
      if (result.ok) {
        editor.setIssues([]);
        issuesBox.replaceChildren();
        statusLine.className = "validation-status ok";
        statusLine.textContent = "Valid";
        if (result.dag) updatePreview(text, result.dag);
      } else {
        showIssues(result.issues.length ? result.issues : [{ message: result.message }]);
      }
    } catch (error) {
      if (error.name === "AbortError" || mine !== generation) return;
      statusLine.className = "validation-status";
      statusLine.textContent = "Not checked";
      reportError("Validating the spec", error);
    }
  };

  const showIssues = (issues) => {
    editor.setIssues(issues);
    statusLine.className = "validation-status bad";
    statusLine.textContent = issues.length === 1 ? "1 problem" : `${issues.length} problems`;
    issuesBox.replaceChildren(
      ...issues.map((issue) =>
        h(
          "button.issue",
          { type: "button", "data-line": issue.line ?? "", onclick: () => issue.line && editor.goToLine(issue.line) },
          h("span.issue-line", {}, issue.line ? `Line ${issue.line}` : "Spec"),
          h("span.issue-where", {}, [issue.task && `task ${issue.task}`, issue.field && `field ${issue.field}`].filter(Boolean).join(" · ")),
          h("span.issue-message", {}, issue.message),
        ),
      ),
    );
  };

  const debouncedValidate = debounce(validate, VALIDATE_DELAY_MS);
  const debouncedPreview = debounce(() => updatePreview(editor.value), PREVIEW_DELAY_MS);
  editor.onInput(() => {
    debouncedPreview();
    debouncedValidate();
  });
  updatePreview(editor.value);
  validate();

  saveButton.addEventListener("click", async () => {
    saveButton.disabled = true;
    clearError();
    try {
      const saved = name ? await api.putWorkflow(name, editor.value) : await api.createWorkflow(editor.value);
      toast(`Saved ${saved.name} as version ${saved.version}`);
      await ctx.refreshSidebar();
      location.hash = `#/workflows/${encodeURIComponent(saved.name)}`;
    } catch (error) {
      if (error.status === 422 && error.issues.length) {
        showIssues(error.issues);
        reportError("Saving the workflow", new Error(`the spec is invalid (${error.issues.length} problem(s) listed under the editor)`));
      } else {
        reportError("Saving the workflow", error);
      }
    } finally {
      saveButton.disabled = false;
    }
  });
}

// A textarea with a line-number gutter and a highlight band per issue line.
class YamlEditor {
  constructor(text) {
    this.textarea = h("textarea.code", {
      spellcheck: "false",
      autocomplete: "off",
      autocapitalize: "off",
      wrap: "off",
      "aria-label": "Workflow spec in YAML",
      "data-testid": "yaml-editor",
    });
    this.textarea.value = text;
    this.numbers = h("div.gutter-numbers");
    this.gutter = h("div.gutter", { "aria-hidden": "true" }, this.numbers);
    this.bands = h("div.bands", { "aria-hidden": "true" });
    this.root = h("div.code-editor", {}, this.gutter, h("div.code-area", {}, this.bands, this.textarea));
    this.lineCount = 0;
    this.issueLines = new Map();
    this.textarea.addEventListener("scroll", () => this.syncScroll());
    this.textarea.addEventListener("input", () => this.updateNumbers());
    this.textarea.addEventListener("keydown", (event) => this.handleKey(event));
    this.updateNumbers();
  }

  get value() {
    return this.textarea.value;
  }

  onInput(fn) {
    this.textarea.addEventListener("input", fn);
  }

  handleKey(event) {
    if (event.key !== "Tab" || event.shiftKey || event.ctrlKey || event.metaKey) return;
    event.preventDefault();
    // Insert two spaces: YAML forbids tabs for indentation.
    document.execCommand("insertText", false, "  ");
  }

  updateNumbers() {
    const count = this.value.split("\n").length;
    if (count === this.lineCount) return;
    this.lineCount = count;
    const lines = new Array(count);
    for (let i = 0; i < count; i++) lines[i] = i + 1;
    this.numbers.textContent = lines.join("\n");
    this.renderIssues();
  }

  syncScroll() {
    const top = this.textarea.scrollTop;
    this.numbers.style.transform = `translateY(${-top}px)`;
    this.bands.style.transform = `translate(${-this.textarea.scrollLeft}px, ${-top}px)`;
  }

  setIssues(issues) {
    this.issueLines = new Map();
    for (const issue of issues) {
      if (!issue.line) continue;
      const list = this.issueLines.get(issue.line) ?? [];
      list.push(issue.message);
      this.issueLines.set(issue.line, list);
    }
    this.renderIssues();
  }

  renderIssues() {
    const lineHeight = Number.parseFloat(getComputedStyle(this.textarea).lineHeight) || 20;
    const padTop = Number.parseFloat(getComputedStyle(this.textarea).paddingTop) || 0;
    const marks = [];
    for (const [line, messages] of this.issueLines) {
      if (line > this.lineCount) continue;
      marks.push(
        h("div.band", {
          style: `top:${padTop + (line - 1) * lineHeight}px;height:${lineHeight}px`,
          title: messages.join("\n"),
          "data-line": line,
        }),
      );
    }
    this.bands.replaceChildren(...marks);
    for (const el of this.gutter.querySelectorAll(".gutter-mark")) el.remove();
    for (const [line, messages] of this.issueLines) {
      if (line > this.lineCount) continue;
      this.numbers.append(
        h("span.gutter-mark", { style: `top:${padTop + (line - 1) * lineHeight}px;height:${lineHeight}px`, title: messages.join("\n") }, "●"),
      );
    }
    this.syncScroll();
  }

  goToLine(line) {
    const lines = this.value.split("\n");
    let offset = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
    this.textarea.focus();
    this.textarea.setSelectionRange(offset, offset + (lines[line - 1]?.length ?? 0));
    const lineHeight = Number.parseFloat(getComputedStyle(this.textarea).lineHeight) || 20;
    this.textarea.scrollTop = Math.max(0, (line - 4) * lineHeight);
  }
}
