"""Benchmark: selection, tuning and training of the three targets at poster scale (issue 5).

Times :func:`ocfeh.train.training.train_models` (SHAP-RFE + Optuna search + RFECV + final CV + final fit;
the main band set, no variants) with the ``full`` profile on the labelled sample of a poster-scale
mock-sky run (``ocfeh demo --full``, or the simulate and sample stages of the ``full`` profile), and
reports the blind-test MAE against the labels and the truth.

Usage::

    python benchmarks/bench_train_scale.py RUN_DIR [--profile full] [--n-jobs 2]

A RUN_DIR without ``sample.parquet`` is first filled by the simulate and sample stages of the ``full``
profile (seed 42; about 15 minutes and 15 GB of memory), which are not part of the timing.

Writes benchmarks/results/train_scale.json (machine, versions, timings) and prints a table.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ocfeh.evaluate import regression_metrics
from ocfeh.profiles import apply_profile
from ocfeh.provenance import provenance, write_json
from ocfeh.train.features import FeatureConfig, make_features
from ocfeh.train.model import ModelConfig
from ocfeh.train.selection import SelectionConfig
from ocfeh.train.training import train_models

OUT = Path(__file__).parent / "results" / "train_scale.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path, help="A run directory with sample.parquet (full profile).")
    ap.add_argument("--profile", default="full")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not (args.run_dir / "sample.parquet").is_file():
        from ocfeh.pipeline import RunConfig, default_stages

        cfg = RunConfig({"run": {"profile": "full", "seed": args.seed, "out": str(args.run_dir)}})
        args.run_dir.mkdir(parents=True, exist_ok=True)
        for stage in default_stages(cfg):
            if stage.name in ("simulate", "sample"):
                stage.func(args.run_dir, cfg)
    table = pd.read_parquet(args.run_dir / "sample.parquet")
    scfg = apply_profile(SelectionConfig(), args.profile)
    mcfg = apply_profile(ModelConfig(n_jobs=args.n_jobs), args.profile)
    fcfg = FeatureConfig()
    n_trv = int(table["split"].isin(["train", "val"]).sum())
    t0 = time.perf_counter()
    model, results = train_models(table, fcfg, scfg, mcfg, args.seed)
    seconds = time.perf_counter() - t0
    test = table[table["split"] == "test"]
    feats = make_features(test, fcfg)
    rows = {}
    for t, m in model.models.items():
        pred = m.predict(feats)
        r = results[t]
        rows[t] = {"n_features": len(r.features), "n_rfe": len(r.rfe_features), "cv_mae": r.cv_mae,
                   "n_estimators": r.n_estimators, "timings_s": r.timings_s,
                   "test_vs_labels": regression_metrics(test[t], pred)}
        if f"{t}_true" in test:
            rows[t]["test_vs_truth"] = regression_metrics(test[f"{t}_true"], pred)
    rec = {"n_labelled": len(table), "n_trainval": n_trv, "n_test": len(test), "seconds_three_targets": seconds,
           "selection_config": scfg.model_dump(), "model_config": mcfg.model_dump(), "targets": rows,
           "provenance": provenance({"run_dir": str(args.run_dir), "profile": args.profile,
                                     "n_jobs": args.n_jobs}, args.seed)}
    write_json(OUT, rec)
    print(f"\n{args.profile} profile, {n_trv} train+val stars, {mcfg.n_jobs} threads: "
          f"{seconds / 60:.1f} min for three targets (target: < 20 min)")
    print(f"{'target':8s}{'features':>10s}{'s':>8s}{'MAE labels':>12s}{'MAE truth':>12s}")
    for t, r in rows.items():
        truth = r.get("test_vs_truth", {}).get("mae", np.nan)
        print(f"{t:8s}{r['n_features']:>10d}{r['timings_s'].get('total', np.nan):>8.0f}"
              f"{r['test_vs_labels']['mae']:>12.4g}{truth:>12.4g}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
