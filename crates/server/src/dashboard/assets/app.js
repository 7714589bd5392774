// tradehook dashboard: copy buttons, confirmations, the overview's live
// updates (SSE from /ui/stream, prices from /ui/overview.json) and new
// alerts on the Alerts page.
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

// The live event stream (SSE through the session); `types` are the event
// types to listen for, `add` gets each parsed {id, type, timestamp, data}.
function stream(types, add) {
  const status = document.getElementById("stream-status");
  const es = new EventSource("/ui/stream");
  es.onopen = () => { if (status) status.textContent = "live"; };
  es.onerror = () => { if (status) status.textContent = "reconnecting…"; };
  const parse = (ev) => {
    let body;
    try { body = JSON.parse(ev.data); } catch (_) { return; }
    add(body, ev);
  };
  for (const type of types) es.addEventListener(type, parse);
}

function live() {
  const list = document.getElementById("events");
  if (!list) return;
  setInterval(refresh, 5000);
  const add = (body, ev) => {
    const li = document.createElement("li");
    const t = document.createElement("span"); t.className = "muted mono"; t.textContent = (body.timestamp || "").replace("T", " ").slice(0, 19) + " ";
    const c = document.createElement("code"); c.textContent = body.type || ev.type;
    const d = document.createElement("span"); d.textContent = " " + JSON.stringify(body.data || {}).slice(0, 160);
    li.append(t, c, d);
    list.prepend(li);
    while (list.children.length > 50) list.lastElementChild.remove();
    const empty = document.getElementById("events-empty"); if (empty) empty.remove();
  };
  stream(JSON.parse(document.getElementById("event-types").textContent), add);
}

function cell(tr, value, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  if (value instanceof Node) td.append(value); else td.textContent = value;
  tr.append(td);
}

function link(href, label, title) {
  const a = document.createElement("a"); a.href = href; a.textContent = label; a.title = title; return a;
}

// The Alerts page's first page: new alerts of the filter appear on top.
function liveAlerts() {
  const body = document.getElementById("alerts-live");
  if (!body) return;
  const rule = body.dataset.rule || "", symbol = body.dataset.symbol || "";
  const add = (m) => {
    const d = m.data || {};
    if ((rule && d.rule_id !== rule) || (symbol && d.symbol !== symbol)) return;
    const tr = document.createElement("tr"); tr.className = "fresh";
    cell(tr, (m.timestamp || "").replace("T", " ").replace("Z", ""));
    cell(tr, link("/ui/rules/" + encodeURIComponent(d.rule_id || ""), d.rule_name || d.rule_id || "", "Edit rule " + (d.rule_id || "")));
    cell(tr, link("/ui/alerts?symbol=" + encodeURIComponent(d.symbol || ""), d.symbol || "", "This symbol's alerts and chart"));
    cell(tr, d.rule_type || (m.type === "price_alert.triggered" ? "price_alert" : ""), "hide-sm");
    cell(tr, String(d.price !== undefined ? d.price : d.current_price), "num");
    cell(tr, "", "num hide-sm");
    const ind = document.createElement("code");
    ind.textContent = Object.entries(d.indicators || {}).map(([k, v]) => k + "=" + v).join(" ");
    cell(tr, ind.textContent ? ind : "", "hide-sm");
    body.prepend(tr);
    while (body.children.length > 50) body.lastElementChild.remove();
    const table = document.getElementById("alerts-table"); if (table) table.hidden = false;
    const empty = document.getElementById("alerts-empty"); if (empty) empty.remove();
  };
  stream(["alert.triggered", "price_alert.triggered"], add);
}

document.addEventListener("DOMContentLoaded", () => { live(); liveAlerts(); });
