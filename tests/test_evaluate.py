"""Evaluation: metrics, binned residuals, figures, and the train/evaluate CLI end to end (issue 5)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from typer.testing import CliRunner

from ocfeh.evaluate import binned_residuals, regression_metrics
from ocfeh.evaluate import figures as plots
from ocfeh.exceptions import InputError

from .test_features_synth import synthetic_sample


def test_metrics_known_values_and_robust_scatter_of_a_gaussian():
    m = regression_metrics([0, 0, 0, 0], [1, -1, 2, np.nan])
    assert m == pytest.approx({"mae": 4 / 3, "rmse": np.sqrt(2), "bias": 2 / 3,
                               "robust_scatter": 1.4826 * 1.0, "n": 3})
    rng = np.random.default_rng(0)
    r = rng.normal(0.0, 0.1, 20000)
    r[:500] += 5.0  # 2.5% outliers barely move the robust scatter, unlike the RMSE
    m = regression_metrics(np.zeros_like(r), r)
    assert m["robust_scatter"] == pytest.approx(0.1, rel=0.05) and m["rmse"] > 0.5


def test_binned_residuals_cover_every_star():
    y = np.linspace(3500, 7500, 200)
    b = binned_residuals(y, y + 10.0, np.arange(3000.0, 8001.0, 1000.0))
    assert b["n"].sum() == 200 and np.allclose(b["bias"], 10.0)


def test_plot_functions_return_axes():
    t = synthetic_sample(100)
    assert plots.plot_label_distributions(t, "feh").get_xlabel().startswith("[Fe/H]")
    curve = [{"n_features": n, "mae_mean": 1 / n, "mae_se": 0.01} for n in (5, 10, 20)]
    assert plots.plot_rfecv(curve, chosen=10).get_ylabel() == "CV MAE"
    _a, b = plots.plot_pred_vs_true(t["teff"], t["teff"] + 5, "teff")
    assert b.get_ylabel() == "residual"
    ax = plots.plot_cumulative_importance({"a": 3.0, "b": 1.0})
    assert np.allclose(ax.lines[0].get_ydata(), [0.75, 1.0])
    plt.close("all")


def test_train_and_evaluate_cli_end_to_end(tmp_path, monkeypatch):
    from ocfeh.cli import app
    from ocfeh.train.model import TargetModel

    run = tmp_path / "run"
    run.mkdir()
    t = synthetic_sample(600, seed=11, label_noise=0.03)  # >= 100 validation stars for the calibration
    t.to_parquet(run / "sample.parquet")
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'''[run]
profile = "small"
seed = 2
out = "{run}"
[features]
bands = "gaia"
extinction = "pivot"
variants = [["BP", "RP"]]
[selection]
min_features = 3
step = 0.5
rfecv_step = 2
rfecv_min_features = 2
stability_repeats = 0
topn_grid = [2]
[model]
n_estimators = 50
''')
    runner = CliRunner()
    res = runner.invoke(app, ["train", str(cfg)])
    assert res.exit_code == 0, res.output
    assert {"teff.txt", "teff.json", "selection.json"} <= {p.name for p in (run / "model").iterdir()}
    assert (run / "model" / "variants" / "BP+RP" / "feh.json").is_file()
    loads = []
    load = TargetModel.load.__func__
    monkeypatch.setattr(TargetModel, "load", classmethod(lambda cls, d, t: loads.append(Path(d)) or load(cls, d, t)))
    res = runner.invoke(app, ["evaluate", str(run)])
    assert res.exit_code == 0, res.output
    assert loads.count(run / "model") == 3  # each target's model read once
    m = json.loads((run / "metrics.json").read_text())
    for target, tol in (("teff", 250.0), ("logg", 0.3), ("feh", 0.35)):
        assert {"mae", "rmse", "bias", "robust_scatter", "mae_true", "coverage_68", "coverage_95"} <= set(m[target])
        assert m[target]["n"] == int((t["split"] == "test").sum())  # the test rows, and only them
        assert m[target]["mae_true"] < tol
    assert m["provenance"]["config_hash"] and m["provenance"]["seed"] == 2
    assert m["coverage"] and 0.5 < m["feh"]["coverage_68"] < 0.9  # `ocfeh evaluate` gives the stage's coverage too
    assert f"{m['feh']['mae']:.4g}" in res.output and f"{m['teff']['coverage_68']:.2f}" in res.output  # printed
    assert {r["variant"] for r in m["variants"]} == {"main", "BP+RP"}
    figs = {p.name for p in (run / "figures").glob("*.png")}
    assert {"label_distributions.png", "pred_vs_true_feh.png", "rfecv_teff.png", "shap_importance_logg.png",
            "topn_mae_feh.png", "variants_mae.png"} <= figs


def test_evaluate_needs_the_run_files(tmp_path):
    from ocfeh.evaluate import evaluate_run

    with pytest.raises(InputError, match="sample.parquet"):
        evaluate_run(tmp_path)
