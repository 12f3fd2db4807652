"""liqmap.query: parameter validation, windowing, cropping, side filters, candles and realized."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from liqmap.errors import BadSeriesError, ConfigError, DataError, UnknownSymbolError
from liqmap.ingest import import_file
from liqmap.model.config import ModelConfig
from liqmap.query import RANGES, HeatmapQuery, candles_for, heatmap_for, parse_time, realized_for
from liqmap.store import DuckDBStore

FILES = Path(__file__).resolve().parents[1] / "fixtures" / "files"
H = 3_600_000


def utc_ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


T0 = utc_ms(2025, 12, 4, 6)  # first bar of the fixtures; 72 perp bars follow


@pytest.fixture(scope="module")
def store() -> Iterator[DuckDBStore]:
    with DuckDBStore(":memory:") as s:
        for name in (
            "BTCUSDT-1h-futures.csv.gz",
            "BTCUSDT-funding.csv.gz",
            "BTC_regime_1h.csv.gz",
            "BTC_liquidation_1h.csv.gz",
            "forceorder_2024-08-17.csv",
        ):
            import_file(s, FILES / name)
        yield s


def test_ranges_in_ms() -> None:
    assert RANGES["12h"] == 12 * H and RANGES["7d"] == 7 * 24 * H and RANGES["1y"] == 365 * 24 * H
    assert list(RANGES) == ["12h", "24h", "3d", "7d", "30d", "90d", "180d", "1y"]


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"range": "2w"}, "range"),
        ({"side": "up"}, "side"),
        ({"leverage": (33.5,)}, "leverage"),
        ({"ages": ("ancient",)}, "ages"),
        ({"n_bins": 3}, "n_bins"),
        ({"max_columns": 0}, "max_columns"),
        ({"warmup_days": -1}, "warmup_days"),
        ({"exchanges": ("nasdaq",)}, "nasdaq"),
        ({"exchanges": ()}, "exchanges"),
        ({"end": -5}, "end"),
        ({"interval_ms": 7}, "interval_ms"),
    ],
)
def test_validation_names_the_parameter(kwargs: dict, param: str) -> None:
    with pytest.raises(ConfigError) as info:
        HeatmapQuery("BTC", **kwargs)
    assert param in str(info.value)


def test_accepted_values_are_listed() -> None:
    with pytest.raises(ConfigError, match="accepted: 12h, 24h, 3d, 7d, 30d, 90d, 180d, 1y"):
        HeatmapQuery("BTC", range="2w")
    tiers = ", ".join(f"{x:g}" for x in ModelConfig().leverage)
    with pytest.raises(ConfigError, match=f"accepted tiers: {tiers}"):
        HeatmapQuery("BTC", leverage=(33.5,))
    with pytest.raises(UnknownSymbolError):
        HeatmapQuery("")


def test_normalises_symbol_and_lists() -> None:
    tiers = [int(x) for x in ModelConfig().leverage[:2]]
    q = HeatmapQuery("btcusdt", exchanges=["Binance"], leverage=tiers)
    assert q.symbol == "BTC" and q.exchanges == ("binance",) and q.leverage == tuple(float(x) for x in tiers)


def test_parse_time() -> None:
    assert parse_time("2026-05-24") == utc_ms(2026, 5, 24)
    assert parse_time("2026-05-24T12:00Z") == utc_ms(2026, 5, 24, 12)
    assert parse_time("1779667200000") == 1779667200000
    with pytest.raises(ConfigError, match="end"):
        parse_time("yesterday")


def test_heatmap_window_and_crop(store: DuckDBStore) -> None:
    end = T0 + 72 * H
    hm = heatmap_for(store, HeatmapQuery("BTCUSDT", range="24h", end=end, warmup_days=1, n_bins=120))
    assert hm.exchanges == ("binance",)
    assert hm.times.tolist() == list(range(end - 24 * H, end, H))  # one column per 1h bar, window only
    assert hm.long.shape == (24, 120) and hm.short.shape == (24, 120)
    perp = store.read("bars", exchange="binance", market="perp", start=end - 24 * H, end=end)
    np.testing.assert_array_equal(hm.candles["close"], perp["close"])  # perp prices, not spot
    assert hm.price_edges[0] < perp["low"].min() and hm.price_edges[-1] > perp["high"].max()
    assert hm.long.sum() > 0 and hm.short.sum() > 0
    # warm-up matters: positions opened before the window are in its first column
    cold = heatmap_for(store, HeatmapQuery("BTC", range="24h", end=end, warmup_days=0, n_bins=120))
    assert hm.long[0].sum() > cold.long[0].sum()


def test_latest_end_and_columns_cap(store: DuckDBStore) -> None:
    hm = heatmap_for(store, HeatmapQuery("BTC", range="24h", warmup_days=0.5, n_bins=50, max_columns=6))
    assert len(hm.times) <= 6 and hm.interval_ms % H == 0 and hm.interval_ms >= 4 * H
    perp = store.read("bars", market="perp")
    # end=None: the view ends with the latest stored perp bar (not the later spot-only Coinglass rows)
    assert hm.candles["close"][-1] == perp["close"][-1]
    assert hm.candles["high"].max() == perp["high"][perp["ts_event"] >= hm.times[0]].max()


def test_side_filters(store: DuckDBStore) -> None:
    base = dict(symbol="BTC", range="24h", end=T0 + 72 * H, warmup_days=1, n_bins=80)
    both = heatmap_for(store, HeatmapQuery(**base))
    longs = heatmap_for(store, HeatmapQuery(**base, side="long"))
    shorts = heatmap_for(store, HeatmapQuery(**base, side="short"))
    net = heatmap_for(store, HeatmapQuery(**base, side="net"))
    np.testing.assert_allclose(longs.long, both.long)
    assert not longs.short.any() and not shorts.long.any()
    np.testing.assert_allclose(net.long - net.short, both.long - both.short)
    assert not (net.long * net.short).any()


def test_leverage_filter_is_a_subset(store: DuckDBStore) -> None:
    base = dict(symbol="BTC", range="24h", end=T0 + 72 * H, warmup_days=1, n_bins=80)
    every = heatmap_for(store, HeatmapQuery(**base))
    tiers = ModelConfig().leverage[-2:]
    high = heatmap_for(store, HeatmapQuery(**base, leverage=tiers))
    assert 0 < high.long.sum() < every.long.sum()
    assert high.leverage == tiers


def test_no_data_is_a_clear_error(store: DuckDBStore) -> None:
    with pytest.raises(DataError, match="no bars stored for ETH"):
        heatmap_for(store, HeatmapQuery("ETH"))


def test_candles_for(store: DuckDBStore) -> None:
    c = candles_for(store, "BTC", T0, T0 + 2 * H)
    assert c["market"] == "perp" and c["interval_ms"] == H
    assert c["ts"].tolist() == [T0, T0 + H] and c["open"][0] == 92932.4
    resampled = candles_for(store, "BTC", T0 + 2 * H, T0 + 6 * H, interval_ms=4 * H)
    perp = store.read("bars", market="perp", start=T0 + 2 * H, end=T0 + 6 * H)
    assert resampled["ts"].tolist() == [T0 + 2 * H]  # 08:00 is a 4h boundary
    assert resampled["high"][0] == perp["high"].max() and resampled["close"][0] == perp["close"][-1]


def test_realized_for(store: DuckDBStore) -> None:
    r = realized_for(store, "BTC", T0, T0 + 3 * H, interval_ms=H)
    assert r.interval_ms == H
    assert r.bars["ts"].tolist() == [T0, T0 + H, T0 + 2 * H]
    assert (r.bars["long_usd"][0], r.bars["short_usd"][0]) == (42620.5427, 1499665.49438)
    assert set(r.bars["exchange"]) == {"aggregate"}
    prints = realized_for(store, "RARE", utc_ms(2024, 8, 17), utc_ms(2024, 8, 18))
    assert prints.prints["ts"][0] == 1723895903305 and prints.prints["side"][0] == "short"
    assert prints.bars["ts"].size == 0 and prints.interval_ms is None


def test_spot_fallback_is_reported(store: DuckDBStore) -> None:
    # 2025-12-27 13:00-17:00 has only Coinglass (Binance spot) bars in the fixtures; 18:00 is missing
    end = utc_ms(2025, 12, 27, 18)
    hm = heatmap_for(store, HeatmapQuery("BTC", range="12h", end=end, warmup_days=0, n_bins=40))
    spot = store.read("bars", market="spot", start=utc_ms(2025, 12, 27, 13), end=end)
    assert hm.times.tolist() == spot["ts_event"].tolist()  # the data starts inside the window: shorter
    np.testing.assert_array_equal(hm.candles["close"], spot["close"])
    assert any("spot" in note for note in hm.notes)


def test_gap_inside_window_is_refused(store: DuckDBStore) -> None:
    with pytest.raises(BadSeriesError, match="gap in the bars inside the window"):
        heatmap_for(
            store, HeatmapQuery("BTC", range="12h", end=utc_ms(2025, 12, 28), warmup_days=0, n_bins=40)
        )
