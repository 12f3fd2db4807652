"""The service configuration file (TOML) for ``liqmap serve`` and ``liqmap collect``: its one declaration.

Sections and keys (every key optional; see ``deploy/liqmap.toml`` for a complete example)::

    [store]      db = "postgresql://liqmap@db/liqmap"   # or a DuckDB file path
    [collect]    exchanges, symbols, channels, flush_ms, flush_every, record, venue_urls,
                 metrics_host, metrics_port
    [serve]      host, port, token, collect, symbols, log_level
    [retention]  bars, open_interest, funding, mark_prices, trades, liquidations, liquidation_bars,
                 position_snapshots
                 = "7d" | "90d" | "12h" | "forever" ...  (read by ``liqmap prune``)
    [health]     stale_after, exchanges, symbols, tables   (``/healthz``)
    [alerts]     enabled, rules, interval, range           (the alert loop inside ``serve``)

Precedence, highest first: command-line flags > environment > file > defaults. The environment is
``LIQMAP_<SECTION>_<KEY>`` for every key (``LIQMAP_SERVE_PORT=8001``, ``LIQMAP_RETENTION_TRADES=3d``,
``LIQMAP_COLLECT_EXCHANGES=binance,okx``), plus the older names the options already read
(``LIQMAP_DB``, ``LIQMAP_TOKEN``). The file is ``--config FILE`` or ``$LIQMAP_CONFIG``.

The file and the environment fill click's ``default_map`` (see :func:`Settings.command_defaults`), so a
flag given on the command line always wins, and an option's own ``envvar`` (LIQMAP_DB, LIQMAP_TOKEN) beats
the file, which is click's own order (command line > envvar > default_map > default). Keys of ``[serve]``
and ``[collect]`` that are not set leave the command's own default in force (they default to None here,
so each default is declared once, on its option).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, field_validator

from liqmap.errors import ConfigError

ENV_PREFIX = "LIQMAP_"
CONFIG_ENV = "LIQMAP_CONFIG"

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
FOREVER = "forever"


def duration_ms(text: str) -> int | None:
    """``"90s"``, ``"15m"``, ``"12h"``, ``"7d"``, ``"2w"`` -> milliseconds; ``"forever"`` -> None."""
    if text.strip().lower() == FOREVER:
        return None
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration: use a number and a unit s, m, h, d or w "
                         f"(e.g. '90d'), or 'forever'")
    value = round(float(match.group(1)) * _UNIT_MS[match.group(2)])
    if value <= 0:
        raise ValueError(f"{text!r}: a duration must be positive")
    return value


def _check_duration(value: Any) -> Any:
    if isinstance(value, str):
        duration_ms(value)  # raises ValueError with the accepted forms
    return value


def _comma_list(value: Any) -> Any:
    """Lists may be written as TOML arrays or, in the environment, as ``a,b,c``."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


Duration = Annotated[str, BeforeValidator(_check_duration)]
Names = Annotated[list[str], BeforeValidator(_comma_list)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreSettings(_Section):
    db: str | None = None
    """Store URL: a DuckDB file path or ``postgresql://...`` (None: the user data dir)."""


class CollectSettings(_Section):
    exchanges: Names | None = None
    symbols: Names | None = None
    channels: Names | None = None
    flush_ms: int | None = None
    flush_every: int | None = None
    record: str | None = None
    venue_urls: Names | None = None
    metrics_host: str | None = None
    metrics_port: int | None = None


class ServeSettings(_Section):
    host: str | None = None
    port: int | None = None
    token: str | None = None
    collect: Names | None = None
    symbols: Names | None = None
    log_level: Literal["critical", "error", "warning", "info", "debug"] | None = None


class RetentionSettings(_Section):
    """How long each store table keeps rows (by ``ts_event``); ``liqmap prune`` deletes older ones."""

    bars: Duration = FOREVER
    open_interest: Duration = FOREVER
    funding: Duration = FOREVER
    mark_prices: Duration = "30d"
    trades: Duration = "7d"
    liquidations: Duration = FOREVER
    liquidation_bars: Duration = FOREVER
    position_snapshots: Duration = "90d"


class HealthSettings(_Section):
    """What ``/healthz`` checks when no collector runs in the server process (collectors elsewhere)."""

    stale_after: Duration = "3m"
    """A feed (in-process collector: its last message; otherwise: the end of its newest stored row)
    older than this makes ``/healthz`` answer 503."""
    exchanges: Names = []
    """Exchanges whose stored data must be fresh (empty: no store check, liveness only)."""
    symbols: Names = []
    """Symbols that must be fresh on each of ``exchanges`` (empty: any symbol of the exchange will do)."""
    tables: Names = ["bars"]

    @field_validator("stale_after")
    @classmethod
    def _finite(cls, value: str) -> str:
        if duration_ms(value) is None:
            raise ValueError("stale_after cannot be 'forever'")
        return value


class AlertsSettings(_Section):
    """The alert loop inside ``liqmap serve`` (see docs/analysis.md, "Alerts")."""

    enabled: bool = False
    rules: str | None = None
    """An alerts TOML file (rules and delivery targets); None: the rules stored with ``liqmap alerts add``."""
    interval: float = 30.0
    range: str = "3d"


class Settings(_Section):
    store: StoreSettings = StoreSettings()
    collect: CollectSettings = CollectSettings()
    serve: ServeSettings = ServeSettings()
    retention: RetentionSettings = RetentionSettings()
    health: HealthSettings = HealthSettings()
    alerts: AlertsSettings = AlertsSettings()

    @classmethod
    def load(cls, path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
        """The file (if any) overlaid with ``LIQMAP_<SECTION>_<KEY>`` variables of ``env``.

        Raises :class:`ConfigError` naming the file (or variable) and the bad key."""
        source = str(path) if path is not None else "defaults"
        data: dict[str, Any] = {}
        if path is not None:
            try:
                with open(path, "rb") as fh:
                    data = tomllib.load(fh)
            except OSError as exc:
                raise ConfigError(f"{path}: cannot read the config file: {exc.strerror or exc}") from exc
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        origin: dict[tuple[str, str], str] = {}
        for name, value in sorted((env or {}).items()):
            section, key = _env_key(name)
            if section is None or key is None:
                continue
            table = data.setdefault(section, {})
            if isinstance(table, dict):
                table[key] = value
                origin[(section, key)] = name
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(_explain(exc, source, origin)) from exc

    def retention_ms(self) -> dict[str, int | None]:
        """Retention per store table in ms (None = keep forever), for ``liqmap prune``."""
        return {table: duration_ms(getattr(self.retention, table)) for table in RetentionSettings.model_fields}

    def export_alerts_env(self, environ: MutableMapping[str, str] | None = None) -> None:
        """The server's alert loop reads ``LIQMAP_ALERTS``, ``LIQMAP_ALERTS_INTERVAL`` and
        ``LIQMAP_ALERTS_RANGE`` (:mod:`liqmap.service.routes_alerts`): set them from ``[alerts]`` when it is
        enabled, leaving any already in the environment (environment > file)."""
        environ = os.environ if environ is None else environ
        if self.alerts.enabled:
            environ.setdefault("LIQMAP_ALERTS", self.alerts.rules or "1")
            environ.setdefault("LIQMAP_ALERTS_INTERVAL", str(self.alerts.interval))
            environ.setdefault("LIQMAP_ALERTS_RANGE", self.alerts.range)

    def command_defaults(self, command: str) -> dict[str, Any]:
        """click ``default_map`` of a command: ``[store] db`` for every command, plus the ``[serve]`` or
        ``[collect]`` keys set in the file or environment, as the options' parameter names and value types
        (lists joined with commas)."""
        out: dict[str, Any] = {}
        if self.store.db is not None:
            out["db_path"] = self.store.db
        section: BaseModel | None = {"serve": self.serve, "collect": self.collect}.get(command)
        for key in section.model_fields_set if section is not None else ():
            value = getattr(section, key)
            if value is None:
                continue
            name = _PARAM_NAMES.get((command, key), key)
            if isinstance(value, list):
                value = tuple(value) if name in _MULTIPLE else ",".join(value)
            out[name] = value
        return out


# Config keys whose click parameter has another name, and parameters given as repeated options.
_PARAM_NAMES = {("collect", "record"): "record_dir"}
_MULTIPLE = {"venue_urls"}
_SECTIONS = tuple(Settings.model_fields)


def _env_key(name: str) -> tuple[str | None, str | None]:
    """``LIQMAP_SERVE_PORT`` -> ("serve", "port"); variables outside the scheme -> (None, None)."""
    if not name.startswith(ENV_PREFIX):
        return None, None
    rest = name[len(ENV_PREFIX):].lower()
    for section in _SECTIONS:
        if rest.startswith(section + "_"):
            key = rest[len(section) + 1:]
            model = Settings.model_fields[section].annotation
            if isinstance(model, type) and key in model.model_fields:
                return section, key
    return None, None


def _explain(exc: ValidationError, source: str, origin: Mapping[tuple[str, str], str]) -> str:
    problems = []
    for error in exc.errors():
        loc = [str(p) for p in error["loc"]]
        key = ".".join(loc)
        where = origin.get((loc[0], loc[1])) if len(loc) >= 2 else None
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            section = Settings.model_fields.get(loc[0]) if len(loc) > 1 else None
            model = section.annotation if section is not None else Settings
            accepted = ", ".join(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else ""
            message = f"unknown key; accepted: {accepted}"
        problems.append(f"{where or source}: {key}: {message}")
    return "; ".join(problems)
