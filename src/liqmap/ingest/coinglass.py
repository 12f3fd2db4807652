"""Importers for Coinglass exports (BTC): the hourly regime file and the realized-liquidation files.

Facts applied here, once (see docs/data.md):

* regime ``price_*`` is the **Binance spot** BTCUSDT price -> bars with ``market="spot"``;
* regime ``oi_*`` is Binance BTCUSDT perpetual OI in **USD**; ``oi_close`` of bar t is the OI at the end
  of the bar -> :class:`OpenInterest` at ``t + interval``; ``oi_open`` is stored at ``t`` where the
  previous bar is missing (after a gap, and for the first bar), so no known value is thrown away;
* regime ``funding_*`` is in **percent** -> divided by 100; ``funding_close`` is the rate seen at the
  end of the bar, stored as a Binance :class:`Funding` sample at ``t + interval`` (``interval_hours``
  left NULL to mark a sample rather than a settlement);
* realized liquidations are Coinglass's aggregate over Binance + Bybit + OKX, all BTC pairs ->
  :class:`LiquidationBar` with ``exchange="aggregate"``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from liqmap.errors import MalformedFileError
from liqmap.ingest.batch import Batch
from liqmap.ingest.reader import Table, interval_from_name, read_table, require_columns
from liqmap.symbols import canonical
from liqmap.types import Bar, Funding, LiquidationBar, OpenInterest

AGGREGATE = "aggregate"
COVERAGE = "binance+bybit+okx, all BTC pairs (coinglass)"
OI_EXCHANGE = "binance"

REGIME_COLUMNS = (
    "timestamp",
    "price_open",
    "price_high",
    "price_low",
    "price_close",
    "liquidation_long_usd",
    "liquidation_short_usd",
    "funding_close",
    "oi_open",
    "oi_close",
)
LIQUIDATION_COLUMNS = ("timestamp", "longUsd", "shortUsd")


def coin_from_name(path: Path, override: str | None) -> str:
    if override:
        return canonical(override)
    match = re.match(r"([A-Za-z0-9]{2,15})[_-]", path.name)
    if not match:
        raise MalformedFileError(
            str(path), "cannot infer the coin from the file name (expected BTC_...); pass --symbol"
        )
    return canonical(match.group(1))


def _interval(table: Table, path: Path, ts: np.ndarray) -> int:
    """The bar length: the most common step between rows, checked against the name (``_1h``, ``_30m``)."""
    steps = np.diff(ts)
    if (steps <= 0).any():
        i = int(np.argmax(steps <= 0)) + 1
        raise table.fail("timestamps not strictly increasing", i)
    named = interval_from_name(path.name)
    if len(steps) == 0:
        if named is None:
            raise MalformedFileError(str(path), "one row and no interval in the file name")
        return named
    values, counts = np.unique(steps, return_counts=True)
    interval = int(values[counts.argmax()])
    if named is not None and named != interval:
        raise MalformedFileError(
            str(path), f"file name says {named} ms bars but rows are {interval} ms apart"
        )
    odd = np.flatnonzero(steps % interval != 0)
    if odd.size:
        raise table.fail(
            f"row is {int(steps[odd[0]])} ms after the previous, not a multiple of {interval}",
            int(odd[0]) + 1,
        )
    return interval


def _non_negative(table: Table, name: str) -> np.ndarray:
    values = table.floats(name)
    if (values < 0).any():
        raise table.fail(f"{name} is negative", int(np.argmax(values < 0)))
    return values


def import_regime(path: Path, ts_recv: int, *, symbol: str | None = None, market: str | None = None) -> Batch:
    table = read_table(path, has_header=True)
    require_columns(table, REGIME_COLUMNS)
    coin = coin_from_name(path, symbol)
    ts = table.epoch_ms("timestamp")
    interval = _interval(table, path, ts)
    n = len(table)
    o, h, lo, c = (table.floats(f"price_{k}") for k in ("open", "high", "low", "close"))
    bad = (np.minimum.reduce([o, h, lo, c]) <= 0) | (h < np.maximum(o, c)) | (lo > np.minimum(o, c))
    if bad.any():
        raise table.fail("prices non-positive or high/low do not bracket open/close", int(np.argmax(bad)))
    batch = Batch("coinglass-regime", n)
    venue = f"{coin}USDT"
    batch.add(
        Bar,
        n,
        exchange=OI_EXCHANGE,
        symbol=coin,
        interval_ms=interval,
        ts_event=ts,
        open=o,
        high=h,
        low=lo,
        close=c,
        volume=np.full(n, np.nan),
        ts_recv=ts_recv,
        market="spot",
        venue_symbol=venue,
    )

    oi_close, oi_open = _non_negative(table, "oi_close"), _non_negative(table, "oi_open")
    after_gap = np.ones(n, dtype=bool)
    after_gap[1:] = np.diff(ts) != interval
    oi_ts = np.concatenate([ts + interval, ts[after_gap]])
    oi_usd = np.concatenate([oi_close, oi_open[after_gap]])
    order = np.argsort(oi_ts, kind="stable")
    batch.add(
        OpenInterest,
        len(oi_ts),
        exchange=OI_EXCHANGE,
        symbol=coin,
        ts_event=oi_ts[order],
        ts_recv=ts_recv,
        oi_base=None,
        oi_usd=np.where(oi_usd > 0, oi_usd, np.nan)[order],
        venue_symbol=venue,
    )

    funding_pct = table.floats("funding_close")
    if (np.abs(funding_pct) > 5).any():
        raise table.fail("funding_close beyond ±5 %: not percent?", int(np.argmax(np.abs(funding_pct) > 5)))
    batch.add(
        Funding,
        n,
        exchange=OI_EXCHANGE,
        symbol=coin,
        ts_event=ts + interval,
        ts_recv=ts_recv,
        rate=funding_pct / 100.0,
        interval_hours=None,
        venue_symbol=venue,
    )

    batch.add(
        LiquidationBar,
        n,
        exchange=AGGREGATE,
        symbol=coin,
        interval_ms=interval,
        ts_event=ts,
        ts_recv=ts_recv,
        long_usd=_non_negative(table, "liquidation_long_usd"),
        short_usd=_non_negative(table, "liquidation_short_usd"),
        coverage=COVERAGE,
    )
    gaps = int(after_gap[1:].sum())
    if gaps:
        batch.notes.append(f"{gaps} gap(s) between rows (missing hours stay missing)")
    return batch


def import_liquidations(
    path: Path, ts_recv: int, *, symbol: str | None = None, market: str | None = None
) -> Batch:
    table = read_table(path, has_header=True)
    require_columns(table, LIQUIDATION_COLUMNS)
    coin = coin_from_name(path, symbol)
    ts = table.epoch_ms("timestamp")
    interval = _interval(table, path, ts)
    n = len(table)
    batch = Batch(f"coinglass-liquidations-{_label(interval)}", n)
    batch.add(
        LiquidationBar,
        n,
        exchange=AGGREGATE,
        symbol=coin,
        interval_ms=interval,
        ts_event=ts,
        ts_recv=ts_recv,
        long_usd=_non_negative(table, "longUsd"),
        short_usd=_non_negative(table, "shortUsd"),
        coverage=COVERAGE,
    )
    return batch


def _label(interval_ms: int) -> str:
    minutes = interval_ms // 60_000
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"
