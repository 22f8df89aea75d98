// DOM helpers, formatting and the error banner shared by every page.

export const TASK_STATUSES = ["WAITING", "RUNNING", "SUCCESS", "ERROR", "ABORT", "SKIPPED", "CANCELLED"];
export const FINAL_EXECUTION_STATUSES = new Set(["SUCCESS", "ERROR", "CANCELLED"]);
export const MODES = ["sync", "batch", "full"];

// Create an element: h("a.link", {href: "#/"}, "text", child, ...).
// Attributes starting with "on" become event listeners; null children are skipped.
export function h(tag, attrs = {}, ...children) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name || "div");
  if (classes.length) el.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "class") {
      el.className = [el.className, value].filter(Boolean).join(" ");
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  appendChildren(el, children);
  return el;
}

function appendChildren(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) appendChildren(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

export function escapeXml(text) {
  return String(text)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

export function statusBadge(status) {
  return h("span.badge", { class: `s-${status}`, "data-status": status }, status ?? "UNKNOWN");
}

export function parseTime(iso) {
  return iso ? Date.parse(iso) : null;
}

export function formatTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  const today = new Date();
  const time = date.toLocaleTimeString(undefined, { hour12: false });
  const ms = String(date.getMilliseconds()).padStart(3, "0");
  if (date.toDateString() === today.toDateString()) return `${time}.${ms}`;
  return `${date.toLocaleDateString()} ${time}`;
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const minutes = Math.floor(seconds / 60);
  const rest = Math.round(seconds - minutes * 60);
  if (minutes < 60) return `${minutes} min ${rest} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function formatJson(value) {
  if (value === undefined) return "";
  return JSON.stringify(value, null, 2);
}

// A pager for lists: "1–20 of 143" with previous and next buttons.
export function pager({ offset, limit, total, onPage, label = "items" }) {
  const first = total === 0 ? 0 : offset + 1;
  const last = Math.min(offset + limit, total);
  return h(
    "div.pager",
    {},
    h("span.pager-info", {}, `${first}–${last} of ${total} ${label}`),
    h(
      "button.btn.small",
      { type: "button", disabled: offset <= 0, onclick: () => onPage(Math.max(0, offset - limit)) },
      "‹ Previous",
    ),
    h(
      "button.btn.small",
      { type: "button", disabled: last >= total, onclick: () => onPage(offset + limit) },
      "Next ›",
    ),
  );
}

// -- error banner ------------------------------------------------------------

const banner = () => document.getElementById("banner");

export function showError(message) {
  const el = banner();
  el.replaceChildren(
    h("span.banner-icon", { "aria-hidden": "true" }, "!"),
    h("span.banner-text", { "data-testid": "error-text" }, message),
    h("button.banner-close", { type: "button", "aria-label": "Dismiss", onclick: clearError }, "×"),
  );
  el.hidden = false;
}

export function clearError() {
  const el = banner();
  el.hidden = true;
  el.replaceChildren();
}

// Show `error` in the banner, prefixed with what the user was doing.
export function reportError(doing, error) {
  const detail = error?.message ?? String(error);
  showError(`${doing} failed: ${detail}`);
  console.error(doing, error);
}

let toastTimer = null;
export function toast(message) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    el.hidden = true;
  }, 2500);
}

export function debounce(fn, delayMs) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), delayMs);
  };
}
