from click.testing import CliRunner

from liqmap.cli import COMMANDS, main


def test_help_lists_every_command_without_importing_them() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


def test_unknown_command_is_refused() -> None:
    result = CliRunner().invoke(main, ["frobnicate"])
    assert result.exit_code != 0
    assert "frobnicate" in result.output
