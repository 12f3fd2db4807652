"""Warm start of the streaming model from history, vectorised (the batch engine's cohort machinery).

Replaying 90 days of 1-minute bars one by one takes seconds; computing which cohorts are still alive
after the last bar, and what they weigh then, takes the batch engine a fraction of that. The result is
the same state ``StreamingModel.update`` would have reached (tested).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from liqmap.model.book import group_sweeps
from liqmap.model.config import ModelConfig
from liqmap.model.frame import MarketFrame
from liqmap.model.inputs import frame_inputs
from liqmap.model.kernel import first_touches, use_numba
from liqmap.model.sweep import FirstTouch


@dataclass(frozen=True, eq=False)
class AliveSide:
    """Cohorts of one side alive after the frame's last bar, sorted by (birth, key).

    ``key`` is the heap key of the streaming model (``-level`` for longs, ``level`` for shorts);
    ``value`` is the USD at the end of the last bar."""

    birth: np.ndarray
    key: np.ndarray
    bin: np.ndarray
    value: np.ndarray
    swept_last: float
    """USD swept in the last bar (selected age buckets), what ``update`` reports for that bar."""
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
    compiled = use_numba()
    points = inputs.n_points[born_all]

    def one_side(side: int) -> AliveSide:
        series, sign = (frame.low, 1.0) if side == 0 else (frame.high, -1.0)
        values = np.ascontiguousarray(sign * series)
        search = None if compiled else FirstTouch(values)
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        swept_last = 0.0
        for n_j in np.unique(points).tolist():
            born = born_all[points == n_j]
            share = inputs.long_share[born] if side == 0 else 1.0 - inputs.long_share[born]
            entries = inputs.entries(born, n_j)
            levels = entries[:, None, :] * ratios[side][None, :, None]  # (bars, T, J)
            if search is None:  # the same sweep bars, one compiled pass
                sweep = np.empty(levels.shape, dtype=np.int64)
                first_touches(born, entries, np.ascontiguousarray(ratios[side]), sign, values, sweep)
            else:
                sweep = group_sweeps(search, born, sign * levels)
            now = inputs.added[born] * share / n_j * np.exp(log_s[n - 1] - log_s[born])
            value = np.broadcast_to((now[:, None] * weights[None, :])[:, :, None], levels.shape)
            if n >= 2:
                last = sweep == n - 1
                ages = np.searchsorted(boundaries, n - 2 - born, side="right")
                before = inputs.added[born] * share / n_j * np.exp(log_s[n - 2] - log_s[born]) * age_selected[ages]
                swept_last += float(((before[:, None] * weights[None, :])[:, :, None] * last).sum())
            alive = sweep >= n
            tier = np.broadcast_to(np.arange(levels.shape[1])[None, :, None], levels.shape)
            parts.append((np.broadcast_to(born[:, None, None], levels.shape)[alive], levels[alive], value[alive],
                          tier[alive]))
        birth = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
        level = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0)
        value = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0)
        tier = np.concatenate([p[3] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
        key = -level if side == 0 else level
        order = np.lexsort((key, birth))
        level = level[order]
        bins = np.searchsorted(edges, level, side="right") - 1
        bins[(bins < 0) | (bins >= len(edges) - 1)] = -1
        return AliveSide(birth[order], key[order], bins, value[order], swept_last, tier[order])

    # The two sides are independent and numpy releases the GIL in its array loops: a thread each (not
    # for a few bars, e.g. a live step, where starting the threads costs more than the work).
    if n < 5_000:
        return one_side(0), one_side(1)
    with ThreadPoolExecutor(2) as pool:
        long, short = pool.map(one_side, (0, 1))
    return long, short
