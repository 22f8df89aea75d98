// Entry point: the hash router and the workflow sidebar.

import { api } from "./api.js";
import { renderCompare } from "./pages/compare.js";
import { renderEditor } from "./pages/editor.js";
import { renderExecution } from "./pages/execution.js";
import { renderHome } from "./pages/home.js";
import { renderWorkflow } from "./pages/workflow.js";
import { clearError, h, reportError } from "./ui.js";

const routes = [
  [/^\/?$/, () => renderHome],
  [/^\/new$/, () => (ctx) => renderEditor(ctx, null)],
  [/^\/workflows\/([^/]+)\/edit$/, (m) => (ctx) => renderEditor(ctx, m[1])],
  [/^\/workflows\/([^/]+)\/compare$/, (m) => (ctx) => renderCompare(ctx, m[1])],
  [/^\/workflows\/([^/]+)$/, (m) => (ctx) => renderWorkflow(ctx, m[1])],
  [/^\/executions\/([^/]+)$/, (m) => (ctx) => renderExecution(ctx, m[1])],
];

let current = null;

// State handed to a page: where to render, its query and cleanup hooks that
// run when the user leaves the page (closing event streams and timers).
function makeContext(query) {
  const cleanups = [];
  return {
    page: document.getElementById("page"),
    query,
    onLeave: (fn) => cleanups.push(fn),
    leave: () => cleanups.splice(0).forEach((fn) => fn()),
    refreshSidebar,
    active: true,
  };
}

async function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, queryText = ""] = hash.split("?");
  if (current) {
    current.active = false;
    current.leave();
  }
  clearError();
  const ctx = makeContext(new URLSearchParams(queryText));
  current = ctx;
  ctx.page.replaceChildren();
  highlightSidebar(path);
  for (const [pattern, make] of routes) {
    const match = path.match(pattern);
    if (!match) continue;
    const name = match[1] ? decodeURIComponent(match[1]) : null;
    try {
      await make(name ? [match[0], name] : match)(ctx);
    } catch (error) {
      if (ctx.active) {
        reportError("Loading this page", error);
        ctx.page.replaceChildren(
          h("div.card.empty-state", {}, h("p", {}, "This page could not be loaded."), h("a.btn", { href: "#/" }, "Back to the workflows")),
        );
      }
    }
    return;
  }
  ctx.page.replaceChildren(
    h("h1", {}, "Page not found"),
    h("p", {}, `There is no dashboard page at ${path}. `, h("a", { href: "#/" }, "Go to the workflows.")),
  );
}

let sidebarNames = [];

export async function refreshSidebar() {
  const list = document.getElementById("workflow-list");
  try {
    const { items } = await api.listWorkflows();
    sidebarNames = items.map((w) => w.name);
    if (!items.length) {
      list.replaceChildren(h("li.muted", {}, "No workflows yet."));
    } else {
      list.replaceChildren(
        ...items.map((w) =>
          h(
            "li",
            {},
            h(
              "a",
              { href: `#/workflows/${encodeURIComponent(w.name)}`, "data-name": w.name, title: w.name },
              h("span.wf-name", {}, w.name),
              h("span.wf-version", {}, `v${w.version}`),
            ),
          ),
        ),
      );
    }
    highlightSidebar(decodeURIComponent(location.hash.replace(/^#/, "")));
  } catch (error) {
    list.replaceChildren(h("li.muted", {}, "Could not load the list."));
    reportError("Loading the workflow list", error);
  }
  return sidebarNames;
}

function highlightSidebar(path) {
  const match = path.match(/^\/workflows\/([^/?]+)/);
  const name = match ? decodeURIComponent(match[1]) : null;
  for (const a of document.querySelectorAll("#workflow-list a")) {
    a.classList.toggle("active", a.dataset.name === name);
  }
}

window.addEventListener("hashchange", route);
refreshSidebar();
route();
