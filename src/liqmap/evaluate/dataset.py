"""What an evaluation scores: one market frame plus realized liquidations aligned to its bars.

* ``frame`` the model's input (perp bars, OI at the end of each bar, taker-buy volume, funding).
* ``realized_long/short`` realized liquidations per bar (USD), NaN where the source has no row. The
  default source is the store's ``liquidation_bars`` of ``exchange="aggregate"`` (Coinglass: Binance +
  Bybit + OKX, all BTC pairs), which covers more than the frame's single venue: calibration ratios above
  one are expected, rank metrics are not affected.
* ``prints_long/short`` realized prints from the ``liquidations`` table summed per bar (all venues in the
  store for the symbol), or None when the store holds none in the period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liqmap.errors import DataError
from liqmap.model.frame import MarketFrame
from liqmap.store import Store

AGGREGATE = "aggregate"


@dataclass(frozen=True, eq=False)
class EvalData:
    frame: MarketFrame
    realized_long: np.ndarray
    realized_short: np.ndarray
    realized_source: str = ""
    prints_long: np.ndarray | None = None
    prints_short: np.ndarray | None = None
    sigma: np.ndarray | None = None
    """Volatility per sqrt hour known at the end of each bar, from up to 30 days of bars before the frame
    (:func:`trailing_sigma`); None = estimate from the frame alone."""

    def __post_init__(self) -> None:
        n = len(self.frame)
        for name in ("realized_long", "realized_short", "prints_long", "prints_short", "sigma"):
            value = getattr(self, name)
            if value is None:
                continue
            value = np.asarray(value, dtype=np.float64)
            if value.shape != (n,):
                raise DataError(f"{name}: {value.size} values for {n} bars")
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def ts(self) -> np.ndarray:
        return self.frame.ts


def align(ts: np.ndarray, source_ts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` placed on the bar times ``ts`` (NaN where ``source_ts`` has no row)."""
    out = np.full(len(ts), np.nan)
    if len(source_ts) == 0:
        return out
    pos = np.searchsorted(ts, source_ts)
    ok = (pos < len(ts)) & (ts[np.minimum(pos, len(ts) - 1)] == source_ts)
    out[pos[ok]] = np.asarray(values, dtype=np.float64)[ok]
    return out


def bin_prints(ts: np.ndarray, interval_ms: int, print_ts: np.ndarray, sides: np.ndarray, usd: np.ndarray) -> tuple[
    np.ndarray, np.ndarray
]:
    """Sum liquidation prints into the bars ``ts`` (bar ``k`` holds ``ts[k] <= t < ts[k] + interval``)."""
    n = len(ts)
    out_long, out_short = np.zeros(n), np.zeros(n)
    if len(print_ts) == 0:
        return out_long, out_short
    k = np.searchsorted(ts, print_ts, side="right") - 1
    inside = (k >= 0) & (print_ts < ts[np.maximum(k, 0)] + interval_ms)
    is_long = np.asarray(sides) == "long"
    usd = np.asarray(usd, dtype=np.float64)
    out_long += np.bincount(k[inside & is_long], weights=usd[inside & is_long], minlength=n)[:n]
    out_short += np.bincount(k[inside & ~is_long], weights=usd[inside & ~is_long], minlength=n)[:n]
    return out_long, out_short


def realized_source(store: Store, symbol: str, exchange: str, interval_ms: int) -> tuple[str, int] | None:
    """Which stored realized series scores bars of ``interval_ms``: ``(exchange, stored interval)``.

    The ``aggregate`` series (Coinglass) first, else the frame venue's own; at ``interval_ms`` itself when
    stored, else at the coarsest stored interval that divides it (its bars are summed, see
    :func:`realized_bars`). None when neither exists."""
    for source in (AGGREGATE, exchange):
        stored = [int(i) for i in store.distinct("liquidation_bars", "interval_ms", exchange=source, symbol=symbol)]
        if interval_ms in stored:
            return source, interval_ms
        finer = [i for i in stored if i < interval_ms and interval_ms % i == 0]
        if finer:
            return source, max(finer)
    return None


def realized_bars(
    store: Store, symbol: str, source: tuple[str, int], start: int, end: int, interval_ms: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Realized long/short USD per bar of ``interval_ms`` in ``[start, end)`` from the ``source`` series.

    Finer bars are summed into the bar that holds them (bars start at multiples of ``interval_ms``); a bar
    is kept only when every one of its finer bars is stored, since a partial sum would be a silent
    undercount."""
    exchange, stored_interval = source
    rows = store.read(
        "liquidation_bars",
        start=start,
        end=end,
        exchange=exchange,
        symbol=symbol,
        interval_ms=stored_interval,
        columns=["ts_event", "long_usd", "short_usd"],
    )
    ts = np.asarray(rows["ts_event"], dtype=np.int64)
    long_usd = np.asarray(rows["long_usd"], dtype=np.float64)
    short_usd = np.asarray(rows["short_usd"], dtype=np.float64)
    if stored_interval == interval_ms:
        return ts, long_usd, short_usd
    buckets, index, counts = np.unique(ts // interval_ms * interval_ms, return_inverse=True, return_counts=True)
    complete = counts == interval_ms // stored_interval
    sums = [np.bincount(index, weights=v, minlength=len(buckets))[complete] for v in (long_usd, short_usd)]
    return buckets[complete], sums[0], sums[1]


def load_eval_data(
    store: Store,
    symbol: str,
    start: int,
    end: int,
    interval_ms: int,
    exchange: str = "binance",
) -> EvalData:
    """Assemble the frame (``liqmap.ingest.load_frame``) and the realized series from the store."""
    from liqmap.ingest import load_frame

    frame = load_frame(store, exchange, symbol, start, end, interval_ms)
    stop = int(frame.ts[-1]) + interval_ms
    source = realized_source(store, symbol, exchange, interval_ms)
    if source is None:
        raise DataError(
            f"no realized liquidations for {symbol} at {interval_ms // 60_000} min bars (or finer bars that sum to "
            "them) in the period: import a Coinglass liquidation or regime export (liqmap import FILE) to evaluate "
            "against"
        )
    ts, long_usd, short_usd = realized_bars(store, symbol, source, int(frame.ts[0]), stop, interval_ms)
    realized_long = align(frame.ts, ts, long_usd)
    realized_short = align(frame.ts, ts, short_usd)
    label = f"liquidation_bars ({source[0]})"
    if source[1] != interval_ms:
        label = f"liquidation_bars ({source[0]}, {source[1] // 60_000} min bars summed to {interval_ms // 60_000} min)"
    prints = store.read(
        "liquidations",
        start=int(frame.ts[0]),
        end=int(frame.ts[-1]) + interval_ms,
        symbol=symbol,
        columns=["ts_event", "side", "usd"],
    )
    prints_long = prints_short = None
    if len(prints["ts_event"]) > 0:
        prints_long, prints_short = bin_prints(frame.ts, interval_ms, prints["ts_event"], prints["side"], prints["usd"])
    sigma = trailing_sigma(store, exchange, symbol, frame.ts, interval_ms)
    return EvalData(frame, realized_long, realized_short, label, prints_long, prints_short, sigma)


def trailing_sigma(store: Store, exchange: str, symbol: str, ts: np.ndarray, interval_ms: int) -> np.ndarray:
    """:func:`liqmap.analysis.reach.hourly_sigma` at the end of each bar ``ts``, from the stored bars of the
    ``VOL_WINDOW_HOURS`` before (so the estimate does not depend on how much warm-up a frame has). Bars
    flagged as bad ticks (:mod:`liqmap.model.badticks`) enter with their clipped high / low."""
    from liqmap.analysis.reach import VOL_WINDOW_HOURS, hourly_sigma
    from liqmap.ingest.frames import read_bars
    from liqmap.model.badticks import clip_bad_ticks

    ts = np.asarray(ts, dtype=np.int64)
    start = int(ts[0]) - int(VOL_WINDOW_HOURS * 3_600_000)
    bars, _ = read_bars(store, exchange, symbol, start, int(ts[-1]) + interval_ms, interval_ms)
    bar_ts = np.asarray(bars["ts_event"], dtype=np.int64)
    if bar_ts.size == 0:
        return np.full(ts.size, np.nan)
    high, low, _flags = clip_bad_ticks(bars["open"], bars["high"], bars["low"], bars["close"])
    sigma = hourly_sigma(high, low, interval_ms)
    return align(ts, bar_ts, sigma)
