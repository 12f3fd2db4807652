// The accuracy panel (GET /api/accuracy), the calibration the page's dollars carry, reach probabilities of
// the levels near price, and a hook the heatmap tooltip calls: window.liqmapReach(price).
// Kept apart from app.js: it only reads #symbol and the URL, and writes into #accuracy-panel (under the
// chart screen; its look is in style.css: two columns on a desktop, one on a phone).
const byId = (id) => document.getElementById(id);
const state = { liqmap: null, clusters: null, accuracy: null, symbol: null };

const pct = (x) => (x == null || !Number.isFinite(x) ? "n/a" : `${Math.round(100 * x)}%`);
const usd = (x) => (x >= 1e9 ? `$${(x / 1e9).toFixed(2)}B` : x >= 1e6 ? `$${(x / 1e6).toFixed(1)}M`
  : x >= 1e3 ? `$${(x / 1e3).toFixed(0)}k` : `$${Math.round(x)}`);
const day = (ms) => new Date(ms).toISOString().slice(0, 10);
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

function symbol() {
  const sel = byId("symbol");
  return (sel && sel.value) || new URLSearchParams(location.search).get("symbol") || "BTC";
}
function range() { return new URLSearchParams(location.search).get("range") || "7d"; }

async function getJSON(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return r.json();
}

// P(touch within 4 h / 24 h) from the latest price, for the tooltip (bins of /api/liqmap).
window.liqmapReach = (price) => {
  const m = state.liqmap;
  if (!m || !m.reach_24h) return "";
  const e = m.price_edges;
  if (!(price >= e[0] && price < e[e.length - 1])) return "";
  let lo = 0, hi = e.length - 2;
  while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (e[mid] <= price) lo = mid; else hi = mid - 1; }
  return `<div><span class="k">P(touch from now) 4h · 24h</span> ${pct(m.reach_4h[lo])} · ${pct(m.reach_24h[lo])}</div>`;
};

function calibrationText(cal) {
  if (!cal) return "";
  if (cal.source === "none") return "Dollars are the model's raw output (not calibrated).";
  const fitted = cal.fitted_on ? `, fitted on ${day(cal.fitted_on[0])} – ${day(cal.fitted_on[1] - 1)}` : "";
  const what = window.LiqmapUtil.calibrationSource(cal, true);
  return `Dollars on this page are calibrated to ${what}: model × ${cal.factor_long.toPrecision(3)} for longs, ` +
    `× ${cal.factor_short.toPrecision(3)} for shorts${fitted}.`;
}

// Left column: the calibration, the levels near price, bad ticks; right column: the accuracy sentences.
function render() {
  const el = byId("accuracy-panel");
  if (!el) return;
  const left = [], right = [], a = state.accuracy;
  if (state.liqmap) left.push(`<p class="acc-cal" id="acc-calibration">${esc(calibrationText(state.liqmap.calibration))}</p>`);
  if (state.clusters && state.clusters.clusters.length) {
    const rows = state.clusters.clusters.slice(0, 8).map((c) =>
      `<tr><td>${c.side}</td><td>${c.price_low.toFixed(0)} – ${c.price_high.toFixed(0)}</td><td>${usd(c.usd)}</td>` +
      `<td>${c.distance_pct.toFixed(2)}%</td><td>${pct(c.reach_4h)}</td><td>${pct(c.reach_24h)}</td></tr>`).join("");
    left.push(`<table class="acc-levels" id="acc-levels"><tr><th>side</th><th>zone</th><th>USD</th><th>distance</th>` +
      `<th>P(touch 4h)</th><th>P(touch 24h)</th></tr>${rows}</table>`);
  }
  // bad ticks of the view on screen (/api/liqmap), else of the evaluated period (/api/accuracy)
  const ticks = (state.liqmap && state.liqmap.bad_ticks) || (a && a.bad_ticks) || [];
  left.push(`<p class="acc-ticks" id="acc-bad-ticks">${ticks.length
    ? `Bad ticks clipped before the model: ${ticks.map((t) => esc(`${t.exchange} ${new Date(t.ts).toISOString().slice(0, 16)} ${t.field} ${t.raw} → ${t.clipped}`)).join("; ")}`
    : "No implausible wicks in these bars."}</p>`);
  if (a && a.available) {
    right.push(`<ul class="acc-sentences" id="acc-sentences">${a.sentences.map((s) => `<li>${esc(s)}</li>`).join("")}</ul>`);
    const rel = a.reach && a.reach.reliability;
    if (rel && rel.long) {
      const cells = (side) => rel[side].counts.map((n, i) => (n ? `${pct(rel[side].mean_predicted[i])}→${pct(rel[side].observed[i])}` : "")).filter(Boolean).join(" · ");
      right.push(`<p class="acc-rel">Reliability at 24 h (said → happened): longs ${cells("long")}; shorts ${cells("short")}</p>`);
    }
  } else if (a) {
    right.push(`<p>Accuracy not available for this store: ${esc(a.reason || "no realized liquidations")}</p>`);
  } else {
    right.push(`<p>Measuring accuracy on the stored data…</p>`);
  }
  el.innerHTML = `<h2>How far to trust these numbers</h2><div class="acc-cols">` +
    `<div class="acc-col">${left.join("")}</div><div class="acc-col">${right.join("")}</div></div>`;
}

async function refreshLevels() {
  const sym = encodeURIComponent(symbol());
  const [m, c] = await Promise.allSettled([
    getJSON(`/api/liqmap?symbol=${sym}&range=${range()}`),
    getJSON(`/api/clusters?symbol=${sym}&range=${range()}`),
  ]);
  state.liqmap = m.status === "fulfilled" ? m.value : null;
  state.clusters = c.status === "fulfilled" ? c.value : null;
  render();
}

async function refreshAccuracy() {
  state.accuracy = null;
  render();
  try { state.accuracy = await getJSON(`/api/accuracy?symbol=${encodeURIComponent(symbol())}`); } catch (err) {
    state.accuracy = { available: false, reason: String(err) };
  }
  render();
}

function start() {
  if (!byId("accuracy-panel")) return;
  const sel = byId("symbol");
  if (sel) sel.addEventListener("change", () => { refreshLevels(); refreshAccuracy(); });
  refreshLevels();
  refreshAccuracy();
  setInterval(refreshLevels, 60_000);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
