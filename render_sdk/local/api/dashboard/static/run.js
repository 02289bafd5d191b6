// A run: its whole tree with a timeline of every attempt, the selected run's details and its logs (live).

import { TERMINAL, cancelRun, getLogs, getRun, listTree, startRun } from "./api.js";
import {
  empty, errorBox, formatDuration, formatJSON, formatTime, h, millis, poll, runDuration, statusBadge,
} from "./ui.js";

const REFRESH_MS = 1000;

export function runPage(container, runId) {
  const state = { rootId: null, selectedId: runId, tree: [], details: null, logs: freshLogs(runId), done: false };
  const treeView = h("div", { class: "card tree-card" });
  const detailView = h("div", { class: "detail" });
  const message = h("div");
  const head = h("div", { class: "page-head" }, h("h1", {}, "Run"), h("span", { class: "mono muted" }, runId));
  container.replaceChildren(
    h("a", { href: "#/", class: "back" }, "← All runs"), head, message, treeView, detailView);

  async function refresh() {
    try {
      if (state.rootId === null) {
        const run = await getRun(state.selectedId);
        state.rootId = run.rootTaskRunId || run.id;
      }
      const [tree, details] = await Promise.all([listTree(state.rootId), getRun(state.selectedId)]);
      state.tree = tree;
      state.details = details;
      await loadLogs(state.logs);
      message.replaceChildren();
    } catch (error) {
      message.replaceChildren(errorBox(
        error.status === 404 ? `There is no run ${state.selectedId} on this server.` : error.message));
      return !(error.status === 404);
    }
    render();
    const finished = state.tree.every((run) => TERMINAL.has(run.status));
    // One more pass after everything finished, for late log lines; then stop asking.
    const keepGoing = !(finished && state.done);
    state.done = finished;
    return keepGoing;
  }

  function render() {
    const root = state.tree.find((run) => run.id === state.rootId);
    head.replaceChildren(h("h1", {}, root ? root.taskName : "Run"), root ? statusBadge(root.status) : null,
      h("span", { class: "mono muted" }, state.rootId));
    treeView.replaceChildren(renderTree(state.tree, state.rootId, state.selectedId, select));
    detailView.replaceChildren(renderDetails(state.details, state.tree, state.logs, actions));
    const logs = state.logs;
    logs.view.scrollTop = logs.stick ? logs.view.scrollHeight : logs.scrolled;
  }

  function select(id) {
    if (id === state.selectedId) return;
    state.selectedId = id;
    state.logs = freshLogs(id);
    history.replaceState(null, "", `#/runs/${id}`);
    state.done = false;
    poller.stop();
    poller = poll(refresh, REFRESH_MS);
  }

  const actions = {
    async cancel(button, feedback) {
      button.disabled = true;
      try {
        await cancelRun(state.selectedId);
        feedback.replaceChildren();
      } catch (error) {
        feedback.replaceChildren(errorBox(`Could not cancel: ${error.message}`));
      }
      state.done = false;
      poller.stop();
      poller = poll(refresh, REFRESH_MS);
    },
    async again(button, feedback) {
      button.disabled = true;
      try {
        const run = await startRun(state.details.taskName, state.details.input);
        location.hash = `#/runs/${run.id}`;
      } catch (error) {
        button.disabled = false;
        feedback.replaceChildren(errorBox(`Could not start the task again: ${error.message}`));
      }
    },
  };

  let poller = poll(refresh, REFRESH_MS);
  return () => poller.stop();
}

// ---- tree and timeline ---------------------------------------------------------------------------------

function renderTree(runs, rootId, selectedId, select) {
  const children = new Map();
  for (const run of runs) {
    const parent = run.id === rootId ? null : run.parentTaskRunId;
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(run);
  }
  for (const list of children.values()) list.sort((a, b) => millis(a.createdAt) - millis(b.createdAt));
  const ordered = [];
  const visit = (run, depth) => {
    ordered.push([run, depth]);
    for (const child of children.get(run.id) || []) visit(child, depth + 1);
  };
  for (const run of children.get(null) || []) visit(run, 0);

  const now = Date.now();
  const starts = runs.map((run) => millis(run.createdAt)).filter(Number.isFinite);
  const ends = runs.flatMap((run) => [millis(run.completedAt), ...run.attempts.map((a) => millis(a.completedAt))])
    .filter(Number.isFinite);
  const begin = Math.min(...starts);
  const live = runs.some((run) => !TERMINAL.has(run.status));
  const end = live || ends.length === 0 ? now : Math.max(...ends);
  const span = Math.max(end - begin, 1);
  const scale = (moment) => `${(((moment - begin) / span) * 100).toFixed(3)}%`;
  const width = (from, to) => `${Math.max(((to - from) / span) * 100, 0.25).toFixed(3)}%`;

  const axis = h("div", { class: "axis" },
    [0, 0.25, 0.5, 0.75, 1].map((fraction) =>
      h("span", { style: { left: `${fraction * 100}%` } }, formatDuration(fraction * span))));
  const counts = {};
  for (const run of runs) counts[run.status] = (counts[run.status] || 0) + 1;

  return h("div", { class: "tree" },
    h("div", { class: "tree-head" },
      h("div", {}, `${runs.length} run${runs.length === 1 ? "" : "s"} in this tree`,
        h("span", { class: "counts" }, Object.entries(counts).map(([status, n]) => h("span", {}, statusBadge(status), ` ${n}`)))),
      h("div", { class: "legend" },
        h("span", { class: "seg seg-queued" }), "queued", h("span", { class: "seg seg-running" }), "running",
        h("span", { class: "seg seg-wait" }), "retry wait", h("span", { class: "seg seg-completed" }), "completed",
        h("span", { class: "seg seg-failed" }), "failed", h("span", { class: "seg seg-canceled" }), "canceled")),
    h("div", { class: "tree-row tree-axis" }, h("div"), h("div"), h("div"), axis),
    ordered.map(([run, depth]) =>
      h("div", {
        class: `tree-row node${run.id === selectedId ? " selected" : ""}`,
        "data-run-id": run.id, "data-status": run.status, role: "button", tabindex: 0,
        onclick: () => select(run.id),
        onkeydown: (event) => { if (event.key === "Enter") select(run.id); },
      },
      h("div", { class: "node-name", style: { paddingLeft: `${depth * 18 + 8}px` } },
        depth ? h("span", { class: "branch" }, "└ ") : null, run.taskName),
      h("div", {}, statusBadge(run.status)),
      h("div", { class: "num" }, formatDuration(runDuration(run, now))),
      h("div", { class: "lane" }, segments(run, now).map(([kind, from, to, label]) =>
        h("span", {
          class: `seg seg-${kind}`, title: `${label}: ${formatDuration(to - from)}`,
          style: { left: scale(from), width: width(from, to) },
        }))))));
}

/** `[kind, from, to, label]` for each stretch of a run's life: queued, running (by outcome), retry waits. */
function segments(run, now) {
  const parts = [];
  const ended = millis(run.completedAt);
  const stop = Number.isFinite(ended) ? ended : now;
  let previousEnd = NaN;
  run.attempts.forEach((attempt, index) => {
    const queued = millis(attempt.enqueuedAt);
    const started = millis(attempt.startedAt);
    const finished = millis(attempt.completedAt);
    const number = index + 1;
    if (Number.isFinite(previousEnd) && queued > previousEnd) parts.push(["wait", previousEnd, queued, `retry wait before attempt ${number}`]);
    if (Number.isFinite(queued) && started > queued) parts.push(["queued", queued, started, `attempt ${number} queued`]);
    const kind = attempt.status === "running" ? "running" : attempt.status === "completed" || attempt.status === "succeeded" ? "completed" : attempt.status;
    parts.push([kind, started, Number.isFinite(finished) ? finished : stop, `attempt ${number} ${attempt.status}`]);
    previousEnd = finished;
  });
  if (run.status === "pending" || (run.status === "canceled" && run.attempts.every((a) => a.completedAt))) {
    const from = run.attempts.length ? previousEnd : millis(run.createdAt);
    const kind = run.attempts.length ? "wait" : "queued";
    if (Number.isFinite(from) && stop > from) parts.push([kind, from, stop, run.attempts.length ? "retry wait" : "queued"]);
  }
  return parts;
}

// ---- the selected run ------------------------------------------------------------------------------------

function renderDetails(run, tree, logs, actions) {
  if (!run) return empty("Loading…");
  const feedback = h("div");
  const below = tree.filter((other) => other.id !== run.id && isBelow(other, run.id, tree)).length;
  const finished = TERMINAL.has(run.status);
  const cancel = h("button", {
    class: "danger", id: "cancel-run", disabled: finished,
    title: finished ? "This run has finished" : "Cancel this run and every subtask under it",
    onclick: (event) => actions.cancel(event.currentTarget, feedback),
  }, below ? `Cancel run and ${below} subtask${below === 1 ? "" : "s"}` : "Cancel run");
  const again = h("button", {
    id: "run-again", title: "Start the same task with the same input",
    onclick: (event) => actions.again(event.currentTarget, feedback),
  }, "Run again");
  const parent = run.parentTaskRunId ? tree.find((other) => other.id === run.parentTaskRunId) : null;
  const meta = [
    ["Task", run.taskName],
    ["Run ID", h("span", { class: "mono" }, run.id)],
    parent ? ["Parent", h("a", { href: `#/runs/${parent.id}` }, `${parent.taskName} (${parent.id})`)] : null,
    ["Queued", formatTime(run.createdAt)],
    ["Started", run.startedAt ? formatTime(run.startedAt) : "not yet"],
    run.nextAttemptAt ? ["Next attempt", `${formatTime(run.nextAttemptAt)} (retry wait)`] : null,
    ["Finished", run.completedAt ? formatTime(run.completedAt) : "–"],
    ["Duration", formatDuration(runDuration(run))],
    ["Attempts", String(run.attempts.length)],
  ].filter(Boolean);
  return h("div", { class: "detail-grid" },
    h("section", { class: "card" },
      h("div", { class: "section-head" },
        h("h2", {}, run.taskName, " ", statusBadge(run.status)),
        h("div", { class: "actions" }, again, cancel)),
      feedback,
      h("dl", { class: "meta" }, meta.map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)])),
      h("h3", {}, "Input"), formatJSON(run.input),
      run.status === "completed" || run.status === "succeeded"
        ? [h("h3", {}, "Result"), formatJSON(run.results.length === 1 ? run.results[0] : run.results)]
        : null,
      run.error && run.status !== "failed" ? [h("h3", {}, "Error"), h("pre", { class: "trace" }, run.error)] : null,
      h("h3", {}, "Attempts"),
      run.attempts.length === 0 ? h("p", { class: "muted" }, "Waiting for its first attempt.") : null,
      h("ol", { class: "attempts" }, run.attempts.map((attempt, index) =>
        h("li", { class: "attempt", "data-status": attempt.status },
          h("div", { class: "attempt-head" },
            h("strong", {}, `Attempt ${index + 1}`), statusBadge(attempt.status),
            h("span", { class: "muted" }, `${formatTime(attempt.startedAt)} · ${formatDuration(
              (Number.isFinite(millis(attempt.completedAt)) ? millis(attempt.completedAt) : Date.now()) - millis(attempt.startedAt))}`)),
          attempt.error ? h("pre", { class: "trace" }, attempt.error) : null)))),
    h("section", { class: "card logs-card" },
      h("div", { class: "section-head" }, h("h2", {}, "Logs"),
        h("span", { class: "muted" }, finished ? `${logs.lines.length} line${logs.lines.length === 1 ? "" : "s"}` : "following live…")),
      logs.view));
}

function isBelow(run, ancestorId, tree) {
  const byId = new Map(tree.map((other) => [other.id, other]));
  for (let current = run; current && current.parentTaskRunId; current = byId.get(current.parentTaskRunId)) {
    if (current.parentTaskRunId === ancestorId) return true;
  }
  return false;
}

// ---- logs ---------------------------------------------------------------------------------------------

function freshLogs(runId) {
  const logs = { runId, lines: [], seen: new Set(), from: undefined, stick: true, scrolled: 0 };
  // Follow the end while the reader is there; stay put once they scroll up.
  logs.view = h("div", {
    class: "logs", id: "logs",
    onscroll: () => {
      logs.scrolled = logs.view.scrollTop;
      logs.stick = logs.view.scrollTop + logs.view.clientHeight >= logs.view.scrollHeight - 8;
    },
  }, h("p", { class: "muted" }, "No output yet."));
  return logs;
}

async function loadLogs(logs) {
  // startTime is inclusive: lines at the same instant come again, and are skipped by id.
  for (;;) {
    const page = await getLogs(logs.runId, logs.from);
    const fresh = page.logs.filter((line) => !logs.seen.has(line.id));
    if (fresh.length) {
      if (logs.lines.length === 0) logs.view.replaceChildren();
      for (const line of fresh) {
        logs.seen.add(line.id);
        logs.lines.push(line);
        const stream = (line.labels.find((label) => label.name === "type") || {}).value || "";
        const attempt = (line.labels.find((label) => label.name === "attempt") || {}).value;
        logs.view.append(h("div", { class: `log-line log-${stream}` },
          h("span", { class: "log-time" }, formatTime(line.timestamp)),
          h("span", { class: "log-attempt", title: "attempt" }, attempt === undefined ? "" : `#${Number(attempt) + 1}`),
          h("span", { class: "log-message" }, line.message)));
      }
    }
    if (page.logs.length) logs.from = page.logs[page.logs.length - 1].timestamp;
    if (!page.hasMore || fresh.length === 0) return;
  }
}
