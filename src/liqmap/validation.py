"""The one validation every record passes before it is stored, live (venue parsers) or imported (files).

Rules are declared once, **per field name**, so the same table checks a record (:func:`problem`) and a
column batch (:func:`column_problem`)::

    price-like   open high low close price mark index contract_size tick_size max_leverage
                 interval_ms interval_hours                          finite and > 0
    sizes        volume quote_volume taker_buy_volume trades quantity usd oi_base oi_usd long_usd
                 short_usd lot_size notional_floor                   finite and >= 0
    rates        rate funding_rate mmr maint_amount                  finite
    cap          notional_cap                                        > 0 (the last bracket may be +inf)
    times        ts_event next_funding_ts                            int ms in [2009-01-01, now + 1 day]
    bars         high >= low, open and close within [low, high] (relative tolerance 1e-9)

An optional field (``float | None``) may be None (NULL); a required one may not. A number is an ``int`` or
``float`` (never a ``bool`` or a string). A time outside the range that would fit as seconds, microseconds
or nanoseconds is refused with a message naming that unit. ``ts_recv`` is our own clock and not checked.

The upper time bound reads the wall clock (the only clock read in the parse path; it changes nothing for
a valid record). Callers choose the error class: venue parsers raise
:class:`~liqmap.errors.InvalidRecordError`, importers :class:`~liqmap.errors.BadSeriesError`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from liqmap.types import (
    DAY_MS,
    SIDES,
    Bar,
    Funding,
    Instrument,
    Liquidation,
    LiquidationBar,
    MarginTier,
    MarkPrice,
    OpenInterest,
    Record,
    Trade,
)

EARLIEST_MS = 1_230_768_000_000
"""2009-01-01 00:00 UTC: no crypto market data is older."""
HORIZON_MS = DAY_MS
"""How far past the wall clock a time may be (funding settles up to a few hours ahead)."""
OHLC_TOLERANCE = 1e-9

POSITIVE = frozenset({"open", "high", "low", "close", "price", "mark", "index", "contract_size", "tick_size",
                      "max_leverage", "interval_ms", "interval_hours"})
NON_NEGATIVE = frozenset({"volume", "quote_volume", "taker_buy_volume", "trades", "quantity", "usd", "oi_base",
                          "oi_usd", "long_usd", "short_usd", "lot_size", "notional_floor"})
FINITE = frozenset({"rate", "funding_rate", "mmr", "maint_amount"})
POSITIVE_OR_INF = frozenset({"notional_cap"})
TIMES = frozenset({"ts_event", "next_funding_ts"})
NULL_IN_FILES = frozenset({"volume"})
"""Required on live records, but a file may carry none (Coinglass aggregates): stored NULL."""
TEXT = frozenset({"exchange", "symbol", "venue_symbol", "trade_id", "coverage", "quote", "market", "price_kind"})
CHOICES: dict[str, frozenset[str]] = {"side": frozenset(SIDES), "taker_side": frozenset({"buy", "sell"}),
                                      "market": frozenset({"perp", "spot"})}

RECORD_TYPES: tuple[type, ...] = (Bar, OpenInterest, Funding, MarkPrice, Trade, Liquidation, LiquidationBar,
                                  Instrument, MarginTier)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def time_problem(name: str, value: float, latest_ms: int) -> str | None:
    """Why ``value`` is not a plausible time in ms (None when it is); names the unit it looks like."""
    if EARLIEST_MS <= value <= latest_ms:
        return None
    for unit, factor in (("seconds", 1e-3), ("microseconds", 1e3), ("nanoseconds", 1e6)):
        if EARLIEST_MS * factor <= value <= latest_ms * factor:
            return f"{name}={value!r} looks like {unit}, expected milliseconds"
    return f"{name}={value!r} is not a time in ms between 2009-01-01 and now + 1 day"


def _number_problem(name: str, value: Any, optional: bool) -> str | None:
    if value is None:
        return None if optional else f"{name} is missing"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{name}={value!r} is not a number"
    if name in POSITIVE_OR_INF:
        return None if value > 0 else f"{name}={value!r} must be > 0"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{name}={value!r} is not finite"
    if name in POSITIVE and not value > 0:
        return f"{name}={value!r} must be > 0"
    if name in NON_NEGATIVE and not value >= 0:
        return f"{name}={value!r} must be >= 0"
    return None


Check = Callable[[Any, int], "str | None"]


def _field_check(name: str, optional: bool) -> Check | None:
    if name in TIMES:
        def check_time(record: Any, latest: int) -> str | None:
            value = getattr(record, name)
            if value is None and optional:
                return None
            if isinstance(value, bool) or not isinstance(value, int):
                return f"{name}={value!r} is not an integer time in ms"
            return time_problem(name, value, latest)
        return check_time
    if name in POSITIVE | NON_NEGATIVE | FINITE | POSITIVE_OR_INF:
        return lambda record, _latest: _number_problem(name, getattr(record, name), optional)
    if name in CHOICES:
        allowed = CHOICES[name]
        return lambda record, _latest: (None if getattr(record, name) in allowed
                                        else f"{name}={getattr(record, name)!r} not in {sorted(allowed)}")
    if name in TEXT:
        return lambda record, _latest: (None if isinstance(getattr(record, name), str)
                                        else f"{name}={getattr(record, name)!r} is not text")
    return None


def _ohlc(record: Any, _latest: int) -> str | None:
    low, high = record.low, record.high
    if high < low:
        return f"high {high!r} < low {low!r}"
    slack = OHLC_TOLERANCE * high
    if not (low - slack <= record.open <= high + slack and low - slack <= record.close <= high + slack):
        return f"open {record.open!r} / close {record.close!r} outside [low {low!r}, high {high!r}]"
    return None


def _checks(record_type: type) -> tuple[Check, ...]:
    checks = []
    for f in dataclasses.fields(record_type):
        check = _field_check(f.name, "None" in str(f.type))
        if check is not None:
            checks.append(check)
    if record_type is Bar:
        checks.append(_ohlc)  # after the field checks: only reached when every price is a positive number
    return tuple(checks)


_CHECKS: dict[type, tuple[Check, ...]] = {rt: _checks(rt) for rt in RECORD_TYPES}


def problem(record: Record, *, latest_ms: int | None = None) -> str | None:
    """Why ``record`` must not be stored, or None when it passes every rule."""
    checks = _CHECKS.get(type(record))
    if checks is None:
        return f"{type(record).__name__} is not a liqmap record"
    latest = latest_ms if latest_ms is not None else now_ms() + HORIZON_MS
    for check in checks:
        found = check(record, latest)
        if found is not None:
            return f"{type(record).__name__}: {found}"
    return None


def split_valid(records: list[Record]) -> tuple[list[Record], list[tuple[Record, str]]]:
    """``(valid, [(invalid record, why), ...])`` in input order."""
    latest = now_ms() + HORIZON_MS
    good: list[Record] = []
    bad: list[tuple[Record, str]] = []
    for record in records:
        found = problem(record, latest_ms=latest)
        if found is None:
            good.append(record)
        else:
            bad.append((record, found))
    return good, bad


def column_problem(record_type: type, values: Mapping[str, Any], *, latest_ms: int | None = None) -> str | None:
    """The same rules over column arrays (importers): why the first offending row fails, or None.

    ``values`` maps field names to arrays, lists or constants; None/NaN mean NULL, allowed in optional
    fields and in ``NULL_IN_FILES`` (a file may carry no volume: the column is stored NULL)."""
    latest = latest_ms if latest_ms is not None else now_ms() + HORIZON_MS
    optional = {f.name: "None" in str(f.type) for f in dataclasses.fields(record_type)}
    numeric = {name: value for name, value in values.items()
               if name in POSITIVE | NON_NEGATIVE | FINITE | POSITIVE_OR_INF | TIMES and value is not None
               and not isinstance(value, str)}
    arrays: dict[str, np.ndarray] = {}
    for name, value in numeric.items():
        try:
            arrays[name] = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            return f"{record_type.__name__}.{name}: not numeric"
    for name, arr in arrays.items():
        missing = np.isnan(arr)
        if name in POSITIVE_OR_INF:
            bad = ~(arr > 0)
        elif name in TIMES:
            bad = ~((arr >= EARLIEST_MS) & (arr <= latest))
        else:
            bad = ~np.isfinite(arr)
            if name in POSITIVE:
                bad |= ~(arr > 0)
            elif name in NON_NEGATIVE:
                bad |= ~(arr >= 0)
        if optional.get(name, False) or name in NULL_IN_FILES:
            bad &= ~missing
        if bad.any():
            row = int(np.flatnonzero(np.atleast_1d(bad))[0])
            value = float(np.atleast_1d(arr)[row])
            why = (time_problem(name, value, latest) if name in TIMES and value == value
                   else f"{name}={value!r} breaks the {_rule(name)} rule")
            return f"{record_type.__name__} row {row}: {why}"
    if record_type is Bar and {"open", "high", "low", "close"} <= arrays.keys():
        o, h, lo, c = (arrays[k] for k in ("open", "high", "low", "close"))
        slack = OHLC_TOLERANCE * h
        bad = (h < lo) | (o < lo - slack) | (o > h + slack) | (c < lo - slack) | (c > h + slack)
        if np.any(bad):
            row = int(np.flatnonzero(np.atleast_1d(bad))[0])
            return (f"Bar row {row}: open/high/low/close {np.atleast_1d(o)[row]!r}/{np.atleast_1d(h)[row]!r}/"
                    f"{np.atleast_1d(lo)[row]!r}/{np.atleast_1d(c)[row]!r} break low <= open, close <= high")
    return None


def _rule(name: str) -> str:
    if name in POSITIVE:
        return "finite and > 0"
    if name in NON_NEGATIVE:
        return "finite and >= 0"
    if name in POSITIVE_OR_INF:
        return "> 0"
    if name in TIMES:
        return "time in ms"
    return "finite"
