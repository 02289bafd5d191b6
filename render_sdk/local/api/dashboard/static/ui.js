// Small DOM and formatting helpers shared by the pages.

/** `h("div", {class: "x", onclick: f}, child, ...)`: an element; strings become text (never HTML). */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "style" && typeof value === "object") Object.assign(element.style, value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function statusBadge(status) {
  return h("span", { class: `status status-${status}` }, status);
}

export function millis(text) {
  return text ? Date.parse(text) : NaN;
}

/** "850 ms", "12.3 s", "4 m 05 s", "2 h 03 m". */
export function formatDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} m ${String(Math.floor(seconds % 60)).padStart(2, "0")} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} m`;
}

/** Local time of day, with the date when it is not today. */
export function formatTime(text) {
  const moment = millis(text);
  if (!Number.isFinite(moment)) return "–";
  const date = new Date(moment);
  const time = date.toLocaleTimeString(undefined, { hour12: false });
  return date.toDateString() === new Date().toDateString()
    ? time
    : `${date.toLocaleDateString()} ${time}`;
}

/** How long a run has taken: started → completed, or → now while it runs. */
export function runDuration(run, now = Date.now()) {
  const started = millis(run.startedAt);
  if (!Number.isFinite(started)) return NaN;
  const completed = millis(run.completedAt);
  return (Number.isFinite(completed) ? completed : now) - started;
}

export function formatJSON(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

export function empty(title, ...hint) {
  return h("div", { class: "empty" }, h("p", { class: "empty-title" }, title), h("p", {}, ...hint));
}

export function errorBox(message) {
  return h("div", { class: "error-box", role: "alert" }, message);
}

/** Runs `step()` now and then every `intervalMs` after it finishes, skipping while the tab is hidden. */
export function poll(step, intervalMs) {
  let timer = null;
  let stopped = false;
  const run = async () => {
    timer = null;
    if (stopped) return;
    if (!document.hidden) {
      try {
        if ((await step()) === false) return;
      } catch {
        // shown by the step itself; keep polling so the page recovers when the server is back
      }
    }
    if (!stopped) timer = setTimeout(run, intervalMs);
  };
  run();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
    now() {
      if (timer) {
        clearTimeout(timer);
        run();
      }
    },
  };
}

export function code(text) {
  return h("code", {}, text);
}
