"""Per exchange/symbol/bar taker flow aggregated from live trades, so raw trades need not be stored.

What the model needs from trades is the taker buy volume of each bar (``Bar.taker_buy_volume``). Binance's
kline carries it (``V``); the other venues' klines do not. The collector feeds every accepted trade to
:meth:`TakerFlow.add`; when a closed bar without taker buy volume arrives, :meth:`TakerFlow.fill` returns
it with ``taker_buy_volume`` = the summed base quantity of the bar's buy-taker trades::

    taker_buy_volume(bar) = sum(q_i for trades i with bar.ts_event <= ts_i < bar.ts_event + interval
                                and taker_side_i == "buy")

A bar is filled only when the trade stream covered all of it: from the first full bar after the first
trade seen (and again after an outage, :meth:`reset`); otherwise it stays NULL (never a partial sum).
The collector holds such a bar ``taker_grace_s`` (2 s) after its close push before filling it, because
trades of the bar's last moments can arrive after the kline (another channel, another connection); a
trade later than that is not counted.
Sums of bars older than ``keep_bars`` behind the newest trade are dropped (bounded memory).
"""

from __future__ import annotations

import dataclasses

from liqmap.types import Bar, Trade


class TakerFlow:
    def __init__(self, interval_ms: int, keep_bars: int = 30) -> None:
        self.interval_ms = interval_ms
        self.keep_bars = keep_bars
        self._sums: dict[tuple[str, str, int], list[float]] = {}
        """(exchange, symbol, bar open) -> [taker buy volume, volume]."""
        self._since: dict[tuple[str, str], int] = {}
        """(exchange, symbol) -> first bar open fully covered by the trade stream."""
        self._newest: dict[tuple[str, str], int] = {}
        self.filled = 0

    def add(self, trade: Trade) -> None:
        series = (trade.exchange, trade.symbol)
        start = trade.ts_event - trade.ts_event % self.interval_ms
        if series not in self._since:
            self._since[series] = start + self.interval_ms
        sums = self._sums.setdefault((*series, start), [0.0, 0.0])
        if trade.taker_side == "buy":
            sums[0] += trade.quantity
        sums[1] += trade.quantity
        if start > self._newest.get(series, start - 1):
            self._newest[series] = start
            horizon = start - self.keep_bars * self.interval_ms
            for key in [k for k in self._sums if k[:2] == series and k[2] < horizon]:
                del self._sums[key]

    def reset(self, exchange: str, after_ms: int) -> None:
        """Trades of ``exchange`` may be missing before ``after_ms`` (an outage): fill only later bars."""
        first = -(-after_ms // self.interval_ms) * self.interval_ms
        for series in self._since:
            if series[0] == exchange:
                self._since[series] = max(self._since[series], first)

    def volumes(self, exchange: str, symbol: str, bar_open: int) -> tuple[float, float] | None:
        """(taker buy volume, volume) of a fully covered bar, else None."""
        since = self._since.get((exchange, symbol))
        if since is None or bar_open < since:
            return None
        buy, total = self._sums.get((exchange, symbol, bar_open), (0.0, 0.0))
        return buy, total

    def fill(self, bar: Bar) -> Bar:
        if bar.taker_buy_volume is not None or bar.interval_ms != self.interval_ms or bar.market != "perp":
            return bar
        flow = self.volumes(bar.exchange, bar.symbol, bar.ts_event)
        if flow is None:
            return bar
        self.filled += 1
        return dataclasses.replace(bar, taker_buy_volume=flow[0])
