"""Validation benchmark: peers on the same splits, cross-survey offsets, label-scale calibration.

    python benchmarks/validation/run.py                      # everything (~15-25 min on 2 busy cores)
    python benchmarks/validation/run.py --parts green2020    # one part: apogee-xp, green2020, jplus-segue, mock
    python benchmarks/validation/run.py --quick              # smoke test on subsamples (~3 min)

Writes CSV + Markdown tables, PNG figures and ``validation.json`` (command, machine, versions,
timings, label-scale mappings) into ``benchmarks/validation/results/``.

Parts
-----
apogee-xp
    ``ocfeh.datasets.load_dataset("apogee-xp", seed=42)``: 15-band colours (12 XP-synthetic J-PLUS +
    Gaia G/BP/RP, de-reddened; no distances, so no absolute magnitudes: 105 features). Every method
    learns on ``split == "train"`` only; ``val`` calibrates this pipeline's conformal intervals (and
    is nothing else's training data); ``test`` scores everyone.
green2020
    ``shared/data/lamost_gaia_wise`` (Green et al. 2021): plain LightGBM trained on LAMOST-labelled
    stars predicts APOGEE- and GALAH-labelled ones (Gaia + PS1 + 2MASS + unWISE colours and absolute
    magnitudes); offsets and scatter per HR region; a LAMOST -> APOGEE [Fe/H] mapping by the
    ``predictions`` route (no star there has both labels).
jplus-segue
    ``shared/data/jplus_segue`` (Whitten et al. 2019): real J-PLUS photometry (IDR 2018, de-reddened,
    11 bands) of 5,249 SEGUE stars (median [Fe/H] -1.5), colours only (55 features): the peers table on
    a stratified 70/20/10 split, [Fe/H] by label and magnitude, and real minus synthetic colours at the
    labels with their [Fe/H] sensitivities (:func:`ocfeh.synthphot.colour_residuals`).
mock
    ``ocfeh.simulate.simulate_sky`` (default profile) with LAMOST-like [Fe/H] = 0.90 truth - 0.10 dex;
    ``build_sample``; the ``overlap`` mapping (labels vs truth, Deming) must recover 1/0.90 and
    0.10/0.90; a model trained on the field labels predicts the cluster members; cluster [Fe/H]
    offsets against the truth before and after the mapping; the peers table on the mock sample.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
OUT = HERE / "results"
ROOT = HERE.parents[1]
SHARED = Path(os.environ.get("OCFEH_SHARED_DATA", ROOT.parent / "shared" / "data"))
TARGETS = ("teff", "logg", "feh")
UNITS = {"teff": "K", "logg": "dex", "feh": "dex"}
log = logging.getLogger("validation")

MODEST = {  # peer settings of this benchmark (modest: the machine is shared)
    "lightgbm": {"n_estimators": 400, "learning_rate": 0.1},
    "xgboost": {"n_estimators": 400, "learning_rate": 0.1},
    "rf-rfe": {"n_estimators": 100},
    "mlp": {"max_iter": 150},
}

PUBLISHED = [  # other data: quoted, not reproduced
    {"method": "poster (LightGBM + SHAP-RFE)", "data": "LAMOST DR8 x J-PLUS DR3 + Gaia + WISE (other data)",
     "teff_mae": 42.0, "logg_mae": 0.055, "feh_mae": 0.061, "note": "blind-test MAE"},
    {"method": "JPLUS-STEPEs (random forest)", "data": "J-PLUS DR2 (other data)",
     "teff_mae": 65.0, "logg_mae": 0.114, "feh_mae": 0.091, "note": "as reported"},
    {"method": "Andrae et al. 2023 (XGBoost)", "data": "Gaia XP + CatWISE, APOGEE labels (other data)",
     "teff_mae": np.nan, "logg_mae": np.nan, "feh_mae": 0.1, "note": "~0.1 dex [M/H] scatter"},
]


# ------------------------------------------------------------------------------------------ helpers
def _md(df: pd.DataFrame, floatfmt: dict | None = None) -> str:
    """A GitHub Markdown table (no tabulate dependency)."""
    floatfmt = floatfmt or {}
    cols = list(df.columns)

    def fmt(c, v):
        if isinstance(v, float):
            if np.isnan(v):
                return ""
            return format(v, floatfmt.get(c, ".3g"))
        return str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(fmt(c, r[c]) for c in cols) + " |" for _, r in df.iterrows()]
    return "\n".join(lines) + "\n"


def _write(df: pd.DataFrame, name: str, title: str, floatfmt: dict | None = None) -> None:
    from ocfeh.provenance import atomic_path

    with atomic_path(OUT / f"{name}.csv") as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(OUT / f"{name}.md") as tmp:
        tmp.write_text(f"### {title}\n\n" + _md(df, floatfmt))
    log.info("wrote %s.csv/.md", name)


def _robust(r: np.ndarray) -> float:
    r = r[np.isfinite(r)]
    return float(1.4826 * np.median(np.abs(r - np.median(r))))


def _train_only(table: pd.DataFrame) -> pd.DataFrame:
    """The table with ``val`` relabelled ``calib``: train_models then learns on ``train`` alone."""
    return table.assign(split=table["split"].replace({"val": "calib"}))


# -------------------------------------------------------------------------------- the peers table
def peers_table(table: pd.DataFrame, feats: pd.DataFrame, fcfg, dataset: str, n_jobs: int, quick: bool,
                seed: int, truth: bool = False) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """This pipeline and the five peers on the same train/test rows: one row per method and target, the
    pipeline's selection and timings, and its test-split predictions."""
    from ocfeh.predict import Predictor, calibrate, evaluate_coverage
    from ocfeh.profiles import apply_profile
    from ocfeh.train.model import ModelConfig
    from ocfeh.train.selection import SelectionConfig
    from ocfeh.train.training import train_models
    from ocfeh.validation.peers import PEERS, get_peer

    tr = (table["split"] == "train").to_numpy()
    te = (table["split"] == "test").to_numpy()
    rows, timings = [], {}

    def score(method, t, pred, seconds, n_feat, cov68=np.nan, cov95=np.nan):
        ref = table.loc[te, t].to_numpy(float)
        r = pred - ref
        row = {"dataset": dataset, "method": method, "target": t, "n_test": int(np.isfinite(r).sum()),
               "mae": float(np.nanmean(np.abs(r))), "robust_scatter": _robust(r), "bias": float(np.nanmedian(r)),
               "train_s": round(seconds, 1), "n_features": n_feat, "coverage_68": cov68, "coverage_95": cov95}
        if truth:
            rt = pred - table.loc[te, f"{t}_true"].to_numpy(float)
            row.update({"mae_vs_truth": float(np.nanmean(np.abs(rt))), "bias_vs_truth": float(np.nanmedian(rt))})
        rows.append(row)
        log.info("%s %s/%s: MAE %.4g, %.1f s", dataset, method, t, row["mae"], seconds)

    # this pipeline: SHAP-RFE + Optuna (modest profile), conformal intervals calibrated on val
    # a modest profile (the machine is shared): 2-fold CV, few trials, no RFECV
    scfg = apply_profile(SelectionConfig(n_trials=2 if quick else 3, n_trials_step=1, min_features=20, step=0.3,
                                         tune_rows=1500 if quick else 2500, shap_rows=500, stability_repeats=0,
                                         rfecv=False), "small")
    mcfg_base = {"n_estimators": 300 if quick else 600, "learning_rate": 0.1, "early_stopping_rounds": 20,
                 "n_jobs": n_jobs}
    models, sel_info = {}, {}
    for t in TARGETS:
        mcfg = ModelConfig(targets=[t], **mcfg_base)
        t0 = time.perf_counter()
        model, res = train_models(_train_only(table), fcfg, scfg, mcfg, seed=seed)
        timings[f"ocfeh/{t}"] = time.perf_counter() - t0
        models[t] = model.models[t]
        sel_info[t] = {"n_features": len(res[t].features), "n_rfe": len(res[t].rfe_features),
                       "cv_mae": res[t].cv_mae, "n_estimators": res[t].n_estimators, "params": res[t].params}
    pred = Predictor(models=models, features={t: list(m.feature_names_in_) for t, m in models.items()},
                     feature_config=fcfg.model_dump(mode="json"),
                     n_threads=n_jobs, float32=False)
    calibrate(pred, table, seed=seed)
    cov_table, cov = evaluate_coverage(pred, table)
    point = pred.point(table.loc[te])
    for t in TARGETS:
        score("ocfeh (SHAP-RFE + tuning + conformal)", t, point[t], timings[f"ocfeh/{t}"],
              sel_info[t]["n_features"], cov[t]["coverage_68"], cov[t]["coverage_95"])

    # the peers: all features, train split only
    for name in PEERS:
        for t in TARGETS:
            ok = tr & np.isfinite(table[t].to_numpy(float))
            params = dict(MODEST.get(name, {}))
            if quick and name in ("lightgbm", "xgboost"):
                params["n_estimators"] = 150
            peer = get_peer(name, seed=seed, n_jobs=n_jobs, **params).fit(feats.loc[ok], table.loc[ok, t])
            timings[f"{name}/{t}"] = peer.fit_seconds_
            p = peer.predict(feats.loc[te])
            c68 = c95 = np.nan
            if peer.has_intervals:
                y = table.loc[te, t].to_numpy(float)
                lo, hi = peer.predict_interval(feats.loc[te], 0.68)
                c68 = float(np.mean((y >= lo) & (y <= hi)))
                lo, hi = peer.predict_interval(feats.loc[te], 0.95)
                c95 = float(np.mean((y >= lo) & (y <= hi)))
            n_feat = len(getattr(peer, "selected_features_", peer.feature_names_in_))
            score(f"{name} ({PEERS[name].description})", t, p, peer.fit_seconds_, n_feat, c68, c95)
    return pd.DataFrame(rows), {"timings_s": timings, "selection": sel_info,
                                "coverage_table": cov_table.to_dict(orient="records")}, point


def _wide(df: pd.DataFrame, extra_cols=()) -> pd.DataFrame:
    """One row per method: MAE / robust scatter per target, total training time, coverage of feh."""
    out = []
    for method, g in df.groupby("method", sort=False):
        g = g.set_index("target")
        row = {"method": method}
        for t in TARGETS:
            row[f"{t} MAE"] = g.loc[t, "mae"]
            row[f"{t} scatter"] = g.loc[t, "robust_scatter"]
            for c in extra_cols:
                row[f"{t} {c}"] = g.loc[t, c]
        row["train s (3 targets)"] = g["train_s"].sum()
        row["n features (teff/logg/feh)"] = "/".join(str(int(g.loc[t, "n_features"])) for t in TARGETS)
        row["coverage 68/95 (feh)"] = ("" if np.isnan(g.loc["feh", "coverage_68"])
                                       else f"{g.loc['feh', 'coverage_68']:.2f}/{g.loc['feh', 'coverage_95']:.2f}")
        out.append(row)
    return pd.DataFrame(out)


def _published() -> pd.DataFrame:
    rows = []
    for p in PUBLISHED:
        rows.append({"method": f"{p['method']} - {p['data']}", "teff MAE": p["teff_mae"], "logg MAE": p["logg_mae"],
                     "feh MAE": p["feh_mae"], "note": p["note"]})
    return pd.DataFrame(rows)


def _fig_peers(df: pd.DataFrame, name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, t in zip(axes, TARGETS):
        g = df[df["target"] == t]
        labels = [m.split(" (")[0] for m in g["method"]]
        ax.barh(labels, g["mae"], color="C0", label="MAE")
        ax.barh(labels, g["robust_scatter"], color="none", edgecolor="C3", label="robust scatter")
        ax.set_xlabel(f"{t} [{UNITS[t]}]")
        ax.invert_yaxis()
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / f"{name}.png", dpi=90)
    plt.close(fig)


# ------------------------------------------------------------------------------------------ parts
def part_apogee_xp(args, record: dict) -> None:
    from ocfeh.bands import JPLUS_BANDS
    from ocfeh.datasets import load_dataset
    from ocfeh.train.features import FeatureConfig, make_features

    table = load_dataset("apogee-xp", seed=args.seed)
    table = table[np.isfinite(table[list(TARGETS)]).all(axis=1)]
    if args.quick:
        keep = np.random.default_rng(0).random(len(table)) < 0.15
        table = table[keep]
    # uJAVA lies mostly below the XP range (336 nm): it is NaN for every star, so it is left out
    fcfg = FeatureConfig(bands=[b for b in JPLUS_BANDS if b != "uJAVA"] + ["G", "BP", "RP"])
    feats = make_features(table, fcfg)
    long, info, _ = peers_table(table, feats, fcfg, "apogee-xp", args.n_jobs, args.quick, args.seed)
    _write(long, "peers_apogee_xp_long", "apogee-xp: every method and target (test split)")
    _write(_wide(long), "peers_apogee_xp",
           f"Peers on apogee-xp (APOGEE DR17 labels, XP-synthetic J-PLUS + Gaia colours; "
           f"train {int((table.split == 'train').sum())} / val {int((table.split == 'val').sum())} / "
           f"test {int((table.split == 'test').sum())} stars)",
           {"teff MAE": ".1f", "teff scatter": ".1f", "train s (3 targets)": ".0f"})
    _write(_published(), "peers_published", "Published numbers (other data; not reproduced here)")
    _fig_peers(long, "peers_apogee_xp")
    record["apogee_xp"] = {"n": {s: int((table.split == s).sum()) for s in ("train", "val", "test")},
                           "n_features": feats.shape[1], "split": table.attrs.get("split"), **info}


def part_green2020(args, record: dict) -> None:
    from ocfeh.datasets.green2020 import GREEN2020_BANDS, colour_features, read_green2020
    from ocfeh.validation.label_scale import fit_label_scale
    from ocfeh.validation.offsets import cross_survey

    path = SHARED / "lamost_gaia_wise" / "green2020_half_a.csv"
    if not path.is_file():
        log.warning("skipping green2020: %s is absent", path)
        return
    t = read_green2020(path)
    f = colour_features(t, GREEN2020_BANDS, t.attrs["extinction_ratios"], "ebv_bayestar")
    t0 = time.perf_counter()
    res = cross_survey(t, f, train_source="lamost", peer="lightgbm", seed=args.seed, n_jobs=args.n_jobs,
                       n_estimators=200 if args.quick else 600)
    seconds = time.perf_counter() - t0
    off = res.offsets
    _write(off, "cross_survey_green2020",
           "Cross-survey (Green et al. 2021 table): LightGBM trained on LAMOST labels, offset = median(pred - label)",
           {"offset": ".3f", "offset_err": ".3f", "scatter": ".3f", "mae": ".3f", "bias": ".3f"})
    summary = off[off["region"] == "all"].pivot(index="test_set", columns="label", values=["offset", "scatter", "n"])
    summary.columns = [f"{t} {k}" for k, t in summary.columns]
    summary = summary.reset_index().rename(columns={"feh n": "n"})[["test_set", "n"] + [f"{t} {k}" for t in TARGETS for k in ("offset", "scatter")]]
    _write(summary, "cross_survey_green2020_summary", "Cross-survey summary (all regions): trained on LAMOST labels",
           {c: ".3f" for c in summary.columns if "logg" in c or "feh" in c} | {"teff offset": ".0f", "teff scatter": ".0f"})
    # LAMOST -> APOGEE [Fe/H]: route 'predictions' (no star has both labels)
    p = res.predictions[res.predictions["test_set"] == "apogee"]
    ctrl = off[(off["test_set"] == "lamost (held out)") & (off["region"] == "all") & (off["label"] == "feh")]
    x_err = float(ctrl["scatter"].iloc[0])  # the model's per-star scatter on its own scale
    y_err = t.loc[p.index, "feh_err"].to_numpy(float)
    maps = {
        "deming": fit_label_scale(p["feh_pred"], p["feh"], degree=1, x_err=x_err, y_err=y_err, route="predictions",
                                  source="lamost-model", target="apogee", n_boot=300, seed=args.seed),
        "ols": fit_label_scale(p["feh_pred"], p["feh"], degree=1, method="ols", route="predictions",
                               source="lamost-model", target="apogee", n_boot=300, seed=args.seed),
    }
    rows = []
    for kind, m in maps.items():
        c = m.polynomial()
        rows.append({"fit": f"{kind} ({'cluster means' if kind == 'deming' else 'single stars'})", "n": m.n,
                     "intercept": c[0], "slope": c[1], "slope_err": m.coef_err[1],
                     **{f"offset at {x:+.2f}": float(m.offset_at(x)) for x in (-0.75, -0.5, -0.25, 0.0)},
                     "residual_scatter": m.residual_scatter, "x_range": f"{m.x_range[0]:.2f}..{m.x_range[1]:.2f}"})
    _write(pd.DataFrame(rows), "label_scale_green2020",
           "LAMOST-trained model -> APOGEE [Fe/H] (route 'predictions': no star has both labels; "
           f"Deming with x_err = {x_err:.3f} dex, the model's scatter on held-out LAMOST stars)",
           {c: ".3f" for c in rows[0] if c not in ("fit", "n", "x_range")})
    mapping = maps["deming"]
    _fig_cross(res.predictions, "cross_survey_green2020")
    record["green2020"] = {"seconds": seconds, "n": t["label_source"].value_counts().to_dict(),
                           "n_features": f.shape[1], "extinction_ratios": t.attrs["extinction_ratios"],
                           "mapping": mapping.to_dict(), "mapping_ols": maps["ols"].to_dict()}


def part_jplus_segue(args, record: dict) -> None:
    from ocfeh.bands import JPLUS_BANDS
    from ocfeh.catalogs import read_catalog
    from ocfeh.sample import stratified_split
    from ocfeh.train.features import FeatureConfig, make_features

    path = SHARED / "jplus_segue" / "IDR_SEGUE.csv"
    if not path.is_file():
        log.warning("skipping jplus-segue: %s is absent", path)
        return
    table = read_catalog(path, "jplus_segue")
    table = table[np.isfinite(table[list(TARGETS)]).all(axis=1)].reset_index(drop=True)
    if args.quick:
        table = table[np.random.default_rng(0).random(len(table)) < 0.5].reset_index(drop=True)
    table["split"] = stratified_split(table[["teff", "feh", "logg"]], seed=args.seed)
    # the magnitudes are de-reddened (SFD) and there are no distances: colours of the 11 bands, 55 features
    fcfg = FeatureConfig(bands=[b for b in JPLUS_BANDS if f"mag_{b}" in table])
    feats = make_features(table, fcfg)
    long, info, point = peers_table(table, feats, fcfg, "J-PLUS x SEGUE", args.n_jobs, args.quick, args.seed)
    n = {s: int((table.split == s).sum()) for s in ("train", "val", "test")}
    test = table[table["split"] == "test"]
    noise = {t: float(np.nanmedian(test[f"{t}_err"])) for t in TARGETS}
    _write(long, "peers_jplus_segue_long", "J-PLUS x SEGUE: every method and target (test split)")
    _write(_wide(long), "peers_jplus_segue",
           f"Peers on real J-PLUS photometry (IDR 2018, de-reddened 6-arcsec apertures, 11 bands) with SEGUE SSPP "
           f"labels (Whitten et al. 2019); train {n['train']} / val {n['val']} / test {n['test']} stars. Median "
           f"label errors of the test stars: {noise['teff']:.0f} K, {noise['logg']:.2f} dex, {noise['feh']:.2f} dex. "
           "SPHINX (Whitten et al. 2019, a neural network on J-PLUS EDR): sigma(Teff) = 91 K",
           {"teff MAE": ".1f", "teff scatter": ".1f", "train s (3 targets)": ".0f"})
    # the pipeline's [Fe/H] by label [Fe/H] and by magnitude: where the real photometry carries metallicity
    rows = []
    for name, col, edges in (("[Fe/H] label", "feh", (-4.0, -2.0, -1.5, -1.0, -0.5, 0.5)),
                             ("gSDSS", "mag_gSDSS", (14.0, 17.0, 18.0, 19.0, 21.0))):
        v = test[col].to_numpy(float)
        for lo, hi in itertools.pairwise(edges):
            m = (v >= lo) & (v < hi)
            if m.sum() < 5:
                continue
            r = np.asarray(point["feh"], float)[m] - test["feh"].to_numpy(float)[m]
            rows.append({"bin": f"{name} {lo:g}..{hi:g}", "n": int(m.sum()), "feh MAE": float(np.nanmean(np.abs(r))),
                         "feh bias": float(np.nanmedian(r)), "feh robust scatter": _robust(r),
                         "median feh label error": float(np.nanmedian(test["feh_err"].to_numpy(float)[m]))})
    _write(pd.DataFrame(rows), "jplus_segue_feh_bins",
           "J-PLUS x SEGUE: this pipeline's [Fe/H] on the test split, by label [Fe/H] and by magnitude (dex)",
           {c: ".3f" for c in ("feh MAE", "feh bias", "feh robust scatter", "median feh label error")})
    _fig_peers(long, "peers_jplus_segue")
    # synthetic colours (the mock sky's) against the real ones at the SEGUE labels, all stars
    from ocfeh.synthphot import colour_residuals

    colours = colour_residuals(table, [b for b in fcfg.resolved_bands() if b != "rSDSS"])
    _write(colours.drop(columns="band"), "jplus_segue_colours",
           "Real J-PLUS (IDR, de-reddened) minus synthetic colours at the SEGUE labels (mag), and the colours' "
           "[Fe/H] sensitivity at fixed Teff and log g (mag/dex; dwarfs, 5500-6500 K, errors < 0.05 mag): "
           "ratio = synthetic / observed", {c: ".3f" for c in colours.columns if c not in ("band", "colour", "n", "n_fit")})
    record["jplus_segue"] = {"n": n, "n_features": feats.shape[1], "label_noise_median": noise,
                             "feh_bins": rows, "colours": colours.to_dict(orient="records"), **info}


def _fig_cross(pred: pd.DataFrame, name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(dict.fromkeys(pred["test_set"]))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    lims = {"teff": (3300, 7500), "logg": (0, 5.2), "feh": (-2, 0.6)}
    for ax, t in zip(axes, TARGETS):
        for i, s in enumerate(sets):
            g = pred[pred["test_set"] == s]
            ax.scatter(g[t], g[f"{t}_pred"], s=4, alpha=0.5 if i else 0.2, color=f"C{i}", label=s)
        ax.plot(lims[t], lims[t], "k-", lw=0.8)
        ax.set_xlim(lims[t])
        ax.set_ylim(lims[t])
        ax.set_xlabel(f"{t} label [{UNITS[t]}]")
        ax.set_ylabel(f"{t} predicted")
    axes[0].legend(fontsize=8, markerscale=3)
    fig.tight_layout()
    fig.savefig(OUT / f"{name}.png", dpi=90)
    plt.close(fig)


def _mock_sample(work: Path, seed: int, offset: float, scale: float, quick: bool) -> pd.DataFrame:
    from ocfeh import build_sample
    from ocfeh.simulate import simulate_sky

    paths = simulate_sky(work / "sky", profile="small" if quick else "default", seed=seed,
                         config={"lamost_feh_offset": offset, "lamost_feh_scale": scale})
    cfg = work / "run.toml"
    src = "\n".join(
        f'[sample.sources.{name}]\npath = "{paths[key]}"\nreader = "{reader}"'
        for name, key, reader in (("jplus", "jplus", "jplus"), ("jplus_extinction", "jplus_ext", "jplus_extinction"),
                                  ("gaia", "gaia", "gaia"), ("gaia_ap", "gaia_ap", "gaia_ap"),
                                  ("distances", "gaia_dist", "bailer_jones"), ("catwise", "catwise", "catwise"),
                                  ("labels", "lamost", "lamost"))
    )
    cfg.write_text(src + '\n[sample]\ndistance_source = "geo"\n[sample.cuts]\nmin_snr = 10\nmax_mag_err = 0.5\n'
                   'min_parallax_over_error = "off"\nrequire_a0 = false\n[sample.split]\nmin_stratum = 5\n')
    out = build_sample(cfg, run_dir=work / "run", seed=seed)
    df = pd.read_parquet(out.sample)
    truth = pd.read_parquet(paths["truth"]).set_index("star_id")
    tr = truth.loc[df["source_id"].to_numpy() % 2**35]
    for c in ("teff_true", "logg_true", "feh_true", "cluster"):
        df[c] = tr[c].to_numpy()
    df["cluster"] = df["cluster"].where(df["cluster"].notna() & (df["cluster"].astype(str) != ""), None)
    df.attrs["truth_clusters"] = pd.read_parquet(paths["truth_clusters"]).to_dict(orient="list")
    return df


def part_mock(args, record: dict) -> None:
    from ocfeh.train.features import FeatureConfig, make_features
    from ocfeh.validation.label_scale import apply_label_scale, fit_label_scale
    from ocfeh.validation.offsets import cluster_offsets, hr_regions, offset_table
    from ocfeh.validation.peers import get_peer

    offset, scale = -0.10, 0.90
    with tempfile.TemporaryDirectory(prefix="ocfeh_validation_") as tmp:
        t0 = time.perf_counter()
        df = _mock_sample(Path(tmp), args.seed, offset, scale, args.quick)
        t_sky = time.perf_counter() - t0
    df = df[np.isfinite(df[list(TARGETS)]).all(axis=1)].reset_index(drop=True)
    member = df["cluster"].notna().to_numpy()
    log.info("mock sample: %d labelled stars, %d cluster members in %d clusters (%.0f s)", len(df), member.sum(),
             df.loc[member, "cluster"].nunique(), t_sky)
    fcfg = FeatureConfig(bands="all")
    feats = make_features(df, fcfg)

    # (b) label-scale mapping, route 'overlap': field stars with LAMOST-like labels and the truth
    fld = ~member & df["split"].isin(["train", "val"]).to_numpy()
    mapping = fit_label_scale(df.loc[fld, "feh"], df.loc[fld, "feh_true"], degree=1, x_err=df.loc[fld, "feh_err"],
                              y_err=1e-3, route="overlap", source="lamost-like", target="truth", n_boot=300,
                              seed=args.seed)
    c0, c1 = mapping.polynomial()
    se1 = mapping.coef_err[1]
    se0 = float(np.hypot(mapping.coef_err[0], mapping.x0 * se1))
    inj = {"slope": 1 / scale, "intercept": -offset / scale}
    scale_rows = pd.DataFrame([
        {"quantity": "slope (truth per label dex)", "injected": inj["slope"], "fitted": c1, "error": se1,
         "pull": (c1 - inj["slope"]) / se1},
        {"quantity": "intercept [dex]", "injected": inj["intercept"], "fitted": c0, "error": se0,
         "pull": (c0 - inj["intercept"]) / se0},
    ])
    ols = fit_label_scale(df.loc[fld, "feh"], df.loc[fld, "feh_true"], degree=1, method="ols", n_boot=100)
    scale_rows.loc[len(scale_rows)] = {"quantity": "slope by OLS (regression dilution)", "injected": inj["slope"],
                                       "fitted": ols.polynomial()[1], "error": ols.coef_err[1],
                                       "pull": (ols.polynomial()[1] - inj["slope"]) / ols.coef_err[1]}
    _write(scale_rows, "label_scale_mock",
           f"Mock sky: LAMOST-like [Fe/H] = {scale} truth {offset:+.2f} dex; Deming map label -> truth "
           f"(route 'overlap', {mapping.n} field stars, errors = bootstrap sd)", {c: ".3f" for c in scale_rows})

    # cross-scale check: model trained on LAMOST-like labels (field, train split), test split vs labels and truth
    tr_rows = ~member & (df["split"] == "train").to_numpy()
    te_rows = ~member & (df["split"] == "test").to_numpy()
    models = {t: get_peer("lightgbm", seed=args.seed, n_jobs=args.n_jobs).fit(feats.loc[tr_rows], df.loc[tr_rows, t])
              for t in TARGETS}
    te = df.loc[te_rows]
    pred = pd.DataFrame({t: models[t].predict(feats.loc[te_rows]) for t in TARGETS}, index=te.index)
    reg = hr_regions(te["teff_true"], te["logg_true"])
    truth = te[[f"{t}_true" for t in TARGETS]].rename(columns=lambda c: c[:-5])
    mapped = pred.assign(feh=mapping.apply(np.clip(pred["feh"], *mapping.x_range)))
    tabs = []
    for name, ref, p in (("labels (LAMOST-like)", te, pred), ("truth", truth, pred),
                         ("truth, prediction mapped", truth, mapped)):
        tab = offset_table(ref, p, TARGETS if name != "truth, prediction mapped" else ["feh"], reg)
        tab.insert(0, "reference", name)
        tabs.append(tab)
    _write(pd.concat(tabs, ignore_index=True), "cross_scale_mock",
           "Mock sky: LightGBM trained on LAMOST-like labels; test-split field stars against labels and truth",
           {"offset": ".3f", "offset_err": ".3f", "scatter": ".3f", "mae": ".3f", "bias": ".3f"})

    # predictions route on the mock: the test-split field predictions against the truth (the "high-resolution
    # scale"), Deming with x_err = the model's scatter against its own labels
    x_err = float(tabs[0].query("label == 'feh' and region == 'all'")["scatter"].iloc[0])
    pmap = fit_label_scale(pred["feh"], te["feh_true"], degree=1, x_err=x_err, y_err=1e-3, route="predictions",
                           source="lamost-like model", target="truth", n_boot=300, seed=args.seed)

    # clusters: members predicted by the field model (never trained on members); cluster [Fe/H] before / after
    mem = df.loc[member].copy()
    mem["feh_pred"] = models["feh"].predict(feats.loc[member])
    by_lab = cluster_offsets(mem, "feh", "feh_true", min_members=3).set_index("cluster")
    by_pred = cluster_offsets(mem, "feh_pred", "feh_true", min_members=3).set_index("cluster")
    cl = pd.DataFrame({"n": by_pred["n"], "feh_true": by_pred["reference"], "feh_labels": by_lab["value"],
                       "feh_pred": by_pred["value"], "feh_pred_err": by_pred["offset_err"]})
    after_l = apply_label_scale(cl.assign(feh_labels=np.clip(cl["feh_labels"], *mapping.x_range)), mapping,
                                "feh_labels")
    after_p = apply_label_scale(cl.assign(feh_pred=np.clip(cl["feh_pred"], *pmap.x_range)), pmap, "feh_pred",
                                "feh_pred_err")
    cl["offset_labels_before"] = cl["feh_labels"] - cl["feh_true"]
    cl["offset_labels_after"] = after_l["feh_labels_truth"] - cl["feh_true"]
    cl["offset_pred_before"] = cl["feh_pred"] - cl["feh_true"]
    cl["offset_pred_after"] = after_p["feh_pred_truth"] - cl["feh_true"]
    cl["offset_pred_after_err"] = after_p["feh_pred_truth_err"]
    cl = cl.reset_index().rename(columns={"index": "cluster"})
    summ = {k: {"mean": float(cl[k].mean()), "median": float(cl[k].median()), "rms": float(np.sqrt((cl[k] ** 2).mean()))}
            for k in ("offset_labels_before", "offset_labels_after", "offset_pred_before", "offset_pred_after")}
    _write(cl.sort_values("feh_true"), "cluster_offsets_mock",
           "Mock clusters: median member [Fe/H] minus true cluster [Fe/H]; labels mapped with the overlap map, "
           f"predictions with the predictions-route map ({len(cl)} clusters with >= 3 labelled members)",
           {c: ".3f" for c in cl.columns if c not in ("n", "cluster")})
    _write(pd.DataFrame([{"offset": k, **v} for k, v in summ.items()]), "cluster_offsets_mock_summary",
           "Mock clusters: offsets over clusters (dex)", {"mean": ".3f", "median": ".3f", "rms": ".3f"})
    _fig_clusters(cl, mapping, df.loc[fld], "label_scale_mock")

    rec = {"seconds_sky_and_sample": t_sky, "n_labelled": len(df), "n_members": int(member.sum()),
           "n_clusters": len(cl), "injected": {"offset": offset, "scale": scale}, "mapping": mapping.to_dict(),
           "cluster_summary": summ,
           "mapping_predictions": pmap.to_dict()}
    if not args.no_mock_peers:
        field = df.loc[~member].reset_index(drop=True)
        ff = make_features(field, fcfg)
        long, info, _ = peers_table(field, ff, fcfg, "mock sky", args.n_jobs, args.quick, args.seed, truth=True)
        _write(long, "peers_mock_long", "Mock sky: every method and target (test split; vs LAMOST-like labels and truth)")
        _write(_wide(long, ("mae_vs_truth",)), "peers_mock",
               f"Peers on the mock sky (LAMOST-like labels with [Fe/H] scale {scale}, offset {offset}; "
               f"train {int((field.split == 'train').sum())} / test {int((field.split == 'test').sum())} field stars)",
               {"teff MAE": ".1f", "teff scatter": ".1f", "teff mae_vs_truth": ".1f", "train s (3 targets)": ".0f"})
        rec.update(info)
    record["mock"] = rec


def _fig_clusters(cl: pd.DataFrame, mapping, field: pd.DataFrame, name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.scatter(field["feh"], field["feh_true"], s=3, alpha=0.3, label="field stars")
    x = np.linspace(*mapping.x_range, 50)
    a.plot(x, mapping.apply(x), "C3-", label="Deming map")
    a.plot(x, x, "k:", lw=0.8)
    a.set_xlabel("[Fe/H] LAMOST-like label")
    a.set_ylabel("[Fe/H] truth")
    a.legend(fontsize=8)
    b.errorbar(cl["feh_true"], cl["offset_pred_before"], yerr=cl["feh_pred_err"], fmt="o", color="C0",
               label="before")
    b.errorbar(cl["feh_true"] + 0.01, cl["offset_pred_after"], yerr=cl["offset_pred_after_err"], fmt="s", color="C3",
               label="after map")
    b.axhline(0, color="k", lw=0.8)
    b.set_xlabel("cluster [Fe/H] truth")
    b.set_ylabel("cluster median predicted - truth [dex]")
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / f"{name}.png", dpi=90)
    plt.close(fig)


# -------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parts", default="apogee-xp,green2020,jplus-segue,mock", help="comma-separated parts to run")
    ap.add_argument("--n-jobs", type=int, default=1, help="threads per fit (<= 2 on the shared machine)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--quick", action="store_true", help="subsamples and small models (smoke test)")
    ap.add_argument("--no-mock-peers", action="store_true", help="skip the peers table on the mock sky")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for name in ("lightgbm", "optuna", "ocfeh.train.features"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from ocfeh.provenance import provenance, write_json

    OUT.mkdir(parents=True, exist_ok=True)
    json_path = OUT / "validation.json"
    record = json.loads(json_path.read_text()) if json_path.is_file() else {}
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    funcs = {"apogee-xp": part_apogee_xp, "green2020": part_green2020, "jplus-segue": part_jplus_segue,
             "mock": part_mock}
    unknown = [p for p in parts if p not in funcs]
    if unknown:
        ap.error(f"unknown parts {unknown}; choose from {list(funcs)}")
    seconds = record.get("seconds", {})
    command = "python benchmarks/validation/run.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    # parts kept from earlier runs keep the command and provenance that made them
    made_by = record.get("made_by", {})
    for p in parts:
        t0 = time.perf_counter()
        funcs[p](args, record)
        seconds[p] = round(time.perf_counter() - t0, 1)
        made_by[p] = {"command": command, "provenance": provenance(config=vars(args), seed=args.seed)}
        log.info("part %s done in %.0f s", p, seconds[p])
    record["seconds"] = seconds
    record["made_by"] = made_by
    record["command"] = command
    record["provenance"] = provenance(config=vars(args), seed=args.seed)
    write_json(json_path, record)
    print(json.dumps(seconds))


if __name__ == "__main__":
    main()
