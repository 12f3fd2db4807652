"""Test doubles shared by the tests and the benchmarks: mock exchanges speaking the venues' wire protocols
on 127.0.0.1 (:mod:`liqmap.testing.mock`). No runtime module imports this package
(tests/ops/test_runtime_imports.py checks it); it needs the ``test`` extra (aiohttp)."""
