"""`liqmap demo` imports the sample, renders the PNG, then serves the page and prints its URL."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import httpx


def test_demo_serves_the_page(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from liqmap.cli import main; main()", "demo", "--db", str(tmp_path / "demo.duckdb"),
         "--png", str(tmp_path / "demo.png"), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        lines: list[str] = []
        url = None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline() if proc.stdout else ""
            if not line:
                assert proc.poll() is None, "".join(lines)
                continue
            lines.append(line)
            match = re.search(r"serving on (http://127\.0\.0\.1:\d+/)", line)
            url = match.group(1) if match else None
        assert url is not None, "".join(lines)
        assert any("heatmap:" in line for line in lines)  # the PNG step still runs first
        assert (tmp_path / "demo.png").stat().st_size > 10_000
        meta = httpx.get(url + "api/meta", timeout=10).json()
        assert [s["symbol"] for s in meta["symbols"]] == ["BTC"]
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200 and "liqmap" in page.text
        assert meta["features"]["writes"] is False  # the demo server is read-only
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        if proc.stdout:
            proc.stdout.close()
