// Compare page: one workflow run in sync, batch and full mode, with the
// three Gantt charts on one time scale and their makespans.

import { api } from "../api.js";
import { makespan, renderGantt } from "../gantt.js";
import { FINAL_EXECUTION_STATUSES, MODES, formatDuration, formatTime, h, reportError, statusBadge } from "../ui.js";

const POLL_MS = 1000;
const LISTED = 200;

// The newest finished execution of each mode among the latest executions.
async function latestPerMode(name) {
  const found = {};
  const page = await api.listExecutions(name, { limit: LISTED, offset: 0 });
  for (const e of page.items) {
    if (!found[e.mode] && FINAL_EXECUTION_STATUSES.has(e.status)) found[e.mode] = e.execution_id;
  }
  return found;
}

export async function renderCompare(ctx, name) {
  const enc = encodeURIComponent(name);
  const chosen = Object.fromEntries(MODES.map((m) => [m, ctx.query.get(m)]));
  if (!MODES.some((m) => chosen[m])) Object.assign(chosen, await latestPerMode(name));
  if (!ctx.active) return;

  const input = h("input.code-input", { type: "text", value: "{}", "aria-label": "Input JSON", "data-testid": "compare-input" });
  const runButton = h("button.btn.primary", { type: "button", "data-testid": "run-all-modes" }, "Run in all three modes");
  const chartsBox = h("div.compare-charts");
  const summaryBox = h("div.compare-summary");

  ctx.page.replaceChildren(
    h(
      "div.page-header",
      {},
      h(
        "div",
        {},
        h("div.crumbs", {}, h("a", { href: "#/" }, "Workflows"), " / ", h("a", { href: `#/workflows/${enc}` }, name)),
        h("h1", {}, "Compare modes"),
        h("p.subtitle", {}, "The same workflow in sync, batch and full mode, on one time scale."),
      ),
      h("div.actions", {}, h("label.inline", {}, h("span.muted", {}, "Input"), input), runButton),
    ),
    summaryBox,
    chartsBox,
  );

  const executions = {};
  const draw = () => {
    const list = MODES.map((m) => executions[m]).filter(Boolean);
    const span = Math.max(0.001, ...list.map((e) => makespan(e) ?? 0));
    summaryBox.replaceChildren(summary(executions, span));
    chartsBox.replaceChildren(
      ...MODES.map((mode) => {
        const e = executions[mode];
        const chart = h("div.gantt");
        const card = h(
          "section.card",
          { "data-mode": mode },
          h(
            "div.card-title",
            {},
            h("span", {}, h("span.mode-name", {}, mode), e ? [" ", statusBadge(e.status)] : null),
            e
              ? h("span.muted", {}, h("a.mono", { href: `#/executions/${encodeURIComponent(e.execution_id)}` }, e.execution_id.slice(0, 8)), ` · started ${formatTime(e.started_at)}`)
              : null,
            h("span.makespan", { "data-testid": `makespan-${mode}` }, e ? formatDuration(makespan(e)) : "—"),
          ),
          chart,
        );
        if (e) queueMicrotask(() => renderGantt(chart, e, { span, maxHeight: 260 }));
        else chart.append(h("div.empty", {}, `No finished ${mode} execution yet.`));
        return card;
      }),
    );
  };

  const load = async () => {
    for (const mode of MODES) {
      if (!chosen[mode]) continue;
      try {
        executions[mode] = await api.getExecution(chosen[mode]);
      } catch (error) {
        reportError(`Loading the ${mode} execution`, error);
      }
    }
    if (ctx.active) draw();
  };
  await load();

  runButton.addEventListener("click", async () => {
    let value;
    try {
      value = input.value.trim() ? JSON.parse(input.value) : null;
    } catch (error) {
      reportError("Reading the input", new Error(`the input is not valid JSON (${error.message})`));
      return;
    }
    runButton.disabled = true;
    // Modes run one after the other so that they do not share the cluster.
    try {
      for (const mode of MODES) delete executions[mode];
      draw();
      for (const mode of MODES) {
        const started = await api.startExecution(name, mode, value);
        chosen[mode] = started.execution_id;
        for (;;) {
          executions[mode] = await api.getExecution(started.execution_id);
          if (!ctx.active) return;
          draw();
          if (FINAL_EXECUTION_STATUSES.has(executions[mode].status)) break;
          await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        }
      }
      history.replaceState(null, "", `#/workflows/${enc}/compare?${new URLSearchParams(chosen)}`);
    } catch (error) {
      reportError("Running the comparison", error);
    } finally {
      runButton.disabled = false;
    }
  });
}

function summary(executions, span) {
  const rows = MODES.map((mode) => {
    const e = executions[mode];
    const seconds = e ? makespan(e) : null;
    const width = seconds ? Math.max(1, (seconds / span) * 100) : 0;
    return h(
      "div.summary-row",
      {},
      h("span.mode-name", {}, mode),
      h("div.summary-track", {}, h("div.summary-bar", { class: `m-${mode}`, style: `width:${width}%` })),
      h("span.summary-value", {}, seconds === null ? "—" : formatDuration(seconds)),
    );
  });
  return h("section.card", {}, h("div.card-title", {}, "Makespan"), rows);
}
