"""Parsing and validating the API's query parameters.

Every parser raises :class:`ParamError` naming the parameter and the accepted values, which the app
turns into HTTP 400. Nothing a client sends reaches SQL: values are normalised here and the store
binds them as parameters.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from liqmap.errors import ConfigError
from liqmap.symbols import canonical
from liqmap.venues.registry import EXCHANGES
from liqmap.viewspec import VIEW, Limit

if TYPE_CHECKING:
    from liqmap.query import HeatmapQuery

FORMATS: tuple[str, ...] = ("grid", "sparse", "coinglass")
ENCODINGS: tuple[str, ...] = ("f32", "u16")

# JSON-schema patterns (OpenAPI) of values the parsers accept, so that a generated schema-valid request is
# a request the server takes (tests/service/test_schemathesis.py checks both ways).
_B = "[A-Za-z0-9]{1,15}"  # the base asset: canonical() refuses a longer one once stripped
_Q = "(?:[Uu][Ss][Dd][TtCc]?)"  # USDT | USDC | USD, any case
SYMBOL_PATTERN = (
    f"^(?:k[A-Z0-9]{{1,11}}|{_B}|{_B}/{_Q}:{_Q}|{_B}-{_Q}-[Ss][Ww][Aa][Pp]|{_B}[-_/]{_Q}"
    f"|{_B}?[Uu][Ss][Dd][TtCc](?:\\.[Pp]|[Pp][Ee][Rr][Pp])?)$"
)
"""What :func:`liqmap.symbols.canonical` accepts (base asset, venue names, ccxt names; at most 40 long)."""
SYMBOL_SCHEMA: dict[str, object] = {"pattern": SYMBOL_PATTERN, "maxLength": 40}
_EXCHANGE = "(?:" + "|".join(EXCHANGES) + ")"
EXCHANGES_PATTERN = f"^(?:all|aggregate|{_EXCHANGE}(?:,{_EXCHANGE})*)?$"
TIME_PATTERN = (
    "^(?:1[3-9][0-9]{11}|[23][0-9]{12}|40[0-9]{11}"
    "|20[1-9][0-9]-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])(?:T(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9])?Z?)?)$"
)
"""Milliseconds (2011..2099) or an ISO 8601 date / UTC time: a subset of what :func:`parse_ts` takes."""
MAX_COLUMNS = VIEW.columns.api_hi
MAX_ROWS = VIEW.rows.api_hi
MIN_TS = 1_230_768_000_000  # 2009-01-01: nothing trades before bitcoin
MAX_TS = 4_099_999_999_999  # 2099-12-04: the largest millisecond value TIME_PATTERN admits


class ParamError(ConfigError):
    """A query parameter that cannot be used; carries the parameter's name and accepted values."""

    def __init__(self, param: str, message: str, accepted: Sequence[str] | str | None = None) -> None:
        self.param = param
        self.accepted = accepted
        text = f"parameter '{param}': {message}"
        if accepted:
            shown = accepted if isinstance(accepted, str) else ", ".join(accepted)
            text += f"; accepted: {shown}"
        super().__init__(text)


def parse_symbol(value: str | None, param: str = "symbol") -> str:
    if value is None or not value.strip():
        raise ParamError(param, "is required", "a base asset (BTC) or an instrument name (BTCUSDT)")
    if len(value) > 40:
        raise ParamError(param, "is too long", "a base asset (BTC) or an instrument name (BTCUSDT)")
    try:
        return canonical(value)
    except ConfigError as exc:
        raise ParamError(param, str(exc)) from None


def parse_exchanges(value: str | None, param: str = "exchanges") -> tuple[str, ...] | None:
    """Comma-separated exchange names; empty / ``all`` / ``aggregate`` means every stored exchange."""
    if value is None:
        return None
    names = [part.strip().lower() for part in value.split(",") if part.strip()]
    if not names or names in (["all"], ["aggregate"]):
        return None
    unknown = [name for name in names if name not in EXCHANGES]
    if unknown:
        raise ParamError(param, f"unknown exchange(s) {unknown}", ("all", *EXCHANGES))
    return tuple(sorted(set(names)))


def parse_exchange(value: str | None, param: str = "exchange") -> str | None:
    if value is None or not value.strip():
        return None
    name = value.strip().lower()
    if name not in EXCHANGES:
        raise ParamError(param, f"unknown exchange {value!r}", EXCHANGES)
    return name


def parse_choice(value: str | None, choices: Sequence[str], param: str, default: str) -> str:
    if value is None or value == "":
        return default
    text = value.strip().lower()
    if text not in choices:
        raise ParamError(param, f"unknown value {value!r}", choices)
    return text


def parse_range(value: str | None, param: str = "range", default: str = VIEW.default_range) -> str:
    """A range of :data:`liqmap.viewspec.RANGES` or one of its aliases (``1w`` = ``7d``)."""
    if value is None or value == "":
        return default
    name = VIEW.range_name(value)
    if name is None:
        raise ParamError(param, f"unknown range {value!r}", tuple(VIEW.ranges))
    return name


def parse_side(value: str | None, param: str = "side") -> str:
    """How the view draws the book: one of :data:`liqmap.viewspec.VIEW_SIDES` (default ``both``)."""
    return parse_choice(value, VIEW.sides, param, VIEW.default_side)


def parse_leverage(value: str | None, tiers: Sequence[float], param: str = "leverage") -> tuple[float, ...] | None:
    """Comma-separated leverage tiers (``25,50,100`` or ``25x``); empty / ``all`` = every tier."""
    if value is None:
        return None
    parts = [p.strip().lower().rstrip("x") for p in value.split(",") if p.strip()]
    if not parts or parts == ["all"]:
        return None
    accepted = tuple(f"{t:g}" for t in tiers)
    chosen: list[float] = []
    for part in parts:
        try:
            number = float(part)
        except ValueError:
            raise ParamError(param, f"not a number: {part!r}", ("all", *accepted)) from None
        match = [t for t in tiers if math.isclose(t, number)]
        if not match:
            raise ParamError(param, f"no tier {part}x", ("all", *accepted))
        chosen.append(match[0])
    return tuple(sorted(set(chosen)))


def parse_ages(value: str | None, labels: Sequence[str], param: str = "age") -> tuple[str, ...] | None:
    """Comma-separated age buckets by label (``<4h``) or index (``0``); empty / ``all`` = every age."""
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not parts or [p.lower() for p in parts] == ["all"]:
        return None
    chosen: list[str] = []
    for part in parts:
        if part in labels:
            chosen.append(part)
        elif part.isdigit() and int(part) < len(labels):
            chosen.append(labels[int(part)])
        else:
            raise ParamError(param, f"unknown age bucket {part!r}", ("all", *labels, f"or indexes 0..{len(labels) - 1}"))
    return tuple(label for label in labels if label in chosen)


def parse_int(value: int | None, param: str, lo: int, hi: int, default: int | None) -> int | None:
    if value is None:
        return default
    if not lo <= value <= hi:
        raise ParamError(param, f"{value} is out of range", f"an integer from {lo} to {hi}")
    return int(value)


def parse_limit(value: int | None, param: str, limit: Limit) -> int:
    """A view size (``rows``, ``columns``) within the API's bounds of ``limit``; its default when absent."""
    return parse_int(value, param, limit.api_lo, limit.api_hi, limit.default) or limit.default


def parse_ts(value: int | str | None, param: str) -> int | None:
    """A time in ms since the epoch (seconds are accepted and scaled), or an ISO 8601 text
    (``2024-08-17``, ``2024-08-17T12:00Z``, ``2024-08-17T12:00:00+02:00``; no zone = UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = _ts_text(value, param)
    if 0 < value < 10_000_000_000:  # plainly seconds
        value *= 1000
    if not MIN_TS <= value <= MAX_TS:
        raise ParamError(param, f"{value} is not a plausible time", "milliseconds since 1970 (2009..2100)")
    return int(value)


def _ts_text(text: str, param: str) -> int:
    from datetime import UTC, datetime

    stripped = text.strip()
    if re.fullmatch(r"[+-]?\d{1,19}", stripped):
        return int(stripped)
    try:
        when = datetime.fromisoformat(stripped)
    except ValueError:
        raise ParamError(param, f"{text!r} is neither milliseconds nor an ISO 8601 time",
                         "milliseconds since 1970, or ISO 8601 such as 2024-08-17T12:00Z") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def parse_bin(value: float | None, param: str = "bin") -> float | None:
    if value is None:
        return None
    if not math.isfinite(value) or value <= 0 or value > 1e9:
        raise ParamError(param, f"{value} is not a usable bin size", "a positive price step in USD, e.g. 50")
    return float(value)


@dataclass(frozen=True)
class ViewKey:
    """A normalised heatmap view as the server caches it: the fields of
    :class:`liqmap.query.HeatmapQuery` that determine the computed Heatmap (side excluded: every side is
    derived from the same long/short grids), hashable, with the API's parameter names
    (:meth:`as_params`). Every field is the HeatmapQuery field of the same name; :meth:`query` is the
    HeatmapQuery it stands for."""

    symbol: str
    exchanges: tuple[str, ...] | None
    range: str
    end: int | None
    leverage: tuple[float, ...] | None
    ages: tuple[str, ...] | None
    n_bins: int
    max_columns: int

    def query(self) -> HeatmapQuery:
        """The :class:`~liqmap.query.HeatmapQuery` of this view (``side="both"``; the side is applied to
        the computed grids)."""
        from liqmap.query import HeatmapQuery

        return HeatmapQuery(**{f.name: getattr(self, f.name) for f in fields(self)}, side=VIEW.default_side)

    def as_params(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "exchanges": ",".join(self.exchanges) if self.exchanges else "all",
            "range": self.range,
            "end": self.end,
            "leverage": ",".join(f"{x:g}" for x in self.leverage) if self.leverage else "all",
            "age": ",".join(self.ages) if self.ages else "all",
            "rows": self.n_bins,
            "columns": self.max_columns,
        }


def parse_view(
    *,
    symbol: str | None,
    exchanges: str | None,
    range_: str | None,
    end: int | str | None,
    leverage: str | None,
    age: str | None,
    rows: int | None,
    columns: int | None,
    tiers: Sequence[float],
    labels: Sequence[str],
) -> ViewKey:
    """The :class:`ViewKey` of a request's view parameters (``tiers``/``labels``: the server's model
    config); each bad value raises :class:`ParamError` naming its parameter."""
    return ViewKey(
        symbol=parse_symbol(symbol),
        exchanges=parse_exchanges(exchanges),
        range=parse_range(range_),
        end=parse_ts(end, "end"),
        leverage=parse_leverage(leverage, tiers),
        ages=parse_ages(age, labels),
        n_bins=parse_limit(rows, "rows", VIEW.rows),
        max_columns=parse_limit(columns, "columns", VIEW.columns),
    )
