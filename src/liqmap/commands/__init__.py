"""CLI subcommands, one module per feature (registered lazily in :mod:`liqmap.cli`)."""
