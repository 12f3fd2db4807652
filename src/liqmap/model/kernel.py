"""Compiled single-pass cohort kernel (numba) for the batch book; the numpy path stays as its oracle.

The numpy path of :func:`liqmap.model.book.frame_book` processes a chunk of cohorts in ~20 full-array
passes (first-touch lifting, gathers, bins, event values) with a temporary per pass. This kernel does the
same arithmetic in one pass per cohort, with no temporaries:

* level ``l = entry * ratio[side, tier]``;
* sweep bar ``t`` = the first bar ``> b`` whose low (long) is ``<= l`` / whose high (short) is ``>= l``,
  over the same range-minimum sparse table as :class:`liqmap.model.sweep.FirstTouch`: windows of 1, 2,
  4, ... bars from ``b + 1`` until one holds a touch, then binary lifting inside it (``O(log(t - b))``
  reads, near the birth first; skipped when the level is beyond the suffix extreme: never touched);
* bin ``= searchsorted(edges, l, "right") - 1`` (an arithmetic guess on uniform edges, corrected
  against the edges, so exactly the bin numpy gives);
* events: ``+w0 S(col(b))/S(b)`` at the birth column, ``-w0 S(col(t))/S(b)`` at the sweep column, swept
  USD ``w0 S(t - 1)/S(b)`` in the sweep column (the equations of :mod:`liqmap.model.book`).

Same numbers as the numpy path up to the order of the floating-point additions (~1e-15 relative).

``LIQMAP_KERNEL=numpy`` selects the numpy path; the default is ``numba`` when it imports. Compiled
functions are cached on disk (``cache=True``): the first call in a fresh environment compiles them
(a few seconds, printed by ``bench/bench_model.py``), later processes load them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

try:  # numba is a dependency, but the numpy path must keep working where it cannot be imported
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only without numba
    HAVE_NUMBA = False

KERNELS = ("numpy", "numba")


def kernel_name() -> str:
    """The kernel in use: ``LIQMAP_KERNEL`` (``numpy`` or ``numba``), default numba when importable."""
    chosen = os.environ.get("LIQMAP_KERNEL", "").strip().lower() or ("numba" if HAVE_NUMBA else "numpy")
    if chosen not in KERNELS:
        from liqmap.errors import ConfigError

        raise ConfigError(f"LIQMAP_KERNEL: {chosen!r} is not a kernel; one of {', '.join(KERNELS)}")
    if chosen == "numba" and not HAVE_NUMBA:
        from liqmap.errors import ConfigError

        raise ConfigError("LIQMAP_KERNEL=numba but numba cannot be imported; install numba or use numpy")
    return chosen


def use_numba() -> bool:
    return kernel_name() == "numba"


@contextmanager
def kernel(name: str) -> Iterator[None]:
    """Within the block, ``LIQMAP_KERNEL=name`` (tests and benches compare the two paths; process-wide)."""
    before = os.environ.get("LIQMAP_KERNEL")
    os.environ["LIQMAP_KERNEL"] = name
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("LIQMAP_KERNEL", None)
        else:
            os.environ["LIQMAP_KERNEL"] = before


def _bar_sweeps_py(
    b: int, i: int, entries: np.ndarray, ratios: np.ndarray, sign: float, table: np.ndarray, suffix: np.ndarray,
    floor_log2: np.ndarray, keys: np.ndarray, order: np.ndarray, sweeps: np.ndarray, hints: np.ndarray,
) -> None:
    """Sweep bars of the cohorts born in bar ``b`` (row ``i`` of ``entries``) into ``sweeps`` (tier-major,
    ``n`` = never): the first bar ``t > b`` with ``table[0, t] <= sign * level``. ``hints`` holds each
    (tier, point)'s answer for the previous bar searched (updated); ``keys`` / ``order`` are scratch."""
    n = table.shape[1] - 1
    n_levels = table.shape[0]
    n_points = entries.shape[1]
    m = ratios.shape[0] * n_points
    # the bar's keys (sign * level) in decreasing order (insertion sort of <= tiers x points items):
    # a lower key is touched no earlier, so each search starts at the previous key's answer
    for c in range(m):
        key = sign * (entries[i, c % n_points] * ratios[c // n_points])
        keys[c] = key
        d = c
        while d > 0 and keys[order[d - 1]] < key:
            order[d] = order[d - 1]
            d -= 1
        order[d] = c
    pos = b + 1  # invariant: every bar in [b + 1, pos) is above the current key
    for c in range(m):
        slot = order[c]
        key = keys[slot]
        # sweep bar: first t >= pos with table[0, t] <= key (n when never)
        if pos >= n or suffix[pos] > key:
            for d in range(c, m):
                sweeps[order[d]] = n
            break
        # the previous bar's answer for this (tier, point) is often this one's: two range-minimum
        # reads confirm it (nothing at or below the key in [pos, h), a touch at h)
        h = hints[slot]
        if pos <= h < n:
            above = True
            if h > pos:
                q = floor_log2[h - pos]
                above = min(table[q, pos], table[q, h - (1 << q)]) > key
            if above:
                if table[0, h] <= key:
                    pos = h
                    sweeps[slot] = h
                    hints[slot] = h
                    continue
                pos = h + 1
        # galloping: windows of 1, 2, 4, ... bars until one holds a touch, then binary lifting inside
        # it (O(log(t - pos)) reads, near the lower bound first: cache-friendly)
        q = 0
        while table[q, pos] > key:
            pos += 1 << q
            if q + 1 < n_levels:
                q += 1
        for r in range(q - 1, -1, -1):
            pos += (1 << r) * (table[r, pos] > key)
        sweeps[slot] = pos
        hints[slot] = pos


def _cohorts_py(
    grid: np.ndarray, swept: np.ndarray, grid_base: int, swept_base: int, row: int,
    births: np.ndarray, entries: np.ndarray, ratios: np.ndarray, sign: float, w_bar: np.ndarray,
    weights: np.ndarray, edges: np.ndarray, uniform: bool, table: np.ndarray, suffix: np.ndarray,
    log_s: np.ndarray, log_s_col: np.ndarray, col_of: np.ndarray, start_factor: np.ndarray,
) -> None:
    """Add the events of cohorts ``(bar i, tier k, entry j)`` into ``grid`` (flat ``(K, row)``) and
    ``swept`` (flat): the cohort born in bar ``births[i]`` at ``entries[i, j]`` on tier ``k`` with USD
    ``w_bar[i] * weights[k]`` and level ``entries[i, j] * ratios[k]``; ``sign`` = +1 long (touch = low
    ``<=`` level), -1 short (the table holds ``-high``). ``grid_base`` / ``swept_base``: this side's
    offset in a row / in ``swept``."""
    n = table.shape[1] - 1
    nb = len(edges) - 1
    e0 = edges[0]
    scale = nb / (edges[nb] - e0)
    n_tiers = ratios.shape[0]
    n_points = entries.shape[1]
    m = n_tiers * n_points
    keys = np.empty(m)
    order = np.empty(m, dtype=np.int64)
    sweeps = np.empty(m, dtype=np.int64)
    hints = np.full(m, n, dtype=np.int64)  # each (tier, point)'s sweep bar for the previous bar of the call
    floor_log2 = np.zeros(n + 1, dtype=np.int64)
    for x in range(2, n + 1):
        floor_log2[x] = floor_log2[x >> 1] + 1
    for i in range(births.shape[0]):
        b = births[i]
        lb = log_s[b]
        c_birth = col_of[b]
        f_birth = start_factor[b]
        bar_sweeps(b, i, entries, ratios, sign, table, suffix, floor_log2, keys, order, sweeps, hints)
        for k in range(n_tiers):
            w0 = w_bar[i] * weights[k]
            for j in range(n_points):
                level = entries[i, j] * ratios[k]
                t = sweeps[k * n_points + j]
                # bin: searchsorted(edges, level, "right") - 1, -1 outside
                if uniform:
                    g = (level - e0) * scale
                    if g < 0.0:
                        g = -1.0
                    elif g > nb:
                        g = nb
                    idx = int(np.floor(g))
                    while idx >= 0 and level < edges[idx]:
                        idx -= 1
                    while idx < nb and level >= edges[idx + 1]:
                        idx += 1
                else:
                    lo = 0
                    hi = nb + 1
                    while lo < hi:
                        mid = (lo + hi) >> 1
                        if edges[mid] <= level:
                            lo = mid + 1
                        else:
                            hi = mid
                    idx = lo - 1
                if idx >= nb:
                    idx = -1
                if t < n:
                    c_end = col_of[t]
                    swept[swept_base + c_end] += w0 * np.exp(log_s[t - 1] - lb)
                if idx >= 0:
                    flat = grid_base + idx
                    grid[c_birth * row + flat] += w0 * f_birth
                    if t < n:
                        c_end = col_of[t]
                        grid[c_end * row + flat] -= w0 * np.exp(log_s_col[c_end] - lb)


def _first_touches_py(
    births: np.ndarray, entries: np.ndarray, ratios: np.ndarray, sign: float, table: np.ndarray,
    suffix: np.ndarray, out: np.ndarray,
) -> None:
    """``out[i, k, j]`` = the sweep bar of the cohort born in ``births[i]`` at ``entries[i, j]`` on tier
    ``k`` (the same search as :func:`add_cohorts`; ``n`` = never): what
    :func:`liqmap.model.book.group_sweeps` gives, compiled."""
    n = table.shape[1] - 1
    n_points = entries.shape[1]
    m = ratios.shape[0] * n_points
    keys = np.empty(m)
    order = np.empty(m, dtype=np.int64)
    sweeps = np.empty(m, dtype=np.int64)
    hints = np.full(m, n, dtype=np.int64)
    floor_log2 = np.zeros(n + 1, dtype=np.int64)
    for x in range(2, n + 1):
        floor_log2[x] = floor_log2[x >> 1] + 1
    for i in range(births.shape[0]):
        bar_sweeps(births[i], i, entries, ratios, sign, table, suffix, floor_log2, keys, order, sweeps, hints)
        for c in range(m):
            out[i, c // n_points, c % n_points] = sweeps[c]


def _roll_forward_py(grid: np.ndarray, log_s_col: np.ndarray) -> None:
    """In place on ``grid`` (K, R): ``X[k] = X[k-1] * exp(log_s_col[k] - log_s_col[k-1]) + U[k]``."""
    for k in range(1, grid.shape[0]):
        ratio = np.exp(log_s_col[k] - log_s_col[k - 1])
        if ratio == 1.0:
            for r in range(grid.shape[1]):
                grid[k, r] += grid[k - 1, r]
        else:
            for r in range(grid.shape[1]):
                grid[k, r] += grid[k - 1, r] * ratio


if HAVE_NUMBA:
    bar_sweeps: Any = numba.njit(cache=True, nogil=True, error_model="numpy")(_bar_sweeps_py)
    first_touches: Any = numba.njit(cache=True, nogil=True, error_model="numpy")(_first_touches_py)
    add_cohorts: Any = numba.njit(cache=True, nogil=True, error_model="numpy")(_cohorts_py)
    roll_forward: Any = numba.njit(cache=True, nogil=True, error_model="numpy")(_roll_forward_py)
else:  # pragma: no cover
    bar_sweeps = _bar_sweeps_py
    first_touches = _first_touches_py
    add_cohorts = _cohorts_py
    roll_forward = _roll_forward_py
