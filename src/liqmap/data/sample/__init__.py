"""The shipped real sample (offline demo): Binance BTCUSDT perpetual 1h klines and funding, the
Coinglass BTC hourly regime export (Binance BTCUSDT OI in USD, funding in percent, spot OHLC, realized
liquidations) and 1h realized liquidations, all 2026-01-01 .. 2026-05-24 UTC, plus one day of raw
Binance forceOrder prints (2024-08-17). Files are gzipped slices in their original formats, so the
ordinary importers load them (see SOURCES.md next to them)."""

from __future__ import annotations

from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent

# Import order matters only where two files hold the same key (first write wins): the perpetual klines
# and the settled funding events go first, then Coinglass.
SAMPLE_FILES: tuple[str, ...] = (
    "BTCUSDT-1h-futures.csv.gz",
    "BTCUSDT-funding.csv.gz",
    "BTC_regime_1h.csv.gz",
    "BTC_liquidation_1h.csv.gz",
    "forceorder_2024-08-17.csv.gz",
)


def sample_files() -> list[Path]:
    """Paths of the shipped sample files, in import order."""
    paths = [SAMPLE_DIR / name for name in SAMPLE_FILES]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"shipped sample incomplete, missing {missing} in {SAMPLE_DIR}")
    return paths
