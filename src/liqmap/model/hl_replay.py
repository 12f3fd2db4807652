"""Rebuild Hyperliquid accounts from their fills and deposits, and test liquidation prices on real history.

Pure: the caller supplies the rows (``liqmap.evaluate.hl_history`` reads Hyperliquid's public 2023 files).
Per account: ``cash`` (deposits/withdrawals plus realized PnL) and per coin a signed size with its average
entry price. A fill of signed size ``d`` at ``px`` on a position ``(s, e)``: the reduced part realizes
``min(|d|, |s|) * (px - e) * sign(s)``; what is left opens or grows at the size-weighted entry. The account
value at marks ``P`` is ``cash + sum_c s_c (P_c - e_c)`` (fees and funding are not in the files: ignored).
The mark of a coin is its last traded price in the files (non-market-maker trades only).

The liquidation price of each position is :func:`liqmap.model.hl_margin.account_liquidation_prices` on the
rebuilt account (all 2023 liquidations in the files are cross or isolated; an isolated account is taken as
its single position). A liquidation is **explained** when, for one of the account's open positions, the
coin's traded price in ``(t_s, T]`` reached our liquidation price within ``tolerance`` (long: low <=
liq * (1 + tol); short: high >= liq * (1 - tol)), with ``T`` the liquidation time and ``t_s`` the later of
the account's last own fill/ledger entry before ``T`` and ``T - window_ms``, the prices taken at ``t_s``.
The liquidated account's own fills are left out of that price path (its liquidation fills print at ``T``;
the counterparty's side of them stays when that account is not a market maker: a print at the mark that
triggered the liquidation).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from liqmap.model.hl_margin import account_liquidation_prices
from liqmap.types import PositionSnapshot


@dataclass(frozen=True, slots=True)
class Fill:
    ts: int
    user: str
    coin: str
    size: float
    """Signed: > 0 bought."""
    price: float


@dataclass(frozen=True, slots=True)
class Ledger:
    ts: int
    user: str
    delta_usd: float


@dataclass(frozen=True, slots=True)
class LiquidationEvent:
    ts: int
    user: str
    notional: float
    account_value: float
    margin_type: str


@dataclass
class Account:
    cash: float = 0.0
    size: dict[str, float] = field(default_factory=dict)
    entry: dict[str, float] = field(default_factory=dict)
    last_ts: int = 0

    def apply_fill(self, coin: str, d: float, px: float, ts: int) -> None:
        s, e = self.size.get(coin, 0.0), self.entry.get(coin, 0.0)
        if s != 0 and (s > 0) != (d > 0):
            closed = min(abs(d), abs(s))
            self.cash += closed * (px - e) * (1.0 if s > 0 else -1.0)
        new = s + d
        if abs(new) < 1e-12:
            self.size.pop(coin, None)
            self.entry.pop(coin, None)
        else:
            if s == 0 or (s > 0) != (new > 0):
                self.entry[coin] = px  # opened or flipped: the rest opens at the fill price
            elif (s > 0) == (d > 0):
                self.entry[coin] = (abs(s) * e + abs(d) * px) / abs(new)
            self.size[coin] = new
        self.last_ts = ts

    def value(self, marks: dict[str, float]) -> float:
        return self.cash + sum(s * (marks.get(c, self.entry[c]) - self.entry[c]) for c, s in self.size.items())

    def snapshots(self, user: str, ts: int, marks: dict[str, float], margin_type: str) -> list[PositionSnapshot]:
        equity = self.value(marks)
        out = []
        for coin, s in sorted(self.size.items()):
            mark = marks.get(coin, self.entry[coin])
            out.append(PositionSnapshot("hyperliquid", coin, user, ts, ts, s, self.entry[coin], mark, None,
                                        abs(s) * mark / equity if equity > 0 else float("inf"), margin_type,
                                        0.0, abs(s) * mark, equity, None, None, coin))
        return out


@dataclass
class PricePath:
    """Traded prices per coin in time order (for marks and for the crossing test)."""

    ts: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    px: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    user: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def of(cls, fills: Sequence[Fill]) -> PricePath:
        path = cls()
        for f in sorted(fills, key=lambda f: f.ts):
            path.ts[f.coin].append(f.ts)
            path.px[f.coin].append(f.price)
            path.user[f.coin].append(f.user)
        return path

    def mark(self, coin: str, at: int) -> float | None:
        i = bisect.bisect_right(self.ts[coin], at) - 1
        return self.px[coin][i] if i >= 0 else None

    def extremes(self, coin: str, start: int, end: int, exclude: str = "") -> tuple[float, float] | None:
        """(low, high) of the traded prices in ``(start, end]``, without the fills of account ``exclude``."""
        lo, hi = bisect.bisect_right(self.ts[coin], start), bisect.bisect_right(self.ts[coin], end)
        window = [p for p, u in zip(self.px[coin][lo:hi], self.user[coin][lo:hi], strict=True) if u != exclude]
        return (min(window), max(window)) if window else None


@dataclass(frozen=True)
class Explained:
    event: LiquidationEvent
    explained: bool
    rebuilt_notional: float
    positions: int
    liq_prices: dict[str, float | None]
    value_at_event: float
    """The rebuilt account value at the last prices at or before ``T`` (compare ``event.account_value``)."""


def rebuild(fills: Sequence[Fill], ledger: Sequence[Ledger], until: int, users: set[str] | None = None,
            ) -> dict[str, Account]:
    """Every account (or ``users``) after all fills and ledger entries with ``ts < until``."""
    accounts: dict[str, Account] = defaultdict(Account)
    events: list[tuple[int, int, Fill | Ledger]] = [(f.ts, 1, f) for f in fills if f.ts < until]
    events += [(g.ts, 0, g) for g in ledger if g.ts < until]
    for ts, _, ev in sorted(events, key=lambda x: (x[0], x[1])):
        if users is not None and ev.user not in users:
            continue
        acct = accounts[ev.user]
        if isinstance(ev, Fill):
            acct.apply_fill(ev.coin, ev.size, ev.price, ts)
        else:
            acct.cash += ev.delta_usd
            acct.last_ts = ts
    return dict(accounts)


def explain(fills: Sequence[Fill], ledger: Sequence[Ledger], events: Sequence[LiquidationEvent], *,
            mmr_max_leverage: float, window_ms: int, tolerance: float = 0.0) -> list[Explained]:
    """For each liquidation: rebuild the account just before it and test our liquidation prices."""
    path = PricePath.of(fills)
    out: list[Explained] = []
    for ev in events:
        acct = rebuild(fills, ledger, ev.ts, {ev.user}).get(ev.user, Account())
        start = max(acct.last_ts, ev.ts - window_ms)
        marks = {c: path.mark(c, start) or acct.entry[c] for c in acct.size}
        kind = "isolated" if ev.margin_type.lower() == "isolated" else "cross"
        rows = acct.snapshots(ev.user, start, marks, kind)
        if kind == "isolated":  # an isolated liquidation concerns one position: test each on its own
            prices = [account_liquidation_prices([r], default_max_leverage=mmr_max_leverage)[0] for r in rows]
        else:
            prices = account_liquidation_prices(rows, default_max_leverage=mmr_max_leverage)
        hit = False
        for r, liq in zip(rows, prices, strict=True):
            ext = path.extremes(r.symbol, start, ev.ts, exclude=ev.user)
            if liq is None or ext is None:
                continue
            low, high = ext
            hit |= low <= liq * (1 + tolerance) if r.size > 0 else high >= liq * (1 - tolerance)
        at_event = {c: path.mark(c, ev.ts) or acct.entry[c] for c in acct.size}
        out.append(Explained(ev, hit, sum(r.position_value for r in rows), len(rows),
                             {r.symbol: p for r, p in zip(rows, prices, strict=True)}, acct.value(at_event)))
    return out
