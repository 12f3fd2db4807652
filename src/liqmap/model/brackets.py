"""Maintenance-margin brackets (risk tiers): shipped, versioned tables and live refresh.

A bracket says: a position whose notional lies in ``[floor, cap)`` USD pays maintenance margin
``MM = notional * mmr - maint_amount`` and may use at most ``max_leverage``. ``maint_amount`` is Binance's
``cum``, Bybit/Gate/Hyperliquid's deduction (0 on OKX/Bitget, which have none). Continuity of MM across
brackets gives ``maint_amount_n = maint_amount_{n-1} + floor_n * (mmr_n - mmr_{n-1})``
(Binance help centre; Bybit margin parameters; Hyperliquid margin tiers; see docs/exchanges reference).

Shipped tables live in ``liqmap/data/tiers/<exchange>-<YYYY-MM>.json``; each names its source and date.
Connectors fetch live :class:`~liqmap.types.MarginTier` records; :meth:`BracketBook.from_tiers` turns them
into the same structure, and :meth:`BracketBook.merged` overlays them on the shipped tables.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from liqmap.errors import ConfigError, UnknownSymbolError
from liqmap.symbols import canonical
from liqmap.types import MarginTier

TIERS_PACKAGE_PATH = ("data", "tiers")
COLUMNS = ("floor", "cap", "mmr", "maint_amount", "max_leverage")


@dataclass(frozen=True)
class Bracket:
    """One maintenance-margin bracket (see module docstring)."""

    tier: int
    floor: float
    cap: float
    mmr: float
    maint_amount: float
    max_leverage: float


@dataclass(frozen=True, eq=False)
class BracketTable:
    """All brackets of one instrument on one exchange, ordered by notional floor."""

    exchange: str
    symbol: str
    venue_symbol: str
    brackets: tuple[Bracket, ...]
    source: str = ""
    as_of: str = ""

    def __post_init__(self) -> None:
        if not self.brackets:
            raise ConfigError(f"brackets: {self.exchange} {self.symbol} has no margin brackets")
        floors = [b.floor for b in self.brackets]
        if floors != sorted(floors):
            raise ConfigError(f"brackets: {self.exchange} {self.symbol} brackets are not ordered by notional")
        for b in self.brackets:
            if not (0.0 <= b.mmr < 1.0) or b.max_leverage <= 0 or b.cap <= b.floor:
                raise ConfigError(f"brackets: {self.exchange} {self.symbol} bracket {b.tier} is impossible: {b}")

    def bracket_for(self, notional: float) -> Bracket:
        """The bracket whose ``[floor, cap)`` contains ``notional`` (the last one beyond the table)."""
        if not notional > 0:
            raise ConfigError(f"position notional must be positive, got {notional}")
        for b in self.brackets:
            if b.floor <= notional < b.cap:
                return b
        if notional < self.brackets[0].floor:
            return self.brackets[0]
        return self.brackets[-1]

    @property
    def provenance(self) -> str:
        return f"{self.exchange} {self.venue_symbol or self.symbol} brackets ({self.source}, {self.as_of})"

    def to_rows(self) -> list[list[float]]:
        return [[b.floor, b.cap, b.mmr, b.maint_amount, b.max_leverage] for b in self.brackets]


class BracketBook(Mapping[tuple[str, str], BracketTable]):
    """Bracket tables keyed by ``(exchange, symbol)`` with ``symbol`` in user vocabulary ("BTC")."""

    def __init__(self, tables: Iterable[BracketTable] = ()) -> None:
        self._tables: dict[tuple[str, str], BracketTable] = {}
        for table in tables:
            key = (table.exchange, table.symbol)
            current = self._tables.get(key)
            # Prefer the USDT-margined instrument when a venue lists several (BTCUSDT over BTCUSDC).
            if current is None or (not current.venue_symbol.endswith("USDT") and table.venue_symbol.endswith("USDT")):
                self._tables[key] = table

    def __getitem__(self, key: tuple[str, str]) -> BracketTable:
        exchange, symbol = key
        if (exchange, symbol) in self._tables:
            return self._tables[(exchange, symbol)]
        return self._tables[(exchange.lower(), _symbol_key(symbol))]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)

    def find(self, exchange: str, symbol: str) -> BracketTable | None:
        return self._tables.get((exchange.lower(), _symbol_key(symbol)))

    def merged(self, other: BracketBook) -> BracketBook:
        """A new book with ``other``'s tables replacing this book's for the same (exchange, symbol)."""
        combined = dict(self._tables)
        combined.update(other._tables)
        book = BracketBook()
        book._tables = combined
        return book

    @classmethod
    def from_tiers(cls, tiers: Iterable[MarginTier], *, source: str = "live", as_of: str = "") -> BracketBook:
        """Build tables from :class:`MarginTier` records (what the connectors fetch live)."""
        grouped: dict[tuple[str, str], list[MarginTier]] = {}
        for tier in tiers:
            grouped.setdefault((tier.exchange.lower(), _symbol_key(tier.symbol)), []).append(tier)
        tables = []
        for (exchange, symbol), rows in grouped.items():
            rows.sort(key=lambda r: r.notional_floor)
            brackets = tuple(
                Bracket(
                    tier=r.tier,
                    floor=float(r.notional_floor),
                    cap=float(r.notional_cap) if np.isfinite(r.notional_cap) else float("inf"),
                    mmr=float(r.mmr),
                    maint_amount=float(r.maint_amount),
                    max_leverage=float(r.max_leverage),
                )
                for r in rows
            )
            tables.append(BracketTable(exchange, symbol, rows[0].symbol, brackets, source, as_of))
        return cls(tables)

    def to_tiers(self) -> list[MarginTier]:
        """The book as :class:`MarginTier` records (round-trips with :meth:`from_tiers`)."""
        out = []
        for (exchange, symbol), table in self._tables.items():
            for b in table.brackets:
                out.append(
                    MarginTier(exchange, symbol, b.tier, b.floor, b.cap, b.mmr, b.maint_amount, b.max_leverage)
                )
        return out


def _symbol_key(symbol: str) -> str:
    """User-vocabulary key; one-letter bases (Binance lists ``G``) are kept as typed."""
    try:
        return canonical(symbol)
    except UnknownSymbolError:
        return symbol.strip().upper()


def maint_amounts_from_continuity(floors: Iterable[float], mmrs: Iterable[float]) -> list[float]:
    """Maintenance amounts implied by continuity: ``a_0 = 0``, ``a_n = a_{n-1} + floor_n (mmr_n - mmr_{n-1})``.

    Source: Binance help centre (250,000 x (1% - 0.5%) + 50 = 1,300), Bybit "margin parameters",
    Hyperliquid "margin tiers" (deduction_n = deduction_{n-1} + lower_bound_n (mmr_n - mmr_{n-1})).
    """
    out: list[float] = []
    prev_mmr = 0.0
    amount = 0.0
    for i, (floor, mmr) in enumerate(zip(floors, mmrs, strict=True)):
        amount = 0.0 if i == 0 else amount + floor * (mmr - prev_mmr)
        out.append(amount)
        prev_mmr = mmr
    return out


def table_from_ccxt(exchange: str, market: str, tiers: list[dict[str, Any]], *, source: str, as_of: str) -> BracketTable:
    """One ccxt ``fetch_leverage_tiers`` market (``minNotional, maxNotional, maintenanceMarginRate,
    maxLeverage, info{cum}``) as a :class:`BracketTable`. ``cum`` is taken from ``info`` when present,
    otherwise from continuity."""
    floors = [float(t["minNotional"]) for t in tiers]
    mmrs = [float(t["maintenanceMarginRate"]) for t in tiers]
    implied = maint_amounts_from_continuity(floors, mmrs)
    brackets = []
    for i, t in enumerate(tiers):
        info = t.get("info") or {}
        cum = info.get("cum")
        brackets.append(
            Bracket(
                tier=int(float(t.get("tier", i + 1))),
                floor=floors[i],
                cap=float(t["maxNotional"]),
                mmr=mmrs[i],
                maint_amount=float(cum) if cum not in (None, "") else implied[i],
                max_leverage=float(t["maxLeverage"]),
            )
        )
    venue = market.split(":")[0].replace("/", "")
    return BracketTable(exchange, _symbol_key(market), venue, tuple(brackets), source, as_of)


def table_to_json(tables: Iterable[BracketTable], *, exchange: str, source: str, as_of: str, notes: str = "") -> str:
    """Serialise tables in the shipped file format (compact rows, one market per line)."""
    markets = {t.venue_symbol: {"symbol": t.symbol, "tiers": t.to_rows()} for t in tables}
    lines = [f"  {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in sorted(markets.items())]
    header = json.dumps(
        {"exchange": exchange, "as_of": as_of, "source": source, "notes": notes, "columns": list(COLUMNS)},
        indent=1,
    )[:-2]
    return header + ',\n "markets": {\n' + ",\n".join(lines) + "\n }\n}\n"


def _parse_file(text: str, name: str) -> list[BracketTable]:
    data = json.loads(text)
    if list(data.get("columns", [])) != list(COLUMNS):
        raise ConfigError(f"tier file {name}: columns must be {COLUMNS}")
    tables = []
    for venue_symbol, market in data["markets"].items():
        brackets = tuple(
            Bracket(i + 1, float(f), float(c) if c is not None else float("inf"), float(m), float(a), float(lv))
            for i, (f, c, m, a, lv) in enumerate(market["tiers"])
        )
        tables.append(
            BracketTable(data["exchange"], market["symbol"], venue_symbol, brackets, data["source"], data["as_of"])
        )
    return tables


def shipped_files() -> list[str]:
    """Names of the shipped tier files (``<exchange>-<YYYY-MM>.json``)."""
    folder = resources.files("liqmap").joinpath(*TIERS_PACKAGE_PATH)
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".json"))


@lru_cache(maxsize=1)
def load_brackets() -> BracketBook:
    """All shipped bracket tables; for each exchange the newest file wins."""
    folder = resources.files("liqmap").joinpath(*TIERS_PACKAGE_PATH)
    newest: dict[str, str] = {}
    for name in shipped_files():
        exchange = name.rsplit("-", 2)[0]
        newest[exchange] = max(newest.get(exchange, ""), name)
    tables: list[BracketTable] = []
    for name in sorted(newest.values()):
        tables += _parse_file(folder.joinpath(name).read_text(encoding="utf-8"), name)
    return BracketBook(tables)
