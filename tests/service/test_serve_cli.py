"""`liqmap serve` refuses impossible options before binding anything."""

from __future__ import annotations

from click.testing import CliRunner

from liqmap.cli import main


def test_serve_help_names_the_options():
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--db", "--host", "--port", "--token", "--collect", "--symbols"):
        assert option in result.output
    assert "127.0.0.1" in result.output


def test_unknown_exchange_to_collect_is_refused(tmp_path):
    result = CliRunner().invoke(main, ["serve", "--db", str(tmp_path / "x.duckdb"), "--collect", "ftx"])
    assert result.exit_code == 2
    assert "ftx" in result.output and "binance" in result.output


def test_unknown_symbol_to_collect_is_refused(tmp_path):
    result = CliRunner().invoke(main, ["serve", "--db", str(tmp_path / "x.duckdb"), "--collect", "binance",
                                       "--symbols", "not a symbol!"])
    assert result.exit_code == 2
    assert "not a symbol!" in result.output
