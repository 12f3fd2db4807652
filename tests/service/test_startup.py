"""The server answers while its start-up precompute still runs (the precompute never blocks requests)."""

from __future__ import annotations

import threading

from liqmap.model.result import Heatmap
from liqmap.query import HeatmapQuery, heatmap_for


def test_meta_and_other_views_answer_while_the_precompute_runs(store) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from liqmap.service.app import create_app

    release = threading.Event()
    started = threading.Event()

    def slow_default_view(s, key) -> Heatmap:  # type: ignore[no-untyped-def]
        # the pre-computed default view (7d) hangs until released; every other view computes normally
        if key.range == "7d" and key.end is None:
            started.set()
            assert release.wait(60)
        return heatmap_for(s, HeatmapQuery(symbol=key.symbol, exchanges=key.exchanges, range=key.range, end=key.end,
                                           n_bins=key.n_bins, max_columns=key.max_columns))

    with TestClient(create_app(store, compute=slow_default_view)) as c:
        ctx = c.app.state.liqmap
        assert started.wait(30)  # the precompute is inside its first view
        meta = c.get("/api/meta")
        assert meta.status_code == 200 and meta.json()["prewarmed"] is False
        other = c.get("/api/heatmap", params={"symbol": "BTC", "range": "30d"})
        assert other.status_code == 200
        assert other.json()["times"] == heatmap_for(store, HeatmapQuery("BTC", range="30d")).times.tolist()
        assert not ctx.prewarmed.is_set()
        release.set()
        assert ctx.prewarmed.wait(60)
        assert c.get("/api/meta").json()["prewarmed"] is True


def test_after_the_precompute_a_calibrated_request_computes_no_fit_view(store) -> None:  # type: ignore[no-untyped-def]
    """The start-up precompute also calibrates the views it computes (the sample stores realized
    liquidations): the page's first calibrated request then computes neither the view nor its fit view."""
    from fastapi.testclient import TestClient

    from liqmap.service.app import create_app

    app = create_app(store)
    ctx = app.state.liqmap
    computed: list = []
    compute = ctx.cache.compute_fn

    def recording(s, key) -> Heatmap:  # type: ignore[no-untyped-def]
        computed.append(key)
        return compute(s, key)  # type: ignore[no-any-return]

    ctx.cache.compute_fn = recording
    with TestClient(app) as c:
        assert ctx.prewarmed.wait(120)
        ctx.cache.prefetch.wait(60)  # the next day's fit view, started by the calibrations
        fit_ends = {key.end for key in computed if key.end is not None}
        day = int(heatmap_for(store, HeatmapQuery("BTC", range="7d")).times[-1]) // 86_400_000 * 86_400_000
        assert day in fit_ends  # the precompute's: the fit view of the day of the views' last column
        computed.clear()
        body = c.get("/api/heatmap", params={"symbol": "BTC", "range": "7d"}).json()
    assert computed == []
    assert body["calibration"]["source"] == "coinglass" and body["calibration"]["fitted_on"][1] == day
