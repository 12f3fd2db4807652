"""Each real file format, parsed from small real slices (tests/fixtures/files), values checked against
the raw text of the files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from liqmap.ingest import detect_format, import_file
from liqmap.store import DuckDBStore

H = 3_600_000


def utc_ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("AVAXUSDT-1m-2026-06.csv.gz", "binance-vision-klines"),
        ("BTCUSDT-1h-futures.csv.gz", "binance-klines-camel"),
        ("BTCUSDT_binance_klines_1h.csv.gz", "binance-klines-iso"),
        ("BTCUSDT-funding.csv.gz", "binance-funding"),
        ("forceorder_2024-08-17.csv", "binance-forceorder"),
        ("aggtrades_over_15k_2024-08-15.csv.gz", "binance-aggtrades"),
        ("leverage_tiers_2024-10.json", "binance-leverage-tiers"),
        ("BTC_regime_1h.csv.gz", "coinglass-regime"),
        ("BTC_liquidation_1h.csv.gz", "coinglass-liquidations"),
        ("BTC_liquidation_30m.csv.gz", "coinglass-liquidations"),
    ],
)
def test_detects_format_from_content(files: Path, name: str, fmt: str, tmp_path: Path) -> None:
    assert detect_format(files / name).name == fmt
    # Content, not the name, decides: the same bytes under a meaningless name are still recognised.
    renamed = tmp_path / "data.bin"
    renamed.write_bytes((files / name).read_bytes())
    assert detect_format(renamed).name == fmt


def test_camel_klines_first_row(store: DuckDBStore, files: Path) -> None:
    result = import_file(store, files / "BTCUSDT-1h-futures.csv.gz", ts_recv=123)
    assert result.rows_read == 72 and result.new_rows == {"bars": 72}
    bars = store.read("bars", exchange="binance", symbol="BTC", market="perp")
    # 1764828000000,92932.40,93333.00,92800.10,93103.10,5104.689,...,475205512.69430,116011,2688.383,...
    assert bars["ts_event"][0] == 1764828000000 == utc_ms(2025, 12, 4, 6)
    assert (bars["open"][0], bars["high"][0], bars["low"][0], bars["close"][0]) == (
        92932.4,
        93333.0,
        92800.1,
        93103.1,
    )
    assert bars["volume"][0] == 5104.689 and bars["taker_buy_volume"][0] == 2688.383
    assert bars["quote_volume"][0] == 475205512.6943 and bars["trades"][0] == 116011
    assert set(bars["interval_ms"]) == {H} and set(bars["venue_symbol"]) == {"BTCUSDT"}
    assert set(bars["ts_recv"]) == {123}
    assert np.all(np.diff(bars["ts_event"]) == H)


def test_vision_1m_klines_symbol_from_file_name(store: DuckDBStore, files: Path) -> None:
    result = import_file(store, files / "AVAXUSDT-1m-2026-06.csv.gz")
    assert result.new_rows == {"bars": 30}
    bars = store.read("bars", symbol="AVAX")
    # 1780272000000,8.9810,8.9820,8.9710,8.9740,17315,...
    assert bars["ts_event"][0] == utc_ms(2026, 6, 1)
    assert (bars["open"][0], bars["high"][0], bars["low"][0], bars["close"][0], bars["volume"][0]) == (
        8.981,
        8.982,
        8.971,
        8.974,
        17315.0,
    )
    assert set(bars["interval_ms"]) == {60_000} and set(bars["venue_symbol"]) == {"AVAXUSDT"}
    assert set(bars["market"]) == {"perp"}


def test_iso_klines_drop_exact_duplicates(store: DuckDBStore, files: Path) -> None:
    result = import_file(store, files / "BTCUSDT_binance_klines_1h.csv.gz")
    assert result.rows_read == 20
    assert result.new_rows == {"bars": 19}
    assert any("duplicate" in note for note in result.notes)
    bars = store.read("bars", symbol="BTC")
    assert len(np.unique(bars["ts_event"])) == 19 and np.all(np.diff(bars["ts_event"]) == H)
    at = int(np.flatnonzero(bars["ts_event"] == utc_ms(2025, 6, 10))[0])
    # 2025-06-10 00:00:00,110228.0,110280.0,109861.9,109870.5,6585.19,...
    assert (bars["open"][at], bars["close"][at], bars["volume"][at]) == (110228.0, 109870.5, 6585.19)


def test_funding_is_a_fraction(store: DuckDBStore, files: Path) -> None:
    import_file(store, files / "BTCUSDT-funding.csv.gz")
    f = store.read("funding", exchange="binance", symbol="BTC")
    # 1764748800000,8,0.00004206
    assert f["ts_event"][0] == 1764748800000
    assert f["rate"][0] == pytest.approx(0.00004206) and f["interval_hours"][0] == 8.0
    assert len(f["ts_event"]) == 12


def test_regime_units_and_semantics(store: DuckDBStore, files: Path) -> None:
    result = import_file(store, files / "BTC_regime_1h.csv.gz")
    assert result.format == "coinglass-regime" and result.rows_read == 82
    t0 = utc_ms(2025, 12, 4, 6)
    spot = store.read("bars", market="spot", symbol="BTC")
    assert spot["ts_event"][0] == t0 and set(spot["exchange"]) == {"binance"}
    # price_open..close = 92979.25, 93371.12, 92824.32, 93140.74 (Binance spot)
    assert (spot["open"][0], spot["high"][0], spot["low"][0], spot["close"][0]) == (
        92979.25,
        93371.12,
        92824.32,
        93140.74,
    )
    assert store.read("bars", market="perp")["ts_event"].size == 0

    oi = store.read("open_interest", exchange="binance", symbol="BTC")
    by_ts = dict(zip(oi["ts_event"].tolist(), oi["oi_usd"].tolist(), strict=True))
    assert by_ts[t0 + H] == 8248989576.0  # oi_close of the 06:00 bar = OI at 07:00
    assert by_ts[t0] == 8206829667.0  # oi_open of the first bar (no earlier bar)
    assert by_ts[t0 + 2 * H] == 8293200354.0  # oi_close of the 07:00 bar
    # after the missing 18:00 bar on 2025-12-27, OI at 19:00 = oi_open of the 19:00 row
    assert by_ts[utc_ms(2025, 12, 27, 19)] == 8007181490.0
    assert np.all(oi["oi_base"] != oi["oi_base"])  # not given: NULL -> NaN

    funding = store.read("funding", exchange="binance", symbol="BTC")
    fund = dict(zip(funding["ts_event"].tolist(), funding["rate"].tolist(), strict=True))
    assert fund[t0 + H] == pytest.approx(0.005673 / 100)  # funding_close in percent -> fraction

    liq = store.read("liquidation_bars", exchange="aggregate", symbol="BTC")
    assert liq["ts_event"][0] == t0 and set(liq["interval_ms"]) == {H}
    assert (liq["long_usd"][0], liq["short_usd"][0]) == (42620.5427, 1499665.49438)
    assert set(liq["coverage"]) == {"binance+bybit+okx, all BTC pairs (coinglass)"}


def test_regime_oi_after_gap_uses_raw_row(store: DuckDBStore, files: Path) -> None:
    import_file(store, files / "BTC_regime_1h.csv.gz")
    oi = store.read("open_interest", start=utc_ms(2025, 12, 27, 18), end=utc_ms(2025, 12, 27, 19, 0) + 1)
    # 17:00 row: oi_close is its 17th column; read the raw line to check the value independently
    import gzip

    lines = gzip.decompress((files / "BTC_regime_1h.csv.gz").read_bytes()).decode().splitlines()
    header = lines[0].split(",")
    row17 = next(line.split(",") for line in lines if line.startswith(str(utc_ms(2025, 12, 27, 17))))
    assert oi["ts_event"].tolist() == [utc_ms(2025, 12, 27, 18), utc_ms(2025, 12, 27, 19)]
    assert oi["oi_usd"][0] == float(row17[header.index("oi_close")])


@pytest.mark.parametrize(
    ("name", "interval"), [("BTC_liquidation_30m.csv.gz", 1_800_000), ("BTC_liquidation_1h.csv.gz", H)]
)
def test_coinglass_liquidations(store: DuckDBStore, files: Path, name: str, interval: int) -> None:
    import_file(store, files / name)
    liq = store.read("liquidation_bars", exchange="aggregate")
    assert set(liq["interval_ms"]) == {interval}
    if interval == 1_800_000:
        # 1771653600000,...,407.2122,41568.7156,...
        i = int(np.flatnonzero(liq["ts_event"] == 1771653600000)[0])
        assert (liq["long_usd"][i], liq["short_usd"][i]) == (407.2122, 41568.7156)
    else:
        assert (liq["long_usd"][0], liq["short_usd"][0]) == (42620.5427, 1499665.49438)


def test_force_orders(store: DuckDBStore, files: Path) -> None:
    result = import_file(store, files / "forceorder_2024-08-17.csv")
    assert result.new_rows == {"liquidations": 40}
    rare = store.read("liquidations", symbol="RARE")
    # RARE,BUY,LIMIT,IOC,4421,0.2226588,0.2185000,FILLED,3750,4421,1723895903305,984.37...
    assert rare["ts_event"][0] == 1723895903305
    assert rare["side"][0] == "short"  # BUY order = a short was liquidated
    assert rare["price"][0] == 0.2185 and rare["quantity"][0] == 4421.0
    assert rare["usd"][0] == pytest.approx(4421 * 0.2185)
    assert rare["venue_symbol"][0] == "RAREUSDT" and rare["price_kind"][0] == "average"
    banana = store.read("liquidations", symbol="BANANA")
    assert banana["side"][0] == "long"  # SELL = a long was force-sold


def test_agg_trades_drop_clock_time_copies(store: DuckDBStore, files: Path) -> None:
    result = import_file(store, files / "aggtrades_over_15k_2024-08-15.csv.gz")
    assert result.rows_read == 15 and result.new_rows == {"trades": 13}
    btc = store.read("trades", symbol="BTC")
    first = int(np.flatnonzero(btc["trade_id"] == "2291080928")[0])
    # 1723705563505, BTCUSDT, 2291080928, 58105.9, 0.5,1723705563418, True
    assert btc["ts_event"][first] == 1723705563418
    assert (btc["price"][first], btc["quantity"][first]) == (58105.9, 0.5)
    assert btc["taker_side"][first] == "sell"  # buyer is maker -> the taker sold
    copy = int(np.flatnonzero(btc["trade_id"] == "2291164354")[0])
    assert btc["ts_event"][copy] == 1723711227423


def test_leverage_tiers(store: DuckDBStore, files: Path) -> None:
    result = import_file(store, files / "leverage_tiers_2024-10.json")
    assert result.new_rows == {"margin_tiers": 12 + 8}
    rows = store.execute(
        "SELECT tier, notional_floor, notional_cap, mmr, maint_amount, max_leverage FROM margin_tiers "
        "WHERE symbol = 'BTC' ORDER BY tier"
    )
    assert rows[1] == (2, 50000.0, 600000.0, 0.005, 50.0, 100.0)
    assert {r[0] for r in store.execute("SELECT DISTINCT symbol FROM margin_tiers")} == {"BTC", "G"}
    assert any("USDC" in note for note in result.notes)


def test_vision_klines_without_header(store: DuckDBStore, files: Path, tmp_path: Path) -> None:
    """Older data.binance.vision files have no header row: recognised by their 12 numeric columns."""
    import gzip

    lines = gzip.decompress((files / "AVAXUSDT-1m-2026-06.csv.gz").read_bytes()).decode().splitlines()
    bare = tmp_path / "AVAXUSDT-1m-2026-06.csv"
    bare.write_text("\n".join(lines[1:]) + "\n")
    assert detect_format(bare).name == "binance-vision-klines"
    assert import_file(store, bare).new_rows == {"bars": 30}
    assert store.read("bars", symbol="AVAX")["close"][0] == 8.974
