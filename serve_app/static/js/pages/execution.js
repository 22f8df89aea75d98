// Execution page: metadata, the DAG and the Gantt timeline updated live from
// the server-sent event stream, the task table, and Cancel and Retry.

import { api } from "../api.js";
import { DagView } from "../dag.js";
import { makespan, renderGantt } from "../gantt.js";
import {
  FINAL_EXECUTION_STATUSES,
  TASK_STATUSES,
  formatDuration,
  formatJson,
  formatTime,
  h,
  pager,
  reportError,
  showError,
  statusBadge,
  toast,
} from "../ui.js";
import { previewWorkflow } from "../yaml.js";

const TASK_PAGE_SIZE = 50;
const REDRAW_MS = 500;
const POLL_MS = 2000;

// The spec's tasks ({name, depends, body}) of the version an execution ran.
async function loadSpecTasks(execution) {
  try {
    const { items } = await api.workflowVersions(execution.workflow);
    const version = items.find((v) => v.version === execution.version) ?? items[items.length - 1];
    const doc = previewWorkflow(version.spec);
    return doc.tasks;
  } catch (error) {
    console.warn("the spec of this execution could not be read; drawing tasks without edges", error);
    return null;
  }
}

export async function renderExecution(ctx, id) {
  const first = await api.getExecution(id);
  if (!ctx.active) return;
  const specTasks = (await loadSpecTasks(first)) ?? first.tasks.map((t) => ({ name: t.name, depends: [] }));
  if (!ctx.active) return;
  const view = new ExecutionView(ctx, id, specTasks);
  view.setRecord(first);
  view.follow();
}

class ExecutionView {
  constructor(ctx, id, specTasks) {
    this.ctx = ctx;
    this.id = id;
    this.specTasks = specTasks;
    this.tasks = new Map(specTasks.map((t) => [t.name, { name: t.name, status: "WAITING", attempts: 0 }]));
    this.execution = null;
    this.expanded = new Set();
    this.table = { offset: 0, status: "", search: "" };
    this.redrawTimer = null;
    this.lastRedraw = 0;

    this.headerBox = h("div");
    this.metaBox = h("div");
    this.dagBox = h("div.dag-container");
    this.ganttBox = h("div.gantt", { "data-testid": "gantt" });
    this.tableBox = h("div");
    this.liveBadge = h("span.live", { hidden: true }, "● live");
    this.dag = new DagView(this.dagBox, { onSelect: (name) => this.focusTask(name) });

    const statusFilter = h(
      "select",
      { "aria-label": "Task status filter" },
      ["", ...TASK_STATUSES].map((s) => h("option", { value: s }, s || "All statuses")),
    );
    statusFilter.addEventListener("change", () => {
      this.table.status = statusFilter.value;
      this.table.offset = 0;
      this.renderTable();
    });
    const search = h("input.search", { type: "search", placeholder: "Filter by name", "aria-label": "Filter tasks by name" });
    search.addEventListener("input", () => {
      this.table.search = search.value.trim().toLowerCase();
      this.table.offset = 0;
      this.renderTable();
    });

    ctx.page.replaceChildren(
      this.headerBox,
      this.metaBox,
      h("section.card", {}, h("div.card-title", {}, "Graph", this.liveBadge), this.dagBox),
      h("section.card", {}, h("div.card-title", {}, "Timeline"), this.ganttBox),
      h("section.card", {}, h("div.card-title", {}, "Tasks", h("div.inline", {}, search, statusFilter)), this.tableBox),
    );
    this.dag.render(specTasks, (name) => this.tasks.get(name)?.status ?? "WAITING");
    ctx.onLeave(() => this.stop());
  }

  // Replace the state with a full execution record.
  setRecord(record) {
    this.execution = record;
    for (const task of record.tasks) {
      const known = this.tasks.get(task.name);
      this.tasks.set(task.name, { ...known, ...task });
      if (!known) this.specTasks.push({ name: task.name, depends: [] });
      this.dag.setStatus(task.name, task.status);
    }
    this.renderHeader();
    this.redraw(true);
  }

  follow() {
    if (FINAL_EXECUTION_STATUSES.has(this.execution.status)) return;
    this.liveBadge.hidden = false;
    const source = new EventSource(api.eventsUrl(this.id));
    this.source = source;
    const on = (type, fn) =>
      source.addEventListener(type, (event) => {
        try {
          fn(JSON.parse(event.data));
        } catch (error) {
          reportError(`Reading the ${type} event`, error);
        }
      });
    on("snapshot", (record) => this.setRecord(record));
    on("execution_started", (data) => {
      this.execution = { ...this.execution, status: "RUNNING", started_at: data.at };
      this.renderHeader();
    });
    on("task_started", (data) => this.updateTask({ name: data.task, status: "RUNNING", started_at: data.at }));
    on("task_finished", (data) => {
      const { task, execution_id: _, ...rest } = data;
      this.updateTask({ name: task, ...rest });
    });
    on("execution_finished", async (data) => {
      source.close();
      this.liveBadge.hidden = true;
      this.execution = { ...this.execution, status: data.status, ended_at: data.at, error: data.error };
      this.renderHeader();
      await this.reload();
    });
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up reconnecting: fall back to polling.
        this.liveBadge.hidden = true;
        showError("Live updates stopped: the event stream closed. The page now refreshes every 2 seconds.");
        this.poll();
      }
    };
  }

  async poll() {
    await this.reload();
    if (this.ctx.active && !FINAL_EXECUTION_STATUSES.has(this.execution.status)) {
      this.pollTimer = setTimeout(() => this.poll(), POLL_MS);
    }
  }

  async reload() {
    try {
      const record = await api.getExecution(this.id);
      if (this.ctx.active) this.setRecord(record);
    } catch (error) {
      if (this.ctx.active) reportError("Refreshing the execution", error);
    }
  }

  stop() {
    this.source?.close();
    clearTimeout(this.redrawTimer);
    clearTimeout(this.pollTimer);
    clearInterval(this.tick);
  }

  updateTask(change) {
    const known = this.tasks.get(change.name) ?? { name: change.name, attempts: 0 };
    if (!this.tasks.has(change.name)) this.specTasks.push({ name: change.name, depends: [] });
    this.tasks.set(change.name, { ...known, ...change });
    this.dag.setStatus(change.name, change.status);
    this.redraw();
  }

  // Redraw the timeline and the table at most every REDRAW_MS, so a burst of
  // events on a large workflow costs one redraw.
  redraw(now = false) {
    if (now) {
      clearTimeout(this.redrawTimer);
      this.redrawTimer = null;
      this.lastRedraw = Date.now();
      this.renderGantt();
      this.renderTable();
      this.renderMeta();
      this.updateTicker();
      return;
    }
    if (this.redrawTimer) return;
    const wait = Math.max(0, REDRAW_MS - (Date.now() - this.lastRedraw));
    this.redrawTimer = setTimeout(() => this.redraw(true), wait);
  }

  // While the execution runs, running bars and durations grow every second.
  updateTicker() {
    const running = !FINAL_EXECUTION_STATUSES.has(this.execution.status);
    if (running && !this.tick) this.tick = setInterval(() => this.redraw(), 1000);
    if (!running && this.tick) {
      clearInterval(this.tick);
      this.tick = null;
    }
  }

  snapshot() {
    return { ...this.execution, tasks: [...this.tasks.values()] };
  }

  renderHeader() {
    const e = this.execution;
    const final = FINAL_EXECUTION_STATUSES.has(e.status);
    const actions = [];
    if (!final) {
      const cancel = h("button.btn.danger", { type: "button", "data-testid": "cancel" }, "Cancel");
      cancel.addEventListener("click", async () => {
        cancel.disabled = true;
        try {
          const record = await api.cancelExecution(this.id);
          toast(record.status === "CANCELLED" ? "Execution cancelled" : "Cancelling…");
          await this.reload();
        } catch (error) {
          reportError("Cancelling the execution", error);
          cancel.disabled = false;
        }
      });
      actions.push(cancel);
    }
    if (final && e.status !== "SUCCESS") {
      const retry = h("button.btn.primary", { type: "button", "data-testid": "retry" }, "Retry");
      retry.addEventListener("click", async () => {
        retry.disabled = true;
        try {
          const started = await api.retryExecution(this.id);
          toast("Retry started: succeeded tasks are reused");
          location.hash = `#/executions/${encodeURIComponent(started.execution_id)}`;
        } catch (error) {
          reportError("Retrying the execution", error);
          retry.disabled = false;
        }
      });
      actions.push(retry);
    }
    const enc = encodeURIComponent(e.workflow);
    this.headerBox.replaceChildren(
      h(
        "div.page-header",
        {},
        h(
          "div",
          {},
          h("div.crumbs", {}, h("a", { href: "#/" }, "Workflows"), " / ", h("a", { href: `#/workflows/${enc}` }, e.workflow)),
          h("h1", {}, "Execution ", h("span.mono.light", {}, e.execution_id), " ", h("span", { "data-testid": "execution-status" }, statusBadge(e.status))),
        ),
        h("div.actions", {}, h("a.btn", { href: `#/workflows/${enc}/compare` }, "Compare modes"), actions),
      ),
    );
    this.renderMeta();
    this.updateTicker();
  }

  renderMeta() {
    const e = this.execution;
    const counts = {};
    for (const t of this.tasks.values()) counts[t.status] = (counts[t.status] ?? 0) + 1;
    const span = makespan(e);
    const retryOf = e.detail?.retry_of;
    this.metaBox.replaceChildren(
      h(
        "section.card",
        {},
        h(
          "dl.meta.wide",
          {},
          h("dt", {}, "Workflow"),
          h("dd", {}, `${e.workflow} v${e.version ?? "?"}`),
          h("dt", {}, "Mode"),
          h("dd", {}, e.mode),
          h("dt", {}, "Created"),
          h("dd", {}, formatTime(e.created_at)),
          h("dt", {}, "Started"),
          h("dd", {}, formatTime(e.started_at)),
          h("dt", {}, "Ended"),
          h("dd", {}, formatTime(e.ended_at)),
          h("dt", {}, FINAL_EXECUTION_STATUSES.has(e.status) ? "Duration" : "Running for"),
          h("dd", { "data-testid": "makespan" }, formatDuration(e.duration_s ?? span)),
          h("dt", {}, "Tasks"),
          h(
            "dd.counts",
            {},
            TASK_STATUSES.filter((s) => counts[s]).map((s) => h("span.count", { class: `s-${s}` }, `${counts[s]} ${s.toLowerCase()}`)),
          ),
          retryOf ? [h("dt", {}, "Retry of"), h("dd", {}, h("a.mono", { href: `#/executions/${encodeURIComponent(retryOf)}` }, retryOf))] : null,
        ),
        e.error ? h("div.note.error", { "data-testid": "execution-error" }, e.error) : null,
        h(
          "details.io",
          {},
          h("summary", {}, "Input and output"),
          h("div.grid-2", {}, h("div", {}, h("h4", {}, "Input"), h("pre.json", {}, formatJson(e.input))), h("div", {}, h("h4", {}, "Output"), h("pre.json", {}, formatJson(e.output)))),
        ),
      ),
    );
  }

  renderGantt() {
    renderGantt(this.ganttBox, this.snapshot());
  }

  filteredTasks() {
    const { status, search } = this.table;
    const result = [];
    for (const spec of this.specTasks) {
      const task = this.tasks.get(spec.name);
      if (status && task.status !== status) continue;
      if (search && !task.name.toLowerCase().includes(search)) continue;
      result.push(task);
    }
    return result;
  }

  focusTask(name) {
    this.dag.select(name);
    this.table.status = "";
    const all = this.filteredTasks();
    const index = all.findIndex((t) => t.name === name);
    if (index < 0) return;
    this.table.offset = Math.floor(index / TASK_PAGE_SIZE) * TASK_PAGE_SIZE;
    this.expanded.add(name);
    this.renderTable();
    this.tableBox.querySelector(`tr[data-task="${CSS.escape(name)}"]`)?.scrollIntoView({ block: "center", behavior: "smooth" });
  }

  renderTable() {
    const all = this.filteredTasks();
    if (this.table.offset >= all.length) this.table.offset = Math.max(0, all.length - TASK_PAGE_SIZE);
    const page = all.slice(this.table.offset, this.table.offset + TASK_PAGE_SIZE);
    const specByName = new Map(this.specTasks.map((t) => [t.name, t]));
    const rows = [];
    for (const task of page) {
      const open = this.expanded.has(task.name);
      const toggle = h("button.expand", { type: "button", "aria-expanded": open ? "true" : "false", title: "Show input, output and error" }, open ? "▾" : "▸");
      toggle.addEventListener("click", () => {
        if (this.expanded.has(task.name)) this.expanded.delete(task.name);
        else this.expanded.add(task.name);
        this.renderTable();
      });
      rows.push(
        h(
          "tr",
          { "data-task": task.name, class: open ? "open" : null },
          h("td", {}, toggle),
          h("td", {}, h("span.mono", {}, task.name)),
          h("td", {}, statusBadge(task.status)),
          h("td.num", {}, String(task.attempts ?? 0)),
          h("td", {}, formatTime(task.started_at)),
          h("td", {}, formatTime(task.ended_at)),
          h("td.num", {}, formatDuration(task.duration_s)),
        ),
      );
      if (open) rows.push(h("tr.detail-row", {}, h("td", { colspan: 7 }, taskDetail(task, specByName.get(task.name)))));
    }
    this.tableBox.replaceChildren(
      h(
        "table.table.tasks",
        { "data-testid": "task-table" },
        h(
          "thead",
          {},
          h("tr", {}, h("th", {}, ""), h("th", {}, "Task"), h("th", {}, "Status"), h("th.num", {}, "Attempts"), h("th", {}, "Started"), h("th", {}, "Ended"), h("th.num", {}, "Duration")),
        ),
        h("tbody", {}, rows),
      ),
      pager({
        offset: this.table.offset,
        limit: TASK_PAGE_SIZE,
        total: all.length,
        label: "tasks",
        onPage: (offset) => {
          this.table.offset = offset;
          this.renderTable();
        },
      }),
    );
  }
}

function taskDetail(task, spec) {
  const input = task.detail?.input !== undefined ? task.detail.input : spec?.body;
  const inputLabel = task.detail?.input !== undefined ? "Input" : "Input (body in the spec, before templates)";
  const attempts = task.attempt_details ?? [];
  return h(
    "div.task-detail",
    {},
    h(
      "div.grid-3",
      {},
      h("div", {}, h("h4", {}, inputLabel), h("pre.json", {}, input === undefined ? "—" : formatJson(input))),
      h("div", {}, h("h4", {}, "Output"), h("pre.json", { "data-testid": "task-output" }, task.output === undefined || task.output === null ? "—" : formatJson(task.output))),
      h("div", {}, h("h4", {}, "Error"), h("pre.json.error-text", { "data-testid": "task-error" }, task.error ?? "—")),
    ),
    attempts.length
      ? h(
          "table.table.compact",
          {},
          h("thead", {}, h("tr", {}, h("th", {}, "Attempt"), h("th", {}, "HTTP status"), h("th", {}, "Started"), h("th.num", {}, "Duration"), h("th", {}, "Error"))),
          h(
            "tbody",
            {},
            attempts.map((a) =>
              h("tr", {}, h("td", {}, `#${a.number}`), h("td", {}, a.status_code ?? "—"), h("td", {}, formatTime(a.started_at)), h("td.num", {}, formatDuration(a.duration_s)), h("td", {}, a.error ?? "")),
            ),
          ),
        )
      : null,
  );
}
