"""Options shared by several commands: ``--db`` (the store), ``--config FILE`` (the service config,
:mod:`liqmap.settings`) and ``--range`` (a view's range, from :data:`liqmap.viewspec.VIEW`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from liqmap.errors import ConfigError
from liqmap.settings import CONFIG_ENV, Settings
from liqmap.viewspec import VIEW

F = TypeVar("F", bound=Callable[..., Any])
SETTINGS_KEY = "liqmap.settings"

db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    default=None,
    envvar="LIQMAP_DB",
    help="The store: a DuckDB file (default: the user data dir's liqmap.duckdb, or $LIQMAP_DB), or a "
         "postgresql://user:pass@host:port/db URL shared by many processes.",
)


def range_option(default: str = VIEW.default_range, help: str = "View range.") -> Callable[[F], F]:
    """``--range`` (parameter ``range_``): one of the view declaration's ranges (12h ... 1y)."""
    return click.option("--range", "range_", type=click.Choice(list(VIEW.ranges)), default=default,
                        show_default=True, help=help)


def config_option(command: str) -> Callable[[F], F]:
    """``--config FILE`` (or ``$LIQMAP_CONFIG``): the file and ``LIQMAP_<SECTION>_<KEY>`` variables become
    the command's ``default_map``, so flags and the options' own envvars still win. Eager, so it is read
    before the other options take their values. The command reads the rest with :func:`current_settings`."""

    def load(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        try:
            settings = Settings.load(value, os.environ)
        except ConfigError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from exc
        ctx.default_map = {**(ctx.default_map or {}), **settings.command_defaults(command)}
        ctx.meta[SETTINGS_KEY] = settings
        return value

    return click.option(
        "--config", "config_path", type=click.Path(dir_okay=False), envvar=CONFIG_ENV, is_eager=True,
        expose_value=False, callback=load,
        help=f"Service config file (TOML, see deploy/liqmap.toml; or ${CONFIG_ENV}). Flags and LIQMAP_* "
             "variables override it.")


def current_settings() -> Settings:
    """The settings loaded by ``--config`` for the running command (defaults when it has no such option)."""
    ctx = click.get_current_context(silent=True)
    found = ctx.meta.get(SETTINGS_KEY) if ctx is not None else None
    return found if isinstance(found, Settings) else Settings.load(None, os.environ)
