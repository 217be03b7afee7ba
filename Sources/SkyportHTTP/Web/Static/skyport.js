// Skyport's web pages: live session updates (server-sent events) and offer countdowns. Everything else works
// without this script.
"use strict";

function followSession(main) {
  const source = new EventSource(main.dataset.events);
  source.addEventListener("open", () => { main.dataset.live = "open"; });
  const log = document.getElementById("progress");
  const note = document.getElementById("live-note");
  if (note) note.textContent = "Following this session live.";
  source.addEventListener("session", (message) => {
    const s = JSON.parse(message.data);
    document.getElementById("phase").textContent = s.phase;
    const last = log.lastElementChild;
    if (!last || last.textContent !== s.line) {
      const item = document.createElement("li");
      item.textContent = s.line;
      log.appendChild(item);
    }
    showLink("notebook", "notebook-link", s.notebookLink, "open the notebook");
    showLink("remote", "remote-link", s.remoteLink, s.remoteLink);
    showResults(s.results || []);
    const error = document.getElementById("error");
    if (s.error) {
      document.getElementById("error-text").textContent = s.error;
      error.hidden = false;
    }
    document.getElementById("cancel-form").hidden = !s.cancellable;
    if (s.final) {
      source.close();
      if (note) note.textContent = "This session has ended.";
    }
  });
}

function showLink(boxID, linkID, href, text) {
  if (!href) return;
  const link = document.getElementById(linkID);
  link.href = href;
  link.textContent = text;
  document.getElementById(boxID).hidden = false;
}

function showResults(results) {
  const list = document.getElementById("results");
  const shown = new Set(Array.from(list.querySelectorAll("a.result"), (a) => a.getAttribute("href")));
  for (const r of results) {
    if (r.id === "notebook" || shown.has(r.href)) continue;
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.className = "result";
    link.href = r.href;
    link.textContent = r.id;
    item.appendChild(link);
    list.appendChild(item);
  }
}

function countDown() {
  const clocks = Array.from(document.querySelectorAll("time.countdown[data-seconds]"));
  if (clocks.length === 0) return;
  const started = Date.now();
  const tick = () => {
    const gone = Math.floor((Date.now() - started) / 1000);
    for (const clock of clocks) {
      const left = Number(clock.dataset.seconds) - gone;
      if (left > 0) {
        clock.textContent = "in " + (left >= 120 ? Math.floor(left / 60) + " min" : left + " s");
      } else {
        clock.textContent = "expired";
        const offer = clock.closest(".offer");
        if (offer) offer.querySelectorAll("form.accept button").forEach((b) => { b.disabled = true; });
      }
    }
  };
  tick();
  setInterval(tick, 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  const main = document.querySelector("main[data-events]");
  if (main && typeof EventSource !== "undefined") followSession(main);
  countDown();
});
