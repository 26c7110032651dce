// genretag review: the page's only script (served by the package; no inline script runs).
"use strict";
(() => {
  const csrf = document.querySelector('meta[name="csrf"]').content;
  const message = document.getElementById("message");
  const params = new URLSearchParams(location.search);
  if (params.has("token")) {  // exchanged for a cookie: keep it out of the history
    params.delete("token");
    history.replaceState(null, "", location.pathname + (params.toString() ? "?" + params : ""));
  }
  const filters = Object.fromEntries(params.entries());
  let focused = null;  // the id of the track the keys act on
  let changing = null;  // {scope, id} while the change form is open

  const rows = () => Array.from(document.querySelectorAll("tr.track"));
  const row = (id) => document.getElementById("t-" + id);
  const say = (text, bad) => { message.textContent = text; message.className = bad ? "bad" : ""; };

  function focus(id, scroll = true) {
    if (focused !== null && row(focused)) row(focused).classList.remove("focused");
    focused = id;
    const r = row(id);
    if (!r) return;
    r.classList.add("focused");
    if (scroll) r.scrollIntoView({block: "nearest"});
  }

  function step(by) {
    const all = rows();
    if (!all.length) return;
    let i = all.findIndex((r) => r.dataset.id === String(focused));
    i = i < 0 ? 0 : Math.min(all.length - 1, Math.max(0, i + by));
    focus(all[i].dataset.id);
  }

  function seenIn(scope, id) {
    const r = row(id);
    const within = scope === "track" ? [r] : Array.from(r.closest("section").querySelectorAll("tr.track"));
    return Object.fromEntries(within.map((x) => [x.dataset.id, Number(x.dataset.seen)]));
  }

  async function decide(action, scope, id, genres) {
    const body = {id: Number(id), action, scope, genres, seen: seenIn(scope, id), filters};
    let answer;
    try {
      answer = await fetch("/api/decide", {
        method: "POST",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
        body: JSON.stringify(body),
      });
    } catch (e) {
      say("the page's server is not answering (was genretag review stopped?)", true);
      return;
    }
    const data = await answer.json().catch(() => ({error: "unreadable answer"}));
    if (answer.status === 409) {
      say(data.error + ": showing what is stored now", true);
      setTimeout(() => location.reload(), 1200);
      return;
    }
    if (!answer.ok) { say(data.error || "refused", true); return; }
    const section = row(id).closest("section");
    const openIds = Array.from(section.querySelectorAll("tr.evidence:not([hidden])")).map((e) => e.id);
    section.outerHTML = data.html;
    openIds.forEach((e) => { const el = document.getElementById(e); if (el) el.hidden = false; });
    const words = {accepted: "accepted", changed: "changed", rejected: "rejected", clear: "taken back"};
    let text = `${words[action]}: ${data.decided.length} track${data.decided.length === 1 ? "" : "s"}`;
    if (data.refused.length) text += `; not decided: ${data.refused.map((r) => `${r.path} (${r.why})`).join(", ")}`;
    say(text, data.refused.length > 0);
    if (row(id)) {
      focus(id, false);
      if (action !== "clear" && scope === "track") step(1);
    }
  }

  function openChange(scope, id) {
    const form = document.getElementById("change-form");
    const input = document.getElementById("change-input");
    changing = {scope, id};
    row(id).closest("section").querySelector(".group-head").after(form);
    form.hidden = false;
    input.value = "";
    input.focus();
  }

  document.getElementById("change-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const form = e.target;
    const genres = document.getElementById("change-input").value.split(/[;,]/).map((g) => g.trim()).filter(Boolean);
    form.hidden = true;
    document.body.append(form);
    if (changing && genres.length) decide("changed", changing.scope, changing.id, genres);
    changing = null;
  });
  document.getElementById("change-cancel").addEventListener("click", () => {
    const form = document.getElementById("change-form");
    form.hidden = true;
    document.body.append(form);
    changing = null;
  });

  async function openEvidence(id, thenPlay) {
    const holder = document.getElementById("e-" + id);
    if (!holder) return;
    if (!holder.hidden && !thenPlay) { holder.hidden = true; return; }
    holder.hidden = false;
    const cell = holder.querySelector("td");
    if (!cell.dataset.loaded) {
      cell.textContent = "hearing it again…";
      const answer = await fetch("/track/" + id);
      cell.innerHTML = await answer.text();  // rendered (and escaped) by the server
      cell.dataset.loaded = "1";
    }
    if (thenPlay) {
      const audio = cell.querySelector("audio");
      if (audio) (audio.paused ? audio.play() : audio.pause()) ?.catch?.(() => {});
    }
  }

  // a window of the timeline: play just that window
  document.addEventListener("click", (e) => {
    const w = e.target.closest("rect.window");
    if (w) {
      const audio = w.closest(".evidence-body").querySelector("audio");
      const start = Number(w.dataset.start), end = start + Number(w.dataset.seconds);
      audio.currentTime = start;
      const stop = () => { if (audio.currentTime >= end) { audio.pause(); audio.removeEventListener("timeupdate", stop); } };
      audio.addEventListener("timeupdate", stop);
      audio.play().catch(() => {});
      return;
    }
    const b = e.target.closest("button[data-act]");
    if (b) {
      focus(b.dataset.id, false);
      if (b.dataset.act === "changed") openChange(b.dataset.scope, b.dataset.id);
      else decide(b.dataset.act, b.dataset.scope, b.dataset.id);
      return;
    }
    const o = e.target.closest("button[data-open]");
    if (o) { focus(o.dataset.open, false); openEvidence(o.dataset.open, false); return; }
    const r = e.target.closest("tr.track");
    if (r) focus(r.dataset.id, false);
  });

  document.getElementById("hear-again").addEventListener("click", async () => {
    say("hearing what changed on disk…");
    const answer = await fetch("/api/hear", {method: "POST", headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf}, body: "{}"});
    if (answer.ok) location.reload(); else say("could not hear the library again", true);
  });

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
    if (typing) {
      if (e.key === "Escape") { document.activeElement.blur(); document.getElementById("change-cancel").click(); }
      return;
    }
    const acts = {
      j: () => step(1), ArrowDown: () => step(1), s: () => step(1),
      k: () => step(-1), ArrowUp: () => step(-1),
      "/": () => document.getElementById("search").focus(),
    };
    const onTrack = {
      a: (id) => decide("accepted", "track", id),
      A: (id) => decide("accepted", "album", id),
      r: (id) => decide("rejected", "track", id),
      c: (id) => openChange("track", id),
      u: (id) => decide("clear", "track", id),
      o: (id) => openEvidence(id, false), Enter: (id) => openEvidence(id, false),
      p: (id) => openEvidence(id, true),
    };
    if (acts[e.key]) { e.preventDefault(); acts[e.key](); return; }
    if (onTrack[e.key]) {
      e.preventDefault();
      if (focused === null) step(0);
      if (focused !== null && row(focused) && !row(focused).classList.contains("error")) onTrack[e.key](focused);
    }
  });

  const first = rows()[0];
  if (first) focus(first.dataset.id, false);
  document.body.dataset.ready = "1";
})();
