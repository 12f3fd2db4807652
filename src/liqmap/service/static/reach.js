// Reach probability on the liquidation map: P(touch within 24 h) (solid) and within 4 h (dashed) against
// price, drawn over the map's bars with its own axis (0-100 %, under the plot) and a legend. The numbers are
// GET /api/liqmap's `reach_24h` / `reach_4h` per price bin (liqmap.analysis.reach: reflection principle,
// Parkinson volatility, logistic recalibration), from the latest price; nothing is computed here.
// app.js calls window.liqmapSideLayer at the end of every liquidation-map draw; this file fetches the
// curves again when the view's symbol, range, exchanges or data change (`liqmap:view`) and redraws the map.
"use strict";

(() => {
  const COLOR = "#ffd166";
  const layer = { body: null, key: "", drawn: null };
  window.liqmapReachLayer = layer;  // for tests: `drawn` holds what the last draw put on the canvas

  document.addEventListener("liqmap:view", async (event) => {
    const v = event.detail;
    const q = new URLSearchParams({ symbol: v.symbol, range: v.range,
      exchanges: v.exchanges.length ? v.exchanges.join(",") : "all" });
    const key = `${q}|${v.dataVersion}|${v.end}|${v.candleOnly}`;
    if (key === layer.key) return;  // a zoom or pan: same curves
    layer.key = key;
    let body = null;
    if (!v.candleOnly) {
      try {
        const r = await fetch(`/api/liqmap?${q}`, { headers: { Accept: "application/json" } });
        body = r.ok ? await r.json() : null;
      } catch (err) {
        body = null;  // no curves rather than stale ones; the next view retries
      }
    }
    if (layer.key !== key) return;  // a newer view was asked for meanwhile
    layer.body = body;
    if (window.liqmapDrawSide) window.liqmapDrawSide();
  });

  function curve(ctx, r, yOfP, edges, probs, dash, width) {
    ctx.strokeStyle = COLOR; ctx.lineWidth = width; ctx.setLineDash(dash); ctx.beginPath();
    let open = false, points = 0;
    for (let i = 0; i < probs.length; i++) {
      const p = probs[i];
      if (p == null) { open = false; continue; }
      const x = r.x + p * r.w, y = yOfP(0.5 * (edges[i] + edges[i + 1]));
      if (open) ctx.lineTo(x, y); else { ctx.moveTo(x, y); open = true; }
      points++;
    }
    ctx.stroke();
    return points;
  }

  function axis(ctx, r, H) {
    // the plot rect follows the heatmap's rows and may run past the canvas: ticks on its visible bottom,
    // labels under it when the canvas has room there, else just above it on a dark strip
    const base = Math.min(r.y + r.h, H), room = H - base >= 14, ty = room ? base + 11 : base - 8;
    if (!room) { ctx.fillStyle = "rgba(18,12,31,0.82)"; ctx.fillRect(r.x, base - 19, r.w, 19); }
    ctx.setLineDash([]); ctx.strokeStyle = COLOR; ctx.lineWidth = 1; ctx.globalAlpha = 0.8;
    ctx.beginPath();
    for (const p of [0, 0.25, 0.5, 0.75, 1]) { const x = r.x + p * r.w; ctx.moveTo(x, base); ctx.lineTo(x, base - 5); }
    ctx.stroke();
    ctx.globalAlpha = 1; ctx.fillStyle = COLOR; ctx.font = "10px ui-monospace, monospace";
    ctx.textAlign = "left"; ctx.fillText("0%", r.x + 1, ty);
    ctx.textAlign = "center"; ctx.fillText("P(touch) 50%", r.x + r.w / 2, ty);
    ctx.textAlign = "right"; ctx.fillText("100%", r.x + r.w - 1, ty);
  }

  function legend(ctx, r) {
    const x = r.x + 6, y = Math.max(r.y, 0) + 6, w = Math.min(r.w - 12, 196), h = 32;
    ctx.setLineDash([]); ctx.fillStyle = "rgba(18,12,31,0.82)"; ctx.fillRect(x, y, w, h);
    ctx.font = "10px ui-monospace, monospace"; ctx.textAlign = "left"; ctx.fillStyle = COLOR;
    ctx.fillText("P(touch) from latest price", x + 5, y + 12);
    for (const [dash, width, label, dx] of [[[], 2, "24h", 5], [[5, 4], 1.5, "4h", 80]]) {
      ctx.strokeStyle = COLOR; ctx.lineWidth = width; ctx.setLineDash(dash);
      ctx.beginPath(); ctx.moveTo(x + dx, y + 24); ctx.lineTo(x + dx + 26, y + 24); ctx.stroke();
      ctx.fillText(label, x + dx + 31, y + 27);
    }
    ctx.setLineDash([]);
  }

  // (ctx, plot rect, price -> y, {hovering, H}) from app.js drawSide: the curves belong to the latest price,
  // so they are not drawn while the map shows a hovered past column.
  window.liqmapSideLayer = (ctx, r, yOfP, info) => {
    const b = layer.body;
    layer.drawn = null;
    if (!b || !Array.isArray(b.reach_24h) || !Array.isArray(b.reach_4h) || info.hovering) return;
    ctx.save();
    ctx.beginPath(); ctx.rect(r.x, r.y, r.w, r.h); ctx.clip();
    const n24 = curve(ctx, r, yOfP, b.price_edges, b.reach_24h, [], 2);
    const n4 = curve(ctx, r, yOfP, b.price_edges, b.reach_4h, [5, 4], 1.5);
    legend(ctx, r);
    ctx.restore();
    ctx.save();
    axis(ctx, r, info.H);
    ctx.restore();
    layer.drawn = { rect: { ...r }, color: COLOR, points24: n24, points4: n4, price: b.price, ts: b.ts };
  };
})();
