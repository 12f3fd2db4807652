"""Talking to exchanges: transports, reconnect/backoff, rate limits, record/replay, backfill, live collector.

No parsing happens here: frames and REST bodies go to the venues' pure parsers
(:mod:`liqmap.venues`, conventions in :mod:`liqmap.venues._spec`).

Modules
-------
``timing``     injectable clock/sleep and capped exponential :class:`~liqmap.feed.timing.Backoff` with jitter
``rest``       :class:`~liqmap.feed.rest.RestClient` (httpx): pacing, 429/418/403 + venue codes -> back off
``ws``         :class:`~liqmap.feed.ws.WsFeed` (websockets): subscribe, pings, stall detection, reconnect,
               gap reports; :class:`~liqmap.feed.ws.FeedHealth`
``writer``     :class:`~liqmap.feed.writer.BatchWriter`: the single batching store writer + the live hook
``collector``  :class:`~liqmap.feed.collector.Collector`: venues x symbols -> parsers -> writer
``backfill``   REST history into the store (resumable, idempotent)
``archive``    data.binance.vision bulk archives (klines, metrics, aggTrades)
``record``     raw JSONL recording and replay through the same parsers
``journal``    the collector's journal of raw frames, replayed at start after a crash
``takerflow``  per-bar taker buy volume aggregated from live trades (raw trades are stored only on request)

The mock exchanges the tests and benchmarks talk to are in :mod:`liqmap.testing.mock`, outside the runtime.

Live hook (for the model and the web service)
---------------------------------------------
Every batch is handed out **after** it is durably stored, in the event loop::

    collector = Collector(store, ["binance", "bybit", "okx"], ["BTC", "ETH"])
    collector.writer.subscribe(on_records)      # on_records(records: Sequence[Record]) -> None, keep it fast
    queue = collector.writer.queue()            # or an asyncio.Queue of batches (oldest dropped when full)
    task = asyncio.create_task(collector.run())
    ...
    collector.health["binance"]                 # FeedHealth(connected, last_message_ms, lag_ms, reconnects,
    collector.health_snapshot()                 #   parse_errors, venue_errors, duplicates, out_of_order, ...)
    collector.stop(); await task                # flushes what is buffered

Batches mix record types (Bar, Trade, Liquidation, MarkPrice, OpenInterest, Instrument); a model update
typically reacts to closed ``Bar`` records (the server's live views advance their books by them) and
liquidations.
"""
