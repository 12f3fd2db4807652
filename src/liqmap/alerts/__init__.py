"""Alert delivery (apprise, JSON webhook), cooldown, storage, rule management and the live loop.

Rule specs and their pure evaluation live in :mod:`liqmap.analysis.rules` and
:mod:`liqmap.analysis.evaluate_rules`; this package does the I/O around them.
"""
