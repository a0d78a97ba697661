"""Benchmark: what a CatBoost model beside the pipeline's own model would add (issue 5).

For each run directory (with ``sample.parquet`` and a trained ``model/``), one CatBoost per target (depth 8,
learning rate 0.08, early stopping on the val split) is fitted on the train split with the features the
pipeline selected, as the pipeline's final models are in a run; then blind-test MAE of the pipeline's model,
the CatBoost and their mean (against the labels and, on the mock sky, the truth).

Usage::

    python benchmarks/bench_blend.py RUN_DIR [RUN_DIR ...] [--n-jobs 2]

e.g. the runs of ``ocfeh demo --full --out runs/full`` and ``ocfeh demo --dataset apogee-xp --out runs/axp``.
Writes benchmarks/results/blend.json (machine, versions, timings) and prints a table.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ocfeh.evaluate import regression_metrics
from ocfeh.provenance import provenance, write_json
from ocfeh.train.model import StellarParameterModel

OUT = Path(__file__).parent / "results" / "blend.json"
log = logging.getLogger("bench_blend")
CATBOOST = {"iterations": 5000, "learning_rate": 0.08, "depth": 8, "random_seed": 0, "od_type": "Iter",
            "od_wait": 60, "verbose": 0, "allow_writing_files": False}


def blend_run(run_dir: Path, n_jobs: int) -> dict:
    """Per target: MAE of the pipeline's model, a CatBoost on its features, and their mean."""
    from catboost import CatBoostRegressor

    df = pd.read_parquet(run_dir / "sample.parquet")
    model = StellarParameterModel.load(run_dir / "model")
    split = df["split"].to_numpy()
    tr, va, te = split == "train", split == "val", split == "test"
    out: dict[str, dict] = {}
    for t, tm in model.models.items():
        X = tm.features_of(df)
        y = df[t].to_numpy(float)
        ok = np.isfinite(y)
        t0 = time.perf_counter()
        cb = CatBoostRegressor(**CATBOOST, thread_count=n_jobs)
        cb.fit(X[tr & ok], y[tr & ok], eval_set=(X[va & ok], y[va & ok]))
        preds = {"pipeline": tm.predict(df), "catboost": cb.predict(X)}
        preds["mean"] = (preds["pipeline"] + preds["catboost"]) / 2
        row: dict[str, dict | float | int] = {"n_features": X.shape[1], "catboost_rounds": cb.get_best_iteration() + 1,
                                              "catboost_seconds": time.perf_counter() - t0}
        for ref in (t, f"{t}_true"):
            if ref in df:
                truth = df[ref].to_numpy(float)[te]
                key = "vs_truth" if ref.endswith("_true") else "vs_labels"
                row[key] = {name: regression_metrics(truth, p[te])["mae"] for name, p in preds.items()}
        out[t] = row
        log.info("%s %s %s", run_dir.name, t, row)
    return {"n_train": int(tr.sum()), "n_test": int(te.sum()), "targets": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dirs", type=Path, nargs="+", help="Run directories with sample.parquet and model/.")
    ap.add_argument("--n-jobs", type=int, default=2)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for d in args.run_dirs:
        if not (d / "sample.parquet").is_file() or not (d / "model").is_dir():
            raise SystemExit(f"{d} has no sample.parquet and model/: run `ocfeh demo --full --out {d}` first")
    t0 = time.perf_counter()
    out = {"catboost": CATBOOST, "runs": {str(d): blend_run(d, args.n_jobs) for d in args.run_dirs}}
    out["seconds"] = time.perf_counter() - t0
    out["provenance"] = provenance({"run_dirs": [str(d) for d in args.run_dirs], "n_jobs": args.n_jobs}, 0)
    write_json(OUT, out)
    print("blind-test MAE: pipeline / CatBoost on its features / their mean (change of the mean)")
    for run, rec in out["runs"].items():
        for t, row in rec["targets"].items():
            for key in ("vs_labels", "vs_truth"):
                if key in row:
                    m = row[key]
                    print(f"  {Path(run).name:12s} {t:5s} {key:10s} {m['pipeline']:.4g} / {m['catboost']:.4g} / "
                          f"{m['mean']:.4g} ({100 * (m['mean'] / m['pipeline'] - 1):+.1f}%)")
    print(f"\nwrote {OUT}")


if __name__ == "__main__":
    main()
