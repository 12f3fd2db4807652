"""Warm start from history, vectorised (the batch engine's cohort machinery).

Replaying 90 days of 1-minute bars one by one takes seconds; computing which cohorts are still alive
after the last bar, and what they weigh then, takes the batch engine a fraction of that. The warm book
(:func:`liqmap.model.engine.warm_book`) continues exactly as the batch engine over the whole history
(tests/model/test_model_warm_start.py, test_model_advance.py).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from liqmap.model import kernel
from liqmap.model.book import group_sweeps
from liqmap.model.config import ModelConfig
from liqmap.model.frame import MarketFrame
from liqmap.model.inputs import FrameInputs, frame_inputs
from liqmap.model.kernel import use_numba
from liqmap.model.sweep import FirstTouch


@dataclass(frozen=True, eq=False)
class AliveSide:
    """Cohorts of one side alive after the frame's last bar, sorted by (birth, key).

    ``key`` orders a side by when price reaches it (``-level`` for longs, ``level`` for shorts);
    ``value`` is the USD at the end of the last bar."""

    birth: np.ndarray
    key: np.ndarray
    bin: np.ndarray
    value: np.ndarray
    swept_last: float
    """USD swept in the last bar (selected age buckets), the book's part of that bar's swept series."""
    tier: np.ndarray
    """Each cohort's position in the ``ratios`` / ``weights`` columns it was built with."""


def alive_cohorts(
    config: ModelConfig,
    frame: MarketFrame,
    ratios: np.ndarray,
    weights: np.ndarray,
    edges: np.ndarray,
    boundaries: np.ndarray,
    age_selected: np.ndarray,
    since: int = 0,
) -> tuple[AliveSide, AliveSide]:
    """``ratios`` (2, T) and ``weights`` (T,) of the modelled tiers; bins on ``edges`` (-1 outside);
    ``boundaries`` the age-bucket boundaries in bars and ``age_selected`` a bool per bucket; ``since``:
    only cohorts born in bars ``>= since`` (earlier bars are context)."""
    n = len(frame)
    inputs = frame_inputs(config, frame)
    log_s = np.cumsum(inputs.log_keep)
    born_all = np.flatnonzero(inputs.added > 0)
    born_all = born_all[born_all >= since]
    points = inputs.n_points[born_all]
    # per born bar: the book factor from the birth to the last bar, and to the bar before it where the
    # age there is selected (the USD swept in the last bar)
    keep_now = np.exp(log_s[n - 1] - log_s[born_all])
    keep_before, selected = np.zeros(len(born_all)), np.zeros(len(born_all), dtype=bool)
    if n >= 2:
        keep_before = np.exp(log_s[n - 2] - log_s[born_all])
        selected = age_selected[np.searchsorted(boundaries, n - 2 - born_all, side="right")]
    compiled = use_numba()
    spec = _AliveSpec(inputs, born_all, points, ratios, weights, keep_now, keep_before, selected)

    def one_side(side: int) -> AliveSide:
        values = np.ascontiguousarray(frame.low if side == 0 else -frame.high)
        found = _alive_compiled(spec, side, values) if compiled else _alive_numpy(spec, side, values)
        birth, level, value, tier, swept_last = found  # ordered by (birth, key)
        bins = np.searchsorted(edges, level, side="right") - 1
        bins[(bins < 0) | (bins >= len(edges) - 1)] = -1
        return AliveSide(birth, -level if side == 0 else level, bins, value, swept_last, tier)

    # The two sides are independent and numpy releases the GIL in its array loops: a thread each (not
    # for a few bars, e.g. a live step, where starting the threads costs more than the work).
    if n < 5_000:
        return one_side(0), one_side(1)
    with ThreadPoolExecutor(2) as pool:
        long, short = pool.map(one_side, (0, 1))
    return long, short


@dataclass(frozen=True, eq=False)
class _AliveSpec:
    """The born bars of :func:`alive_cohorts` and their book factors (shared by both sides)."""

    inputs: FrameInputs
    born: np.ndarray
    points: np.ndarray
    ratios: np.ndarray
    weights: np.ndarray
    keep_now: np.ndarray
    keep_before: np.ndarray
    selected: np.ndarray

    def usd(self, side: int, rows: np.ndarray | slice = slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """Per born bar (``rows``) and unit tier weight: a cohort's USD at the last bar, and at the bar
        before it when that age is selected (else 0): ``added x share / J x S(end) / S(b)``."""
        born = self.born[rows]
        share = self.inputs.long_share[born] if side == 0 else 1.0 - self.inputs.long_share[born]
        opened = self.inputs.added[born] * share / self.points[rows]
        return opened * self.keep_now[rows], opened * self.keep_before[rows] * self.selected[rows]


Found = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]
"""Alive cohorts of one side (birth, level, value, tier), ordered by (birth, key) with ties in (tier,
entry) order, and the USD swept in the last bar."""


def _alive_compiled(spec: _AliveSpec, side: int, values: np.ndarray) -> Found:
    """One compiled record-stack pass over every born bar (:func:`liqmap.model.kernel.alive`)."""
    born, points = spec.born, spec.points
    rule, *prices = spec.inputs.entry_rule()
    size = int(points.sum()) * len(spec.weights)
    birth, level = np.empty(size, dtype=np.int64), np.empty(size)
    value, tier = np.empty(size), np.empty(size, dtype=np.int64)
    now, before = spec.usd(side)
    count, swept_last = kernel.compiled().alive(
        born, points, rule, *prices, np.ascontiguousarray(spec.ratios[side]), spec.weights, values,
        1.0 if side == 0 else -1.0, now, before, birth, level, value, tier,
    )
    # the kernel writes the last birth first, each bar's rows by key descending: reversed, in order
    rows = slice(count - 1, None, -1) if count else slice(0, 0)
    return birth[rows].copy(), level[rows].copy(), value[rows].copy(), tier[rows].copy(), float(swept_last)


def _alive_numpy(spec: _AliveSpec, side: int, values: np.ndarray) -> Found:
    """The numpy path (the oracle): sparse-table sweeps of each group of bars with the same entry points."""
    inputs, born_all, points, n = spec.inputs, spec.born, spec.points, len(values)
    search = FirstTouch(values)
    sign = 1.0 if side == 0 else -1.0
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    swept_last = 0.0
    for n_j in np.unique(points).tolist():
        rows = np.flatnonzero(points == n_j)
        born = born_all[rows]
        levels = inputs.entries(born, n_j)[:, None, :] * spec.ratios[side][None, :, None]  # (bars, T, J)
        sweep = group_sweeps(search, born, sign * levels)
        now, before = spec.usd(side, rows)
        value = np.broadcast_to((now[:, None] * spec.weights[None, :])[:, :, None], levels.shape)
        swept_last += float(((before[:, None] * spec.weights[None, :])[:, :, None] * (sweep == n - 1)).sum())
        alive_now = sweep >= n
        tier = np.broadcast_to(np.arange(levels.shape[1])[None, :, None], levels.shape)
        parts.append((np.broadcast_to(born[:, None, None], levels.shape)[alive_now], levels[alive_now],
                      value[alive_now], tier[alive_now]))
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64), swept_last
    birth, level = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    order = np.lexsort((-level if side == 0 else level, birth))
    return (birth[order], level[order], np.concatenate([p[2] for p in parts])[order],
            np.concatenate([p[3] for p in parts])[order], swept_last)
