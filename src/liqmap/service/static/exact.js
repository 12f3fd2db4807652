// Exact layer beside the estimate: a panel under the liquidation map drawing the tracked Hyperliquid
// positions' real liquidation levels (/api/exact/liqmap) with their coverage. Self-contained: it reads the
// page's symbol selector and adds its own elements; app.js is not touched. Until there is something to draw
// (loading, no Hyperliquid data, an error) the panel is one line saying so (style.css hides the canvases).
"use strict";

(() => {
  const U = window.LiqmapUtil || {};
  const fmtUsd = U.fmtUsd || ((v) => `$${Math.round(v)}`);
  const side = document.querySelector(".side-wrap");
  if (!side) return;

  const panel = document.createElement("div");
  panel.className = "exact-panel";
  panel.id = "exact-panel";
  panel.dataset.state = "loading";
  panel.innerHTML = '<div class="side-title">Exact positions (Hyperliquid) · now · last 24 h</div>' +
    '<div class="exact-canvases">' +
    '<canvas id="exact-map" aria-label="Exact liquidation levels of tracked Hyperliquid positions"></canvas>' +
    '<canvas id="exact-heat" aria-label="Exact levels over the last 24 hours"></canvas></div>' +
    '<div class="side-stats" id="exact-coverage">Exact positions (Hyperliquid): loading…</div>';
  side.appendChild(panel);
  const canvas = panel.querySelector("#exact-map");
  const info = panel.querySelector("#exact-coverage");
  const heat = panel.querySelector("#exact-heat");

  // Canvases shown (class "full") or the one line; when that changes, the panel's height does, and the
  // liquidation map above it is drawn again at its new size.
  function setState(name, text, why = "") {
    const full = name === "drawn" || name === "drawing";
    const resized = panel.classList.contains("full") !== full;
    panel.classList.toggle("full", full);
    panel.dataset.state = name;
    info.textContent = text;
    info.title = why;
    if (resized && window.liqmapDrawSide) window.liqmapDrawSide();
  }

  // A cleared 2-D context in CSS pixels at the device's resolution: [ctx, width, height].
  function prepare(c) {
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth || 160, h = c.clientHeight || 130;
    c.width = Math.round(w * dpr);
    c.height = Math.round(h * dpr);
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    return [ctx, w, h];
  }

  // The last 24 h: one column per instant, one row per price bin; orange where longs dominate, blue shorts,
  // brightness sqrt(USD / max).
  function drawHeat(doc) {
    const [ctx, w, h] = prepare(heat);
    const T = doc.long_usd.length;
    if (!T) return;
    const B = doc.long_usd[0].length;
    let top = 1;
    for (let k = 0; k < T; k++) for (let b = 0; b < B; b++) top = Math.max(top, doc.long_usd[k][b] + doc.short_usd[k][b]);
    const cw = w / T, rh = h / B;
    for (let k = 0; k < T; k++) {
      for (let b = 0; b < B; b++) {
        const l = doc.long_usd[k][b], s = doc.short_usd[k][b];
        if (l + s <= 0) continue;
        ctx.globalAlpha = Math.sqrt((l + s) / top);
        ctx.fillStyle = l >= s ? "#f08a24" : "#3c96ff";
        ctx.fillRect(k * cw, h - (b + 1) * rh, Math.ceil(cw), Math.max(1, rh));
      }
    }
    ctx.globalAlpha = 1;
  }

  function draw(doc) {
    const [ctx, w, h] = prepare(canvas);
    const n = doc.long_usd.length;
    const top = Math.max(1, ...doc.long_usd, ...doc.short_usd);
    const rowH = h / n, mid = w / 2;
    // price runs bottom (low) to top (high), like the liquidation map; longs left, shorts right
    for (let i = 0; i < n; i++) {
      const y = h - (i + 1) * rowH;
      const l = doc.long_usd[i] / top * (mid - 2), s = doc.short_usd[i] / top * (mid - 2);
      if (l > 0) { ctx.fillStyle = "#f08a24"; ctx.fillRect(mid - l, y, l, Math.max(1, rowH)); }
      if (s > 0) { ctx.fillStyle = "#3c96ff"; ctx.fillRect(mid, y, s, Math.max(1, rowH)); }
    }
    if (doc.price) {
      const e = doc.price_edges, lo = e[0], hi = e[e.length - 1];
      const y = h - (doc.price - lo) / (hi - lo) * h;
      ctx.strokeStyle = "#ddd";
      ctx.setLineDash([3, 3]);
      ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(w, y); ctx.stroke();
      ctx.setLineDash([]);
    }
  }

  function describe(doc) {
    const c = doc.coverage || {};
    const share = c.oi_share && c.oi_share[doc.symbol] != null ? `${(c.oi_share[doc.symbol] * 100).toFixed(1)} % of HL OI` : "HL OI unknown";
    const age = c.oldest_age_ms != null ? `${Math.round(c.oldest_age_ms / 60000)} min` : "—";
    const longs = doc.long_usd.reduce((a, b) => a + b, 0), shorts = doc.short_usd.reduce((a, b) => a + b, 0);
    return `${c.accounts || 0} accounts · ${c.positions || 0} positions · ${share} · oldest ${age} · ` +
      `longs ${fmtUsd(longs)} / shorts ${fmtUsd(shorts)}`;
  }

  let seq = 0;
  async function refresh() {
    const sel = document.getElementById("symbol");
    const symbol = (sel && sel.value) || "BTC";
    const mine = ++seq;
    try {
      const r = await fetch(`/api/exact/liqmap?symbol=${encodeURIComponent(symbol)}`);
      if (mine !== seq) return;
      if (!r.ok) {
        const detail = await r.json().then((b) => String(b.detail || ""), () => "");
        if (mine !== seq) return;
        setState("empty", `Exact positions: no Hyperliquid data for ${symbol}`,
          detail || `run \`liqmap positions collect\` to track ${symbol} positions`);
        return;
      }
      const doc = await r.json();
      setState("drawing", describe(doc));  // the canvases get their size before they are drawn
      draw(doc);
      const rh = await fetch(`/api/exact/heatmap?symbol=${encodeURIComponent(symbol)}&range=24h&columns=96&n_bins=100`);
      if (mine !== seq) return;
      if (rh.ok) drawHeat(await rh.json());
      panel.dataset.state = "drawn";
    } catch (err) {
      setState("error", `Exact positions unavailable: ${err}`, String(err));
    }
  }

  document.addEventListener("change", (ev) => { if (ev.target && ev.target.id === "symbol") refresh(); });
  window.addEventListener("load", refresh);
  setInterval(refresh, 60000);
})();
