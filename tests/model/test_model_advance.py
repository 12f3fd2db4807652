"""advance_book: the live path's incremental step equals the book built from the whole history."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_model_warm_start import assert_window_equal, walk

from liqmap.model import ModelConfig, compute_heatmap
from liqmap.model.engine import advance_book, warm_book

CONTEXT = 30


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    oi_every=st.sampled_from([1, 4]),
    steps=st.lists(st.integers(1, 7), min_size=1, max_size=6),
    ages=st.sampled_from([None, ["<4h"], ["1d-7d", ">7d"]]),
    leverage=st.sampled_from([None, (50.0, 125.0)]),
)
def test_advancing_a_book_bar_by_bar_equals_one_run(
    seed: int, oi_every: int, steps: list[int], ages: list[str] | None, leverage: tuple[float, ...] | None
) -> None:
    """A book built at bar ``p`` and advanced a few bars at a time continues to the same heatmap as the
    one run over the whole history (every term of the default model, filters applied after)."""
    config = ModelConfig()
    n = 260
    f = walk(n, seed=seed, oi_every=oi_every)
    p = 150
    book = warm_book(f.slice(0, p), config)
    at = p
    for step in steps:
        stop = min(at + step, n - 5)
        book = advance_book(book, f.slice(at - CONTEXT, stop), config)
        at = stop
    assert book.at == int(f.ts[at])
    edges = np.linspace(float(f.low.min()) * 0.8, float(f.high.max()) * 1.2, 201)
    want = compute_heatmap([f], config, price_edges=edges, ages=ages, leverage=leverage)
    got = compute_heatmap([f.slice(at - CONTEXT, n)], config, price_edges=edges, ages=ages, leverage=leverage,
                          warm=[book])
    assert want.long[at:].sum() > 0 and want.short[at:].sum() > 0
    assert_window_equal(got, want, CONTEXT, at)
    direct = warm_book(f.slice(0, at), config)
    for side in (0, 1):  # the same cohorts (order aside) as the book built from the whole history
        assert np.allclose(np.sort(book.levels[side]), np.sort(direct.levels[side]), rtol=1e-12)
        assert np.isclose(book.values[side].sum(), direct.values[side].sum(), rtol=1e-9)
