"""Store glue for the numbers a trader reads: the USD calibration of a view, the volatility behind reach
probabilities, and the bad ticks of a window (the pure parts live in ``liqmap.analysis.calibration``,
``liqmap.analysis.reach`` and ``liqmap.model.badticks``).

Calibration of a view (``calibration_for``): the view's venues and symbol; predicted = the model's
liquidated USD per day (``swept_long/short`` of the view's **fit view**, :func:`fit_query`: the full-book
view of the same venues, symbol and model settings that ends at the UTC midnight starting the day of the
view's last column and reaches :data:`FIT_RANGE` back, one column per bar), realized = per day, best
source first:

1. ``prints``: the collector's per-event prints (``liquidations`` table) of the view's venues;
2. ``coinglass``: ``liquidation_bars`` of the view's venues, else of ``exchange="aggregate"`` (one stored
   interval, so nothing is counted twice);
3. ``fallback-sample``: :data:`liqmap.analysis.calibration.FALLBACK`.

The first source with at least ``MIN_DAYS`` usable days on both sides wins.

The factor is fitted on the complete UTC days before the day of the view's last column
(:func:`liqmap.analysis.calibration.fit`), so the latest snapshot (what clusters, levels and alerts read)
never carries a factor fitted on its own day. Those days are all the fit view holds, and it depends on
that day only (not on the view's end hour, range, bins or columns): every view of the same venues and
symbol ending the same day shares one fit view and one calibration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from liqmap.analysis.calibration import (
    DAY_MS,
    FALLBACK,
    MODES,
    NONE,
    WINDOW_DAYS,
    Calibration,
    daily_sums,
    fit,
    scale_heatmap,
)
from liqmap.errors import ConfigError
from liqmap.model.badticks import BadTick, by_time, find_bad_ticks
from liqmap.model.config import ModelConfig
from liqmap.model.result import Heatmap
from liqmap.viewspec import VIEW

if TYPE_CHECKING:
    from liqmap.query import HeatmapQuery

FIT_RANGE = "30d"
"""Range of the full-book heatmap whose ``swept_*`` columns give the predicted daily USD."""
FIT_BINS = VIEW.rows.lo
"""Price bins of the fit view: its ``swept_*`` do not depend on them (only its unused grid does)."""
FIT_COLUMNS = VIEW.columns.hi
"""Columns at most of the fit view: more than the window bars of any automatic interval
(:data:`liqmap.query.MAX_WINDOW_BARS`), so one column per bar and no column straddles a midnight."""


def _daily_on(days: np.ndarray, day_ts: np.ndarray, sums: np.ndarray) -> np.ndarray:
    out = np.zeros(days.size)
    pos = np.searchsorted(days, day_ts)
    ok = (pos < days.size) & (days[np.minimum(pos, days.size - 1)] == day_ts)
    out[pos[ok]] = sums[ok]
    return out


def _realized_sources(store: Any, symbol: str, exchanges: tuple[str, ...], start: int, end: int,
                      days: np.ndarray) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """``(source, long per day, short per day)`` on ``days`` for each realized source, best first."""
    ts_parts, side_parts, usd_parts = [], [], []
    for exchange in exchanges:
        rows = store.read("liquidations", start=start, end=end, exchange=exchange, symbol=symbol,
                          columns=["ts_event", "side", "usd"])
        ts_parts.append(np.asarray(rows["ts_event"], dtype=np.int64))
        side_parts.append(np.asarray(rows["side"]))
        usd_parts.append(np.asarray(rows["usd"], dtype=np.float64))
    ts = np.concatenate(ts_parts) if ts_parts else np.empty(0, dtype=np.int64)
    if ts.size:
        side = np.concatenate(side_parts)
        usd = np.concatenate(usd_parts)
        is_long = side == "long"
        yield ("prints", _daily_on(days, *daily_sums(ts[is_long], usd[is_long])),
               _daily_on(days, *daily_sums(ts[~is_long], usd[~is_long])))
    for venue in (*exchanges, "aggregate"):
        intervals = sorted(int(i) for i in store.distinct("liquidation_bars", "interval_ms", exchange=venue,
                                                          symbol=symbol))
        if not intervals:
            continue
        rows = store.read("liquidation_bars", start=start, end=end, exchange=venue, symbol=symbol,
                          interval_ms=intervals[-1], columns=["ts_event", "long_usd", "short_usd"])
        bar_ts = np.asarray(rows["ts_event"], dtype=np.int64)
        if bar_ts.size:
            yield ("coinglass", _daily_on(days, *daily_sums(bar_ts, rows["long_usd"])),
                   _daily_on(days, *daily_sums(bar_ts, rows["short_usd"])))


def has_realized(store: Any, symbol: str, exchanges: tuple[str, ...]) -> bool:
    """Whether any stored row can feed :func:`calibration_on` for ``symbol`` on ``exchanges``: prints of
    the venues, or liquidation bars of the venues or of ``"aggregate"`` (the series :func:`_realized_sources`
    reads, from the store's list of series, kept until the next write). Without one, every calibration of
    the view is :data:`FALLBACK`, whatever the predicted days: callers skip the full-book fit heatmap."""
    prints = {(row.get("exchange"), row.get("symbol")) for row in store.series("liquidations")}
    bars = {(row.get("exchange"), row.get("symbol")) for row in store.series("liquidation_bars")}
    return (any((exchange, symbol) in prints for exchange in exchanges)
            or any((venue, symbol) in bars for venue in (*exchanges, "aggregate")))


REALIZED_TABLES = ("liquidations", "liquidation_bars")
"""The tables a calibration reads (besides the heatmaps): a cache of calibrations keys on their data version."""


def predicted_days(heatmap: Heatmap, fit_heatmap: Heatmap) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(days, long, short)``: the model's liquidated USD per complete UTC day before the day of ``heatmap``'s
    last column, from ``fit_heatmap``'s ``swept_*`` (the predicted side of :func:`calibration_for`)."""
    end = int(heatmap.times[-1])
    days, p_long = daily_sums(fit_heatmap.times, fit_heatmap.swept_long)
    _, p_short = daily_sums(fit_heatmap.times, fit_heatmap.swept_short)
    keep = days < end // DAY_MS * DAY_MS
    return days[keep], p_long[keep], p_short[keep]


def calibration_for(store: Any, heatmap: Heatmap, fit_heatmap: Heatmap) -> Calibration:
    """The calibration of ``heatmap``'s view (module docstring); ``fit_heatmap``: its fit view
    (:func:`fit_query`)."""
    return calibration_on(store, heatmap, *predicted_days(heatmap, fit_heatmap))


def calibration_on(store: Any, heatmap: Heatmap, days: np.ndarray, p_long: np.ndarray,
                   p_short: np.ndarray) -> Calibration:
    """:func:`calibration_for` from the predicted days (:func:`predicted_days`): the result depends on them,
    the day of ``heatmap``'s last column, its symbol and venues, and the rows of :data:`REALIZED_TABLES`."""
    if days.size == 0:
        return FALLBACK
    end = int(heatmap.times[-1])
    start = int(days[max(0, days.size - WINDOW_DAYS)])
    # The first source with enough days wins (a collector that started yesterday does not override a
    # month of Coinglass bars); a source covering one side only is completed by the fallback.
    partial = None
    for source, r_long, r_short in _realized_sources(store, heatmap.symbol, heatmap.exchanges, start,
                                                     int(days[-1]) + DAY_MS, days):
        cal = fit(days, p_long, p_short, r_long, r_short, source=source, before=end)
        if cal.source == source:
            return cal
        if cal is not FALLBACK and partial is None:
            partial = cal
    return partial or FALLBACK


def fit_day(heatmap: Heatmap) -> int:
    """The UTC midnight starting the day of ``heatmap``'s last column: where its fit view ends."""
    return int(heatmap.times[-1]) // DAY_MS * DAY_MS


def fit_query(heatmap: Heatmap, config: ModelConfig | None = None) -> HeatmapQuery:
    """The fit view of the view whose heatmap is ``heatmap`` (modelled with ``config``): the full-book view
    whose ``swept_*`` its calibration is fitted on. ``heatmap``'s venues and symbol, the same model
    settings, ending at :func:`fit_day`, :data:`FIT_RANGE` back, every other field the query's default
    (automatic interval, no leverage or age filter, both sides), :data:`FIT_BINS` x :data:`FIT_COLUMNS`.
    The one declaration of it: the service keys its fit views on this query
    (``liqmap.service.calibration.fit_key``)."""
    from liqmap.query import HeatmapQuery

    return HeatmapQuery(heatmap.symbol, exchanges=heatmap.exchanges, range=FIT_RANGE, end=fit_day(heatmap),
                        n_bins=FIT_BINS, max_columns=FIT_COLUMNS, config=config)


def fit_rows(store: Any, fit: HeatmapQuery) -> tuple[Any, ...]:
    """A fingerprint of every stored row the fit view ``fit`` (:func:`fit_query`) reads
    (:func:`liqmap.warmbooks.fingerprint`: one count per table). New bars of the view's own day leave it as
    it is (the OI and funding a run reads end with its last bar's end): it changes only when rows before
    that day do, so a fit view kept under it is computed once a day."""
    from liqmap.query import resolve_view
    from liqmap.warmbooks import fingerprint

    view = resolve_view(store, fit)
    return fingerprint(store, view.symbol, view.warmup_start, view.end, 0)


def fit_days(store: Any, heatmap: Heatmap, fit: Callable[[], Heatmap]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`predicted_days` of ``heatmap`` on its fit view ``fit()``; no days (and no fit view) when none
    of the venues has bars before :func:`fit_day` (the fit view would have no window)."""
    end = fit_day(heatmap)
    if not any(row["symbol"] == heatmap.symbol and row["exchange"] in heatmap.exchanges and int(row["first"]) < end
               for row in store.series("bars")):
        empty = np.empty(0)
        return empty.astype(np.int64), empty, empty
    return predicted_days(heatmap, fit())


def calibrated_view(store: Any, query: HeatmapQuery, heatmap: Heatmap, mode: str = "auto") -> tuple[Heatmap, Calibration]:
    """``heatmap`` (computed for ``query``) in the USD of calibration ``mode`` (``auto`` | ``none``,
    :data:`liqmap.analysis.calibration.MODES`) and that calibration: what the API serves for the same
    view, for callers without the service's caches (the CLI's pictures)."""
    if mode not in MODES:
        raise ConfigError(f"calibration: {mode!r} is not accepted; accepted: {', '.join(MODES)}")
    if mode == "none":
        return heatmap, NONE
    from liqmap.query import heatmap_for

    if not has_realized(store, heatmap.symbol, heatmap.exchanges):
        return heatmap, FALLBACK  # what the fit would give, without its fit view
    fit = fit_query(heatmap, query.config)
    calibration = calibration_on(store, heatmap, *fit_days(store, heatmap, lambda: heatmap_for(store, fit)))
    return scale_heatmap(heatmap, calibration), calibration


def sigma_columns(store: Any, heatmap: Heatmap) -> np.ndarray:
    """Volatility per sqrt hour at the end of every column of ``heatmap`` (its first venue's bars,
    :func:`liqmap.evaluate.dataset.trailing_sigma`, at the coarsest stored interval not wider than a
    column); NaN where unknown."""
    from liqmap.evaluate.dataset import trailing_sigma
    from liqmap.ingest.frames import available_intervals

    exchange = heatmap.exchanges[0]
    stored = available_intervals(store, exchange, heatmap.symbol)
    intervals = sorted(set(stored.get("perp", [])) | set(stored.get("spot", [])))
    fitting = [i for i in intervals if i <= heatmap.interval_ms] or intervals
    if not fitting:
        return np.full(len(heatmap.times), np.nan)
    interval = max(fitting)
    last_bar = (np.asarray(heatmap.times, dtype=np.int64) + heatmap.interval_ms - interval) // interval * interval
    return trailing_sigma(store, exchange, heatmap.symbol, last_bar, interval)


def sigma_now(store: Any, heatmap: Heatmap, k: int = -1) -> float:
    """:func:`sigma_columns` at column ``k`` only."""
    k = k % len(heatmap.times)
    column = replace(heatmap, times=heatmap.times[k : k + 1])
    return float(sigma_columns(store, column)[0])


def calibrated_columns(store: Any, heatmap: Heatmap, fit_heatmap: Heatmap) -> tuple[Heatmap, np.ndarray]:
    """``heatmap`` in calibrated USD and the volatility at each column (what the alert loop evaluates)."""
    calibration = calibration_for(store, heatmap, fit_heatmap)
    return scale_heatmap(heatmap, calibration), sigma_columns(store, heatmap)


def _common_times(times: list[np.ndarray]) -> np.ndarray:
    """The sorted times every array holds (a binary search of each in the others: ~1 ms for five venues'
    week of 1-minute bars, against ~15 ms for Python sets)."""
    common = np.unique(times[0])
    for other in times[1:]:
        ordered = np.sort(other)
        if not len(ordered):
            return ordered
        at = np.minimum(np.searchsorted(ordered, common), len(ordered) - 1)
        common = common[ordered[at] == common]
    return common


def bad_ticks_for(store: Any, symbol: str, exchanges: tuple[str, ...], start: int, end: int,
                  interval_ms: int) -> list[BadTick]:
    """Implausible wicks (:mod:`liqmap.model.badticks`) in the bars of ``[start, end)``, with the
    detector's trailing window of history before ``start``; with three or more venues, also wicks far
    beyond every other venue's in the same bar (as the model's frames are cleaned)."""
    from liqmap.ingest.frames import read_bars
    from liqmap.model.badticks import WINDOW, changed, cross_venue_extremes

    out: list[BadTick] = []
    cleaned: dict[str, dict[str, np.ndarray]] = {}
    for exchange in exchanges:
        bars, _ = read_bars(store, exchange, symbol, start - WINDOW * interval_ms, end, interval_ms)
        if len(bars["ts_event"]) == 0:
            continue
        high, low, ticks = find_bad_ticks(exchange, bars["ts_event"], bars["open"], bars["high"], bars["low"],
                                          bars["close"])
        out.extend(t for t in ticks if t.ts >= start)
        cleaned[exchange] = {**bars, "high": high, "low": low}
    if len(cleaned) >= 3:
        common = _common_times([np.asarray(b["ts_event"], dtype=np.int64) for b in cleaned.values()])
        ts = common[common >= start]
        rows = {ex: np.searchsorted(np.asarray(b["ts_event"]), ts) for ex, b in cleaned.items()}
        names = list(cleaned)
        highs, lows = cross_venue_extremes(*([cleaned[ex][col][rows[ex]] for ex in names]
                                             for col in ("open", "high", "low", "close")))
        for ex, h, lo in zip(names, highs, lows, strict=True):
            out.extend(changed(ex, ts, (cleaned[ex]["high"][rows[ex]], h), (cleaned[ex]["low"][rows[ex]], lo)))
    return by_time(out)
