"""``liqmap prune`` hands the config's retention to ``store.prune`` (the store side is the integrator's;
this test stands in a recording ``prune`` until the stores implement it, and is to be replaced then)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from liqmap.commands.prune import prune_cmd
from liqmap.store import DuckDBStore

DAY = 86_400_000


def test_prune_passes_retention_table_filter_and_dry_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[dict[str, int | None], int, bool]] = []

    def prune(self: Any, retention_ms: dict[str, int | None], now_ms: int, dry_run: bool) -> dict[str, int]:
        calls.append((retention_ms, now_ms, dry_run))
        return {"trades": 12, "mark_prices": 5}

    monkeypatch.setattr(DuckDBStore, "prune", prune, raising=False)
    monkeypatch.delenv("LIQMAP_CONFIG", raising=False)
    config = tmp_path / "liqmap.toml"
    config.write_text(f'[store]\ndb = "{tmp_path / "s.duckdb"}"\n[retention]\ntrades = "3d"\nmark_prices = "12h"\n')
    result = CliRunner().invoke(prune_cmd, ["--config", str(config), "--table", "trades", "--table", "mark_prices",
                                            "--dry-run"])
    assert result.exit_code == 0, result.output
    assert calls[0][0] == {"trades": 3 * DAY, "mark_prices": 12 * 3_600_000}
    assert calls[0][2] is True
    assert result.output.splitlines() == ["mark_prices: keep 0.5 days; would delete 5 rows",
                                          "trades: keep 3 days; would delete 12 rows"]
    assert (tmp_path / "s.duckdb").exists()  # [store] db of the file was the store opened
