"""Domain records shared by every layer.

Conventions (enforced by the parsers that build these records, never re-derived downstream):

* Times are UTC integers in **milliseconds** since the epoch. ``ts_event`` is the exchange's time
  (for a bar, its open time), ``ts_recv`` the local receive/import time.
* ``symbol`` is the user-vocabulary base asset (``"BTC"``); ``venue_symbol`` keeps the venue's own
  instrument name (``"BTCUSDT"``, ``"BTC-USDT-SWAP"``) for provenance.
* Sizes are in **base coin** (``quantity``), notionals in **USD** (USDT/USDC taken at par).
  Contract counts never leave a venue module: OKX ``ctVal``, Gate ``quanto_multiplier`` and the like
  are applied in the parser.
* A liquidation's ``side`` is the side of the position that was liquidated: ``"long"`` means a long
  was force-sold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Side = Literal["long", "short"]
TakerSide = Literal["buy", "sell"]
Market = Literal["perp", "spot"]
PriceKind = Literal["fill", "average", "order", "bankruptcy"]

SIDES: tuple[Side, Side] = ("long", "short")

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLCV bar. ``ts_event`` is the bar's open time; volumes are in base coin."""

    exchange: str
    symbol: str
    interval_ms: int
    ts_event: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    ts_recv: int
    quote_volume: float | None = None
    taker_buy_volume: float | None = None
    trades: int | None = None
    market: Market = "perp"
    venue_symbol: str = ""


@dataclass(frozen=True, slots=True)
class OpenInterest:
    """Open interest **at** ``ts_event`` (a snapshot, not a bar), one side counted once."""

    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    oi_base: float | None
    oi_usd: float | None
    venue_symbol: str = ""


@dataclass(frozen=True, slots=True)
class Funding:
    """A funding rate as a fraction (0.0001 = 0.01 %) for the interval that settles at ``ts_event``."""

    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    rate: float
    interval_hours: float | None = None
    venue_symbol: str = ""


@dataclass(frozen=True, slots=True)
class MarkPrice:
    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    mark: float
    index: float | None = None
    funding_rate: float | None = None
    next_funding_ts: int | None = None
    venue_symbol: str = ""


@dataclass(frozen=True, slots=True)
class Trade:
    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    price: float
    quantity: float
    taker_side: TakerSide
    trade_id: str
    venue_symbol: str = ""


@dataclass(frozen=True, slots=True)
class Liquidation:
    """One real liquidation print. ``side`` is the liquidated position's side."""

    exchange: str
    symbol: str
    ts_event: int
    ts_recv: int
    side: Side
    price: float
    quantity: float
    usd: float
    price_kind: PriceKind = "fill"
    venue_symbol: str = ""


@dataclass(frozen=True, slots=True)
class LiquidationBar:
    """Realized liquidations aggregated per bar and side (e.g. Coinglass exports).

    ``exchange`` names the aggregate, e.g. ``"aggregate"``; ``coverage`` says what it sums over.
    """

    exchange: str
    symbol: str
    interval_ms: int
    ts_event: int
    ts_recv: int
    long_usd: float
    short_usd: float
    coverage: str = ""


@dataclass(frozen=True, slots=True)
class Instrument:
    exchange: str
    symbol: str
    venue_symbol: str
    contract_size: float
    """Base coin per contract (1.0 where the venue quotes sizes in coin)."""
    tick_size: float
    lot_size: float
    max_leverage: float | None = None
    quote: str = "USDT"


@dataclass(frozen=True, slots=True)
class MarginTier:
    """One maintenance-margin bracket: positions with notional in [floor, cap) USD.

    ``maint_amount`` is the bracket's maintenance amount (Binance ``cum``, Bybit/OKX deduction).
    """

    exchange: str
    symbol: str
    tier: int
    notional_floor: float
    notional_cap: float
    mmr: float
    maint_amount: float
    max_leverage: float


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    """One account's position in one coin as the venue reports it (Hyperliquid ``clearinghouseState``).

    ``size`` is signed (> 0 long) in base coin; ``size == 0`` records that the account no longer holds the
    coin (a position closed or an account that vanished). ``equity`` is the margin that backs the position:
    the account's cross account value for ``margin_type="cross"``, the position's own isolated equity
    otherwise; ``maintenance`` is the account's total cross maintenance margin (None when not reported).
    ``liquidation_price`` is the exchange's own (None when it reports none).
    """

    exchange: str
    symbol: str
    account: str
    ts_event: int
    ts_recv: int
    size: float
    entry_price: float
    mark_price: float
    liquidation_price: float | None
    leverage: float
    margin_type: str
    margin_used: float
    position_value: float
    equity: float
    maintenance: float | None = None
    max_leverage: float | None = None
    venue_symbol: str = ""


Record = (Bar | OpenInterest | Funding | MarkPrice | Trade | Liquidation | LiquidationBar | Instrument | MarginTier
          | PositionSnapshot)
