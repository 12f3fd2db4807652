"""ModelConfig is a frozen, hashable contract checked when it is built."""

from __future__ import annotations

import dataclasses

import pytest

from liqmap.errors import ConfigError
from liqmap.model.config import ModelConfig


def test_equal_configs_are_one_cache_key() -> None:
    cache = {ModelConfig(): "default"}
    assert cache[ModelConfig()] == "default"
    assert ModelConfig(turnover=0.1) not in cache
    with pytest.raises(dataclasses.FrozenInstanceError):
        ModelConfig().turnover = 0.2  # type: ignore[misc]


@pytest.mark.parametrize(("field", "value"), [("entry", "bogus"), ("side", "maker"), ("close_rule", "all"),
                                              ("above_max_leverage", "ignore")])
def test_a_rule_outside_its_literal_is_refused_at_construction(field: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"{field}: unknown rule '{value}'"):
        ModelConfig(**{field: value})


@pytest.mark.parametrize(("field", "value"), [("entry_points", 2.5), ("entry_points", True),
                                              ("funding_tilt", float("nan")), ("age_buckets_hours", ()),
                                              ("turnover", -0.01), ("diffuse_band", 1.0)])
def test_out_of_range_values_are_refused_at_construction(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        ModelConfig(**{field: value})


def test_sequences_are_kept_as_tuples_so_the_config_stays_hashable() -> None:
    config = ModelConfig(leverage=[10.0, 20.0], leverage_weights=[1.0, 3.0], age_buckets_hours=[4.0, 24.0])
    assert config.leverage == (10.0, 20.0)
    assert config.normalised_weights == (0.25, 0.75)
    assert hash(config) == hash(ModelConfig(leverage=(10.0, 20.0), leverage_weights=(1.0, 3.0),
                                            age_buckets_hours=(4.0, 24.0)))
