// The tasks page: every registered task with its definition, and a form to start one with JSON input.

import { listTasks, startRun } from "./api.js";
import { code, empty, errorBox, formatDuration, h } from "./ui.js";

export function tasksPage(container) {
  const list = h("div", { class: "tasks" }, empty("Loading tasks…"));
  container.replaceChildren(h("div", { class: "page-head" }, h("h1", {}, "Tasks")), list);
  listTasks().then((tasks) => {
    list.replaceChildren(...(tasks.length
      ? tasks.map(taskCard)
      : [empty("No tasks registered.", "The worker registered none; check the output of ",
        code("render-workflows dev"), " for a registration error.")]));
  }, (error) => list.replaceChildren(errorBox(`Could not load tasks: ${error.message}`)));
  return () => {};
}

function signature(task) {
  return `${task.name}(${(task.parameters || []).map((p) =>
    `${p.name}${p.type ? `: ${p.type}` : ""}${p.hasDefault ? ` = ${p.default ?? "…"}` : ""}`).join(", ")})`;
}

function retryText(retry) {
  if (!retry || retry.maxRetries === 0) return "no retries";
  const factor = retry.factor === 1 ? "" : `, ×${retry.factor} each time`;
  return `${retry.maxRetries} ${retry.maxRetries === 1 ? "retry" : "retries"}, waiting ${formatDuration(retry.waitDurationMs)}${factor}`;
}

const SAMPLES = { int: 1, float: 1.5, str: "text", bool: true, list: [], dict: {} };

function taskCard(task) {
  const required = (task.parameters || []).filter((p) => !p.hasDefault);
  const input = h("textarea", {
    class: "json-input", rows: 2, spellcheck: "false", "aria-label": `Input for ${task.name}`,
  });
  input.value = JSON.stringify(required.map((p) => SAMPLES[p.type] ?? null));
  const feedback = h("div", { class: "form-feedback" });
  const submit = h("button", { type: "submit", class: "primary" }, "Run task");
  const form = h("form", {
    class: "run-form",
    onsubmit: async (event) => {
      event.preventDefault();
      const [value, problem] = validate(task, input.value);
      if (problem) {
        feedback.replaceChildren(errorBox(problem));
        input.setAttribute("aria-invalid", "true");
        return;
      }
      input.removeAttribute("aria-invalid");
      submit.disabled = true;
      try {
        const run = await startRun(task.name, value);
        location.hash = `#/runs/${run.id}`;
      } catch (error) {
        feedback.replaceChildren(errorBox(`The server refused the run: ${error.message}`));
      } finally {
        submit.disabled = false;
      }
    },
  }, h("label", {}, "Input ", h("span", { class: "muted" }, "(a JSON array of arguments, or an object of named ones)")),
  input, h("div", { class: "form-row" }, submit, feedback));
  const facts = [
    ["Retry", retryText(task.retry)],
    ["Timeout", task.timeoutSeconds ? formatDuration(task.timeoutSeconds * 1000) : "default"],
    ["Plan", task.plan || "default"],
  ];
  return h("section", { class: "card task", "data-task": task.name },
    h("h2", { class: "mono" }, signature(task)),
    h("dl", { class: "meta inline" }, facts.map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)])),
    h("a", { href: `#/?task=${encodeURIComponent(task.name)}`, class: "muted" }, "Runs of this task →"),
    form);
}

const TYPE_CHECKS = {
  int: [(v) => Number.isInteger(v), "an integer"],
  float: [(v) => typeof v === "number", "a number"],
  str: [(v) => typeof v === "string", "a string"],
  bool: [(v) => typeof v === "boolean", "true or false"],
  list: [(v) => Array.isArray(v), "a JSON array"],
  dict: [(v) => v !== null && typeof v === "object" && !Array.isArray(v), "a JSON object"],
};

function describe(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `${typeof value} ${JSON.stringify(value)}`;
}

/** `[value, null]` when `text` is input the task accepts, else `[null, a sentence naming the problem]`. */
export function validate(task, text) {
  if (!text.trim()) return [null, "Input is empty: write a JSON array of arguments, e.g. [3], or [] for none."];
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return [null, `Input is not valid JSON: ${error.message}`];
  }
  if (value === null || typeof value !== "object") {
    return [null, `Input must be a JSON array of arguments or an object of named arguments, not ${describe(value)}.`];
  }
  const parameters = task.parameters || [];
  if (parameters.length === 0) return [value, null];
  const sig = signature(task);
  let given;
  if (Array.isArray(value)) {
    if (value.length > parameters.length) {
      return [null, `${sig} takes ${parameters.length} argument${parameters.length === 1 ? "" : "s"}, but the input has ${value.length}.`];
    }
    given = parameters.map((p, i) => [p, i < value.length, value[i]]);
  } else {
    const unknown = Object.keys(value).filter((name) => !parameters.some((p) => p.name === name));
    if (unknown.length) return [null, `${task.name} has no parameter named ${unknown.map((n) => `"${n}"`).join(", ")}.`];
    given = parameters.map((p) => [p, p.name in value, value[p.name]]);
  }
  const missing = given.filter(([p, present]) => !present && !p.hasDefault).map(([p]) => p.name);
  if (missing.length) return [null, `${sig} is missing required argument${missing.length === 1 ? "" : "s"}: ${missing.join(", ")}.`];
  for (const [p, present, argument] of given) {
    const check = TYPE_CHECKS[p.type];
    if (present && check && !check[0](argument)) {
      return [null, `Argument ${p.name} must be ${check[1]} (${p.type}), got ${describe(argument)}.`];
    }
  }
  return [value, null];
}
