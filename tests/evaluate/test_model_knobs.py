"""The two model knobs added for the evaluation (turnover, intrabar) on hand-computed bars."""

from __future__ import annotations

import numpy as np
import pytest

from liqmap.model.config import ModelConfig
from liqmap.model.intrabar import intrabar_swept
from liqmap.model.turnover import turnover_flows

from .conftest import make_frame

CONFIG = ModelConfig(leverage=(10.0,), leverage_weights=(1.0,), turnover=0.5, intrabar_path=0.5, flat_mmr=0.0)


def frame() -> object:
    # $1,000 of volume per bar (10 coins at a typical price of 100), OI $10,000 throughout
    return make_frame(
        open_=[100.0, 100.0, 100.0],
        high=[100.0, 100.0, 110.0],
        low=[100.0, 100.0, 90.0],
        close=[100.0, 100.0, 100.0],
        oi=[10_000.0, 10_000.0, 10_000.0],
        volume=[10.0, 10.0, 10.0],
    )


def test_turnover_replaces_a_share_of_the_book_set_by_volume_over_oi() -> None:
    added, log_keep = turnover_flows(CONFIG, frame())
    # tau = 0.5 * $1,000 (typical 100 on bars 0-1; (110+90+100)/3 = 100 on bar 2) / $10,000 = 0.05
    assert added.tolist() == pytest.approx([0.0, 500.0, 500.0])  # bar 0 has no OI before it
    assert np.exp(log_keep).tolist() == pytest.approx([1.0, 0.95, 0.95])


def test_turnover_off_changes_nothing() -> None:
    added, log_keep = turnover_flows(ModelConfig(turnover=0.0), frame())
    assert added.tolist() == [0.0, 0.0, 0.0] and log_keep.tolist() == [0.0, 0.0, 0.0]


def test_intrabar_expected_same_bar_liquidations() -> None:
    ratios = np.array([[0.9], [1.1]])  # 10x without maintenance margin
    long, short = intrabar_swept(CONFIG, frame(), ratios)
    # bar 2: expected volume = mean of bars 0-1 = $1,000 -> new notional 0.05 * 10,000 = 500, half per side;
    # a long entered in [90, 110] dies in the bar when e * 0.9 >= 90, i.e. e >= 100: probability 0.5;
    # times intrabar_path 0.5 -> 500 * 0.5 * 0.5 * 0.5 = 62.5. Shorts: e * 1.1 <= 110 -> e <= 100, the same.
    assert long.tolist() == pytest.approx([0.0, 0.0, 62.5])
    assert short.tolist() == pytest.approx([0.0, 0.0, 62.5])
