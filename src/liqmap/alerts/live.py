"""``liqmap alerts run``: watch the store and evaluate the rules on every new column.

Each poll asks :func:`liqmap.query.heatmap_for` for the recent heatmap (the same view the web page
shows) and feeds the columns newer than the last one seen to the :class:`AlertEngine`. The first poll
only sets the baseline (its latest column), unless ``replay`` asks for every column of the window.
Collectors (``liqmap collect``) write the bars; this loop only reads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from liqmap.alerts.engine import AlertEngine, Dispatch, heatmap_updates
from liqmap.errors import DataError

log = logging.getLogger(__name__)


class StorePoller:
    def __init__(
        self,
        store: Any,
        engine: AlertEngine,
        *,
        symbol: str,
        exchanges: tuple[str, ...] | None = None,
        range: str = "3d",
        n_bins: int = 500,
        replay: bool = False,
    ) -> None:
        from liqmap.query import HeatmapQuery

        self.store = store
        self.engine = engine
        self.query = HeatmapQuery(symbol, exchanges=exchanges, range=range, n_bins=n_bins)
        self.replay = replay
        self.last_ts: int | None = None

    def poll(self) -> list[Dispatch]:
        """Evaluate the columns that appeared since the last poll; returns what was dispatched."""
        from liqmap.query import heatmap_for

        heatmap = heatmap_for(self.store, self.query)
        times = np.asarray(heatmap.times)
        if len(times) == 0:
            return []
        if self.last_ts is None:
            start = 0 if self.replay else len(times) - 1
        else:
            start = int(np.searchsorted(times, self.last_ts, side="right"))
        out: list[Dispatch] = []
        for update in heatmap_updates(heatmap, start=start, params=self.engine.params):
            out.extend(self.engine.process(update))
        self.last_ts = int(times[-1])
        return out

    def poll_safely(self) -> list[Dispatch]:
        """:meth:`poll`, with data errors (no bars yet, a gap) logged instead of raised."""
        try:
            return self.poll()
        except DataError as exc:
            log.warning("alerts: no heatmap for %s yet: %s", self.query.symbol, exc)
            return []


def run_pollers(
    pollers: list[StorePoller],
    interval_s: float,
    stop: threading.Event,
    on_dispatch: Callable[[Dispatch], Any] = lambda d: None,
) -> None:
    """Poll every symbol in turn every ``interval_s`` seconds until ``stop`` is set (one thread: the
    engine's state and cooldown are shared by all symbols)."""
    while not stop.is_set():
        for poller in pollers:
            for dispatch in poller.poll_safely():
                on_dispatch(dispatch)
        stop.wait(interval_s)
