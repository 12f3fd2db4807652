"""Mock exchanges on 127.0.0.1 for offline tests and benchmarks (needs aiohttp, a test extra).

:mod:`liqmap.testing.mock.server` is the generic server (scripted sessions, faults); the per-venue dialects
(:mod:`liqmap.testing.mock.binance`, ``bybit``, ``okx``) answer in each venue's real wire format. Other
venues add a dialect module implementing :class:`liqmap.testing.mock.server.Dialect`.
"""
