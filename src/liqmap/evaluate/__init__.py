"""Model vs realized liquidations, beside baselines (docs/evaluation.md).

* :mod:`~liqmap.evaluate.metrics` Spearman rho, capture@k, calibration (pure numpy);
* :mod:`~liqmap.evaluate.baselines` B0 "move size x OI" and the fixed-tier map;
* :mod:`~liqmap.evaluate.harness` per-bar predictions of the model and baselines, scored on the same bars;
* :mod:`~liqmap.evaluate.clusters` do the heatmap's top clusters get reached / matter;
* :mod:`~liqmap.evaluate.search` the grid search (fit on one period, test on a later one);
* :mod:`~liqmap.evaluate.runner` the API behind ``liqmap evaluate``; :mod:`~liqmap.evaluate.report` table + HTML.
"""
