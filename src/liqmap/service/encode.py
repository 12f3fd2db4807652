"""Turning model results into compact JSON payloads.

Grids travel as base64 of little-endian row-major arrays (``grid[k][b]``: column ``k`` = time,
``b`` = price bin), either exact ``float32`` or ``uint16``/``int16`` quantised with a ``scale``
(value = q × scale). The Coinglass shape (``y_axis``, sparse ``liquidation_leverage_data``,
``price_candlesticks``, ``update_time``) is produced by :func:`coinglass_payload`.
"""

from __future__ import annotations

import base64
import hashlib
import math
from typing import Any

import numpy as np

from liqmap.model.result import Heatmap, LiquidationMap


def json_bytes(message: dict[str, Any]) -> bytes:
    """Compact JSON (orjson: ~15x faster than ``json`` on a heatmap body's 2.6 MB). JSON has no NaN: the
    payload builders write missing values as null explicitly (:func:`_floats`), and orjson writes any
    other non-finite float as null too (never as a number)."""
    import orjson

    return orjson.dumps(message)


def json_text(message: dict[str, Any]) -> str:
    return json_bytes(message).decode()


def edges_hash(edges: np.ndarray) -> str:
    """A short fingerprint of a price ladder (clients send it back so updates can be checked)."""
    return hashlib.blake2s(np.asarray(edges, dtype=np.float64).tobytes(), digest_size=8).hexdigest()


def side_grid(heatmap: Heatmap, side: str) -> np.ndarray:
    """USD per (column, bin) for a side: ``both`` = long + short, ``net`` = long − short."""
    if side == "long":
        return np.asarray(heatmap.long, dtype=np.float64)
    if side == "short":
        return np.asarray(heatmap.short, dtype=np.float64)
    if side == "net":
        net: np.ndarray = np.asarray(heatmap.long, dtype=np.float64) - heatmap.short
        return net
    result: np.ndarray = np.asarray(heatmap.long, dtype=np.float64) + heatmap.short
    return result


def encode_array(values: np.ndarray, encoding: str) -> dict[str, Any]:
    """``{"encoding", "dtype", "shape", "scale", "data"}``; decode as ``frombuffer(b64, dtype) * scale``."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if encoding == "f32":
        raw, dtype, scale = values.astype("<f4"), "float32", 1.0
    else:
        peak = float(np.abs(values).max()) if values.size else 0.0
        signed = bool((values < 0).any())
        top = 32767 if signed else 65535
        scale = peak / top if peak > 0 else 1.0
        dtype = "int16" if signed else "uint16"
        raw = np.rint(values / scale).astype("<i2" if signed else "<u2")
    return {
        "encoding": encoding,
        "dtype": dtype,
        "shape": list(values.shape),
        "scale": scale,
        "data": base64.b64encode(raw.tobytes()).decode("ascii"),
    }


def decode_array(payload: dict[str, Any]) -> np.ndarray:
    """Inverse of :func:`encode_array` (used by tests and Python clients)."""
    dtype = {"float32": "<f4", "uint16": "<u2", "int16": "<i2"}[payload["dtype"]]
    flat = np.frombuffer(base64.b64decode(payload["data"]), dtype=dtype).astype(np.float64)
    return flat.reshape(payload["shape"]) * float(payload["scale"])


def candles_payload(candles: dict[str, np.ndarray]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for name in ("ts", "open", "high", "low", "close", "volume"):
        if name in candles:
            column = np.asarray(candles[name])
            out[name] = column.astype(np.int64).tolist() if name == "ts" else _floats(column)
    return out


def _floats(values: np.ndarray) -> list[Any]:
    """Plain floats for JSON, NaN/inf as null (JSON has no NaN)."""
    array = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(array)
    if finite.all():
        return array.tolist()  # type: ignore[no-any-return]
    return [v if ok else None for v, ok in zip(array.tolist(), finite.tolist(), strict=True)]


def heatmap_payload(
    heatmap: Heatmap,
    *,
    side: str,
    encoding: str,
    sides: bool,
    update_time: int,
    data_version: int,
    view: dict[str, object],
) -> dict[str, Any]:
    grid = side_grid(heatmap, side)
    edges = np.asarray(heatmap.price_edges, dtype=np.float64)
    payload: dict[str, Any] = {
        "symbol": heatmap.symbol,
        "exchanges": list(heatmap.exchanges),
        "side": side,
        "view": view,
        "interval_ms": int(heatmap.interval_ms),
        "times": np.asarray(heatmap.times, dtype=np.int64).tolist(),
        "price_edges": edges.tolist(),
        "price_edges_hash": edges_hash(edges),
        "bin_size": float((edges[-1] - edges[0]) / max(len(edges) - 1, 1)),
        "grid": encode_array(grid, encoding),
        "max_usd": float(np.abs(grid).max()) if grid.size else 0.0,
        "candles": candles_payload(heatmap.candles),
        "swept_long": _floats(heatmap.swept_long),
        "swept_short": _floats(heatmap.swept_short),
        "last_price": heatmap.last_price if len(heatmap.times) else None,
        "leverage": [float(x) for x in heatmap.leverage],
        "ages": list(heatmap.ages),
        "update_time": update_time,
        "data_version": data_version,
    }
    if sides:
        payload["long"] = encode_array(heatmap.long, encoding)
        payload["short"] = encode_array(heatmap.short, encoding)
    return payload


def sparse_payload(heatmap: Heatmap, *, side: str, update_time: int, view: dict[str, object]) -> dict[str, Any]:
    """Non-zero cells as ``[k, b, usd]`` triples."""
    grid = side_grid(heatmap, side)
    ks, bs = np.nonzero(grid)
    return {
        "symbol": heatmap.symbol,
        "side": side,
        "view": view,
        "times": [int(t) for t in heatmap.times],
        "price_edges": [float(e) for e in heatmap.price_edges],
        "cells": [[int(k), int(b), float(grid[k, b])] for k, b in zip(ks, bs, strict=True)],
        "candles": candles_payload(heatmap.candles),
        "update_time": update_time,
    }


def usd(value: float) -> float:
    """USD amounts as Coinglass sends them: rounded to cents."""
    return round(float(value), 2)


def price_decimals(prices: np.ndarray) -> int:
    """Decimals that keep a price ladder's steps apart when prices are rounded: 2 (as Coinglass) for
    BTC-sized prices, more for small coins (a step of 0.0001 keeps 6)."""
    values = np.asarray(prices, dtype=np.float64)
    values = values[np.isfinite(values)]
    steps = np.diff(np.unique(values))
    step = float(steps.min()) if steps.size else (abs(float(values[0])) if values.size else 1.0)
    if step <= 0:
        return 2
    return max(2, 2 - math.floor(math.log10(step)))


def coinglass_payload(heatmap: Heatmap, *, side: str, update_time: int) -> dict[str, Any]:
    """The Coinglass v4 heatmap response shape, so existing consumers can switch without code changes.

    ``y_axis[y]`` is the centre price of bin ``y`` (rounded: :func:`price_decimals`); ``liquidation_leverage_data``
    holds the cells ``[x_time_idx, y_price_idx, usd]`` whose USD rounds (to cents) above zero; ``price_candlesticks`` rows are
    ``[ts_seconds, "open", "high", "low", "close", "volume_usd"]`` (strings, as Coinglass sends them;
    volume_usd = base volume × close). ``update_time`` is in ms.
    """
    grid = np.round(side_grid(heatmap, side), 2)
    xs, ys = np.nonzero(grid)
    centers = heatmap.price_centers
    decimals = price_decimals(centers)
    candles = heatmap.candles
    rows = []
    for i in range(len(candles.get("ts", []))):
        close = float(candles["close"][i])
        volume = float(candles["volume"][i]) if "volume" in candles else float("nan")
        rows.append(
            [
                int(candles["ts"][i]) // 1000,
                _num(candles["open"][i]),
                _num(candles["high"][i]),
                _num(candles["low"][i]),
                _num(close),
                _num(volume * close),
            ]
        )
    return {
        "code": "0",
        "msg": "success",
        "data": {
            "y_axis": np.round(centers, decimals).tolist(),
            # built from plain lists, not indexed cell by cell from numpy (faster on a 30d body)
            "liquidation_leverage_data": [
                list(cell) for cell in zip(xs.tolist(), ys.tolist(), grid[xs, ys].tolist(), strict=True)
            ],
            "price_candlesticks": rows,
            "update_time": update_time,
        },
    }


def _num(value: float) -> str:
    value = float(value)
    return "" if not np.isfinite(value) else f"{value:.10g}"


def liqmap_payload(snapshot: LiquidationMap, clusters: dict[str, Any], column: int) -> dict[str, Any]:
    return {
        "symbol": snapshot.symbol,
        "ts": int(snapshot.ts),
        "column": column,
        "price": float(snapshot.price),
        "price_edges": [float(e) for e in snapshot.price_edges],
        "long": _floats(snapshot.long),
        "short": _floats(snapshot.short),
        "cum_long": _floats(snapshot.cum_long),
        "cum_short": _floats(snapshot.cum_short),
        "total_long_below": float(snapshot.cum_long[0]) if len(snapshot.cum_long) else 0.0,
        "total_short_above": float(snapshot.cum_short[-1]) if len(snapshot.cum_short) else 0.0,
        "clusters": clusters,
    }


def local_clusters(snapshot: LiquidationMap, *, window: int = 3, top: int = 3) -> dict[str, Any]:
    """Nearest strong local maxima of long (below price) and short (above price) notional.

    A bin is a peak when it is the maximum of its ±``window`` neighbourhood and at least a tenth of the
    side's largest bin; returns the ``top`` peaks nearest to price on each side, nearest first.
    """
    centers = snapshot.price_centers
    result: dict[str, Any] = {"source": "local-max", "above": [], "below": []}
    for name, values, mask in (
        ("below", snapshot.long, centers <= snapshot.price),
        ("above", snapshot.short, centers > snapshot.price),
    ):
        vals = np.where(mask, np.nan_to_num(values), 0.0)
        peak = float(vals.max()) if vals.size else 0.0
        if peak <= 0:
            continue
        padded = np.pad(vals, window, constant_values=0.0)
        windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * window + 1)
        is_peak = (vals >= windows.max(axis=1)) & (vals >= 0.1 * peak)
        idx = np.nonzero(is_peak)[0]
        idx = idx[np.argsort(np.abs(centers[idx] - snapshot.price))][:top]
        result[name] = [
            {"price": float(centers[i]), "bin": int(i), "usd": float(vals[i])} for i in idx
        ]
    return result
