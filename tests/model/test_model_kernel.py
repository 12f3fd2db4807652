"""The compiled cohort kernel (numba) gives the numpy path's heatmap; the numpy path stays the oracle."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from model_frames import configs, random_frames
from test_model_properties import test_engine_equals_the_per_position_reference
from test_model_warm_start import test_warm_start_with_ages_property

from liqmap.errors import ConfigError
from liqmap.model import MarketFrame, ModelConfig, compute_heatmap
from liqmap.model.engine import warm_book
from liqmap.model.kernel import kernel, kernel_name
from liqmap.model.result import Heatmap
from liqmap.types import HOUR_MS

pytest.importorskip("numba")

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def both(fn, *args, **kwargs) -> tuple[Heatmap, Heatmap]:  # type: ignore[no-untyped-def]
    with kernel("numpy"):
        want = fn(*args, **kwargs)
    with kernel("numba"):
        got = fn(*args, **kwargs)
    return got, want


def assert_same(got: Heatmap, want: Heatmap) -> None:
    """Equal up to the order of floating-point additions: 1e-12 of the largest value of the array."""
    for name in ("long", "short", "swept_long", "swept_short"):
        a, b = getattr(got, name), getattr(want, name)
        scale = max(1.0, float(np.abs(b).max(initial=0.0)))
        assert a.shape == b.shape, name
        assert np.abs(a - b).max(initial=0.0) <= 1e-12 * scale, (name, np.abs(a - b).max(initial=0.0), scale)
    assert got.times.tolist() == want.times.tolist()


@SETTINGS
@given(
    a=random_frames(max_bars=150),
    b=random_frames(max_bars=90, exchange="okx", start=5 * HOUR_MS),
    knobs=configs,
    turnover=st.sampled_from([0.0, 0.05, 0.5]),
    two=st.booleans(),
    tier_filter=st.sampled_from([None, [25.0], [10.0, 100.0]]),
    edges=st.sampled_from(["uniform", "geometric", "default", "narrow"]),
    bins=st.integers(1, 300),
    group=st.sampled_from([None, 1, 3, 7]),
)
def test_numba_kernel_equals_the_numpy_path(
    a: MarketFrame, b: MarketFrame, knobs: dict, turnover: float, two: bool, tier_filter, edges: str, bins: int,
    group: int | None,
) -> None:
    config = ModelConfig(
        leverage=(5.0, 10.0, 25.0, 50.0, 100.0), leverage_weights=(0.1, 0.2, 0.3, 0.25, 0.15),
        **knobs, turnover=turnover, above_max_leverage="cap",
    )
    frames = [a, b] if two and len(b) + 5 <= len(a) else [a]
    price_edges = {
        "uniform": np.linspace(60.0, 140.0, bins + 1),
        "geometric": np.geomspace(60.0, 140.0, bins + 1),  # not uniform: the kernel's binary search
        "default": None,
        "narrow": np.linspace(95.0, 105.0, bins + 1),  # most levels outside the grid
    }[edges]
    got, want = both(
        compute_heatmap, frames, config, price_edges=price_edges, n_bins=bins, leverage=tier_filter,
        column_group=group,
    )
    assert_same(got, want)


@SETTINGS
@given(frame=random_frames(max_bars=120), knobs=configs, split=st.floats(0.3, 0.8))
def test_numba_kernel_continues_a_warm_book_like_the_numpy_path(frame: MarketFrame, knobs: dict, split: float) -> None:
    config = ModelConfig(**knobs, above_max_leverage="cap")
    p = max(26, int(len(frame) * split))
    if p >= len(frame) - 1:
        return
    book = warm_book(frame.slice(0, p), config)
    edges = np.linspace(50.0, 150.0, 81)
    got, want = both(compute_heatmap, [frame], config, price_edges=edges, warm=[book])
    assert_same(got, want)


def test_the_reference_oracle_holds_on_the_numpy_path_too() -> None:
    # the property tests run on the default kernel (numba); this runs the oracle comparison on numpy
    with kernel("numpy"):
        test_engine_equals_the_per_position_reference()
        test_warm_start_with_ages_property()


def test_the_kernel_is_chosen_by_liqmap_kernel() -> None:
    with kernel("numpy"):
        assert kernel_name() == "numpy"
    with kernel("NUMBA"):
        assert kernel_name() == "numba"
    with kernel("fortran"), pytest.raises(ConfigError, match="LIQMAP_KERNEL"):
        kernel_name()


def test_numba_is_imported_at_the_first_kernel_use_not_with_the_package() -> None:
    probe = (
        "import sys; import liqmap.model, liqmap.query, liqmap.service.app\n"
        "before = 'numba' in sys.modules\n"
        "from liqmap.model.kernel import compiled, kernel_name\n"
        "print(before, kernel_name(), type(compiled().side_events).__name__)"
    )
    env = {**os.environ, "LIQMAP_KERNEL": ""}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "numba", "CPUDispatcher"]


@pytest.mark.parametrize("uniform", [True, False])
def test_exact_touches_and_levels_on_bin_edges_agree(uniform: bool) -> None:
    """Ties decide: a low exactly at a level sweeps it, a level exactly on an edge is in the bin above."""
    from liqmap.model.inputs import level_ratios

    config = ModelConfig(leverage=(10.0, 20.0), leverage_weights=(1.0, 1.0), entry="close", turnover=0.0,
                         intrabar_path=0.0, diffuse_share=0.0, flat_mmr=0.005)
    ratios, _ = level_ratios(config, "binance", "BTC")
    rng = np.random.default_rng(3)
    n = 60
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    long_levels = close[:, None] * ratios[0][None, :]
    short_levels = close[:, None] * ratios[1][None, :]
    open_ = np.concatenate(([close[0]], close[:-1]))
    low = np.minimum(open_, close) * 0.999
    high = np.maximum(open_, close) * 1.001
    for t in range(5, n, 3):  # later lows / highs exactly at earlier bars' levels, where the bar allows it
        lv, sv = long_levels[t - 1 - t % 4, t % 2], short_levels[t - 1 - t % 3, t % 2]  # often the first touch
        if lv <= min(open_[t], close[t]):
            low[t] = lv
        if sv >= max(open_[t], close[t]):
            high[t] = sv
    assert np.isin(low, long_levels).sum() >= 3 and np.isin(high, short_levels).sum() >= 3  # the ties exist
    frame = MarketFrame(
        exchange="binance", symbol="BTC", interval_ms=HOUR_MS, ts=HOUR_MS * np.arange(n), open=open_, high=high,
        low=low, close=close, volume=np.ones(n), oi_usd=1e6 * np.exp(np.cumsum(rng.normal(0.01, 0.02, n))),
    )
    inner = np.sort(np.concatenate((long_levels.ravel()[::3], short_levels.ravel()[::3])))
    if uniform:  # a uniform grid whose edges include some levels exactly
        step = inner[1] - inner[0]
        edges = inner[0] + step * np.arange(-40, 400)
        edges = edges[edges > 0]
    else:
        edges = np.unique(np.concatenate(([1.0], inner, [1000.0])))
    assert np.isin(edges, long_levels).any()  # levels exactly on edges
    got, want = both(compute_heatmap, [frame], config, price_edges=edges)
    assert_same(got, want)
    assert np.array_equal(got.long > 0, want.long > 0) and np.array_equal(got.short > 0, want.short > 0)


def _record_stack_touches(
    births: np.ndarray, entries: np.ndarray, ratios: np.ndarray, sign: float, values: np.ndarray
) -> np.ndarray:
    """The record-stack search the compiled passes run (births last to first, bars pushed as they enter,
    the finger carried from one cohort to the next), driven from Python through the kernel's own
    ``record_push`` / ``record_find``: ``out[i, k, j]`` = the sweep bar of the cohort born at ``births[i]``
    at ``entries[i, j]`` on tier ``k`` (``n`` = never)."""
    from liqmap.model.kernel import compiled

    record_push, record_find = compiled().record_push, compiled().record_find
    n = values.shape[0]
    out = np.full((births.shape[0], ratios.shape[0], entries.shape[1]), n, dtype=np.int64)
    stack_value, stack_bar = np.empty(n), np.empty(n, dtype=np.int64)
    size, nxt = 0, n - 1
    for i in range(births.shape[0] - 1, -1, -1):
        while nxt > births[i]:
            size = record_push(values, stack_value, stack_bar, size, nxt)
            nxt -= 1
        finger = size - 1
        for k in range(ratios.shape[0]):
            for j in range(entries.shape[1]):
                pos = record_find(stack_value, size, sign * (entries[i, j] * ratios[k]), finger)
                if pos >= 0:
                    out[i, k, j] = stack_bar[pos]
                    finger = pos
    return out


@SETTINGS
@given(frame=random_frames(max_bars=200), knobs=configs, side=st.sampled_from([0, 1]))
def test_record_stack_search_equals_the_numpy_search(frame: MarketFrame, knobs: dict, side: int) -> None:
    """The compiled passes' sweep bars (record stack + finger search) are group_sweeps' bars."""
    from liqmap.model.book import group_sweeps
    from liqmap.model.inputs import frame_inputs, level_ratios
    from liqmap.model.sweep import FirstTouch

    config = ModelConfig(**knobs, above_max_leverage="cap")
    inputs = frame_inputs(config, frame)
    ratios, _ = level_ratios(config, frame.exchange, frame.symbol)
    sign = 1.0 if side == 0 else -1.0
    search = FirstTouch(sign * (frame.low if side == 0 else frame.high))
    born_all = np.flatnonzero(inputs.added > 0)
    for n_j in np.unique(inputs.n_points[born_all]).tolist():
        born = born_all[inputs.n_points[born_all] == n_j]
        entries = inputs.entries(born, n_j)
        want = group_sweeps(search, born, sign * entries[:, None, :] * ratios[side][None, :, None])
        got = _record_stack_touches(born, entries, np.ascontiguousarray(ratios[side]), sign,
                                    search.table[0, :-1].copy())
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("kernel_used", ["numba", "numpy"])
@pytest.mark.parametrize("ages", [None, ["<4h", "1d-7d"]])
def test_one_thread_and_two_threads_give_bit_identical_heatmaps(
    monkeypatch: pytest.MonkeyPatch, kernel_used: str, ages: list[str] | None
) -> None:
    """Threads only change which frame or side runs when; each frame's arrays are summed in frame order,
    so the numbers are the same to the last bit (both sides of a frame, warm books, age filters)."""
    from liqmap.model import engine

    rng = np.random.default_rng(11)
    frames = []
    for exchange, start in (("binance", 0), ("okx", 40 * HOUR_MS), ("bybit", 0)):
        n = 700 if exchange != "okx" else 500
        close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
        open_ = np.concatenate(([100.0], close[:-1]))
        frames.append(MarketFrame(
            exchange=exchange, symbol="BTC", interval_ms=HOUR_MS, ts=start + HOUR_MS * np.arange(n), open=open_,
            high=np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.004, n))),
            low=np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.004, n))), close=close,
            volume=rng.lognormal(0, 0.5, n), oi_usd=1e8 * np.exp(np.cumsum(rng.normal(0, 0.01, n))),
            taker_buy_volume=np.full(n, np.nan),
        ))
    config = ModelConfig()
    warm = [warm_book(f.slice(0, 200), config) if f.exchange == "bybit" else None for f in frames]
    monkeypatch.setattr(engine, "SMALL_RUN_BARS", 0)
    runs = []
    for threads in (1, 2):
        monkeypatch.setattr(engine, "THREADS", threads)
        with kernel(kernel_used):
            runs.append(compute_heatmap(frames, config, n_bins=300, ages=ages, warm=warm))
    one, two = runs
    for name in ("long", "short", "swept_long", "swept_short"):
        assert np.array_equal(getattr(one, name), getattr(two, name)), name
    assert float(one.long.max()) > 0 and float(one.swept_short.sum()) > 0


@SETTINGS
@given(frame=random_frames(max_bars=200), knobs=configs, since=st.integers(0, 40))
def test_compiled_warm_books_equal_the_numpy_books(frame: MarketFrame, knobs: dict, since: int) -> None:
    """kernel.alive: the same cohorts, in the same order (birth, key, then tier and entry), same values."""
    config = ModelConfig(**knobs, above_max_leverage="cap")
    since = min(since, len(frame) - 1)
    with kernel("numpy"):
        want = warm_book(frame, config, since=since)
    with kernel("numba"):
        got = warm_book(frame, config, since=since)
    assert got.at == want.at
    for name in ("levels", "values", "births", "tiers"):
        for side in (0, 1):
            np.testing.assert_array_equal(getattr(got, name)[side], getattr(want, name)[side], err_msg=name)


def test_compiled_shown_grid_equals_the_numpy_one() -> None:
    """engine._shown: clamping at 0 and the residue rule give the same bits on both paths."""
    from liqmap.model.engine import RESIDUE, _shown

    rng = np.random.default_rng(5)
    total = rng.lognormal(0.0, 3.0, (40, 2, 30)) * (rng.random((40, 2, 30)) < 0.7)
    total[3, 0, :] = 0.0
    total[5, 1, 4] = -1e-9  # rounding below zero
    total[7, 0, 2] = total[7].max() * RESIDUE  # exactly at the residue cut
    total[9, 1, 3] = total[9].max() * RESIDUE * 0.5
    with kernel("numpy"):
        want = _shown(total.copy())
    with kernel("numba"):
        got = _shown(total.copy())
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
    assert want[0][7, 2] == 0.0 and want[1][5, 4] == 0.0 and want[0][3].sum() == 0.0
    assert (want[0] > 0).sum() > 300


@pytest.mark.parametrize("kernel_used", ["numba", "numpy"])
@pytest.mark.parametrize("group", [1, 5])
def test_a_leading_warm_up_column_leaves_the_later_columns_unchanged(kernel_used: str, group: int) -> None:
    """compute_heatmap(lead_until=...): one column for the bars a caller crops, the others as before."""
    rng = np.random.default_rng(2)
    n = 400
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    frame = MarketFrame(
        exchange="binance", symbol="BTC", interval_ms=HOUR_MS, ts=HOUR_MS * np.arange(n), open=open_,
        high=np.maximum(open_, close) * 1.003, low=np.minimum(open_, close) * 0.997, close=close,
        volume=np.ones(n), oi_usd=1e8 * np.exp(np.cumsum(rng.normal(0, 0.01, n))),
    )
    start = 157 * HOUR_MS
    with kernel(kernel_used):
        full = compute_heatmap([frame], ModelConfig(), n_bins=120, column_group=group)
        lead = compute_heatmap([frame], ModelConfig(), price_edges=full.price_edges, column_group=group,
                               lead_until=start)
    keep = full.times >= start
    assert lead.times[0] == 0 and lead.times[1:].tolist() == full.times[keep].tolist()
    for name in ("long", "short", "swept_long", "swept_short"):
        want, got = getattr(full, name)[keep], getattr(lead, name)[1:]
        assert np.abs(got - want).max() <= 1e-12 * max(1.0, float(np.abs(want).max())), name
    assert float(full.long[keep].max()) > 0
