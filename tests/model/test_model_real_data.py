"""The model on the shipped real sample (Binance BTCUSDT 1h perp bars + Coinglass Binance OI, 2026-01..05).

Sanity properties with an independent reason, not fitted numbers: modelled long liquidations must follow
price drops and realized long liquidations (Coinglass, Binance+Bybit+OKX), not rises or short ones; and
the other way round for shorts.
"""

from __future__ import annotations

import gzip
from importlib import resources

import numpy as np
import pytest

from liqmap.model import MarketFrame, ModelConfig, compute_heatmap

SAMPLE = resources.files("liqmap").joinpath("data", "sample")
CONFIG = ModelConfig(
    leverage=(10.0, 25.0, 50.0, 100.0), leverage_weights=(1.0, 1.0, 1.0, 1.0), entry="typical", side="taker",
    turnover=0.0, above_max_leverage="cap",
)


def _read(name: str, columns: tuple[int, ...]) -> np.ndarray:
    path = SAMPLE.joinpath(name)
    if not path.is_file():
        pytest.skip(f"shipped sample {name} not present")
    with path.open("rb") as raw, gzip.open(raw, "rt") as fh:
        return np.genfromtxt(fh, delimiter=",", skip_header=1, usecols=columns)


def _rank_corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.argsort(np.argsort(a)), np.argsort(np.argsort(b)))[0, 1])


@pytest.fixture(scope="module")
def sample() -> tuple[MarketFrame, np.ndarray, np.ndarray]:
    k = _read("BTCUSDT-1h-futures.csv.gz", (0, 1, 2, 3, 4, 5, 7, 9))
    r = _read("BTC_regime_1h.csv.gz", (0, 6, 7, 16))
    by_ts = {int(t): row for t, row in zip(r[:, 0], r[:, 1:], strict=True)}
    ts = k[:, 0].astype(np.int64)
    rows = np.array([by_ts.get(int(t), (np.nan, np.nan, np.nan)) for t in ts])
    frame = MarketFrame(
        "binance", "BTC", 3_600_000, ts, k[:, 1], k[:, 2], k[:, 3], k[:, 4], k[:, 5], rows[:, 2],
        taker_buy_volume=k[:, 7], quote_volume=k[:, 6],
    )
    return frame, rows[:, 0], rows[:, 1]


def test_modelled_liquidations_follow_the_right_side_of_real_ones(sample) -> None:
    frame, real_long, real_short = sample
    hm = compute_heatmap([frame], CONFIG, n_bins=400)
    assert np.isfinite(hm.long).all() and (hm.long >= 0).all()
    known = np.isfinite(real_long) & np.isfinite(real_short)
    long_long = _rank_corr(hm.swept_long[known], real_long[known])
    long_short = _rank_corr(hm.swept_long[known], real_short[known])
    short_short = _rank_corr(hm.swept_short[known], real_short[known])
    short_long = _rank_corr(hm.swept_short[known], real_long[known])
    assert long_long > 0.3 and long_long > long_short + 0.2
    assert short_short > 0.3 and short_short > short_long + 0.2


def test_modelled_long_liquidations_come_with_drops_and_shorts_with_rises(sample) -> None:
    frame, _, _ = sample
    hm = compute_heatmap([frame], CONFIG, n_bins=400)
    drop = (frame.open - frame.low) / frame.open
    rise = (frame.high - frame.open) / frame.open
    assert _rank_corr(hm.swept_long, drop) > 0.3 > _rank_corr(hm.swept_long, rise)
    assert _rank_corr(hm.swept_short, rise) > 0.3 > _rank_corr(hm.swept_short, drop)
