"""Batch heatmap engine: every bar of every frame at once, vectorised (docs/model.md gives the model).

Design (the per-bar loop lives only in :mod:`liqmap.model.reference` and :mod:`liqmap.model.stream`):

* A **cohort** is the notional that entered at bar ``b`` on one side, leverage tier and entry point.
  Its level is ``entry * ratio[side, tier]``; its weight at the end of bar ``t >= b`` is
  ``w0 * S(t) / S(b)`` where ``log S`` is the cumulative sum of the per-bar book factor (proportional OI
  close rule and age decay both multiply every position alike, so they separate into ``S``).
* Its sweep bar (first later bar whose low/high touches the level) comes from a sparse-table search
  (:mod:`liqmap.model.sweep`). It is present in columns ``[col(b), col(sweep))``, split further at the
  age-bucket boundaries; only the selected tiers and age buckets are accumulated.
* Columns are accumulated as signed events (enter +, leave -) valued at the event column's scale and
  rolled forward with ``X[k] = X[k-1] * S_k / S_{k-1} + U[k]``. All scale ratios are ``<= 1`` (``S`` never
  increases), so nothing overflows and no ``1/S`` is ever formed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from liqmap.errors import BadSeriesError, ConfigError, ModelError
from liqmap.model.brackets import BracketBook
from liqmap.model.config import ModelConfig
from liqmap.model.frame import MarketFrame
from liqmap.model.grid import ColumnPlan, bin_index, check_edges, column_plan, default_edges
from liqmap.model.inputs import FrameInputs, frame_inputs, level_ratios
from liqmap.model.result import Heatmap
from liqmap.model.sweep import sweep_bars
from liqmap.symbols import canonical

MAX_GRID_BYTES = 2 * 1024**3
NEVER = np.iinfo(np.int64).max // 4


def age_boundaries_bars(config: ModelConfig, interval_ms: int) -> np.ndarray:
    """Bars after birth at which a position moves to the next age bucket: ``ceil(edge / interval)``."""
    edges_ms = [round(h * 3_600_000) for h in config.age_buckets_hours]
    return np.array([-(-e // interval_ms) for e in edges_ms], dtype=np.int64)


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


@dataclass(frozen=True, eq=False)
class Cohorts:
    """Flat arrays, one entry per cohort of one frame (local bar indices)."""

    birth: np.ndarray
    side: np.ndarray  # 0 long, 1 short
    tier: np.ndarray
    level: np.ndarray
    weight: np.ndarray
    sweep: np.ndarray


def build_cohorts(
    config: ModelConfig, frame: MarketFrame, ratios: np.ndarray, tiers: list[int], inputs: FrameInputs | None = None
) -> Cohorts:
    inputs = inputs or frame_inputs(config, frame)
    born = np.flatnonzero(inputs.added > 0)
    weights = np.asarray(config.normalised_weights)
    n_entries = inputs.entries.shape[1]
    parts: list[tuple[np.ndarray, ...]] = []
    for side in (0, 1):
        share = inputs.long_share[born] if side == 0 else 1.0 - inputs.long_share[born]
        base = inputs.added[born] * share / n_entries
        for tier in tiers:
            w = base * weights[tier]
            keep = w > 0
            if not keep.any():
                continue
            for j in range(n_entries):
                b = born[keep]
                parts.append(
                    (
                        b,
                        np.full(len(b), side, dtype=np.int8),
                        np.full(len(b), tier, dtype=np.int16),
                        inputs.entries[b, j] * ratios[side, tier],
                        w[keep],
                    )
                )
    if not parts:
        empty = np.empty(0)
        return Cohorts(
            empty.astype(np.int64), empty.astype(np.int8), empty.astype(np.int16), empty, empty, empty.astype(np.int64)
        )
    birth, side_arr, tier_arr, level, weight = (np.concatenate(p) for p in zip(*parts, strict=True))
    sweep = sweep_bars(frame.low, frame.high, birth, level, side_arr == 0)
    return Cohorts(birth, side_arr, tier_arr, level, weight, sweep)


def _frame_columns(
    config: ModelConfig,
    frame: MarketFrame,
    offset: int,
    plan: ColumnPlan,
    edges: np.ndarray,
    ratios: np.ndarray,
    tiers: list[int],
    ages: list[int],
) -> tuple[np.ndarray, np.ndarray]:
    """This frame's (K, 2, B) book per column and (2, K) swept USD, filtered by tiers and ages."""
    n = len(frame)
    k_cols = plan.n_columns
    n_bins = len(edges) - 1
    inputs = frame_inputs(config, frame)
    cohorts = build_cohorts(config, frame, ratios, tiers, inputs)
    log_s = np.cumsum(inputs.log_keep)
    # log S at each column's last bar, in this frame's terms (held before its first / after its last bar)
    local_last = np.clip(plan.last_bar - offset, 0, n - 1)
    log_s_col = np.where(plan.last_bar < offset, log_s[0], log_s[local_last])
    col_of_local = plan.col_of_bar[offset : offset + n]

    swept = np.zeros((2, k_cols))
    boundaries = age_boundaries_bars(config, frame.interval_ms)
    c = cohorts
    log_birth = log_s[c.birth]

    hit = c.sweep < n
    if hit.any():
        t = c.sweep[hit]
        bucket = np.searchsorted(boundaries, t - 1 - c.birth[hit], side="right")
        sel = np.isin(bucket, ages)
        value = c.weight[hit] * np.exp(log_s[t - 1] - log_birth[hit])
        np.add.at(swept, (c.side[hit][sel].astype(np.int64), col_of_local[t[sel]]), value[sel])

    bins = bin_index(c.level, edges)
    inside = bins >= 0
    idx_parts: list[np.ndarray] = []
    val_parts: list[np.ndarray] = []
    lo_all = np.concatenate(([0], boundaries))
    hi_all = np.concatenate((boundaries, [NEVER]))
    birth, sweep_bar = c.birth[inside], c.sweep[inside]
    weight, lb = c.weight[inside], log_birth[inside]
    flat = c.side[inside].astype(np.int64) * n_bins + bins[inside]
    for first, last in _runs(ages):
        start = birth + lo_all[first]
        end = np.minimum(birth + hi_all[last], sweep_bar)
        ok = (start < end) & (start < n)
        s, e = start[ok], end[ok]
        c_start = col_of_local[s]
        held = e >= n
        c_end = np.where(held, k_cols, col_of_local[np.minimum(e, n - 1)])
        real = c_start < c_end
        w, lbm, fl = weight[ok][real], lb[ok][real], flat[ok][real]
        c_start, c_end = c_start[real], c_end[real]
        idx_parts.append(c_start * (2 * n_bins) + fl)
        val_parts.append(w * np.exp(log_s_col[c_start] - lbm))
        leaves = c_end < k_cols
        idx_parts.append(c_end[leaves] * (2 * n_bins) + fl[leaves])
        val_parts.append(-w[leaves] * np.exp(log_s_col[c_end[leaves]] - lbm[leaves]))
    size = k_cols * 2 * n_bins
    if idx_parts:
        grid = np.bincount(np.concatenate(idx_parts), np.concatenate(val_parts), minlength=size)
    else:
        grid = np.zeros(size)
    grid = grid.astype(np.float64, copy=False).reshape(k_cols, 2 * n_bins)
    _roll_forward(grid, log_s_col)
    return grid.reshape(k_cols, 2, n_bins), swept


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs in sorted indices: [0, 1, 3] -> [(0, 1), (3, 3)] (adjacent age buckets merge)."""
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


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


def _candles(frames: Sequence[MarketFrame], offsets: list[int], ts: np.ndarray, plan: ColumnPlan) -> dict:
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


def compute_heatmap(
    frames: Sequence[MarketFrame] | MarketFrame,
    config: ModelConfig | None = None,
    *,
    price_edges: np.ndarray | Sequence[float] | None = None,
    n_bins: int = 500,
    max_columns: int | None = None,
    leverage: Sequence[float] | None = None,
    ages: Sequence[str | int] | None = None,
    brackets: BracketBook | None = None,
) -> Heatmap:
    """Heatmap of modelled liquidation notional summed over ``frames`` (one per exchange, same symbol).

    ``price_edges`` (strictly increasing) or ``n_bins`` equal bins over the default range
    (:func:`liqmap.model.grid.default_edges`); ``max_columns`` groups bars into coarser columns (column =
    state after its last bar; swept = sum over its bars; candles aggregated OHLC); ``leverage`` /
    ``ages`` restrict the output to some tiers (values from ``config.leverage``) and age buckets (labels
    from ``config.age_labels`` or their indices); ``brackets`` overrides the shipped margin brackets.
    """
    config = config or ModelConfig()
    if isinstance(frames, MarketFrame):
        frames = [frames]
    frames = list(frames)
    if not frames:
        raise ConfigError("frames: at least one MarketFrame is required")
    tiers = select_tiers(config, leverage)
    age_sel = select_ages(config, ages)
    interval, _t0, ts, offsets = _timeline(frames)
    if price_edges is None:
        if n_bins < 1:
            raise ConfigError(f"n_bins: must be >= 1, got {n_bins}")
        low = min(float(f.low.min()) for f in frames)
        high = max(float(f.high.max()) for f in frames)
        edges = default_edges(low, high, n_bins)
    else:
        edges = check_edges(price_edges)
    plan = column_plan(ts, interval, max_columns)
    n_bins = len(edges) - 1
    if plan.n_columns * 2 * n_bins * 8 > MAX_GRID_BYTES:
        raise ConfigError(
            f"max_columns: {plan.n_columns} columns x {n_bins} bins would need "
            f"{plan.n_columns * 2 * n_bins * 8 / 1e9:.1f} GB; set max_columns (e.g. 2000) or fewer bins"
        )
    candles = _candles(frames, offsets, ts, plan)
    total: np.ndarray | None = None
    swept = np.zeros((2, plan.n_columns))
    notes = []
    for frame, offset in zip(frames, offsets, strict=True):
        ratios, note = level_ratios(config, frame.exchange, frame.symbol, brackets)
        notes.append(note)
        grid, frame_swept = _frame_columns(config, frame, offset, plan, edges, ratios, tiers, age_sel)
        swept += frame_swept
        if total is None:
            total = grid
        else:
            total += grid
    assert total is not None
    scale = max(float(np.abs(total).max(initial=0.0)), 1.0)
    if total.min(initial=0.0) < -1e-6 * scale:
        raise ModelError(f"heatmap: negative outstanding notional {total.min()} (scale {scale}); this is a bug")
    np.maximum(total, 0.0, out=total)
    labels = config.age_labels
    return Heatmap(
        symbol=canonical(frames[0].symbol),
        exchanges=tuple(f.exchange for f in frames),
        times=candles["ts"].copy(),
        price_edges=edges,
        long=total[:, 0, :],
        short=total[:, 1, :],
        swept_long=swept[0],
        swept_short=swept[1],
        candles=candles,
        interval_ms=interval * plan.group,
        leverage=tuple(config.leverage[i] for i in tiers),
        ages=tuple(labels[i] for i in age_sel),
        notes=tuple(notes),
    )
