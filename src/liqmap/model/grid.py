"""Price bins and time columns of a heatmap."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from liqmap.errors import ConfigError

DEFAULT_PAD = 0.15
"""Default grid: [min low / (1 + pad), max high * (1 + pad)], wide enough for ~7x levels and tighter."""


def default_edges(low: float, high: float, n_bins: int, pad: float = DEFAULT_PAD) -> np.ndarray:
    return np.linspace(low / (1.0 + pad), high * (1.0 + pad), n_bins + 1)


def check_edges(edges: np.ndarray | Sequence[float]) -> np.ndarray:
    arr = np.asarray(edges, dtype=np.float64)
    if arr.ndim != 1 or len(arr) < 2:
        raise ConfigError("price_edges: need a 1-D array of at least 2 bin edges")
    if not np.isfinite(arr).all() or (arr <= 0).any():
        raise ConfigError("price_edges: edges must be finite and positive")
    if (np.diff(arr) <= 0).any():
        i = int(np.argmax(np.diff(arr) <= 0))
        raise ConfigError(f"price_edges: edges must be strictly increasing (edge {i + 1} = {arr[i + 1]} <= {arr[i]})")
    return arr


def bin_index(levels: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each level (bin ``b`` = ``[edges[b], edges[b+1])``), -1 outside the grid.

    Equal to ``searchsorted(edges, level, "right") - 1``; uniform grids take an arithmetic fast path
    corrected by one step at exact edges so both paths agree bit for bit.
    """
    levels = np.asarray(levels, dtype=np.float64)
    nb = len(edges) - 1
    if len(levels) <= 4 * nb or not uniform_edges(edges):
        idx = np.searchsorted(edges, levels, side="right") - 1
        idx[idx >= nb] = -1
        return idx
    scaled = levels - edges[0]
    scaled *= nb / (edges[-1] - edges[0])
    np.clip(scaled, -1.0, nb, out=scaled)
    floor = np.floor(scaled)
    idx = floor.astype(np.int64)
    # Rounding can only cross an edge when the scaled level is within a hair of an integer: correct those
    # by one step against the edges themselves (the result then equals searchsorted bit for bit).
    # The hair: a few ulps of the largest edge in bin units, plus the ulps of the scaled value itself.
    step = (edges[-1] - edges[0]) / nb
    hair = 64 * np.finfo(np.float64).eps * (max(abs(edges[0]), abs(edges[-1])) / step + nb + 1)
    scaled -= floor
    near = np.flatnonzero((scaled < hair) | (scaled > 1.0 - hair))
    if len(near):
        padded = np.concatenate(([-np.inf], edges, [np.inf, np.inf]))
        i, lv = idx[near], levels[near]
        i -= lv < padded[i + 1]
        i += lv >= padded[i + 2]
        idx[near] = i
    idx[(idx < 0) | (idx >= nb)] = -1
    result: np.ndarray = idx
    return result


def uniform_edges(edges: np.ndarray) -> bool:
    widths = np.diff(edges)
    return bool(np.allclose(widths, widths[0], rtol=1e-9, atol=0.0))


@dataclass(frozen=True, eq=False)
class ColumnPlan:
    """How bars map to heatmap columns. ``col_of_bar[g]``: column of global bar g; ``last_bar[k]``."""

    col_of_bar: np.ndarray
    first_bar: np.ndarray
    last_bar: np.ndarray
    group: int

    @property
    def n_columns(self) -> int:
        return len(self.last_bar)


def column_group(ts: np.ndarray, interval_ms: int, max_columns: int | None) -> int:
    """The smallest number of bars per column ``g`` for which the bars ``ts``, grouped in columns aligned
    to multiples of ``g * interval`` in time, make at most ``max_columns`` columns (1 = a column per bar)."""
    n = len(ts)
    if max_columns is not None and max_columns < 1:
        raise ConfigError(f"max_columns: must be >= 1 or None, got {max_columns}")
    group = 1
    if max_columns is not None and n > max_columns:
        group = -(-n // max_columns)
        while True:
            keys = ts // (group * interval_ms)
            if keys[-1] - keys[0] + 1 <= max_columns:
                break
            group += 1
    return group


def column_plan(
    ts: np.ndarray, interval_ms: int, max_columns: int | None, group: int | None = None, lead_until: int | None = None
) -> ColumnPlan:
    """One column per bar, or groups of ``g`` bars aligned to multiples of ``g * interval`` in time
    (stable across refreshes): ``g = group`` when given, else :func:`column_group` of ``max_columns``.

    ``lead_until`` (ms): the bars before the first column boundary at or after it share one leading
    column (a warm-up the caller crops: its columns would only be rolled forward and dropped); the later
    columns are the same as without it."""
    n = len(ts)
    if group is None:
        group = column_group(ts, interval_ms, max_columns)
    elif group < 1:
        raise ConfigError(f"column_group: must be >= 1, got {group}")
    if group == 1 and lead_until is None:
        idx = np.arange(n)
        return ColumnPlan(idx, idx.copy(), idx.copy(), 1)
    width = group * interval_ms
    keys = ts // width
    if lead_until is not None:
        keys = np.maximum(keys, -(-int(lead_until) // width) - 1)
    change = np.concatenate(([True], keys[1:] != keys[:-1]))
    col_of_bar = np.cumsum(change) - 1
    first_bar = np.flatnonzero(change)
    last_bar = np.concatenate((first_bar[1:] - 1, [n - 1]))
    return ColumnPlan(col_of_bar, first_bar, last_bar, group)
