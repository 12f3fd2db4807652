"""Re-importing adds nothing: zero new rows the second time and stored values unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liqmap.ingest import import_file
from liqmap.store import DuckDBStore

TABLES = ("bars", "open_interest", "funding", "trades", "liquidations", "liquidation_bars")


def _dump(store: DuckDBStore) -> dict:
    out = {t: store.read(t) for t in TABLES}
    out["margin_tiers"] = store.execute("SELECT * FROM margin_tiers ORDER BY symbol, tier")
    return out


def test_reimport_adds_nothing(store: DuckDBStore, files: Path) -> None:
    paths = sorted(files.iterdir())
    first = [import_file(store, p, ts_recv=1_000) for p in paths]
    assert all(r.total_new > 0 for r in first)
    before = _dump(store)
    second = [import_file(store, p, ts_recv=2_000) for p in paths]
    assert [r.new_rows for r in second] == [dict.fromkeys(r.new_rows, 0) for r in first]
    after = _dump(store)
    for table in TABLES:
        for column, values in before[table].items():
            if values.dtype.kind == "f":
                np.testing.assert_array_equal(values, after[table][column])
            else:
                assert values.tolist() == after[table][column].tolist(), (table, column)
    assert before["margin_tiers"] == after["margin_tiers"]
    # the first import's receive time stays: nothing was rewritten
    assert set(store.read("bars")["ts_recv"]) == {1_000}
