"""One frame's book per heatmap column, all bars at once (the vectorised core of the batch engine).

A cohort = the notional opened in bar ``b`` on one side, one leverage tier, one entry point. Its level is
``entry * ratio[side, tier]``; its USD at the end of bar ``t >= b`` is ``w0 * S(t) / S(b)`` with
``log S`` the cumulative log book factor (close rule, decay, turnover multiply every position alike).

Per chunk of bars (memory stays bounded, arrays stay cache-sized):

1. cohort levels and weights by broadcasting ``(bars, tiers, entry points)`` per side;
2. sweep bars by the sparse-table search (:mod:`liqmap.model.sweep`). With several entry points the
   levels of one (bar, side, tier) are ordered, so their sweep bars are monotone: the two extreme entry
   points are searched first and the inner ones only where those differ;
3. signed events ``(column, side, bin, value)``: ``+w0 S(col(b))/S(b)`` when the cohort enters, ``-w0
   S(col(end))/S(b)`` when it leaves (swept, or crosses out of the selected age buckets), accumulated
   with ``np.add.at``; swept USD ``w0 S(sweep - 1)/S(b)`` per column likewise;
4. finally the columns are rolled forward: ``X_k = X_{k-1} S_k / S_{k-1} + U_k``. Every scale ratio used
   is ``<= 1`` (``S`` never increases), so nothing overflows and ``1/S`` is never formed.
"""

from __future__ import annotations

import numpy as np

from liqmap.model.config import ModelConfig
from liqmap.model.frame import MarketFrame
from liqmap.model.grid import ColumnPlan, bin_index
from liqmap.model.inputs import frame_inputs
from liqmap.model.sweep import FirstTouch

NEVER = np.iinfo(np.int64).max // 4
SHORT_SPAN = 64
CHUNK_COHORTS = 1 << 16
"""Cohorts per chunk: temporaries stay cache-sized (measured: 2**16 beats 2**20 by ~1.5x on range entries)."""


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


def frame_book(
    config: ModelConfig,
    frame: MarketFrame,
    offset: int,
    plan: ColumnPlan,
    edges: np.ndarray,
    ratios: np.ndarray,
    tiers: list[int],
    ages: list[int],
) -> tuple[np.ndarray, np.ndarray]:
    """This frame's book ``(K, 2, B)`` per column and swept USD ``(2, K)``, restricted to ``tiers``/``ages``.

    ``offset`` is the frame's first bar on the global timeline of ``plan``."""
    n = len(frame)
    k_cols = plan.n_columns
    n_bins = len(edges) - 1
    row = 2 * n_bins
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

    grid = np.zeros(k_cols * row)
    swept = np.zeros(2 * k_cols)
    born = np.flatnonzero(inputs.added > 0)
    weights = np.asarray(config.normalised_weights)[tiers]
    sel_ratios = ratios[:, tiers]
    n_j = inputs.entries.shape[1]
    searches = (FirstTouch(frame.low), FirstTouch(-frame.high))
    chunk = max(1, CHUNK_COHORTS // (len(tiers) * n_j))
    for c0 in range(0, len(born), chunk):
        b = born[c0 : c0 + chunk]
        entries = inputs.entries[b]
        for side in (0, 1):
            share = inputs.long_share[b] if side == 0 else 1.0 - inputs.long_share[b]
            w_bar = inputs.added[b] * share / n_j
            levels = entries[:, None, :] * sel_ratios[side][None, :, None]  # (nb, T, J)
            sign = 1.0 if side == 0 else -1.0
            sweep = group_sweeps(searches[side], b, sign * levels)
            shape = levels.shape
            w0 = np.broadcast_to((w_bar[:, None] * weights[None, :])[:, :, None], shape).ravel()
            birth = np.broadcast_to(b[:, None, None], shape).ravel()
            sweep = sweep.ravel()
            bins = bin_index(levels.ravel(), edges)
            _add_swept(swept, side, k_cols, birth, sweep, w0, log_s, col_of, boundaries, ages, all_ages, n)
            inside = bins >= 0
            if not inside.any():
                continue
            birth, sweep, w0 = birth[inside], sweep[inside], w0[inside]
            flat = side * n_bins + bins[inside]
            if all_ages:
                _add_presence(grid, row, birth, sweep, w0, flat, start_factor, log_s, log_s_col, col_of, n)
            else:
                for first, last in runs:
                    _add_segment(
                        grid, row, birth, birth + lo_all[first], np.minimum(birth + hi_all[last], sweep), w0, flat,
                        log_s, log_s_col, col_of, n, k_cols,
                    )
    grid = grid.reshape(k_cols, row)
    _roll_forward(grid, log_s_col)
    return grid.reshape(k_cols, 2, n_bins), swept.reshape(2, k_cols)


def _add_swept(
    swept: np.ndarray, side: int, k_cols: int, birth: np.ndarray, sweep: np.ndarray, w0: np.ndarray,
    log_s: np.ndarray, col_of: np.ndarray, boundaries: np.ndarray, ages: list[int], all_ages: bool, n: int,
) -> None:
    hit = sweep < n
    if not hit.any():
        return
    t, b, w = sweep[hit], birth[hit], w0[hit]
    if not all_ages:
        sel = np.isin(np.searchsorted(boundaries, t - 1 - b, side="right"), ages)
        t, b, w = t[sel], b[sel], w[sel]
    np.add.at(swept, side * k_cols + col_of[t], w * np.exp(log_s[t - 1] - log_s[b]))


def _add_presence(
    grid: np.ndarray, row: int, birth: np.ndarray, sweep: np.ndarray, w0: np.ndarray, flat: np.ndarray,
    start_factor: np.ndarray, log_s: np.ndarray, log_s_col: np.ndarray, col_of: np.ndarray, n: int,
) -> None:
    """All age buckets selected: present in columns [col(birth), col(sweep))."""
    c_start = col_of[birth]
    np.add.at(grid, c_start * row + flat, w0 * start_factor[birth])
    leaves = sweep < n
    if leaves.any():
        c_end = col_of[sweep[leaves]]
        np.add.at(
            grid, c_end * row + flat[leaves], -w0[leaves] * np.exp(log_s_col[c_end] - log_s[birth[leaves]])
        )


def _add_segment(
    grid: np.ndarray, row: int, birth: np.ndarray, start: np.ndarray, end: np.ndarray, w0: np.ndarray,
    flat: np.ndarray, log_s: np.ndarray, log_s_col: np.ndarray, col_of: np.ndarray, n: int, k_cols: int,
) -> None:
    """Present in bars [start, end) (``end >= n``: held to the last column)."""
    ok = (start < end) & (start < n)
    s, e = start[ok], end[ok]
    c_start = col_of[s]
    c_end = np.where(e >= n, k_cols, col_of[np.minimum(e, n - 1)])
    real = c_start < c_end
    w, lb, fl = w0[ok][real], log_s[birth[ok][real]], flat[ok][real]
    c_start, c_end = c_start[real], c_end[real]
    np.add.at(grid, c_start * row + fl, w * np.exp(log_s_col[c_start] - lb))
    leaves = c_end < k_cols
    np.add.at(grid, c_end[leaves] * row + fl[leaves], -w[leaves] * np.exp(log_s_col[c_end[leaves]] - lb[leaves]))


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
