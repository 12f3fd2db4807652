"""One declaration of a heatmap view: what a view may ask for, and the checks every surface applies.

The query (:class:`liqmap.query.HeatmapQuery`), the web API and its WebSocket (:mod:`liqmap.service.params`,
:mod:`liqmap.service.api`) and the picture commands (:mod:`liqmap.commands.render`) read the ranges, sides,
bar intervals, size limits and defaults from :data:`VIEW` and validate through it; none of them lists
those values again. Each surface keeps its own wording of an error (the query raises
:class:`~liqmap.errors.ConfigError` naming the field, the API a 400 naming the parameter), but the
accepted values and bounds come from here.

Two meanings of "side" are kept apart by name: :data:`VIEW_SIDES` are the ways a view draws the book
(``both``, ``long``, ``short``, ``net``); :data:`liqmap.types.SIDES` are the sides of a position.

A size limit's API bound is below the library's: the API and the pictures cap a view at
:data:`API_MAX_CELLS` bins and columns (a 5,000 x 20,000 view over 1y took minutes and gigabytes), the
library accepts the larger :attr:`Limit.hi`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from liqmap.errors import ConfigError
from liqmap.types import DAY_MS, HOUR_MS, MINUTE_MS

__all__ = [
    "API_MAX_CELLS",
    "RANGES",
    "RANGE_ALIASES",
    "STANDARD_INTERVALS",
    "VIEW",
    "VIEW_SIDES",
    "Limit",
    "ViewSpec",
]

RANGES: Mapping[str, int] = MappingProxyType({
    "12h": 12 * HOUR_MS,
    "24h": 24 * HOUR_MS,
    "3d": 3 * DAY_MS,
    "7d": 7 * DAY_MS,
    "30d": 30 * DAY_MS,
    "90d": 90 * DAY_MS,
    "180d": 180 * DAY_MS,
    "1y": 365 * DAY_MS,
})
"""Window lengths in ms, by name (the window is ``[end - RANGES[range], end)``)."""
RANGE_ALIASES: Mapping[str, str] = MappingProxyType({
    "1d": "24h", "1w": "7d", "1m": "30d", "3m": "90d", "6m": "180d", "12m": "1y", "365d": "1y",
})
"""Other spellings the API accepts for a range (the query takes only the names of :data:`RANGES`)."""
VIEW_SIDES: tuple[str, ...] = ("both", "long", "short", "net")
"""How a view draws the book: both sides, one side, or ``net`` (per bin, the larger side minus the smaller)."""
STANDARD_INTERVALS: tuple[int, ...] = (
    MINUTE_MS,
    5 * MINUTE_MS,
    15 * MINUTE_MS,
    30 * MINUTE_MS,
    HOUR_MS,
    4 * HOUR_MS,
    DAY_MS,
)
"""Bar intervals a view may be modelled at (each divides a day)."""
API_MAX_CELLS = 2000
"""The API's (and, unless ``--no-cap``, the pictures') bound on price bins and on time columns."""


@dataclass(frozen=True)
class Limit:
    """An integer field's bounds: ``lo <= value <= hi`` for the library, ``api_lo <= value <= api_hi``
    for the API and the pictures; ``default`` when not given."""

    lo: int
    hi: int
    default: int
    api_lo: int
    api_hi: int

    def accepts(self, value: object) -> bool:
        """Whether the library accepts ``value`` (an ``int``, not a ``bool``, within ``[lo, hi]``)."""
        return isinstance(value, int) and not isinstance(value, bool) and self.lo <= value <= self.hi

    def schema(self) -> dict[str, object]:
        """The API parameter's JSON-schema bounds (OpenAPI), so a schema-valid request is accepted."""
        return {"minimum": self.api_lo, "maximum": self.api_hi}


@dataclass(frozen=True)
class ViewSpec:
    """What a heatmap view accepts. One instance, :data:`VIEW`; its checks raise :class:`ConfigError`
    naming the field and the accepted values."""

    ranges: Mapping[str, int] = field(default_factory=lambda: RANGES)
    range_aliases: Mapping[str, str] = field(default_factory=lambda: RANGE_ALIASES)
    sides: tuple[str, ...] = VIEW_SIDES
    intervals: tuple[int, ...] = STANDARD_INTERVALS
    default_range: str = "7d"
    default_side: str = "both"
    rows: Limit = field(default_factory=lambda: Limit(10, 5000, 500, 10, API_MAX_CELLS))
    """Price bins (``HeatmapQuery.n_bins``, the API's ``rows``, the pictures' ``--bins``)."""
    columns: Limit = field(default_factory=lambda: Limit(2, 20_000, 1000, 10, API_MAX_CELLS))
    """Time columns at most (``HeatmapQuery.max_columns``, the API's ``columns``, ``--columns``)."""
    max_warmup_days: float = 365.0

    def range_name(self, text: str) -> str | None:
        """The range named by ``text`` (case and surrounding blanks ignored, aliases resolved), or None."""
        name = text.strip().lower()
        name = self.range_aliases.get(name, name)
        return name if name in self.ranges else None

    def check_range(self, value: str) -> str:
        if value not in self.ranges:
            raise ConfigError(f"range: {value!r} is not accepted; accepted: {', '.join(self.ranges)}")
        return value

    def check_side(self, value: str) -> str:
        if value not in self.sides:
            raise ConfigError(f"side: {value!r} is not accepted; accepted: {', '.join(self.sides)}")
        return value

    def check_n_bins(self, value: int) -> int:
        if not self.rows.accepts(value):
            raise ConfigError(f"n_bins: expected an integer in [{self.rows.lo}, {self.rows.hi}], got {value!r}")
        return value

    def check_max_columns(self, value: int) -> int:
        if not self.columns.accepts(value):
            raise ConfigError(
                f"max_columns: expected an integer in [{self.columns.lo}, {self.columns.hi}], got {value!r}"
            )
        return value

    def check_warmup_days(self, value: float) -> float:
        if not (0 <= float(value) <= self.max_warmup_days):
            raise ConfigError(f"warmup_days: expected 0..{self.max_warmup_days:g} days, got {value!r}")
        return value

    def check_interval(self, name: str, value: int | None, none_means: str) -> int | None:
        """``value`` (a bar interval in ms) if it is one of :attr:`intervals` or None."""
        if value is not None and value not in self.intervals:
            raise ConfigError(
                f"{name}: {value!r} not accepted; accepted: {none_means} or "
                f"{', '.join(str(i) for i in self.intervals)}"
            )
        return value


VIEW = ViewSpec()
"""The one view declaration every surface reads."""
