"""Frame assembly: perp bars + OI at bar ends + funding known by the bar end; spot fallback; gaps."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from liqmap.errors import BadSeriesError, ConfigError, DataError
from liqmap.ingest import import_file, load_frame
from liqmap.store import DuckDBStore
from liqmap.types import OpenInterest

H = 3_600_000


def utc_ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


T0 = utc_ms(2025, 12, 4, 6)


@pytest.fixture()
def market(store: DuckDBStore, files: Path) -> DuckDBStore:
    for name in ("BTCUSDT-1h-futures.csv.gz", "BTCUSDT-funding.csv.gz", "BTC_regime_1h.csv.gz"):
        import_file(store, files / name)
    return store


def test_perp_frame_with_oi_at_bar_end(market: DuckDBStore) -> None:
    frame = load_frame(market, "binance", "BTCUSDT", T0, T0 + 72 * H, H)
    assert frame.price_source == "perp" and frame.symbol == "BTC" and len(frame) == 72
    assert frame.ts[0] == T0 and frame.close[0] == 93103.1  # perp close, not the spot 93140.74
    assert frame.taker_buy_volume[0] == 2688.383
    assert frame.quote_volume[0] == 475205512.6943  # quoteVolume of the file's row, for the VWAP entry
    assert frame.oi_usd[0] == 8248989576.0  # regime oi_close of bar T0 = OI at T0 + 1h
    assert frame.oi_usd[1] == 8293200354.0
    assert np.isfinite(frame.oi_usd).all()


def test_funding_known_by_bar_end(market: DuckDBStore, files: Path) -> None:
    frame = load_frame(market, "binance", "BTC", T0, T0 + 4 * H, H)
    # bar 06:00-07:00 ends at 07:00, when the regime sample 0.005673 % (stored at 07:00) is the latest
    assert frame.funding[0] == pytest.approx(0.005673 / 100)
    only_settlements = DuckDBStore(":memory:").open()
    for name in ("BTCUSDT-1h-futures.csv.gz", "BTCUSDT-funding.csv.gz"):
        import_file(only_settlements, files / name)
    only_settlements.write([OpenInterest("binance", "BTC", T0 + H, 0, None, 8.2e9)])
    frame = load_frame(only_settlements, "binance", "BTC", T0, T0 + 4 * H, H)
    # settlement 1764806400012 (2025-12-04 00:00, -0.00000395) is the latest before 07:00;
    # the 08:00 settlement (0.00007435) applies from the bar ending at 08:00
    assert frame.funding[0] == pytest.approx(-0.00000395)
    assert frame.funding[1] == pytest.approx(0.00007435)


def test_spot_fallback_and_gap(market: DuckDBStore) -> None:
    start = utc_ms(2025, 12, 27, 13)
    with pytest.raises(BadSeriesError, match="gap"):
        load_frame(market, "binance", "BTC", start, start + 11 * H, H)
    frame = load_frame(market, "binance", "BTC", start, start + 11 * H, H, on_gap="latest")
    assert frame.price_source == "spot"
    assert frame.ts[0] == utc_ms(2025, 12, 27, 19)  # the run after the missing 18:00 bar
    assert frame.oi_usd[0] == 8013841256.0  # oi_open of the 20:00 row = OI at the end of the 19:00 bar
    assert frame.close[0] == 87569.39


def test_missing_data_is_named(market: DuckDBStore) -> None:
    with pytest.raises(DataError, match="no 60m bars of binance ETH"):
        load_frame(market, "binance", "ETH", T0, T0 + H, H)


def test_resample_missing_values_make_the_bucket_nan() -> None:
    """NaN or NULL in a bar: NaN in the bucket's high/low/volumes when any bar has it, in its open/close
    when the first/last bar has it (the first/last bar's value is the bucket's), as numpy's reductions."""
    n = 120
    ts = np.arange(n, dtype=np.int64) * 60_000
    text = np.full(n, "binance", dtype=object)
    values = {c: np.linspace(90.0, 110.0, n) for c in ("open", "high", "low", "close", "volume", "quote_volume",
                                                        "taker_buy_volume")}
    with DuckDBStore(":memory:") as store:
        store.write_columns("bars", {
            "exchange": text, "symbol": np.full(n, "BTC", dtype=object), "interval_ms": np.full(n, 60_000),
            "ts_event": ts, **values, "ts_recv": ts, "trades": np.full(n, 1),
            "market": np.full(n, "perp", dtype=object), "venue_symbol": np.full(n, "BTCUSDT", dtype=object),
        })
        for column, minute, value in (("open", 15, "NULL"), ("open", 31, "'NaN'"), ("low", 40, "'NaN'"),
                                      ("high", 55, "NULL"), ("close", 74, "NULL"), ("close", 88, "'NaN'"),
                                      ("volume", 100, "NULL")):
            store.execute(f"UPDATE bars SET {column} = {value} WHERE ts_event = ?", [minute * 60_000])
        out = store.resample_bars(start=0, end=n * 60_000, interval_ms=15 * 60_000, source_interval_ms=60_000)
    nan = {name: np.flatnonzero(np.isnan(np.asarray(out[name], dtype=float))).tolist()
           for name in ("open", "high", "low", "close", "volume", "quote_volume")}
    # bucket k holds minutes 15k..15k+14: open NULL at the first bar of bucket 1 (the NaN open at minute
    # 31 is not a first bar); low NaN in bucket 2; high NULL in bucket 3; close NULL at the last bar of
    # bucket 4 (the NaN close at minute 88 is not a last bar); volume NULL in bucket 6.
    assert nan == {"open": [1], "high": [3], "low": [2], "close": [4], "volume": [6], "quote_volume": []}
    assert len(out["ts_event"]) == 8 and out["high"][0] == values["high"][14]


def test_resample_complete_buckets_only(store: DuckDBStore, files: Path) -> None:
    import_file(store, files / "AVAXUSDT-1m-2026-06.csv.gz")
    bars = store.read(
        "bars",
        symbol="AVAX",
        columns=["ts_event", "open", "high", "low", "close", "volume", "quote_volume", "taker_buy_volume"],
    )
    ts = bars["ts_event"]
    assert ts[0] % (15 * 60_000) == 0
    out = store.resample_bars(start=int(ts[0]), end=int(ts[-1]) + 1, interval_ms=15 * 60_000,
                              source_interval_ms=60_000, symbol="AVAX")
    n = len(ts) // 15  # the oracle: numpy over groups of 15 consecutive minutes (the file has no gaps)
    assert out["ts_event"].tolist() == ts[: n * 15 : 15].tolist()
    grouped = {k: np.asarray(v[: n * 15], dtype=float).reshape(n, 15) for k, v in bars.items()}
    np.testing.assert_array_equal(out["open"], grouped["open"][:, 0])
    np.testing.assert_array_equal(out["close"], grouped["close"][:, -1])
    np.testing.assert_array_equal(out["high"], grouped["high"].max(axis=1))
    np.testing.assert_array_equal(out["low"], grouped["low"].min(axis=1))
    for name in ("volume", "quote_volume", "taker_buy_volume"):
        np.testing.assert_allclose(out[name], grouped[name].sum(axis=1), rtol=1e-13)
    partial = store.resample_bars(start=int(ts[0]), end=int(ts[20]), interval_ms=15 * 60_000,
                                  source_interval_ms=60_000, symbol="AVAX")
    assert partial["ts_event"].tolist() == [ts[0]]  # the second bucket has 5 of 15 bars: not a bar
    with pytest.raises(ConfigError, match="not a multiple"):
        store.resample_bars(start=0, end=1, interval_ms=90_000, source_interval_ms=60_000)

