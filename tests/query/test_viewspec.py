"""The one view declaration (liqmap.viewspec.VIEW): the query, the API and the CLI accept exactly its values."""

from __future__ import annotations

import pytest

from liqmap.errors import ConfigError
from liqmap.query import HeatmapQuery
from liqmap.service.params import ParamError, ViewKey, parse_range, parse_side, parse_view
from liqmap.types import SIDES
from liqmap.viewspec import RANGES, VIEW, VIEW_SIDES

DAY = 86_400_000


def test_the_declared_values() -> None:
    assert dict(VIEW.ranges) == {"12h": DAY // 2, "24h": DAY, "3d": 3 * DAY, "7d": 7 * DAY, "30d": 30 * DAY,
                                 "90d": 90 * DAY, "180d": 180 * DAY, "1y": 365 * DAY}
    assert VIEW.sides == VIEW_SIDES == ("both", "long", "short", "net")
    assert SIDES == ("long", "short")  # a position's side: the other meaning, another name
    assert (VIEW.rows.lo, VIEW.rows.hi, VIEW.rows.default, VIEW.rows.api_lo, VIEW.rows.api_hi) == (
        10, 5000, 500, 10, 2000)
    assert (VIEW.columns.lo, VIEW.columns.hi, VIEW.columns.default, VIEW.columns.api_lo, VIEW.columns.api_hi) == (
        2, 20_000, 1000, 10, 2000)
    assert VIEW.rows.schema() == {"minimum": 10, "maximum": 2000}


@pytest.mark.parametrize(("text", "name"), [("7d", "7d"), (" 1W ", "7d"), ("12H", "12h"), ("365d", "1y"),
                                             ("1m", "30d"), ("2w", None), ("", None)])
def test_range_names_and_aliases(text: str, name: str | None) -> None:
    assert VIEW.range_name(text) == name


def test_query_defaults_and_bounds_are_the_declarations() -> None:
    q = HeatmapQuery("BTC")
    assert (q.range, q.side, q.n_bins, q.max_columns) == ("7d", "both", 500, 1000)
    assert HeatmapQuery("BTC", n_bins=VIEW.rows.hi, max_columns=VIEW.columns.lo).n_bins == 5000
    with pytest.raises(ConfigError, match=r"^n_bins: expected an integer in \[10, 5000\], got 5001$"):
        HeatmapQuery("BTC", n_bins=5001)
    with pytest.raises(ConfigError, match=r"^max_columns: expected an integer in \[2, 20000\], got 1$"):
        HeatmapQuery("BTC", max_columns=1)
    with pytest.raises(ConfigError, match=r"^side: 'up' is not accepted; accepted: both, long, short, net$"):
        HeatmapQuery("BTC", side="up")
    with pytest.raises(ConfigError, match=r"^warmup_days: expected 0\.\.365 days, got 366$"):
        HeatmapQuery("BTC", warmup_days=366)
    with pytest.raises(ConfigError, match=r"^interval_ms: 7 not accepted; accepted: None \(automatic\) or 60000, "):
        HeatmapQuery("BTC", interval_ms=7)
    with pytest.raises(ConfigError, match=r"^n_bins: .* got True$"):
        HeatmapQuery("BTC", n_bins=True)  # type: ignore[arg-type]


def test_api_parsers_read_the_same_declaration() -> None:
    assert parse_range("1W") == "7d" and parse_range(None) == VIEW.default_range
    assert parse_side(None) == "both" and parse_side(" NET ") == "net"
    with pytest.raises(ParamError) as refused:
        parse_range("2w")
    assert str(refused.value) == "parameter 'range': unknown range '2w'; accepted: " + ", ".join(RANGES)
    with pytest.raises(ParamError) as refused:
        parse_side("up")
    assert str(refused.value) == "parameter 'side': unknown value 'up'; accepted: both, long, short, net"


def test_a_request_view_is_a_query() -> None:
    key = parse_view(symbol="btcusdt", exchanges="bybit,binance", range_="1w", end="1723896000000",
                     leverage="50x,25", age="0", rows=None, columns=300, tiers=(10.0, 25.0, 50.0),
                     labels=("<4h", "4h-1d"))
    assert key == ViewKey("BTC", ("binance", "bybit"), "7d", 1723896000000, (25.0, 50.0), ("<4h",), 500, 300)
    query = key.query()
    assert query == HeatmapQuery("BTC", exchanges=("binance", "bybit"), range="7d", end=1723896000000,
                                 side="both", leverage=(25.0, 50.0), ages=("<4h",), n_bins=500, max_columns=300)
    with pytest.raises(ParamError) as refused:
        parse_view(symbol="BTC", exchanges=None, range_=None, end=None, leverage=None, age=None, rows=2001,
                   columns=None, tiers=(), labels=())
    assert str(refused.value) == "parameter 'rows': 2001 is out of range; accepted: an integer from 10 to 2000"


def test_the_server_key_is_a_subset_of_the_query() -> None:
    from dataclasses import fields

    key = [f.name for f in fields(ViewKey)]
    assert key == ["symbol", "exchanges", "range", "end", "leverage", "ages", "n_bins", "max_columns"]
    assert set(key) <= {f.name for f in fields(HeatmapQuery)}
