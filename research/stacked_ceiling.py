"""How far can *any* ranking of the hourly bars go with the information the evaluation allows?

The model's test capture@30 at the reference split is 0.924 / 0.910 against a goal of 0.93 on both sides
(docs/evaluation.md). This script asks whether the goal is within reach of the data at all: it fits
gradient-boosted trees (scikit-learn's ``HistGradientBoostingRegressor``) on the **fit** bars to predict each
side's realized liquidations from 18 causal features, and scores them on the **test** bars beside the model.
The features are everything the measurement allows (the bar's open, high and low; data before the bar's
start) plus realized liquidations of *earlier* bars, which the model does not use:

* the model's prediction for the side and its parts (book sweep, same-bar term, diffuse layer), and its
  prediction for the other side;
* the bar's adverse and favourable move and range, the range over its 24-bar mean;
* OI at the bar's start and its 24-bar change, mean USD volume of the 24 bars before, funding of the bar
  before, hour of day;
* realized long and short USD of the bar before and of the 24 bars before.

If a flexible learner with all of that, chosen on the fit bars, does not reach the goal on the test bars, the
goal is out of reach of a Binance-hourly model on this data, not just of this model's structure.

The features are checked for look-ahead before fitting: changing every input at and after bar ``k`` (except
the bar's own open, high and low at ``k``) leaves every feature row ``<= k`` unchanged. The model's parts are
causal by the engine's construction (tests/model/test_model_causality.py).

``--tuned`` adds a harder try at the reference split: 9 more features (the three earlier bars' moves and
predictions) and 48 learner settings, one chosen on the last 30 % of the fit bars, and also the best of the
48 on the test bars themselves (hindsight, an upper bound, not a fair score).

Run (needs the optional ``research`` extra, i.e. scikit-learn; seconds, ``--tuned`` a few minutes, on 2 cores)::

    pip install -e '.[research]'
    python research/stacked_ceiling.py ../shared/data/binance/BTCUSDT-1h-futures.csv.gz \
        ../shared/data/coinglass/BTC_regime_1h.csv.gz ../shared/data/binance/BTCUSDT-funding.csv.gz
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Sequence

import numpy as np

from liqmap.evaluate.dataset import EvalData
from liqmap.evaluate.harness import model_predictions, scored_mask
from liqmap.evaluate.metrics import capture, spearman
from liqmap.evaluate.runner import import_into, load_for_evaluation
from liqmap.evaluate.search import default_split
from liqmap.model.config import ModelConfig
from liqmap.model.frame import MarketFrame
from liqmap.store import DuckDBStore

WINDOW = 24
SIDES = ("long", "short")
FEATURES = (
    "log model",
    "log book sweep",
    "log same-bar term",
    "log diffuse layer",
    "log model other side",
    "adverse move",
    "favourable move",
    "range",
    "log OI at start",
    "log mean volume 24",
    "range / mean range 24",
    "log realized prev bar",
    "log realized other side prev bar",
    "log realized 24 bars",
    "log realized other side 24 bars",
    "hour",
    "funding prev bar",
    "log OI change 24",
)


def lagged(x: np.ndarray, k: int = 1) -> np.ndarray:
    """``x`` shifted forward by ``k`` bars (value of bar t - k at t), NaN for the first ``k``."""
    out = np.full(len(x), np.nan)
    out[k:] = x[:-k]
    return out


def trailing_sum(x: np.ndarray, window: int) -> np.ndarray:
    """Sum of ``x`` over the ``window`` bars *before* t (NaN treated as 0), NaN for the first ``window``."""
    c = np.concatenate([[0.0], np.cumsum(np.nan_to_num(x))])
    out = np.full(len(x), np.nan)
    t = np.arange(window, len(x))
    out[t] = c[t] - c[t - window]
    return out


Parts = dict[str, tuple[np.ndarray, np.ndarray]]


def model_parts(frame: MarketFrame, config: ModelConfig) -> Parts:
    """The model's prediction and its three parts (differences of engine runs with a part switched off)."""
    full = model_predictions(frame, config)
    no_intrabar = model_predictions(frame, dataclasses.replace(config, intrabar_path=0.0))
    no_diffuse = model_predictions(frame, dataclasses.replace(config, diffuse_share=0.0))
    book = model_predictions(frame, dataclasses.replace(config, intrabar_path=0.0, diffuse_share=0.0))
    return {
        "full": full,
        "book": book,
        "intrabar": (full[0] - no_intrabar[0], full[1] - no_intrabar[1]),
        "diffuse": (full[0] - no_diffuse[0], full[1] - no_diffuse[1]),
    }


def features(
    frame: MarketFrame, realized: tuple[np.ndarray, np.ndarray], parts: Parts
) -> dict[str, np.ndarray]:
    """One feature matrix per side (rows = bars, columns = :data:`FEATURES`)."""
    o, h, lo = frame.open, frame.high, frame.low
    rng = (h - lo) / o
    up, down = (h - o) / o, (o - lo) / o
    oi_start = lagged(frame.oi_usd)
    usd_volume = frame.volume * (h + lo + frame.close) / 3.0
    mean_volume = trailing_sum(usd_volume, WINDOW) / WINDOW
    mean_range = trailing_sum(rng, WINDOW) / WINDOW
    hour = (frame.ts // 3_600_000) % 24
    log1p = np.log1p
    out = {}
    for i, side in enumerate(SIDES):
        own, other = realized[i], realized[1 - i]
        adverse, favourable = (down, up) if side == "long" else (up, down)
        columns = [
            log1p(parts["full"][i]),
            log1p(parts["book"][i]),
            log1p(np.maximum(parts["intrabar"][i], 0.0)),
            log1p(np.maximum(parts["diffuse"][i], 0.0)),
            log1p(parts["full"][1 - i]),
            adverse,
            favourable,
            rng,
            np.log(oi_start),
            np.log(mean_volume),
            rng / mean_range,
            log1p(lagged(own)),
            log1p(lagged(other)),
            log1p(trailing_sum(own, WINDOW)),
            log1p(trailing_sum(other, WINDOW)),
            hour.astype(np.float64),
            lagged(frame.funding),
            np.log(oi_start / lagged(frame.oi_usd, WINDOW + 1)),
        ]
        out[side] = np.column_stack(columns)
    return out


FeatureFn = Callable[[MarketFrame, tuple[np.ndarray, np.ndarray], Parts], dict[str, np.ndarray]]


def leaky_features(
    frame: MarketFrame, realized: tuple[np.ndarray, np.ndarray], parts: Parts
) -> dict[str, np.ndarray]:
    """A deliberately wrong feature set (adds the bar's own realized USD): the check must refuse it."""
    return {
        side: np.column_stack([x, np.log1p(realized[i])])
        for i, (side, x) in enumerate(features(frame, realized, parts).items())
    }


def check_no_look_ahead(
    frame: MarketFrame, realized: tuple[np.ndarray, np.ndarray], parts: Parts, make: FeatureFn = features
) -> None:
    """Perturb every input after bar k (and all but the bar's open/high/low at k): rows <= k must not move."""
    rng = np.random.default_rng(0)
    base = make(frame, realized, parts)
    for k in (WINDOW + 5, len(frame) // 2, len(frame) - 3):

        def noisy(x: np.ndarray, first: int) -> np.ndarray:
            y = x.copy()
            y[first:] = y[first:] * rng.uniform(0.5, 2.0, size=len(y) - first)
            return y

        n = len(frame)
        open_ = noisy(frame.open, k + 1)
        high, low = frame.high.copy(), frame.low.copy()
        high[k + 1 :] = open_[k + 1 :] * rng.uniform(1.0, 1.05, n - k - 1)
        low[k + 1 :] = open_[k + 1 :] * rng.uniform(0.95, 1.0, n - k - 1)
        close = frame.close.copy()
        close[k:] = low[k:] + (high[k:] - low[k:]) * rng.uniform(0.0, 1.0, n - k)
        later = dataclasses.replace(
            frame,
            open=open_,
            high=high,
            low=low,
            close=close,
            volume=noisy(frame.volume, k),
            oi_usd=noisy(frame.oi_usd, k),
            funding=noisy(frame.funding, k),
        )
        later_realized = (noisy(realized[0], k), noisy(realized[1], k))
        # The model's parts are causal by construction (tested in the engine's tests); keep them fixed.
        moved = make(later, later_realized, parts)
        for side in SIDES:
            a, b = base[side][: k + 1], moved[side][: k + 1]
            same = (a == b) | (np.isnan(a) & np.isnan(b))
            if not same.all():
                bad = sorted(
                    {
                        (FEATURES[j] if j < len(FEATURES) else f"column {j}")
                        for j in np.nonzero(~same.all(axis=0))[0]
                    }
                )
                raise AssertionError(f"look-ahead at k={k} ({side}): {bad}")


def scores(pred: np.ndarray, real: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    return spearman(pred[mask], real[mask]), capture(pred[mask], real[mask])


Learner = Callable[[np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]]


def boosted(loss: str) -> Learner:
    from sklearn.ensemble import HistGradientBoostingRegressor

    def fit(x: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        target = np.log1p(y) if loss == "squared_error" else y / 1e6
        model = HistGradientBoostingRegressor(
            loss=loss,
            max_depth=3,
            learning_rate=0.05,
            max_iter=200 if loss == "poisson" else 300,
            min_samples_leaf=40,
            random_state=0,
        ).fit(x, target)
        predict: Callable[[np.ndarray], np.ndarray] = model.predict
        return predict

    return fit


Setting = dict[str, str | int | float]
"""Keyword arguments of one ``HistGradientBoostingRegressor``."""

SETTINGS: list[Setting] = [
    {"loss": loss, "max_depth": depth, "learning_rate": rate, "min_samples_leaf": leaf, "max_iter": rounds}
    for loss in ("poisson", "squared_error")
    for depth in (2, 3, 5)
    for rate in (0.03, 0.1)
    for leaf in (20, 80)
    for rounds in (100, 300)
]
"""The 48 learner settings of the tuned run."""


def with_lags(frame: MarketFrame, x: np.ndarray) -> np.ndarray:
    """``x`` plus the adverse / favourable moves and the model's log prediction of the three bars before."""
    o, h, lo = frame.open, frame.high, frame.low
    extra = []
    for k in (1, 2, 3):
        extra += [lagged((o - lo) / o, k), lagged((h - o) / o, k), lagged(x[:, 0], k)]
    return np.column_stack([x, *extra])


def fit_setting(setting: Setting, x: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    from sklearn.ensemble import HistGradientBoostingRegressor

    target = y / 1e6 if setting["loss"] == "poisson" else np.log1p(y)
    predict: Callable[[np.ndarray], np.ndarray] = HistGradientBoostingRegressor(random_state=0, **setting).fit(
        x, target).predict
    return predict


def tuned(x: np.ndarray, y: np.ndarray, fit_rows: np.ndarray, test_rows: np.ndarray) -> tuple[float, float, Setting]:
    """Test capture@30 of the setting chosen on the last 30 % of the fit bars (trained on the first 70 %,
    then refitted on all fit bars), and the best test capture of any setting (hindsight: an upper bound)."""
    fit_index = np.flatnonzero(fit_rows)
    cut = fit_index[int(0.7 * len(fit_index))]
    train, valid = fit_rows & (np.arange(len(y)) < cut), fit_rows & (np.arange(len(y)) >= cut)
    chosen = max(SETTINGS, key=lambda s: capture(fit_setting(s, x[train], y[train])(x[valid]), y[valid]))
    chosen_test = capture(fit_setting(chosen, x[fit_rows], y[fit_rows])(x[test_rows]), y[test_rows])
    hindsight = max(capture(fit_setting(s, x[fit_rows], y[fit_rows])(x[test_rows]), y[test_rows]) for s in SETTINGS)
    return chosen_test, hindsight, chosen


LEARNERS: dict[str, Learner] = {
    "trees, log USD (squared error)": boosted("squared_error"),
    "trees, USD (Poisson)": boosted("poisson"),
}


def load(paths: Sequence[str]) -> EvalData:
    with DuckDBStore(":memory:") as store:
        import_into(store, paths)
        data, _ = load_for_evaluation(store)
    return data


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--warmup-days", type=float, default=14.0)
    parser.add_argument("--tuned", action="store_true", help="also the tuned run (48 settings; a few minutes)")
    args = parser.parse_args(argv)
    data = load(args.files)
    frame = data.frame
    realized = (data.realized_long, data.realized_short)
    parts = model_parts(frame, ModelConfig())
    check_no_look_ahead(frame, realized, parts)
    try:
        check_no_look_ahead(frame, realized, parts, leaky_features)
    except AssertionError:
        pass
    else:
        raise AssertionError("the look-ahead check missed a deliberately leaky feature")
    print(
        "look-ahead check: passed (features at or before bar k ignore every input after k); a leaky control was caught"
    )
    feats = features(frame, realized, parts)
    warmup_bars = round(args.warmup_days * 86_400_000 / frame.interval_ms)
    mask = scored_mask(data, warmup_bars=warmup_bars)
    for share in (0.35, 0.5, 0.65):
        split = default_split(data, warmup_bars, share)
        fit_mask, test_mask = mask & (data.ts < split), mask & (data.ts >= split)
        print(
            f"\nsplit {share:.2f}: {int(fit_mask.sum())} fit bars, {int(test_mask.sum())} test bars "
            "(rho / capture@30, long | short)"
        )
        rows: dict[str, list[str]] = {"model (defaults)": [], "perfect ranking": []}
        rows.update({name: [] for name in LEARNERS})
        for i, side in enumerate(SIDES):
            x, y = feats[side], realized[i]
            usable = np.all(np.isfinite(x), axis=1) & np.isfinite(y)
            fit_rows, test_rows = fit_mask & usable, test_mask & usable
            cells = {"model (defaults)": parts["full"][i], "perfect ranking": y}
            for name, learner in LEARNERS.items():
                predict = learner(x[fit_rows], y[fit_rows])
                pred = np.zeros(len(y))
                pred[usable] = predict(x[usable])
                cells[name] = pred
            for name, pred in cells.items():
                fr, fc = scores(pred, y, fit_rows)
                tr, tc = scores(pred, y, test_rows)
                rows[name].append(f"fit {fr:.3f} / {fc:.3f}  test {tr:.3f} / {tc:.3f}")
        print(f"  scored on the {int(test_rows.sum())} test bars with every feature defined")
        for name, cells_text in rows.items():
            print(f"  {name:32s} " + "  |  ".join(cells_text))
    if args.tuned:
        split = default_split(data, warmup_bars, 0.5)
        print("\ntuned, reference split: 48 settings, 27 features (+ the 3 earlier bars' moves and predictions)")
        for i, side in enumerate(SIDES):
            x = with_lags(frame, feats[side])
            usable = np.all(np.isfinite(x), axis=1) & np.isfinite(realized[i])
            fit_rows, test_rows = mask & usable & (data.ts < split), mask & usable & (data.ts >= split)
            chosen_test, hindsight, chosen = tuned(x, realized[i], fit_rows, test_rows)
            print(f"  {side}: chosen on fit {chosen}: test capture@30 {chosen_test:.3f}; "
                  f"best of the 48 on test itself (hindsight) {hindsight:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
