"""The grid search: picks by fit-period scores only, and never looks past the split."""

from __future__ import annotations

import numpy as np

from liqmap.evaluate.dataset import EvalData
from liqmap.evaluate.harness import model_predictions
from liqmap.evaluate.search import default_grid, objective, run_search
from liqmap.model.config import ModelConfig

from .conftest import random_walk_frame

TRUTH = ModelConfig(turnover=0.3, leverage=(25.0, 50.0, 100.0), leverage_weights=(1.0, 1.0, 1.0))
OTHER = ModelConfig(turnover=0.0, leverage=(5.0, 10.0), leverage_weights=(1.0, 1.0), entry="close")
N = 400


def synthetic_data(seed: int) -> EvalData:
    """Realized = one variant's own prediction times log-normal noise: that variant must win on fit."""
    frame = random_walk_frame(seed, N)
    rng = np.random.default_rng(seed)
    long, short = model_predictions(frame, TRUTH)
    noise = np.exp(rng.normal(0, 0.3, (2, N)))
    return EvalData(frame, long * noise[0] + 1.0, short * noise[1] + 1.0, "synthetic")


def test_the_variant_that_generated_the_data_wins_on_fit() -> None:
    result = run_search(synthetic_data(7), [("other", OTHER), ("truth", TRUTH)], warmup_days=1)
    assert result.best.name == "truth"
    truth = next(v for v in result.variants if v.name == "truth")
    assert truth.objective == objective(truth.fit, result.baselines_fit["move_size_oi"])
    assert truth.fit["rho_long"] > 0.9


def test_fit_scores_and_choice_ignore_data_after_the_split() -> None:
    data = synthetic_data(11)
    split = int(data.ts[N // 2])
    shuffled = data.realized_long.copy()
    later = data.ts >= split
    shuffled[later] = shuffled[later][::-1]  # scramble the test period's ground truth
    scrambled = EvalData(data.frame, shuffled, data.realized_short, "synthetic")
    grid = [("other", OTHER), ("truth", TRUTH)]
    a = run_search(data, grid, warmup_days=1, split_ts=split)
    b = run_search(scrambled, grid, warmup_days=1, split_ts=split)
    assert a.best.name == b.best.name
    for va, vb in zip(a.variants, b.variants, strict=True):
        np.testing.assert_equal(va.fit, vb.fit)  # NaN-aware: a never-swept variant has rho NaN
    assert a.variants[1].test["rho_long"] != b.variants[1].test["rho_long"]


def test_default_grid_is_about_150_distinct_valid_variants() -> None:
    grid = default_grid()
    names = [name for name, _ in grid]
    assert 100 <= len(grid) <= 160
    assert len(set(names)) == len(names)
