"""Benchmark: modelling levers beyond the pipeline, each against one plain LightGBM on the same split (issue 5).

One LightGBM per target (learning rate 0.05, 63 leaves, depth 8, early stopping on the val split, fitted on
the train split), blind-test MAE; then one change at a time:

- mock sky (a run directory's ``sample.parquet``; MAE against the labels and the truth): Huber and L1
  losses and a learning rate of 0.02 for [Fe/H]; the out-of-fold Teff and log g predictions as features
  of the later targets; the adopted A_0 as a feature, alone and with the reddened colours; the magnitude
  errors as features; CatBoost (depth 8) and the mean of the two;
- apogee-xp (``--apogee-xp``): the chaining, the A_0 features, CatBoost and the mean of the two.
- the network (``--network-only``, mock sky): ``ocfeh.train.network.NetworkRegressor`` (2 seeds) on the plain
  model's 40 features of highest mean |SHAP|, alone and averaged with the plain model at weights 0.5
  and 0.7; merged into levers.json under ``mock_network``.
- feature sets (``--features-only``, mock sky): the plain model on the poster's 153 features, with the
  three-band curvatures (gaps 1 and 2, nearly free of reddening, so of the adopted A_0's error) added,
  and with A_0 added too (``[features] curvatures``, ``a0_feature``); merged under ``mock_features``.

Usage::

    python benchmarks/bench_levers.py RUN_DIR [--apogee-xp | --network-only | --features-only] [--n-jobs 2]

Writes benchmarks/results/levers.json (machine, versions, timings) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ocfeh.evaluate import regression_metrics
from ocfeh.provenance import provenance, write_json
from ocfeh.train.features import FeatureConfig, make_features

OUT = Path(__file__).parent / "results" / "levers.json"
log = logging.getLogger("bench_levers")
TARGETS = ("teff", "logg", "feh")
BASE = {"objective": "l2", "learning_rate": 0.05, "num_leaves": 63, "max_depth": 8, "min_child_samples": 20,
        "feature_fraction": 0.7, "bagging_fraction": 0.8, "bagging_freq": 1, "verbose": -1, "seed": 0}


def _fit(X, y, split, params):
    import lightgbm as lgb

    tr, va = split == "train", split == "val"
    d = lgb.Dataset(X[tr], y[tr])
    return lgb.train(params, d, 5000, valid_sets=[lgb.Dataset(X[va], y[va], reference=d)],
                     callbacks=[lgb.early_stopping(60, verbose=False)])


def _oof(X, y, split, params, rounds, seed=0):
    """Out-of-fold predictions on the train split (5 folds); the full train-split model elsewhere."""
    import lightgbm as lgb
    from sklearn.model_selection import KFold

    out = np.full(len(y), np.nan)
    idx = np.flatnonzero(split == "train")
    for a, b in KFold(5, shuffle=True, random_state=seed).split(idx):
        m = lgb.train(params, lgb.Dataset(X.iloc[idx[a]], y[idx[a]]), rounds)
        out[idx[b]] = m.predict(X.iloc[idx[b]])
    full = lgb.train(params, lgb.Dataset(X.iloc[idx], y[idx]), rounds)
    rest = np.flatnonzero(split != "train")
    out[rest] = full.predict(X.iloc[rest])
    return out


def _mae(pred, df, t, test):
    """Blind-test MAE against the labels and, on the mock sky, against the truth."""
    row = {"mae": regression_metrics(df[t].to_numpy(float)[test], pred[test])["mae"]}
    if f"{t}_true" in df:
        row["mae_true"] = regression_metrics(df[f"{t}_true"].to_numpy(float)[test], pred[test])["mae"]
    return row


def run_levers(df, X, n_jobs, targets=TARGETS, losses=True, errors=True, catboost=False, raw=None) -> dict:
    split = df["split"].to_numpy()
    test = split == "test"
    params = {**BASE, "num_threads": n_jobs}
    res: dict[str, dict] = {}

    def record(name, t, pred, t0):
        res.setdefault(name, {})[t] = {**_mae(pred, df, t, test), "seconds": time.perf_counter() - t0}
        log.info("%s %s %s", name, t, res[name][t])

    chained = X.copy()
    for t in targets:
        y = df[t].to_numpy(float)
        t0 = time.perf_counter()
        b = _fit(X, y, split, params)
        record("plain", t, b.predict(X, num_iteration=b.best_iteration), t0)
        t0 = time.perf_counter()
        bc = _fit(chained, y, split, params)
        record("chained (earlier targets' out-of-fold predictions as features)", t,
               bc.predict(chained, num_iteration=bc.best_iteration), t0)
        if t != targets[-1]:
            chained[f"pred_{t}"] = _oof(chained.drop(columns=[c for c in chained if c.startswith("pred_")]),
                                        y, split, params, b.best_iteration)
        if losses and t == "feh":
            for name, extra in (("huber loss", {"objective": "huber", "alpha": 0.1}), ("l1 loss", {"objective": "l1"}),
                                ("learning rate 0.02", {"learning_rate": 0.02})):
                t0 = time.perf_counter()
                m = _fit(X, y, split, {**params, **extra})
                record(name, t, m.predict(X, num_iteration=m.best_iteration), t0)
        if raw is not None:  # the adopted extinction as a feature, then with the reddened colours too
            for name, Xa in (("A0 as a feature", X.assign(a0=df["a0"].to_numpy(float))),
                             ("A0 and the reddened colours as features",
                              pd.concat([X, raw], axis=1).assign(a0=df["a0"].to_numpy(float)))):
                t0 = time.perf_counter()
                m = _fit(Xa, y, split, params)
                record(name, t, m.predict(Xa, num_iteration=m.best_iteration), t0)
        if errors:
            e = df[[c for c in df.columns if c.startswith("mag_err_")]].dropna(axis=1, how="all")
            Xe = pd.concat([X, e], axis=1)
            t0 = time.perf_counter()
            m = _fit(Xe, y, split, params)
            record("magnitude errors as features", t, m.predict(Xe, num_iteration=m.best_iteration), t0)
        if catboost:
            from catboost import CatBoostRegressor

            t0 = time.perf_counter()
            tr, va = split == "train", split == "val"
            c = CatBoostRegressor(iterations=5000, learning_rate=0.08, depth=8, thread_count=n_jobs, verbose=0,
                                  random_seed=0, od_type="Iter", od_wait=60)
            c.fit(X[tr], y[tr], eval_set=(X[va], y[va]))
            pc = c.predict(X)
            record("catboost", t, pc, t0)
            record("mean of lightgbm and catboost", t, (pc + b.predict(X, num_iteration=b.best_iteration)) / 2, t0)
    return res


def run_network(df, X, n_jobs, n_top=40, n_seeds=2) -> dict:
    """Plain LightGBM, the network on its top ``n_top`` SHAP features, and their means (blind test)."""
    from ocfeh.train.network import NetworkRegressor

    split = df["split"].to_numpy()
    tr, va, test = split == "train", split == "val", split == "test"
    res: dict[str, dict] = {}
    for t in TARGETS:
        y = df[t].to_numpy(float)
        t0 = time.perf_counter()
        b = _fit(X, y, split, {**BASE, "num_threads": n_jobs})
        plain = b.predict(X, num_iteration=b.best_iteration)
        res.setdefault("plain", {})[t] = {**_mae(plain, df, t, test), "seconds": time.perf_counter() - t0}
        contrib = b.predict(X[va].iloc[:3000], pred_contrib=True, num_iteration=b.best_iteration)[:, :-1]
        cols = list(X.columns[np.argsort(-np.abs(contrib).mean(axis=0))[:n_top]])
        t0 = time.perf_counter()
        net = NetworkRegressor(n_models=n_seeds, seed=0).fit(X.loc[tr, cols].to_numpy(float), y[tr])
        pn = net.predict(X[cols].to_numpy(float))
        secs = time.perf_counter() - t0
        res.setdefault(f"network ({n_seeds} seeds, top {n_top} features)", {})[t] = {
            **_mae(pn, df, t, test), "seconds": secs, "epochs": net.n_iter_}
        for w in (0.5, 0.7):
            res.setdefault(f"mean, network weight {w}", {})[t] = _mae((1 - w) * plain + w * pn, df, t, test)
        log.info("network %s: %s", t, {k: v[t] for k, v in res.items()})
    return res


FEATURE_SETS = {
    "153 features (poster)": {},
    "+ curvatures (gaps 1, 2)": {"curvatures": [1, 2]},
    "+ curvatures + A_0": {"curvatures": [1, 2], "a0_feature": True},
}


def run_features(df, n_jobs) -> dict:
    """The plain model on each of :data:`FEATURE_SETS` (blind test against the labels and the truth)."""
    split = df["split"].to_numpy()
    test = split == "test"
    res: dict[str, dict] = {}
    for name, kw in FEATURE_SETS.items():
        X = make_features(df, FeatureConfig(**kw))
        for t in TARGETS:
            t0 = time.perf_counter()
            b = _fit(X, df[t].to_numpy(float), split, {**BASE, "num_threads": n_jobs})
            res.setdefault(name, {})[t] = {**_mae(b.predict(X, num_iteration=b.best_iteration), df, t, test),
                                           "seconds": time.perf_counter() - t0, "n_features": X.shape[1]}
            log.info("%s %s %s", name, t, res[name][t])
    return res


def _raw(df, bands="all"):
    """The colours without de-reddening, prefixed ``raw_``."""
    return make_features(df, FeatureConfig(bands=bands, extinction="none", absolute_magnitudes=False)).add_prefix("raw_")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path, help="A mock-sky run directory with sample.parquet.")
    ap.add_argument("--apogee-xp", action="store_true", help="Also the apogee-xp levers (chaining, CatBoost).")
    ap.add_argument("--network-only", action="store_true",
                    help="Only the network lever on the mock sky, merged into levers.json.")
    ap.add_argument("--features-only", action="store_true",
                    help="Only the feature sets on the mock sky, merged into levers.json.")
    ap.add_argument("--n-jobs", type=int, default=2)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not (args.run_dir / "sample.parquet").is_file():
        raise SystemExit(f"{args.run_dir}/sample.parquet not found: run benchmarks/bench_train_scale.py "
                         f"{args.run_dir} (or `ocfeh demo --full`) first")
    t0 = time.perf_counter()
    df = pd.read_parquet(args.run_dir / "sample.parquet")
    df = df[df["split"].isin(["train", "val", "test"])].reset_index(drop=True)
    for flag, key, run in ((args.network_only, "mock_network",
                            lambda: run_network(df, make_features(df, FeatureConfig()), args.n_jobs)),
                           (args.features_only, "mock_features", lambda: run_features(df, args.n_jobs))):
        if flag:
            out = json.loads(OUT.read_text()) if OUT.is_file() else {}
            out[key] = run()
            out[f"{key}_seconds"] = time.perf_counter() - t0
            out[f"{key}_provenance"] = provenance({"run_dir": str(args.run_dir), "n_jobs": args.n_jobs}, 0)
            write_json(OUT, out)
            _print(out, (key,))
            return
    out = {"run_dir": str(args.run_dir), "n_train": int((df.split == "train").sum()),
           "n_test": int((df.split == "test").sum()), "base_params": BASE,
           "mock": run_levers(df, make_features(df, FeatureConfig()), args.n_jobs, catboost=True, raw=_raw(df))}
    if args.apogee_xp:
        from ocfeh.datasets import MODEL_SETTINGS, load_dataset

        ax = load_dataset("apogee-xp", seed=42).reset_index(drop=True)
        Xa = make_features(ax, FeatureConfig(bands=ax.attrs["bands"], **MODEL_SETTINGS["features"]))
        out["apogee_xp"] = run_levers(ax, Xa, args.n_jobs, losses=False, errors=False, catboost=True,
                                      raw=_raw(ax, ax.attrs["bands"]))
    out["seconds"] = time.perf_counter() - t0
    out["provenance"] = provenance({"run_dir": str(args.run_dir), "n_jobs": args.n_jobs}, 0)
    if OUT.is_file():  # keep the network and feature-set levers of an earlier run
        keep = ("mock_network", "mock_features")
        out = {**{k: v for k, v in json.loads(OUT.read_text()).items() if k.startswith(keep)}, **out}
    write_json(OUT, out)
    _print(out, ("mock", "apogee_xp"))


def _print(out: dict, parts) -> None:
    for part in parts:
        if part not in out:
            continue
        print(f"\n{part}: blind-test MAE" + (" (against the labels / the truth)" if part.startswith("mock") else ""))
        for name, rows in out[part].items():
            cells = [f"{t} {r['mae']:.4g}" + (f"/{r['mae_true']:.4g}" if "mae_true" in r else "")
                     for t, r in rows.items()]
            print(f"  {name:66s} " + "  ".join(cells))
    print(f"\nwrote {OUT}")


if __name__ == "__main__":
    main()
