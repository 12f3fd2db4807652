"""compute_heatmap on small scenarios whose every number is computed by hand in the test."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from model_frames import frame

from liqmap.errors import BadSeriesError, ConfigError
from liqmap.model import Heatmap, MarketFrame, ModelConfig, compute_heatmap
from liqmap.types import HOUR_MS

# One 10x tier, no maintenance margin, entry at the close, half long / half short, no turnover:
# a long entered at 100 sits at 90, a short at 110.
BASE = ModelConfig(
    leverage=(10.0,),
    leverage_weights=(1.0,),
    entry="close",
    side="symmetric",
    flat_mmr=0.0,
    close_rule="proportional",
    decay_half_life_hours=None,
    turnover=0.0,
    diffuse_share=0.0,
    age_buckets_hours=(4.0, 24.0, 168.0),
)
EDGES = np.arange(80.0, 125.0, 5.0)  # bins [80,85) [85,90) [90,95) ... [115,120]


def at(heatmap: Heatmap, side: str, k: int, price: float) -> float:
    """USD in the bin containing ``price`` at column ``k``."""
    b = int(np.searchsorted(heatmap.price_edges, price, side="right") - 1)
    return float(getattr(heatmap, side)[k, b])


def test_oi_increase_opens_both_sides_and_a_later_low_sweeps_the_longs() -> None:
    f = frame([100, 100, 100, 95, 89], [1000, 1600, 1600, 1600, 1600])
    hm = compute_heatmap([f], BASE, price_edges=EDGES)
    # bar 1: +600 -> 300 long at 90, 300 short at 110
    assert at(hm, "long", 1, 90) == pytest.approx(300) and at(hm, "short", 1, 110) == pytest.approx(300)
    assert hm.long[0].sum() == 0 and hm.short[0].sum() == 0  # bar 0: no earlier OI, nothing added
    # bar 3's low 95 misses 90; bar 4's low 89 sweeps the longs: 300 liquidated in bar 4
    assert at(hm, "long", 3, 90) == pytest.approx(300)
    assert hm.swept_long.tolist() == pytest.approx([0, 0, 0, 0, 300])
    assert hm.long[4].sum() == 0 and at(hm, "short", 4, 110) == pytest.approx(300)
    assert hm.swept_short.sum() == 0


def test_a_level_touched_exactly_is_swept_and_the_entry_bar_never_sweeps_its_own_positions() -> None:
    # bar 1 opens positions and its own low (85) is below their level (90): they survive bar 1
    f = frame([100, 100, 100], [1000, 1600, 1600], low=[100, 85, 90], high=[100, 100, 100])
    hm = compute_heatmap([f], BASE, price_edges=EDGES)
    assert at(hm, "long", 1, 90) == pytest.approx(300)
    assert hm.swept_long.tolist() == pytest.approx([0, 0, 300])  # bar 2's low == 90 touches the level


def test_shorts_are_swept_by_the_high() -> None:
    f = frame([100, 100, 108], [1000, 1600, 1600], high=[100, 100, 110.001])  # level 100 x 1.1 (float: 110.00000000000001)
    hm = compute_heatmap([f], BASE, price_edges=EDGES)
    assert hm.swept_short.tolist() == pytest.approx([0, 0, 300]) and hm.short[2].sum() == 0


def test_oi_decrease_shrinks_every_position_proportionally() -> None:
    f = frame([100, 100, 100, 100], [1000, 1600, 1200, 1500])
    hm = compute_heatmap([f], BASE, price_edges=EDGES)
    # bar 2: f = 1 - 1200/1600 = 25 % -> 225 each side; bar 3: +300 -> +150 each side at the same levels
    assert at(hm, "long", 2, 90) == pytest.approx(225)
    assert at(hm, "long", 3, 90) == pytest.approx(375)
    none = compute_heatmap([f], replace(BASE, close_rule="none"), price_edges=EDGES)
    assert at(none, "long", 2, 90) == pytest.approx(300) and at(none, "long", 3, 90) == pytest.approx(450)


def test_bars_without_oi_add_and_remove_nothing() -> None:
    f = frame([100, 100, 100, 100, 100], [1000, np.nan, 1600, np.nan, 1200])
    hm = compute_heatmap([f], BASE, price_edges=EDGES)
    assert hm.long[1].sum() == 0
    # bar 2 is compared with the last known OI (1000): +600
    assert at(hm, "long", 2, 90) == pytest.approx(300) and at(hm, "long", 3, 90) == pytest.approx(300)
    # bar 4 compared with 1600: -25 %
    assert at(hm, "long", 4, 90) == pytest.approx(225)


def test_age_decay_halves_positions_every_half_life() -> None:
    f = frame([100] * 4, [1000, 1600, 1600, 1600])
    hm = compute_heatmap([f], replace(BASE, decay_half_life_hours=2.0), price_edges=EDGES)
    assert [at(hm, "long", k, 90) for k in (1, 2, 3)] == pytest.approx([300, 300 / 2**0.5, 150])


@pytest.mark.parametrize(
    ("side_kwargs", "taker_buy", "funding", "close", "long_usd"),
    [
        ({"side": "symmetric"}, None, None, 100, 300),
        # taker share 0.8, weight 1 -> 80 % long; weight 0.5 -> 0.5 x 0.5 + 0.5 x 0.8 = 65 %
        ({"side": "taker", "taker_weight": 1.0}, 0.8, None, 100, 480),
        ({"side": "taker", "taker_weight": 0.5}, 0.8, None, 100, 390),
        ({"side": "taker", "taker_weight": 0.0}, 0.8, None, 100, 300),
        # candle colour: green -> all long, red -> all short, doji -> half
        ({"side": "candle"}, None, None, 101, 600),
        ({"side": "candle"}, None, None, 99, 0),
        # funding 1e-4, tilt 0.2: 0.5 + 0.2 tanh(1) = 0.652319
        ({"side": "funding", "funding_tilt": 0.2}, None, 1e-4, 100, 600 * (0.5 + 0.2 * np.tanh(1.0))),
        ({"side": "funding", "funding_tilt": 0.2}, None, -1e-4, 100, 600 * (0.5 - 0.2 * np.tanh(1.0))),
    ],
)
def test_long_short_split_rules(
    side_kwargs: dict, taker_buy: float | None, funding: float | None, close: float, long_usd: float
) -> None:
    f = frame(
        [100, close],
        [1000, 1600],
        open_=[100, 100],
        volume=[10.0, 10.0],
        taker_buy=[5.0, 10.0 * taker_buy] if taker_buy is not None else None,
        funding=[0.0, funding] if funding is not None else None,
    )
    hm = compute_heatmap([f], replace(BASE, **side_kwargs), price_edges=np.linspace(50, 150, 201))
    assert hm.long[1].sum() == pytest.approx(long_usd)
    assert hm.short[1].sum() == pytest.approx(600 - long_usd)


def test_unknown_taker_flow_or_zero_volume_counts_as_even() -> None:
    f = frame([100, 100], [1000, 1600], volume=[1.0, 0.0], taker_buy=[0.0, 0.0])
    hm = compute_heatmap([f], replace(BASE, side="taker", taker_weight=1.0), price_edges=EDGES)
    assert hm.long[1].sum() == pytest.approx(300)


@pytest.mark.parametrize(
    ("entry", "extra", "expected_entries"),
    [
        ("close", {}, [101.0]),
        ("typical", {}, [(104 + 96 + 101) / 3]),
        ("ohlc4", {}, [(99 + 104 + 96 + 101) / 4]),
        ("vwap", {"quote_volume": [1000.0, 1020.0]}, [102.0]),  # 1,020 / 10 inside [96, 104]
        ("vwap", {"quote_volume": [1000.0, 2000.0]}, [(104 + 96 + 101) / 3]),  # 200 outside: typical
        ("range", {}, [96.0, 100.0, 104.0]),  # 3 points from low to high, 1/3 each
        # quantiles 1/6, 1/2, 5/6 of the triangular law on [96, 104] with mode 101 (F(101) = 5/8):
        # 96 + sqrt(u * 8 * 5) below 5/8, 104 - sqrt((1 - u) * 8 * 3) above
        ("triangular", {}, [96 + (40 / 6) ** 0.5, 96 + 20**0.5, 104 - (24 / 6) ** 0.5]),
    ],
)
def test_entry_price_rules(entry: str, extra: dict, expected_entries: list[float]) -> None:
    f = frame(
        [100, 101], [1000, 1600], open_=[100, 99], high=[100, 104], low=[100, 96], volume=[10.0, 10.0], **extra
    )
    config = replace(BASE, entry=entry, entry_points=3)
    edges = np.linspace(50, 150, 100_001)  # 0.001 wide
    hm = compute_heatmap([f], config, price_edges=edges)
    centers = hm.price_centers
    long_prices = centers[hm.long[1] > 0]
    assert long_prices == pytest.approx([0.9 * e for e in expected_entries], abs=1e-3)
    assert hm.long[1][hm.long[1] > 0] == pytest.approx([300 / len(expected_entries)] * len(expected_entries))
    assert centers[hm.short[1] > 0] == pytest.approx([1.1 * e for e in expected_entries], abs=1e-3)


TWO_TIERS = replace(BASE, leverage=(10.0, 20.0), leverage_weights=(3.0, 1.0), age_buckets_hours=(2.0,))


def test_leverage_weights_split_new_notional_and_filters_select_tiers() -> None:
    f = frame([100, 100, 100], [1000, 1800, 1800])
    hm = compute_heatmap([f], TWO_TIERS, price_edges=EDGES)
    # 800 new -> 400 long: 300 at 10x (90), 100 at 20x (95)
    assert at(hm, "long", 1, 90) == pytest.approx(300) and at(hm, "long", 1, 95) == pytest.approx(100)
    ten = compute_heatmap([f], TWO_TIERS, price_edges=EDGES, leverage=[10])
    twenty = compute_heatmap([f], TWO_TIERS, price_edges=EDGES, leverage=[20.0])
    assert ten.leverage == (10.0,) and twenty.leverage == (20.0,)
    np.testing.assert_allclose(ten.long + twenty.long, hm.long)
    assert at(ten, "long", 1, 95) == 0 and at(twenty, "long", 1, 90) == 0


def test_age_buckets_move_positions_as_they_age() -> None:
    f = frame([100] * 5, [1000, 1600, 1600, 1600, 1600])
    young = compute_heatmap([f], TWO_TIERS, price_edges=EDGES, ages=["<2h"])
    old = compute_heatmap([f], TWO_TIERS, price_edges=EDGES, ages=[">2h"])
    # born in bar 1: age 0 h at column 1, 1 h at column 2, 2 h from column 3 on
    assert young.long.sum(axis=1).tolist() == pytest.approx([0, 300, 300, 0, 0])
    assert old.long.sum(axis=1).tolist() == pytest.approx([0, 0, 0, 300, 300])
    assert young.ages == ("<2h",) and old.ages == (">2h",)
    by_index = compute_heatmap([f], TWO_TIERS, price_edges=EDGES, ages=[1])
    np.testing.assert_allclose(by_index.long, old.long)


def test_swept_is_attributed_to_the_age_bucket_the_position_was_in() -> None:
    # born bar 1, swept in bar 3 (age 1 h at the start of bar 3): counted as "<2h"
    f = frame([100, 100, 100, 89], [1000, 1600, 1600, 1600])
    young = compute_heatmap([f], TWO_TIERS, price_edges=EDGES, ages=["<2h"])
    old = compute_heatmap([f], TWO_TIERS, price_edges=EDGES, ages=[">2h"])
    assert young.swept_long.tolist() == pytest.approx([0, 0, 0, 300])  # both tiers (90 and 95) go in bar 3
    assert old.swept_long.sum() == 0


def test_max_columns_keeps_the_state_after_each_columns_last_bar() -> None:
    f = frame([100, 100, 98, 100, 89, 95, 100, 111], [1000, 1600, 1700, 1700, 1700, 1800, 1800, 1800])
    fine = compute_heatmap([f], BASE, price_edges=EDGES)
    coarse = compute_heatmap([f], BASE, price_edges=EDGES, max_columns=4)
    assert coarse.interval_ms == 2 * HOUR_MS
    assert coarse.times.tolist() == [0, 2 * HOUR_MS, 4 * HOUR_MS, 6 * HOUR_MS]
    np.testing.assert_allclose(coarse.long, fine.long[[1, 3, 5, 7]])
    np.testing.assert_allclose(coarse.short, fine.short[[1, 3, 5, 7]])
    np.testing.assert_allclose(coarse.swept_long, fine.swept_long.reshape(4, 2).sum(axis=1))
    np.testing.assert_allclose(coarse.swept_short, fine.swept_short.reshape(4, 2).sum(axis=1))
    c = coarse.candles
    assert c["open"].tolist() == [100, 100, 100, 95]
    assert c["close"].tolist() == [100, 100, 95, 111]
    assert c["high"].tolist() == [100, 100, 100, 111] and c["low"].tolist() == [100, 98, 89, 95]
    assert c["volume"].tolist() == [2.0, 2.0, 2.0, 2.0]


def test_exchanges_are_summed_and_a_frame_that_ends_early_holds_its_last_state() -> None:
    a = frame([100, 100, 100, 100], [1000, 1600, 1600, 1600], exchange="binance")
    b = frame([100, 100], [500, 700], exchange="okx", start=HOUR_MS)  # bars 1-2 only
    both = compute_heatmap([a, b], BASE, price_edges=EDGES)
    assert both.exchanges == ("binance", "okx")
    # okx adds 100 long at bar 2 and holds it through bar 3
    assert [at(both, "long", k, 90) for k in range(4)] == pytest.approx([0, 300, 400, 400])
    assert both.candles["volume"].tolist() == [1, 2, 2, 1]


def test_the_notes_say_which_brackets_produced_the_levels() -> None:
    f = frame([100, 100], [1000, 1600])
    hm = compute_heatmap([f], replace(BASE, flat_mmr=None, leverage=(10.0,)), price_edges=EDGES)
    assert hm.notes and hm.notes[0].startswith("binance BTCUSDT brackets")


def test_default_grid_spans_the_prices_with_a_margin() -> None:
    f = frame([100, 120], [1000, 1600])
    hm = compute_heatmap([f], BASE, n_bins=10)
    assert len(hm.price_edges) == 11
    assert hm.price_edges[0] == pytest.approx(100 / 1.15) and hm.price_edges[-1] == pytest.approx(120 * 1.15)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"price_edges": [100.0, 90.0, 110.0]}, "strictly increasing"),
        ({"price_edges": [100.0]}, "at least 2"),
        ({"price_edges": [-1.0, 10.0]}, "finite and positive"),
        ({"n_bins": 0}, "n_bins"),
        ({"leverage": [33]}, "33x is not a model tier"),
        ({"leverage": []}, "selects no tier"),
        ({"ages": ["ancient"]}, "unknown age bucket 'ancient'"),
        ({"ages": [7]}, "unknown age bucket 7"),
        ({"max_columns": 0}, "max_columns"),
    ],
)
def test_impossible_parameters_are_refused(kwargs: dict, message: str) -> None:
    f = frame([100, 100], [1000, 1600])
    with pytest.raises(ConfigError, match=message):
        compute_heatmap([f], BASE, **kwargs)


def test_incompatible_frames_are_refused() -> None:
    a = frame([100, 100], [1000, 1600])
    with pytest.raises(ConfigError, match="one symbol per heatmap"):
        compute_heatmap([a, frame([100, 100], [1, 2], symbol="ETH", exchange="okx")], BASE)
    with pytest.raises(ConfigError, match="interval"):
        compute_heatmap([a, frame([100, 100], [1, 2], exchange="okx", interval_ms=60_000)], BASE)
    with pytest.raises(ConfigError, match="appears twice"):
        compute_heatmap([a, a], BASE)
    with pytest.raises(ConfigError, match="at least one"):
        compute_heatmap([], BASE)
    with pytest.raises(BadSeriesError, match="not aligned"):
        compute_heatmap([a, frame([100, 100], [1, 2], exchange="okx", start=1_000)], BASE)
    with pytest.raises(BadSeriesError, match="leave a gap"):
        compute_heatmap([a, frame([100, 100], [1, 2], exchange="okx", start=5 * HOUR_MS)], BASE)


def test_a_grid_too_large_for_memory_asks_for_max_columns() -> None:
    n = 3000
    f = frame([100.0] * n, [1000.0] * n)
    with pytest.raises(ConfigError, match="max_columns"):
        compute_heatmap([f], BASE, n_bins=50_000)


@pytest.mark.parametrize("field", ["side", "entry", "close_rule", "above_max_leverage"])
def test_unknown_rule_names_are_refused(field: str) -> None:
    f = frame([100, 100], [1000, 1600])
    with pytest.raises(ConfigError, match=f"{field}: unknown rule 'bogus'"):
        compute_heatmap([f], replace(BASE, **{field: "bogus"}), price_edges=EDGES)


def test_swept_includes_the_same_bar_liquidations_of_positions_opened_in_the_bar() -> None:
    # $1,000 of volume per bar, OI $10,000 throughout; turnover 0.5 -> 5 % of the book turns over per bar
    f = frame([100, 100, 100], [10_000, 10_000, 10_000], high=[100, 100, 111], low=[100, 100, 90],
              open_=[100, 100, 100], volume=[10.0, 10.0, 10.0])
    config = replace(BASE, entry="range", turnover=0.5, intrabar_path=0.5)
    hm = compute_heatmap([f], config, price_edges=EDGES)
    # bar 1: 500 opens at 100 (a flat bar has one entry point): 250 long at 90, 250 short at 110.
    # bar 2 sweeps both (low 90 <= 90, high 111 >= 110) and adds the same-bar term: expected new notional
    # 0.5 x mean volume of bars 0-1 ($1,000) / OI $10,000 x $10,000 = 500, half per side, times
    # intrabar_path 0.5, times the chance that an entry uniform in [90, 111] is liquidated inside the bar:
    # long e x 0.9 >= 90 -> (111 - 100) / 21; short e x 1.1 <= 111 -> (111 / 1.1 - 90) / 21.
    assert hm.swept_long.tolist() == pytest.approx([0, 0, 250 + 125 * 11 / 21])
    assert hm.swept_short.tolist() == pytest.approx([0, 0, 250 + 125 * (111 / 1.1 - 90) / 21])
    # the same-bar positions are age 0: an age filter without the first bucket leaves only the book's sweep
    old = compute_heatmap([f], config, price_edges=EDGES, ages=[1, 2, 3])
    assert old.swept_long.sum() == 0 and old.swept_short.sum() == 0


def test_same_bar_term_scales_the_expected_volume_with_the_bars_range() -> None:
    from liqmap.model.intrabar import intrabar_swept, range_ratio

    # relative ranges 2 %, 4 %, then 21 %: bar 2's range is 21 / mean(2, 4) = 7x the recent mean
    f = frame([100, 100, 100], [10_000, 10_000, 10_000], high=[101, 102, 111], low=[99, 98, 90],
              open_=[100, 100, 100], volume=[10.0, 10.0, 10.0])
    ratio = range_ratio(f)
    assert ratio.tolist() == pytest.approx([1.0, 4 / 2, 21 / 3])  # the first bar has no history: 1
    ratios = np.array([[0.9], [1.1]])  # 10x, no maintenance margin
    off = intrabar_swept(replace(BASE, turnover=0.05, intrabar_path=0.5, intrabar_range_exponent=0.0), f, ratios)
    for gamma in (0.5, 1.0, 2.0):
        on = intrabar_swept(replace(BASE, turnover=0.05, intrabar_path=0.5, intrabar_range_exponent=gamma), f, ratios)
        # tau stays under its 0.9 cap here (0.05 x ~$1,000 x 7^gamma / $10,000), so the term scales by x^gamma
        assert on[0][2] == pytest.approx(off[0][2] * 7.0**gamma)
        assert on[1][2] == pytest.approx(off[1][2] * 7.0**gamma)
    # by hand, gamma 1: N = 0.05 x mean volume of bars 0-1 x 7 = 0.05 x 1000 x 7 = 350 (mean USD volume: 10 x
    # the typical price 100), half per side, times 0.5, times (111 - 90 / 0.9) / 21 for longs
    on = intrabar_swept(replace(BASE, turnover=0.05, intrabar_path=0.5, intrabar_range_exponent=1.0), f, ratios)
    assert on[0][2] == pytest.approx(350 * 0.5 * 0.5 * 11 / 21)


def test_flat_history_leaves_the_range_ratio_at_one() -> None:
    from liqmap.model.intrabar import range_ratio

    f = frame([100, 100, 100], [10_000, 10_000, 10_000], high=[100, 100, 111], low=[100, 100, 90],
              open_=[100, 100, 100], volume=[10.0, 10.0, 10.0])
    assert range_ratio(f).tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("n", [0, 1, 5, 24, 25, 26, 300])
def test_trailing_sums_equal_the_running_sum_differences_bit_for_bit(n: int) -> None:
    from liqmap.model.intrabar import trailing_sums

    values = np.random.default_rng(n).lognormal(3.0, 2.0, n)
    values[::7] = 0.0
    csum = np.concatenate(([0.0], np.cumsum(values)))
    i = np.arange(n)
    want = csum[i] - csum[np.maximum(0, i - 24)]  # the sum of the 24 values before each one
    got = trailing_sums(values, 24)
    assert got.tobytes() == want.tobytes()
    assert got[24:].tolist() == pytest.approx([values[j - 24 : j].sum() for j in range(24, n)], rel=1e-12)
    assert got[:24].tolist() == pytest.approx([values[:j].sum() for j in range(min(n, 24))], rel=1e-12)


def test_range_entries_are_at_least_entry_spacing_apart() -> None:
    # range 96..104 around a mid of 100 = 8 %: spacing 2 % -> 1 + floor(8 / 2) = 5 points, 3 % -> 3 points
    f = frame([100, 101], [1000, 1600], open_=[100, 99], high=[100, 104], low=[100, 96], volume=[10.0, 10.0])
    edges = np.linspace(50, 150, 100_001)
    for spacing, entries in ((0.02, [96, 98, 100, 102, 104]), (0.03, [96, 100, 104]), (0.2, [100])):
        config = replace(BASE, entry="range", entry_points=9, entry_spacing=spacing)
        hm = compute_heatmap([f], config, price_edges=edges)
        assert hm.price_centers[hm.long[1] > 0] == pytest.approx([0.9 * e for e in entries], abs=1e-3)
        assert hm.long[1][hm.long[1] > 0] == pytest.approx([300 / len(entries)] * len(entries))


def test_the_diffuse_layer_adds_its_share_of_oi_in_proportion_to_the_move_within_its_band() -> None:
    # OI 10,000 known before bars 1 and 2; 1 % of it (50 per side) spread evenly within 5 % of price
    f = frame([100, 98, 110], [10_000, 10_000, 10_000], open_=[100, 100, 100], high=[100, 100, 110],
              low=[100, 98, 100])
    config = replace(BASE, diffuse_share=0.01, diffuse_band=0.05)
    hm = compute_heatmap([f], config, price_edges=EDGES)
    # bar 1 falls 2 % of its open: 2/5 of the long band; bar 2 rises 10 % > 5 %: the whole short band
    assert hm.swept_long.tolist() == pytest.approx([0, 50 * 0.4, 0])
    assert hm.swept_short.tolist() == pytest.approx([0, 0, 50])
    assert hm.long.sum() == 0 and hm.short.sum() == 0  # not drawn: no OI increase, no turnover
    # positions of unknown entry count in the oldest age bucket only
    young = compute_heatmap([f], config, price_edges=EDGES, ages=["<4h"])
    assert young.swept_long.sum() == 0 and young.swept_short.sum() == 0


@pytest.mark.parametrize("gamma", [-0.5, 4.5])
def test_intrabar_range_exponent_out_of_range_is_refused(gamma: float) -> None:
    with pytest.raises(ConfigError, match="intrabar_range_exponent"):
        replace(BASE, intrabar_range_exponent=gamma)


def test_the_residue_pass_by_halves_on_two_threads_equals_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from liqmap.model import engine
    from liqmap.model.kernel import kernel

    rng = np.random.default_rng(3)
    total = rng.lognormal(10.0, 2.0, (37, 2, 50))  # an odd number of columns: halves of 18 and 19
    total[::4] *= 1e-13  # whole columns near rounding residue
    total[3, 1, ::3] = 1e-10  # bins below RESIDUE x the column's largest (>= ~1e4 here): cleared
    total[7, 0, 5] = -1e-9  # a rounding negative: shown as 0
    monkeypatch.setattr(engine, "SPLIT_VALUES", 1)
    with kernel("numba"):
        one = engine._shown(total.copy(), 1)
        two = engine._shown(total.copy(), 2)
    for a, b in zip(one, two, strict=True):
        assert a.tobytes() == b.tobytes()
    assert one[0][7, 5] == 0.0 and one[1][3, 0] == 0.0 and one[0][1].max() > 0.0
    with kernel("numpy"):  # the numpy path (the oracle) shows the same
        want = engine._shown(total.copy(), 1)
    assert all(np.array_equal(a, b) for a, b in zip(one, want, strict=True))


def _walk(seed: int, n: int, exchange: str) -> MarketFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.003, n)))
    oi = 1e6 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    return frame(close.tolist(), oi.tolist(), exchange=exchange, interval_ms=60_000)


@pytest.mark.parametrize("name", ["numpy", "numba"])
def test_grids_kept_between_runs_give_the_same_heatmaps_and_never_a_returned_array(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs that fill the grids an earlier run left (engine.SCRATCH) equal runs on fresh memory, and a
    later run leaves an earlier result untouched (threaded runs of three frames: spares and the total)."""
    from liqmap.model import engine
    from liqmap.model.kernel import have_numba, kernel

    if name == "numba" and not have_numba():
        pytest.skip("numba not installed")
    runs = [[_walk(seed + i, 8_000, ex) for i, ex in enumerate(("binance", "okx", "bybit"))] for seed in (1, 7)]
    edges = np.linspace(60.0, 160.0, 301)

    def heatmap(frames: list[MarketFrame]) -> Heatmap:
        return compute_heatmap(frames, ModelConfig(), price_edges=edges, max_columns=400)

    def arrays(hm: Heatmap) -> list[np.ndarray]:
        return [hm.long, hm.short, hm.swept_long, hm.swept_short]

    with kernel(name):
        monkeypatch.setattr(engine, "SCRATCH", engine.Scratch(0))  # nothing kept: fresh grids every run
        fresh = [[a.copy() for a in arrays(heatmap(frames))] for frames in runs]
        scratch = engine.Scratch(engine.SCRATCH_BYTES)
        monkeypatch.setattr(engine, "SCRATCH", scratch)
        first = heatmap(runs[0])
        kept = {a.__array_interface__["data"][0] for a in scratch._arrays}
        second = heatmap(runs[1])
        assert {a.__array_interface__["data"][0] for a in scratch._arrays} == kept and kept  # the same memory
        third = heatmap(runs[0])
    for got, want in ((first, fresh[0]), (second, fresh[1]), (third, fresh[0])):
        for a, b in zip(arrays(got), want, strict=True):
            assert np.array_equal(a, b)
    assert not np.array_equal(fresh[0][0], fresh[1][0])


def test_the_allocator_settings_apply_on_glibc_unless_the_environment_sets_malloc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import platform

    from liqmap.model import engine

    for name in ("LIQMAP_MALLOC", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                 "GLIBC_TUNABLES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in (("LIQMAP_MALLOC", "system"), ("MALLOC_TRIM_THRESHOLD_", "1"),
                        ("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1")):
        with monkeypatch.context() as env:
            env.setenv(name, value)
            assert engine._set_malloc() is False
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.rtld.optional_static_tls=1")  # not malloc's: applied
    assert engine._set_malloc() is (platform.libc_ver()[0] == "glibc")
