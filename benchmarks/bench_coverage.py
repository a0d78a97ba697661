"""Benchmark: how far a blind-test coverage strays from its level by chance (conformal intervals, real stars).

A test coverage is a random number twice over: the test stars are a sample, and so are the calibration
stars whose quantile sets the interval (half B of the val split, with half A training the difficulty
model). The binomial spread of the test alone understates it. On apogee-xp (seed 42 split, the
features of ``ocfeh.datasets.MODEL_SETTINGS``), one plain LightGBM per target is fitted on the train
split and its intervals (``ocfeh.train.uncertainty.ConformalIntervals``, the default Mondrian bins) are
calibrated on val, then:

- the actual split, with the A/B halves of val drawn with ``--ab-seeds`` seeds: the test coverage;
- ``--resplits`` random re-splits of val + test into as many calibration and test stars: the
  test coverage, whose spread is what a reader should hold a single run's coverage against.

With ``--run-dir RUN`` (a run of ``ocfeh demo --dataset apogee-xp``) the run's own model, features and
Mondrian bins take the place of the plain LightGBM, its val and test MAE are given, and the record goes
to the key ``run`` of the JSON (the plain record is kept).

Usage::

    python benchmarks/bench_coverage.py [--ab-seeds 10] [--resplits 20] [--n-jobs 1] [--run-dir RUN]

Writes benchmarks/results/coverage.json and prints a table. About 5 minutes on one thread.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ocfeh.provenance import provenance, write_json

RESULTS = Path(__file__).parent / "results"
OUT = RESULTS / "coverage.json"
TARGETS = ("teff", "logg", "feh")
LEVELS = (0.68, 0.95)
log = logging.getLogger("bench_coverage")


def _coverage(X, y, pred, bins, cal, test, seed) -> list[float]:
    """Test coverage at each level of intervals calibrated on the ``cal`` rows (finite labels only)."""
    from ocfeh.train.uncertainty import ConformalIntervals

    cal, test = cal[np.isfinite(y[cal])], test[np.isfinite(y[test])]
    ci = ConformalIntervals(LEVELS, seed=seed).fit(X.iloc[cal], y[cal], pred[cal], bins=bins[cal])
    hw = ci.half_widths(X.iloc[test], bins=bins[test])
    r = np.abs(y[test] - pred[test])
    return [float((r <= hw[lv]).mean()) for lv in LEVELS]


def _summary(cov: np.ndarray) -> dict:
    return {f"{round(100 * lv)}": {"mean": float(cov[:, k].mean()), "sd": float(cov[:, k].std(ddof=1)),
                                    "min": float(cov[:, k].min()), "max": float(cov[:, k].max())}
            for k, lv in enumerate(LEVELS)}


def _plain(n_jobs: int):
    """apogee-xp with one plain LightGBM per target fitted on train: table, features, predictions, bins."""
    import lightgbm as lgb

    from ocfeh.datasets import MODEL_SETTINGS, load_dataset
    from ocfeh.train.features import FeatureConfig, make_features
    from ocfeh.train.uncertainty import MondrianBins

    df = load_dataset("apogee-xp", seed=42)
    X = make_features(df, FeatureConfig(**{"bands": df.attrs["bands"], **MODEL_SETTINGS["features"]}))
    train = np.flatnonzero(df["split"].to_numpy() == "train")
    pred = {}
    for t in TARGETS:
        ok = train[np.isfinite(df[t].to_numpy(float)[train])]
        m = lgb.LGBMRegressor(n_estimators=800, learning_rate=0.05, num_leaves=63, max_depth=8, subsample=0.8,
                              subsample_freq=1, colsample_bytree=0.7, n_jobs=n_jobs, verbose=-1, random_state=0)
        pred[t] = m.fit(X.iloc[ok], df[t].iloc[ok]).predict(X)
    return df, {t: X for t in TARGETS}, pred, MondrianBins.default().assign(pd.DataFrame(pred))


def _from_run(run_dir: Path):
    """A run's sample, its model's features (per target, as its calibration sees them), predictions, bins."""
    from ocfeh.predict import load_predictor

    df = pd.read_parquet(run_dir / "sample.parquet")
    pred = load_predictor(run_dir / "model")
    feats = pred.build_features(df)
    point = pred.point(df, feats)
    return df, {t: feats[pred.features[t]] for t in TARGETS}, point, pred.bins.assign(point)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ab-seeds", type=int, default=10, help="Seeds of the A/B halves of val on the actual split.")
    ap.add_argument("--resplits", type=int, default=20, help="Random re-splits of val + test.")
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument("--run-dir", type=Path, default=None, help="Use this run's model instead of plain LightGBM.")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    t0 = time.perf_counter()
    df, X, pred, bins = _from_run(args.run_dir) if args.run_dir else _plain(args.n_jobs)
    split = df["split"].to_numpy()
    train, val, test = (np.flatnonzero(split == s) for s in ("train", "val", "test"))
    rng = np.random.default_rng(0)
    held = np.concatenate([val, test])
    resplits = [rng.permutation(held) for _ in range(args.resplits)]
    rec = {"model": str(args.run_dir) if args.run_dir else "plain LightGBM (800 trees) on train",
           "n_train": len(train), "n_val": len(val), "n_test": len(test), "levels": list(LEVELS), "targets": {}}
    for t in TARGETS:
        y, p = df[t].to_numpy(float), np.asarray(pred[t], float)
        actual = np.array([_coverage(X[t], y, p, bins, val, test, s) for s in range(args.ab_seeds)])
        shuffled = np.array([_coverage(X[t], y, p, bins, np.sort(h[:len(val)]), np.sort(h[len(val):]), s)
                             for s, h in enumerate(resplits)])
        n_test = int(np.isfinite(y[test]).sum())
        rec["targets"][t] = {
            "mae_val": float(np.nanmean(np.abs(p[val] - y[val]))),
            "mae_test": float(np.nanmean(np.abs(p[test] - y[test]))), "n_test": n_test,
            "actual_split": _summary(actual), "resplits": _summary(shuffled),
            "binomial_sd_test_only": {f"{round(100 * lv)}": float(np.sqrt(lv * (1 - lv) / n_test)) for lv in LEVELS},
        }
        log.info("%s: %s", t, rec["targets"][t])
    rec["wall_seconds"] = time.perf_counter() - t0
    rec["provenance"] = provenance({k: str(v) for k, v in vars(args).items()}, 42)
    if args.run_dir:
        out = json.loads(OUT.read_text()) if OUT.is_file() else {}
        out["run"] = rec
    else:
        out = {**(json.loads(OUT.read_text()) if OUT.is_file() else {}), **rec}
    write_json(OUT, out)
    _print(rec)


def _print(rec: dict) -> None:
    print(f"\nconformal coverage on apogee-xp, {rec['model']}: calibrated on {rec['n_val']} val stars, "
          f"tested on {rec['n_test']}; MAE val / test " + ", ".join(
              f"{t} {r['mae_val']:.4g} / {r['mae_test']:.4g}" for t, r in rec["targets"].items()))
    print(f"{'target':7s}{'level':>6s}{'actual split: mean (sd) [min-max]':>38s}{'re-splits: mean (sd)':>24s}"
          f"{'binomial sd':>13s}")
    for t, r in rec["targets"].items():
        for lv in r["actual_split"]:
            a, s = r["actual_split"][lv], r["resplits"][lv]
            print(f"{t:7s}{lv + '%':>6s}{a['mean']:>16.3f} ({a['sd']:.3f}) [{a['min']:.3f}-{a['max']:.3f}]"
                  f"{s['mean']:>16.3f} ({s['sd']:.3f}){r['binomial_sd_test_only'][lv]:>13.3f}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
