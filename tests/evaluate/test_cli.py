"""``liqmap evaluate`` end to end on real fixture slices, checked against an independent computation."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from liqmap.commands.evaluate import evaluate_cmd
from liqmap.evaluate.metrics import capture, spearman
from liqmap.types import LiquidationBar

FIXTURES = Path(__file__).parent.parent / "fixtures" / "evaluate"
KLINES = FIXTURES / "BTCUSDT-1h-futures.csv.gz"
REGIME = FIXTURES / "BTC_regime_1h.csv.gz"
HOUR = 3_600_000


def _rows(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt") as handle:
        return list(csv.DictReader(handle))


def independent_b0() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """B0 and realized per scored bar, straight from the CSV files (3 days of warm-up)."""
    regime = {int(r["timestamp"]): r for r in _rows(REGIME)}
    bars = [r for r in _rows(KLINES) if int(r["openTime"]) >= min(regime)]
    b0_long, b0_short, real_long, real_short = [], [], [], []
    for i, bar in enumerate(bars):
        t = int(bar["openTime"])
        if i < 72 or t not in regime:
            continue
        # OI at the bar's start: the previous row's oi_close, else this row's oi_open (same instant)
        oi_start = float(regime[t - HOUR]["oi_close"]) if (t - HOUR) in regime else float(regime[t]["oi_open"])
        o, h, lo = float(bar["open"]), float(bar["high"]), float(bar["low"])
        b0_long.append(oi_start * (o - lo) / o)
        b0_short.append(oi_start * (h - o) / o)
        real_long.append(float(regime[t]["liquidation_long_usd"]))
        real_short.append(float(regime[t]["liquidation_short_usd"]))
    return tuple(np.array(x) for x in (b0_long, b0_short, real_long, real_short))  # type: ignore[return-value]


@pytest.fixture(scope="module")
def result() -> dict:
    out = CliRunner().invoke(evaluate_cmd, [str(KLINES), str(REGIME), "--json", "--warmup-days", "3"])
    assert out.exit_code == 0, out.output
    return json.loads(out.output)


def test_b0_through_the_store_matches_the_csv(result: dict) -> None:
    b0_long, b0_short, real_long, real_short = independent_b0()
    assert result["bars"] == len(b0_long)
    b0 = result["baselines"]["move_size_oi"]
    assert b0["rho_long"] == pytest.approx(spearman(b0_long, real_long))
    assert b0["rho_short"] == pytest.approx(spearman(b0_short, real_short))
    assert b0["capture30_long"] == pytest.approx(capture(b0_long, real_long))
    assert b0["predicted_usd_long"] == pytest.approx(b0_long.sum())
    assert b0["realized_usd_short"] == pytest.approx(real_short.sum())
    # the perfect ranking: the realized USD of the top 30 % of bars by realized USD (839 bars: k = 0.3 * n)
    for side, real in (("long", real_long), ("short", real_short)):
        k = 0.3 * len(real)
        top = np.sort(real)[::-1]
        expected = (top[: int(k)].sum() + (k - int(k)) * top[int(k)]) / real.sum()
        assert result["perfect_ranking"][f"capture30_{side}"] == pytest.approx(expected)
        assert result["model"][f"capture30_{side}"] <= expected


def test_every_predictor_is_scored_on_the_same_bars(result: dict) -> None:
    realized = {m["realized_usd_long"] for m in [result["model"], *result["baselines"].values()]}
    assert len(realized) == 1
    assert set(result["baselines"]) == {"move_size_oi", "fixed_tier", "candle_colour"}
    assert result["period"]["start"] == "2026-01-04T00:00:00Z"
    assert 0.0 <= result["clusters"]["reach24h_long"] <= 1.0


def test_table_mode_writes_a_self_contained_html(tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    out = CliRunner().invoke(evaluate_cmd, [str(KLINES), str(REGIME), "--warmup-days", "3", "--html", str(html)])
    assert out.exit_code == 0, out.output
    assert "Spearman rho, longs" in out.output
    perfect = [line for line in out.output.splitlines() if line.startswith("capture@30 of a perfect ranking")]
    assert len(perfect) == 1 and perfect[0].endswith(tuple("0123456789"))
    text = html.read_text()
    assert perfect[0] in text
    assert text.count("data:image/png;base64,") == 3  # scatter, per day, reach reliability
    assert "http://" not in text and "https://" not in text


def test_bad_inputs_are_named(tmp_path: Path) -> None:
    out = CliRunner().invoke(evaluate_cmd, [str(KLINES), "--json"])
    assert out.exit_code != 0
    assert "open interest" in out.output
    out = CliRunner().invoke(evaluate_cmd, [str(KLINES), str(REGIME), "--start", "yesterday"])
    assert out.exit_code != 0 and "--start" in out.output


def test_store_mode_gives_the_same_numbers_as_files(tmp_path: Path, result: dict) -> None:
    from liqmap.commands.data import import_cmd

    db = str(tmp_path / "store.duckdb")
    out = CliRunner().invoke(import_cmd, [str(KLINES), str(REGIME), "--db", db])
    assert out.exit_code == 0, out.output
    out = CliRunner().invoke(evaluate_cmd, ["--db", db, "--json", "--warmup-days", "3"])
    assert out.exit_code == 0, out.output
    stored = json.loads(out.output)
    assert stored["model"]["rho_long"] == pytest.approx(result["model"]["rho_long"])
    assert stored["baselines"]["move_size_oi"] == pytest.approx(result["baselines"]["move_size_oi"])
    out = CliRunner().invoke(evaluate_cmd, ["--db", str(tmp_path / "missing.duckdb"), "--json"])
    assert out.exit_code != 0 and "no database" in out.output


def test_realized_stored_at_30_minutes_scores_hourly_bars_the_same(tmp_path: Path, result: dict) -> None:
    """The same realized USD split into 30-minute rows (one hour left incomplete) gives the same scores on the
    hours it covers: the evaluation sums finer realized bars into its own bars and drops partial ones."""
    from liqmap.commands.data import import_cmd
    from liqmap.store import DuckDBStore

    db = str(tmp_path / "halves.duckdb")
    out = CliRunner().invoke(import_cmd, [str(KLINES), str(REGIME), "--db", db])
    assert out.exit_code == 0, out.output
    with DuckDBStore(db) as store:
        hourly = store.read("liquidation_bars", interval_ms=HOUR)
        assert len(hourly["ts_event"]) > 800
        store.execute("DELETE FROM liquidation_bars WHERE interval_ms = ?", [HOUR])
        halves = []
        for i, ts in enumerate(hourly["ts_event"].tolist()):
            long_usd, short_usd = float(hourly["long_usd"][i]), float(hourly["short_usd"][i])
            parts = [(ts, 0.25, 0.75), (ts + HOUR // 2, 0.75, 0.25)]
            if i == len(hourly["ts_event"]) - 1:
                parts = parts[:1]  # the last hour has only its first half: it must not be scored
            halves += [
                LiquidationBar("aggregate", "BTC", HOUR // 2, t, t, long_usd * a, short_usd * b) for t, a, b in parts
            ]
        store.write(halves)
    out = CliRunner().invoke(evaluate_cmd, ["--db", db, "--json", "--warmup-days", "3"])
    assert out.exit_code == 0, out.output
    split = json.loads(out.output)
    assert split["bars"] == result["bars"] - 1
    assert "30 min bars summed to 60 min" in split["period"]["realized_source"]
    assert split["period"]["end"] < result["period"]["end"]
    out = CliRunner().invoke(
        evaluate_cmd, [str(KLINES), str(REGIME), "--json", "--warmup-days", "3", "--end", split["period"]["end"][:16]]
    )
    assert out.exit_code == 0, out.output
    hourly_result = json.loads(out.output)
    assert split["bars"] == hourly_result["bars"]
    assert split["model"] == pytest.approx(hourly_result["model"], rel=1e-12)
    for name, scores in hourly_result["baselines"].items():
        assert split["baselines"][name] == pytest.approx(scores, rel=1e-12), name
