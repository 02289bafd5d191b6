// The runs page: newest first, refreshed every second, filtered by task and status.

import { listRuns, listTasks } from "./api.js";
import { empty, errorBox, formatDuration, formatTime, h, poll, runDuration, statusBadge } from "./ui.js";

const REFRESH_MS = 1000;
const STATUSES = ["pending", "running", "completed", "failed", "canceled"];

export function runsPage(container, params) {
  const filters = {
    task: params.get("task") || "", status: params.get("status") || "", topLevel: params.get("topLevel") || "",
  };
  const taskSelect = h("select", { id: "filter-task", "aria-label": "Task", onchange: changed },
    h("option", { value: "" }, "All tasks"));
  const statusSelect = h("select", { id: "filter-status", "aria-label": "Status", onchange: changed },
    h("option", { value: "" }, "Any status"),
    STATUSES.map((status) => h("option", { value: status, selected: status === filters.status }, status)));
  const topLevel = h("input", { type: "checkbox", id: "filter-top-level", checked: filters.topLevel === "true", onchange: changed });
  const message = h("div");
  const body = h("tbody");
  const table = h("table", { class: "runs" },
    h("thead", {}, h("tr", {},
      h("th", {}, "Task"), h("th", {}, "Status"), h("th", {}, "Started"),
      h("th", { class: "num" }, "Duration"), h("th", { class: "num" }, "Attempts"), h("th", {}, "Run"))),
    body);
  container.replaceChildren(
    h("div", { class: "page-head" },
      h("h1", {}, "Runs"),
      h("div", { class: "filters" }, h("label", {}, "Task ", taskSelect), h("label", {}, "Status ", statusSelect),
        h("label", { class: "check" }, topLevel, " Top-level runs only"))),
    message,
    h("div", { class: "card" }, table));

  listTasks().then((tasks) => {
    for (const task of tasks) {
      taskSelect.append(h("option", { value: task.name, selected: task.name === filters.task }, task.name));
    }
  }, () => {});

  function changed() {
    filters.task = taskSelect.value;
    filters.status = statusSelect.value;
    filters.topLevel = topLevel.checked ? "true" : "";
    const search = new URLSearchParams(Object.entries(filters).filter(([, value]) => value)).toString();
    history.replaceState(null, "", `#/${search ? `?${search}` : ""}`);
    poller.now();
  }

  async function refresh() {
    const wanted = { ...filters };
    let runs;
    try {
      runs = await listRuns(wanted);
    } catch (error) {
      message.replaceChildren(errorBox(`Could not load runs: ${error.message}`));
      return;
    }
    if (Object.keys(filters).some((name) => wanted[name] !== filters[name])) return;
    message.replaceChildren();
    table.hidden = runs.length === 0;
    if (runs.length === 0) {
      const filtered = filters.task || filters.status || filters.topLevel;
      message.replaceChildren(filtered
        ? empty("No runs match these filters.", "Change the filters above.")
        : empty("No runs yet.", "Start one from ", h("a", { href: "#/tasks" }, "Tasks"),
          ", or through the API; it appears here as soon as it is queued."));
    }
    body.replaceChildren(...runs.map(row));
  }

  const poller = poll(refresh, REFRESH_MS);
  return () => poller.stop();
}

function row(run) {
  const link = `#/runs/${run.id}`;
  const subtask = Boolean(run.parentTaskRunId);
  return h("tr", { class: "run-row", "data-run-id": run.id, onclick: () => { location.hash = link; } },
    h("td", {}, subtask ? h("span", { class: "muted", title: `subtask of ${run.parentTaskRunId}` }, "↳ ") : null,
      h("a", { href: link, class: "task-name" }, run.taskName || run.taskId)),
    h("td", {}, statusBadge(run.status)),
    h("td", {}, run.startedAt ? formatTime(run.startedAt) : h("span", { class: "muted" }, "queued")),
    h("td", { class: "num" }, formatDuration(runDuration(run))),
    h("td", { class: "num" }, String(run.attempts.length)),
    h("td", { class: "mono muted" }, run.id));
}
