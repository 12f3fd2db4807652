"""The newcomer's first hour: every command README.md shows, run in order on a fresh data directory.

The commands are parsed out of README.md's code blocks (```bash lines, ```python snippets), so the README and
this test cannot drift. A block preceded by ``<!-- readme-test: skip (reason) -->`` is not run (the network
ones: backfill / archive / collect need an exchange; the test-suite block). ``pip install ...`` is not run
(the package under test is installed already) and ``liqmap demo`` runs with ``--no-serve`` (it would
otherwise serve until Ctrl-C). Nothing else is changed: no ``--db``, no extra flag.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
SKIP_MARK = re.compile(r"<!--\s*readme-test:\s*skip\b")


def readme_steps(text: str) -> list[tuple[str, str]]:
    """``(kind, source)`` per runnable step: ("bash", one command) or ("python", a snippet), in order."""
    steps: list[tuple[str, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^```(\w+)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        lang, body, j = fence.group(1), [], i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            body.append(lines[j])
            j += 1
        before = next((ln for ln in reversed(lines[:i]) if ln.strip()), "")
        if not SKIP_MARK.search(before):
            if lang == "bash":
                for line in body:
                    words = shlex.split(line, comments=True)
                    for part in " ".join(shlex.quote(w) for w in words).split(" '&&' "):
                        if part.strip():
                            steps.append(("bash", part.replace("'&&'", "&&").strip()))
            elif lang == "python":
                steps.append(("python", "\n".join(body)))
        i = j + 1
    return steps


def test_readme_parser_sees_the_first_hour() -> None:
    steps = readme_steps(README.read_text(encoding="utf-8"))
    commands = [s for kind, s in steps if kind == "bash"]
    assert commands[:2] == ["pip install .", "liqmap demo"]
    assert "liqmap inventory" in commands
    assert not any(c.startswith(("liqmap backfill", "liqmap collect", "bash .ci/run")) for c in commands)
    assert any(kind == "python" for kind, _ in steps)


@pytest.fixture
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("LIQMAP_DB", None)
    home = tmp_path / "home"
    home.mkdir()
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / ".local" / "share"), COLUMNS="200")
    src = Path(__file__).resolve().parents[2] / "src"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), env.get("PYTHONPATH", "")) if p)
    return env


def test_every_readme_command_works_as_printed_after_the_demo(tmp_path: Path, fresh_home: dict[str, str]) -> None:
    from liqmap.data.sample import SAMPLE_DIR

    work = tmp_path / "work"
    work.mkdir()
    # "Your own data": the files the README imports are the shipped sample's, under their published names.
    for name in ("BTCUSDT-1h-futures.csv.gz", "BTCUSDT-funding.csv.gz", "BTC_regime_1h.csv.gz"):
        shutil.copy(SAMPLE_DIR / name, work / name)
    store = Path(fresh_home["XDG_DATA_HOME"]) / "liqmap" / "liqmap.duckdb"
    ran: list[str] = []
    for kind, source in readme_steps(README.read_text(encoding="utf-8")):
        if kind == "bash":
            if source.startswith("pip "):
                continue  # the package under test is installed
            argv = shlex.split(source)
            assert argv[0] == "liqmap", f"README command not understood by this test: {source}"
            if argv[1:2] == ["demo"]:
                argv.append("--no-serve")
            cmd = [sys.executable, "-m", "liqmap", *argv[1:]]
        else:
            cmd = [sys.executable, "-c", source]
        done = subprocess.run(cmd, cwd=work, env=fresh_home, capture_output=True, text=True, timeout=600)
        out = done.stdout + done.stderr
        assert done.returncode == 0, f"`{source}` failed:\n{out}"
        assert "empty" not in done.stdout and "Aborted" not in out, f"`{source}`:\n{out}"
        ran.append(source)
        if source.startswith("liqmap demo"):
            assert store.is_file(), f"the demo must fill the default store {store}:\n{out}"
        if source == "liqmap inventory":
            assert str(store) not in done.stdout or "bars" in done.stdout
            assert "bars             binance    perp   BTC" in done.stdout
    assert "liqmap demo" in ran and "liqmap evaluate --json" in ran
    for picture in ("heatmap.png", "longs.png", "map.png"):
        assert (work / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (work / "levels.pine").read_text().startswith("//@version=5")
    assert not list(work.glob("*.html")), "evaluate writes no HTML file unless asked"
