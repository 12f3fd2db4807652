"""Every knob of the liquidation model, with its meaning. Defaults are chosen by evidence
(``liqmap evaluate``; see docs/model.md for the numbers behind each choice).

A :class:`ModelConfig` is frozen and hashable (caches key on it) and checks every field when it is built:
a rule name outside its ``Literal`` or a value outside its range raises :class:`~liqmap.errors.ConfigError`
there, not later in the model."""

from __future__ import annotations

import itertools
import math
import numbers
from dataclasses import dataclass
from typing import Literal, get_args

from liqmap.errors import ConfigError

EntryRule = Literal["close", "typical", "ohlc4", "vwap", "range", "triangular"]
SideRule = Literal["taker", "symmetric", "candle", "funding"]
CloseRule = Literal["proportional", "none"]
AboveMaxRule = Literal["error", "cap"]

RULES: dict[str, tuple[str, ...]] = {
    "entry": get_args(EntryRule),
    "side": get_args(SideRule),
    "close_rule": get_args(CloseRule),
    "above_max_leverage": get_args(AboveMaxRule),
}
"""The allowed values of each rule field, read from its ``Literal`` (one declaration)."""


@dataclass(frozen=True)
class ModelConfig:
    leverage: tuple[float, ...] = (25.0, 50.0, 75.0, 100.0, 125.0)
    """Discrete leverage tiers (x)."""
    leverage_weights: tuple[float, ...] = (0.10, 0.20, 0.20, 0.25, 0.25)
    """Share of new notional at each tier; normalised to sum 1."""
    entry: EntryRule = "triangular"
    """Where in the bar new positions enter: close, (h+l+c)/3, ohlc4, quote/base VWAP, or spread over the bar's
    range: evenly ("range") or as a triangular distribution with its mode at the close ("triangular")."""
    entry_points: int = 5
    """With a spread rule: at most this many entry prices from low to high (range: equally spaced;
    triangular: the distribution's quantiles (k + 0.5) / J)."""
    entry_spacing: float = 0.001
    """With a spread rule: entry points of one bar are at least this fraction of the bar's mid apart, so a
    bar gets ``min(entry_points, 1 + floor((high - low) / (entry_spacing * mid)))`` points (0 = always
    ``entry_points``). Finer spreads are indistinguishable on a heatmap and multiply the book's size."""
    side: SideRule = "taker"
    """How new OI becomes long and short exposure (docs/model.md, 'Long/short split')."""
    taker_weight: float = 0.5
    """With ``side="taker"``: 0 = both sides equal, 1 = all by taker buy/sell share."""
    funding_tilt: float = 0.0
    """Extra long share per unit of tanh(funding / 1e-4): positive funding = crowded longs."""
    close_rule: CloseRule = "proportional"
    """When OI falls by a fraction f, every modelled position shrinks by f ("none": ignore OI drops)."""
    decay_half_life_hours: float | None = None
    """Optional exponential age decay of outstanding notional (None = off)."""
    position_notional_usd: float = 10_000.0
    """Representative single-position size used to pick the maintenance-margin bracket."""
    flat_mmr: float | None = None
    """Override the exchange brackets with one maintenance-margin rate (None = real brackets)."""
    age_buckets_hours: tuple[float, ...] = (4.0, 24.0, 168.0)
    """Edges of the position-age buckets: <4h, 4-24h, 1-7d, older."""
    turnover: float = 0.05
    """Share of each bar's USD volume that replaces old positions with new ones at the bar's prices
    (0 = off; liqmap.model.turnover, docs/model.md)."""
    intrabar_path: float = 0.75
    """Probability that a bar's extreme comes after a position opened inside it (0 = off): swept USD then
    includes the expected same-bar liquidations of turnover entries (liqmap.model.intrabar)."""
    intrabar_range_exponent: float = 1.0
    """Exponent ``gamma`` of the volume-volatility rule of the same-bar term: the bar's expected volume is
    the recent mean volume times ``(range / recent mean range) ** gamma`` (0 = the recent mean alone;
    liqmap.model.intrabar, docs/model.md section 6.1)."""
    diffuse_share: float = 0.005
    """Share of the OI at a bar's start held by positions of unknown entry, with liquidation levels spread
    evenly within ``diffuse_band`` of price (0 = off; liqmap.model.diffuse). Counted in swept, not drawn."""
    diffuse_band: float = 0.02
    """Relative width of the diffuse layer's band below (longs) and above (shorts) the bar's open."""
    above_max_leverage: AboveMaxRule = "cap"
    """A tier above the venue bracket's maximum leverage: "error" (ConfigError) or "cap" (model it at the max)."""

    def __post_init__(self) -> None:
        for name in ("leverage", "leverage_weights", "age_buckets_hours"):  # any sequence; kept as a tuple
            if not isinstance(getattr(self, name), tuple):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        for name, allowed in RULES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ConfigError(f"{name}: unknown rule {value!r}; one of {', '.join(allowed)}")
        if not self.leverage:
            raise ConfigError("leverage: at least one tier is required")
        if len(self.leverage) != len(self.leverage_weights):
            raise ConfigError(
                f"leverage_weights: {len(self.leverage_weights)} weights for {len(self.leverage)} tiers"
            )
        for lev in self.leverage:
            if not (1.0 < lev <= 200.0):
                raise ConfigError(f"leverage: {lev}x is impossible; each tier must be > 1x and <= 200x")
        if any(w < 0 for w in self.leverage_weights) or sum(self.leverage_weights) <= 0:
            raise ConfigError("leverage_weights: must be non-negative with a positive sum")
        if isinstance(self.entry_points, bool) or not isinstance(self.entry_points, numbers.Integral):
            raise ConfigError(f"entry_points: must be an integer, got {self.entry_points!r}")
        if self.entry_points < 1:
            raise ConfigError(f"entry_points: must be >= 1, got {self.entry_points}")
        if not 0.0 <= self.entry_spacing < 1.0:
            raise ConfigError(f"entry_spacing: must be in [0, 1), got {self.entry_spacing}")
        if not 0.0 <= self.taker_weight <= 1.0:
            raise ConfigError(f"taker_weight: must be in [0, 1], got {self.taker_weight}")
        if not math.isfinite(self.funding_tilt):
            raise ConfigError(f"funding_tilt: must be finite, got {self.funding_tilt}")
        if not 0.0 <= self.turnover <= 10.0:
            raise ConfigError(f"turnover: must be in [0, 10], got {self.turnover}")
        if not 0.0 <= self.intrabar_path <= 1.0:
            raise ConfigError(f"intrabar_path: must be in [0, 1], got {self.intrabar_path}")
        if not 0.0 <= self.intrabar_range_exponent <= 4.0:
            raise ConfigError(f"intrabar_range_exponent: must be in [0, 4], got {self.intrabar_range_exponent}")
        if not 0.0 <= self.diffuse_share <= 1.0:
            raise ConfigError(f"diffuse_share: must be in [0, 1], got {self.diffuse_share}")
        if not 0.0 < self.diffuse_band < 1.0:
            raise ConfigError(f"diffuse_band: must be in (0, 1), got {self.diffuse_band}")
        if self.decay_half_life_hours is not None and self.decay_half_life_hours <= 0:
            raise ConfigError("decay_half_life_hours: must be positive or None")
        if self.position_notional_usd <= 0:
            raise ConfigError("position_notional_usd: must be positive")
        if self.flat_mmr is not None and not 0.0 <= self.flat_mmr < 0.5:
            raise ConfigError(f"flat_mmr: must be in [0, 0.5), got {self.flat_mmr}")
        if not self.age_buckets_hours or list(self.age_buckets_hours) != sorted(self.age_buckets_hours) or any(
            h <= 0 for h in self.age_buckets_hours
        ):
            raise ConfigError("age_buckets_hours: must be positive and increasing")

    @property
    def normalised_weights(self) -> tuple[float, ...]:
        total = sum(self.leverage_weights)
        return tuple(w / total for w in self.leverage_weights)

    @property
    def age_labels(self) -> tuple[str, ...]:
        edges = [_hours_label(h) for h in self.age_buckets_hours]
        labels = [f"<{edges[0]}"]
        labels += [f"{a}-{b}" for a, b in itertools.pairwise(edges)]
        labels.append(f">{edges[-1]}")
        return tuple(labels)


def _hours_label(hours: float) -> str:
    if hours >= 24 and hours % 24 == 0:
        return f"{int(hours // 24)}d"
    return f"{hours:g}h"
