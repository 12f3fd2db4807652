"""liqmap: a self-hosted liquidation heatmap for crypto perpetual futures."""

__version__ = "0.1.0"
