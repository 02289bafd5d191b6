// A Render Workflows worker in plain Node.js (no packages; Node 12 or newer), written from
// openapi/callback-api.yaml.
//
// It registers the way the TypeScript SDK does: `options` left out when a task sets none, and `retry` holding
// only the fields a user set. It also sends fields this runtime does not know yet (a newer SDK's), which must
// be ignored. In run mode it handles one attempt: GET /input, run the task (subtasks through /run-subtask and
// /get-subtask-result polling), POST /callback once, exit.
"use strict";

const http = require("http");

const SOCKET = process.env.RENDER_SDK_SOCKET_PATH;
const POLL_MS = 100;

const TASKS = [
  // A parameter without its optional `type` and `default_value`: the runtime checks arguments against it.
  { name: "square", parameters: [{ name: "a", has_default: false }] },
  { name: "add_squares" },
  { name: "lineage", options: { plan: "starter" } },
  // Unknown fields, on the task and inside its options and retry: a newer SDK's, to be ignored.
  {
    name: "whoami",
    description: "reports its run ids",
    options: { timeout_seconds: 60, machine: "any", retry: { max_retries: 0, jitter: true } },
  },
  { name: "fails_without_options" },
  { name: "fails_retry_without_max_retries", options: { retry: { wait_duration_ms: 100 } } },
  { name: "fails_retry_without_wait", options: { retry: { max_retries: 1 } } },
  { name: "fails_retry_without_factor", options: { retry: { max_retries: 2, wait_duration_ms: 300 } } },
  { name: "subtask_fails" },
  { name: "subtask_without_input" },
];

function call(method, path, body) {
  const payload = body === undefined ? "" : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        socketPath: SOCKET,
        path,
        method,
        headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) },
      },
      (response) => {
        const chunks = [];
        response.on("data", (chunk) => chunks.push(chunk));
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if (response.statusCode >= 400) {
            reject(new Error(`${method} ${path}: HTTP ${response.statusCode}: ${text}`));
          } else {
            resolve(text ? JSON.parse(text) : undefined);
          }
        });
      },
    );
    request.on("error", reject);
    request.end(payload);
  });
}

const encode = (value) => Buffer.from(JSON.stringify(value), "utf8").toString("base64");
const decode = (text) => (text ? JSON.parse(Buffer.from(text, "base64").toString("utf8")) : []);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Start a subtask and poll until it ends: its value (element 0 of its output), or an Error with its details.
// Without args the request leaves out `input` (optional: no arguments).
async function runSubtask(taskName, args) {
  const request = args === undefined ? { task_name: taskName } : { task_name: taskName, input: encode(args) };
  const { task_run_id: id } = await call("POST", "/run-subtask", request);
  for (;;) {
    const answer = await call("POST", "/get-subtask-result", { task_run_id: id });
    if (!answer.still_running) {
      if (answer.complete) return decode(answer.complete.output)[0];
      throw new Error(`subtask ${taskName} (${id}) failed: ${answer.error ? answer.error.details : "no outcome"}`);
    }
    await sleep(POLL_MS);
  }
}

function failOnPurpose(name) {
  throw new Error(`${name} failed on purpose`);
}

const BODIES = {
  square: async ([a]) => a * a,
  add_squares: async ([a, b]) => {
    const [x, y] = await Promise.all([runSubtask("square", [a]), runSubtask("square", [b])]);
    return x + y;
  },
  whoami: async (_args, ids) => ids,
  lineage: async (_args, ids) => ({ self: ids, child: await runSubtask("whoami", []) }),
  fails_without_options: async () => failOnPurpose("fails_without_options"),
  fails_retry_without_max_retries: async () => failOnPurpose("fails_retry_without_max_retries"),
  fails_retry_without_wait: async () => failOnPurpose("fails_retry_without_wait"),
  fails_retry_without_factor: async () => failOnPurpose("fails_retry_without_factor"),
  subtask_fails: async () => {
    try {
      await runSubtask("fails_without_options", []);
    } catch (error) {
      return { caught: error.message };
    }
    return { caught: null };
  },
  subtask_without_input: async () => runSubtask("whoami"),
};

async function runOnce() {
  const task = await call("GET", "/input");
  // The run's identity, as GET /input carries it (an absent field is null here).
  const ids = {};
  for (const field of ["task_run_id", "root_task_run_id", "parent_task_run_id"]) {
    ids[field] = field in task ? task[field] : null;
  }
  const body = BODIES[task.task_name];
  try {
    if (!body) throw new Error(`unknown task ${task.task_name}`);
    const result = await body(decode(task.input), ids);
    await call("POST", "/callback", { complete: { output: encode([result]) } });
  } catch (error) {
    // stack_trace is optional: one task leaves it out.
    const failure = { details: `Error: ${error.message}` };
    if (task.task_name !== "fails_without_options") failure.stack_trace = error.stack;
    await call("POST", "/callback", { error: failure });
    process.exitCode = 1;
  }
}

async function main() {
  const mode = process.env.RENDER_SDK_MODE;
  if (mode === "register") {
    await call("POST", "/register-tasks", { tasks: TASKS });
  } else if (mode === "run") {
    await runOnce();
  } else {
    throw new Error(`RENDER_SDK_MODE must be register or run, got ${mode}`);
  }
}

main().catch((error) => {
  console.error(error.stack || String(error));
  process.exit(2);
});
