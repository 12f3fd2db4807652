"""Estimate vs exact on one store: when the tracked positions sit exactly where the model puts its USD the
comparison says so (correlation 1, Wasserstein 0, equal shares near price); mirrored sides do not."""

from __future__ import annotations

import numpy as np
import pytest

from liqmap.evaluate.exact import estimate_vs_exact
from liqmap.model.exact import rebin
from liqmap.query import HeatmapQuery, heatmap_for
from liqmap.store import DuckDBStore
from liqmap.types import HOUR_MS, Bar, OpenInterest, PositionSnapshot

T0 = 1_767_225_600_000
N = 240  # ten days of hours


def market(store: DuckDBStore) -> int:
    """Hyperliquid-labelled hourly bars (a seeded log-normal walk; no HL history is shipped) and OI."""
    rng = np.random.default_rng(7)
    close = 90_000.0 * np.exp(np.cumsum(rng.normal(0, 0.006, N)))
    open_ = np.concatenate(([90_000.0], close[:-1]))
    recs: list[object] = []
    for i in range(N):
        hi, lo = max(open_[i], close[i]) * 1.002, min(open_[i], close[i]) * 0.998
        ts = T0 + i * HOUR_MS
        recs.append(Bar("hyperliquid", "BTC", HOUR_MS, ts, open_[i], hi, lo, close[i], 500.0, ts, None, 250.0,
                        venue_symbol="BTC"))
        oi = 30_000.0 + 50 * i
        recs.append(OpenInterest("hyperliquid", "BTC", ts + HOUR_MS, ts, oi, oi * close[i], "BTC"))
    store.write(recs)  # type: ignore[arg-type]
    return T0 + (N - 1) * HOUR_MS + HOUR_MS  # end of the last bar = the last OI instant


def positions_from(long: np.ndarray, short: np.ndarray, edges: np.ndarray, at: int, mark: float,
                   mirror: bool = False) -> list[PositionSnapshot]:
    rows = []
    centers = 0.5 * (edges[:-1] + edges[1:])
    for k, (lo, sh) in enumerate(zip(long, short, strict=True)):
        for usd, sign in ((lo, 1.0), (sh, -1.0)):
            if usd > 0:
                sign = -sign if mirror else sign
                rows.append(PositionSnapshot("hyperliquid", "BTC", f"0x{k:04d}{int(sign > 0)}", at, at,
                                             sign * usd / mark, mark, mark, float(centers[k]), 10.0, "cross",
                                             0.0, usd, 0.0))
    return rows


@pytest.mark.parametrize("mirror", [False, True])
def test_exact_positions_on_the_estimate_compare_perfectly(mirror: bool) -> None:
    with DuckDBStore(":memory:") as store:
        end = market(store)
        heat = heatmap_for(store, HeatmapQuery("BTC", exchanges=("hyperliquid",), range="7d", end=end, n_bins=500))
        col = heat.column(-1)
        mark = float(store.read("open_interest", exchange="hyperliquid")["oi_usd"][-1]
                     / store.read("open_interest", exchange="hyperliquid")["oi_base"][-1])
        edges = np.linspace(mark * 0.7, mark * 1.3, 201)  # the exact map's default grid: +-30 % of price
        store.write(positions_from(rebin(col.long, col.price_edges, edges), rebin(col.short, col.price_edges, edges),
                                   edges, end, mark, mirror))
        result = estimate_vs_exact(store, "BTC", end=end, points=1, n_bins=200)
    (point,) = result["points"]
    assert point["at"] == end and point["price"] == pytest.approx(mark)
    for side in ("long", "short"):
        m = point[side]
        if not mirror:
            assert m["corr"] == pytest.approx(1.0) and m["wasserstein"] == pytest.approx(0.0, abs=1e-6 * mark)
            assert m["est_within_2pct"] == pytest.approx(m["exact_within_2pct"])
        else:  # longs below price vs shorts above: the two distributions sit on opposite sides of price
            assert m["corr"] < 0.2 and m["wasserstein_rel"] > 0.02


def test_evaluate_exact_cli(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json
    from datetime import UTC, datetime

    from click.testing import CliRunner

    from liqmap.cli import main

    db = tmp_path / "hl.duckdb"
    with DuckDBStore(db) as store:
        end = market(store)
        heat = heatmap_for(store, HeatmapQuery("BTC", exchanges=("hyperliquid",), range="7d", end=end, n_bins=500))
        col = heat.column(-1)
        oi = store.read("open_interest", exchange="hyperliquid")
        mark = float(oi["oi_usd"][-1] / oi["oi_base"][-1])
        edges = np.linspace(mark * 0.7, mark * 1.3, 201)
        store.write(positions_from(rebin(col.long, col.price_edges, edges), rebin(col.short, col.price_edges, edges),
                                   edges, end, mark))
    iso = datetime.fromtimestamp(end / 1000, tz=UTC).isoformat()
    out = CliRunner().invoke(main, ["evaluate", "--exact", "--db", str(db), "--end", iso])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["points"][-1]["at"] == end and doc["points"][-1]["long"]["corr"] == pytest.approx(1.0)
    prior = CliRunner().invoke(main, ["evaluate", "--exact", "--db", str(db), "--end", iso,
                                      "--leverage-prior", "hyperliquid"])
    # lower leverage puts the estimate farther from price: the same exact positions no longer match it
    assert json.loads(prior.output)["points"][-1]["long"]["corr"] < 0.99
