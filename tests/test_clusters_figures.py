"""The per-cluster figure shows the numbers of clusters.csv."""

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ocfeh.clusters.figures import cluster_figure


def test_figure_marks_the_tabulated_median_and_counts_the_members_that_give_feh():
    rng = np.random.default_rng(0)
    n = 12
    members = pd.DataFrame({"mag_G": rng.uniform(11, 16, n), "mag_BP": 0.0, "mag_RP": 0.0,
                            "feh": rng.normal(-0.1, 0.1, n), "in_coverage": np.arange(n) < 5})
    members["mag_BP"] = members["mag_G"] + 0.4
    members["mag_RP"] = members["mag_G"] - 0.4
    post = SimpleNamespace(samples=rng.normal(-0.06, 0.02, (500, 2)), mu=-0.06, mu_p16=-0.08, mu_p84=-0.04,
                           spread=0.03, outlier_prob=np.zeros(5))
    fig = cluster_figure("Cl", members, post, median=-0.062, truth=-0.05)
    cmd, posterior = fig.axes[0], fig.axes[1]
    assert cmd.get_title() == "Cl: 12 members, 5 give [Fe/H]"
    labels = [t.get_text() for t in posterior.get_legend().get_texts()]
    assert labels == ["median -0.062", "truth -0.050"]  # the value given, not a median of the raw predictions
    plt.close(fig)
