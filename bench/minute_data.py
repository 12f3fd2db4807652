"""Five venues of 1-minute bars for the benches, built from real 1-minute klines (deterministic).

Source: the exact data.binance.vision USD-M monthly 1-minute kline files of AVAXUSDT, NEARUSDT and
FILUSDT for 2026-06 (43,200 bars each), copied into ``bench/data/`` (the benches never read
``/work/shared``). One long series is made by chaining the months (each month's prices divided by its
first open and multiplied by the previous month's last close, so the series is continuous; AVAX, NEAR,
FIL, AVAX, ... for more than 90 days) and rescaled to a BTC-like price (60,000 at the start), so the
candles' shapes, wicks, volumes and taker flow are real 1-minute data. The klines carry no open
interest: OI is generated deterministically from them (a slow random walk driven by the real taker
imbalance, ~$1.5bn on the first venue).

The five venues are deterministic variants of that series: venue ``v`` has its prices multiplied by
``1 + 2e-4 (v - 2)`` (a small basis between venues) and its volumes and OI scaled by
``(1.0, 0.6, 0.45, 0.3, 0.2)[v]``.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from liqmap.store import Store

MINUTE = 60_000
DAY = 86_400_000
DATA = Path(__file__).resolve().parent / "data"
MONTHS = ("AVAXUSDT", "NEARUSDT", "FILUSDT")
VENUES = ("binance", "bybit", "okx", "bitget", "gate")
SCALES = (1.0, 0.6, 0.45, 0.3, 0.2)
START_PRICE = 60_000.0


def _month(name: str) -> np.ndarray:
    """(open, high, low, close, volume, quote_volume, taker_buy_volume) rows of one month file."""
    with gzip.open(DATA / f"{name}-1m-2026-06.csv.gz", "rt") as fh:
        rows = np.genfromtxt(fh, delimiter=",", skip_header=1, usecols=(1, 2, 3, 4, 5, 7, 9))
    return rows


def chained(n: int) -> dict[str, np.ndarray]:
    """``n`` continuous 1-minute bars (open, high, low, close, volume, quote_volume, taker_buy_volume, oi)."""
    parts = []
    level = START_PRICE
    i = 0
    total = 0
    while total < n:
        rows = _month(MONTHS[i % len(MONTHS)]).copy()
        factor = level / rows[0, 0]
        rows[:, :4] *= factor
        rows[:, 4] /= factor  # base volume in the rescaled coin (USD volume unchanged)
        rows[:, 6] /= factor
        level = rows[-1, 3]
        parts.append(rows)
        total += len(rows)
        i += 1
    rows = np.concatenate(parts)[:n]
    with np.errstate(invalid="ignore", divide="ignore"):
        imbalance = np.nan_to_num(rows[:, 6] / rows[:, 4] - 0.5)
    oi = 1.5e9 * np.exp(np.cumsum(0.004 * imbalance + np.sin(np.arange(n) / 2_000.0) * 1e-5))
    names = ("open", "high", "low", "close", "volume", "quote_volume", "taker_buy_volume")
    out = {name: rows[:, j] for j, name in enumerate(names)}
    out["oi"] = oi
    return out


def venue_series(n: int, venues: int = 5) -> list[tuple[str, dict[str, np.ndarray]]]:
    """Per venue: its name and its bars (the deterministic variants of :func:`chained`)."""
    base = chained(n)
    out = []
    for v in range(venues):
        price = 1.0 + 2e-4 * (v - 2)
        scale = SCALES[v]
        out.append((VENUES[v], {
            "open": base["open"] * price, "high": base["high"] * price, "low": base["low"] * price,
            "close": base["close"] * price, "volume": base["volume"] * scale,
            "quote_volume": base["quote_volume"] * scale * price, "taker_buy_volume": base["taker_buy_volume"] * scale,
            "oi": base["oi"] * scale,
        }))
    return out


def minute_frames(days: int, venues: int = 5, start_ms: int = 1_780_272_000_000) -> list[Any]:
    """MarketFrames of ``days`` x 1-minute bars on ``venues`` venues (OI at every bar)."""
    from liqmap.model import MarketFrame

    n = days * 1440
    ts = start_ms + MINUTE * np.arange(n, dtype=np.int64)
    return [
        MarketFrame(exchange=name, symbol="BTC", interval_ms=MINUTE, ts=ts, open=s["open"], high=s["high"],
                    low=s["low"], close=s["close"], volume=s["volume"], oi_usd=s["oi"],
                    taker_buy_volume=s["taker_buy_volume"], quote_volume=s["quote_volume"],
                    oi_source="generated from the real taker imbalance (bench)")
        for name, s in venue_series(n, venues)
    ]


def write_store(store: Store, days: int, end_ms: int, venues: int = 5, oi_every: int = 5) -> None:
    """The venues' 1-minute bars ending at ``end_ms`` and their OI every ``oi_every`` minutes into ``store``."""
    n = days * 1440
    ts = end_ms - n * MINUTE + np.arange(n, dtype=np.int64) * MINUTE
    for name, s in venue_series(n, venues):
        text = np.full(n, name, dtype=object)
        store.write_columns("bars", {
            "exchange": text, "symbol": np.full(n, "BTC", dtype=object), "interval_ms": np.full(n, MINUTE),
            "ts_event": ts, "open": s["open"], "high": s["high"], "low": s["low"], "close": s["close"],
            "volume": s["volume"], "ts_recv": ts + MINUTE, "quote_volume": s["quote_volume"],
            "taker_buy_volume": s["taker_buy_volume"], "trades": np.full(n, 100),
            "market": np.full(n, "perp", dtype=object), "venue_symbol": np.full(n, "BTCUSDT", dtype=object),
        })
        at = np.arange(oi_every - 1, n, oi_every)
        m = len(at)
        store.write_columns("open_interest", {
            "exchange": np.full(m, name, dtype=object), "symbol": np.full(m, "BTC", dtype=object),
            "ts_event": ts[at] + MINUTE, "ts_recv": ts[at] + MINUTE, "oi_base": s["oi"][at] / s["close"][at],
            "oi_usd": s["oi"][at], "venue_symbol": np.full(m, "BTCUSDT", dtype=object),
        })
