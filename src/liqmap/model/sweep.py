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
        # suffix[i] = min(values[i:]) (+inf at n): a level below it is never touched, no search needed
        suffix = np.full(n + 1, np.inf)
        if n:
            suffix[:n] = np.minimum.accumulate(values[::-1])[::-1]
        self.suffix = suffix

    def first_at_or_below(self, start: np.ndarray, level: np.ndarray, max_span: int | None = None) -> np.ndarray:
        """For each query, the first index ``t >= start`` with ``values[t] <= level`` (``n`` if none).

        ``max_span``: the caller knows every answer is at most ``start + max_span``; the search then
        needs only ``bit_length(max_span)`` lifting steps instead of ``log2(n)``. A level below
        ``min(values[start:])`` is never touched and needs no search at all."""
        pos = np.minimum(np.asarray(start, dtype=np.int64), self.n)
        level = np.asarray(level, dtype=np.float64)
        todo = self.suffix.take(pos) <= level
        if todo.all():
            return self._lift(pos, level, max_span)
        out = np.full(len(pos), self.n, dtype=np.int64)
        if todo.any():
            out[todo] = self._lift(pos[todo], level[todo], max_span)
        return out

    def _lift(self, pos: np.ndarray, level: np.ndarray, max_span: int | None) -> np.ndarray:
        """Binary lifting from ``pos`` (in place); every query is known to have an answer ``< n``."""
        if not len(pos):
            return pos
        skip = np.empty(len(pos), dtype=bool)
        value = np.empty(len(pos))
        # no answer lies beyond n - 1: windows longer than n - min(start) are never needed
        top = min(self.levels, int(self.n - int(pos.min())).bit_length())
        if max_span is not None:
            top = min(top, int(max_span).bit_length())
        for j in range(top - 1, -1, -1):
            self.table[j].take(pos, out=value)
            np.greater(value, level, out=skip)
            np.add(pos, 1 << j, out=pos, where=skip)
        return pos
