// Atlas live updates: one WebSocket to /ws/sync-status. Each message names
// what changed; every element that shows it carries data-fragment (the URL of
// its own server-rendered HTML) and data-tasks / data-topics (what it shows), and
// is refetched and swapped in place. resync or a reconnect refetches them all.
// Without this script every page still works; it only stops being live.

const live = document.getElementById("live");
const pending = new Map();

function setLive(state, text) {
  if (!live) return;
  live.dataset.state = state;
  live.textContent = text;
}

function fragments() {
  return Array.from(document.querySelectorAll("[data-fragment]"));
}

function shows(el, message) {
  const topics = (el.dataset.topics || "").split(" ");
  const task = taskOf(message);
  if (task && (el.dataset.tasks || "").split(" ").includes(task)) return true;
  if (task && topics.includes("tasks") && message.type === "task_changed") return true;
  if (message.type.startsWith("conflict_") && topics.includes("conflicts")) return true;
  if (message.type === "queue" && topics.includes("queue")) return true;
  if (message.type === "alert" && topics.includes("alerts")) return true;
  return false;
}

function taskOf(message) {
  switch (message.type) {
    case "sync_status": return message.entity_id;
    case "task_changed": return message.task && message.task.id;
    case "conflict_created":
    case "conflict_resolved": return message.task_id;
    default: return null;
  }
}

// Refetch an element's fragment, at most once per 150 ms per element.
function refresh(el) {
  const url = el.dataset.fragment;
  if (pending.has(url)) return;
  pending.set(url, setTimeout(async () => {
    pending.delete(url);
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } });
      if (response.status === 401) { window.location.assign("/sign-in"); return; }
      if (!response.ok) return;
      const html = await response.text();
      const current = document.querySelector(`[data-fragment="${CSS.escape(url)}"]`);
      if (!current) return;
      const template = document.createElement("template");
      template.innerHTML = html.trim();
      const next = template.content.firstElementChild;
      if (!next) return;
      // Unchanged: keep the element (and anything typed into it).
      if (next.innerHTML === current.innerHTML) return;
      const focused = current.contains(document.activeElement) ? document.activeElement.id : null;
      next.classList.add("flash");
      current.replaceWith(next);
      if (focused) { const again = document.getElementById(focused); if (again) again.focus(); }
      openDialogs();
    } catch (_) { /* the next message or reconnect tries again */ }
  }, 150));
}

let attempt = 0;
function connect() {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${window.location.host}/ws/sync-status`);
  socket.addEventListener("open", () => {
    // Whatever changed between rendering the page (or losing the connection)
    // and now was not heard: fetch it.
    fragments().forEach(refresh);
    attempt = 0;
    setLive("live", "live");
  });
  socket.addEventListener("message", (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch (_) { return; }
    if (message.type === "resync") { fragments().forEach(refresh); return; }
    fragments().filter((el) => shows(el, message)).forEach(refresh);
  });
  socket.addEventListener("close", () => {
    setLive("offline", "offline — reconnecting…");
    attempt += 1;
    const base = Math.min(30000, 1000 * 2 ** Math.min(attempt, 5));
    setTimeout(connect, base / 2 + Math.random() * base / 2);
  });
}

// A conflict dialog is modal: focus stays inside, and Esc means "decide later".
function openDialogs() {
  document.querySelectorAll("dialog[data-modal]").forEach((dialog) => {
    if (dialog.dataset.ready) return;
    dialog.dataset.ready = "yes";
    if (dialog.open) dialog.close();
    dialog.showModal();
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      window.location.assign(dialog.dataset.later || "/");
    });
  });
}

openDialogs();
if (live) connect();

// Confirmation for destructive buttons (data-confirm), without inline script.
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const text = (button && button.dataset.confirm) || event.target.dataset.confirm;
  if (text && !window.confirm(text)) event.preventDefault();
});
