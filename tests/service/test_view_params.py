"""The API's view parameters are built from the one view declaration (liqmap.viewspec.VIEW)."""

from __future__ import annotations

from typing import Any


def _params(client: Any, path: str) -> dict[str, dict[str, Any]]:
    spec = client.get("/openapi.json").json()
    return {p["name"]: p["schema"] for p in spec["paths"][path]["get"]["parameters"]}


def test_heatmap_parameters_carry_the_declared_values(client: Any) -> None:
    params = _params(client, "/api/heatmap")
    assert params["range"]["enum"] == ["", "12h", "24h", "3d", "7d", "30d", "90d", "180d", "1y",
                    "1d", "1w", "1m", "3m", "6m", "12m", "365d"]
    assert params["side"]["enum"] == ["", "both", "long", "short", "net"]
    assert (params["rows"]["minimum"], params["rows"]["maximum"]) == (10, 2000)
    assert (params["columns"]["minimum"], params["columns"]["maximum"]) == (10, 2000)
    assert _params(client, "/api/liqmap")["rows"]["maximum"] == 2000


def test_meta_lists_the_declared_ranges_and_sides(client: Any) -> None:
    meta = client.get("/api/meta").json()
    assert meta["ranges"] == ["12h", "24h", "3d", "7d", "30d", "90d", "180d", "1y"]
    assert meta["sides"] == ["both", "long", "short", "net"]


def test_an_alias_range_is_the_named_view(client: Any) -> None:
    week = client.get("/api/heatmap", params={"symbol": "BTC", "range": "1w", "rows": 40, "columns": 20}).json()
    assert week["view"]["range"] == "7d" and week["view"]["columns"] == 20
