"""Compiled single-pass cohort kernel (numba) for the batch book; the numpy path stays as its oracle.

The numpy path of :func:`liqmap.model.book.frame_book` processes a chunk of cohorts in ~20 full-array
passes (first-touch lifting, gathers, bins, event values) with a temporary per pass. This kernel does the
same arithmetic in one pass per side of a frame, with no temporaries:

* the cohorts are visited from the last birth bar to the first, while a **record stack** of the bars
  after the birth grows: scanning ``t`` downwards, bar ``t`` pops the bars it hides (``v[s] >= v[t]``,
  ``v`` = low for longs, ``-high`` for shorts) and is pushed, so the stack holds, bottom to top,
  increasing ``v`` at decreasing bars (amortised O(1) per bar);
* sweep bar of level ``l = entry * ratio[side, tier]`` = the first ``t > b`` with ``v[t] <= sign * l``
  = the topmost stack entry with ``v <= sign * l``: a finger search from the previous cohort's answer
  (the top for a bar's first cohort; galloping 1, 2, 4, ... entries, then bisection), ``O(log d)`` reads
  for an answer ``d`` entries from the finger, in the stack's hot top (no sparse table, no per-bar sort
  of the keys); never touched when the bottom (the suffix minimum) is above the key;
* bin ``= searchsorted(edges, l, "right") - 1`` (an arithmetic guess on uniform edges, corrected
  against the edges, so exactly the bin numpy gives);
* events: ``+w0 S(col(b))/S(b)`` at the birth column, ``-w0 S(col(t))/S(b)`` at the sweep column, swept
  USD ``w0 S(t - 1)/S(b)`` in the sweep column (the equations of :mod:`liqmap.model.book`).

The same sweep bars as the numpy path's :class:`~liqmap.model.sweep.FirstTouch` (the same comparisons),
so the same numbers up to the order of the floating-point additions (~1e-15 relative).

``LIQMAP_KERNEL=numpy`` selects the numpy path; the default is ``numba`` when it imports. numba is
imported at the first kernel choice or use (:func:`have_numba`, :func:`compiled`), not with the package,
so a server start does not wait for it. Compiled functions are cached on disk (``cache=True``): the first
call in a fresh environment compiles them (a few seconds, printed by ``bench/bench_model.py``), later
processes load them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

KERNELS = ("numpy", "numba")
_LOCK = threading.Lock()
_numba: list[ModuleType | None] = []
"""numba once imported (None where it cannot be): imported at the first kernel choice, not with the
package (~0.15-0.5 s of every process start, the server's included)."""


def have_numba() -> bool:
    """Whether numba imports (imported here on the first call; numba is a dependency, but the numpy path
    must keep working where it cannot be imported)."""
    with _LOCK:
        if not _numba:
            try:
                import numba
            except ImportError:  # pragma: no cover - exercised only without numba
                _numba.append(None)
            else:
                _numba.append(numba)
        return _numba[0] is not None


def kernel_name() -> str:
    """The kernel in use: ``LIQMAP_KERNEL`` (``numpy`` or ``numba``), default numba when importable."""
    chosen = os.environ.get("LIQMAP_KERNEL", "").strip().lower() or ("numba" if have_numba() else "numpy")
    if chosen not in KERNELS:
        from liqmap.errors import ConfigError

        raise ConfigError(f"LIQMAP_KERNEL: {chosen!r} is not a kernel; one of {', '.join(KERNELS)}")
    if chosen == "numba" and not have_numba():
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


def _record_push_py(values: np.ndarray, stack_value: np.ndarray, stack_bar: np.ndarray, size: int, t: int) -> int:
    """Push bar ``t`` on the record stack (scanning bars from the last to the first): the bars above it
    that it hides (value ``>= values[t]``: any key reaching them reaches ``t`` first) are popped. Returns
    the new size. The stack holds, bottom to top, increasing values at decreasing bars: the records of
    ``values[t:]`` seen from ``t``."""
    v = values[t]
    while size > 0 and stack_value[size - 1] >= v:
        size -= 1
    stack_value[size] = v
    stack_bar[size] = t
    return size + 1


def _record_find_py(stack_value: np.ndarray, size: int, key: float, finger: int) -> int:
    """The position of the topmost stack entry with value ``<= key`` (the first bar touched), -1 when
    none. A finger search from position ``finger`` (``< size``; the previous answer, or the top): gallop
    1, 2, 4, ... entries up or down from it, then bisect the last step, so an answer ``d`` entries from
    the finger costs ``O(log d)`` reads (levels of one bar lie close together)."""
    if size == 0 or stack_value[0] > key:
        return -1
    top = size - 1
    step = 1
    if stack_value[finger] <= key:  # at or above the finger: val[lo] <= key < val[hi] (hi = top + 1: none)
        lo = finger
        hi = finger + step
        while hi <= top and stack_value[hi] <= key:
            lo = hi
            step <<= 1
            hi = finger + step
        if hi > top:
            hi = top + 1
    else:  # below the finger
        hi = finger
        lo = finger - step
        while lo > 0 and stack_value[lo] > key:
            hi = lo
            step <<= 1
            lo = finger - step
        if lo < 0:
            lo = 0
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if stack_value[mid] <= key:
            lo = mid
        else:
            hi = mid
    return lo


def _bin_of_py(level: float, edges: np.ndarray, uniform: bool, scale: float) -> int:
    """``searchsorted(edges, level, "right") - 1``, -1 outside: on uniform edges an arithmetic guess
    ``floor((level - e_0) * scale)`` corrected against the edges (so exactly numpy's bin), else bisection."""
    nb = edges.shape[0] - 1
    if uniform:
        g = (level - edges[0]) * scale
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
    return -1 if idx >= nb else idx


ENTRY_GIVEN, ENTRY_PRICE, ENTRY_TRIANGULAR, ENTRY_RANGE = 0, 1, 2, 3
"""How the kernels get entry ``j`` of ``J`` of a row ``i`` born in bar ``b``: ``entries[i, j]``; the
bar's single price ``price[b]``; the triangular or the range rule of :mod:`liqmap.model.inputs` on the
bar's low / high / close (the same arithmetic per element, so the same prices)."""


def _entry_py(
    rule: int, entries: np.ndarray, i: int, b: int, j: int, n_j: int, price: np.ndarray, low: np.ndarray,
    high: np.ndarray, close: np.ndarray,
) -> float:
    """Entry ``j`` of ``n_j`` (``ENTRY_*``). Triangular, with ``u = (j + 1/2) / n_j``, ``c`` the close
    clipped to the bar and ``w = high - low``: ``low + sqrt(u w (c - low))`` when ``u < (c - low) / w``,
    else ``high - sqrt((1 - u) w (high - c))``; range: ``low + w j / (n_j - 1)`` (the mid when ``n_j = 1``)."""
    if rule == ENTRY_GIVEN:
        return float(entries[i, j])
    if rule == ENTRY_PRICE:
        return float(price[b])
    lo = low[b]
    hi = high[b]
    width = hi - lo
    if rule == ENTRY_RANGE:
        if n_j == 1:
            return float((hi + lo) / 2.0)
        return float(lo + width * (j / (n_j - 1)))
    c = min(max(close[b], lo), hi)
    u = (j + 0.5) / n_j
    mode_at = (c - lo) / width if width > 0 else 0.0
    if u < mode_at:
        return float(lo + np.sqrt(u * (width * (c - lo))))
    return float(hi - np.sqrt((1.0 - u) * (width * (hi - c))))


def _side_events_py(
    grid: np.ndarray, swept: np.ndarray, grid_base: int, swept_base: int, row: int,
    births: np.ndarray, n_points: np.ndarray, rule: int, entries: np.ndarray, price: np.ndarray, low: np.ndarray,
    high: np.ndarray, close: np.ndarray, w_bar: np.ndarray, ratios: np.ndarray,
    weights: np.ndarray, values: np.ndarray, sign: float, edges: np.ndarray, uniform: bool,
    log_s: np.ndarray, log_s_col: np.ndarray, col_of: np.ndarray, start_factor: np.ndarray,
    block: np.ndarray, rel: np.ndarray, col_block: np.ndarray, col_rel: np.ndarray,
) -> None:
    """Add the events of cohorts ``(i, tier k, entry j < n_points[i])`` of one side into ``grid`` (flat
    ``(K, row)``) and ``swept`` (flat): born in bar ``b = births[i]`` (non-decreasing) at entry ``e_j``
    (:func:`entry` by ``rule``) with USD ``w0 = w_bar[i] * weights[k]`` and level ``l = e_j * ratios[k]``.

    ``values`` = ``sign`` x the touching series (low for longs, ``sign`` +1; ``-high`` for shorts): the
    sweep bar is the first ``t > b`` with ``values[t] <= sign * l``, read from the record stack of the
    bars after ``b`` (births are visited from the last to the first, the stack grows as they go). Events:
    ``+w0 S(col(b))/S(b)`` at the birth column, ``-w0 S(col(t))/S(b)`` at the sweep column, swept USD
    ``w0 S(t - 1)/S(b)`` in the sweep column (``grid_base`` / ``swept_base``: this side's offsets).

    The ratios ``S(x)/S(b) = exp(log S(x) - log S(b))`` are products of per-bar factors where both bars
    lie in the same block of :func:`scale_blocks` (``rel(x) / rel(b)``, no ``exp`` per cohort), else
    the ``exp`` itself."""
    n = values.shape[0]
    nb = edges.shape[0] - 1
    scale = nb / (edges[nb] - edges[0])
    points = np.empty(max(1, int(n_points.max())) if n_points.shape[0] else 1)
    stack_value = np.empty(n)
    stack_bar = np.empty(n, dtype=np.int64)
    size = 0
    nxt = n - 1
    finger = 0
    for i in range(births.shape[0] - 1, -1, -1):
        b = births[i]
        if nxt > b:  # a new stack: search from its top (rows of one bar, e.g. a warm book's, keep the finger)
            while nxt > b:
                size = record_push(values, stack_value, stack_bar, size, nxt)
                nxt -= 1
            finger = size - 1
        lb = log_s[b]
        block_b = block[b]
        inv_b = 1.0 / rel[b]
        birth_at = col_of[b] * row + grid_base
        f_birth = start_factor[b]
        n_j = n_points[i]
        for j in range(n_j):
            points[j] = entry(rule, entries, i, b, j, n_j, price, low, high, close)
        for k in range(ratios.shape[0]):
            w0 = w_bar[i] * weights[k]
            ratio = ratios[k]
            for j in range(n_j):
                level = points[j] * ratio
                pos = record_find(stack_value, size, sign * level, finger)
                t = n
                if pos >= 0:
                    t = stack_bar[pos]
                    finger = pos
                idx = bin_of(level, edges, uniform, scale)
                if t < n:
                    c_end = col_of[t]
                    if block[t - 1] == block_b:
                        swept[swept_base + c_end] += w0 * (rel[t - 1] * inv_b)
                    else:
                        swept[swept_base + c_end] += w0 * np.exp(log_s[t - 1] - lb)
                    if idx >= 0:
                        grid[birth_at + idx] += w0 * f_birth
                        if col_block[c_end] == block_b:
                            grid[c_end * row + grid_base + idx] -= w0 * (col_rel[c_end] * inv_b)
                        else:
                            grid[c_end * row + grid_base + idx] -= w0 * np.exp(log_s_col[c_end] - lb)
                elif idx >= 0:
                    grid[birth_at + idx] += w0 * f_birth


BLOCK_LOG = 32.0
"""Log-range of one block of :func:`scale_blocks`: ``rel`` stays within ``(e^-32, 1]``."""


def scale_blocks(log_s: np.ndarray, log_s_col: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(block, rel, col_block, col_rel)``: the bars (columns) split by their ``log S`` into blocks of
    :data:`BLOCK_LOG` below ``log S(0)``, ``k = floor((log S(0) - log S(x)) / BLOCK_LOG)``, and
    ``rel(x) = exp(log S(x) - R_k)`` with ``R_k = log S(0) - k BLOCK_LOG``, so for two bars of one block

        S(x) / S(b) = exp(log S(x) - log S(b)) = rel(x) / rel(b)

    (no overflow or underflow: ``rel`` lies in ``(e^-BLOCK_LOG, 1]``; equal up to rounding)."""
    top = log_s[0] if len(log_s) else 0.0
    block = np.floor((top - log_s) / BLOCK_LOG)
    col_block = np.floor((top - log_s_col) / BLOCK_LOG)
    rel = np.exp(log_s - (top - block * BLOCK_LOG))
    col_rel = np.exp(log_s_col - (top - col_block * BLOCK_LOG))
    return block.astype(np.int64), rel, col_block.astype(np.int64), col_rel


def _alive_py(
    births: np.ndarray, n_points: np.ndarray, rule: int, price: np.ndarray, low: np.ndarray, high: np.ndarray,
    close: np.ndarray, ratios: np.ndarray, weights: np.ndarray,
    values: np.ndarray, sign: float, w_now: np.ndarray, w_last: np.ndarray, out_birth: np.ndarray,
    out_level: np.ndarray, out_value: np.ndarray, out_tier: np.ndarray,
) -> tuple[int, float]:
    """The cohorts ``(i, tier k, entry j < n_points[i])`` of one side never swept up to the last bar
    ``n - 1`` (the record-stack search of :func:`side_events`, entries by ``rule``): birth bar, level
    ``e_j * ratios[k]``, USD at the last bar ``w_now[i] * weights[k]``, tier. Returns their count and the USD
    swept in the last bar, ``sum w_last[i] * weights[k]`` over the cohorts swept there.

    Written from the last birth to the first, each bar's by key ``-sign * level`` descending, equal keys
    in reverse (tier, entry) order: reversed, the rows are ordered by (birth, key) with ties in (tier,
    entry) order, as a stable sort of the (tier, entry) rows gives."""
    n = values.shape[0]
    points = np.empty(max(1, int(n_points.max())) if n_points.shape[0] else 1)
    none = np.empty((0, 0))
    stack_value = np.empty(n)
    stack_bar = np.empty(n, dtype=np.int64)
    size = 0
    nxt = n - 1
    count = 0
    swept_last = 0.0
    for i in range(births.shape[0] - 1, -1, -1):
        while nxt > births[i]:
            size = record_push(values, stack_value, stack_bar, size, nxt)
            nxt -= 1
        finger = size - 1
        start = count
        n_j = n_points[i]
        for j in range(n_j):
            points[j] = entry(rule, none, i, births[i], j, n_j, price, low, high, close)
        for k in range(ratios.shape[0]):
            for j in range(n_j):
                level = points[j] * ratios[k]
                pos = record_find(stack_value, size, sign * level, finger)
                t = n
                if pos >= 0:
                    t = stack_bar[pos]
                    finger = pos
                if t < n:
                    if t == n - 1:
                        swept_last += w_last[i] * weights[k]
                    continue
                # insertion into the bar's rows, key descending, a later row before an equal key
                d = count
                while d > start and -sign * out_level[d - 1] <= -sign * level:
                    out_level[d] = out_level[d - 1]
                    out_value[d] = out_value[d - 1]
                    out_tier[d] = out_tier[d - 1]
                    d -= 1
                out_birth[count] = births[i]
                out_level[d] = level
                out_value[d] = w_now[i] * weights[k]
                out_tier[d] = k
                count += 1
    return count, swept_last


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


def _shown_py(total: np.ndarray, residue: float, long: np.ndarray, short: np.ndarray) -> tuple[float, float]:
    """``long`` / ``short`` (K, B) from the summed book ``total`` (K, 2, B) in two passes per column:
    ``max(x, 0)``, then bins ``<= residue x`` the column's largest (both sides) set to 0. Returns the
    smallest and the largest raw value (0 included), for the caller's negative-notional check."""
    lowest = 0.0
    highest = 0.0
    for k in range(total.shape[0]):
        top = 0.0
        for b in range(total.shape[2]):
            x = total[k, 0, b]
            y = total[k, 1, b]
            lowest = min(lowest, x, y)
            highest = max(highest, x, y)
            x = x if x > 0.0 else 0.0
            y = y if y > 0.0 else 0.0
            long[k, b] = x
            short[k, b] = y
            top = max(top, x, y)
        cut = residue * top
        for b in range(total.shape[2]):
            if long[k, b] <= cut:
                long[k, b] = 0.0
            if short[k, b] <= cut:
                short[k, b] = 0.0
    return lowest, highest


class Compiled(NamedTuple):
    """The kernel's functions as :func:`compiled` returns them."""

    record_push: Any
    record_find: Any
    entry: Any
    bin_of: Any
    side_events: Any
    alive: Any
    roll_forward: Any
    shown: Any


# The plain functions until compiled() binds the compiled ones here: the compiled functions find each
# other as module globals (numba resolves a function's globals when it compiles it).
record_push: Any = _record_push_py
record_find: Any = _record_find_py
entry: Any = _entry_py
bin_of: Any = _bin_of_py
side_events: Any = _side_events_py
alive: Any = _alive_py
roll_forward: Any = _roll_forward_py
shown: Any = _shown_py
_compiled: list[Compiled] = []


def compiled() -> Compiled:
    """The kernel's functions compiled by numba (``cache=True``: each compiles, or loads from the on-disk
    cache, at its first call), the plain Python ones where numba does not import. numba is imported here,
    at the first kernel use, not with the package."""
    numba = _numba[0] if have_numba() else None
    with _LOCK:
        if not _compiled:
            module = globals()
            if numba is not None:
                jit = numba.njit(cache=True, nogil=True, error_model="numpy")
                module.update({name: jit(module[f"_{name}_py"]) for name in Compiled._fields})
            _compiled.append(Compiled(*(module[name] for name in Compiled._fields)))
        return _compiled[0]
