"""The accuracy summary's verdicts (liqmap.evaluate.accuracy) on hand cases."""

from __future__ import annotations

from liqmap.evaluate.accuracy import magnet_verdict, summarize


def test_magnet_verdict_uses_the_sampling_error() -> None:
    # 4800 level-bars over 24-bar windows: 200 effective samples; se at p = 0.4 is sqrt(0.24 / 200) = 0.0346
    assert magnet_verdict(0.45, 0.40, 4800, 24) == "same"  # +0.05 < 2 se
    assert magnet_verdict(0.48, 0.40, 4800, 24) == "more"  # +0.08 > 2 se
    assert magnet_verdict(0.32, 0.40, 4800, 24) == "less"


def _metrics(hit_long: float, hit_short: float) -> dict:
    reach_side = {"level_bars": 4800, "touch_rate": 0.4, "mean_probability": 0.41, "brier": 0.18,
                  "brier_base_rate": 0.24, "brier_distance_only": 0.2, "ece": 0.03}
    return {
        "bars": 1600,
        "period": {"start": "2026-03-01T00:00:00Z", "end": "2026-05-01T00:00:00Z", "interval_ms": 1_800_000},
        "model": {"rho_long": 0.8, "rho_short": 0.7},
        "baselines": {"move_size_oi": {"rho_long": 0.7, "rho_short": 0.71}},
        "calibrated": {"calibration_daily_q50_long": 1.1, "calibration_daily_q10_long": 0.5,
                       "calibration_daily_q90_long": 2.0},
        "reach": {"horizon_hours": 24.0, "horizon_bars": 48, "long": reach_side, "short": reach_side},
        "clusters": {"reach24h_long": hit_long, "reach24h_random_same_distance_long": 0.4,
                     "reach24h_short": hit_short, "reach24h_random_same_distance_short": 0.4},
    }


def test_summary_says_when_bright_bands_are_not_magnets() -> None:
    out = summarize(_metrics(0.41, 0.40))
    text = " ".join(out["sentences"])
    assert out["clusters"]["magnets"] is False and "bright bands are not magnets" in text
    assert "better than the simple" in out["sentences"][0] and "no better than" in out["sentences"][1]
    assert "30-minute bars" in out["sentences"][0]
    # 4800 level-bars / 48-bar windows = 100 samples: se 0.049, so +0.15 is beyond 2 se on both sides
    magnets = summarize(_metrics(0.55, 0.55))
    assert magnets["clusters"]["magnets"] is True
    assert not any("not magnets" in s for s in magnets["sentences"])
