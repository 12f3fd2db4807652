"""Pictures: size, non-trivial content, the colour scale's top colour where the largest cluster is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from liqmap.model.result import Heatmap
from liqmap.render import format_usd, render_heatmap, render_liquidation_map
from liqmap.render.style import HEATMAP_COLOURS

H = 3_600_000


def _heatmap() -> Heatmap:
    k, b = 48, 100
    times = 1_779_000_000_000 - 1_779_000_000_000 % H + H * np.arange(k)
    edges = np.linspace(70_000, 80_000, b + 1)
    long = np.zeros((k, b))
    short = np.zeros((k, b))
    long[:, 20:25] = 1e6
    short[:, 70:72] = 3e6
    long[10:30, 10] = 5e7  # one big cluster: must be drawn in the scale's top colour
    close = 75_000 + 500 * np.sin(np.arange(k) / 5)
    candles = {
        "ts": times,
        "open": close - 50,
        "high": close + 200,
        "low": close - 250,
        "close": close,
        "volume": np.ones(k),
    }
    return Heatmap("BTC", ("binance",), times, edges, long, short, np.zeros(k), np.zeros(k), candles, H)


def _rgb(path: Path) -> np.ndarray:
    import matplotlib.image as mpimg

    return mpimg.imread(path)[..., :3]


def test_format_usd() -> None:
    assert format_usd(1_234_567) == "$1.2M"
    assert format_usd(2_000_000_000) == "$2B"
    assert format_usd(56_700) == "$56.7K"
    assert format_usd(890) == "$890"
    assert format_usd(-1_500_000) == "-$1.5M"


def test_heatmap_png(tmp_path: Path) -> None:
    out = render_heatmap(_heatmap(), tmp_path / "hm.png", size=(10, 6), dpi=80)
    image = _rgb(out)
    assert image.shape[:2] == (480, 800)
    assert image.std() > 0.05
    top = np.array([int(HEATMAP_COLOURS[-1][1][i : i + 2], 16) / 255 for i in (1, 3, 5)])
    distance = np.abs(image - top).sum(axis=-1)
    assert (distance < 0.1).sum() > 50  # the 5e7 cluster (and the colour bar's top) in yellow


def test_heatmap_with_realized_panel(tmp_path: Path) -> None:
    from liqmap.query import Realized

    hm = _heatmap()
    bars = {
        "ts": hm.times,
        "long_usd": np.full(len(hm.times), 1e6),
        "short_usd": np.full(len(hm.times), 2e6),
        "exchange": np.array(["aggregate"] * len(hm.times), dtype=object),
        "coverage": np.array(["binance+bybit+okx"] * len(hm.times), dtype=object),
    }
    realized = Realized("BTC", {}, bars, H)
    with_panel = _rgb(render_heatmap(hm, tmp_path / "a.png", realized=realized, size=(10, 6), dpi=80))
    without = _rgb(render_heatmap(hm, tmp_path / "b.png", size=(10, 6), dpi=80))
    assert with_panel.shape == without.shape and not np.array_equal(with_panel, without)


def test_liquidation_map_png(tmp_path: Path) -> None:
    lmap = _heatmap().column(-1)
    out = render_liquidation_map(lmap, tmp_path / "map.png", size=(8, 4), dpi=80)
    image = _rgb(out)
    assert image.shape[:2] == (320, 640) and image.std() > 0.05


def test_empty_heatmap_is_refused(tmp_path: Path) -> None:
    hm = _heatmap()
    import dataclasses

    empty = dataclasses.replace(hm, times=hm.times[:0])
    with pytest.raises(ValueError, match="no columns"):
        render_heatmap(empty, tmp_path / "x.png")


def test_realized_summed_per_column() -> None:
    from liqmap.render.heatmap import realized_per_column

    times = np.array([0, 2 * H, 4 * H])  # 2h columns
    bars = {
        "ts": np.array([-H, 0, H, 2 * H, 5 * H, 6 * H]),
        "long_usd": np.array([9.0, 1, 2, 4, 8, 16]),
        "short_usd": np.array([0.0, 10, 20, 0, 0, 5]),
    }
    longs, shorts = realized_per_column(bars, times, 2 * H)
    assert longs.tolist() == [3.0, 4.0, 8.0]  # -1h and 6h fall outside the columns
    assert shorts.tolist() == [30.0, 0.0, 0.0]
