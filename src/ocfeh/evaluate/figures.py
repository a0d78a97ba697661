"""Model figures (as in the poster): label distributions, RFECV curve, SHAP importances, predicted vs
true with residuals, MAE against the number of top features, selection stability, variants.

Each ``plot_*`` function takes ``ax=None`` (a new figure when None) and returns the Axes; each
``save_*`` writes a PNG (Agg backend, atomic write) and returns its path.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from ..provenance import atomic_path

__all__ = [
    "plot_cumulative_importance",
    "plot_label_distributions",
    "plot_pred_vs_true",
    "plot_rfecv",
    "plot_shap_importance",
    "plot_stability",
    "plot_topn_mae",
    "plot_variants",
]

UNITS = {"teff": "K", "logg": "dex", "feh": "dex"}
NAMES = {"teff": r"$T_{\rm eff}$", "logg": r"$\log g$", "feh": "[Fe/H]"}
_STYLE = {"figure.dpi": 100, "axes.grid": True, "grid.alpha": 0.3, "font.size": 9}


def _label(t: str) -> str:
    return f"{NAMES.get(t, t)} [{UNITS.get(t, '')}]"


@contextmanager
def _style():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    with plt.rc_context(_STYLE):
        yield plt


def _ax(ax, figsize=(5, 4)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _save(fig, path) -> Path:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    plt.close(fig)
    return Path(path)


# -------------------------------------------------------------------------------- plot functions
def plot_label_distributions(table: pd.DataFrame, target: str, ax=None):
    """Histogram of one label per split (train / val / test)."""
    with _style():
        ax = _ax(ax)
        vals = table[target].to_numpy(float)
        bins = np.linspace(np.nanmin(vals), np.nanmax(vals), 40)
        for split in ("train", "val", "test"):
            sel = table["split"] == split if "split" in table else slice(None)
            ax.hist(table.loc[sel, target].dropna(), bins=bins, histtype="step", lw=1.5, label=split)
        ax.set_xlabel(_label(target))
        ax.set_ylabel("stars")
        ax.legend(fontsize=8)
    return ax


def plot_rfecv(curve, ax=None, chosen: int | None = None):
    """Mean CV MAE (+- 1 standard error) against the number of features; the chosen count marked."""
    c = pd.DataFrame(curve).sort_values("n_features")
    with _style():
        ax = _ax(ax)
        ax.errorbar(c["n_features"], c["mae_mean"], yerr=c["mae_se"], marker="o", ms=3, capsize=2)
        if chosen is not None:
            ax.axvline(chosen, color="C3", ls="--", label=f"chosen: {chosen}")
            ax.legend(fontsize=8)
        ax.set_xlabel("number of features")
        ax.set_ylabel("CV MAE")
    return ax


def plot_shap_importance(importance: dict, ax=None, top: int = 25):
    """Horizontal bars of mean |SHAP| (label units) of the ``top`` features."""
    s = pd.Series(importance, dtype=float).sort_values(ascending=False).head(top)[::-1]
    with _style():
        ax = _ax(ax, (5, max(3, 0.18 * len(s) + 1)))
        ax.barh(s.index, s.to_numpy(), color="C0")
        ax.set_xlabel("mean |SHAP|")
        ax.tick_params(axis="y", labelsize=7)
    return ax


def plot_cumulative_importance(importance: dict, ax=None):
    """Cumulative share of the total mean |SHAP| against feature rank."""
    s = pd.Series(importance, dtype=float).sort_values(ascending=False)
    cum = np.cumsum(s.to_numpy()) / max(s.sum(), 1e-300)
    with _style():
        ax = _ax(ax)
        ax.plot(np.arange(1, len(cum) + 1), cum, marker=".")
        ax.axhline(0.9, color="grey", ls=":")
        ax.set_xlabel("feature rank")
        ax.set_ylabel("cumulative importance")
        ax.set_ylim(0, 1.02)
    return ax


def plot_pred_vs_true(y_true, y_pred, target: str, axes=None):
    """Predicted against true (top) and residuals against true (bottom); returns the two Axes."""
    import matplotlib.pyplot as plt

    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    with _style():
        if axes is None:
            _, axes = plt.subplots(2, 1, figsize=(5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        a, b = axes
        lo, hi = np.nanmin([y_true.min(), y_pred.min()]), np.nanmax([y_true.max(), y_pred.max()])
        a.hexbin(y_true, y_pred, gridsize=40, mincnt=1, cmap="viridis", bins="log")
        a.plot([lo, hi], [lo, hi], color="C3", lw=1)
        mae = np.nanmean(np.abs(y_pred - y_true))
        a.set_title(f"{NAMES.get(target, target)}: MAE {mae:.3g} {UNITS.get(target, '')} (n={len(y_true)})")
        a.set_ylabel("predicted")
        b.scatter(y_true, y_pred - y_true, s=2, alpha=0.4)
        b.axhline(0, color="C3", lw=1)
        b.set_xlabel(f"true {_label(target)}")
        b.set_ylabel("residual")
    return axes


def plot_topn_mae(curve, ax=None):
    """Test MAE when training on the top-N SHAP-ranked features."""
    c = pd.DataFrame(curve).sort_values("n_features")
    with _style():
        ax = _ax(ax)
        ax.plot(c["n_features"], c["mae"], marker="o")
        ax.set_xlabel("top-N features")
        ax.set_ylabel("test MAE")
    return ax


def plot_stability(stability: dict, ax=None, top: int = 30):
    """How often each feature was kept over bootstrap repeats of the elimination."""
    s = pd.Series(stability, dtype=float).sort_values(ascending=False).head(top)[::-1]
    with _style():
        ax = _ax(ax, (5, max(3, 0.18 * len(s) + 1)))
        ax.barh(s.index, s.to_numpy(), color="C2")
        ax.set_xlim(0, 1)
        ax.set_xlabel("fraction of bootstraps kept")
        ax.tick_params(axis="y", labelsize=7)
    return ax


def plot_variants(table: pd.DataFrame, ax=None):
    """MAE of each band-set variant, one group per target (MAE divided by the largest of the target)."""
    with _style():
        ax = _ax(ax)
        piv = table.pivot(index="target", columns="variant", values="mae")
        rel = piv.div(piv.max(axis=1), axis=0)
        rel.plot.bar(ax=ax, rot=0)
        ax.set_ylabel("MAE / worst variant")
        ax.legend(fontsize=7)
    return ax


# ------------------------------------------------------------------------------------ PNG writers
def _write(fn, path, *args, **kw) -> Path:
    with _style():
        out = fn(*args, **kw)
        ax = out[0] if isinstance(out, (list, tuple, np.ndarray)) else out
        return _save(ax.figure, path)


def save_label_distributions(table: pd.DataFrame, path) -> Path:
    targets = [t for t in ("teff", "logg", "feh") if t in table]
    with _style() as plt:
        fig, axes = plt.subplots(1, len(targets), figsize=(4 * len(targets), 3.5), squeeze=False)
        for t, ax in zip(targets, axes[0]):
            plot_label_distributions(table, t, ax=ax)
        return _save(fig, path)


def save_rfecv(curve, target, path, chosen=None) -> Path:
    ax = plot_rfecv(curve, chosen=chosen)
    ax.set_title(NAMES.get(target, target))
    return _save(ax.figure, path)


def save_shap_importance(importance, target, path) -> Path:
    with _style() as plt:
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, max(4, 0.18 * min(len(importance), 25) + 1)))
        plot_shap_importance(importance, ax=a)
        plot_cumulative_importance(importance, ax=b)
        a.set_title(f"{NAMES.get(target, target)}: SHAP importance")
        return _save(fig, path)


def save_pred_vs_true(y_true, y_pred, target, path) -> Path:
    return _write(plot_pred_vs_true, path, y_true, y_pred, target)


def save_topn_mae(curve, target, path) -> Path:
    ax = plot_topn_mae(curve)
    ax.set_title(NAMES.get(target, target))
    return _save(ax.figure, path)


def save_stability(stability, target, path) -> Path:
    ax = plot_stability(stability)
    ax.set_title(f"{NAMES.get(target, target)}: selection stability")
    return _save(ax.figure, path)


def save_variants(table, path) -> Path:
    return _write(plot_variants, path, table)
