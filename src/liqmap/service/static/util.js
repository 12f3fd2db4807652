// liqmap page helpers without state: number/time formatting, grid decoding, colour palettes, the
// local-maximum cluster rule. Loaded before app.js; exposes window.LiqmapUtil.
"use strict";

(() => {
  // Sequential palette dark purple -> teal -> yellow. The diverging palette of the net view is built from
  // the ONE long/short palette (CSS variables --long / --short, served from liqmap.render.style):
  // short-heavy cells in the short colour, long-heavy in the long colour.
  const SEQ = [[0, [22, 9, 40]], [0.18, [58, 22, 110]], [0.4, [44, 78, 150]], [0.6, [28, 150, 150]],
    [0.8, [110, 205, 90]], [1, [250, 232, 60]]];
  const hexRgb = (hex) => {
    const m = /^#?([0-9a-f]{6})$/i.exec(String(hex).trim());
    const n = m ? parseInt(m[1], 16) : 0x808080;
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  };
  const rgba = (hex, a) => { const [r, g, b] = hexRgb(hex); return `rgba(${r},${g},${b},${a})`; };
  const dim = (c, f) => c.map((x) => Math.round(x * f + 20 * (1 - f)));
  function divergingStops(longHex, shortHex) {
    const L = hexRgb(longHex), S = hexRgb(shortHex);
    return [[0, S], [0.35, dim(S, 0.45)], [0.5, [20, 12, 34]], [0.65, dim(L, 0.45)], [1, L]];
  }
  const DIV = divergingStops("#ff5e7a", "#39d98a");
  function lut(stops) {
    const out = new Uint8ClampedArray(256 * 3);
    for (let i = 0; i < 256; i++) {
      const t = i / 255;
      let j = 0;
      while (j < stops.length - 2 && t > stops[j + 1][0]) j++;
      const [t0, c0] = stops[j], [t1, c1] = stops[j + 1];
      const u = Math.min(1, Math.max(0, (t - t0) / (t1 - t0)));
      for (let c = 0; c < 3; c++) out[i * 3 + c] = c0[c] + (c1[c] - c0[c]) * u;
    }
    return out;
  }
  const LUT_SEQ = lut(SEQ), LUT_DIV = lut(DIV);

  // ---------- formatting ----------
  const fmtUsd = (v) => {
    const a = Math.abs(v), s = v < 0 ? "-" : "";
    if (a >= 1e9) return `${s}$${(a / 1e9).toFixed(2)}B`;
    if (a >= 1e6) return `${s}$${(a / 1e6).toFixed(2)}M`;
    if (a >= 1e3) return `${s}$${(a / 1e3).toFixed(1)}K`;
    return `${s}$${a.toFixed(0)}`;
  };
  const fmtPrice = (p, step) => {
    const d = step >= 1 ? 0 : step >= 0.01 ? 2 : 4;
    return p.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
  };
  const pad = (n) => String(n).padStart(2, "0");
  const fmtTime = (ms, withDate = true) => {
    const d = new Date(ms);
    const hm = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
    return withDate ? `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${hm}` : hm;
  };

  // ---------- decoding ----------
  function b64bytes(s) {
    const bin = atob(s), out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function decodeGrid(g) {
    const buf = b64bytes(g.data);
    const raw = g.dtype === "float32" ? new Float32Array(buf) : g.dtype === "int16" ? new Int16Array(buf) : new Uint16Array(buf);
    const out = new Float32Array(raw.length), s = g.scale;
    for (let i = 0; i < raw.length; i++) out[i] = raw[i] * s;
    return { values: out, K: g.shape[0], B: g.shape[1] };
  }

  // 256 packed RGBA colours per palette, with the display gamma baked in (little-endian ABGR words).
  function packedPalette(lutArr, gamma) {
    const out = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      const j = gamma ? Math.round(Math.pow(i / 255, 0.7) * 255) * 3 : i * 3;
      out[i] = (255 << 24) | (lutArr[j + 2] << 16) | (lutArr[j + 1] << 8) | lutArr[j];
    }
    return out;
  }
  const PAL_SEQ = packedPalette(LUT_SEQ, true), PAL_DIV = packedPalette(LUT_DIV, false);
  // The net view's palette for the page's long/short colours: {lut, pal}.
  function diverging(longHex, shortHex) {
    const l = lut(divergingStops(longHex, shortHex));
    return { lut: l, pal: packedPalette(l, false) };
  }
  // "3 minutes", "7 months": the age of the newest data, for the live/stale indicator.
  function humanAge(ms) {
    const s = Math.max(0, ms) / 1000;
    const units = [[365 * 86400, "year"], [30 * 86400, "month"], [7 * 86400, "week"], [86400, "day"],
      [3600, "hour"], [60, "minute"]];
    for (const [size, name] of units) {
      if (s >= size) { const n = Math.floor(s / size); return `${n} ${name}${n === 1 ? "" : "s"}`; }
    }
    return `${Math.floor(s)} seconds`;
  }
  const EMPTY = (255 << 24) | (23 << 16) | (7 << 8) | 13;
  function niceStep(span, target) {
    const raw = span / Math.max(1, target), p = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
  }
  // Nearest strong local maxima (max of ±3 bins and >= 10 % of the side's peak), as the API does.
  function localClusters(m) {
    const out = { above: [], below: [] };
    for (const [name, vals, isSide] of [["below", m.long, (c) => c <= m.price], ["above", m.short, (c) => c > m.price]]) {
      let peak = 0;
      const n = vals.length, w = 3;
      for (let b = 0; b < n; b++) if (isSide(m.centers[b])) peak = Math.max(peak, vals[b]);
      if (!peak) continue;
      const found = [];
      for (let b = 0; b < n; b++) {
        if (!isSide(m.centers[b]) || vals[b] < 0.1 * peak) continue;
        let best = true;
        for (let j = Math.max(0, b - w); j <= Math.min(n - 1, b + w); j++) {
          if (j !== b && isSide(m.centers[j]) && vals[j] > vals[b]) { best = false; break; }
        }
        if (best) found.push({ price: m.centers[b], bin: b, usd: vals[b] });
      }
      found.sort((a, b) => Math.abs(a.price - m.price) - Math.abs(b.price - m.price));
      out[name] = found.slice(0, 3);
    }
    return out;
  }
  // ---------- calibration: which realized liquidations the page's dollars are scaled to ----------
  // The `calibration` block of /api/heatmap and /api/liqmap: {source, factor_long, factor_short, fitted_on}.
  // A source "a+b" used b's factors for a side that a could not fit; the first one names it.
  const CALIBRATION_SOURCES = {
    prints: ["liquidation prints", "liquidation prints stored by the collector"],
    coinglass: ["Coinglass", "Coinglass realized liquidations"],
    "fallback-sample": ["the shipped sample", "the shipped sample (no realized liquidations stored)"],
  };
  function calibrationSource(cal, long = false) {
    const name = String(cal.source).split("+")[0];
    const known = CALIBRATION_SOURCES[name];
    return known ? known[long ? 1 : 0] : name;
  }
  // "calibrated to Coinglass", "raw model USD": for titles; "" when the view carries no calibration.
  function calibrationName(cal) {
    if (!cal || !cal.source) return "";
    return cal.source === "none" ? "raw model USD" : `calibrated to ${calibrationSource(cal)}`;
  }
  // The legend's line: USD = model USD × factor per side, f_long / f_short of the calibration.
  function calibrationNote(cal) {
    if (!cal || !cal.source) return "";
    if (cal.source === "none") return "USD: the model's raw output (not calibrated)";
    const f = (x) => (Number.isFinite(x) ? x.toPrecision(3) : "n/a");
    return `USD calibrated to ${calibrationSource(cal)} (model × ${f(cal.factor_long)} longs, × ${f(cal.factor_short)} shorts)`;
  }
  window.LiqmapUtil = {
    LUT_SEQ, LUT_DIV, PAL_SEQ, PAL_DIV, EMPTY, fmtUsd, fmtPrice, fmtTime, decodeGrid, niceStep, localClusters,
    diverging, hexRgb, rgba, humanAge, calibrationSource, calibrationName, calibrationNote,
  };
})();
