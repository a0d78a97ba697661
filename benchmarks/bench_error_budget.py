"""Benchmark: where the blind-test error of a mock-sky run comes from (issue 5).

Each final model of a run (``model/``) is refitted with its own features and hyper-parameters on its
own train + val stars after changing one input, and its blind-test MAE against the true labels is
reported beside the label noise (mean |label - truth|):

- as trained (the refit reproduces the run's model);
- trained on the true labels instead of the noisy ones;
- the run's per-tile J-PLUS zero points not removed (``zero_points.csv`` added back);
- the tiles' true offsets removed (measured against the true magnitudes);
- noise-free photometry with the true distances and extinctions.

Usage::

    python benchmarks/bench_error_budget.py RUN_DIR [--profile full] [--n-jobs 2]

RUN_DIR is a mock-sky run with ``sample.parquet`` and ``sources/truth.parquet`` (e.g. ``ocfeh demo
--full``, or the one bench_train_scale.py builds); without ``model/`` its train stage runs first with
the given profile (about 20 minutes at poster scale). Writes benchmarks/results/error_budget.json and
prints a table.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ocfeh.bands import JPLUS_BANDS
from ocfeh.model import TargetModel
from ocfeh.predict import load_predictor
from ocfeh.provenance import provenance, write_json
from ocfeh.zeropoints import TILE_COLUMN, apply_tile_offsets, read_tile_offsets

OUT = Path(__file__).parent / "results" / "error_budget.json"
PHOT_BANDS = (*JPLUS_BANDS, "G", "BP", "RP", "W1", "W2")
log = logging.getLogger("bench_error_budget")


def variants(table: pd.DataFrame, run_dir: Path) -> dict[str, tuple[pd.DataFrame, bool]]:
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
    clean = table.copy()
    for b in PHOT_BANDS:
        clean[f"mag_{b}"] = t[f"mag_{b}_true"].where(table[f"mag_{b}"].notna()).to_numpy()
    clean["distance_pc"], clean["a0"] = table["distance_true_pc"], table["a0_true"]
    out["noise-free photometry, true d and A0"] = (clean, False)
    return out


def error_budget(table: pd.DataFrame, models: dict, run_dir: Path, n_jobs: int) -> dict:
    """Blind-test MAE against the truth of each model refitted on changed inputs."""
    trv = table["split"].isin(["train", "val"]).to_numpy()
    test = (table["split"] == "test").to_numpy()
    budget = {t: {"label_noise": float(np.mean(np.abs(table[t] - table[f"{t}_true"])[test]))} for t in models}
    for name, (tab, true_labels) in variants(table, run_dir).items():
        t0 = time.perf_counter()
        for t, m in models.items():
            X = m.features_of(tab)
            y = tab[f"{t}_true" if true_labels else t].to_numpy(float)
            refit = TargetModel(t, m.backend, m.params, m.n_estimators, m.objective, m.feature_config, m.seed,
                                n_jobs, m.n_models).fit(X[trv], y[trv])
            err = refit.predict(X[test]) - table[f"{t}_true"].to_numpy()[test]
            budget[t][name] = float(np.mean(np.abs(err)))
        log.info("%s: %s (%.0f s)", name, {t: round(budget[t][name], 4) for t in models},
                 time.perf_counter() - t0)
    return budget


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path, help="A mock-sky run directory with sample.parquet and model/.")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--profile", default="full", help="Profile of the train stage when model/ is absent.")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    table = pd.read_parquet(args.run_dir / "sample.parquet")
    if "feh_true" not in table:
        raise SystemExit(f"{args.run_dir}: not a mock-sky run (sample.parquet has no true labels)")
    if not (args.run_dir / "model").is_dir():
        from ocfeh import stages
        from ocfeh.config import RunConfig

        log.info("%s has no model/: running the train stage (%s profile)", args.run_dir, args.profile)
        stages._train(args.run_dir, RunConfig({"run": {"profile": args.profile, "seed": args.seed,
                                                       "out": str(args.run_dir)}}))
    models = load_predictor(args.run_dir / "model").models
    t0 = time.perf_counter()
    budget = error_budget(table, models, args.run_dir, args.n_jobs)
    metrics = json.loads((args.run_dir / "metrics.json").read_text()) if (args.run_dir / "metrics.json").is_file() \
        else {}
    rec = {"run_dir": str(args.run_dir), "n_trainval": int(table["split"].isin(["train", "val"]).sum()),
           "n_test": int((table["split"] == "test").sum()),
           "zero_points": "removed by the run" if (args.run_dir / "zero_points.csv").is_file() else "not measured",
           "mae_true": budget,
           "run_metrics_mae_true": {t: metrics.get(t, {}).get("mae_true") for t in models},
           "seconds": time.perf_counter() - t0,
           "provenance": provenance({"run_dir": str(args.run_dir), "n_jobs": args.n_jobs}, 0)}
    write_json(OUT, rec)
    print(f"\nblind test ({rec['n_test']} stars): MAE against the truth of each model refitted with one input changed")
    print(f"{'input':40s}" + "".join(f"{t:>10s}" for t in budget))
    for name in next(iter(budget.values())):
        print(f"{name:40s}" + "".join(f"{b[name]:>10.4g}" for b in budget.values()))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
