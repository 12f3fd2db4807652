"""A re-imported file that disagrees with stored rows is reported (count and first example), not silent."""

from __future__ import annotations

import gzip
from pathlib import Path

from liqmap.data.sample import sample_files
from liqmap.ingest import import_file
from liqmap.store import DuckDBStore


def test_rows_that_differ_from_the_stored_ones_are_counted_and_shown(tmp_path: Path) -> None:
    original = next(p for p in sample_files() if p.name == "BTCUSDT-funding.csv.gz")
    with gzip.open(original, "rt") as fh:
        lines = fh.read().splitlines()
    # Revise two rates of the real file (rows 2 and 5) and keep the rest as published.
    revised = list(lines)
    changed = []
    for i in (2, 5):
        ts, hours, rate = revised[i].split(",")
        new_rate = f"{float(rate) + 0.0005:.8f}"
        revised[i] = f"{ts},{hours},{new_rate}"
        changed.append((int(ts), float(rate), float(new_rate)))
    copy = tmp_path / "BTCUSDT-funding.csv"
    copy.write_text("\n".join(revised) + "\n")
    with DuckDBStore(tmp_path / "db.duckdb") as store:
        first = import_file(store, original)
        assert not any("differ" in n for n in first.notes)
        again = import_file(store, copy)
        assert again.total_new == 0
        notes = [n for n in again.notes if "differ" in n]
        assert len(notes) == 1
        assert notes[0].startswith("2 row(s) of funding differ")
        ts, old, new = changed[0]
        assert f"ts_event={ts}" in notes[0]
        assert f"stored {old!r}, file {new!r}" in notes[0]
        # the stored value is kept
        rows = store.read("funding", start=ts, end=ts + 1)
        assert float(rows["rate"][0]) == old
        # an identical re-import says nothing
        assert not any("differ" in n for n in import_file(store, original).notes)
