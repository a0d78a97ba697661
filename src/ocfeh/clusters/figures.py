"""Per-cluster figures: the Gaia CMD coloured by predicted [Fe/H] (poster Fig. 9), the [Fe/H] posterior,
and the best isochrone over the CMD."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..provenance import atomic_path

if TYPE_CHECKING:  # pragma: no cover
    from ..synthphot import IsochroneMagnitudes
    from .isochrone_fit import IsochroneFitResult
    from .metallicity import ClusterFehResult

__all__ = ["plot_cmd_feh", "plot_feh_posterior", "plot_isochrone", "cluster_figure", "write_cluster_figure"]


def _ax(ax):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 5))
    return ax


def plot_cmd_feh(members: pd.DataFrame, outlier_prob=None, ax=None, cmap: str = "viridis", title: str = ""):
    """Gaia CMD (BP-RP vs G) of members coloured by predicted [Fe/H]; outliers (p > 0.5) circled in red.

    Parameters
    ----------
    members : DataFrame
        ``mag_G``, ``mag_BP``, ``mag_RP`` and ``feh``.
    outlier_prob : array_like, optional
        Per-star outlier probability from the [Fe/H] model.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _ax(ax)
    col = members["mag_BP"] - members["mag_RP"]
    sc = ax.scatter(col, members["mag_G"], c=members["feh"], s=14, cmap=cmap, edgecolors="none")
    if outlier_prob is not None:
        out = np.asarray(outlier_prob, float) > 0.5
        ax.scatter(col[out], members["mag_G"][out], s=50, facecolors="none", edgecolors="red", lw=1.0,
                   label=f"[Fe/H] outliers ({int(out.sum())})")
        if out.any():
            ax.legend(loc="lower left", fontsize=7)
    ax.figure.colorbar(sc, ax=ax, label="predicted [Fe/H] (dex)")
    if not ax.yaxis_inverted():
        ax.invert_yaxis()
    ax.set_xlabel("BP - RP (mag)")
    ax.set_ylabel("G (mag)")
    ax.set_title(title, fontsize=9)
    return ax


def plot_feh_posterior(result: "ClusterFehResult", median=None, truth: float | None = None, ax=None):
    """Histogram of the posterior of the cluster mean [Fe/H], with the 16/50/84 percentiles.

    Returns
    -------
    matplotlib Axes
    """
    ax = _ax(ax)
    ax.hist(result.samples[:, 0], bins=50, color="0.6", density=True)
    for v, ls in ((result.mu_p16, ":"), (result.mu, "-"), (result.mu_p84, ":")):
        ax.axvline(v, color="k", ls=ls, lw=1)
    value = getattr(median, "median", median)  # a MedianFeh or the value itself (as in clusters.csv)
    if value is not None and np.isfinite(value):
        ax.axvline(value, color="tab:blue", lw=1, label=f"median {value:+.3f}")
    if truth is not None and np.isfinite(truth):
        ax.axvline(truth, color="tab:red", lw=1.2, label=f"truth {truth:+.3f}")
    ax.set_xlabel("cluster [Fe/H] (dex)")
    ax.set_ylabel("posterior density")
    ax.set_title(f"MCMC {result.mu:+.3f} (+{result.mu_p84 - result.mu:.3f} / -{result.mu - result.mu_p16:.3f}); "
                 f"spread {result.spread:.3f}", fontsize=8)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    return ax


def plot_isochrone(members: pd.DataFrame, fit: "IsochroneFitResult", iso: "IsochroneMagnitudes", ax=None,
                   outlier_prob=None):
    """The best-fitting isochrone over the Gaia CMD of the members.

    Returns
    -------
    matplotlib Axes
    """
    ax = _ax(ax)
    b = fit.best
    mags = iso.magnitudes(b["log_age"], b["feh_iso"], b["distance_pc"], b["a0"])
    ig, ib, ir = (iso.bands.index(x) for x in ("G", "BP", "RP"))
    col = members["mag_BP"] - members["mag_RP"]
    ax.scatter(col, members["mag_G"], s=10, c="0.3", edgecolors="none", label="members")
    if outlier_prob is not None:
        out = np.asarray(outlier_prob, float) > 0.5
        ax.scatter(col[out], members["mag_G"][out], s=30, facecolors="none", edgecolors="orange", lw=0.8,
                   label="isochrone outliers")
    sel = mags[:, ig] <= np.nanmax(members["mag_G"]) + 1.0
    ax.plot(mags[sel, ib] - mags[sel, ir], mags[sel, ig], "r-", lw=1,
            label=f"log age {b['log_age']:.2f}, [Fe/H] {b['feh_iso']:+.2f}\n"
                  f"d {b['distance_pc']:.0f} pc, A0 {b['a0']:.2f}")
    if not ax.yaxis_inverted():
        ax.invert_yaxis()
    ax.set_xlabel("BP - RP (mag)")
    ax.set_ylabel("G (mag)")
    ax.legend(fontsize=7, loc="lower left")
    return ax


def cluster_figure(name: str, members: pd.DataFrame, feh_result=None, median=None, truth=None,
                   iso_fit=None, iso=None, iso_members: pd.DataFrame | None = None):
    """One figure per cluster: CMD by [Fe/H], the [Fe/H] posterior and (if fitted) the isochrone.

    ``median`` is the value to mark (``feh_median`` of clusters.csv, calibrated and age-corrected like
    the posterior) or a :class:`MedianFeh`. ``iso_members`` are the stars of the isochrone fit when they
    differ from ``members``; members with ``in_coverage`` False are shown but give no [Fe/H].

    Returns
    -------
    matplotlib Figure
    """
    import matplotlib.pyplot as plt

    n = 1 + (feh_result is not None) + (iso_fit is not None and iso is not None)
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 4.6), squeeze=False)
    axes = axes[0]
    prob = feh_result.outlier_prob if feh_result is not None else None
    if prob is not None and "in_coverage" in members:  # the [Fe/H] model saw only the covered members
        full = np.full(len(members), np.nan)
        full[members["in_coverage"].to_numpy(bool)] = prob
        prob = full
    used = f", {int(members['in_coverage'].sum())} give [Fe/H]" if "in_coverage" in members else ""
    plot_cmd_feh(members, prob, ax=axes[0], title=f"{name}: {len(members)} members{used}")
    k = 1
    if feh_result is not None:
        plot_feh_posterior(feh_result, median=median, truth=truth, ax=axes[k])
        k += 1
    if iso_fit is not None and iso is not None:
        plot_isochrone(members if iso_members is None else iso_members, iso_fit, iso, ax=axes[k],
                       outlier_prob=iso_fit.outlier_prob)
    fig.tight_layout()
    return fig


def write_cluster_figure(name, members, fits, row, iso, folder: Path, fmt: str, iso_members=None) -> None:
    """``folder/<name>.<fmt>``: the three panels of :func:`cluster_figure` (nothing for ``fmt="none"`` or
    without Gaia photometry)."""
    if fmt == "none" or not {"mag_G", "mag_BP", "mag_RP"} <= set(members.columns):
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # the median as in clusters.csv (calibrated, age-corrected), beside the posterior that is too
    fig = cluster_figure(name, members, fits["mcmc"], row.get("feh_median"), row.get("feh_true"), fits["iso"], iso,
                         iso_members)
    safe = "".join(ch if ch.isalnum() or ch in "-_+." else "_" for ch in name)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / f"{safe}.{fmt}") as tmp:
        fig.savefig(tmp, dpi=110, format=fmt)
    plt.close(fig)
