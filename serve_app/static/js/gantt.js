// Gantt timeline of an execution's tasks: one row per task that started,
// bars on a time axis that starts at the execution's start.

import { escapeXml, formatDuration, h, parseTime } from "./ui.js";

const LABEL_W = 180;
const AXIS_H = 26;

function niceStep(span, target) {
  const raw = span / Math.max(1, target);
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

// Return the tasks with a start time as {name, status, start, end} in
// seconds after `origin` (ms since the epoch), sorted by start.
export function ganttRows(execution, now = Date.now()) {
  const origin = parseTime(execution.started_at) ?? parseTime(execution.created_at) ?? now;
  const rows = [];
  for (const task of execution.tasks ?? []) {
    const started = parseTime(task.started_at);
    if (started === null) continue;
    const ended = parseTime(task.ended_at) ?? (task.status === "RUNNING" ? now : started);
    rows.push({
      name: task.name,
      status: task.status,
      start: Math.max(0, (started - origin) / 1000),
      end: Math.max(0, (ended - origin) / 1000),
    });
  }
  rows.sort((a, b) => a.start - b.start || a.end - b.end);
  return { rows, origin };
}

// Seconds from the execution's start to its end (or to now while it runs).
export function makespan(execution, now = Date.now()) {
  const start = parseTime(execution.started_at);
  if (start === null) return null;
  const end = parseTime(execution.ended_at) ?? now;
  return Math.max(0, (end - start) / 1000);
}

// Render into `container`. `span` fixes the axis length in seconds so that
// several charts can share one scale.
export function renderGantt(container, execution, { span, maxHeight = 420 } = {}) {
  const { rows } = ganttRows(execution);
  const total = Math.max(span ?? 0, makespan(execution) ?? 0, ...rows.map((r) => r.end), 0.001);
  if (!rows.length) {
    container.replaceChildren(h("div.empty", {}, "No task has started yet."));
    return;
  }
  const width = Math.max(480, container.clientWidth || 900);
  const plotW = width - LABEL_W - 16;
  const rowH = rows.length > 400 ? 8 : rows.length > 120 ? 12 : 22;
  const barH = Math.max(4, rowH - (rowH > 12 ? 8 : 3));
  const showLabels = rowH >= 12;
  const x = (seconds) => LABEL_W + (seconds / total) * plotW;
  const step = niceStep(total, Math.floor(plotW / 90));

  let axis = "";
  let grid = "";
  const height = rows.length * rowH + 4;
  for (let t = 0; t <= total + 1e-9; t += step) {
    const px = x(t).toFixed(1);
    axis += `<line x1="${px}" x2="${px}" y1="${AXIS_H - 6}" y2="${AXIS_H}" class="gantt-tick"/>`;
    axis += `<text x="${px}" y="${AXIS_H - 10}" class="gantt-axis-label">${escapeXml(formatDuration(t))}</text>`;
    grid += `<line x1="${px}" x2="${px}" y1="0" y2="${height}" class="gantt-grid"/>`;
  }
  const bars = rows.map((row, i) => {
    const y = i * rowH + 2;
    const bx = x(row.start);
    const bw = Math.max(2, x(row.end) - bx);
    const name = escapeXml(row.name);
    const tip = `${name}: ${row.status}, ${escapeXml(formatDuration(row.end - row.start))} from ${escapeXml(formatDuration(row.start))}`;
    const text = showLabels
      ? `<text x="${LABEL_W - 8}" y="${y + rowH / 2 - 1}" class="gantt-label">${escapeXml(row.name.length > 24 ? `${row.name.slice(0, 23)}…` : row.name)}</text>`
      : "";
    return (
      `<g class="gantt-row s-${escapeXml(row.status)}" data-task="${name}">${text}` +
      `<rect x="${bx.toFixed(1)}" y="${y + (rowH - barH) / 2 - 1}" width="${bw.toFixed(1)}" height="${barH}" rx="${Math.min(3, barH / 2)}"><title>${tip}</title></rect></g>`
    );
  });
  const axisSvg = `<svg class="gantt-axis" width="${width}" height="${AXIS_H}">${axis}</svg>`;
  const bodySvg = `<svg class="gantt-body" width="${width}" height="${height}">${grid}${bars.join("")}</svg>`;
  const scroller = h("div.gantt-scroll", { style: `max-height:${maxHeight}px` });
  scroller.innerHTML = bodySvg;
  const axisEl = h("div.gantt-axis-wrap");
  axisEl.innerHTML = axisSvg;
  container.replaceChildren(axisEl, scroller);
}
