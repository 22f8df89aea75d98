// The start page: every workflow with its version and last update.

import { api } from "../api.js";
import { formatTime, h } from "../ui.js";

export async function renderHome(ctx) {
  const { items } = await api.listWorkflows();
  if (!ctx.active) return;
  const header = h(
    "div.page-header",
    {},
    h("div", {}, h("h1", {}, "Workflows"), h("p.subtitle", {}, "DAGs of HTTP functions, run on Ray in sync, batch or full mode.")),
    h("a.btn.primary", { href: "#/new" }, "New workflow"),
  );
  if (!items.length) {
    ctx.page.replaceChildren(
      header,
      h(
        "div.card.empty-state",
        {},
        h("h2", {}, "No workflows yet"),
        h("p", {}, "Write a workflow in YAML: a name and a list of tasks, each calling a function or a URL."),
        h("a.btn.primary", { href: "#/new" }, "Create your first workflow"),
      ),
    );
    return;
  }
  const rows = items.map((w) =>
    h(
      "tr",
      {},
      h("td", {}, h("a", { href: `#/workflows/${encodeURIComponent(w.name)}` }, w.name)),
      h("td.num", {}, `v${w.version}`),
      h("td", {}, formatTime(w.created_at)),
      h("td", {}, formatTime(w.updated_at)),
    ),
  );
  ctx.page.replaceChildren(
    header,
    h(
      "div.card",
      {},
      h(
        "table.table",
        {},
        h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th.num", {}, "Version"), h("th", {}, "Created"), h("th", {}, "Updated"))),
        h("tbody", {}, rows),
      ),
    ),
  );
}
