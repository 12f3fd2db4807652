"""One frame's book per heatmap column, all bars at once (the vectorised core of the batch engine).

A cohort = the notional opened in bar ``b`` on one side, one leverage tier, one entry point. Its level is
``entry * ratio[side, tier]``; its USD at the end of bar ``t >= b`` is ``w0 * S(t) / S(b)`` with
``log S`` the cumulative log book factor (close rule, decay, turnover multiply every position alike).

Per chunk of bars with the same number of entry points ``J_t`` (memory stays bounded, arrays stay
cache-sized):

1. cohort levels and weights by broadcasting ``(bars, tiers, J_t)`` per side;
2. sweep bars by the sparse-table search (:mod:`liqmap.model.sweep`). With several entry points the
   levels of one (bar, side, tier) are ordered, so their sweep bars are monotone: the two extreme entry
   points are searched first and the inner ones only where those differ;
3. signed events ``(column, side, bin, value)``: ``+w0 S(col(b))/S(b)`` when the cohort enters, ``-w0
   S(col(end))/S(b)`` when it leaves (swept, or crosses out of the selected age buckets), accumulated
   with ``np.add.at``; swept USD ``w0 S(sweep - 1)/S(b)`` per column with ``np.bincount``;
4. finally the columns are rolled forward: ``X_k = X_{k-1} S_k / S_{k-1} + U_k``. Every scale ratio used
   is ``<= 1`` (``S`` never increases), so nothing overflows and ``1/S`` is never formed.

The per-bar closed-form terms of swept USD (same-bar liquidations, :mod:`liqmap.model.intrabar`; the diffuse
layer, :mod:`liqmap.model.diffuse`) are added to each bar's column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liqmap.errors import ConfigError
from liqmap.model.config import ModelConfig
from liqmap.model.diffuse import diffuse_swept
from liqmap.model.frame import MarketFrame
from liqmap.model.grid import ColumnPlan, bin_index, uniform_edges
from liqmap.model.inputs import frame_inputs
from liqmap.model.intrabar import intrabar_swept
from liqmap.model.kernel import add_cohorts, roll_forward, use_numba
from liqmap.model.sweep import FirstTouch

NEVER = np.iinfo(np.int64).max // 4
SMALL_EVENTS = 1 << 16
SHORT_SPAN = 64
CHUNK_COHORTS = 1 << 16
"""Cohorts per chunk: temporaries stay cache-sized (measured: 2**16 beats 2**20 by ~1.5x on range entries)."""


@dataclass(frozen=True, eq=False)
class WarmBook:
    """One frame's book at time ``at`` (ms, the end of a warm-up's last bar), to continue from with the
    batch engine (``compute_heatmap(..., warm=...)``): the liquidation level, USD and birth of every
    cohort still alive, per side (0 long, 1 short), for the modelled tiers and every age bucket.

    ``births``: per side, the open time (ms) of the bar each cohort was born in, so a continuation can
    apply an ``ages`` filter; None (unknown) refuses one.

    Built by :func:`liqmap.model.engine.warm_book`, usually from a warm-up at a coarser bar interval than
    the window's (docs/model.md, section 8, "Warm start")."""

    at: int
    levels: tuple[np.ndarray, np.ndarray]
    values: tuple[np.ndarray, np.ndarray]
    births: tuple[np.ndarray, np.ndarray] | None = None
    tiers: tuple[np.ndarray, np.ndarray] | None = None
    """Per side, each cohort's index into ``config.leverage``, so a continuation with a ``leverage``
    filter keeps only those tiers' cohorts; None = the book was built for exactly the filter used."""


def age_boundaries_bars(config: ModelConfig, interval_ms: int) -> np.ndarray:
    """Bars after birth at which a position moves to the next age bucket: ``ceil(edge / interval)``."""
    edges_ms = [round(h * 3_600_000) for h in config.age_buckets_hours]
    return np.array([-(-e // interval_ms) for e in edges_ms], dtype=np.int64)


def age_runs(indices: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs in sorted indices: [0, 1, 3] -> [(0, 1), (3, 3)] (adjacent age buckets merge)."""
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def group_sweeps(search: FirstTouch, births: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Sweep bar for levels of shape (bars, tiers, J) in the search's sign convention (touch = value <= level).

    Along J the levels are monotone (entry points from low to high), hence so are the sweep bars: search
    the two ends, copy where they agree, search the inner points only where they differ."""
    nb, nt, nj = levels.shape
    start = np.broadcast_to((births + 1)[:, None], (nb, nt))
    steps = np.diff(levels, axis=2)
    if nj <= 2 or not ((steps >= 0).all() or (steps <= 0).all()):
        return search.first_at_or_below(
            np.broadcast_to(start[:, :, None], levels.shape).ravel(), levels.ravel()
        ).reshape(levels.shape)
    out = np.empty(levels.shape, dtype=np.int64)
    first = search.first_at_or_below(start.ravel(), levels[:, :, 0].ravel()).reshape(nb, nt)
    last = search.first_at_or_below(start.ravel(), levels[:, :, -1].ravel()).reshape(nb, nt)
    out[:, :, 0] = first
    out[:, :, -1] = last
    same = first == last
    out[:, :, 1:-1] = first[:, :, None]
    differ = ~same
    if differ.any():
        # inner sweep bars lie between the two ends: a short span needs few lifting steps
        span = np.abs(last - first)
        for group in (differ & (span < SHORT_SPAN), differ & (span >= SHORT_SPAN)):
            if not group.any():
                continue
            lower = np.minimum(first, last)[group]
            inner = levels[:, :, 1:-1][group]
            out[:, :, 1:-1][group] = search.first_at_or_below(
                np.repeat(lower, nj - 2), inner.ravel(), max_span=int(span[group].max())
            ).reshape(inner.shape)
    return out


class _Events:
    """Signed values added into a flat array of ``size``: ``np.add.at`` into the large grid (numpy >= 2 has a
    fast path; ``np.bincount`` was measured slower there, its full-size output costs more than the scatter),
    ``np.bincount`` into small arrays (the swept series)."""

    def __init__(self, size: int) -> None:
        self.out = np.zeros(size)
        self.small = size <= SMALL_EVENTS

    def add(self, idx: np.ndarray, val: np.ndarray) -> None:
        if not len(idx):
            return
        if self.small:
            self.out += np.bincount(idx, weights=val, minlength=len(self.out))
        else:
            np.add.at(self.out, idx, val)

    def result(self) -> np.ndarray:
        return self.out


def frame_book(
    config: ModelConfig,
    frame: MarketFrame,
    offset: int,
    plan: ColumnPlan,
    edges: np.ndarray,
    ratios: np.ndarray,
    tiers: list[int],
    ages: list[int],
    sides: tuple[int, ...] = (0, 1),
    warm: WarmBook | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """This frame's book ``(K, S, B)`` per column and swept USD ``(S, K)`` of ``sides`` (0 long, 1 short;
    ``S = len(sides)``), restricted to ``tiers``/``ages``.

    ``offset`` is the frame's first bar on the global timeline of ``plan``. Swept USD includes the
    same-bar term of :mod:`liqmap.model.intrabar` (positions opened and liquidated inside one bar; they
    are age 0, so they count when the first age bucket is selected) and the diffuse layer of
    :mod:`liqmap.model.diffuse` (oldest age bucket).

    ``warm``: the book at the end of bar ``p - 1`` (``warm.at``); bars ``< p`` are *context* only (their
    OI, volumes and ranges feed the inputs of later bars, no cohort is born in them) and the warm cohorts
    are cohorts whose USD is given at the end of bar ``p - 1``, swept from bar ``p`` on. With an ``ages``
    filter their age counts from their real birth (``warm.births``, needed then), as in the one long run."""
    n = len(frame)
    k_cols = plan.n_columns
    n_bins = len(edges) - 1
    n_sides = len(sides)
    row = n_sides * n_bins
    inputs = frame_inputs(config, frame)
    log_s = np.cumsum(inputs.log_keep)
    # log S at each column's last bar, in this frame's terms (held before its first / after its last bar)
    log_s_col = np.where(plan.last_bar < offset, log_s[0], log_s[np.clip(plan.last_bar - offset, 0, n - 1)])
    col_of = plan.col_of_bar[offset : offset + n]
    start_factor = np.exp(log_s_col[col_of] - log_s)  # <= 1: a cohort's USD at its birth column / w0
    boundaries = age_boundaries_bars(config, frame.interval_ms)
    n_buckets = len(boundaries) + 1
    all_ages = list(ages) == list(range(n_buckets))
    runs = age_runs(ages)
    lo_all = np.concatenate(([0], boundaries))
    hi_all = np.concatenate((boundaries, [NEVER]))

    grid = _Events(k_cols * row)
    swept = _Events(n_sides * k_cols)
    born = np.flatnonzero(inputs.added > 0)
    weights = np.asarray(config.normalised_weights)[tiers]
    sel_ratios = ratios[:, tiers]
    searches = {side: FirstTouch(frame.low if side == 0 else -frame.high) for side in sides}
    compiled = use_numba()
    uniform = uniform_edges(edges)
    if warm is not None:
        p = int(np.searchsorted(frame.ts, warm.at))
        if p < 1 or int(frame.ts[p - 1]) + frame.interval_ms != warm.at:
            raise ConfigError(
                f"warm: {frame.exchange} {frame.symbol} has no bar ending at the warm book's time {warm.at}"
            )
        if not all_ages and warm.births is None:
            raise ConfigError("ages: this warm book keeps no cohort births; drop the ages filter or rebuild it")
        for side in sides:
            count = len(warm.levels[side])
            for name in ("values", "births", "tiers"):
                column = getattr(warm, name)
                if column is not None and len(column[side]) != count:
                    raise ConfigError(f"warm: {len(column[side])} {name} for {count} cohorts on side {side}")
        born = born[born >= p]
        for slot, side in enumerate(sides):
            keep = slice(None) if warm.tiers is None else np.isin(warm.tiers[side], tiers)
            levels = np.asarray(warm.levels[side], dtype=np.float64)[keep][:, None, None]
            if not len(levels):
                continue
            values = np.asarray(warm.values[side], dtype=np.float64)[keep]
            b = np.full(len(levels), p - 1, dtype=np.int64)
            if all_ages and compiled:
                add_cohorts(
                    grid.out, swept.out, slot * n_bins, slot * k_cols, row, b, np.ascontiguousarray(levels[:, :, 0]), np.ones(1),
                    1.0 if side == 0 else -1.0, values, np.ones(1), edges, uniform,
                    searches[side].table, searches[side].suffix, log_s, log_s_col, col_of, start_factor,
                )
                continue
            sweep = group_sweeps(searches[side], b, (1.0 if side == 0 else -1.0) * levels)
            if all_ages:
                _add_all_ages(
                    grid, swept, slot, n_sides, b, levels, sweep, values,
                    np.ones(1), edges, log_s, log_s_col, col_of, start_factor, n, k_cols, n_bins,
                )
                continue
            assert warm.births is not None
            births_ms = np.asarray(warm.births[side], dtype=np.int64)[keep]
            # age in this frame's bars from the real birth (negative: born before the frame's first bar)
            birth = (births_ms - int(frame.ts[0])) // frame.interval_ms
            sweep = sweep.ravel()
            lb = np.full(len(values), log_s[p - 1])  # values are given at the end of bar p - 1
            _add_swept(swept, slot, k_cols, birth, sweep, values, lb, log_s, col_of, boundaries, ages, False, n)
            bins = bin_index(levels.ravel(), edges)
            inside = bins >= 0
            if not inside.any():
                continue
            birth, sweep, values, lb = birth[inside], sweep[inside], values[inside], lb[inside]
            flat = slot * n_bins + bins[inside]
            for first, last in runs:  # present from bar p - 1 (the book's time) at the earliest
                _add_segment(
                    grid, row, lb, np.maximum(birth + lo_all[first], p - 1), np.minimum(birth + hi_all[last], sweep),
                    values, flat, log_s_col, col_of, n, k_cols,
                )
    points = inputs.n_points[born]
    for n_j in np.unique(points).tolist():
        born_j = born[points == n_j]
        if all_ages and compiled:  # one compiled pass per side over every cohort of these bars
            entries = inputs.entries(born_j, n_j)
            for slot, side in enumerate(sides):
                share = inputs.long_share[born_j] if side == 0 else 1.0 - inputs.long_share[born_j]
                add_cohorts(
                    grid.out, swept.out, slot * n_bins, slot * k_cols, row, born_j, entries,
                    np.ascontiguousarray(sel_ratios[side]), 1.0 if side == 0 else -1.0,
                    inputs.added[born_j] * share / n_j, weights, edges, uniform,
                    searches[side].table, searches[side].suffix, log_s, log_s_col, col_of, start_factor,
                )
            continue
        chunk = max(1, CHUNK_COHORTS // (len(tiers) * n_j))
        for c0 in range(0, len(born_j), chunk):
            b = born_j[c0 : c0 + chunk]
            entries = inputs.entries(b, n_j)
            for slot, side in enumerate(sides):
                share = inputs.long_share[b] if side == 0 else 1.0 - inputs.long_share[b]
                w_bar = inputs.added[b] * share / n_j
                levels = entries[:, None, :] * sel_ratios[side][None, :, None]  # (nb, T, J)
                sign = 1.0 if side == 0 else -1.0
                sweep = group_sweeps(searches[side], b, sign * levels)
                if all_ages:
                    _add_all_ages(
                        grid, swept, slot, n_sides, b, levels, sweep, w_bar, weights,
                        edges, log_s, log_s_col, col_of, start_factor, n, k_cols, n_bins,
                    )
                    continue
                shape = levels.shape
                w0 = np.broadcast_to((w_bar[:, None] * weights[None, :])[:, :, None], shape).ravel()
                birth = np.broadcast_to(b[:, None, None], shape).ravel()
                sweep = sweep.ravel()
                bins = bin_index(levels.ravel(), edges)
                lb = log_s[birth]
                _add_swept(swept, slot, k_cols, birth, sweep, w0, lb, log_s, col_of, boundaries, ages, all_ages, n)
                inside = bins >= 0
                if not inside.any():
                    continue
                birth, sweep, w0, lb = birth[inside], sweep[inside], w0[inside], lb[inside]
                flat = slot * n_bins + bins[inside]
                for first, last in runs:  # presence split at the boundaries of the selected age buckets
                    _add_segment(
                        grid, row, lb, birth + lo_all[first], np.minimum(birth + hi_all[last], sweep), w0,
                        flat, log_s_col, col_of, n, k_cols,
                    )
    if 0 in ages:
        same_bar = intrabar_swept(config, frame, ratios, tiers)
        for slot, side in enumerate(sides):
            swept.add(slot * k_cols + col_of, same_bar[side])
    if n_buckets - 1 in ages:  # the diffuse layer: positions older than the history, in the oldest bucket
        diffuse = diffuse_swept(config, frame, float(weights.sum()))
        for slot, side in enumerate(sides):
            swept.add(slot * k_cols + col_of, diffuse[side])
    out = grid.result().reshape(k_cols, row)
    if compiled:
        roll_forward(out, log_s_col)
    else:
        _roll_forward(out, log_s_col)
    return out.reshape(k_cols, n_sides, n_bins), swept.result().reshape(n_sides, k_cols)


def _add_all_ages(
    grid: _Events, swept: _Events, slot: int, n_sides: int, b: np.ndarray, levels: np.ndarray, sweep: np.ndarray,
    w_bar: np.ndarray, weights: np.ndarray, edges: np.ndarray, log_s: np.ndarray, log_s_col: np.ndarray,
    col_of: np.ndarray, start_factor: np.ndarray, n: int, k_cols: int, n_bins: int,
) -> None:
    """Every age bucket selected (the common case): swept USD and presence events of one chunk, sharing
    the per-cohort gathers. A cohort is present in columns ``[col(birth), col(sweep))``; cohort order is
    (bar, tier, entry point) flattened."""
    per_bar = levels.shape[1] * levels.shape[2]
    nj = levels.shape[2]
    w0 = (w_bar[:, None] * weights[None, :]).ravel()
    if nj > 1:
        w0 = np.repeat(w0, nj)
    lb = np.repeat(log_s[b], per_bar)
    sweep = sweep.ravel()
    c_end = col_of.take(np.minimum(sweep, n - 1))
    leaves = sweep < n
    # swept in bar t: w0 S(t - 1) / S(b)
    t = sweep[leaves]
    c_hit = c_end[leaves]
    w_hit = w0[leaves]
    lb_hit = lb[leaves]
    if len(t):
        swept.add(slot * k_cols + c_hit, w_hit * np.exp(log_s.take(t - 1) - lb_hit))
    bins = bin_index(levels.ravel(), edges)
    inside = bins >= 0
    flat = slot * n_bins + bins
    row = n_sides * n_bins
    start = np.repeat(col_of.take(b) * row, per_bar) + flat
    value = w0 * np.repeat(start_factor.take(b), per_bar)
    if not inside.all():
        start, value = start[inside], value[inside]
    grid.add(start, value)
    out = leaves & inside
    if out.any():
        c = c_end[out]
        grid.add(c * row + flat[out], -w0[out] * np.exp(log_s_col.take(c) - lb[out]))


def _add_swept(
    swept: _Events, slot: int, k_cols: int, birth: np.ndarray, sweep: np.ndarray, w0: np.ndarray, lb: np.ndarray,
    log_s: np.ndarray, col_of: np.ndarray, boundaries: np.ndarray, ages: list[int], all_ages: bool, n: int,
) -> None:
    """Swept USD ``w0 S(t - 1) / exp(lb)`` in the sweep bar ``t`` (``lb``: log S when ``w0`` is given),
    counted when the age at bar ``t - 1`` (bars since ``birth``) is in a selected bucket."""
    hit = sweep < n
    if not hit.any():
        return
    t, b, w, lb = sweep[hit], birth[hit], w0[hit], lb[hit]
    if not all_ages:
        sel = np.isin(np.searchsorted(boundaries, t - 1 - b, side="right"), ages)
        t, w, lb = t[sel], w[sel], lb[sel]
    swept.add(slot * k_cols + col_of[t], w * np.exp(log_s[t - 1] - lb))


def _add_segment(
    grid: _Events, row: int, lb: np.ndarray, start: np.ndarray, end: np.ndarray, w0: np.ndarray,
    flat: np.ndarray, log_s_col: np.ndarray, col_of: np.ndarray, n: int, k_cols: int,
) -> None:
    """Present in bars [start, end) (``end >= n``: held to the last column) with USD ``w0 S / exp(lb)``."""
    ok = (start < end) & (start < n)
    s, e = start[ok], end[ok]
    c_start = col_of[s]
    c_end = np.where(e >= n, k_cols, col_of[np.minimum(e, n - 1)])
    real = c_start < c_end
    w, lb, fl = w0[ok][real], lb[ok][real], flat[ok][real]
    c_start, c_end = c_start[real], c_end[real]
    grid.add(c_start * row + fl, w * np.exp(log_s_col[c_start] - lb))
    leaves = c_end < k_cols
    grid.add(c_end[leaves] * row + fl[leaves], -w[leaves] * np.exp(log_s_col[c_end[leaves]] - lb[leaves]))


def _roll_forward(grid: np.ndarray, log_s_col: np.ndarray) -> None:
    """In place: ``X[k] = X[k-1] * exp(log_s_col[k] - log_s_col[k-1]) + U[k]`` (runs of ratio 1 via cumsum)."""
    ratio = np.exp(np.diff(log_s_col))
    k_cols = grid.shape[0]
    k = 1
    while k < k_cols:
        if ratio[k - 1] == 1.0:
            stop = k
            while stop < k_cols and ratio[stop - 1] == 1.0:
                stop += 1
            np.cumsum(grid[k - 1 : stop], axis=0, out=grid[k - 1 : stop])
            k = stop
        else:
            grid[k] += grid[k - 1] * ratio[k - 1]
            k += 1
