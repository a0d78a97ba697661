"""Benchmark of the model stage (issue 5): accuracy on real stars, time, and SHAP back-ends.

(a) apogee-xp (APOGEE DR17 labels, Gaia XP-synthetic J-PLUS + Gaia + 2MASS, colours only): blind-test
    MAE of this pipeline (SHAP-RFE + Optuna CV search + RFECV; Huber loss, final learning rate 0.02,
    3-seed ensemble) against plain LightGBM on all features, random forest, XGBoost, kNN and one MLP, all on
    the same split and the same features (``ocfeh.datasets.MODEL_SETTINGS``): de-reddened colours,
    three-band curvatures (gaps 1 and 2) and A_0 (models.json's part (a) predates A_0; part (f) has it)
    (plus plain LightGBM on the raw, reddened colours alone for scale).
(b) Selection + tuning + training time of the three targets, measured at the size used here and
    extrapolated to 90,000 stars (the extrapolation is stated, not measured).
(c) LightGBM (pred_contrib) vs CatBoost (ShapValues) SHAP time and accuracy on the same rows.
(d) The pipeline and plain LightGBM again with XP-synthetic uJAVA as an 18th band (``--ujava-only`` runs
    just this part).
(e) The network (``[model] network_weight``): the pipeline's final models refitted on the selection (a)
    recorded (features, parameters, rounds, 3 seeds), a 3-seed network on the same features, their
    means at weights 0.3 / 0.5 / 0.7, and a 3-seed network on all features (``--network-only`` runs
    just this part, from the selection in models.json).
(f) The pipeline (with its network) and plain LightGBM with the adopted A_0 as one more feature, which
    selection keeps (``[features] a0_feature``; ``--a0-only`` runs just this part) against (e)'s mean at
    the adopted weight and (a)'s plain LightGBM; ``--a0-peers`` adds the other peers on the same features
    (random forest, XGBoost, kNN and one MLP, ``ocfeh.train.network.NetworkRegressor`` with one seed).

Usage::

    python benchmarks/bench_models.py [--rows N] [--quick] [--network-only] [--a0-only] [--a0-peers]

Writes benchmarks/results/models.json and prints a table. One thread per fit by default (--n-jobs).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from ocfeh.evaluate import regression_metrics
from ocfeh.provenance import provenance, write_json
from ocfeh.train.backends import get_backend
from ocfeh.train.features import FeatureConfig, make_features
from ocfeh.train.model import ModelConfig, TargetModel
from ocfeh.train.selection import SelectionConfig, select_target, training_rows

OUT = Path(__file__).parent / "results" / "models.json"
TARGETS = ("teff", "logg", "feh")
log = logging.getLogger("bench_models")


def _baselines(Xtr, ytr, Xte, n_jobs, only=None):
    import lightgbm as lgb
    import xgboost as xgb
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ocfeh.train.network import NetworkRegressor

    models = {
        "lightgbm_all": lambda: lgb.LGBMRegressor(n_estimators=500, learning_rate=0.05, num_leaves=63,
                                                  n_jobs=n_jobs, verbose=-1, random_state=0),
        "random_forest": lambda: RandomForestRegressor(n_estimators=200, min_samples_leaf=2, max_features=0.33,
                                                       n_jobs=n_jobs, random_state=0),
        "xgboost": lambda: xgb.XGBRegressor(n_estimators=500, learning_rate=0.05, max_depth=7, subsample=0.8,
                                            colsample_bytree=0.8, n_jobs=n_jobs, random_state=0,
                                            tree_method="hist"),
        "knn": lambda: make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                                     KNeighborsRegressor(n_neighbors=15, weights="distance", n_jobs=n_jobs)),
        "mlp": lambda: NetworkRegressor(seed=0),
    }
    out = {}
    for name, make in models.items():
        if only and name not in only:
            continue
        t0 = time.perf_counter()
        m = make().fit(Xtr, ytr)
        out[name] = (m.predict(Xte), time.perf_counter() - t0)
    return out


def bench_apogee(rows: int | None, quick: bool, n_jobs: int, seed: int = 42, max_truncation: float | None = None,
                 peers: tuple[str, ...] | None = None, a0_feature: bool = False, pipeline: bool = True) -> dict:
    from ocfeh.datasets import load_dataset

    kw = {} if max_truncation is None else {"max_truncation": max_truncation}
    df = load_dataset("apogee-xp", seed=seed, **kw)
    bands = df.attrs["bands"]
    if rows and rows < len(df):
        df = df.sample(rows, random_state=seed)
    # the settings `ocfeh demo --dataset apogee-xp` uses; early stopping picks the number of trees and the
    # cap must not bind (the Huber loss and the final rate of 0.02 need more rounds), so --quick keeps it
    from ocfeh.datasets import MODEL_SETTINGS

    fc = FeatureConfig(**{"bands": bands, **MODEL_SETTINGS["features"],
                          **({"a0_feature": True} if a0_feature else {})})
    feats = make_features(df, fc)
    raw = make_features(df, FeatureConfig(bands=bands, extinction="none"))
    mc = ModelConfig(**{**MODEL_SETTINGS["model"], "n_jobs": n_jobs})
    sc = SelectionConfig(**MODEL_SETTINGS["selection"])
    if quick:
        sc = sc.model_copy(update={"n_trials": 3, "n_trials_step": 1, "tune_rows": 3000})
    trv = training_rows(df)
    test = df[df["split"] == "test"]
    result = {"n_stars": len(df), "n_trainval": len(trv), "n_test": len(test), "bands": bands,
              "n_features": feats.shape[1], "n_features_raw": raw.shape[1], "extinction": feats.attrs["extinction"],
              "feature_config": fc.model_dump(mode="json"),
              "selection_config": sc.model_dump(), "model_config": mc.model_dump(), "targets": {}}
    total_pipeline = 0.0
    for t in TARGETS:
        row = {}
        if pipeline:
            row["pipeline"], secs = _pipeline(df, feats, t, fc, mc, sc, seed, n_jobs)
            total_pipeline += secs
        ok = np.isfinite(trv[t].to_numpy(float))
        base = _baselines(feats.loc[trv.index].to_numpy(float)[ok], trv[t].to_numpy(float)[ok],
                          feats.loc[test.index].to_numpy(float), n_jobs, only=peers)
        for name, (p, s) in base.items():
            row[name] = {**regression_metrics(test[t], p), "seconds": s}
        if pipeline:
            p, s = _baselines(raw.loc[trv.index].to_numpy(float)[ok], trv[t].to_numpy(float)[ok],
                              raw.loc[test.index].to_numpy(float), n_jobs, only=["lightgbm_all"])["lightgbm_all"]
            row["lightgbm_all_raw_colours"] = {**regression_metrics(test[t], p), "seconds": s}
        result["targets"][t] = row
        log.info("%s: %s", t, {k: round(v["mae"], 4) for k, v in row.items()})
    result["pipeline_seconds_three_targets"] = total_pipeline
    return result, df, feats


def _pipeline(df, feats, t, fc, mc, sc, seed, n_jobs) -> tuple[dict, float]:
    """The pipeline's selection and final fit on train + val, scored on the test split."""
    trv, test = training_rows(df), df[df["split"] == "test"]
    t0 = time.perf_counter()
    sel = select_target(df, feats, t, mc, sc, seed)
    m = TargetModel(t, "lightgbm", sel.params, sel.n_estimators, mc.objective,
                    feature_config=fc.model_dump(mode="json"), seed=seed, n_jobs=n_jobs,
                    n_models=mc.n_models, network=mc.network()).fit(feats.loc[trv.index, sel.features], trv[t])
    secs = time.perf_counter() - t0
    pred = m.predict(feats.loc[test.index])
    return {**regression_metrics(test[t], pred), "seconds": secs, "n_features": len(sel.features),
            "n_rfe": len(sel.rfe_features), "cv_mae": sel.cv_mae, "timings_s": sel.timings_s,
            "params": sel.params, "n_estimators": sel.n_estimators, "features": sel.features}, secs


def bench_shap(df, feats, n_jobs, n_shap=5000, seed=42) -> dict:
    trv = training_rows(df)
    test = df[df["split"] == "test"]
    y = trv["teff"].to_numpy(float)
    X = feats.loc[trv.index].to_numpy(float)
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(X), min(n_shap, len(X)), replace=False)
    out = {}
    for name, params in (("lightgbm_depth8", {"learning_rate": 0.05, "max_depth": 8, "num_leaves": 127}),
                         ("catboost_depth8", {"learning_rate": 0.08, "depth": 8}),
                         ("lightgbm_unlimited", {"learning_rate": 0.05, "max_depth": -1, "num_leaves": 127})):
        be = get_backend("catboost" if name.startswith("catboost") else "lightgbm")
        t0 = time.perf_counter()
        b, _ = be.fit(X, y, params, 600, seed, n_jobs)
        fit_s = time.perf_counter() - t0
        # unconstrained trees make SHAP very slow (>10 min for 5000 rows here): time 300 rows, scale linearly
        sub = rows[:300] if name == "lightgbm_unlimited" else rows
        t0 = time.perf_counter()
        be.shap(b, X[sub])
        shap_s = (time.perf_counter() - t0) * len(rows) / len(sub)
        mae = regression_metrics(test["teff"], be.predict(b, feats.loc[test.index].to_numpy(float)))["mae"]
        out[name] = {"fit_s": fit_s, "shap_s": shap_s, "shap_rows": len(rows), "shap_rows_timed": len(sub),
                     "test_mae_teff": mae, "trees": 600}
        log.info("SHAP %s: %s", name, out[name])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=None, help="Subsample apogee-xp to this many stars.")
    ap.add_argument("--quick", action="store_true", help="Fewer trials and trees (a smoke run).")
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument("--shap-only", action="store_true", help="Reuse the accuracy part of models.json.")
    ap.add_argument("--network-only", action="store_true",
                    help="Only part (e), the network, on the selection recorded in models.json.")
    ap.add_argument("--ujava-only", action="store_true",
                    help="Only the 18-band run (with XP-synthetic uJAVA); reuse the rest of models.json.")
    ap.add_argument("--a0-only", action="store_true",
                    help="Only part (f), A_0 as a feature; reuse the rest of models.json.")
    ap.add_argument("--a0-peers", action="store_true",
                    help="Add every peer (random forest, XGBoost, kNN, one MLP) to part (f), on its features.")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    t0 = time.perf_counter()
    if args.a0_only:
        rec = json.loads(OUT.read_text())
        rec["apogee_xp_with_a0"] = bench_apogee(args.rows, args.quick, args.n_jobs, peers=("lightgbm_all",),
                                                a0_feature=True)[0]
        write_json(OUT, rec)
        _print_a0(rec)
        return
    if args.a0_peers:
        rec = json.loads(OUT.read_text())
        peers = bench_apogee(args.rows, args.quick, args.n_jobs, a0_feature=True, pipeline=False)[0]
        for t in TARGETS:
            rec["apogee_xp_with_a0"]["targets"][t].update(peers["targets"][t])
        write_json(OUT, rec)
        _print_a0(rec)
        return
    if args.network_only:
        rec = json.loads(OUT.read_text())
        rec["network"] = bench_network(rec["apogee_xp"], args.n_jobs)
        write_json(OUT, rec)
        _print_network(rec["network"])
        return
    if args.ujava_only:
        rec = json.loads(OUT.read_text())
        rec["apogee_xp_with_uJAVA"] = bench_ujava(args.rows, args.quick, args.n_jobs)
        write_json(OUT, rec)
        _print_ujava(rec)
        return
    if args.shap_only:
        from ocfeh.datasets import load_dataset

        acc = json.loads(OUT.read_text())["apogee_xp"]
        df = load_dataset("apogee-xp", seed=42)
        if args.rows and args.rows < len(df):
            df = df.sample(args.rows, random_state=42)
        feats = make_features(df, FeatureConfig(bands=df.attrs["bands"], extinction="auto"))
    else:
        acc, df, feats = bench_apogee(args.rows, args.quick, args.n_jobs)
    write_json(OUT, {"apogee_xp": acc, "partial": "SHAP part not finished",
                     "provenance": provenance({"rows": args.rows, "quick": args.quick}, 42)})
    shap = bench_shap(df, feats, args.n_jobs)
    n_trv = acc["n_trainval"]
    secs = acc["pipeline_seconds_three_targets"]
    # extrapolation: the search and RFECV run on at most tune_rows stars (fixed cost); the final fit and
    # the SHAP subsample scale with N at most linearly. Upper bound: everything linear in N.
    scale = {
        "measured_stars_trainval": n_trv,
        "measured_seconds_three_targets": secs,
        "extrapolated_90k_upper_bound_linear_s": secs * 0.8 * 90000 / n_trv,
        "note": "measured on a shared 2-core machine (load from other jobs); the 90k figure scales the whole "
                "measured time linearly with train+val rows (0.8 x 90k = 72k) and is an upper bound, since the "
                "search and RFECV use at most tune_rows stars; not measured.",
    }
    rec = {"apogee_xp": acc, "timing": scale, "shap": shap,
           "provenance": provenance({"rows": args.rows, "quick": args.quick}, 42)}
    write_json(OUT, rec)
    rec["apogee_xp_with_uJAVA"] = bench_ujava(args.rows, args.quick, args.n_jobs)
    rec["network"] = bench_network(acc, args.n_jobs)
    rec["wall_seconds"] = time.perf_counter() - t0
    write_json(OUT, rec)
    names = ["pipeline", "lightgbm_all", "random_forest", "xgboost", "knn", "mlp", "lightgbm_all_raw_colours"]
    print(f"\napogee-xp blind test (n={acc['n_test']}), MAE  [aim: 50 K, 0.10 dex, 0.07 dex]")
    print(f"{'model':28s}" + "".join(f"{t:>10s}" for t in TARGETS))
    for n in names:
        print(f"{n:28s}" + "".join(f"{acc['targets'][t][n]['mae']:10.4g}" for t in TARGETS))
    print("\nselected features: " + ", ".join(f"{t} {acc['targets'][t]['pipeline']['n_features']}" for t in TARGETS))
    print(f"pipeline time, three targets, {n_trv} train+val stars: {secs:.0f} s; "
          f"linear upper bound at 90k stars: {scale['extrapolated_90k_upper_bound_linear_s']:.0f} s")
    print("\nSHAP (teff, 600 trees):")
    for k, v in shap.items():
        print(f"  {k:20s} fit {v['fit_s']:6.1f} s  SHAP({v['shap_rows']} rows) {v['shap_s']:6.2f} s  "
              f"test MAE {v['test_mae_teff']:.1f} K")
    _print_ujava(rec)
    _print_network(rec["network"])
    print(f"\nwrote {OUT}")


WEIGHTS = (0.3, 0.5, 0.7)


def bench_network(acc: dict, n_jobs: int, seed: int = 42) -> dict:
    """Part (e): trees of the recorded selection, the network on their features, their means, and a
    network on all features; fitted on train + val like part (a), blind-test MAE.

    ``TargetModel(..., network={"weight": w})`` predicts ``(1 - w) * trees + w * network`` with these same
    two fits (``tests/test_network.py``), so the means are computed from one fit of each.
    """
    from ocfeh.datasets import load_dataset
    from ocfeh.train.network import NetworkRegressor

    df = load_dataset("apogee-xp", seed=seed)
    if acc["n_stars"] < len(df):
        df = df.sample(acc["n_stars"], random_state=seed)
    feats = make_features(df, FeatureConfig(**acc["feature_config"]))
    mc = ModelConfig(**acc["model_config"])
    trv, test = training_rows(df), df[df["split"] == "test"]
    out = {"n_models": mc.n_models, "layers": mc.network_layers, "alpha": mc.network_alpha, "weights": WEIGHTS,
           "targets": {}}
    for t in TARGETS:
        sel = acc["targets"][t]["pipeline"]
        ok = np.isfinite(trv[t].to_numpy(float))
        y = trv[t].to_numpy(float)[ok]
        row, preds = {}, {}
        t0 = time.perf_counter()
        trees = TargetModel(t, "lightgbm", sel["params"], sel["n_estimators"], mc.objective, seed=seed, n_jobs=n_jobs,
                            n_models=mc.n_models).fit(feats.loc[trv.index, sel["features"]], trv[t])
        preds["trees"] = trees.predict(feats.loc[test.index, sel["features"]])
        row["trees"] = {"seconds": time.perf_counter() - t0}
        for name, cols in (("network", sel["features"]), ("network_all_features", list(feats.columns))):
            t0 = time.perf_counter()
            net = NetworkRegressor(mc.network_layers, mc.network_alpha, n_models=mc.n_models, seed=seed)
            net.fit(feats.loc[trv.index, cols].to_numpy(float)[ok], y)
            preds[name] = net.predict(feats.loc[test.index, cols].to_numpy(float))
            row[name] = {"seconds": time.perf_counter() - t0, "n_features": len(cols), "epochs": net.n_iter_}
        for w in WEIGHTS:
            preds[f"mean_w{w}"] = (1 - w) * preds["trees"] + w * preds["network"]
            row[f"mean_w{w}"] = {}
        for name, p in preds.items():
            row[name].update(regression_metrics(test[t], p))
        row["recorded_pipeline_mae"] = acc["targets"][t]["pipeline"]["mae"]
        out["targets"][t] = row
        log.info("network %s: %s", t, {k: round(v["mae"], 4) for k, v in row.items() if isinstance(v, dict)})
    return out


def _print_network(net: dict) -> None:
    names = ["trees", "network", "network_all_features"] + [f"mean_w{w}" for w in net["weights"]]
    print(f"\nnetwork ({net['n_models']} seeds, layers {net['layers']}), apogee-xp blind-test MAE "
          f"(trees: part (a)'s selection refitted without the network)")
    for n in names:
        print(f"{n:28s}" + "".join(f"{net['targets'][t][n]['mae']:10.4g}" for t in TARGETS))
    print(f"{'pipeline as in part (a)':28s}" + "".join(f"{net['targets'][t]['recorded_pipeline_mae']:10.4g}" for t in TARGETS))
    from ocfeh.datasets import MODEL_SETTINGS

    print(f"weight adopted by `ocfeh demo --dataset apogee-xp` (chosen on the val split): "
          f"{MODEL_SETTINGS['model']['network_weight']}")


def bench_ujava(rows, quick, n_jobs) -> dict:
    """The pipeline and plain LightGBM with XP-synthetic uJAVA as an 18th band (same stars and split).

    uJAVA has 13.7 % of its throughput below 336 nm, where XP does not reach; it is computed with the
    spectrum continued flat (``max_truncation=0.15``). Not the default: its colours are offset by about
    -0.4 mag from synthetic colours at the labels (J0378 by -0.14 mag), so what a model learns from it may
    not carry over to J-PLUS uJAVA.
    """
    from ocfeh.datasets import load_dataset

    acc, df, _ = bench_apogee(rows, quick, n_jobs, max_truncation=0.15, peers=("lightgbm_all",))
    ref = load_dataset("apogee-xp", seed=42)
    acc["same_test_stars_as_17_bands"] = bool(
        set(ref.loc[ref.split == "test", "source_id"]) == set(df.loc[df.split == "test", "source_id"]))
    return acc


def _print_a0(rec) -> None:
    acc, base, net = rec["apogee_xp_with_a0"], rec["apogee_xp"], rec["network"]
    w = acc["model_config"]["network_weight"]
    print(f"\nwith A_0 as a feature, apogee-xp blind-test MAE (without it in brackets: (e)'s mean at "
          f"weight {w}, (a)'s plain LightGBM)")
    for n, ref in (("pipeline", lambda t: net["targets"][t][f"mean_w{w}"]["mae"]),
                   ("lightgbm_all", lambda t: base["targets"][t]["lightgbm_all"]["mae"])):
        print(f"{n:28s}" + "".join(f"{acc['targets'][t][n]['mae']:10.4g} ({ref(t):.4g})" for t in TARGETS))
    for n in ("random_forest", "xgboost", "knn", "mlp"):  # with --a0-peers; (a) had no MLP
        if n in acc["targets"]["teff"]:
            print(f"{n:28s}" + "".join(
                f"{acc['targets'][t][n]['mae']:10.4g} ({base['targets'][t].get(n, {}).get('mae', np.nan):.4g})"
                for t in TARGETS))
    print("A_0 SHAP rank in the selected set: " + ", ".join(
        f"{t} {acc['targets'][t]['pipeline']['features'].index('A_0') + 1} of "
        f"{acc['targets'][t]['pipeline']['n_features']}" for t in TARGETS))


def _print_ujava(rec) -> None:
    acc, base = rec["apogee_xp_with_uJAVA"], rec["apogee_xp"]
    print(f"\nwith XP-synthetic uJAVA ({len(acc['bands'])} bands), MAE (17 bands in brackets)")
    for n in ("pipeline", "lightgbm_all", "lightgbm_all_raw_colours"):
        print(f"{n:28s}" + "".join(f"{acc['targets'][t][n]['mae']:10.4g} ({base['targets'][t][n]['mae']:.4g})"
                                   for t in TARGETS))


if __name__ == "__main__":
    main()
