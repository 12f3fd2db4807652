"""Prometheus metrics of the live feeds and the store writes (prometheus-client), per registry.

Every app / process builds its own :class:`~prometheus_client.CollectorRegistry` (never the global one), so
tests and several apps in one process do not clash. The feed figures are the collector's own counters
(:class:`~liqmap.feed.ws.FeedHealth`), read at scrape time by a custom collector rather than mirrored
into prometheus counters on the hot path::

    liqmap_feed_messages_total{exchange}          frames received
    liqmap_feed_records_total{exchange}           records accepted
    liqmap_feed_errors_total{exchange,kind}       kind = parse | venue
    liqmap_feed_reconnects_total{exchange}
    liqmap_feed_lag_seconds{exchange}             ts_recv - ts_event of the latest record
    liqmap_feed_last_message_age_seconds{exchange}
    liqmap_feed_connected{exchange}               1 / 0
    liqmap_store_write_seconds                    histogram, one observation per batch write
    liqmap_store_write_records_total              records handed to the store
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class FeedMetrics(Collector):
    """Reads ``health()`` (exchange -> FeedHealth) at each scrape."""

    def __init__(self, health: Callable[[], Mapping[str, Any]]) -> None:
        self.health = health

    def collect(self) -> Iterator[Metric]:
        feeds = dict(self.health())
        now_ms = time.time() * 1000
        counters = {
            "messages": ("liqmap_feed_messages", "Frames received from the exchange"),
            "records": ("liqmap_feed_records", "Records accepted from the exchange"),
            "reconnects": ("liqmap_feed_reconnects", "WebSocket reconnects"),
        }
        for attribute, (name, doc) in counters.items():
            family = CounterMetricFamily(name, doc, labels=["exchange"])
            for exchange, feed in sorted(feeds.items()):
                family.add_metric([exchange], float(getattr(feed, attribute)))
            yield family
        errors = CounterMetricFamily("liqmap_feed_errors", "Frames that failed (parse or venue error)",
                                     labels=["exchange", "kind"])
        lag = GaugeMetricFamily("liqmap_feed_lag_seconds", "ts_recv - ts_event of the latest record",
                                labels=["exchange"])
        age = GaugeMetricFamily("liqmap_feed_last_message_age_seconds", "Seconds since the last frame",
                                labels=["exchange"])
        connected = GaugeMetricFamily("liqmap_feed_connected", "1 when a connection is up", labels=["exchange"])
        for exchange, feed in sorted(feeds.items()):
            errors.add_metric([exchange, "parse"], float(feed.parse_errors))
            errors.add_metric([exchange, "venue"], float(feed.venue_errors))
            if feed.lag_ms is not None:
                lag.add_metric([exchange], feed.lag_ms / 1000)
            if feed.last_message_ms is not None:
                age.add_metric([exchange], max(0.0, (now_ms - feed.last_message_ms) / 1000))
            connected.add_metric([exchange], 1.0 if feed.connected else 0.0)
        yield from (errors, lag, age, connected)


class StoreWriteMetrics:
    """Store write latency of a :class:`~liqmap.feed.writer.BatchWriter` (its ``observe_write`` hook)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.seconds = Histogram("liqmap_store_write_seconds", "Duration of one batch write to the store",
                                 buckets=WRITE_BUCKETS, registry=registry)
        self.records = Counter("liqmap_store_write_records", "Records handed to the store in batch writes",
                               registry=registry)

    def observe(self, seconds: float, records: int) -> None:
        self.seconds.observe(seconds)
        self.records.inc(records)


def collector_registry(collector: Any, registry: CollectorRegistry | None = None) -> CollectorRegistry:
    """A registry (new unless given) with the feed metrics of ``collector`` and the store write metrics
    of its batch writer (hooked here)."""
    registry = registry if registry is not None else CollectorRegistry()
    registry.register(FeedMetrics(lambda: collector.health))
    writer = getattr(collector, "writer", None)
    if writer is not None:
        writer.observe_write = StoreWriteMetrics(registry).observe
    return registry


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> Callable[[], None]:
    """Serve ``registry`` at http://HOST:PORT/metrics from a thread (prometheus-client's own server), for a
    process without a web app (``liqmap collect``). Returns a function that stops it."""
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, addr=host, registry=registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
