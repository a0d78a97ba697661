import json

import matplotlib.pyplot as plt
import pandas as pd

from ocfeh.report import write_report

from .browser import page_state


def _fake_run(tmp_path):
    (tmp_path / "figures").mkdir()
    for name in ("labels", "rfecv_feh", "pred_vs_true_feh", "cluster_cmd_X"):
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot([0, 1], [0, 1])
        fig.savefig(tmp_path / "figures" / f"{name}.png")
        plt.close(fig)
    pd.DataFrame({"step": ["J-PLUS", "x Gaia"], "n": [1000, 980], "fraction": [1.0, 0.98]}).to_csv(
        tmp_path / "cleaning.csv", index=False)
    (tmp_path / "metrics.json").write_text(json.dumps(
        {"teff": {"mae": 41.7}, "logg": {"mae": 0.0551}, "feh": {"mae": 0.0612}}))
    pd.DataFrame({"cluster": ["Mock_001"], "feh_mcmc": [-0.123]}).to_csv(tmp_path / "clusters.csv", index=False)
    return tmp_path


def test_report_is_self_contained_and_every_figure_loads_in_a_browser(tmp_path):
    run = _fake_run(tmp_path)
    out = write_report(run)
    page = out.read_text()
    assert "src=\"data:image/png;base64," in page and "figures/labels.png" in page
    assert "file://" not in page and "http" not in page.split("<body>")[1].split("Data sources")[0]
    state = page_state(out)
    assert len(state["images"]) == 4
    assert all(ok for _, ok in state["images"]), state["images"]
    for number in ("41.7", "0.0551", "0.0612", "-0.123", "0.98"):
        assert number in state["text"]
    for heading in ("The data", "The method", "Results", "Open clusters", "Provenance"):
        assert heading in state["text"]


def test_headline_gives_the_mae_against_the_truth_and_no_clusters_title_without_clusters(tmp_path):
    run = _fake_run(tmp_path)
    (run / "clusters.csv").unlink()
    (run / "metrics.json").write_text(json.dumps({"feh": {"mae": 0.0612, "mae_true": 0.0455}}))
    page = write_report(run).read_text()
    assert "MAE feh: 0.0612 dex (against the truth 0.0455)" in page
    assert "[Fe/H] of stars</h1>" in page and "of open clusters</h1>" not in page
