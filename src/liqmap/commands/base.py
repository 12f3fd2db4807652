"""The one place where the CLI translates the library's errors: every liqmap command and group is built on
:class:`Command` / :class:`Group`, whose ``invoke`` turns a :class:`~liqmap.errors.LiqmapError` the command
lets through into one line on stderr and exit status 1 (no traceback), whether the command runs under
``liqmap`` or on its own."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import click

from liqmap.errors import LiqmapError


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    try:
        yield
    except LiqmapError as exc:
        raise click.ClickException(str(exc)) from exc


class Command(click.Command):
    def invoke(self, ctx: click.Context) -> Any:
        with one_line_errors():
            return super().invoke(ctx)


class Group(click.Group):
    command_class = Command

    def invoke(self, ctx: click.Context) -> Any:
        with one_line_errors():
            return super().invoke(ctx)


Group.group_class = Group
