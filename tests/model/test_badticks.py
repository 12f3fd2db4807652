"""Bad ticks (liqmap.model.badticks): a x10 / ÷10 wick in real data is flagged and clipped to the bar's
body, real wicks (including 2025-10-10's crash) are not, and the rule only looks backwards."""

from __future__ import annotations

import csv
import gzip

import numpy as np
import pytest

from liqmap.data.sample import SAMPLE_DIR
from liqmap.model.badticks import clip_bad_ticks, find_bad_ticks, implausible_wicks


def _sample_bars() -> dict[str, np.ndarray]:
    with gzip.open(SAMPLE_DIR / "BTCUSDT-1h-futures.csv.gz", "rt") as fh:
        rows = list(csv.DictReader(fh))
    return {k: np.array([float(r[k]) for r in rows]) for k in ("openTime", "open", "high", "low", "close")}


def test_real_bars_have_no_bad_ticks() -> None:
    b = _sample_bars()
    bad_high, bad_low = implausible_wicks(b["open"], b["high"], b["low"], b["close"])
    assert not bad_high.any() and not bad_low.any()


@pytest.mark.parametrize("position", [100, 1700, 3400])
def test_a_x10_high_and_a_tenth_low_are_clipped_to_the_body(position: int) -> None:
    b = _sample_bars()
    high, low = b["high"].copy(), b["low"].copy()
    high[position] *= 10
    low[position + 7] /= 10
    new_high, new_low, ticks = find_bad_ticks("binance", b["openTime"].astype(np.int64), b["open"], high, low,
                                              b["close"])
    assert [(t.ts, t.field) for t in ticks] == [(int(b["openTime"][position]), "high"),
                                                (int(b["openTime"][position + 7]), "low")]
    assert new_high[position] == max(b["open"][position], b["close"][position])
    assert new_low[position + 7] == min(b["open"][position + 7], b["close"][position + 7])
    assert ticks[0].raw == high[position]
    untouched = np.ones(len(high), dtype=bool)
    untouched[[position, position + 7]] = False
    np.testing.assert_array_equal(new_high[untouched], b["high"][untouched])
    np.testing.assert_array_equal(new_low[untouched], b["low"][untouched])


def test_the_rule_only_looks_backwards() -> None:
    b = _sample_bars()
    high = b["high"].copy()
    high[500] *= 10
    first, _, flags = clip_bad_ticks(b["open"], high, b["low"], b["close"])
    later = high.copy()
    later[501:] *= 1.5  # anything after bar 500 changes
    again, _, flags_again = clip_bad_ticks(b["open"], later, b["low"], b["close"])
    np.testing.assert_array_equal(first[:501], again[:501])
    assert flags[500] and flags_again[500]


def _regime_spot() -> dict[str, np.ndarray]:
    """Binance spot OHLC of the shipped Coinglass regime export, keyed by open time (ms)."""
    with gzip.open(SAMPLE_DIR / "BTC_regime_1h.csv.gz", "rt") as fh:
        rows = list(csv.DictReader(fh))
    return {int(r["timestamp"]): tuple(float(r[f"price_{k}"]) for k in ("open", "high", "low", "close"))
            for r in rows}


def test_a_wick_far_beyond_every_other_venue_is_clipped_to_theirs() -> None:
    from liqmap.model.badticks import cross_venue_extremes

    perp = _sample_bars()
    spot = _regime_spot()
    ts = perp["openTime"].astype(np.int64)
    keep = np.array([int(t) in spot for t in ts])
    assert keep.sum() > 3000
    s = np.array([spot[int(t)] for t in ts[keep]])
    venues = {
        "perp": [perp[k][keep] for k in ("open", "high", "low", "close")],
        "spot": [s[:, i] for i in range(4)],
    }
    venues["perp2"] = [a.copy() for a in venues["perp"]]
    opens, highs, lows, closes = ([v[i] for v in venues.values()] for i in range(4))
    clean_h, clean_l = cross_venue_extremes(opens, highs, lows, closes)
    for before, after in zip(highs + lows, clean_h + clean_l, strict=True):
        np.testing.assert_array_equal(before, after)  # real venues never diverge that far here
    k = 1234
    highs[1] = highs[1].copy()
    highs[1][k] *= 1.15  # spot prints 15 % above everyone in one hour
    new_h, _ = cross_venue_extremes(opens, highs, lows, closes)
    assert new_h[1][k] == max(max(opens[1][k], closes[1][k]), highs[0][k], highs[2][k])
    np.testing.assert_array_equal(np.delete(new_h[1], k), np.delete(highs[1], k))
    np.testing.assert_array_equal(new_h[0], highs[0])
    two_h, _ = cross_venue_extremes(opens[:2], highs[:2], lows[:2], closes[:2])
    np.testing.assert_array_equal(two_h[1], highs[1])  # two venues: no majority, nothing clipped
