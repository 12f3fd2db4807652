"""Batch heatmap engine: every bar of every frame at once, vectorised (docs/model.md gives the model).

This module validates the request, lays the frames on one timeline, picks the grid and the columns,
and sums the exchanges; the per-frame cohort book lives in :mod:`liqmap.model.book`. The per-bar loop
exists only in :mod:`liqmap.model.reference` (the test oracle).
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cache, partial
from typing import Any, TypeVar

import numpy as np

from liqmap.errors import BadSeriesError, ConfigError, ModelError
from liqmap.model import kernel
from liqmap.model.book import BookSpec, FrameJob, WarmBook, add_sides, age_boundaries_bars, bar_terms, finish
from liqmap.model.brackets import BracketBook
from liqmap.model.config import ModelConfig
from liqmap.model.frame import MarketFrame
from liqmap.model.grid import ColumnPlan, check_edges, column_plan, default_edges
from liqmap.model.inputs import frame_inputs, level_ratios
from liqmap.model.kernel import use_numba
from liqmap.model.result import Heatmap
from liqmap.model.sweep import FirstTouch
from liqmap.model.warmup import alive_cohorts
from liqmap.symbols import canonical

MAX_GRID_BYTES = 2 * 1024**3
THREADS = 2
"""Threads of this process computing a run's frames and sides at once (1 = one after the other)."""
SMALL_RUN_BARS = 20_000
"""Runs with fewer bars (over all frames) are computed on the calling thread."""
SPLIT_VALUES = 1 << 22
"""Summed books of at least this many values have their residue pass split over two threads (a thread
start costs more than the pass on smaller ones)."""
RESIDUE = 1e-12
"""Share of a column's largest bin at or below which a bin is rounding residue (shown as 0)."""
SCRATCH_BYTES = 3 * 2000 * 2 * 2000 * 8
"""Books' grids kept between runs (three of a 2,000-column, 2,000-bin view, both sides: one run's)."""


class Scratch:
    """Flat float64 grids a finished run no longer needs, handed to the next run of the same grid size to
    zero and fill again: a fresh grid is new pages (64 MB, ~16k page faults and tens of ms of system
    time for 2,000 x 2,000 x 2). At most ``limit`` bytes are kept (the oldest dropped); thread-safe, and
    an array is given to one run at a time."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._arrays: list[np.ndarray] = []

    def take(self, size: int) -> np.ndarray | None:
        with self._lock:
            for i, array in enumerate(self._arrays):
                if array.shape == (size,):
                    return self._arrays.pop(i)
        return None

    def give(self, arrays: Sequence[np.ndarray]) -> None:
        with self._lock:
            self._arrays.extend(arrays)
            while sum(a.nbytes for a in self._arrays) > self.limit:
                self._arrays.pop(0)


SCRATCH = Scratch(SCRATCH_BYTES)
"""The process's grids between runs (:func:`run_books` takes and gives; never an array a caller holds)."""
MALLOC_SETTINGS = ((-3, 32 * 1024**2), (-1, 128 * 1024**2), (-2, 64 * 1024**2))
"""glibc ``mallopt`` (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, M_TOP_PAD) set by :func:`keep_freed_memory`."""
_MALLOC_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


@cache
def keep_freed_memory() -> bool:
    """Once per process, glibc's allocator set to keep freed memory for the next allocations; True when the
    settings are in place.

    A large run allocates and frees ~100 per-frame arrays of 1-32 MB on each thread; by default glibc maps
    the larger ones afresh and gives the heap's free top back, so each is new pages again (12-19k minor
    page faults and 40-90 ms of system time per 90-day 5-venue 1-minute run). With these settings blocks
    up to 32 MB come from the heap, which grows in 64 MB steps and is trimmed only beyond 128 MB free: the
    process keeps ~200 MB more between runs (its peak is about the same). Not applied when the C library is
    not glibc, when the environment sets glibc's malloc (``MALLOC_*_``, ``GLIBC_TUNABLES``) or with
    ``LIQMAP_MALLOC=system``."""
    return _set_malloc()


def _set_malloc() -> bool:
    if (os.environ.get("LIQMAP_MALLOC", "").lower() == "system" or any(k in os.environ for k in _MALLOC_ENV)
            or "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", "")):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 (glibc only: mallopt's parameters are glibc's)
        return all(libc.mallopt(param, value) == 1 for param, value in MALLOC_SETTINGS)
    except (OSError, AttributeError, TypeError):
        return False


def select_tiers(config: ModelConfig, leverage: Sequence[float] | None) -> list[int]:
    if leverage is None:
        return list(range(len(config.leverage)))
    chosen = []
    for lev in leverage:
        matches = [i for i, tier in enumerate(config.leverage) if abs(tier - float(lev)) < 1e-9]
        if not matches:
            raise ConfigError(f"leverage: {lev}x is not a model tier; tiers are {list(config.leverage)}")
        chosen.append(matches[0])
    if not chosen:
        raise ConfigError("leverage: the filter selects no tier")
    return sorted(set(chosen))


def select_ages(config: ModelConfig, ages: Sequence[str | int] | None) -> list[int]:
    labels = config.age_labels
    if ages is None:
        return list(range(len(labels)))
    chosen = []
    for age in ages:
        if isinstance(age, str) and age in labels:
            chosen.append(labels.index(age))
        elif isinstance(age, int | np.integer) and not isinstance(age, bool) and 0 <= int(age) < len(labels):
            chosen.append(int(age))
        else:
            raise ConfigError(f"ages: unknown age bucket {age!r}; buckets are {list(labels)}")
    if not chosen:
        raise ConfigError("ages: the filter selects no age bucket")
    return sorted(set(chosen))


def _timeline(frames: Sequence[MarketFrame]) -> tuple[int, int, np.ndarray, list[int]]:
    interval = frames[0].interval_ms
    symbol = canonical(frames[0].symbol)
    seen: set[str] = set()
    for f in frames:
        if f.interval_ms != interval:
            raise ConfigError(f"frames: {f.exchange} has interval {f.interval_ms} ms, expected {interval} ms")
        if canonical(f.symbol) != symbol:
            raise ConfigError(f"frames: {f.exchange} is {f.symbol}, expected {symbol}; one symbol per heatmap")
        if f.exchange in seen:
            raise ConfigError(f"frames: {f.exchange} appears twice; pass one frame per exchange")
        seen.add(f.exchange)
        if len(f) == 0:
            raise ConfigError(f"frames: {f.exchange} {f.symbol} has no bars")
    t0 = min(int(f.ts[0]) for f in frames)
    t1 = max(int(f.ts[-1]) for f in frames)
    offsets = []
    for f in frames:
        if (int(f.ts[0]) - t0) % interval:
            raise BadSeriesError(f"frames: {f.exchange} bars are not aligned with the others' {interval} ms grid")
        offsets.append((int(f.ts[0]) - t0) // interval)
    ts = t0 + interval * np.arange((t1 - t0) // interval + 1, dtype=np.int64)
    return interval, t0, ts, offsets


def _candles(frames: Sequence[MarketFrame], offsets: list[int], ts: np.ndarray, plan: ColumnPlan) -> dict[str, np.ndarray]:
    g = len(ts)
    o, h, lo, c = (np.full(g, np.nan) for _ in range(4))
    vol = np.zeros(g)
    for f, off in zip(frames, offsets, strict=True):
        sl = slice(off, off + len(f))
        free = np.isnan(c[sl])
        for arr, src in ((o, f.open), (h, f.high), (lo, f.low), (c, f.close)):
            arr[sl] = np.where(free, src, arr[sl])
        vol[sl] += np.nan_to_num(f.volume, nan=0.0)
    if np.isnan(c).any():
        i = int(np.argmax(np.isnan(c)))
        raise BadSeriesError(f"frames: no exchange has a bar at ts={ts[i]}; the frames leave a gap")
    first, last = plan.first_bar, plan.last_bar
    return {
        "ts": ts[first],
        "open": o[first],
        "high": np.maximum.reduceat(h, first),
        "low": np.minimum.reduceat(lo, first),
        "close": c[last],
        "volume": np.add.reduceat(vol, first),
    }


def warm_book(
    frame: MarketFrame,
    config: ModelConfig | None = None,
    *,
    leverage: Sequence[float] | None = None,
    brackets: BracketBook | None = None,
    since: int = 0,
) -> WarmBook:
    """The book after ``frame``'s last bar (cohorts still alive, their levels, USD, births and tiers), for
    ``compute_heatmap(..., warm=...)`` to continue from; a book of every tier serves any ``leverage``
    filter of the continuation (its cohorts of other tiers are left out). ``frame`` may use a coarser bar interval than
    the frames the heatmap is computed on (docs/model.md, section 8, "Warm start"). ``since``: only the
    cohorts born in bars ``>= since`` (the earlier bars are context; :func:`advance_book`)."""
    config = config or ModelConfig()
    if len(frame) == 0:
        raise ConfigError(f"frames: {frame.exchange} {frame.symbol} has no bars to warm up from")
    ratios, _ = level_ratios(config, frame.exchange, frame.symbol, brackets)
    tiers = select_tiers(config, leverage)
    weights = np.asarray(config.normalised_weights)[tiers]
    boundaries = age_boundaries_bars(config, frame.interval_ms)
    every_age = np.ones(len(boundaries) + 1, dtype=bool)
    edges = np.array([0.0, np.inf])  # bins are not needed here: frame_book bins the levels on its grid
    long, short = alive_cohorts(config, frame, ratios[:, tiers], weights, edges, boundaries, every_age, since)
    chosen = np.asarray(tiers, dtype=np.int64)
    return WarmBook(
        at=int(frame.ts[-1]) + frame.interval_ms,
        levels=(-long.key, short.key),
        values=(long.value, short.value),
        births=(frame.ts[long.birth].astype(np.int64), frame.ts[short.birth].astype(np.int64)),
        tiers=(chosen[long.tier], chosen[short.tier]),
    )


def compute_heatmap(
    frames: Sequence[MarketFrame] | MarketFrame,
    config: ModelConfig | None = None,
    *,
    price_edges: np.ndarray | Sequence[float] | None = None,
    n_bins: int = 500,
    max_columns: int | None = None,
    column_group: int | None = None,
    leverage: Sequence[float] | None = None,
    ages: Sequence[str | int] | None = None,
    brackets: BracketBook | None = None,
    warm: Sequence[WarmBook | None] | None = None,
    lead_until: int | None = None,
) -> Heatmap:
    """Heatmap of modelled liquidation notional summed over ``frames`` (one per exchange, same symbol).

    ``price_edges`` (strictly increasing) or ``n_bins`` equal bins over the default range
    (:func:`liqmap.model.grid.default_edges`); ``max_columns`` groups bars into coarser columns (column =
    state after its last bar; swept = sum over its bars; candles aggregated OHLC), or ``column_group``
    sets the bars per column directly (columns aligned to multiples of it in time); ``leverage`` /
    ``ages`` restrict the output to some tiers (values from ``config.leverage``) and age buckets (labels
    from ``config.age_labels`` or their indices); ``brackets`` overrides the shipped margin brackets.

    ``warm`` (one per frame, None = start empty): continue from a :class:`WarmBook` (:func:`warm_book`)
    instead of an empty book. A frame's bars up to ``warm.at`` are then context only: their OI, volumes
    and ranges feed later bars' inputs (give at least ``VOLUME_LOOKBACK + 1`` bars and a finite OI), no
    position opens in them, and their columns are not meaningful (crop them). An ``ages`` filter ages the
    warm cohorts from their births (``WarmBook.births``; a book without them refuses the filter).

    ``lead_until`` (ms): the bars before the first column boundary at or after it form one leading
    column, for a caller that crops them (a warm-up); the later columns are unchanged (up to rounding).
    """
    config = config or ModelConfig()
    frames = [frames] if isinstance(frames, MarketFrame) else list(frames)
    if not frames:
        raise ConfigError("frames: at least one MarketFrame is required")
    warms = list(warm) if warm is not None else [None] * len(frames)
    if len(warms) != len(frames):
        raise ConfigError(f"warm: {len(warms)} warm books for {len(frames)} frames; pass one per frame (or None)")
    tiers = select_tiers(config, leverage)
    age_sel = select_ages(config, ages)
    interval, _t0, ts, offsets = _timeline(frames)
    edges = _price_edges(frames, price_edges, n_bins)
    plan = column_plan(ts, interval, max_columns, column_group, lead_until)
    n_bins = len(edges) - 1
    if plan.n_columns * 2 * n_bins * 8 > MAX_GRID_BYTES:
        raise ConfigError(
            f"max_columns: {plan.n_columns} columns x {n_bins} bins would need "
            f"{plan.n_columns * 2 * n_bins * 8 / 1e9:.1f} GB; set max_columns (e.g. 2000) or fewer bins"
        )
    candles = _candles(frames, offsets, ts, plan)
    spec = BookSpec(config, plan, edges, tuple(tiers), tuple(age_sel))
    notes = []
    tasks = []
    for frame, offset, frame_warm in zip(frames, offsets, warms, strict=True):
        ratios, note = level_ratios(config, frame.exchange, frame.symbol, brackets)
        notes.append(note)
        tasks.append(FrameTask(frame, offset, ratios, frame_warm))
    workers = min(2 * len(tasks), THREADS) if sum(len(f) for f in frames) >= SMALL_RUN_BARS else 1
    total, swept = run_books(spec, tasks, workers)
    long, short = _shown(total, workers)
    if not (np.may_share_memory(total, long) or np.may_share_memory(total, short)):  # one side: long is total
        SCRATCH.give([total.reshape(-1)])
    labels = config.age_labels
    return Heatmap(
        symbol=canonical(frames[0].symbol),
        exchanges=tuple(f.exchange for f in frames),
        times=candles["ts"].copy(),
        price_edges=edges,
        long=long,
        short=short,
        swept_long=swept[0],
        swept_short=swept[1],
        candles=candles,
        interval_ms=interval * plan.group,
        leverage=tuple(config.leverage[i] for i in tiers),
        ages=tuple(labels[i] for i in age_sel),
        notes=tuple(notes),
    )


def _price_edges(
    frames: Sequence[MarketFrame], price_edges: np.ndarray | Sequence[float] | None, n_bins: int
) -> np.ndarray:
    """``price_edges`` checked, or ``n_bins`` equal bins over the frames' default range."""
    if price_edges is not None:
        return check_edges(price_edges)
    if n_bins < 1:
        raise ConfigError(f"n_bins: must be >= 1, got {n_bins}")
    low = min(float(f.low.min()) for f in frames)
    high = max(float(f.high.max()) for f in frames)
    return default_edges(low, high, n_bins)


@dataclass(frozen=True, eq=False)
class FrameTask:
    """One frame of a run: its first bar on the run's timeline, its level ratios (2, T) of every tier
    and the warm book it continues from (None = an empty book)."""

    frame: MarketFrame
    offset: int
    ratios: np.ndarray
    warm: WarmBook | None = None


def run_books(spec: BookSpec, tasks: Sequence[FrameTask], workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Every frame's book summed: ``(K, S, B)`` and swept ``(S, K)``.

    Frames are independent, and numpy's array loops and the compiled kernel release the GIL, so
    ``workers`` threads of this process overlap them, in waves of ``workers`` frames and three steps:
    each frame's per-bar arrays (:class:`~liqmap.model.book.FrameJob`) and, as separate tasks, its per-bar
    swept terms (:func:`~liqmap.model.book.bar_terms`), then its sides' cohorts (a side apart when the
    path allows it, so two threads share even one frame), then the terms added and the roll-forward. A
    wave's grids are summed in frame order, then filled again by the next wave (a run touches
    ``workers + 1`` grids, not one per frame, taken from :data:`SCRATCH` when an earlier run left some;
    the spares go back to it), so the numbers do not depend on ``workers``."""
    total: np.ndarray | None = None
    swept: np.ndarray | None = None
    spare: list[np.ndarray] = []
    size = spec.plan.n_columns * spec.row
    if workers > 1:  # a large run
        keep_freed_memory()
    slots = tuple(range(len(spec.sides)))
    wave = max(1, workers)
    with ThreadPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
        run = map if pool is None else pool.map
        for first in range(0, len(tasks), wave):
            batch = [(task, spare.pop() if spare else SCRATCH.take(size)) for task in tasks[first : first + wave]]
            # the frames' per-bar terms beside their jobs (a wave of one frame still keeps both threads busy)
            steps: list[Callable[[], Any]] = [
                *(partial(FrameJob.build, spec, task.frame, task.offset, task.ratios, task.warm, reuse)
                  for task, reuse in batch),
                *(partial(bar_terms, spec, task.frame, task.ratios) for task, _ in batch),
            ]
            built = list(run(lambda step: step(), steps))
            jobs, terms = built[: len(batch)], built[len(batch) :]
            per_side = jobs[0].per_side
            parts = [(job, (slot,)) for job in jobs for slot in slots] if per_side else [(j, slots) for j in jobs]
            list(run(lambda part: add_sides(*part), parts))
            for job, (grid, frame_swept) in zip(jobs, run(finish, jobs, terms), strict=True):
                if total is None or swept is None:
                    total, swept = grid, frame_swept
                    continue
                by_halves(pool, partial(_add_rows, total, grid), len(total))
                swept += frame_swept
                spare.append(job.grid.out)
    assert total is not None and swept is not None
    SCRATCH.give(spare)
    return total, swept


T = TypeVar("T")


def _add_rows(total: np.ndarray, grid: np.ndarray, rows: slice) -> None:
    np.add(total[rows], grid[rows], out=total[rows])


def by_halves(pool: ThreadPoolExecutor | None, fn: Callable[[slice], T], n: int) -> list[T]:
    """``fn`` over the first and the second half of ``n`` rows at once, the second on a ``pool`` thread
    (None: one call over all rows): for row-wise work the calling thread would otherwise do alone."""
    if pool is None or n < 2:
        return [fn(slice(0, n))]
    half = n // 2
    pending = pool.submit(fn, slice(half, n))
    return [fn(slice(0, half)), pending.result()]


def _shown(total: np.ndarray, workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``(long, short)`` (K, B) from the summed book: checked non-negative, rounding residue cleared.

    Entering and leaving events cancel up to rounding: a bin emptied by sweeps may keep ~1e-16 of the
    USD that passed through it. Bins at or below RESIDUE x the column's largest are shown as empty (so
    "non-empty bin" means the same in every column, whatever the sweeps before it)."""
    if use_numba():  # the same comparisons in one compiled pass per column (columns apart: by halves)
        long, short = np.empty((total.shape[0], total.shape[2])), np.empty((total.shape[0], total.shape[2]))
        shown = kernel.compiled().shown
        with ThreadPoolExecutor(1) if workers > 1 and total.size >= SPLIT_VALUES else nullcontext() as pool:
            parts = by_halves(pool, lambda rows: shown(total[rows], RESIDUE, long[rows], short[rows]), len(total))
        low, high = min(part[0] for part in parts), max(part[1] for part in parts)
        scale = max(high, -low, 1.0)
        if low < -1e-6 * scale:
            raise ModelError(f"heatmap: negative outstanding notional {low} (scale {scale}); this is a bug")
        return long, short
    long, short = np.ascontiguousarray(total[:, 0, :]), np.ascontiguousarray(total[:, 1, :])
    low = min(float(long.min(initial=0.0)), float(short.min(initial=0.0)))
    scale = max(float(long.max(initial=0.0)), float(short.max(initial=0.0)), -low, 1.0)
    if low < -1e-6 * scale:
        raise ModelError(f"heatmap: negative outstanding notional {low} (scale {scale}); this is a bug")
    np.maximum(long, 0.0, out=long)
    np.maximum(short, 0.0, out=short)
    residue = RESIDUE * np.maximum(long.max(axis=1, initial=0.0), short.max(axis=1, initial=0.0))[:, None]
    long[long <= residue] = 0.0
    short[short <= residue] = 0.0
    return long, short


def advance_book(
    book: WarmBook,
    frame: MarketFrame,
    config: ModelConfig | None = None,
    *,
    brackets: BracketBook | None = None,
) -> WarmBook:
    """``book`` (every tier, with births) carried to the end of ``frame``'s last bar: the live path's
    incremental step. ``frame``'s bars up to ``book.at`` are context (as in ``compute_heatmap(...,
    warm=...)``: their OI, volumes and ranges feed the later bars' inputs); the bars after it sweep the
    book's cohorts (the first bar whose low / high reaches a level, :class:`~liqmap.model.sweep.FirstTouch`),
    scale the survivors by the book factor ``S(end) / S(book.at)``, and add their own cohorts as
    :func:`warm_book` does. Equal to :func:`warm_book` over the whole history up to float rounding (tested)."""
    config = config or ModelConfig()
    book_births, book_tiers = book.births, book.tiers
    if book_births is None or book_tiers is None:
        raise ConfigError("warm: advancing a book needs its cohorts' births and tiers (a book from warm_book)")
    p = int(np.searchsorted(frame.ts, book.at))
    if p < 1 or int(frame.ts[p - 1]) + frame.interval_ms != book.at:
        raise ConfigError(f"warm: {frame.exchange} {frame.symbol} has no bar ending at the book's time {book.at}")
    n = len(frame)
    if p >= n:
        return book
    fresh = warm_book(frame, config, brackets=brackets, since=p)
    assert fresh.births is not None and fresh.tiers is not None  # warm_book records both
    log_s = np.cumsum(frame_inputs(config, frame).log_keep)
    keep = float(np.exp(log_s[n - 1] - log_s[p - 1]))
    levels, values, births, tiers = [], [], [], []
    for side, sign in ((0, 1.0), (1, -1.0)):
        # the book's last bar and the new ones: the book's cohorts can be swept from index 1 on
        search = FirstTouch(sign * (frame.low if side == 0 else frame.high)[p - 1 :])
        level = np.asarray(book.levels[side], dtype=np.float64)
        alive = search.first_at_or_below(np.ones(len(level), dtype=np.int64), sign * level) >= n - p + 1
        levels.append(np.concatenate((level[alive], fresh.levels[side])))
        values.append(np.concatenate((np.asarray(book.values[side])[alive] * keep, fresh.values[side])))
        births.append(np.concatenate((np.asarray(book_births[side])[alive], fresh.births[side])))
        tiers.append(np.concatenate((np.asarray(book_tiers[side])[alive], fresh.tiers[side])))
    return WarmBook(
        at=int(frame.ts[-1]) + frame.interval_ms,
        levels=(levels[0], levels[1]),
        values=(values[0], values[1]),
        births=(births[0], births[1]),
        tiers=(tiers[0], tiers[1]),
    )
