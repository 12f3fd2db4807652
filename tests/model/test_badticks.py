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


def _cross_venue_full(opens: list[np.ndarray], highs: list[np.ndarray], lows: list[np.ndarray],
                      closes: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The rule of cross_venue_extremes on every bar at once (its code before it screened the bars)."""
    from liqmap.model.badticks import CROSS_VENUE_LOG

    n = len(highs)
    out_hi, out_lo = [], []
    for i in range(n):
        others_hi = np.max([highs[j] for j in range(n) if j != i], axis=0)
        others_lo = np.min([lows[j] for j in range(n) if j != i], axis=0)
        body_hi, body_lo = np.maximum(opens[i], closes[i]), np.minimum(opens[i], closes[i])
        with np.errstate(divide="ignore", invalid="ignore"):
            bad_hi = (np.log(highs[i] / others_hi) > CROSS_VENUE_LOG) & (np.log(highs[i] / body_hi) > CROSS_VENUE_LOG)
            bad_lo = (np.log(others_lo / lows[i]) > CROSS_VENUE_LOG) & (np.log(body_lo / lows[i]) > CROSS_VENUE_LOG)
        out_hi.append(np.where(bad_hi, np.maximum(body_hi, others_hi), highs[i]))
        out_lo.append(np.where(bad_lo, np.minimum(body_lo, others_lo), lows[i]))
    return out_hi, out_lo


@pytest.mark.parametrize("seed", range(20))
def test_cross_venue_screened_equals_the_rule_on_every_bar(seed: int) -> None:
    """Random venues with wicks of 0-40 % (near the 10 % limits), NaN and zero lows: the screened clip
    returns the same arrays and the same ticks as the rule evaluated on every bar."""
    from liqmap.model.badticks import changed, cross_venue_clip, cross_venue_extremes
    from liqmap.model.frame import MarketFrame

    rng = np.random.default_rng(seed)
    n, venues = 3000, 3 + seed % 3
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    opens, highs, lows, closes = [], [], [], []
    for _ in range(venues):
        o, c = close * np.exp(rng.normal(0, 0.001, n)), close * np.exp(rng.normal(0, 0.001, n))
        up = np.where(rng.random(n) < 0.05, rng.uniform(0, 0.4, n), rng.uniform(0, 0.002, n))
        down = np.where(rng.random(n) < 0.05, rng.uniform(0, 0.3, n), rng.uniform(0, 0.002, n))
        h, lo = np.maximum(o, c) * np.exp(up), np.minimum(o, c) * np.exp(-down)
        h[rng.random(n) < 0.01] = np.nan
        lo[rng.random(n) < 0.01] = np.nan
        lo[rng.random(n) < 0.002] = 0.0
        for values, out in ((o, opens), (h, highs), (lo, lows), (c, closes)):
            out.append(values)
    want_h, want_l = _cross_venue_full(opens, highs, lows, closes)
    got_h, got_l = cross_venue_extremes(opens, highs, lows, closes)
    for got, want in zip(got_h + got_l, want_h + want_l, strict=True):
        np.testing.assert_array_equal(got, want)
    assert any(not np.array_equal(w, h, equal_nan=True) for w, h in zip(want_h, highs, strict=True))
    ts = 60_000 * np.arange(n)
    # frames hold no missing or zero prices: those bars take their body's
    highs = [np.where(np.isfinite(h), h, np.maximum(o, c)) for o, h, c in zip(opens, highs, closes, strict=True)]
    lows = [np.where(lo > 0, lo, np.minimum(o, c)) for o, lo, c in zip(opens, lows, closes, strict=True)]
    want_h, want_l = _cross_venue_full(opens, highs, lows, closes)
    frames = [MarketFrame(f"v{i}", "BTC", 60_000, ts, opens[i], highs[i], lows[i], closes[i], np.ones(n),
                          np.full(n, 1e9)) for i in range(venues)]
    clipped, ticks = cross_venue_clip(frames)
    want_ticks = [t for i, f in enumerate(frames)
                  for t in changed(f.exchange, ts, (f.high, want_h[i]), (f.low, want_l[i]))]
    assert ticks == want_ticks and ticks
    for f, g, h, lo in zip(frames, clipped, want_h, want_l, strict=True):
        np.testing.assert_array_equal(g.high, h)
        np.testing.assert_array_equal(g.low, lo)
        assert (g is f) == (not any(t.exchange == f.exchange for t in ticks))
