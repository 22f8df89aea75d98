// Calls to the Walle REST API, relative to the page so that the dashboard
// also works behind a path prefix.

export class ApiError extends Error {
  constructor(message, status, body) {
    super(message);
    this.status = status;
    this.body = body;
    this.issues = Array.isArray(body?.issues) ? body.issues : [];
  }
}

const NO_RESPONSE =
  "no response from the Walle API; check that the service is running and reload the page";

export async function request(method, path, { json, text, contentType, signal } = {}) {
  const init = { method, headers: { Accept: "application/json" }, signal };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (text !== undefined) {
    init.body = text;
    init.headers["Content-Type"] = contentType ?? "application/yaml";
  }
  let response;
  try {
    response = await fetch(`api/${path}`, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(NO_RESPONSE, 0, null);
  }
  if (response.status === 204) return null;
  const raw = await response.text();
  let body = null;
  try {
    body = raw ? JSON.parse(raw) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    throw new ApiError(describeFailure(response, body, raw), response.status, body);
  }
  return body;
}

function describeFailure(response, body, raw) {
  const detail = body?.error ?? body?.detail;
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail)) {
    // FastAPI's own validation errors for query parameters.
    return detail.map((d) => `${(d.loc ?? []).join(".")}: ${d.msg}`).join("; ");
  }
  const snippet = raw && raw.length < 200 ? `: ${raw}` : "";
  return `the API returned ${response.status} ${response.statusText}${snippet}`;
}

const enc = encodeURIComponent;

export const api = {
  listWorkflows: () => request("GET", "workflows"),
  getWorkflow: (name) => request("GET", `workflows/${enc(name)}`),
  workflowVersions: (name) => request("GET", `workflows/${enc(name)}/versions`),
  createWorkflow: (yaml) => request("POST", "workflows", { text: yaml }),
  putWorkflow: (name, yaml) => request("PUT", `workflows/${enc(name)}`, { text: yaml }),
  deleteWorkflow: (name) => request("DELETE", `workflows/${enc(name)}`),
  listExecutions: (name, { limit = 20, offset = 0, status } = {}) => {
    const query = new URLSearchParams({ limit, offset });
    if (status) query.set("status", status);
    return request("GET", `workflows/${enc(name)}/executions?${query}`);
  },
  startExecution: (name, mode, input) =>
    request("POST", `workflows/${enc(name)}/executions`, { json: { mode, input } }),
  getExecution: (id) => request("GET", `executions/${enc(id)}`),
  cancelExecution: (id) => request("POST", `executions/${enc(id)}/cancel`),
  retryExecution: (id) => request("POST", `executions/${enc(id)}/retry`),
  eventsUrl: (id) => `api/executions/${enc(id)}/events`,
};

// Validate a spec without storing it. Returns {ok: true, dag} when valid,
// where `dag` is {tasks, levels}; returns {ok: false, issues, message} when
// invalid. Other failures throw ApiError.
export async function validateSpec(yaml, signal) {
  try {
    const body = await request("POST", "validate", { text: yaml, signal });
    return { ok: true, dag: body };
  } catch (error) {
    if (error.status === 422) return { ok: false, issues: error.issues, message: error.message };
    throw error;
  }
}
