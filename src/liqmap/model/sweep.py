"""When does price first reach a level? Vectorised first-touch search over a bar series.

For a long cohort born at bar ``b`` with level ``l`` the sweep bar is the first ``t > b`` with
``low[t] <= l``; for a short, the first ``t > b`` with ``high[t] >= l`` (``n`` when never).

Hand-written because no numpy/scipy routine answers "first index after i where x <= v" for millions of
(i, v) queries: a sparse table of range minima (``table[j][i] = min(x[i : i + 2**j])``) answers each
query by binary lifting in ``log2(n)`` vectorised steps, O((n + q) log n) overall.
"""

from __future__ import annotations

import numpy as np


class FirstTouch:
    """Range-minimum sparse table over ``values`` answering first ``t >= start`` with ``values[t] <= level``."""

    def __init__(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        self.n = n = len(values)
        levels = max(1, n.bit_length())
        # Windows running past the end hold -inf so the search never skips over them; index n is a sentinel.
        table = np.full((levels, n + 1), -np.inf)
        table[0, :n] = values
        for j in range(1, levels):
            half = 1 << (j - 1)
            width = n - (1 << j) + 1
            if width <= 0:
                break
            np.minimum(table[j - 1, :width], table[j - 1, half : half + width], out=table[j, :width])
        self.table = table
        self.levels = levels

    def first_at_or_below(self, start: np.ndarray, level: np.ndarray, max_span: int | None = None) -> np.ndarray:
        """For each query, the first index ``t >= start`` with ``values[t] <= level`` (``n`` if none).

        ``max_span``: the caller knows every answer is at most ``start + max_span``; the search then
        needs only ``bit_length(max_span)`` lifting steps instead of ``log2(n)``."""
        pos = np.minimum(np.asarray(start, dtype=np.int64), self.n)
        level = np.asarray(level, dtype=np.float64)
        skip = np.empty(len(pos), dtype=bool)
        top = self.levels if max_span is None else min(self.levels, int(max_span).bit_length())
        for j in range(top - 1, -1, -1):
            np.greater(self.table[j].take(pos), level, out=skip)
            np.add(pos, 1 << j, out=pos, where=skip)
        return pos
