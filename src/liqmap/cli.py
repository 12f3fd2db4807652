"""The ``liqmap`` command line.

Subcommands live in :mod:`liqmap.commands`, one module per feature, and are imported only when
invoked, so ``liqmap --help`` stays fast and heavy dependencies (matplotlib, uvicorn) load only
for the command that needs them.
"""

from __future__ import annotations

import importlib

import click

from liqmap.commands.base import Group

# name -> "module:attribute" of a click.Command
COMMANDS: dict[str, str] = {
    "import": "liqmap.commands.data:import_cmd",
    "inventory": "liqmap.commands.data:inventory_cmd",
    "heatmap": "liqmap.commands.render:heatmap_cmd",
    "liqmap": "liqmap.commands.render:liqmap_cmd",
    "demo": "liqmap.commands.demo:demo_cmd",
    "evaluate": "liqmap.commands.evaluate:evaluate_cmd",
    "backfill": "liqmap.commands.feed:backfill_cmd",
    "archive": "liqmap.commands.feed:archive_cmd",
    "collect": "liqmap.commands.feed:collect_cmd",
    "replay": "liqmap.commands.feed:replay_cmd",
    "serve": "liqmap.commands.serve:serve_cmd",
    "levels": "liqmap.commands.levels:levels_cmd",
    "alerts": "liqmap.commands.alerts:alerts_cmd",
    "positions": "liqmap.commands.positions:positions_cmd",
    "export": "liqmap.commands.export:export_cmd",
    "prune": "liqmap.commands.prune:prune_cmd",
}

_HELP: dict[str, str] = {
    "import": "Import market-data files (auto-detected) into the store.",
    "inventory": "List the series held in the store.",
    "heatmap": "Render a heatmap with candles to PNG.",
    "liqmap": "Render the liquidation map (cumulative long/short by price) to PNG.",
    "demo": "Load the shipped real sample and show the heatmap (offline).",
    "evaluate": "Measure the model against realized liquidations, beside baselines.",
    "backfill": "Backfill history from an exchange's REST API.",
    "archive": "Import bulk archives (data.binance.vision).",
    "collect": "Collect live data from exchanges into the store.",
    "replay": "Replay a recorded live session through the parsers into the store.",
    "serve": "Serve the web page and the REST + WebSocket API.",
    "levels": "Print the session plan: clusters, stacks, asymmetry.",
    "alerts": "Manage and run alert rules.",
    "positions": "Hyperliquid exact positions: collect, coverage, leverage prior, 2023 check.",
    "export": "Export candles, OI, funding, prints, heatmap grids or levels to CSV / Parquet.",
    "prune": "Delete rows older than each table's retention (config file).",
}


class LazyGroup(Group):
    """Subcommands imported on first use; a LiqmapError becomes one line (:mod:`liqmap.commands.base`)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("liqmap"):
                return _unavailable(cmd_name)
            raise
        command = getattr(module, attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing help must not import every command module.
        with formatter.section("Commands"):
            formatter.write_dl([(name, _HELP.get(name, "")) for name in self.list_commands(ctx)])


def _unavailable(name: str) -> click.Command:
    @click.command(name=name, help=_HELP.get(name, ""))
    def command() -> None:
        raise click.ClickException(f"'{name}' is not available in this build")

    return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="liqmap")
def main() -> None:
    """liqmap: liquidation heatmaps for crypto perpetual futures, self-hosted."""
