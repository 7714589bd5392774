// tradehook dashboard: copy buttons, confirmations, and the overview's
// live updates (SSE from /ui/stream, prices from /ui/overview.json).
// Hand-written, no dependencies; pages work without it, only less live.
"use strict";

document.addEventListener("click", (e) => {
  const b = e.target.closest("button[data-copy]");
  if (!b) return;
  const el = document.getElementById(b.dataset.copy);
  if (!el) return;
  const text = el.value !== undefined ? el.value : el.textContent;
  const done = () => { const t = b.textContent; b.textContent = "Copied"; setTimeout(() => { b.textContent = t; }, 1200); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done);
  } else {
    const r = document.createRange(); r.selectNodeContents(el);
    const s = getSelection(); s.removeAllRanges(); s.addRange(r);
    document.execCommand("copy"); done();
  }
});

document.addEventListener("submit", (e) => {
  const msg = e.target.dataset.confirm;
  if (msg && !confirm(msg)) e.preventDefault();
});

function age(ms) {
  const s = Math.floor(Math.max(0, ms) / 1000);
  if (ms < 1000) return Math.max(0, ms) + " ms";
  if (s < 120) return s + " s";
  if (s < 7200) return Math.floor(s / 60) + " min";
  return Math.floor(s / 3600) + " h";
}

function text(id, value) { const el = document.getElementById(id); if (el) el.textContent = value; }

async function refresh() {
  try {
    const r = await fetch("/ui/overview.json", { credentials: "same-origin" });
    if (!r.ok) return;
    const d = await r.json();
    for (const p of d.prices) {
      text("price-" + p.symbol, p.price === null ? "–" : String(p.price));
      text("age-" + p.symbol, p.age_ms === null ? "no price yet" : age(p.age_ms));
    }
    const f = d.feed;
    text("feed-connected", f.connected === null ? "no live feed" : (f.connected ? "connected" : "disconnected"));
    text("feed-age", f.last_message_age_ms === null ? "–" : age(f.last_message_age_ms));
    text("feed-reconnects", f.reconnects === null ? "–" : String(f.reconnects));
    for (const [k, v] of Object.entries(d.counts)) text("count-" + k, String(v));
  } catch (_) { /* next tick */ }
}

function live() {
  const list = document.getElementById("events");
  if (!list) return;
  setInterval(refresh, 5000);
  const status = document.getElementById("stream-status");
  const es = new EventSource("/ui/stream");
  es.onopen = () => { if (status) status.textContent = "live"; };
  es.onerror = () => { if (status) status.textContent = "reconnecting…"; };
  es.onmessage = null;
  const add = (ev) => {
    let body = {};
    try { body = JSON.parse(ev.data); } catch (_) { return; }
    const li = document.createElement("li");
    const t = document.createElement("span"); t.className = "muted mono"; t.textContent = (body.timestamp || "").replace("T", " ").slice(0, 19) + " ";
    const c = document.createElement("code"); c.textContent = body.type || ev.type;
    const d = document.createElement("span"); d.textContent = " " + JSON.stringify(body.data || {}).slice(0, 160);
    li.append(t, c, d);
    list.prepend(li);
    while (list.children.length > 50) list.lastElementChild.remove();
    const empty = document.getElementById("events-empty"); if (empty) empty.remove();
  };
  for (const type of JSON.parse(document.getElementById("event-types").textContent)) es.addEventListener(type, add);
}

document.addEventListener("DOMContentLoaded", live);
