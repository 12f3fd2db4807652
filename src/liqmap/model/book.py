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

That is the numpy path (the oracle, and any ``ages`` filter). With every age bucket selected the compiled
kernel (:mod:`liqmap.model.kernel`) does steps 1-3 in one pass per side over a record stack of the bars.
A run's settings are a :class:`BookSpec`, a frame's arrays a :class:`FrameJob`: :func:`frame_book` =
:meth:`FrameJob.build`, :func:`add_sides`, :func:`finish` (the engine runs the steps on threads).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from liqmap.errors import ConfigError
from liqmap.model import kernel
from liqmap.model.config import ModelConfig
from liqmap.model.diffuse import diffuse_swept
from liqmap.model.frame import MarketFrame
from liqmap.model.grid import ColumnPlan, bin_index, uniform_edges
from liqmap.model.inputs import FrameInputs, frame_inputs
from liqmap.model.intrabar import intrabar_swept
from liqmap.model.kernel import ENTRY_GIVEN, scale_blocks, use_numba
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

    def __init__(self, size: int, reuse: np.ndarray | None = None) -> None:
        """``reuse``: an array of ``size`` no longer needed, zeroed and filled again (no fresh pages)."""
        if reuse is not None and reuse.shape == (size,):
            reuse.fill(0.0)
            self.out = reuse
        else:
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


@dataclass(frozen=True, eq=False)
class BookSpec:
    """The settings every frame of one run shares: model settings, columns, price grid, the selected tiers
    (indices into ``config.leverage``) and age buckets, the sides computed (0 long, 1 short)."""

    config: ModelConfig
    plan: ColumnPlan
    edges: np.ndarray
    tiers: tuple[int, ...]
    ages: tuple[int, ...]
    sides: tuple[int, ...] = (0, 1)

    @property
    def n_bins(self) -> int:
        return len(self.edges) - 1

    @property
    def row(self) -> int:
        """Values per column of the flat grid: ``len(sides) * n_bins``."""
        return len(self.sides) * self.n_bins

    @property
    def weights(self) -> np.ndarray:
        return np.asarray(self.config.normalised_weights)[list(self.tiers)]

    @property
    def n_buckets(self) -> int:
        return len(self.config.age_buckets_hours) + 1

    @property
    def all_ages(self) -> bool:
        return list(self.ages) == list(range(self.n_buckets))


@dataclass(frozen=True, eq=False)
class FrameJob:
    """One frame's per-bar arrays on the run's columns (shared by both sides, the born and the warm
    cohorts) and the event sums it fills. ``log_s`` = cumulative log book factor ``log S``;
    ``log_s_col[k]`` = ``log S`` at column ``k``'s last bar (held before the frame's first / after its
    last bar); ``start_factor[b] = S(col(b)) / S(b) <= 1``; ``ratios`` (2, T) of every tier of
    ``config.leverage``, ``tier_ratios`` of the selected ones."""

    spec: BookSpec
    frame: MarketFrame
    inputs: FrameInputs
    ratios: np.ndarray
    tier_ratios: np.ndarray
    log_s: np.ndarray
    log_s_col: np.ndarray
    col_of: np.ndarray
    start_factor: np.ndarray
    boundaries: np.ndarray
    grid: _Events
    swept: _Events
    compiled: bool
    warm: WarmBook | None
    p: int
    """The first bar after the warm book (0 without one): cohorts are born in ``born >= p``."""
    born: np.ndarray
    blocks: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    """The compiled kernel's scale blocks (:func:`liqmap.model.kernel.scale_blocks`)."""
    points: np.ndarray | None
    """The compiled path's entry points per born bar (None on the numpy path)."""

    @classmethod
    def build(
        cls, spec: BookSpec, frame: MarketFrame, offset: int, ratios: np.ndarray, warm: WarmBook | None = None,
        reuse: np.ndarray | None = None,
    ) -> FrameJob:
        """``reuse``: a finished job's flat grid to fill again (a run's later frames)."""
        n = len(frame)
        plan = spec.plan
        compiled = use_numba()
        inputs = frame_inputs(spec.config, frame)
        log_s = np.cumsum(inputs.log_keep)
        log_s_col = np.where(plan.last_bar < offset, log_s[0], log_s[np.clip(plan.last_bar - offset, 0, n - 1)])
        col_of = plan.col_of_bar[offset : offset + n]
        p = 0 if warm is None else _warm_start(spec, frame, warm)
        born = np.flatnonzero(inputs.added > 0)
        born = born[born >= p]
        return cls(
            spec=spec, frame=frame, inputs=inputs, ratios=ratios, tier_ratios=ratios[:, list(spec.tiers)], log_s=log_s,
            log_s_col=log_s_col, col_of=col_of, start_factor=np.exp(log_s_col[col_of] - log_s),
            boundaries=age_boundaries_bars(spec.config, frame.interval_ms),
            grid=_Events(plan.n_columns * spec.row, reuse), swept=_Events(len(spec.sides) * plan.n_columns),
            compiled=compiled, warm=warm, p=p, born=born, blocks=scale_blocks(log_s, log_s_col),
            points=inputs.n_points[born] if compiled and spec.all_ages else None,
        )

    @property
    def per_side(self) -> bool:
        """The sides can be computed apart (by two threads): the compiled path, every age bucket."""
        return self.points is not None

    @property
    def n(self) -> int:
        return len(self.frame)

    @property
    def k_cols(self) -> int:
        return self.spec.plan.n_columns

    def values(self, side: int) -> np.ndarray:
        """The touching series in the search's sign convention (touch = value ``<=`` sign x level)."""
        return np.ascontiguousarray(self.frame.low if side == 0 else -self.frame.high)

    @cached_property
    def searches(self) -> dict[int, FirstTouch]:
        """The numpy path's sparse tables, per side (built on first use)."""
        return {side: FirstTouch(self.values(side)) for side in self.spec.sides}


def frame_book(
    spec: BookSpec, frame: MarketFrame, offset: int, ratios: np.ndarray, warm: WarmBook | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """This frame's book ``(K, S, B)`` per column and swept USD ``(S, K)`` of ``spec.sides`` (0 long,
    1 short; ``S = len(sides)``), restricted to ``spec.tiers`` / ``spec.ages``; ``ratios`` (2, T) of
    every tier of ``config.leverage``.

    ``offset`` is the frame's first bar on the global timeline of ``spec.plan``. Swept USD includes the
    same-bar term of :mod:`liqmap.model.intrabar` (positions opened and liquidated inside one bar; they
    are age 0, so they count when the first age bucket is selected) and the diffuse layer of
    :mod:`liqmap.model.diffuse` (oldest age bucket).

    ``warm``: the book at the end of bar ``p - 1`` (``warm.at``); bars ``< p`` are *context* only (their
    OI, volumes and ranges feed the inputs of later bars, no cohort is born in them) and the warm cohorts
    are cohorts whose USD is given at the end of bar ``p - 1``, swept from bar ``p`` on. With an ``ages``
    filter their age counts from their real birth (``warm.births``, needed then), as in the one long run.

    Then the columns are rolled forward, ``X_k = X_{k-1} S_k / S_{k-1} + U_k`` (every ratio ``<= 1``)."""
    job = FrameJob.build(spec, frame, offset, ratios, warm)
    add_sides(job, tuple(range(len(spec.sides))))
    return finish(job)


def add_sides(job: FrameJob, slots: tuple[int, ...]) -> None:
    """The cohorts (warm and born) of the sides at ``slots`` into the job's sums; sides computed apart
    (:attr:`FrameJob.per_side`) write disjoint elements, so two threads may run two sides at once."""
    spec = job.spec
    for slot in slots:
        if job.warm is not None:
            _add_warm_side(job, job.warm, job.p, slot, spec.sides[slot])
        if job.per_side:
            _add_born_compiled(job, slot)
    if not job.per_side:
        _add_born_numpy(job, job.born, slots)


def finish(job: FrameJob, terms: BarTerms | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The per-bar terms added (``terms``: :func:`bar_terms` of the job's frame when the caller computed
    them already, e.g. on another thread while the job was built), the columns rolled forward: ``(K, S,
    B)`` book and ``(S, K)`` swept."""
    spec = job.spec
    for slot, values in bar_terms(spec, job.frame, job.ratios) if terms is None else terms:
        job.swept.add(slot * job.k_cols + job.col_of, values)
    out = job.grid.result().reshape(job.k_cols, spec.row)
    if job.compiled:
        kernel.compiled().roll_forward(out, job.log_s_col)
    else:
        _roll_forward(out, job.log_s_col)
    n_sides = len(spec.sides)
    return out.reshape(job.k_cols, n_sides, spec.n_bins), job.swept.result().reshape(n_sides, job.k_cols)


def _warm_start(spec: BookSpec, frame: MarketFrame, warm: WarmBook) -> int:
    """``p``: the frame's first bar after the warm book's time (checked against the book's arrays)."""
    p = int(np.searchsorted(frame.ts, warm.at))
    if p < 1 or int(frame.ts[p - 1]) + frame.interval_ms != warm.at:
        raise ConfigError(f"warm: {frame.exchange} {frame.symbol} has no bar ending at the warm book's time {warm.at}")
    if not spec.all_ages and warm.births is None:
        raise ConfigError("ages: this warm book keeps no cohort births; drop the ages filter or rebuild it")
    for side in spec.sides:
        count = len(warm.levels[side])
        for name in ("values", "births", "tiers"):
            column = getattr(warm, name)
            if column is not None and len(column[side]) != count:
                raise ConfigError(f"warm: {len(column[side])} {name} for {count} cohorts on side {side}")
    return p


def _add_warm_side(job: FrameJob, warm: WarmBook, p: int, slot: int, side: int) -> None:
    """The warm book's cohorts of ``side``: given at the end of bar ``p - 1``, swept from bar ``p`` on."""
    spec = job.spec
    keep = slice(None) if warm.tiers is None else np.isin(warm.tiers[side], spec.tiers)
    levels = np.asarray(warm.levels[side], dtype=np.float64)[keep][:, None, None]
    if not len(levels):
        return
    values = np.asarray(warm.values[side], dtype=np.float64)[keep]
    b = np.full(len(levels), p - 1, dtype=np.int64)
    sign = 1.0 if side == 0 else -1.0
    if spec.all_ages and job.compiled:
        kernel.compiled().side_events(
            job.grid.out, job.swept.out, slot * spec.n_bins, slot * job.k_cols, spec.row, b,
            np.ones(len(b), dtype=np.int64), ENTRY_GIVEN, np.ascontiguousarray(levels[:, :, 0]),
            *job.inputs.entry_rule()[1:], values, np.ones(1), np.ones(1), job.values(side), sign, spec.edges,
            uniform_edges(spec.edges), job.log_s, job.log_s_col, job.col_of, job.start_factor, *job.blocks,
        )
        return
    sweep = group_sweeps(job.searches[side], b, sign * levels)
    if spec.all_ages:
        _add_all_ages(job, slot, b, levels, sweep, values, np.ones(1))
        return
    assert warm.births is not None
    births_ms = np.asarray(warm.births[side], dtype=np.int64)[keep]
    # age in this frame's bars from the real birth (negative: born before the frame's first bar)
    birth = (births_ms - int(job.frame.ts[0])) // job.frame.interval_ms
    lb = np.full(len(values), job.log_s[p - 1])  # values are given at the end of bar p - 1
    # present from bar p - 1 (the book's time) at the earliest
    _add_aged(job, slot, birth, sweep.ravel(), values, lb, levels.ravel(), p - 1)


def _add_born_compiled(job: FrameJob, slot: int) -> None:
    """Every cohort born in ``job.born`` on one side (every age bucket): one compiled record-stack pass."""
    spec, inputs, born, points = job.spec, job.inputs, job.born, job.points
    if not len(born) or points is None:
        return
    side = spec.sides[slot]
    share = inputs.long_share[born] if side == 0 else 1.0 - inputs.long_share[born]
    rule, *prices = inputs.entry_rule()
    kernel.compiled().side_events(
        job.grid.out, job.swept.out, slot * spec.n_bins, slot * job.k_cols, spec.row, born, points, rule,
        np.empty((0, 0)), *prices, inputs.added[born] * share / points,
        np.ascontiguousarray(job.tier_ratios[side]), spec.weights, job.values(side), 1.0 if side == 0 else -1.0,
        spec.edges, uniform_edges(spec.edges), job.log_s, job.log_s_col, job.col_of, job.start_factor, *job.blocks,
    )


def _add_born_numpy(job: FrameJob, born: np.ndarray, slots: tuple[int, ...]) -> None:
    """The numpy path (the oracle; and any ``ages`` filter): chunks of bars with the same entry points."""
    spec, inputs = job.spec, job.inputs
    points = inputs.n_points[born]
    weights = spec.weights
    for n_j in np.unique(points).tolist():
        born_j = born[points == n_j]
        chunk = max(1, CHUNK_COHORTS // (len(spec.tiers) * n_j))
        for c0 in range(0, len(born_j), chunk):
            b = born_j[c0 : c0 + chunk]
            entries = inputs.entries(b, n_j)
            for slot in slots:
                side = spec.sides[slot]
                share = inputs.long_share[b] if side == 0 else 1.0 - inputs.long_share[b]
                w_bar = inputs.added[b] * share / n_j
                levels = entries[:, None, :] * job.tier_ratios[side][None, :, None]  # (nb, T, J)
                sign = 1.0 if side == 0 else -1.0
                sweep = group_sweeps(job.searches[side], b, sign * levels)
                if spec.all_ages:
                    _add_all_ages(job, slot, b, levels, sweep, w_bar, weights)
                    continue
                shape = levels.shape
                w0 = np.broadcast_to((w_bar[:, None] * weights[None, :])[:, :, None], shape).ravel()
                birth = np.broadcast_to(b[:, None, None], shape).ravel()
                _add_aged(job, slot, birth, sweep.ravel(), w0, job.log_s[birth], levels.ravel(), None)


BarTerms = list[tuple[int, np.ndarray]]
"""Per-bar swept USD to add to one slot's swept series, in the order :func:`finish` adds them."""


def bar_terms(spec: BookSpec, frame: MarketFrame, ratios: np.ndarray) -> BarTerms:
    """Closed-form per-bar swept USD: the same-bar term (age 0) and the diffuse layer (oldest bucket), per
    slot of ``spec.sides``; ``ratios`` (2, T) of every tier. Independent of the frame's cohorts, so a run
    computes them beside :meth:`FrameJob.build` and the sides."""
    out: BarTerms = []
    if 0 in spec.ages:
        same_bar = intrabar_swept(spec.config, frame, ratios, list(spec.tiers))
        out += [(slot, same_bar[side]) for slot, side in enumerate(spec.sides)]
    if spec.n_buckets - 1 in spec.ages:  # the diffuse layer: positions older than the history
        diffuse = diffuse_swept(spec.config, frame, float(spec.weights.sum()))
        out += [(slot, diffuse[side]) for slot, side in enumerate(spec.sides)]
    return out


def _add_all_ages(
    job: FrameJob, slot: int, b: np.ndarray, levels: np.ndarray, sweep: np.ndarray, w_bar: np.ndarray,
    weights: np.ndarray,
) -> None:
    """Every age bucket selected (the common case): swept USD and presence events of one chunk, sharing
    the per-cohort gathers. A cohort is present in columns ``[col(birth), col(sweep))``; cohort order is
    (bar, tier, entry point) flattened; swept in bar ``t``: ``w0 S(t - 1) / S(b)``."""
    n, k_cols, n_bins, row = job.n, job.k_cols, job.spec.n_bins, job.spec.row
    log_s, log_s_col, col_of = job.log_s, job.log_s_col, job.col_of
    per_bar = levels.shape[1] * levels.shape[2]
    nj = levels.shape[2]
    w0 = (w_bar[:, None] * weights[None, :]).ravel()
    if nj > 1:
        w0 = np.repeat(w0, nj)
    lb = np.repeat(log_s[b], per_bar)
    sweep = sweep.ravel()
    c_end = col_of.take(np.minimum(sweep, n - 1))
    leaves = sweep < n
    t = sweep[leaves]
    c_hit = c_end[leaves]
    w_hit = w0[leaves]
    lb_hit = lb[leaves]
    if len(t):
        job.swept.add(slot * k_cols + c_hit, w_hit * np.exp(log_s.take(t - 1) - lb_hit))
    bins = bin_index(levels.ravel(), job.spec.edges)
    inside = bins >= 0
    flat = slot * n_bins + bins
    start = np.repeat(col_of.take(b) * row, per_bar) + flat
    value = w0 * np.repeat(job.start_factor.take(b), per_bar)
    if not inside.all():
        start, value = start[inside], value[inside]
    job.grid.add(start, value)
    out = leaves & inside
    if out.any():
        c = c_end[out]
        job.grid.add(c * row + flat[out], -w0[out] * np.exp(log_s_col.take(c) - lb[out]))


def _add_aged(
    job: FrameJob, slot: int, birth: np.ndarray, sweep: np.ndarray, w0: np.ndarray, lb: np.ndarray,
    levels: np.ndarray, earliest: int | None,
) -> None:
    """An ``ages`` filter: swept USD and presence split at the boundaries of the selected age buckets
    (``lb``: log S when ``w0`` is given; ``earliest``: present from that bar at the earliest)."""
    spec = job.spec
    _add_swept(job, slot, birth, sweep, w0, lb)
    bins = bin_index(levels, spec.edges)
    inside = bins >= 0
    if not inside.any():
        return
    birth, sweep, w0, lb = birth[inside], sweep[inside], w0[inside], lb[inside]
    flat = slot * spec.n_bins + bins[inside]
    lo_all = np.concatenate(([0], job.boundaries))
    hi_all = np.concatenate((job.boundaries, [NEVER]))
    for first, last in age_runs(list(spec.ages)):
        start = birth + lo_all[first]
        if earliest is not None:
            start = np.maximum(start, earliest)
        _add_segment(job, lb, start, np.minimum(birth + hi_all[last], sweep), w0, flat)


def _add_swept(
    job: FrameJob, slot: int, birth: np.ndarray, sweep: np.ndarray, w0: np.ndarray, lb: np.ndarray
) -> None:
    """Swept USD ``w0 S(t - 1) / exp(lb)`` in the sweep bar ``t`` (``lb``: log S when ``w0`` is given),
    counted when the age at bar ``t - 1`` (bars since ``birth``) is in a selected bucket."""
    hit = sweep < job.n
    if not hit.any():
        return
    t, b, w, lb = sweep[hit], birth[hit], w0[hit], lb[hit]
    sel = np.isin(np.searchsorted(job.boundaries, t - 1 - b, side="right"), job.spec.ages)
    t, w, lb = t[sel], w[sel], lb[sel]
    job.swept.add(slot * job.k_cols + job.col_of[t], w * np.exp(job.log_s[t - 1] - lb))


def _add_segment(
    job: FrameJob, lb: np.ndarray, start: np.ndarray, end: np.ndarray, w0: np.ndarray, flat: np.ndarray
) -> None:
    """Present in bars [start, end) (``end >= n``: held to the last column) with USD ``w0 S / exp(lb)``."""
    n, k_cols, row, col_of, log_s_col = job.n, job.k_cols, job.spec.row, job.col_of, job.log_s_col
    ok = (start < end) & (start < n)
    s, e = start[ok], end[ok]
    c_start = col_of[s]
    c_end = np.where(e >= n, k_cols, col_of[np.minimum(e, n - 1)])
    real = c_start < c_end
    w, lb, fl = w0[ok][real], lb[ok][real], flat[ok][real]
    c_start, c_end = c_start[real], c_end[real]
    job.grid.add(c_start * row + fl, w * np.exp(log_s_col[c_start] - lb))
    leaves = c_end < k_cols
    job.grid.add(c_end[leaves] * row + fl[leaves], -w[leaves] * np.exp(log_s_col[c_end[leaves]] - lb[leaves]))


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
