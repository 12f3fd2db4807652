"""Importers for Binance USD-M files: klines (three spellings), funding, forceOrder, aggTrades, tiers.

Units: kline volumes are base coin, quote volumes USDT (= USD at par); funding is already a fraction;
forceOrder quantities are base coin. Binance files name the instrument only in the file name (klines)
or in a column (forceOrder, aggTrades).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from liqmap.errors import MalformedFileError, ParseError, UnknownSymbolError
from liqmap.ingest.batch import Batch
from liqmap.ingest.reader import Table, first_lines, interval_from_name, read_table, read_text
from liqmap.symbols import canonical
from liqmap.types import Bar, Funding, Liquidation, MarginTier, Trade
from liqmap.venues.binance import VISION_KLINE_COLUMNS, check_klines

EXCHANGE = "binance"

CAMEL_KLINE_COLUMNS = (
    "openTime",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "closeTime",
    "quoteVolume",
    "trades",
    "takerBuyBase",
    "takerBuyQuote",
    "ignore",
)
ISO_KLINE_COLUMNS = (
    "timestamp",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "trades",
    "taker_buy_base",
    "taker_buy_quote",
    "ignore",
)
FUNDING_COLUMNS = ("fundingTime", "fundingIntervalHours", "fundingRate")

_VENUE_SYMBOL = re.compile(r"(?<![A-Z0-9])([A-Z0-9]{2,20}?(?:USDT|USDC))(?![A-Z0-9])")


def symbol_from_name(path: Path, override: str | None) -> tuple[str, str]:
    """(symbol, venue_symbol) from ``--symbol`` or from a name like ``BTCUSDT-1h-...csv.gz``."""
    if override:
        base = canonical(override)
        return base, override.upper() if override.upper() != base else f"{base}USDT"
    match = _VENUE_SYMBOL.search(path.name.upper().replace("_", "-"))
    if not match:
        raise MalformedFileError(
            str(path),
            "cannot infer the instrument from the file name (expected e.g. BTCUSDT-1h-...); pass --symbol",
        )
    venue = match.group(1)
    return canonical(venue), venue


def _klines(
    table: Table,
    path: Path,
    fmt: str,
    ts_recv: int,
    *,
    symbol: str | None,
    market: str | None,
    open_ms: np.ndarray,
    close_ms: np.ndarray,
) -> Batch:
    base, venue = symbol_from_name(path, symbol)
    ohlc = (table.floats(1), table.floats(2), table.floats(3), table.floats(4))
    try:
        checked = check_klines(open_ms, close_ms, ohlc, lambda a, b: table.row(a) == table.row(b),
                               expected_ms=interval_from_name(path.name), where=lambda i: f"line {table.line(i)}")
    except ParseError as exc:
        if exc.row is None:
            raise MalformedFileError(str(path), str(exc)) from None
        raise table.fail(str(exc), exc.row) from None
    idx, interval = checked.keep, checked.interval_ms
    o, h, lo, c = (column[idx] for column in ohlc)
    batch = Batch(fmt, len(table))
    if checked.duplicates:
        batch.notes.append(f"dropped {checked.duplicates} exact duplicate row(s)")
    batch.add(
        Bar,
        len(idx),
        exchange=EXCHANGE,
        symbol=base,
        interval_ms=interval,
        ts_event=open_ms[idx],
        open=o,
        high=h,
        low=lo,
        close=c,
        volume=table.floats(5)[idx],
        ts_recv=ts_recv,
        quote_volume=table.floats(7)[idx],
        taker_buy_volume=table.floats(9)[idx],
        trades=table.ints(8)[idx],
        market=market or "perp",
        venue_symbol=venue,
    )
    return batch


def import_vision_klines(
    path: Path, ts_recv: int, *, symbol: str | None = None, market: str | None = None, table: Table | None = None
) -> Batch:
    """data.binance.vision kline CSV (header ``open_time,...``; older files have no header)."""
    with_header, width = vision_layout(path)
    table = table if table is not None else read_table(path, has_header=with_header, width=width)
    if with_header and table.header != VISION_KLINE_COLUMNS:
        raise table.fail(f"unexpected header {table.header}")
    return _klines(
        table,
        path,
        "binance-vision-klines",
        ts_recv,
        symbol=symbol,
        market=market,
        open_ms=table.epoch_ms(0),
        close_ms=table.epoch_ms(6),
    )


def import_camel_klines(
    path: Path, ts_recv: int, *, symbol: str | None = None, market: str | None = None, table: Table | None = None
) -> Batch:
    """REST-style kline CSV with camel-case header (``openTime, ... takerBuyBase``)."""
    table = table if table is not None else read_table(path, has_header=True)
    return _klines(
        table,
        path,
        "binance-klines-camel",
        ts_recv,
        symbol=symbol,
        market=market,
        open_ms=table.epoch_ms("openTime"),
        close_ms=table.epoch_ms("closeTime"),
    )


def import_iso_klines(
    path: Path, ts_recv: int, *, symbol: str | None = None, market: str | None = None, table: Table | None = None
) -> Batch:
    """Kline CSV with ISO ``timestamp``/``close_time`` columns (UTC); exact duplicate rows dropped."""
    table = table if table is not None else read_table(path, has_header=True)
    return _klines(
        table,
        path,
        "binance-klines-iso",
        ts_recv,
        symbol=symbol,
        market=market,
        open_ms=table.iso_ms("timestamp"),
        close_ms=table.iso_ms("close_time"),
    )


def import_funding(
    path: Path, ts_recv: int, *, symbol: str | None = None, market: str | None = None, table: Table | None = None
) -> Batch:
    """Funding events ``fundingTime, fundingIntervalHours, fundingRate`` (rate already a fraction; the
    time in s, ms or µs, told by its magnitude)."""
    table = table if table is not None else read_table(path, has_header=True)
    base, venue = symbol_from_name(path, symbol)
    rate = table.floats("fundingRate")
    if (np.abs(rate) > 0.05).any():
        raise table.fail(
            "fundingRate beyond ±5 % per interval: not a fraction?", int(np.argmax(np.abs(rate) > 0.05))
        )
    batch = Batch("binance-funding", len(table))
    batch.add(
        Funding,
        len(table),
        exchange=EXCHANGE,
        symbol=base,
        ts_event=table.epoch_ms("fundingTime"),
        ts_recv=ts_recv,
        rate=rate,
        interval_hours=table.floats("fundingIntervalHours"),
        venue_symbol=venue,
    )
    return batch


_FORCE_SIDE = {"SELL": "long", "BUY": "short"}


def import_force_orders(
    path: Path, ts_recv: int, *, symbol: str | None = None, market: str | None = None, table: Table | None = None
) -> Batch:
    """Raw ``!forceOrder@arr`` records, no header (symbol without USDT; SELL = a long liquidated).

    Stored: price = average fill price (``price_kind="average"``), quantity = accumulated filled qty,
    usd = quantity × average price. The file's ``usd_size`` column is original qty × order price
    (the bankruptcy price), about 1-2 % away from the fill notional; it is validated, not stored.
    """
    table = table if table is not None else read_table(path, has_header=False, width=12)
    symbols, venues = [], []
    for i, raw in enumerate(table.strings(0)):
        name = raw.strip().upper()
        try:
            base = canonical(name if name.endswith(("USDT", "USDC")) else f"{name}USDT")
        except UnknownSymbolError:
            raise table.fail(f"column 1: {raw!r} is not a symbol", i) from None
        symbols.append(base)
        venues.append(name if name.endswith(("USDT", "USDC")) else f"{name}USDT")
    sides = table.mapped(1, _FORCE_SIDE)
    avg, qty, usd_size = table.floats(6), table.floats(9), table.floats(11)
    bad = (avg <= 0) | (qty <= 0) | (usd_size <= 0)
    if bad.any():
        raise table.fail("non-positive price, quantity or usd_size", int(np.argmax(bad)))
    batch = Batch("binance-forceorder", len(table))
    batch.add(
        Liquidation,
        len(table),
        exchange=EXCHANGE,
        symbol=symbols,
        ts_event=table.epoch_ms(10),
        ts_recv=ts_recv,
        side=sides,
        price=avg,
        quantity=qty,
        usd=avg * qty,
        price_kind="average",
        venue_symbol=venues,
    )
    return batch


def import_agg_trades(
    path: Path, ts_recv: int, *, symbol: str | None = None, market: str | None = None, table: Table | None = None
) -> Batch:
    """``<symbol>@aggTrade`` events, no header: event_time, symbol, agg_id, price, qty, trade_time, is_buyer_maker."""
    table, twins = _drop_clock_time_twins(table if table is not None else read_table(path, has_header=False, width=7))
    venues = [v.strip().upper() for v in table.strings(1)]
    bases = {v: canonical(v) for v in set(venues)}
    taker = table.mapped(6, {"True": "sell", "False": "buy", "true": "sell", "false": "buy"})
    price, qty = table.floats(3), table.floats(4)
    if ((price <= 0) | (qty <= 0)).any():
        raise table.fail("non-positive price or quantity", int(np.argmax((price <= 0) | (qty <= 0))))
    batch = Batch("binance-aggtrades", len(table) + twins)
    if twins:
        batch.notes.append(
            f"dropped {twins} row(s) whose trade_time was a clock time "
            "(HH:MM:SS) and whose trade is present again with its ms time"
        )
    batch.add(
        Trade,
        len(table),
        exchange=EXCHANGE,
        symbol=[bases[v] for v in venues],
        ts_event=table.epoch_ms(5),
        ts_recv=ts_recv,
        price=price,
        quantity=qty,
        taker_side=taker,
        trade_id=[s.strip() for s in table.strings(2)],
        venue_symbol=venues,
    )
    return batch


_CLOCK = re.compile(r"^\d{1,2}:\d{2}:\d{2}$")


def _drop_clock_time_twins(table: Table) -> tuple[Table, int]:
    """Some recorded aggTrade rows carry a wall-clock ``HH:MM:SS`` instead of the ms trade time and are
    followed by the same trade (same symbol and aggregate id) with its proper time: drop those copies.
    A clock-time row without such a twin is left in place and fails conversion with its line."""
    import pyarrow.compute as pc

    if not pc.any(pc.match_substring_regex(table.columns[5], _CLOCK.pattern)).as_py():
        return table, 0  # the usual case, decided without Python strings
    times, venues, ids = table.strings(5), table.strings(1), table.strings(2)
    clock = [i for i, value in enumerate(times) if _CLOCK.match(value)]
    is_clock = set(clock)
    proper = {(venues[i], ids[i]) for i in range(len(times)) if i not in is_clock}
    drop = {i for i in clock if (venues[i], ids[i]) in proper}
    return table.take([i for i in range(len(times)) if i not in drop]), len(drop)


def import_leverage_tiers(
    path: Path, ts_recv: int, *, symbol: str | None = None, market: str | None = None
) -> Batch:
    """ccxt-style leverage tiers JSON (market -> tiers with ``info`` = Binance bracket).

    Only USDT-margined linear perpetuals (``X/USDT:USDT``) are kept: liqmap models those, and USDC or
    dated contracts would collide on the user symbol.
    """
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise MalformedFileError(str(path), f"invalid JSON: {exc.msg}", exc.lineno) from exc
    if not isinstance(data, dict):
        raise MalformedFileError(str(path), "expected a JSON object of market -> tiers", 1)
    cols: dict[str, list[Any]] = {k: [] for k in ("symbol", "tier", "floor", "cap", "mmr", "cum", "lev")}
    skipped: Counter[str] = Counter()
    for market_name, tiers in data.items():
        match = re.fullmatch(r"([A-Z0-9]+)/USDT:USDT", market_name)
        if not match:
            skipped[market_name.split("/")[-1].split("-")[0]] += 1
            continue
        try:
            for tier in tiers:
                info = tier["info"]
                cols["symbol"].append(match.group(1))  # already a bare base asset (may be 1 char: G)
                cols["tier"].append(int(tier["tier"]))
                cols["floor"].append(float(info["notionalFloor"]))
                cols["cap"].append(float(info["notionalCap"]))
                cols["mmr"].append(float(info["maintMarginRatio"]))
                cols["cum"].append(float(info["cum"]))
                cols["lev"].append(float(info["initialLeverage"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedFileError(str(path), f"market {market_name}: bad tier entry ({exc!r})") from exc
    n = len(cols["tier"])
    if n == 0:
        raise MalformedFileError(str(path), "no USDT perpetual tiers found")
    batch = Batch("binance-leverage-tiers", n)
    batch.add(
        MarginTier,
        n,
        exchange=EXCHANGE,
        symbol=cols["symbol"],
        tier=cols["tier"],
        notional_floor=cols["floor"],
        notional_cap=cols["cap"],
        mmr=cols["mmr"],
        maint_amount=cols["cum"],
        max_leverage=cols["lev"],
    )
    if skipped:
        batch.notes.append(
            "skipped non-USDT-perp markets: " + ", ".join(f"{k} x{v}" for k, v in sorted(skipped.items()))
        )
    return batch


def vision_layout(path: Path) -> tuple[bool, int | None]:
    """(has a header, width): older data.binance.vision kline files have no header line."""
    lines = first_lines(path, 1)
    with_header = bool(lines) and lines[0].startswith("open_time")
    return with_header, None if with_header else 12
