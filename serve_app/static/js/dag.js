// Layered DAG layout and an SVG view with zoom and pan.
//
// Levels follow the engine's definition: a task without dependencies is on
// level 0, any other task one level after its deepest dependency. Inside a
// level, tasks are ordered by the mean position of their dependencies (one
// barycentre pass), which removes most edge crossings at O(tasks + edges).

import { escapeXml, h } from "./ui.js";

const NODE_W = 168;
const NODE_H = 34;
const GAP_X = 72;
const GAP_Y = 14;
const MARGIN = 24;
const MAX_LABEL = 22;

// tasks: [{name, depends}]. Returns {levels: [[name]], cycle: [name] | null}.
export function computeLevels(tasks) {
  const known = new Map(tasks.map((t, i) => [t.name, i]));
  const children = tasks.map(() => []);
  const missing = tasks.map(() => 0);
  tasks.forEach((task, i) => {
    for (const dep of new Set(task.depends)) {
      const j = known.get(dep);
      if (j === undefined || j === i) continue;
      children[j].push(i);
      missing[i]++;
    }
  });
  const level = tasks.map(() => 0);
  const queue = [];
  missing.forEach((count, i) => count === 0 && queue.push(i));
  for (let head = 0; head < queue.length; head++) {
    const i = queue[head];
    for (const c of children[i]) {
      level[c] = Math.max(level[c], level[i] + 1);
      if (--missing[c] === 0) queue.push(c);
    }
  }
  const cycle = queue.length < tasks.length ? tasks.filter((_, i) => missing[i] > 0).map((t) => t.name) : null;
  const levels = [];
  for (const i of queue) (levels[level[i]] ??= []).push(tasks[i].name);
  return { levels: levels.filter(Boolean), cycle };
}

export function layoutDag(tasks) {
  const { levels, cycle } = computeLevels(tasks);
  const depsOf = new Map(tasks.map((t) => [t.name, t.depends]));
  const position = new Map();
  const nodes = new Map();
  // Levels are centred on the tallest one, so barycentres compare rows
  // across levels of different heights.
  const tallest = Math.max(1, ...levels.map((names) => names.length));
  const ordered = levels.map((names, levelIndex) => {
    let sorted = names;
    if (levelIndex > 0) {
      const keyed = names.map((name, i) => {
        const rows = (depsOf.get(name) ?? []).map((d) => position.get(d)).filter((r) => r !== undefined);
        const centre = rows.length ? rows.reduce((a, b) => a + b, 0) / rows.length : i;
        return { name, centre, i };
      });
      keyed.sort((a, b) => a.centre - b.centre || a.i - b.i);
      sorted = keyed.map((k) => k.name);
    }
    const offset = (tallest - sorted.length) / 2;
    sorted.forEach((name, row) => {
      position.set(name, row + offset);
      nodes.set(name, {
        name,
        level: levelIndex,
        x: MARGIN + levelIndex * (NODE_W + GAP_X),
        y: MARGIN + (row + offset) * (NODE_H + GAP_Y),
      });
    });
    return sorted;
  });
  const edges = [];
  for (const task of tasks) {
    const to = nodes.get(task.name);
    if (!to) continue;
    for (const dep of new Set(task.depends)) {
      const from = nodes.get(dep);
      if (from) edges.push([from, to]);
    }
  }
  return {
    nodes,
    edges,
    levels: ordered,
    cycle,
    width: MARGIN * 2 + Math.max(1, ordered.length) * (NODE_W + GAP_X) - GAP_X,
    height: MARGIN * 2 + tallest * (NODE_H + GAP_Y) - GAP_Y,
  };
}

function label(name) {
  return name.length > MAX_LABEL ? `${name.slice(0, MAX_LABEL - 1)}…` : name;
}

// An SVG graph in `container`. `statusOf(name)` gives a node's status class,
// `onSelect(name)` is called on a click.
export class DagView {
  constructor(container, { onSelect } = {}) {
    this.container = container;
    this.onSelect = onSelect;
    this.elements = new Map();
    this.layout = null;
    this.view = null;
  }

  render(tasks, statusOf = () => "WAITING") {
    const layout = layoutDag(tasks);
    this.layout = layout;
    const parts = [];
    let d = "";
    let heads = "";
    for (const [from, to] of layout.edges) {
      const x1 = from.x + NODE_W;
      const y1 = from.y + NODE_H / 2;
      const x2 = to.x;
      const y2 = to.y + NODE_H / 2;
      const mx = (x1 + x2) / 2;
      d += `M${x1},${y1}C${mx},${y1} ${mx},${y2} ${x2 - 6},${y2}`;
      heads += `M${x2},${y2}l-7,-4v8z`;
    }
    // One path for all edges and one for all arrowheads keep the DOM small.
    parts.push(`<path class="dag-edges" d="${d}"/><path class="dag-arrow" d="${heads}"/>`);
    for (const node of layout.nodes.values()) {
      const name = escapeXml(node.name);
      parts.push(
        `<g class="dag-node s-${escapeXml(statusOf(node.name))}" data-task="${name}" transform="translate(${node.x},${node.y})">` +
          `<title>${name}</title><rect width="${NODE_W}" height="${NODE_H}" rx="7"/>` +
          `<text x="${NODE_W / 2}" y="${NODE_H / 2}">${escapeXml(label(node.name))}</text></g>`,
      );
    }
    const svg =
      `<svg class="dag-svg" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Task graph">` +
      `<g class="dag-root">${parts.join("")}</g></svg>`;
    const toolbar = h(
      "div.dag-toolbar",
      {},
      h("button.btn.small", { type: "button", title: "Zoom in", onclick: () => this.zoom(0.8) }, "+"),
      h("button.btn.small", { type: "button", title: "Zoom out", onclick: () => this.zoom(1.25) }, "−"),
      h("button.btn.small", { type: "button", title: "Fit the graph", onclick: () => this.fit() }, "Fit"),
    );
    const stage = h("div.dag-stage");
    stage.innerHTML = svg;
    const meta = h(
      "div.dag-meta",
      {},
      `${layout.nodes.size} tasks · ${layout.levels.length} levels · drag to pan, wheel to zoom`,
    );
    this.container.replaceChildren(toolbar, stage, meta);
    if (layout.cycle) {
      this.container.append(h("div.note.warn", {}, `Cycle between: ${layout.cycle.join(", ")}`));
    }
    this.svg = stage.firstChild;
    this.elements.clear();
    for (const el of this.svg.querySelectorAll("g.dag-node")) this.elements.set(el.dataset.task, el);
    this.attachPanZoom(stage);
    this.fit(true);
  }

  setStatus(name, status) {
    const el = this.elements.get(name);
    if (el) el.setAttribute("class", `dag-node s-${status}`);
  }

  select(name) {
    for (const el of this.svg?.querySelectorAll(".dag-node.selected") ?? []) el.classList.remove("selected");
    this.elements.get(name)?.classList.add("selected");
  }

  // Show the whole graph, or with `readable`, a window at 75% scale from the
  // first level when the whole graph would be drawn below 50%.
  fit(readable = false) {
    if (!this.layout) return;
    const { width, height } = this.layout;
    const box = this.svg.getBoundingClientRect();
    const boxW = box.width || 800;
    const aspect = box.width && box.height ? box.width / box.height : 2;
    const w = Math.max(width, height * aspect, boxW);
    if (readable && w > boxW * 2) {
      const windowW = boxW / 0.75;
      this.setView({ x: 0, y: 0, w: windowW, h: windowW / aspect });
      return;
    }
    const h2 = w / aspect;
    this.setView({ x: (width - w) / 2, y: (height - h2) / 2, w, h: h2 });
  }

  setView(view) {
    this.view = view;
    this.svg?.setAttribute("viewBox", `${view.x} ${view.y} ${view.w} ${view.h}`);
  }

  zoom(factor, cx, cy) {
    const v = this.view;
    const px = cx ?? v.x + v.w / 2;
    const py = cy ?? v.y + v.h / 2;
    const w = Math.min(Math.max(v.w * factor, 120), Math.max(this.layout.width, this.layout.height) * 4 + 400);
    const scale = w / v.w;
    this.setView({ x: px - (px - v.x) * scale, y: py - (py - v.y) * scale, w, h: v.h * scale });
  }

  attachPanZoom(stage) {
    const svg = this.svg;
    const toView = (event) => {
      const box = svg.getBoundingClientRect();
      const v = this.view;
      return [v.x + ((event.clientX - box.left) / box.width) * v.w, v.y + ((event.clientY - box.top) / box.height) * v.h];
    };
    svg.addEventListener(
      "wheel",
      (event) => {
        event.preventDefault();
        const [x, y] = toView(event);
        this.zoom(event.deltaY > 0 ? 1.15 : 1 / 1.15, x, y);
      },
      { passive: false },
    );
    let drag = null;
    svg.addEventListener("pointerdown", (event) => {
      drag = { x: event.clientX, y: event.clientY, view: this.view, moved: false };
      svg.setPointerCapture(event.pointerId);
    });
    svg.addEventListener("pointermove", (event) => {
      if (!drag) return;
      const box = svg.getBoundingClientRect();
      const dx = ((event.clientX - drag.x) / box.width) * drag.view.w;
      const dy = ((event.clientY - drag.y) / box.height) * drag.view.h;
      if (Math.abs(event.clientX - drag.x) + Math.abs(event.clientY - drag.y) > 3) drag.moved = true;
      if (drag.moved) {
        stage.classList.add("panning");
        this.setView({ ...drag.view, x: drag.view.x - dx, y: drag.view.y - dy });
      }
    });
    const end = (event) => {
      if (drag && !drag.moved && this.onSelect) {
        const node = document.elementFromPoint(event.clientX, event.clientY)?.closest?.(".dag-node");
        if (node) this.onSelect(node.dataset.task);
      }
      drag = null;
      stage.classList.remove("panning");
    };
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointercancel", () => {
      drag = null;
      stage.classList.remove("panning");
    });
  }
}
