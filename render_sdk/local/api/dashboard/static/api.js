// The local runtime's REST API (same origin): Render's public API plus the extensions documented in
// openapi/local-runtime.yaml. Every failure becomes an ApiError whose message is meant for the user.

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

const listeners = new Set();

/** Calls `listener(ok, message)` whenever the server becomes reachable or unreachable. */
export function onConnection(listener) {
  listeners.add(listener);
}

function connection(ok, message) {
  for (const listener of listeners) listener(ok, message);
}

async function request(method, path, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    const message = "Cannot reach the local runtime. Is `render-workflows dev` still running?";
    connection(false, message);
    throw new ApiError(message, 0);
  }
  connection(true, "");
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError(`The server answered ${response.status} with a body that is not JSON`, response.status);
  }
  if (!response.ok) {
    const reason = data && typeof data.message === "string" ? data.message : response.statusText;
    throw new ApiError(reason || `HTTP ${response.status}`, response.status);
  }
  return data;
}

function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** One page of runs, newest first; `status` and `topLevel` are local extensions. */
export async function listRuns({ task, status, topLevel, limit = 50, cursor } = {}) {
  const items = await request("GET", `/v1/task-runs${query({ taskSlug: task, status, topLevel, limit, cursor })}`);
  return items.map((item) => item.taskRun);
}

/** Every run of the tree rooted at `rootId` (following cursors). */
export async function listTree(rootId) {
  const runs = [];
  let cursor;
  for (;;) {
    const items = await request("GET", `/v1/task-runs${query({ rootTaskRunId: rootId, limit: 100, cursor })}`);
    runs.push(...items.map((item) => item.taskRun));
    if (items.length < 100) return runs;
    cursor = items[items.length - 1].cursor;
  }
}

export function getRun(id) {
  return request("GET", `/v1/task-runs/${encodeURIComponent(id)}`);
}

export function cancelRun(id) {
  return request("DELETE", `/v1/task-runs/${encodeURIComponent(id)}`);
}

export function startRun(task, input) {
  return request("POST", "/v1/task-runs", { task, input });
}

/** Every registered task, with its definition (a local extension). */
export async function listTasks() {
  const tasks = [];
  let cursor;
  for (;;) {
    const items = await request("GET", `/v1/tasks${query({ limit: 100, cursor })}`);
    tasks.push(...items.map((item) => item.task));
    if (items.length < 100) return tasks;
    cursor = items[items.length - 1].cursor;
  }
}

/** Log lines of a run from `startTime` on (inclusive), oldest first: the local `GET /v1/logs`. */
export function getLogs(runId, startTime) {
  return request("GET", `/v1/logs${query({ taskRun: runId, startTime, limit: 1000 })}`);
}

export const TERMINAL = new Set(["completed", "succeeded", "failed", "canceled"]);
