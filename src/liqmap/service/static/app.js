// liqmap web page: heatmap (time × price) on canvas with candles, realized liquidations, a liquidation
// map beside it, live updates over WebSocket. Plain JS, no dependencies, nothing fetched from elsewhere.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const DPR = () => Math.max(1, window.devicePixelRatio || 1);
  const MARGIN = { left: 6, right: 68, top: 8, bottom: 24 };
  const { LUT_SEQ, PAL_SEQ, EMPTY, fmtUsd, fmtPrice, fmtTime, decodeGrid, niceStep, localClusters, diverging, rgba,
    humanAge, calibrationName, calibrationNote } = window.LiqmapUtil;
  // Long / short colours: the CSS variables of /api/palette.css (liqmap.render.style.LONG_COLOR / SHORT_COLOR),
  // so the page, the PNG renders, the net view and the Pine export share one palette.
  const cssVar = (name, fallback) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
  const COLORS = { long: cssVar("--long", "#ff5e7a"), short: cssVar("--short", "#39d98a"), up: "#26c6a6", down: "#ef5370",
    grid: "rgba(255,255,255,0.06)", axis: "#9a91b5", price: "#f5e642", bg: "#0d0717", volume: "#6c5a9c", cvd: "#f5b942",
    oi: "#5fb3ff" };
  const NET = diverging(COLORS.long, COLORS.short), LUT_DIV = NET.lut, PAL_DIV = NET.pal;
  const PANELS = [["oi", "OI"], ["funding", "Funding"], ["volume", "Vol/CVD"], ["liqs", "Liqs"]];

  const state = {
    meta: null,
    params: { symbol: "BTC", exchanges: [], side: "both", range: "7d", leverage: [], age: [], bin: "" },
    panels: { oi: true, funding: true, volume: true, liqs: true },
    series: {},       // /api/series per kind, for the panels
    candleOnly: false, // the symbol has candles but no OI: candles are drawn, the model is not
    panelHover: null, // column under the pointer in the panels
    sens: 98,
    data: null,       // decoded heatmap
    realized: null,   // prints + aggregate bars
    clusters: null,   // from /api/clusters when the server has it
    view: null,       // {x0, x1, y0, y1}: columns and prices shown
    hover: null,      // {k, b, x, y}
    health: [],
    ws: null, wsRetry: 0, requestSeq: 0, firstDrawDone: false,
    lastRequest: "", image: null, imageKey: "",
  };
  window.liqmap = state;  // for tests and benchmarks
  window.liqmapStats = { draws: 0, lastDrawMs: 0, liveDraws: 0, lastLiveMs: null, requests: [], messages: {}, liveMs: {} };

  // ---------- requests ----------
  function queryString(extra = {}) {
    const p = state.params, q = new URLSearchParams();
    q.set("symbol", p.symbol);
    q.set("range", p.range);
    q.set("side", p.side);
    q.set("exchanges", p.exchanges.length ? p.exchanges.join(",") : "all");
    if (p.leverage.length) q.set("leverage", p.leverage.join(","));
    if (p.age.length) q.set("age", p.age.join(","));
    if (p.bin) q.set("bin", p.bin);
    for (const [k, v] of Object.entries(extra)) q.set(k, v);
    return q.toString();
  }
  async function getJSON(url) {
    const t0 = performance.now();
    const r = await fetch(url, { headers: { Accept: "application/json" } });
    const body = await r.json().catch(() => ({}));
    window.liqmapStats.requests.push({ url, ms: performance.now() - t0, status: r.status });
    if (!r.ok) { const err = new Error(body.detail || `${r.status} ${r.statusText}`); err.status = r.status; throw err; }
    return body;
  }

  async function loadMeta() {
    state.meta = await getJSON("/api/meta");
    const sel = $("symbol");
    sel.innerHTML = "";
    for (const s of state.meta.symbols) sel.add(new Option(s.symbol, s.symbol));
    if (!state.meta.symbols.length) sel.add(new Option("(no data)", ""));
    readUrl();
    layoutPanels();
    if (state.meta.symbols.length && !state.meta.symbols.some((s) => s.symbol === state.params.symbol)) {
      state.params.symbol = state.meta.symbols[0].symbol;
    }
    sel.value = state.params.symbol;
    buildControls();
  }

  function readUrl() {
    const q = new URLSearchParams(location.search);
    const p = state.params;
    if (q.get("symbol")) p.symbol = q.get("symbol").toUpperCase();
    if (q.get("range") && state.meta.ranges.includes(q.get("range"))) p.range = q.get("range");
    if (q.get("side") && state.meta.sides.includes(q.get("side"))) p.side = q.get("side");
    const list = (k) => (q.get(k) && q.get(k) !== "all" ? q.get(k).split(",") : []);
    p.exchanges = list("exchanges");
    p.leverage = list("leverage");
    p.age = list("age").filter((a) => state.meta.ages.includes(a));
    p.bin = q.get("bin") || "";
    if (q.get("sens")) state.sens = Math.min(100, Math.max(80, Number(q.get("sens")) || 98));
    if (q.get("panels") !== null) {
      const on = q.get("panels").split(",");
      for (const [key] of PANELS) state.panels[key] = on.includes(key);
    }
  }
  function panelsParam() { return PANELS.filter(([k]) => state.panels[k]).map(([k]) => k).join(",") || "none"; }
  function writeUrl() {
    const next = `?${queryString({ sens: state.sens, panels: panelsParam() })}`;
    if (location.search !== next) history.replaceState(null, "", next);
  }

  async function loadHeatmap({ keepView = false, attempt = 0 } = {}) {
    const seq = attempt ? state.requestSeq : ++state.requestSeq;
    const qs = queryString({ encoding: "u16", sides: "1" });
    state.lastRequest = `/api/heatmap?${qs}`;
    setStatus("Loading…");
    writeUrl();
    try {
      const hm = await getJSON(state.lastRequest);
      if (seq !== state.requestSeq) return;  // a newer request superseded this one
      const grid = decodeGrid(hm.grid), long = decodeGrid(hm.long), short = decodeGrid(hm.short);
      const prev = state.data;
      state.data = {
        times: hm.times, edges: hm.price_edges, edgesHash: hm.price_edges_hash, K: grid.K, B: grid.B,
        grid: grid.values, long: long.values, short: short.values, candles: hm.candles, interval: hm.interval_ms,
        side: hm.side, lastPrice: hm.last_price, view: hm.view, binSize: hm.bin_size,
        version: hm.data_version, exchanges: hm.exchanges, calibration: hm.calibration,
      };
      if (!keepView || !prev || prev.K !== state.data.K) resetView();
      // The previous view's realized bubbles and panel series belong to other columns: drop them now, not
      // when the new ones arrive.
      if (!keepView) { state.realized = null; state.series = {}; }
      state.candleOnly = false;
      state.imageKey = "";
      setStatus("");
      const start = hm.times.length ? hm.times[0] : 0;
      const end = hm.times.length ? hm.times[hm.times.length - 1] + hm.interval_ms : 0;
      loadRealized(start, end, seq);
      loadClusters(seq);
      loadSeries(start, end, seq);
      draw();
      subscribe();
    } catch (err) {
      if (seq !== state.requestSeq) return;
      if (err.status === 404 && /open interest|\bOI\b/i.test(err.message || "")) {
        await loadCandlesOnly(seq, err.message);
        return;
      }
      // Network trouble or a server-side failure: try again a few times; a 4xx is the view's answer.
      const transient = !err.status || err.status >= 500;
      if (transient && attempt < 5) {
        setStatus(`${err.message || err} — retrying…`, true);
        setTimeout(() => { if (seq === state.requestSeq) loadHeatmap({ keepView, attempt: attempt + 1 }); }, 500 * 2 ** attempt);
        return;
      }
      state.data = null;
      draw();
      setStatus(String(err.message || err), true);
    }
  }

  async function loadRealized(start, end, seq) {
    try {
      const ex = state.params.exchanges.length ? state.params.exchanges.join(",") : "all";
      const r = await getJSON(`/api/liquidations?symbol=${encodeURIComponent(state.params.symbol)}&exchanges=${ex}` +
        `&start=${start}&end=${end}&limit=3000`);
      if (seq !== state.requestSeq) return;
      state.realized = r;
      state.realizedStamp = (state.realizedStamp || 0) + 1;
      draw();
    } catch (err) { state.realized = null; }
  }

  // A symbol with candles but no open interest: draw its candles (no model) and say why the map is empty.
  async function loadCandlesOnly(seq, why) {
    try {
      const p = state.params;
      const c = await getJSON(`/api/candles?symbol=${encodeURIComponent(p.symbol)}&range=${p.range}`);
      if (seq !== state.requestSeq) return;
      const cd = c.candles, K = cd.ts.length;
      if (!K) throw new Error(why);
      let lo = Infinity, hi = -Infinity;
      for (let k = 0; k < K; k++) { if (cd.low[k] != null) lo = Math.min(lo, cd.low[k]); if (cd.high[k] != null) hi = Math.max(hi, cd.high[k]); }
      const pad = (hi - lo) * 0.05 || hi * 0.01 || 1;
      const edges = [lo - pad, hi + pad];
      state.data = {
        times: cd.ts, edges, edgesHash: "", K, B: 1, grid: new Float32Array(K), long: new Float32Array(K),
        short: new Float32Array(K), candles: { open: cd.open, high: cd.high, low: cd.low, close: cd.close, volume: cd.volume },
        interval: c.interval_ms, side: state.params.side, lastPrice: cd.close[K - 1], view: { rows: 1, columns: K },
        binSize: (edges[1] - edges[0]) / 100, version: `candles-${cd.ts[K - 1]}`, exchanges: [c.exchange],
      };
      state.candleOnly = true;
      state.realized = null; state.series = {}; state.clusters = null; state.imageKey = "";
      resetView();
      setStatus(`${c.symbol}: candles only. No open interest is stored for ${c.symbol}, and the model needs OI to ` +
        "estimate liquidation levels (import or backfill open_interest).", false, "note");
      loadRealized(cd.ts[0], cd.ts[K - 1] + c.interval_ms, seq);
      loadSeries(cd.ts[0], cd.ts[K - 1] + c.interval_ms, seq);
      draw();
    } catch (err) {
      if (seq !== state.requestSeq) return;
      state.data = null; draw(); setStatus(String(why || err.message || err), true);
    }
  }

  // Series for the panels (open interest, funding, volume + taker delta), raw per exchange.
  async function loadSeries(start, end, seq) {
    const p = state.params, ex = p.exchanges.length ? p.exchanges.join(",") : "all";
    const kinds = ["oi", "funding", "volume"].filter((k) => state.panels[k]);
    await Promise.all(kinds.map(async (kind) => {
      try {
        const r = await getJSON(`/api/series?symbol=${encodeURIComponent(p.symbol)}&kind=${kind}&exchanges=${ex}` +
          `&start=${start}&end=${end}`);
        if (seq !== state.requestSeq) return;
        state.series[kind] = r;
        state.seriesStamp = (state.seriesStamp || 0) + 1;
      } catch (err) { state.series[kind] = null; }
    }));
    state.seriesAt = performance.now();
    if (seq === state.requestSeq) draw();
  }
  // Live: new bars / columns refresh the panels' series, at most one request per 3 s (a burst of updates
  // ends with one trailing refresh, so the last update is always shown).
  function refreshSeries() {
    if (state.seriesTimer) return;
    const wait = state.seriesAt ? Math.max(0, 3000 - (performance.now() - state.seriesAt)) : 0;
    state.seriesTimer = setTimeout(() => {
      state.seriesTimer = null;
      const d = state.data;
      if (d && d.K) loadSeries(d.times[0], d.times[d.K - 1] + d.interval, state.requestSeq);
    }, wait);
  }

  async function loadClusters(seq) {
    state.clusters = null;
    if (!state.meta.features.clusters) return;
    try {
      const p = state.params, rows = state.data ? state.data.view.rows : 500;
      const c = await getJSON(`/api/clusters?symbol=${encodeURIComponent(p.symbol)}&range=${p.range}` +
        `&exchanges=${p.exchanges.length ? p.exchanges.join(",") : "all"}&rows=${rows}`);
      if (seq === state.requestSeq) { state.clusters = c; drawSide(); }
    } catch (err) { state.clusters = null; }
  }

  async function loadHealth() {
    try {
      const h = await getJSON("/api/exchanges");
      state.health = h.exchanges;
      renderHealth();
    } catch (err) { /* shown as offline */ }
  }

  // ---------- controls ----------
  function segButtons(el, items, isOn, onClick) {
    el.innerHTML = "";
    for (const [value, label] of items) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.dataset.value = value;
      b.className = isOn(value) ? "on" : "";
      b.addEventListener("click", () => onClick(value));
      el.appendChild(b);
    }
  }
  function toggleIn(list, value) {
    const i = list.indexOf(value);
    if (i >= 0) list.splice(i, 1); else list.push(value);
  }
  function buildControls() {
    const p = state.params, m = state.meta;
    segButtons($("range"), m.ranges.map((r) => [r, r]), (v) => v === p.range, (v) => { p.range = v; changed(); });
    const sideLabels = { both: "Both", long: "Longs", short: "Shorts", net: "Net Δ" };
    segButtons($("side"), m.sides.map((s) => [s, sideLabels[s] || s]), (v) => v === p.side, (v) => { p.side = v; changed(); });
    const sym = m.symbols.find((s) => s.symbol === p.symbol);
    const exchanges = sym ? sym.exchanges.filter((e) => e !== "aggregate") : [];
    segButtons($("exchanges"), [["all", "All"], ...exchanges.map((e) => [e, e])],
      (v) => (v === "all" ? !p.exchanges.length : p.exchanges.includes(v)),
      (v) => { if (v === "all") p.exchanges = []; else toggleIn(p.exchanges, v); changed(); });
    segButtons($("leverage"), [["all", "All"], ...m.leverage.map((x) => [String(x), `${x}x`])],
      (v) => (v === "all" ? !p.leverage.length : p.leverage.includes(v)),
      (v) => { if (v === "all") p.leverage = []; else toggleIn(p.leverage, v); if (p.leverage.length === m.leverage.length) p.leverage = []; changed(); });
    segButtons($("age"), [["all", "All"], ...m.ages.map((a) => [a, a])],
      (v) => (v === "all" ? !p.age.length : p.age.includes(v)),
      (v) => { if (v === "all") p.age = []; else toggleIn(p.age, v); if (p.age.length === m.ages.length) p.age = []; changed(); });
    segButtons($("panel-toggles"), PANELS, (v) => state.panels[v], (v) => {
      state.panels[v] = !state.panels[v];
      buildControls();
      writeUrl();
      layoutPanels();
      if (state.panels[v] && v !== "liqs" && state.data && !state.series[v]) {
        const d = state.data;
        loadSeries(d.times[0], d.times[d.K - 1] + d.interval, state.requestSeq);
      }
      draw();
    });
    $("bin").value = p.bin;
    $("sens").value = state.sens;
    $("sens-out").textContent = `p${state.sens}`;
    const exLabel = p.exchanges.length ? p.exchanges.join("+") : "all";
    $("menu-summary").textContent = `${p.range} · ${sideLabels[p.side] || p.side} · ${exLabel}`;
  }
  // Phone: the controls live in a drawer opened by the ☰ button in the top bar (every control reachable).
  $("menu-btn").addEventListener("click", () => {
    const open = !document.body.classList.contains("controls-open");
    document.body.classList.toggle("controls-open", open);
    $("menu-btn").setAttribute("aria-expanded", String(open));
    requestAnimationFrame(() => draw());
  });
  function changed() {
    state.realized = null;  // the old range's bubbles go at once
    buildControls();
    loadHeatmap();
  }
  $("symbol").addEventListener("change", (e) => { state.params.symbol = e.target.value; state.params.exchanges = []; changed(); });
  $("bin").addEventListener("change", (e) => { state.params.bin = e.target.value; changed(); });
  $("sens").addEventListener("input", (e) => {
    state.sens = Number(e.target.value);
    $("sens-out").textContent = `p${state.sens}`;
    state.imageKey = "";
    writeUrl();
    draw();
  });

  function setStatus(text, isError = false, kind = "") {
    const el = $("status");
    el.textContent = text;
    el.className = isError ? "status err" : kind ? `status ${kind}` : "status";
  }

  // ---------- geometry ----------
  function resetView() {
    const d = state.data;
    if (!d || !d.K) { state.view = null; return; }
    state.view = { x0: 0, x1: d.K, y0: d.edges[0], y1: d.edges[d.edges.length - 1] };
  }
  function plotRect(canvas) {
    const w = canvas.clientWidth, h = canvas.clientHeight;
    return { x: MARGIN.left, y: MARGIN.top, w: Math.max(10, w - MARGIN.left - MARGIN.right), h: Math.max(10, h - MARGIN.top - MARGIN.bottom) };
  }
  const xOf = (r, k) => r.x + ((k - state.view.x0) / (state.view.x1 - state.view.x0)) * r.w;
  const yOf = (r, p) => r.y + (1 - (p - state.view.y0) / (state.view.y1 - state.view.y0)) * r.h;
  const kAt = (r, x) => state.view.x0 + ((x - r.x) / r.w) * (state.view.x1 - state.view.x0);
  const pAt = (r, y) => state.view.y0 + (1 - (y - r.y) / r.h) * (state.view.y1 - state.view.y0);
  function binOf(p) {
    const d = state.data, lo = d.edges[0], hi = d.edges[d.edges.length - 1];
    return Math.floor(((p - lo) / (hi - lo)) * d.B);
  }
  function fitCanvas(canvas) {
    const dpr = DPR(), w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return ctx;
  }

  // ---------- colour scale ----------
  function scaleMax() {
    // The colour scale tops out at the sensitivity percentile of the non-zero cells (typed-array sort:
    // numeric and fast; a strided sample of at most ~200k cells).
    const v = state.data.grid, step = Math.max(1, Math.floor(v.length / 200000));
    const sample = new Float32Array(Math.ceil(v.length / step));
    let n = 0;
    for (let i = 0; i < v.length; i += step) { const a = Math.abs(v[i]); if (a > 0) sample[n++] = a; }
    if (!n) return 1;
    const used = sample.subarray(0, n).sort();
    return used[Math.min(n - 1, Math.floor((state.sens / 100) * (n - 1)))] || used[n - 1];
  }
  function buildImage() {
    const d = state.data, key = `${state.sens}|${d.version}|${d.K}|${d.B}|${d.side}|${state.requestSeq}|${d.times[d.K - 1]}`;
    if (state.imageKey === key && state.image) return;
    const vmax = scaleMax(), net = d.side === "net", pal = net ? PAL_DIV : PAL_SEQ, K = d.K, B = d.B, g = d.grid;
    const off = state.image || document.createElement("canvas");
    if (off.width !== K || off.height !== B) { off.width = K; off.height = B; }
    const octx = off.getContext("2d"), img = octx.createImageData(K, B), px = new Uint32Array(img.data.buffer);
    const inv = 255 / vmax;
    for (let k = 0; k < K; k++) {
      const row = k * B;
      for (let b = 0; b < B; b++) {
        const v = g[row + b], o = (B - 1 - b) * K + k;
        if (v === 0) { px[o] = EMPTY; continue; }
        let i = net ? 127.5 + 0.5 * v * inv : v * inv;
        i = i < 0 ? 0 : i > 255 ? 255 : i | 0;
        px[o] = pal[i];
      }
    }
    octx.putImageData(img, 0, 0);
    state.image = off; state.imageKey = key; state.vmax = vmax;
    drawLegend();
  }

  function drawLegend() {
    const c = $("legend"), ctx = fitCanvas(c), w = c.clientWidth, h = c.clientHeight;
    ctx.clearRect(0, 0, w, h);
    if (!state.data) return;
    const net = state.data.side === "net", lutArr = net ? LUT_DIV : LUT_SEQ, x0 = 4, bw = w - 8;
    for (let x = 0; x < bw; x++) {
      let t = x / (bw - 1);
      if (!net) t = Math.pow(t, 0.7);
      const i = Math.round(t * 255) * 3;
      ctx.fillStyle = `rgb(${lutArr[i]},${lutArr[i + 1]},${lutArr[i + 2]})`;
      ctx.fillRect(x0 + x, 2, 1, 12);
    }
    ctx.fillStyle = COLORS.axis;
    ctx.font = "11px ui-monospace, monospace";
    ctx.textBaseline = "top";
    const vmax = state.vmax || 0;
    ctx.textAlign = "left"; ctx.fillText(net ? `${fmtUsd(-vmax)} shorts` : "$0", x0, 18);
    ctx.textAlign = "center"; ctx.fillText(net ? "0" : fmtUsd(vmax / 2), x0 + bw / 2, 18);
    ctx.textAlign = "right"; ctx.fillText(`${net ? "longs " : "≥"}${fmtUsd(vmax)}`, x0 + bw, 18);
    $("legend-note").textContent = calibrationNote(state.data.calibration);
  }

  // ---------- main chart ----------
  function draw() {
    const t0 = performance.now();
    const canvas = $("heatmap"), ctx = fitCanvas(canvas), W = canvas.clientWidth, H = canvas.clientHeight;
    ctx.fillStyle = COLORS.bg;
    ctx.fillRect(0, 0, W, H);
    const d = state.data;
    if (!d || !d.K || !state.view) { drawSide(); drawPanels(); return; }
    buildImage();
    const r = plotRect(canvas), v = state.view, edges = d.edges, lo = edges[0], hi = edges[edges.length - 1];
    ctx.save();
    ctx.beginPath(); ctx.rect(r.x, r.y, r.w, r.h); ctx.clip();
    ctx.imageSmoothingEnabled = false;
    // heatmap image: source rows run top = highest price.
    const sy0 = ((hi - v.y1) / (hi - lo)) * d.B, sy1 = ((hi - v.y0) / (hi - lo)) * d.B;
    ctx.drawImage(state.image, v.x0, sy0, v.x1 - v.x0, sy1 - sy0, r.x, r.y, r.w, r.h);
    drawGridLines(ctx, r);
    drawRealized(ctx, r);
    drawCandles(ctx, r);
    drawPriceLine(ctx, r);
    drawCrosshair(ctx, r);
    ctx.restore();
    drawAxes(ctx, r);
    $("reset-view").hidden = v.x0 <= 0 && v.x1 >= d.K && v.y0 <= lo && v.y1 >= hi;
    drawSide();
    drawPanels();
    updateHeader();
    announceView();
    const ms = performance.now() - t0;
    window.liqmapStats.draws++;
    window.liqmapStats.lastDrawMs = ms;
    if (!state.firstDrawDone) {
      state.firstDrawDone = true;
      performance.mark("liqmap:first-draw");
      document.body.dataset.firstDraw = "1";
    }
    canvas.dataset.drawn = String(window.liqmapStats.draws);
  }

  function drawGridLines(ctx, r) {
    const v = state.view, step = niceStep(v.y1 - v.y0, r.h / 60);
    ctx.strokeStyle = COLORS.grid; ctx.lineWidth = 1;
    ctx.beginPath();
    for (let p = Math.ceil(v.y0 / step) * step; p <= v.y1; p += step) {
      const y = Math.round(yOf(r, p)) + 0.5;
      ctx.moveTo(r.x, y); ctx.lineTo(r.x + r.w, y);
    }
    ctx.stroke();
  }
  function drawAxes(ctx, r) {
    const v = state.view, d = state.data, step = niceStep(v.y1 - v.y0, r.h / 60);
    ctx.fillStyle = COLORS.axis; ctx.font = "11px ui-monospace, monospace"; ctx.textAlign = "left"; ctx.textBaseline = "middle";
    for (let p = Math.ceil(v.y0 / step) * step; p <= v.y1; p += step) ctx.fillText(fmtPrice(p, step), r.x + r.w + 6, yOf(r, p));
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    drawTimeAxis(ctx, r, r.y + r.h + 6);
    ctx.strokeStyle = "#2a2140"; ctx.strokeRect(r.x + 0.5, r.y + 0.5, r.w, r.h);
    // current-price tag on the price axis
    if (d.lastPrice != null) {
      const y = yOf(r, d.lastPrice);
      if (y >= r.y && y <= r.y + r.h) axisTag(ctx, r.x + r.w + 1, y, fmtPrice(d.lastPrice, d.binSize), COLORS.price, "#120c1f");
    }
    // crosshair readouts: price on the price axis, time on the time axis
    const h = state.hover;
    if (h) {
      axisTag(ctx, r.x + r.w + 1, h.y, fmtPrice(pAt(r, h.y), d.binSize), "#3a2d5c", "#ffffff");
      const label = `${fmtTime(d.times[h.k])}`;
      ctx.font = "11px ui-monospace, monospace";
      const w = ctx.measureText(label).width + 10, x = Math.min(Math.max(r.x, h.x - w / 2), r.x + r.w - w);
      ctx.fillStyle = "#3a2d5c"; ctx.fillRect(x, r.y + r.h + 2, w, 17);
      ctx.fillStyle = "#ffffff"; ctx.textAlign = "left"; ctx.textBaseline = "middle";
      ctx.fillText(label, x + 5, r.y + r.h + 11);
    }
  }
  // A filled label on the price axis (left edge at x, centred on y).
  function axisTag(ctx, x, y, text, bg, fg) {
    ctx.font = "600 11px ui-monospace, monospace";
    const w = Math.min(MARGIN.right - 2, ctx.measureText(text).width + 10);
    ctx.fillStyle = bg;
    ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x + 5, y - 8); ctx.lineTo(x + w, y - 8); ctx.lineTo(x + w, y + 8);
    ctx.lineTo(x + 5, y + 8); ctx.closePath(); ctx.fill();
    ctx.fillStyle = fg; ctx.textAlign = "left"; ctx.textBaseline = "middle"; ctx.fillText(text, x + 6, y + 0.5);
  }
  // Time labels at round UTC steps, as many as fit (a phone gets several, not two).
  const TIME_STEPS = [60e3, 5 * 60e3, 15 * 60e3, 30 * 60e3, 3600e3, 2 * 3600e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3,
    86400e3, 2 * 86400e3, 7 * 86400e3, 14 * 86400e3, 28 * 86400e3, 56 * 86400e3, 91 * 86400e3];
  function timeLabel(ms, step) {
    const full = fmtTime(ms), hm = full.slice(11, 16);
    return step >= 86400e3 || hm === "00:00" ? full.slice(5, 10) : hm;
  }
  function drawTimeAxis(ctx, r, y) {
    const d = state.data, v = state.view, t0 = d.times[0], iv = d.interval;
    ctx.font = "11px ui-monospace, monospace"; ctx.fillStyle = COLORS.axis;
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    const room = ctx.measureText("00-00").width + 12, msPerPx = ((v.x1 - v.x0) * iv) / r.w;
    const step = TIME_STEPS.find((st) => st / msPerPx >= room) || TIME_STEPS[TIME_STEPS.length - 1];
    const tEnd = t0 + v.x1 * iv;
    const labels = [];
    for (let t = Math.ceil((t0 + v.x0 * iv) / step) * step; t <= tEnd; t += step) {
      const x = xOf(r, (t - t0) / iv);
      if (x < r.x + 14 || x > r.x + r.w - 14) continue;
      ctx.fillText(timeLabel(t, step), x, y);
      labels.push(t);
    }
    state.timeLabels = labels;
  }
  function drawCandles(ctx, r) {
    const d = state.data, c = d.candles, v = state.view;
    if (!c || !c.open) return;
    const cw = r.w / (v.x1 - v.x0), bodyW = Math.max(1, Math.min(12, cw * 0.6));
    const k0 = Math.max(0, Math.floor(v.x0)), k1 = Math.min(d.K, Math.ceil(v.x1));
    for (let k = k0; k < k1; k++) {
      const o = c.open[k], h = c.high[k], l = c.low[k], cl = c.close[k];
      if (o == null || cl == null) continue;
      const x = xOf(r, k + 0.5), up = cl >= o;
      ctx.strokeStyle = ctx.fillStyle = up ? COLORS.up : COLORS.down;
      ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(Math.round(x) + 0.5, yOf(r, h)); ctx.lineTo(Math.round(x) + 0.5, yOf(r, l)); ctx.stroke();
      const y0 = yOf(r, Math.max(o, cl)), y1 = yOf(r, Math.min(o, cl));
      ctx.fillRect(x - bodyW / 2, y0, bodyW, Math.max(1, y1 - y0));
    }
  }
  function drawRealized(ctx, r) {
    const d = state.data, rz = state.realized, v = state.view;
    if (!rz) return;
    const t0 = d.times[0], step = d.interval, colOf = (ts) => (ts - t0) / step;
    ctx.lineWidth = 1;
    // prints: exact price and time
    let maxUsd = 0;
    for (const p of rz.prints) maxUsd = Math.max(maxUsd, p[4]);
    for (const p of rz.prints) {
      const k = colOf(p[0]);
      if (k < v.x0 - 1 || k > v.x1 + 1) continue;
      const rad = 2 + 8 * Math.sqrt(p[4] / (maxUsd || 1));
      ctx.beginPath(); ctx.arc(xOf(r, k), yOf(r, p[3]), rad, 0, Math.PI * 2);
      ctx.fillStyle = p[2] === "long" ? "rgba(255,94,122,0.55)" : "rgba(57,217,138,0.55)";
      ctx.strokeStyle = "rgba(255,255,255,0.7)";
      ctx.fill(); ctx.stroke();
    }
    // per-bar aggregates (no price): longs liquidated at the bar's low, shorts at its high.
    const c = d.candles;
    for (const series of rz.bars || []) {
      let peak = 0;
      for (let i = 0; i < series.ts.length; i++) peak = Math.max(peak, series.long_usd[i], series.short_usd[i]);
      if (!peak) continue;
      for (let i = 0; i < series.ts.length; i++) {
        const kf = colOf(series.ts[i]), k = Math.floor(kf);
        if (k < Math.floor(v.x0) || k >= Math.ceil(v.x1) || k < 0 || k >= d.K) continue;
        for (const [usd, side] of [[series.long_usd[i], "long"], [series.short_usd[i], "short"]]) {
          const rel = usd / peak;
          if (rel < 0.12) continue;
          const price = side === "long" ? c.low[k] : c.high[k];
          const rad = 1.5 + 7 * Math.sqrt(rel);
          const x = xOf(r, k + 0.5), y = yOf(r, price) + (side === "long" ? rad + 2 : -rad - 2);
          ctx.beginPath(); ctx.arc(x, y, rad, 0, Math.PI * 2);
          ctx.fillStyle = side === "long" ? "rgba(255,94,122,0.75)" : "rgba(57,217,138,0.75)";
          ctx.strokeStyle = "rgba(255,255,255,0.55)";
          ctx.fill(); ctx.stroke();
        }
      }
    }
  }
  function drawPriceLine(ctx, r) {
    const d = state.data;
    if (d.lastPrice == null) return;
    const y = Math.round(yOf(r, d.lastPrice)) + 0.5;
    ctx.setLineDash([4, 4]); ctx.strokeStyle = COLORS.price; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(r.x, y); ctx.lineTo(r.x + r.w, y); ctx.stroke(); ctx.setLineDash([]);
  }
  function drawCrosshair(ctx, r) {
    const h = state.hover;
    if (!h) return;
    ctx.strokeStyle = "rgba(255,255,255,0.55)"; ctx.lineWidth = 1; ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(Math.round(h.x) + 0.5, r.y); ctx.lineTo(Math.round(h.x) + 0.5, r.y + r.h);
    ctx.moveTo(r.x, Math.round(h.y) + 0.5); ctx.lineTo(r.x + r.w, Math.round(h.y) + 0.5);
    ctx.stroke(); ctx.setLineDash([]);
  }

  // ---------- liquidation map (side panel) ----------
  function columnMap(k) {
    const d = state.data, B = d.B, price = d.candles.close[k] ?? d.lastPrice;
    const long = d.long.subarray(k * B, (k + 1) * B), short = d.short.subarray(k * B, (k + 1) * B);
    const centers = new Float64Array(B), cumLong = new Float64Array(B), cumShort = new Float64Array(B);
    for (let b = 0; b < B; b++) centers[b] = 0.5 * (d.edges[b] + d.edges[b + 1]);
    let acc = 0;
    for (let b = B - 1; b >= 0; b--) { if (centers[b] <= price) { acc += long[b]; cumLong[b] = acc; } }
    acc = 0;
    for (let b = 0; b < B; b++) { if (centers[b] > price) { acc += short[b]; cumShort[b] = acc; } }
    return { k, price, long, short, centers, cumLong, cumShort };
  }
  function apiClusters(price) {
    // /api/clusters (analysis layer): zones {side, price_low, price_high, peak_price, usd, age, growth_pct}.
    // Clusters are computed on the unfiltered view: with leverage / age filters the local rule is used.
    const c = state.params.leverage.length || state.params.age.length ? null : state.clusters;
    const list = c && Array.isArray(c.clusters) ? c.clusters : null;
    if (!list || !list.length) return null;
    const norm = list.map((x) => ({
      price: Number(x.peak_price ?? x.price), usd: Number(x.usd ?? 0), lo: Number(x.price_low), hi: Number(x.price_high),
      note: [x.age, Number.isFinite(x.growth_pct) ? `${x.growth_pct >= 0 ? "+" : ""}${x.growth_pct.toFixed(0)}%/24h` : ""]
        .filter(Boolean).join(", "),
    })).filter((x) => Number.isFinite(x.price));
    const above = norm.filter((x) => x.price > price).sort((a, b) => a.price - b.price).slice(0, 3);
    const below = norm.filter((x) => x.price <= price).sort((a, b) => b.price - a.price).slice(0, 3);
    return { above, below, source: "api" };
  }
  // The map's title: what it is (USD by price), which calibration its dollars carry, which column it shows.
  // Written before the map is measured: its lines take the canvas's room.
  function sideTitle() {
    const d = state.data, t = $("liqmap-title"), hovering = state.hover != null;
    if (!d || !d.K) return;
    const what = state.candleOnly ? "needs open interest" : calibrationName(d.calibration);
    const k = hovering ? state.hover.k : d.K - 1;
    const when = state.candleOnly ? "" : `${fmtTime(d.times[k])} UTC${hovering ? " (hover)" : " (latest)"}`;
    t.replaceChildren();
    const line = (cls, text) => { const e = document.createElement("div"); e.className = cls; e.textContent = text; t.append(e); };
    line("t1", `Liquidation map · USD by price${what ? ` · ${what}` : ""}`);
    if (when) line("t2", when);
  }
  function drawSide() {
    sideTitle();
    const canvas = $("liqmap"), ctx = fitCanvas(canvas), W = canvas.clientWidth, H = canvas.clientHeight;
    ctx.fillStyle = "#120c1f"; ctx.fillRect(0, 0, W, H);
    const d = state.data;
    if (!d || !d.K || !state.view) return;
    if (state.candleOnly) {
      $("side-stats").innerHTML = `<div>No OI stored for ${state.params.symbol}:</div><div>no model, candles only.</div>`;
      return;
    }
    const hovering = state.hover != null;
    const k = hovering ? state.hover.k : d.K - 1;
    const m = columnMap(k);
    const clusters = (!hovering && apiClusters(m.price)) || localClusters(m);
    state.sideMap = { k, clusters };
    // Same vertical price window (and pixel rows) as the heatmap when side by side; its own height when stacked.
    let r = { x: 4, y: MARGIN.top, w: W - 8, h: H - MARGIN.top - MARGIN.bottom };
    const hb = $("heatmap").getBoundingClientRect(), sb = canvas.getBoundingClientRect();
    if (sb.left >= hb.right - 4) {
      const hp = plotRect($("heatmap"));
      r = { x: 4, y: hb.top + hp.y - sb.top, w: W - 8, h: hp.h };
    }
    const v = state.view, yOfP = (p) => r.y + (1 - (p - v.y0) / (v.y1 - v.y0)) * r.h;
    let peak = 0, cumPeak = 0;
    for (let b = 0; b < d.B; b++) {
      if (m.centers[b] < v.y0 || m.centers[b] > v.y1) continue;
      peak = Math.max(peak, m.long[b], m.short[b]);
      cumPeak = Math.max(cumPeak, m.cumLong[b], m.cumShort[b]);
    }
    ctx.save(); ctx.beginPath(); ctx.rect(r.x, r.y, r.w, r.h); ctx.clip();
    const binH = Math.max(1, (r.h * (d.edges[1] - d.edges[0])) / (v.y1 - v.y0));
    for (let b = 0; b < d.B; b++) {
      const y = yOfP(d.edges[b + 1]);
      if (m.long[b] > 0) { ctx.fillStyle = "rgba(255,94,122,0.85)"; ctx.fillRect(r.x, y, (m.long[b] / (peak || 1)) * r.w * 0.7, binH); }
      if (m.short[b] > 0) { ctx.fillStyle = "rgba(57,217,138,0.85)"; ctx.fillRect(r.x, y, (m.short[b] / (peak || 1)) * r.w * 0.7, binH); }
    }
    // cumulative curves outward from price
    for (const [arr, color] of [[m.cumLong, "#ffb3c1"], [m.cumShort, "#a8f0c9"]]) {
      ctx.strokeStyle = color; ctx.lineWidth = 1.5; ctx.beginPath();
      let started = false;
      for (let b = 0; b < d.B; b++) {
        if (!arr[b]) continue;
        const x = r.x + (arr[b] / (cumPeak || 1)) * r.w, y = yOfP(m.centers[b]);
        if (!started) { ctx.moveTo(x, y); started = true; } else ctx.lineTo(x, y);
      }
      ctx.stroke();
    }
    const py = yOfP(m.price);
    ctx.setLineDash([4, 4]); ctx.strokeStyle = COLORS.price; ctx.beginPath(); ctx.moveTo(r.x, py); ctx.lineTo(r.x + r.w, py); ctx.stroke();
    ctx.setLineDash([2, 3]);
    ctx.font = "11px ui-monospace, monospace"; ctx.textAlign = "right";
    // Cluster zones (from /api/clusters) as translucent bands.
    for (const [list, color] of [[clusters.above, "57,217,138"], [clusters.below, "255,94,122"]]) {
      for (const c of list.slice(0, 2)) {
        if (!Number.isFinite(c.lo) || !Number.isFinite(c.hi)) continue;
        ctx.fillStyle = `rgba(${color},0.10)`;
        ctx.fillRect(r.x, yOfP(c.hi), r.w, Math.max(1, yOfP(c.lo) - yOfP(c.hi)));
      }
    }
    // Nearest clusters: labels above the line for those above price, below it for those below.
    for (const [list, color, above] of [[clusters.above, COLORS.short, true], [clusters.below, COLORS.long, false]]) {
      let lastLabel = above ? Infinity : -Infinity;
      list.slice(0, 2).forEach((c, i) => {
        const y = yOfP(c.price);
        ctx.globalAlpha = i === 0 ? 1 : 0.6;
        ctx.strokeStyle = color; ctx.beginPath(); ctx.moveTo(r.x, y); ctx.lineTo(r.x + r.w, y); ctx.stroke();
        let ty = above ? Math.min(y - 4, Math.min(py - 4, lastLabel - 13)) : Math.max(y + 12, Math.max(py + 14, lastLabel + 13));
        lastLabel = ty;
        ctx.fillStyle = color;
        ctx.fillText(`${above ? "↑" : "↓"} ${fmtPrice(c.price, d.binSize)} · ${fmtUsd(c.usd)}`, r.x + r.w - 2, ty);
      });
    }
    ctx.globalAlpha = 1; ctx.setLineDash([]);
    ctx.restore();
    if (window.liqmapSideLayer) window.liqmapSideLayer(ctx, r, yOfP, { hovering, H });  // reach.js: P(touch) curves
    const totalL = m.cumLong.reduce((a, b) => Math.max(a, b), 0), totalS = m.cumShort.reduce((a, b) => Math.max(a, b), 0);
    const near = (x) => (x ? `<b>${fmtPrice(x.price, d.binSize)}</b> ${fmtUsd(x.usd)}${x.note ? ` · ${x.note}` : ""}` : "—");
    const src = clusters.source === "api" ? "clusters: /api/clusters" : "clusters: local maxima";
    $("side-stats").innerHTML = `<div><b class="l">Longs below</b> ${fmtUsd(totalL)} · <b class="s">Shorts above</b> ${fmtUsd(totalS)}</div>` +
      `<div title="nearest cluster above">Nearest ↑ ${near(clusters.above[0])}</div>` +
      `<div title="nearest cluster below">Nearest ↓ ${near(clusters.below[0])}</div>` +
      `<div class="src">${src}</div>`;
  }

  function updateHeader() {
    const d = state.data;
    if (!d) return;
    $("last-price").textContent = d.lastPrice != null ? fmtPrice(d.lastPrice, 0.01) : "—";
    const asOf = d.times[d.K - 1] + d.interval;
    $("asof").textContent = `data as of ${fmtTime(asOf)} UTC`;
    $("asof").dataset.ts = String(asOf);
    updateLive();
  }
  // Honest live indicator: green only when the socket is up AND the newest bar is recent (opened at most two
  // bars + 2 minutes ago); otherwise "stale · 7 months old" with the data's age.
  function updateLive() {
    const el = $("ws-state"), d = state.data, wsOn = !!state.ws && state.ws.readyState === 1;
    let st = wsOn ? "connected" : "offline", text = wsOn ? "● connected · no data" : "● offline";
    if (d && d.K) {
      const newest = d.times[d.K - 1], age = Date.now() - newest;
      el.dataset.ageMs = String(age);
      el.title = `newest bar opened ${fmtTime(newest)} UTC, ${humanAge(age)} ago` + (wsOn ? "" : " · live connection down");
      if (age > 2 * d.interval + 120000) { st = "stale"; text = `● stale · ${humanAge(age)} old`; }
      else if (wsOn) { st = "live"; text = "● live"; }
      else { st = "offline"; text = "● reconnecting"; }
    }
    el.textContent = text; el.dataset.state = st; el.dataset.socket = wsOn ? "open" : "closed"; el.className = `ws ${st}`;
  }
  function renderHealth() {
    const el = $("health");
    el.innerHTML = "";
    for (const h of state.health) {
      if (h.exchange === "aggregate") continue;
      const chip = document.createElement("span");
      chip.className = `chip-h ${h.status}`;
      chip.innerHTML = `<i></i>${h.exchange}`;
      const c = h.collector;
      chip.title = `${h.exchange}: ${h.status}` + (h.last_bar ? ` · last bar ${fmtTime(h.last_bar)} UTC` : "") +
        (c ? ` · ${c.connected ? "connected" : "disconnected"}, lag ${c.lag_ms ?? "?"} ms, reconnects ${c.reconnects}` : " · no collector");
      chip.dataset.status = h.status;
      el.appendChild(chip);
    }
  }

  // ---------- hover / tooltip ----------
  const canvas = $("heatmap"), tip = $("tooltip");
  function hoverAt(x, y) {
    const d = state.data;
    if (!d || !state.view) return;
    const r = plotRect(canvas);
    if (x < r.x || x > r.x + r.w || y < r.y || y > r.y + r.h) { clearHover(); return; }
    const k = Math.min(d.K - 1, Math.max(0, Math.floor(kAt(r, x)))), p = pAt(r, y), b = binOf(p);
    if (b < 0 || b >= d.B) { clearHover(); return; }
    state.hover = { k, b, x, y };
    const val = d.grid[k * d.B + b];
    const price = d.candles.close[k] ?? d.lastPrice, pb = Math.min(d.B - 1, Math.max(0, binOf(price)));
    let cum = 0;
    for (let j = Math.min(b, pb); j <= Math.max(b, pb); j++) cum += d.grid[k * d.B + j];
    const lo = d.edges[b], hi = d.edges[b + 1], dir = b < pb ? "below" : b > pb ? "above" : "at";
    tip.innerHTML = `<div><span class="k">time</span> ${fmtTime(d.times[k])} UTC</div>` +
      `<div><span class="k">price</span> ${fmtPrice(lo, d.binSize)} – ${fmtPrice(hi, d.binSize)}</div>` +
      `<div><span class="k">${d.side === "net" ? "net (L−S)" : d.side === "both" ? "long+short" : d.side}</span> ${fmtUsd(val)}</div>` +
      `<div><span class="k">cum. to price (${dir})</span> ${fmtUsd(cum)}</div>` +
      (d.side === "both" || d.side === "net"
        ? `<div><span class="k">longs · shorts</span> ${fmtUsd(d.long[k * d.B + b])} · ${fmtUsd(d.short[k * d.B + b])}</div>` : "") +
      realizedLine(k) + (window.liqmapReach ? window.liqmapReach(0.5 * (lo + hi)) : "");  // accuracy.js
    tip.hidden = false;
    const wrap = canvas.getBoundingClientRect();
    const tx = x + 14 + 220 > wrap.width ? x - 230 : x + 14, ty = Math.min(y + 12, wrap.height - 90);
    tip.style.left = `${Math.max(0, tx)}px`; tip.style.top = `${Math.max(0, ty)}px`;
    draw();
  }
  // Realized liquidations inside column k (prints and per-bar aggregates), for the tooltip.
  function realizedLine(k) {
    if (!state.realized) return "";
    const b = binned(), long = b.liqLong[k], short = b.liqShort[k];
    return long || short ? `<div><span class="k">realized L · S</span> ${fmtUsd(long)} · ${fmtUsd(short)}</div>` : "";
  }
  function clearHover() {
    if (!state.hover && tip.hidden) return;
    state.hover = null; tip.hidden = true; draw();
  }

  // ---------- pan / zoom (pointer events; pinch with two pointers) ----------
  const pointers = new Map();
  let gesture = null;
  function clampView(v) {
    const d = state.data, lo = d.edges[0], hi = d.edges[d.edges.length - 1];
    const minCols = Math.min(d.K, 8), minSpan = (hi - lo) / 200;
    let w = Math.max(minCols, Math.min(d.K, v.x1 - v.x0)), h = Math.max(minSpan, Math.min(hi - lo, v.y1 - v.y0));
    let x0 = Math.max(0, Math.min(d.K - w, v.x0)), y0 = Math.max(lo, Math.min(hi - h, v.y0));
    return { x0, x1: x0 + w, y0, y1: y0 + h };
  }
  function localXY(e) { const b = canvas.getBoundingClientRect(); return [e.clientX - b.left, e.clientY - b.top]; }
  canvas.addEventListener("pointerdown", (e) => {
    if (!state.data) return;
    try { canvas.setPointerCapture(e.pointerId); } catch (err) { /* pointer already gone */ }
    pointers.set(e.pointerId, localXY(e));
    gesture = { view: { ...state.view }, pts: new Map(pointers) };
    if (e.pointerType !== "mouse" && pointers.size === 1) hoverAt(...localXY(e));  // a tap reads the crosshair out
  });
  canvas.addEventListener("pointermove", (e) => {
    const [x, y] = localXY(e);
    if (!pointers.has(e.pointerId)) { if (e.pointerType === "mouse") hoverAt(x, y); return; }
    pointers.set(e.pointerId, [x, y]);
    if (!gesture || !state.data) return;
    const r = plotRect(canvas), v0 = gesture.view;
    const ids = [...pointers.keys()].filter((id) => gesture.pts.has(id));
    if (ids.length >= 2) {
      const [a0, b0] = [gesture.pts.get(ids[0]), gesture.pts.get(ids[1])], [a1, b1] = [pointers.get(ids[0]), pointers.get(ids[1])];
      const sx = Math.max(20, Math.abs(a0[0] - b0[0])) / Math.max(20, Math.abs(a1[0] - b1[0]));
      const sy = Math.max(20, Math.abs(a0[1] - b0[1])) / Math.max(20, Math.abs(a1[1] - b1[1]));
      const m0 = [(a0[0] + b0[0]) / 2, (a0[1] + b0[1]) / 2], m1 = [(a1[0] + b1[0]) / 2, (a1[1] + b1[1]) / 2];
      const colsPerPx = (v0.x1 - v0.x0) / r.w, pricePerPx = (v0.y1 - v0.y0) / r.h;
      const kc = v0.x0 + (m0[0] - r.x) * colsPerPx, pc = v0.y1 - (m0[1] - r.y) * pricePerPx;
      const w = (v0.x1 - v0.x0) * sx, h = (v0.y1 - v0.y0) * sy;
      const x0 = kc - ((m1[0] - r.x) / r.w) * w, y1 = pc + ((m1[1] - r.y) / r.h) * h;
      state.view = clampView({ x0, x1: x0 + w, y0: y1 - h, y1 });
    } else {
      const start = gesture.pts.get(e.pointerId);
      if (!start) return;
      const dk = ((x - start[0]) / r.w) * (v0.x1 - v0.x0), dp = ((y - start[1]) / r.h) * (v0.y1 - v0.y0);
      state.view = clampView({ x0: v0.x0 - dk, x1: v0.x1 - dk, y0: v0.y0 + dp, y1: v0.y1 + dp });
      if (e.pointerType !== "mouse") hoverAt(x, y);
    }
    draw();
  });
  const endPointer = (e) => {
    pointers.delete(e.pointerId);
    gesture = pointers.size ? { view: { ...state.view }, pts: new Map(pointers) } : null;
  };
  canvas.addEventListener("pointerup", endPointer);
  canvas.addEventListener("pointercancel", endPointer);
  canvas.addEventListener("pointerleave", (e) => { if (e.pointerType === "mouse" && !pointers.size) clearHover(); });
  canvas.addEventListener("wheel", (e) => {
    if (!state.data) return;
    e.preventDefault();
    const r = plotRect(canvas), [x, y] = localXY(e), v = state.view, f = Math.exp(Math.sign(e.deltaY) * 0.12);
    if (e.shiftKey) {
      const p = pAt(r, y), y0 = p - (p - v.y0) * f, y1 = p + (v.y1 - p) * f;
      state.view = clampView({ ...v, y0, y1 });
    } else {
      const k = kAt(r, x), x0 = k - (k - v.x0) * f, x1 = k + (v.x1 - k) * f;
      state.view = clampView({ ...v, x0, x1 });
    }
    draw();
  }, { passive: false });
  canvas.addEventListener("dblclick", () => { resetView(); draw(); });
  $("reset-view").addEventListener("click", () => { resetView(); draw(); });

  // ---------- live ----------
  function subscribe() {
    const ws = state.ws, d = state.data;
    if (!ws || ws.readyState !== 1 || !d) return;
    const p = state.params, v = d.view;
    ws.send(JSON.stringify({
      type: "subscribe", symbol: p.symbol, exchanges: p.exchanges.length ? p.exchanges.join(",") : "all", range: p.range,
      side: p.side, leverage: p.leverage.length ? p.leverage.join(",") : "all", age: p.age.length ? p.age.join(",") : "all",
      rows: v.rows, columns: v.columns, encoding: "u16", last_time: d.times[d.K - 1], edges: d.edgesHash,
    }));
  }
  function connect() {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/stream`;
    let ws;
    try { ws = new WebSocket(url); } catch (err) { return; }
    state.ws = ws;
    ws.onopen = () => { state.wsRetry = 0; updateLive(); subscribe(); };
    ws.onclose = () => {
      state.ws = null;
      updateLive();
      const delay = Math.min(15000, 500 * 2 ** state.wsRetry++);
      setTimeout(connect, delay);
    };
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (err) { return; }
      onLive(msg, performance.now());
    };
  }
  function onLive(msg, t0) {
    const seen = window.liqmapStats.messages;
    seen[msg.type] = (seen[msg.type] || 0) + 1;
    switch (msg.type) {
      case "update": onUpdate(msg, t0); break;
      case "health": state.health = msg.exchanges; renderHealth(); break;
      case "resync": loadHeatmap({ keepView: true }); break;
      default: break;
    }
  }
  // One frame per data version: the new bars, prints and realized aggregates, and the view's new columns
  // (or a reload notice); drawn once.
  function onUpdate(msg, t0) {
    const d = state.data, symbol = state.params.symbol;
    let series = false;  // new bars or columns: the panels' series are reloaded too
    if (d) {
      for (const entry of msg.bars) {
        if (entry.symbol === symbol && entry.bars.length) { d.lastPrice = entry.bars[entry.bars.length - 1][4]; series = true; }
      }
    }
    const prints = state.realized ? mergeRealized(msg, symbol) : false;
    let kind = "other";
    if (msg.heatmap && d && !state.candleOnly) {
      mergeColumns({ ...msg.heatmap, data_version: msg.data_version });
      kind = "heatmap";
      series = true;
    } else if (msg.reload) {
      loadHeatmap({ keepView: true });
    }
    if (series) refreshSeries();
    if (series || prints) liveDrawn(t0, kind);
  }
  function mergeRealized(msg, symbol) {
    let changed = false;
    const ex = state.params.exchanges;
    for (const entry of msg.liquidations) {
      if (entry.symbol !== symbol) continue;
      for (const p of entry.prints) if (!ex.length || ex.includes(p[1])) state.realized.prints.push(p);
      changed = true;
    }
    for (const entry of msg.liquidation_bars) {
      if (entry.symbol !== symbol) continue;
      for (const row of entry.bars) {
        let series = state.realized.bars.find((s) => s.exchange === row[1]);
        if (!series) { series = { exchange: row[1], ts: [], long_usd: [], short_usd: [] }; state.realized.bars.push(series); }
        const i = series.ts.indexOf(row[0]);
        if (i >= 0) { series.long_usd[i] = row[2]; series.short_usd[i] = row[3]; } else { series.ts.push(row[0]); series.long_usd.push(row[2]); series.short_usd.push(row[3]); }
      }
      changed = true;
    }
    if (changed) state.realizedStamp = (state.realizedStamp || 0) + 1;
    return changed;
  }
  function liveDrawn(t0, kind = "other") {
    draw();
    const ms = performance.now() - t0;
    (window.liqmapStats.liveMs[kind] = window.liqmapStats.liveMs[kind] || []).push(ms);
    window.liqmapStats.liveDraws++;
    window.liqmapStats.lastLiveMs = ms;
    performance.mark("liqmap:live-draw");
    document.body.dataset.liveDraws = String(window.liqmapStats.liveDraws);
  }
  function mergeColumns(msg) {
    const d = state.data;
    if (msg.side !== d.side || msg.price_edges_hash !== d.edgesHash) { loadHeatmap({ keepView: true }); return; }
    const g = decodeGrid(msg.grid), L = decodeGrid(msg.long), S = decodeGrid(msg.short), B = d.B;
    if (g.B !== B) { loadHeatmap({ keepView: true }); return; }
    const first = d.times.indexOf(msg.times[0]);
    if (first < 0) { loadHeatmap({ keepView: true }); return; }
    let times = d.times.slice(0, first).concat(msg.times);
    const grow = (old, add) => { const out = new Float32Array(times.length * B); out.set(old.subarray(0, first * B)); out.set(add, first * B); return out; };
    let grid = grow(d.grid, g.values), long = grow(d.long, L.values), short = grow(d.short, S.values);
    const candles = {};
    for (const key of Object.keys(d.candles)) candles[key] = d.candles[key].slice(0, first).concat(msg.candles[key] || []);
    // slide the window: drop columns that left the range
    const drop = times.findIndex((t) => t >= msg.window_start);
    if (drop > 0) {
      times = times.slice(drop);
      grid = grid.slice(drop * B); long = long.slice(drop * B); short = short.slice(drop * B);
      for (const key of Object.keys(candles)) candles[key] = candles[key].slice(drop);
    }
    const v = state.view, atRightEdge = v && v.x1 >= d.K - 0.01, dropped = Math.max(0, drop);
    Object.assign(d, { times, grid, long, short, candles, K: times.length, version: msg.data_version });
    d.lastPrice = candles.close[candles.close.length - 1];
    if (v) {
      const width = v.x1 - v.x0;
      // Following the live edge: keep the zoom and show the newest columns. Looking back: keep the same
      // times in view (indices moved by the dropped columns).
      state.view = clampView(atRightEdge ? { ...v, x0: d.K - width, x1: d.K } : { ...v, x0: v.x0 - dropped, x1: v.x1 - dropped });
    }
    state.imageKey = "";
  }

  // ---------- panels under the heatmap (same columns, same x axis) ----------
  const panelHeight = () => (window.innerWidth <= 820 ? 56 : 64);
  function layoutPanels() {
    const n = PANELS.filter(([k]) => state.panels[k]).length, c = $("panels");
    c.hidden = !n;
    c.style.height = `${n * panelHeight() + 16}px`;
  }
  // Every series binned into the heatmap's columns: OI (sum over exchanges of each one's last value, carried
  // forward), funding (mean of the exchanges' last rates, carried forward), volume (USD) and taker delta
  // summed per column with CVD their running sum, realized liquidations per side (bars + prints), as the
  // tooltip shows them.
  function binned() {
    const d = state.data, rz = state.realized, S = state.series;
    const key = [d.times[0], d.K, d.version, d.interval, state.seriesStamp || 0, rz ? state.realizedStamp || 0 : -1].join("|");
    if (state.panelCache && state.panelCache.key === key) return state.panelCache;
    const K = d.K, t0 = d.times[0], iv = d.interval, col = (ts) => Math.floor((ts - t0) / iv);
    const nan = () => new Float64Array(K).fill(NaN);
    const lastPerColumn = (series) => series.map((x) => {
      const out = nan();
      for (let i = 0; i < x.ts.length; i++) { const k = col(x.ts[i]); if (k >= 0 && k < K && x.value[i] != null) out[k] = x.value[i]; }
      let prev = NaN;
      for (let k = 0; k < K; k++) { if (Number.isNaN(out[k])) out[k] = prev; else prev = out[k]; }
      if (x.ts.length && col(x.ts[0]) < 0) {  // a value before the window carries into its first columns
        let before = NaN;
        for (let i = 0; i < x.ts.length && col(x.ts[i]) < 0; i++) before = x.value[i];
        for (let k = 0; k < K && Number.isNaN(out[k]); k++) out[k] = before;
      }
      return out;
    });
    const combine = (arrays, mean) => {
      const out = nan();
      for (let k = 0; k < K; k++) {
        let sum = 0, n = 0;
        for (const a of arrays) if (!Number.isNaN(a[k])) { sum += a[k]; n++; }
        if (n) out[k] = mean ? sum / n : sum;
      }
      return out;
    };
    const oi = S.oi ? combine(lastPerColumn(S.oi.series), false) : nan();
    const funding = S.funding ? combine(lastPerColumn(S.funding.series), true) : nan();
    const volume = new Float64Array(K), delta = new Float64Array(K), cvd = nan();
    let hasVolume = false;
    for (const x of (S.volume ? S.volume.series : [])) {
      for (let i = 0; i < x.ts.length; i++) {
        const k = col(x.ts[i]);
        if (k < 0 || k >= K) continue;
        if (x.value[i] != null) { volume[k] += x.value[i]; hasVolume = true; }
        if (x.delta[i] != null) delta[k] += x.delta[i];
      }
    }
    if (hasVolume) { let acc = 0; for (let k = 0; k < K; k++) { acc += delta[k]; cvd[k] = acc; } }
    const liqLong = new Float64Array(K), liqShort = new Float64Array(K);
    if (rz) {
      for (const p of rz.prints) { const k = col(p[0]); if (k >= 0 && k < K) { if (p[2] === "long") liqLong[k] += p[4]; else liqShort[k] += p[4]; } }
      for (const x of rz.bars || []) {
        for (let i = 0; i < x.ts.length; i++) { const k = col(x.ts[i]); if (k >= 0 && k < K) { liqLong[k] += x.long_usd[i]; liqShort[k] += x.short_usd[i]; } }
      }
    }
    state.panelCache = { key, oi, funding, volume: hasVolume ? volume : nan(), delta, cvd, liqLong, liqShort };
    return state.panelCache;
  }
  function drawPanels() {
    const c = $("panels");
    if (c.hidden) return;
    const ctx = fitCanvas(c), W = c.clientWidth, H = c.clientHeight;
    ctx.fillStyle = COLORS.bg; ctx.fillRect(0, 0, W, H);
    const d = state.data;
    state.panelReadout = null;
    if (!d || !d.K || !state.view) return;
    const b = binned(), v = state.view, ph = panelHeight(), hr = plotRect($("heatmap"));
    const k0 = Math.max(0, Math.floor(v.x0)), k1 = Math.min(d.K, Math.ceil(v.x1));
    const hover = state.hover ? state.hover.k : state.panelHover;
    const kr = hover != null ? hover : k1 - 1;
    const readout = { k: kr, ts: d.times[kr], oi: b.oi[kr], funding: b.funding[kr], volume: b.volume[kr], cvd: b.cvd[kr],
      liqLong: b.liqLong[kr], liqShort: b.liqShort[kr] };
    state.panelReadout = readout;
    const sign = (x) => (x > 0 ? "+" : "");
    const fmtRate = (x) => `${sign(x)}${(x * 100).toFixed(4)}%`;
    const show = (x, f) => (Number.isFinite(x) ? f(x) : "—");
    let top = 0;
    for (const [key] of PANELS) {
      if (!state.panels[key]) continue;
      const r = { x: hr.x, y: top + 16, w: hr.w, h: ph - 20 };
      ctx.strokeStyle = "#2a2140"; ctx.lineWidth = 1;
      ctx.strokeRect(r.x + 0.5, r.y + 0.5, r.w, r.h);
      ctx.save(); ctx.beginPath(); ctx.rect(r.x, r.y, r.w, r.h); ctx.clip();
      const colW = r.w / (v.x1 - v.x0), barW = Math.max(1, colW * 0.7);
      const range = (arrays) => {
        let lo = Infinity, hi = -Infinity;
        for (const a of arrays) for (let k = k0; k < k1; k++) if (Number.isFinite(a[k])) { lo = Math.min(lo, a[k]); hi = Math.max(hi, a[k]); }
        return Number.isFinite(lo) ? [lo, hi] : null;
      };
      const line = (a, lo, hi, color, fill) => {
        const span = hi - lo || Math.abs(hi) || 1, yv = (x) => r.y + r.h - 3 - ((x - lo) / span) * (r.h - 6);
        ctx.beginPath();
        let started = false, lastX = 0;
        for (let k = k0; k < k1; k++) {
          if (!Number.isFinite(a[k])) continue;
          const x = xOf(r, k + 0.5), y = yv(a[k]);
          if (!started) { ctx.moveTo(x, y); started = true; } else ctx.lineTo(x, y);
          lastX = x;
        }
        ctx.strokeStyle = color; ctx.lineWidth = 1.5; ctx.stroke();
        if (fill && started) { ctx.lineTo(lastX, r.y + r.h); ctx.lineTo(xOf(r, k0 + 0.5), r.y + r.h); ctx.closePath(); ctx.fillStyle = fill; ctx.fill(); }
      };
      let title = "", right = "";
      if (key === "oi") {
        const rg = range([b.oi]);
        if (rg) { line(b.oi, rg[0], rg[1], COLORS.oi, "rgba(95,179,255,0.12)"); right = fmtUsd(rg[1]); }
        title = `Open interest ${show(readout.oi, fmtUsd)}`;
      } else if (key === "funding") {
        const rg = range([b.funding]);
        if (rg) {
          const m = Math.max(Math.abs(rg[0]), Math.abs(rg[1])) || 1e-9, mid = r.y + r.h / 2;
          for (let k = k0; k < k1; k++) {
            const f = b.funding[k];
            if (!Number.isFinite(f)) continue;
            const hgt = (f / m) * (r.h / 2 - 2);
            ctx.fillStyle = f >= 0 ? COLORS.up : COLORS.down;
            ctx.fillRect(xOf(r, k + 0.5) - barW / 2, hgt >= 0 ? mid - hgt : mid, barW, Math.max(1, Math.abs(hgt)));
          }
          ctx.fillStyle = "rgba(255,255,255,0.15)"; ctx.fillRect(r.x, mid, r.w, 1);
          right = fmtRate(m);
        }
        title = `Funding ${show(readout.funding, fmtRate)}`;
      } else if (key === "volume") {
        const rg = range([b.volume]);
        if (rg) {
          for (let k = k0; k < k1; k++) {
            const x = b.volume[k];
            if (!Number.isFinite(x) || !x) continue;
            const hgt = (x / (rg[1] || 1)) * (r.h - 4);
            ctx.fillStyle = b.delta[k] >= 0 ? "rgba(38,198,166,0.45)" : "rgba(239,83,112,0.45)";
            ctx.fillRect(xOf(r, k + 0.5) - barW / 2, r.y + r.h - hgt, barW, hgt);
          }
          const cg = range([b.cvd]);
          if (cg) line(b.cvd, cg[0], cg[1], COLORS.cvd, null);
          right = fmtUsd(rg[1]);
        }
        title = `Volume ${show(readout.volume, fmtUsd)} · CVD ${show(readout.cvd, (x) => sign(x) + fmtUsd(x))}`;
      } else {
        const rg = range([b.liqLong, b.liqShort]);
        const m = rg ? Math.max(rg[1], 1) : 1, mid = r.y + r.h / 2;
        for (let k = k0; k < k1; k++) {
          const sh = (b.liqShort[k] / m) * (r.h / 2 - 2), lg = (b.liqLong[k] / m) * (r.h / 2 - 2), x = xOf(r, k + 0.5) - barW / 2;
          if (sh > 0) { ctx.fillStyle = COLORS.short; ctx.fillRect(x, mid - sh, barW, sh); }
          if (lg > 0) { ctx.fillStyle = COLORS.long; ctx.fillRect(x, mid, barW, lg); }
        }
        ctx.fillStyle = "rgba(255,255,255,0.15)"; ctx.fillRect(r.x, mid, r.w, 1);
        right = rg && rg[1] > 0 ? fmtUsd(m) : "";
        title = `Liquidations ▲ shorts ${show(readout.liqShort, fmtUsd)} · ▼ longs ${show(readout.liqLong, fmtUsd)}`;
      }
      if (hover != null) {
        const x = Math.round(xOf(r, hover + 0.5)) + 0.5;
        ctx.strokeStyle = "rgba(255,255,255,0.35)"; ctx.setLineDash([3, 3]);
        ctx.beginPath(); ctx.moveTo(x, r.y); ctx.lineTo(x, r.y + r.h); ctx.stroke(); ctx.setLineDash([]);
      }
      ctx.restore();
      ctx.font = "11px ui-monospace, monospace"; ctx.textBaseline = "alphabetic"; ctx.textAlign = "left";
      ctx.fillStyle = "#c9c2dd"; ctx.fillText(title, r.x + 4, r.y - 4);
      ctx.fillStyle = COLORS.axis; ctx.fillText(right, r.x + r.w + 6, r.y + 10);
      top += ph;
    }
    c.dataset.drawn = String(window.liqmapStats.draws);
  }
  $("panels").addEventListener("pointermove", (e) => {
    const d = state.data;
    if (!d || !state.view) return;
    const b = $("panels").getBoundingClientRect(), r = plotRect($("heatmap")), x = e.clientX - b.left;
    const k = Math.floor(kAt(r, x));
    state.panelHover = x >= r.x && x <= r.x + r.w && k >= 0 && k < d.K ? k : null;
    draw();
  });
  $("panels").addEventListener("pointerleave", () => { if (state.panelHover != null) { state.panelHover = null; draw(); } });

  // ---------- hook for other modules: `liqmap:view` on document, once per new data or new zoom ----------
  function announceView() {
    const d = state.data, v = state.view, p = state.params;
    const key = `${p.symbol}|${d.version}|${d.times[0]}|${d.K}|${v.x0.toFixed(3)}|${v.x1.toFixed(3)}|${v.y0}|${v.y1}|${d.side}`;
    if (key === state.viewKey) return;
    state.viewKey = key;
    const t0 = d.times[0];
    document.dispatchEvent(new CustomEvent("liqmap:view", { detail: {
      symbol: p.symbol, range: p.range, side: d.side, exchanges: [...p.exchanges], leverage: [...p.leverage], age: [...p.age],
      start: t0, end: d.times[d.K - 1] + d.interval, interval: d.interval, lastPrice: d.lastPrice, binSize: d.binSize,
      priceLow: v.y0, priceHigh: v.y1, viewStart: t0 + v.x0 * d.interval, viewEnd: t0 + v.x1 * d.interval,
      dataVersion: d.version, candleOnly: state.candleOnly,
    } }));
  }

  // ---------- save the current view as PNG (heatmap + panels + liquidation map, with a title line) ----------
  function composePng() {
    const dpr = DPR(), hm = $("heatmap"), pn = $("panels"), lm = $("liqmap"), p = state.params, d = state.data;
    const besides = lm.getBoundingClientRect().left >= hm.getBoundingClientRect().right - 4;
    const titleH = Math.round(26 * dpr), pnH = pn.hidden ? 0 : pn.height;
    const W = hm.width + (besides ? lm.width : 0), H = titleH + Math.max(hm.height + pnH, besides ? lm.height : 0);
    const out = document.createElement("canvas");
    out.width = W; out.height = H;
    const ctx = out.getContext("2d");
    ctx.fillStyle = COLORS.bg; ctx.fillRect(0, 0, W, H);
    ctx.fillStyle = "#e8e4f3"; ctx.font = `${12 * dpr}px system-ui, sans-serif`; ctx.textBaseline = "middle";
    const asOf = d && d.K ? `${fmtTime(d.times[d.K - 1] + d.interval)} UTC` : "";
    ctx.fillText(`liqmap · ${p.symbol} · ${p.range} · ${p.side} · ${p.exchanges.length ? p.exchanges.join("+") : "all exchanges"}` +
      ` · data as of ${asOf}`, 10 * dpr, titleH / 2);
    ctx.drawImage(hm, 0, titleH);
    if (pnH) ctx.drawImage(pn, 0, titleH + hm.height);
    if (besides) ctx.drawImage(lm, hm.width, titleH);
    return out;
  }
  function savePng() {
    const out = composePng(), p = state.params, d = state.data;
    const stamp = d && d.K ? fmtTime(d.times[d.K - 1]).replace(/[^0-9]/g, "").slice(0, 12) : "view";
    return new Promise((resolve) => out.toBlob((blob) => {
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = `liqmap-${p.symbol}-${p.range}-${stamp}.png`;
      document.body.appendChild(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
      resolve({ name: a.download, width: out.width, height: out.height, size: blob.size });
    }, "image/png"));
  }
  $("save-png").addEventListener("click", () => { savePng(); });
  window.liqmapSavePng = savePng;
  window.liqmapDrawSide = drawSide;  // for layers that load their data later (reach.js)

  // ---------- boot ----------
  window.addEventListener("resize", () => { layoutPanels(); draw(); });
  // fitScreen: a chart canvas whose box changed without a window resize (a title, a stats line or a panel of
  // #ext-panels took or gave room) is drawn again at its new size instead of stretched.
  function fitScreen(entries) {
    const dpr = DPR(), stale = (c) => c.width !== Math.round(c.clientWidth * dpr) || c.height !== Math.round(c.clientHeight * dpr);
    const ids = new Set(entries.filter((e) => stale(e.target)).map((e) => e.target.id));
    if (ids.has("heatmap")) draw(); else if (ids.has("liqmap")) drawSide();
  }
  if (window.ResizeObserver) {
    const observer = new ResizeObserver(fitScreen);
    for (const id of ["heatmap", "liqmap"]) observer.observe($(id));
  }
  async function boot(attempt = 0) {
    layoutPanels();
    try {
      await loadMeta();
    } catch (err) {
      setStatus(`Cannot reach the server: ${err.message} — retrying…`, true);
      setTimeout(() => boot(attempt + 1), Math.min(10000, 1000 * 2 ** attempt));
      return;
    }
    loadHealth();
    setInterval(loadHealth, 30000);
    setInterval(updateLive, 15000);
    connect();
    await loadHeatmap();
  }
  boot();
})();
