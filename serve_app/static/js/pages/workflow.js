// Workflow page: metadata, trigger URLs, the graph, the Execute form and the
// workflow's executions, paged.

import { api } from "../api.js";
import { DagView } from "../dag.js";
import {
  FINAL_EXECUTION_STATUSES,
  MODES,
  formatDuration,
  formatTime,
  h,
  pager,
  reportError,
  statusBadge,
  toast,
} from "../ui.js";
import { previewWorkflow } from "../yaml.js";

const PAGE_SIZE = 20;
const POLL_MS = 2000;
const EXECUTION_STATUSES = ["", "WAITING", "RUNNING", "SUCCESS", "ERROR", "CANCELLED"];

export function absoluteUrl(path) {
  return new URL(path.replace(/^\//, ""), document.baseURI).href;
}

export async function renderWorkflow(ctx, name) {
  const workflow = await api.getWorkflow(name);
  if (!ctx.active) return;
  const enc = encodeURIComponent(name);

  const deleteButton = h("button.btn.danger", { type: "button", "data-testid": "delete-workflow" }, "Delete");
  deleteButton.addEventListener("click", async () => {
    if (!window.confirm(`Delete workflow '${name}'? Its executions stay readable.`)) return;
    try {
      await api.deleteWorkflow(name);
      toast(`Deleted ${name}`);
      await ctx.refreshSidebar();
      location.hash = "#/";
    } catch (error) {
      reportError(`Deleting workflow '${name}'`, error);
    }
  });

  const triggers = workflow.triggers.length
    ? h(
        "ul.trigger-list",
        {},
        workflow.triggers.map((t) => {
          const url = absoluteUrl(t.url);
          return h(
            "li",
            {},
            h("span.pill", {}, t.async ? "async" : "sync wait"),
            h("code.trigger-url", { "data-testid": "trigger-url" }, `POST ${url}`),
            h(
              "button.btn.small",
              {
                type: "button",
                onclick: () => navigator.clipboard?.writeText(url).then(() => toast("Copied the trigger URL"), () => toast(url)),
              },
              "Copy",
            ),
          );
        }),
      )
    : h("p.muted", {}, "No triggers. Add an http trigger to the spec to start executions with a POST.");

  const dagBox = h("div.dag-container.small");
  ctx.page.replaceChildren(
    h(
      "div.page-header",
      {},
      h(
        "div",
        {},
        h("div.crumbs", {}, h("a", { href: "#/" }, "Workflows")),
        h("h1", { "data-testid": "workflow-title" }, workflow.name),
        workflow.description ? h("p.subtitle", {}, workflow.description) : null,
      ),
      h(
        "div.actions",
        {},
        h("a.btn", { href: `#/workflows/${enc}/compare` }, "Compare modes"),
        h("a.btn", { href: `#/workflows/${enc}/edit`, "data-testid": "edit-workflow" }, "Edit"),
        deleteButton,
      ),
    ),
    h(
      "div.grid-2",
      {},
      h(
        "section.card",
        {},
        h("div.card-title", {}, "Details"),
        h(
          "dl.meta",
          {},
          h("dt", {}, "Version"),
          h("dd", {}, `v${workflow.version}`),
          h("dt", {}, "Tasks"),
          h("dd", {}, String(workflow.tasks.length)),
          h("dt", {}, "Created"),
          h("dd", {}, formatTime(workflow.created_at)),
          h("dt", {}, "Updated"),
          h("dd", {}, formatTime(workflow.updated_at)),
        ),
        h("div.card-subtitle", {}, "Trigger URLs"),
        triggers,
      ),
      executeForm(name),
    ),
    h("section.card", {}, h("div.card-title", {}, "Graph"), dagBox),
    executionsSection(ctx, name),
  );
  try {
    new DagView(dagBox).render(previewWorkflow(workflow.spec).tasks);
  } catch (error) {
    dagBox.replaceChildren(h("div.empty", {}, `The graph cannot be drawn: ${error.message}`));
  }
}

function executeForm(name) {
  const mode = h("select", { "data-testid": "mode", "aria-label": "Mode" }, MODES.map((m) => h("option", { value: m }, m)));
  const input = h("textarea.code.small", { rows: 5, spellcheck: "false", "data-testid": "input-json", "aria-label": "Input JSON" });
  input.value = "{}";
  const button = h("button.btn.primary", { type: "submit", "data-testid": "execute" }, "Execute");
  const form = h(
    "form.card",
    {},
    h("div.card-title", {}, "Execute"),
    h("label.field", {}, h("span", {}, "Mode"), mode),
    h("label.field", {}, h("span", {}, "Input (JSON)"), input),
    h("div.actions", {}, button),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let value;
    try {
      value = input.value.trim() ? JSON.parse(input.value) : null;
    } catch (error) {
      reportError("Reading the input", new Error(`the input is not valid JSON (${error.message}); fix it or leave it empty`));
      return;
    }
    button.disabled = true;
    try {
      const execution = await api.startExecution(name, mode.value, value);
      location.hash = `#/executions/${encodeURIComponent(execution.execution_id)}`;
    } catch (error) {
      reportError(`Starting an execution of '${name}'`, error);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function executionsSection(ctx, name) {
  const body = h("div");
  const filter = h(
    "select",
    { "aria-label": "Status filter" },
    EXECUTION_STATUSES.map((s) => h("option", { value: s }, s || "All statuses")),
  );
  const state = { offset: 0, status: "" };
  let timer = null;
  const load = async () => {
    clearTimeout(timer);
    try {
      const page = await api.listExecutions(name, { limit: PAGE_SIZE, offset: state.offset, status: state.status || undefined });
      if (!ctx.active) return;
      body.replaceChildren(executionsTable(page.items), pager({ ...page, label: "executions", onPage: (offset) => ((state.offset = offset), load()) }));
      if (page.items.some((e) => !FINAL_EXECUTION_STATUSES.has(e.status))) timer = setTimeout(load, POLL_MS);
    } catch (error) {
      if (ctx.active) reportError("Loading the executions", error);
    }
  };
  filter.addEventListener("change", () => {
    state.status = filter.value;
    state.offset = 0;
    load();
  });
  ctx.onLeave(() => clearTimeout(timer));
  load();
  return h("section.card", {}, h("div.card-title", {}, "Executions", filter), body);
}

function executionsTable(items) {
  if (!items.length) return h("div.empty", {}, "No executions yet. Start one with Execute.");
  return h(
    "table.table",
    { "data-testid": "executions" },
    h(
      "thead",
      {},
      h("tr", {}, h("th", {}, "Execution"), h("th", {}, "Status"), h("th", {}, "Mode"), h("th", {}, "Version"), h("th", {}, "Started"), h("th.num", {}, "Duration")),
    ),
    h(
      "tbody",
      {},
      items.map((e) =>
        h(
          "tr",
          {},
          h("td", {}, h("a.mono", { href: `#/executions/${encodeURIComponent(e.execution_id)}` }, e.execution_id)),
          h("td", {}, statusBadge(e.status)),
          h("td", {}, e.mode),
          h("td", {}, e.version ? `v${e.version}` : "—"),
          h("td", {}, formatTime(e.started_at ?? e.created_at)),
          h("td.num", {}, formatDuration(e.duration_s)),
        ),
      ),
    ),
  );
}
