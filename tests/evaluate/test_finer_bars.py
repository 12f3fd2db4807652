"""Evaluating on 30-minute bars built from real 1-minute klines, with hourly OI and 30-minute realized bars.

The OI and realized series are made up (none exist for this coin and month); the klines are real. The test
checks the plumbing that finer data go through: klines resampled to the scored bar, OI known only at full
hours, realized bars at the scored interval; every bar after the warm-up is scored and B0 matches an
independent computation from the raw 1-minute rows.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest

from liqmap.evaluate.runner import evaluate_store
from liqmap.ingest import import_file
from liqmap.store import DuckDBStore
from liqmap.types import LiquidationBar, OpenInterest

KLINES = Path(__file__).parents[1] / "fixtures" / "evaluate" / "AVAXUSDT-1m-2026-06.csv.gz"
MINUTE, HALF, HOUR = 60_000, 1_800_000, 3_600_000


def raw_minutes() -> dict[int, tuple[float, float, float, float]]:
    with gzip.open(KLINES, "rt") as handle:
        return {
            int(r["open_time"]): (float(r["open"]), float(r["high"]), float(r["low"]), float(r["close"]))
            for r in csv.DictReader(handle)
        }


def made_up_oi(ts: int) -> float:
    return 4e8 * (1.0 + 0.05 * np.sin(ts / 7.3e6))


def made_up_realized(ts: int) -> tuple[float, float]:
    rng = np.random.default_rng(ts // HALF)
    return float(rng.uniform(0, 1e5)), float(rng.uniform(0, 1e5))


@pytest.fixture(scope="module")
def evaluation():  # type: ignore[no-untyped-def]
    minutes = raw_minutes()
    first, last = min(minutes), max(minutes)
    with DuckDBStore(":memory:") as store:
        import_file(store, KLINES)
        store.write(
            [OpenInterest("binance", "AVAX", t, t, None, made_up_oi(t)) for t in range(first, last + MINUTE + 1, HOUR)]
        )
        store.write(
            [LiquidationBar("aggregate", "AVAX", HALF, t, t, *made_up_realized(t)) for t in range(first, last, HALF)]
        )
        result = evaluate_store(store, symbol="AVAX", interval_ms=HALF, warmup_days=1.0)
    return result, minutes


def test_every_half_hour_after_the_warm_up_is_scored(evaluation) -> None:  # type: ignore[no-untyped-def]
    result, minutes = evaluation
    bars = (max(minutes) + MINUTE - min(minutes)) // HALF
    assert len(result.data.frame) == bars == 144
    assert result.metrics["bars"] == bars - 48  # one day of warm-up
    assert result.metrics["period"]["realized_source"] == "liquidation_bars (aggregate)"
    oi = result.data.frame.oi_usd
    assert np.isnan(oi[0::2]).all() and np.isfinite(oi[1::2]).all()  # known at the full hours only


def test_b0_on_resampled_bars_matches_the_raw_minutes(evaluation) -> None:  # type: ignore[no-untyped-def]
    result, minutes = evaluation
    frame = result.data.frame
    b0_long, b0_short = result.baselines["move_size_oi"]
    for i in range(49, len(frame)):
        t = int(frame.ts[i])
        rows = [minutes[m] for m in range(t, t + HALF, MINUTE)]
        open_, high, low = rows[0][0], max(r[1] for r in rows), min(r[2] for r in rows)
        oi_start = made_up_oi(t // HOUR * HOUR)  # the last full hour at or before the bar's start
        assert b0_long[i] == pytest.approx(oi_start * (open_ - low) / open_, rel=1e-9)
        assert b0_short[i] == pytest.approx(oi_start * (high - open_) / open_, rel=1e-9)
    model = result.metrics["model"]
    assert np.isfinite([model["rho_long"], model["rho_short"], model["capture30_long"]]).all()
    assert (result.model[0][48:] > 0).any() and (result.model[1][48:] > 0).any()


def test_the_report_names_the_bar_length_and_the_period_scored(evaluation) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from liqmap.evaluate.report import text_table

    result, minutes = evaluation
    iso = lambda ms: datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    first_scored = min(minutes) + 48 * HALF  # after the one-day warm-up
    end = max(minutes) + MINUTE
    assert f"bars scored: 96 bars of 30 min  period: {iso(first_scored)} .. {iso(end)}" in text_table(result.metrics)
