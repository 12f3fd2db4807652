"""Progress on the CLI's long steps (tqdm, on stderr, hidden when stderr is not a terminal).

:func:`working` is for one step whose amount of work is unknown beforehand (parsing one large file,
computing a heatmap, an evaluation): tqdm draws only when told, so a small timer thread refreshes the bar
and the user sees the step's name and the elapsed time instead of silence."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def enabled(disable: bool = False) -> bool:
    return not disable and sys.stderr.isatty()


@contextmanager
def working(desc: str, *, disable: bool = False) -> Iterator[Any]:
    """A spinner-style bar ``desc: 12.3s`` while the block runs; removed when it ends."""
    from tqdm import tqdm

    bar = tqdm(total=None, desc=desc, bar_format="{desc}: {elapsed}", leave=False, disable=not enabled(disable))
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.5):
            bar.refresh()

    timer = threading.Thread(target=tick, name="liqmap-progress", daemon=True)
    if not bar.disable:
        timer.start()
    try:
        yield bar
    finally:
        stop.set()
        if timer.is_alive():
            timer.join()
        bar.close()
