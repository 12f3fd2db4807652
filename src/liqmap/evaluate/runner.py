"""The Python API behind ``liqmap evaluate``: pick the period, load the data, run the measurement.

* :func:`evaluate_store` scores the series already in a store;
* :func:`evaluate_files` imports files (any format ``liqmap import`` reads) into an in-memory store first.

Period: the common range of the venue's bars, its OI and the realized liquidations. The frame starts
``warmup_days`` before the first scored bar (so the book has history), or at the data's start, in which
case the first ``warmup_days`` are warm-up and not scored.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from liqmap.errors import DataError
from liqmap.evaluate.dataset import EvalData, load_eval_data, realized_bars, realized_source
from liqmap.evaluate.harness import Evaluation, evaluate
from liqmap.model.config import ModelConfig
from liqmap.store import DuckDBStore, Store
from liqmap.symbols import canonical
from liqmap.types import DAY_MS, HOUR_MS


def data_range(store: Store, exchange: str, symbol: str, interval_ms: int) -> tuple[int, int]:
    """``[first, end)`` bar-open range where bars, OI and realized liquidations all exist."""
    coin = canonical(symbol)
    firsts, ends = [], []
    bars = _span(s for s in store.series("bars") if s["exchange"] == exchange and s["symbol"] == coin
                 and s["interval_ms"] <= interval_ms and interval_ms % s["interval_ms"] == 0)
    oi = _span(s for s in store.series("open_interest") if s["exchange"] == exchange and s["symbol"] == coin)
    source = realized_source(store, coin, exchange, interval_ms)
    realized: tuple[int | None, int | None] = (None, None)
    if source is not None:
        ts, _, _ = realized_bars(store, coin, source, 0, 2**62, interval_ms)
        realized = (int(ts[0]), int(ts[-1])) if len(ts) else (None, None)
    for name, (first, last), end_offset, hint in (
        ("bars", bars, interval_ms, "klines"),
        ("open interest", oi, 0, "an OI series (e.g. a Coinglass regime export)"),
        ("realized liquidations", realized, interval_ms, "a Coinglass liquidation or regime export"),
    ):
        if first is None or last is None:
            raise DataError(f"no {name} for {exchange} {coin} at {interval_ms // 60_000} min: import {hint}")
        firsts.append(int(first))
        ends.append(int(last) + end_offset)
    # OI stored at t applies to the end of the bar opening at t - interval.
    first = max(firsts[0], firsts[1] - interval_ms, firsts[2])
    end = min(ends)
    first = (first + interval_ms - 1) // interval_ms * interval_ms
    if end - first < 2 * interval_ms:
        raise DataError(f"bars, OI and realized liquidations of {coin} do not overlap in time")
    return first, end


def _span(series: Iterable[dict[str, Any]]) -> tuple[int | None, int | None]:
    """First and last time over the given stored series (None, None when there are none)."""
    rows = list(series)
    if not rows:
        return None, None
    return min(int(r["first"]) for r in rows), max(int(r["last"]) for r in rows)


def evaluate_store(
    store: Store,
    *,
    symbol: str = "BTC",
    exchange: str = "binance",
    interval_ms: int = HOUR_MS,
    start: int | None = None,
    end: int | None = None,
    warmup_days: float = 14.0,
    config: ModelConfig | None = None,
    with_baselines: bool = True,
    with_clusters: bool = True,
) -> Evaluation:
    data, score_start = load_for_evaluation(
        store, symbol=symbol, exchange=exchange, interval_ms=interval_ms, start=start, end=end, warmup_days=warmup_days
    )
    warmup = 0.0 if score_start is not None else warmup_days
    return evaluate(
        data,
        config,
        warmup_days=warmup,
        start=score_start,
        end=end,
        with_baselines=with_baselines,
        with_clusters=with_clusters,
    )


def load_for_evaluation(
    store: Store,
    *,
    symbol: str = "BTC",
    exchange: str = "binance",
    interval_ms: int = HOUR_MS,
    start: int | None = None,
    end: int | None = None,
    warmup_days: float = 14.0,
) -> tuple[EvalData, int | None]:
    """The data and the first scored bar (None = score after the warm-up from the data's start)."""
    first, last = data_range(store, exchange, symbol, interval_ms)
    stop = last if end is None else min(end, last)
    if start is None:
        frame_start, score_start = first, None
    else:
        frame_start = max(first, start - int(warmup_days * DAY_MS))
        score_start = start
    if stop - frame_start < 2 * interval_ms:
        raise DataError("the chosen period holds fewer than two bars with data")
    data = load_eval_data(store, canonical(symbol), frame_start, stop, interval_ms, exchange=exchange)
    return data, score_start


def import_into(store: Store, paths: Iterable[str | Path]) -> list[str]:
    """Import every file into ``store``; returns one line per file (format, rows)."""
    from liqmap.ingest import import_file

    lines = []
    for path in paths:
        result = import_file(store, path)
        lines.append(f"{path}: {result.format}, {result.rows_read} rows")
    return lines


def evaluate_files(paths: Iterable[str | Path], **options: object) -> Evaluation:
    """Import ``paths`` into an in-memory store and evaluate (options as :func:`evaluate_store`)."""
    with DuckDBStore(":memory:") as store:
        import_into(store, paths)
        return evaluate_store(store, **options)  # type: ignore[arg-type]
