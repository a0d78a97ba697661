"""Benchmark: where the blind-test error of a mock-sky run comes from (issue 5).

Each final model of a run (``model/``) is refitted with its own features and hyper-parameters on its
own train + val stars after changing one input, and its blind-test MAE against the true labels is
reported beside the label noise (mean |label - truth|):

- as trained (the refit reproduces the run's model);
- trained on the true labels instead of the noisy ones;
- the run's per-tile J-PLUS zero points not removed (``zero_points.csv`` added back);
- the tiles' true offsets removed (measured against the true magnitudes);
- the true A_0, then the true distances and A_0;
- noise-free J-PLUS, then noise-free Gaia + WISE (the other inputs as observed);
- noise-free photometry with the true distances and extinctions;
- A_0 = 3.1 E(B-V) from ``jplus.MWExtinction`` (SFD-like, the column to infinity: ``extinction_source =
  "ebv"``) instead of GSP-Phot's, then with 10% and 20% extra per-star scatter, as the real map's
  errors and the dust structure inside a tile would add (the mock has one dust factor per tile);
- J-PLUS drawn again from the true magnitudes with its reported errors (the control), then with
  photon noise only: without the simulated 1% per-star calibration floor and aperture-correction
  error, i.e. the precision the J-PLUS catalogue errors state; then with half that photon noise.

Then a learning curve: each model refitted on 1/16 ... all of its train + val stars, and the MAE with
unlimited stars from ``a + b N^-c`` fitted to it. Beside them: the run's blind-test MAE against the
truth in bins of Gaia G, and the mock's J-PLUS photon errors against those of real J-PLUS photometry at
the same magnitude (``shared/data/jplus_segue``).

Usage::

    python benchmarks/bench_error_budget.py RUN_DIR [--profile full] [--n-jobs 2] [--draw-seed 0] [--no-refit]

RUN_DIR is a mock-sky run with ``sample.parquet`` and ``sources/truth.parquet`` (e.g. ``ocfeh demo
--full``, or the one bench_train_scale.py builds); without ``model/`` its train stage runs first with
the given profile (about 20 minutes at poster scale). Writes benchmarks/results/error_budget.json and
prints a table.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ocfeh.bands import JPLUS_BANDS
from ocfeh.catalogs import read_catalog
from ocfeh.predict import load_predictor
from ocfeh.provenance import provenance, write_json
from ocfeh.sample import adopt_extinction
from ocfeh.sample.zeropoints import TILE_COLUMN, apply_tile_offsets, read_tile_offsets
from ocfeh.simulate.obs_jplus import photon_error
from ocfeh.train.model import TargetModel

OUT = Path(__file__).parent / "results" / "error_budget.json"
SHARED = Path(os.environ.get("OCFEH_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
ERROR_BINS = (16.5, 17.5, 18.5)  # lower edges of the 1-mag bins of the photon-error comparison
G_BINS = (0.0, 14.0, 15.0, 16.0, 17.0, 30.0)  # Gaia G bin edges of the MAE by magnitude
PHOT_BANDS = (*JPLUS_BANDS, "G", "BP", "RP", "W1", "W2")
MOCK_APCOR = False  # mock-sky runs read mag_aper_6_0 (reader "jplus", stages.mock_sources), not aperture-corrected
log = logging.getLogger("bench_error_budget")


def variants(table: pd.DataFrame, run_dir: Path, seed: int) -> dict[str, tuple[pd.DataFrame, bool]]:
    """Star tables with one input changed: name -> (table, train on the true labels)."""
    out = {"as trained": (table, False), "true labels": (table, True)}
    zp = run_dir / "zero_points.csv"
    if zp.is_file():
        undo = read_tile_offsets(zp).assign(offset_mag=lambda d: -d["offset_mag"])
        out["tile zero points not removed"] = (apply_tile_offsets(table, undo), False)
    cols = [f"mag_{b}_true" for b in PHOT_BANDS]
    truth = pd.read_parquet(run_dir / "sources" / "truth.parquet", columns=["source_id", *cols])
    t = table[["source_id"]].merge(truth, on="source_id", how="left")
    exact = table.copy()
    for b in JPLUS_BANDS:  # each tile's remaining offset, from its stars with small errors
        d = (table[f"mag_{b}"] - t[f"mag_{b}_true"].to_numpy()).where(table[f"mag_err_{b}"] < 0.03)
        tile_off = d.groupby(table[TILE_COLUMN]).transform("median")
        exact[f"mag_{b}"] = table[f"mag_{b}"] - (tile_off.fillna(d.median()) - d.median())
    out["true tile zero points removed"] = (exact, False)

    def with_true(bands=(), distance=False, a0=False) -> pd.DataFrame:
        c = table.copy()
        for b in bands:
            c[f"mag_{b}"] = t[f"mag_{b}_true"].where(table[f"mag_{b}"].notna()).to_numpy()
        if distance:
            c["distance_pc"] = table["distance_true_pc"]
        if a0:
            c["a0"] = table["a0_true"].where(table["a0"].notna())
        return c

    out["true A0"] = (with_true(a0=True), False)
    out["true distances and A0"] = (with_true(distance=True, a0=True), False)
    out["noise-free J-PLUS"] = (with_true(JPLUS_BANDS), False)
    out["noise-free Gaia + WISE"] = (with_true(("G", "BP", "RP", "W1", "W2")), False)
    out["noise-free photometry, true d and A0"] = (with_true(PHOT_BANDS, True, True), False)
    rng = np.random.default_rng(seed)
    if "ebv" in table:  # the other extinction source: E(B-V) of jplus.MWExtinction (SFD-like, to infinity)
        ebv = adopt_extinction(table, "ebv")[0]
        out["A0 = 3.1 E(B-V) (extinction_source = ebv)"] = (ebv, False)
        for s in (0.1, 0.2):
            noisy = ebv.assign(a0=ebv["a0"] * np.exp(rng.normal(0.0, s, len(ebv))))
            out[f"A0 = 3.1 E(B-V), {s:.0%} extra per-star scatter"] = (noisy, False)
    # J-PLUS drawn again from the truth (no tile offsets): with its reported errors, then without the
    # simulated per-star calibration floor, i.e. photon noise as in the J-PLUS catalogue errors
    floor = _error_floor(run_dir)
    for name, scale in (("J-PLUS redrawn with its reported errors", None),
                        ("J-PLUS redrawn with photon noise only", 1.0),
                        ("J-PLUS redrawn with half the photon noise", 0.5)):
        c = table.copy()
        for b in JPLUS_BANDS:
            err = table[f"mag_err_{b}"].to_numpy(float)
            sig = err if scale is None else scale * photon_error(err, floor, MOCK_APCOR)
            c[f"mag_{b}"] = np.where(table[f"mag_{b}"].notna(),
                                     t[f"mag_{b}_true"].to_numpy() + rng.standard_normal(len(c)) * sig, np.nan)
        out[name] = (c, False)
    return out


def _error_floor(run_dir: Path) -> float:
    """The simulated per-star J-PLUS calibration floor of the run's sky (its manifest)."""
    return json.loads((run_dir / "sources" / "manifest.json").read_text())["config_effective"]["jplus_error_floor"]


def photon_errors_vs_real(table: pd.DataFrame, floor: float) -> dict | None:
    """Median photon error of the mock's J-PLUS bands against real J-PLUS catalogue errors.

    Real: ``shared/data/jplus_segue`` (J-PLUS IDR x SEGUE, 6-arcsec apertures); None when absent.
    Per band and 1-mag bin of magnitude: ``[mock, real, mock/real]``.
    """
    path = SHARED / "jplus_segue" / "IDR_SEGUE.csv"
    if not path.is_file():
        log.warning("%s absent: no comparison with real J-PLUS errors", path)
        return None
    real = read_catalog(path, "jplus_segue")
    out = {}
    for b in JPLUS_BANDS:
        if f"mag_err_{b}" not in real:
            continue
        row = {}
        for lo in ERROR_BINS:
            mock = photon_error(table.loc[table[f"mag_{b}"].between(lo, lo + 1), f"mag_err_{b}"], floor, MOCK_APCOR)
            obs = real.loc[real[f"mag_{b}"].between(lo, lo + 1), f"mag_err_{b}"].dropna()
            if len(mock) >= 20 and len(obs) >= 20:
                m, r = float(np.median(mock)), float(obs.median())
                row[f"{lo:.1f}-{lo + 1:.1f}"] = [round(m, 4), round(r, 4), round(m / r, 3)]
        out[b] = row
    return out


def mae_by_magnitude(table: pd.DataFrame, models: dict) -> dict:
    """Blind-test MAE of the run's models against the truth, and the label noise, in bins of Gaia G."""
    test = table[table["split"] == "test"]
    g = pd.cut(test["mag_G"], G_BINS)
    out = {}
    for t, m in models.items():
        err = pd.Series(np.abs(m.predict(m.features_of(test)) - test[f"{t}_true"].to_numpy()), index=test.index)
        noise = (test[t] - test[f"{t}_true"]).abs()
        out[t] = {str(k): {"n": int(n), "mae_true": float(err[g == k].mean()), "label_noise": float(noise[g == k].mean())}
                  for k, n in g.value_counts(sort=False).items() if n >= 20}
    return out


def _refit_mae(m, X, y, fit_rows, test, truth, n_jobs) -> float:
    """Blind-test MAE against ``truth`` of ``m`` refitted with its own features and parameters on ``fit_rows``."""
    refit = TargetModel(m.target, m.backend, m.params, m.n_estimators, m.objective, m.feature_config, m.seed,
                        n_jobs, m.n_models).fit(X[fit_rows], y[fit_rows])
    return float(np.mean(np.abs(refit.predict(X[test]) - truth[test])))


def error_budget(table: pd.DataFrame, models: dict, run_dir: Path, n_jobs: int, seed: int = 0) -> dict:
    """Blind-test MAE against the truth of each model refitted on changed inputs."""
    trv = table["split"].isin(["train", "val"]).to_numpy()
    test = (table["split"] == "test").to_numpy()
    budget = {t: {"label_noise": float(np.mean(np.abs(table[t] - table[f"{t}_true"])[test]))} for t in models}
    for name, (tab, true_labels) in variants(table, run_dir, seed).items():
        t0 = time.perf_counter()
        for t, m in models.items():
            y = tab[f"{t}_true" if true_labels else t].to_numpy(float)
            budget[t][name] = _refit_mae(m, m.features_of(tab), y, trv, test, table[f"{t}_true"].to_numpy(), n_jobs)
        log.info("%s: %s (%.0f s)", name, {t: round(budget[t][name], 4) for t in models},
                 time.perf_counter() - t0)
    return budget


def learning_curve(table: pd.DataFrame, models: dict, n_jobs: int, seed: int = 0) -> dict:
    """Blind-test MAE against the truth of each model refitted on 1/16 ... all of its train + val stars.

    ``MAE(N) = a + b N^-c`` fitted to the points gives ``a``, the MAE with unlimited stars of this kind.
    """
    from scipy.optimize import curve_fit

    trv = np.flatnonzero(table["split"].isin(["train", "val"]).to_numpy())
    test = (table["split"] == "test").to_numpy()
    order = np.random.default_rng(seed).permutation(trv)
    sizes = [len(trv) // k for k in (16, 8, 4, 2, 1)]
    out = {}
    for t, m in models.items():
        X, y, truth = m.features_of(table), table[t].to_numpy(float), table[f"{t}_true"].to_numpy()
        mae = []
        for n in sizes:
            rows = np.zeros(len(table), bool)
            rows[order[:n]] = True
            mae.append(_refit_mae(m, X, y, rows, test, truth, n_jobs))
        try:
            (a, b, c), _ = curve_fit(lambda n, a, b, c: a + b * n ** -c, np.array(sizes, float), mae,
                                     p0=(mae[-1] * 0.8, mae[0], 0.3), bounds=([0, 0, 0], [np.inf, np.inf, 2]),
                                     maxfev=20000)
        except RuntimeError:
            a = b = c = float("nan")
        out[t] = {"n_stars": sizes, "mae_true": mae, "asymptote": float(a), "b": float(b), "c": float(c)}
        log.info("learning curve %s: %s -> %.4g with unlimited stars", t,
                 {n: round(v, 4) for n, v in zip(sizes, mae)}, a)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path, help="A mock-sky run directory with sample.parquet and model/.")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--profile", default="full", help="Profile of the train stage when model/ is absent.")
    ap.add_argument("--seed", type=int, default=42, help="Seed of the train stage when model/ is absent.")
    ap.add_argument("--draw-seed", type=int, default=0,
                    help="Seed of the redrawn photometry, the E(B-V) scatter and the learning-curve subsets.")
    ap.add_argument("--no-refit", action="store_true",
                    help="Only redo the comparison with real J-PLUS errors and the MAE by magnitude in the existing "
                         "JSON (seconds).")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    table = pd.read_parquet(args.run_dir / "sample.parquet")
    if "feh_true" not in table:
        raise SystemExit(f"{args.run_dir}: not a mock-sky run (sample.parquet has no true labels)")
    errors = photon_errors_vs_real(table, _error_floor(args.run_dir))
    if not (args.run_dir / "model").is_dir():
        from ocfeh.pipeline import RunConfig, default_stages

        log.info("%s has no model/: running the train stage (%s profile)", args.run_dir, args.profile)
        cfg = RunConfig({"run": {"profile": args.profile, "seed": args.seed, "out": str(args.run_dir)}})
        next(s for s in default_stages(cfg) if s.name == "train").func(args.run_dir, cfg)
    models = load_predictor(args.run_dir / "model").models
    by_mag = mae_by_magnitude(table, models)
    if args.no_refit:
        if not OUT.is_file():
            raise SystemExit(f"--no-refit updates {OUT}, which does not exist yet: run without it first")
        rec = json.loads(OUT.read_text())
        rec.update(photon_errors_vs_real=errors, mae_true_by_G=by_mag)
        write_json(OUT, rec)
        _print_extras(errors, by_mag)
        return
    t0 = time.perf_counter()
    budget = error_budget(table, models, args.run_dir, args.n_jobs, args.draw_seed)
    curve = learning_curve(table, models, args.n_jobs, args.draw_seed)
    metrics = json.loads((args.run_dir / "metrics.json").read_text()) if (args.run_dir / "metrics.json").is_file() \
        else {}
    rec = {"run_dir": str(args.run_dir), "n_trainval": int(table["split"].isin(["train", "val"]).sum()),
           "n_test": int((table["split"] == "test").sum()),
           "zero_points": "removed by the run" if (args.run_dir / "zero_points.csv").is_file() else "not measured",
           "mae_true": budget,
           "run_metrics_mae_true": {t: metrics.get(t, {}).get("mae_true") for t in models},
           "photon_errors_vs_real": errors,
           "mae_true_by_G": by_mag,
           "learning_curve": curve,
           "seconds": time.perf_counter() - t0,
           "provenance": provenance({"run_dir": str(args.run_dir), "n_jobs": args.n_jobs, "train_seed": args.seed},
                                     args.draw_seed)}
    write_json(OUT, rec)
    print(f"\nblind test ({rec['n_test']} stars): MAE against the truth of each model refitted with one input changed")
    print(f"{'input':48s}" + "".join(f"{t:>10s}" for t in budget))
    for name in next(iter(budget.values())):
        print(f"{name:48s}" + "".join(f"{b[name]:>10.4g}" for b in budget.values()))
    print("\nlearning curve: blind-test MAE against the truth, refitted on part of the train + val stars")
    for t, r in curve.items():
        print(f"  {t:5s} " + "  ".join(f"{n}: {v:.4g}" for n, v in zip(r["n_stars"], r["mae_true"]))
              + f"  -> {r['asymptote']:.4g} with unlimited stars (a + b N^-c, c = {r['c']:.2f})")
    _print_extras(errors, by_mag)
    print(f"wrote {OUT}")


def _print_extras(errors: dict | None, by_mag: dict) -> None:
    print("\nblind-test MAE against the truth (label noise) by Gaia G")
    for t, rows in by_mag.items():
        print(f"  {t:5s} " + "  ".join(f"G {k}: {r['mae_true']:.4g} ({r['label_noise']:.3g}, n={r['n']})"
                                      for k, r in rows.items()))
    if not errors:
        return
    print("\nJ-PLUS photon errors, mock / real catalogue (J-PLUS IDR x SEGUE), median in 1-mag bins")
    bins = [f"{lo:.1f}-{lo + 1:.1f}" for lo in ERROR_BINS]
    print(f"{'band':8s}" + "".join(f"{b:>22s}" for b in bins))
    for band, row in errors.items():
        cells = [f"{row[b][0]:.4f}/{row[b][1]:.4f} ({row[b][2]:.2f})" if b in row else "-" for b in bins]
        print(f"{band:8s}" + "".join(f"{c:>22s}" for c in cells))


if __name__ == "__main__":
    main()
