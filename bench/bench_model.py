"""Benchmark of the liquidation model engine. Prints figures and ratios; never asserts.

    .venv/bin/python bench/bench_model.py [--days 90] [--exchanges 5] [--bins 2000] [--columns 2000]

Headline figures use the default model, ``ModelConfig()`` (printed); a minimal config (one entry price,
OI-driven entries only) is timed for comparison.

1. Full recompute: synthetic-but-realistic 1-minute bars (log random-walk prices with wicks, OI random
   walk, taker-buy share, funding) for N exchanges x D days into a B-bin grid, 5 leverage tiers.
2. Incremental: StreamingModel warm-started from history (from_history), then per-bar latency (median, p99).
3. Baseline: the per-position reference implementation on a small slice, extrapolated per bar-update.
4. The real hourly sample (Binance BTCUSDT perp 1h klines + Coinglass Binance OI), when available.
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from liqmap.model import MarketFrame, ModelConfig, StreamingModel, compute_heatmap, engine
from liqmap.model.reference import reference_heatmap

T = TypeVar("T")
MINUTE = 60_000
EXCHANGES = ("binance", "bybit", "okx", "bitget", "gate")
SHARED = Path("/work/shared/data")


def synthetic_frame(rng: np.random.Generator, exchange: str, n: int, start_ms: int = 1_735_689_600_000) -> MarketFrame:
    """1-minute bars: ~0.05 %/min price volatility with fat-ish tails, OI ~ $5-10bn random walk."""
    returns = rng.standard_t(4, n) * 0.0004
    close = 90_000.0 * np.exp(np.cumsum(returns))
    open_ = np.concatenate(([90_000.0], close[:-1]))
    wick = np.abs(rng.normal(0, 0.0003, (2, n)))
    high = np.maximum(open_, close) * (1 + wick[0])
    low = np.minimum(open_, close) * (1 - wick[1])
    volume = rng.lognormal(3.0, 0.8, n)
    oi = 6e9 * np.exp(np.cumsum(rng.normal(0, 0.0006, n)))
    return MarketFrame(
        exchange=exchange,
        symbol="BTC",
        interval_ms=MINUTE,
        ts=start_ms + MINUTE * np.arange(n),
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
        oi_usd=oi,
        taker_buy_volume=volume * rng.beta(5, 5, n),
        funding=np.repeat(rng.normal(1e-4, 5e-5, n // 480 + 1), 480)[:n],
    )


def measure(fn: Callable[..., T], *args: Any, repeats: int = 2, **kwargs: Any) -> tuple[T, float, int]:
    """(result, best wall time of ``repeats`` untraced runs, peak traced memory of one more, traced run)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        times.append(time.perf_counter() - t0)
        del out
    tracemalloc.start()
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    traced = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return out, min(times) if times else traced, peak


def real_hourly_frame() -> MarketFrame | None:
    klines = SHARED / "binance" / "BTCUSDT-1h-futures.csv.gz"
    regime = SHARED / "coinglass" / "BTC_regime_1h.csv.gz"
    if not (klines.exists() and regime.exists()):
        return None
    with gzip.open(klines, "rt") as fh:
        k = np.genfromtxt(fh, delimiter=",", skip_header=1, usecols=(0, 1, 2, 3, 4, 5, 7, 9))
    with gzip.open(regime, "rt") as fh:
        r = np.genfromtxt(fh, delimiter=",", skip_header=1, usecols=(0, 16))
    oi_by_ts = dict(zip(r[:, 0].astype(np.int64).tolist(), r[:, 1].tolist(), strict=True))
    ts = k[:, 0].astype(np.int64)
    keep = ts >= int(r[0, 0])
    ts, k = ts[keep], k[keep]
    oi = np.array([oi_by_ts.get(int(t), np.nan) for t in ts])
    return MarketFrame(
        exchange="binance", symbol="BTC", interval_ms=3_600_000, ts=ts, open=k[:, 1], high=k[:, 2],
        low=k[:, 3], close=k[:, 4], volume=k[:, 5], oi_usd=oi, taker_buy_volume=k[:, 7], quote_volume=k[:, 6],
        oi_source="coinglass binance BTCUSDT oi_close",
    )


def describe(config: ModelConfig) -> str:
    return (f"entry={config.entry} x{config.entry_points} (spacing {config.entry_spacing:g}), "
            f"turnover={config.turnover:g}, intrabar_path={config.intrabar_path:g} "
            f"(range exponent {config.intrabar_range_exponent:g}), "
            f"diffuse={config.diffuse_share:g}/{config.diffuse_band:g}, tiers={config.leverage} "
            f"at {config.leverage_weights}, side={config.side}, close={config.close_rule}, "
            f"bracket ${config.position_notional_usd:,.0f}")


def full_recompute(label: str, frames: list[MarketFrame], config: ModelConfig, args: argparse.Namespace) -> tuple:
    updates = sum(len(f) for f in frames)
    c0 = time.process_time()
    heatmap, elapsed, peak = measure(compute_heatmap, frames, config, n_bins=args.bins, max_columns=args.columns)
    cpu = (time.process_time() - c0) / 3  # 2 timed runs + 1 traced run
    print(f"full recompute{label}: {elapsed:.3f} s wall (best of 2; mean CPU {cpu:.3f} s per run) "
          f"({elapsed / updates * 1e9:.0f} ns per bar-update); peak traced memory {peak / 2**20:.0f} MiB "
          f"(3rd, traced run); max RSS so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; "
          f"grid {heatmap.long.shape[0]} x {heatmap.long.shape[1]}")
    return heatmap, elapsed


def incremental(label: str, frame: MarketFrame, config: ModelConfig, edges: np.ndarray, bars: int) -> None:
    n = len(frame)
    warm = n - bars
    t0 = time.perf_counter()
    model = StreamingModel.from_history(config, frame.slice(0, warm), edges)
    warm_s = time.perf_counter() - t0
    live = model.live_cohorts
    lat = []
    for i in range(warm, n):
        s = time.perf_counter()
        model.update(
            int(frame.ts[i]), frame.open[i], frame.high[i], frame.low[i], frame.close[i], frame.volume[i],
            frame.oi_usd[i], taker_buy_volume=frame.taker_buy_volume[i], funding=frame.funding[i],
        )
        lat.append(time.perf_counter() - s)
    lat_ms = np.array(lat) * 1e3
    print(f"incremental{label} (1 exchange, {len(edges) - 1} bins, warm start from {warm:,} bars in {warm_s:.2f} s, "
          f"{live:,} live cohorts): median {np.median(lat_ms):.3f} ms, p99 {np.percentile(lat_ms, 99):.3f} ms, "
          f"max {lat_ms.max():.1f} ms per 1-minute bar over {bars} bars")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--exchanges", type=int, default=5)
    parser.add_argument("--bins", type=int, default=2000)
    parser.add_argument("--columns", type=int, default=2000)
    parser.add_argument("--stream-bars", type=int, default=2000)
    parser.add_argument("--reference-bars", type=int, default=300)
    parser.add_argument("--no-minimal", action="store_true", help="skip the minimal-config comparison")
    args = parser.parse_args()

    rng = np.random.default_rng(7)
    n = args.days * 1440
    # Headline figures: the default model, ModelConfig() (what the product serves and the evaluation scores).
    config = ModelConfig()
    # For comparison only: the cheapest model (one entry price, OI-driven entries only, no same-bar term).
    minimal = ModelConfig(
        leverage=(5.0, 10.0, 25.0, 50.0, 100.0), leverage_weights=(0.10, 0.20, 0.30, 0.25, 0.15),
        entry="typical", turnover=0.0, intrabar_path=0.0, above_max_leverage="cap",
    )
    frames = [synthetic_frame(rng, ex, n) for ex in EXCHANGES[: args.exchanges]]
    updates = n * len(frames)
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          "(other developers' jobs share the cores: wall times vary with it)")
    print(f"synthetic: {len(frames)} exchanges x {args.days} d x 1m = {updates:,} bar-updates; "
          f"{args.bins} bins, max_columns={args.columns}")
    print(f"default config ModelConfig(): {describe(config)}")

    heatmap, elapsed = full_recompute(f" (defaults, {engine.THREADS} threads)", frames, config, args)
    per_update_engine = elapsed / updates
    threads = engine.THREADS
    engine.THREADS = 1
    full_recompute(" (defaults, 1 thread)", frames, config, args)
    engine.THREADS = threads
    if not args.no_minimal:
        print(f"minimal config: {describe(minimal)}")
        full_recompute(" (minimal config)", frames, minimal, args)

    f0 = frames[0]
    incremental(" (defaults)", f0, config, heatmap.price_edges, args.stream_bars)
    if not args.no_minimal:
        incremental(" (minimal config)", f0, minimal, heatmap.price_edges, args.stream_bars)

    # reference on a small slice, extrapolated per bar-update
    m = args.reference_bars
    small = f0.slice(0, m)
    edges = heatmap.price_edges
    t0 = time.perf_counter()
    reference_heatmap([small], config, price_edges=edges)
    ref_s = time.perf_counter() - t0
    per_update_ref = ref_s / m
    t0 = time.perf_counter()
    compute_heatmap([small], config, price_edges=edges)
    eng_small = time.perf_counter() - t0
    print(f"reference (pure Python, per position, defaults): {ref_s:.2f} s for {m} bars x 1 exchange = "
          f"{per_update_ref * 1e3:.2f} ms per bar-update on that slice (its cost grows with the book, so this "
          f"extrapolation understates it). Engine on the same slice: {eng_small:.3f} s.")
    print(f"ratio reference / engine per bar-update: {per_update_ref / per_update_engine:,.0f}x "
          f"(reference extrapolated from {m} bars; engine measured at full scale); "
          f"same slice: {ref_s / eng_small:,.0f}x; extrapolated reference full run: "
          f"{per_update_ref * updates / 60:.0f} min")

    real = real_hourly_frame()
    if real is None:
        print("real hourly sample: /work/shared/data not found, skipped")
        return
    hm, elapsed, peak = measure(compute_heatmap, [real], config, n_bins=500)
    print(f"real hourly sample, defaults (Binance BTCUSDT 1h + Coinglass OI, {len(real):,} bars, "
          f"{np.isnan(real.oi_usd).sum()} without OI): {elapsed * 1e3:.1f} ms, peak {peak / 2**20:.0f} MiB, "
          f"grid {hm.long.shape}; last column {hm.long[-1].sum() / 1e9:.2f}bn long / "
          f"{hm.short[-1].sum() / 1e9:.2f}bn short in grid; modelled swept total "
          f"{hm.swept_long.sum() / 1e9:.1f}bn long / {hm.swept_short.sum() / 1e9:.1f}bn short")


if __name__ == "__main__":
    sys.exit(main())
