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

from liqmap.alerts.config import AlertsConfig
from liqmap.alerts.engine import AlertEngine, Dispatch, heatmap_updates
from liqmap.alerts.storage import AlertStore
from liqmap.analysis.rules import AlertRule
from liqmap.errors import DataError, LiqmapError
from liqmap.model.result import Heatmap

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
        interval_ms: int | None = None,
        replay: bool = False,
    ) -> None:
        from liqmap.query import HeatmapQuery

        self.store = store
        self.engine = engine
        # interval_ms=None lets the query pick the finest bars giving <= 1000 columns over the range
        self.query = HeatmapQuery(symbol, exchanges=exchanges, range=range, n_bins=n_bins, interval_ms=interval_ms)
        self.replay = replay
        self.last_ts: int | None = None
        self._fit: tuple[tuple[Any, ...], Heatmap] | None = None

    def poll(self) -> list[Dispatch]:
        """Evaluate the columns that appeared since the last poll; returns what was dispatched."""
        from liqmap.calibrate import calibrated_columns
        from liqmap.query import heatmap_for

        heatmap = heatmap_for(self.store, self.query)
        # calibrated USD and the volatility behind reach rules (liqmap.calibrate)
        heatmap, sigma = calibrated_columns(self.store, heatmap, self._fit_view(heatmap))
        times = np.asarray(heatmap.times)
        if len(times) == 0:
            return []
        if self.last_ts is None:
            start = 0 if self.replay else len(times) - 1
        else:
            start = int(np.searchsorted(times, self.last_ts, side="right"))
            if start == 0 and times[0] > self.last_ts + heatmap.interval_ms:
                log.warning("alerts: %s columns between %d and %d fell outside the %s view and were skipped",
                            self.query.symbol, self.last_ts, int(times[0]), self.query.range)
        out: list[Dispatch] = []
        for update in heatmap_updates(heatmap, start=start, params=self.engine.params, sigma=sigma):
            out.extend(self.engine.process(update))
        self.last_ts = int(times[-1])
        return out

    def _fit_view(self, heatmap: Heatmap) -> Heatmap:
        """The calibration's fit view of ``heatmap`` (:func:`liqmap.calibrate.fit_query`), kept while its
        query and the stored rows it reads stay the same (a new day, or rows written before it): once a
        day, not at every poll."""
        from liqmap.calibrate import fit_query, fit_rows
        from liqmap.query import heatmap_for

        query = fit_query(heatmap, self.query.config)
        key = (query, fit_rows(self.store, query))
        if self._fit is None or self._fit[0] != key:
            self._fit = (key, heatmap_for(self.store, query))
        return self._fit[1]

    def poll_safely(self) -> list[Dispatch]:
        """:meth:`poll`, with data errors (no bars yet, a gap) logged instead of raised."""
        try:
            return self.poll()
        except DataError as exc:
            log.warning("alerts: no heatmap for %s yet: %s", self.query.symbol, exc)
            return []


class AlertService:
    """The live loop: every ``interval_s`` seconds, reload the rules (stored ones plus the config file's,
    so rules added through the CLI or the API take effect without a restart), then poll every symbol
    the rules (or ``symbols``) name. One thread: the engine's state and cooldown are shared.

    Used by ``liqmap alerts run`` and, inside ``liqmap serve``, by :mod:`liqmap.service.routes_alerts`
    when ``LIQMAP_ALERTS`` is set (DuckDB lets one process write a database file, so the alert loop of
    a serving process has to run in that process).
    """

    def __init__(
        self,
        store: Any,
        *,
        config: AlertsConfig | None = None,
        symbols: tuple[str, ...] = (),
        exchanges: tuple[str, ...] | None = None,
        range: str = "3d",
        interval_ms: int | None = None,
        replay: bool = False,
        extra_targets: tuple[str, ...] = (),
        on_dispatch: Callable[[Dispatch], Any] = lambda d: None,
    ) -> None:
        self.config = config or AlertsConfig()
        self.alert_store = AlertStore(store)
        self.store = store
        self.engine = AlertEngine([], targets=(*self.config.targets, *extra_targets), alert_store=self.alert_store,
                                  retry=self.config.retry, policy=self.config.policy, timeout_s=self.config.timeout_s)
        self.symbols = symbols
        self.view = {"exchanges": exchanges, "range": range, "interval_ms": interval_ms, "replay": replay}
        self.on_dispatch = on_dispatch
        self.pollers: dict[str, StorePoller] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def rules(self) -> list[AlertRule]:
        return [*self.alert_store.rules(), *self.config.rules]

    def round(self) -> list[Dispatch]:
        """One round: reload the rules, then evaluate the new columns of every watched symbol."""
        for problem in self.engine.set_rules(self.rules()):
            log.warning("alerts: %s", problem)
        watch = self.symbols or tuple(sorted({r.symbol for r in self.engine.rules if r.enabled}))
        out: list[Dispatch] = []
        for symbol in watch:
            if symbol not in self.pollers:
                self.pollers[symbol] = StorePoller(self.store, self.engine, symbol=symbol, **self.view)  # type: ignore[arg-type]
            for dispatch in self.pollers[symbol].poll_safely():
                self.on_dispatch(dispatch)
                out.append(dispatch)
        return out

    def run(self, interval_s: float) -> None:
        """Rounds every ``interval_s`` seconds until :meth:`stop`; an unexpected error is logged and the
        loop goes on (never crash the live loop)."""
        while not self._stop.is_set():
            try:
                self.round()
            except LiqmapError as exc:
                log.error("alerts: round failed: %s", exc)
            self._stop.wait(interval_s)

    def start(self, interval_s: float) -> None:
        self._thread = threading.Thread(target=self.run, args=(interval_s,), name="liqmap-alerts", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
