// The dashboard's router: #/ (runs), #/runs/ID (a run and its tree), #/tasks.

import { onConnection } from "./api.js";
import { runPage } from "./run.js";
import { runsPage } from "./runs.js";
import { tasksPage } from "./tasks.js";

const page = document.getElementById("page");
const connection = document.getElementById("connection");
let leave = () => {};

onConnection((ok, message) => {
  connection.textContent = ok ? "connected" : message;
  connection.className = `connection ${ok ? "ok" : "down"}`;
});

function route() {
  leave();
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, search = ""] = hash.split("?");
  const params = new URLSearchParams(search);
  const match = path.match(/^\/runs\/([^/]+)$/);
  let section = "runs";
  if (match) {
    leave = runPage(page, decodeURIComponent(match[1]));
  } else if (path === "/tasks") {
    section = "tasks";
    leave = tasksPage(page);
  } else {
    leave = runsPage(page, params);
  }
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", link.dataset.nav === section);
  }
  window.scrollTo(0, 0);
}

window.addEventListener("hashchange", route);
route();
