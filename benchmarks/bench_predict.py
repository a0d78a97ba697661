"""Benchmark: prediction at survey scale (issue 6).

End-to-end stars per second (read + features + three targets + conformal intervals + OOD score + write)
at 10^6 stars with 17-band models of poster size (1000 trees, 63 leaves, depth 8, ~75 features per
target), peak memory of each mode (max RSS of a separate child process), the ratio to a naive
in-memory baseline measured in the same run, a per-component profile of one chunk, and the
extrapolated time for 5 x 10^6 stars on 2 cores.

Modes
-----
naive      read the whole table, ``TargetModel.predict(table)`` per target (features rebuilt per target,
           float64 DataFrames), intervals and OOD on the full table, one ``to_parquet``.
chunked    ``predict_table`` (200k-star chunks, float32 features built once, plain back-end on arrays,
           capped threads, one Parquet part per chunk, merged).
catboost   ``predict_table`` with CatBoost models of the same features (depth 8, 1000 trees).

Usage: ``python benchmarks/bench_predict.py [--n-stars 1000000] [--n-trees 1000]``; writes
``benchmarks/results/predict.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
N_FEATURES = 75  # per target, near the poster's RFECV counts (62 / 65 / 76)


def _build(work: Path, n_trees: int, n_train: int, seed: int) -> None:
    """Train LightGBM and CatBoost model directories of poster size on toy stars, calibrate them."""
    from ocfeh.bands import BANDS
    from ocfeh.predict import calibrate_model_dir
    from ocfeh.testing import toy_table
    from ocfeh.train.features import FeatureConfig, make_features
    from ocfeh.train.model import StellarParameterModel, TargetModel
    from ocfeh.train.uncertainty import UncertaintyConfig

    bands = list(BANDS)
    fc = {"bands": "all", "extinction": "pivot"}
    s = toy_table(3 * n_train, seed=seed, bands=bands)
    s["split"] = np.array(["train", "val", "test"])[np.arange(len(s)) % 3]
    train = s[s["split"] == "train"]
    X = make_features(train, FeatureConfig(**fc))
    rng = np.random.default_rng(seed)
    params = {"learning_rate": 0.05, "num_leaves": 63, "max_depth": 8, "min_child_samples": 20}
    for backend in ("lightgbm", "catboost"):
        models = {}
        for t in ("teff", "logg", "feh"):
            keep = sorted(rng.choice(X.columns, N_FEATURES, replace=False).tolist(), key=list(X.columns).index)
            p = dict(params, depth=8) if backend == "catboost" else params
            models[t] = TargetModel(t, backend=backend, params=p, n_estimators=n_trees, feature_config=fc,
                                    seed=seed).fit(X[keep], train[t])
        d = work / f"model_{backend}"
        StellarParameterModel(models).save(d)
        calibrate_model_dir(d, s, UncertaintyConfig(), seed=seed)


def _write_input(path: Path, n: int, seed: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ocfeh.bands import BANDS
    from ocfeh.testing import toy_table

    writer = None
    step = 100_000
    for i, start in enumerate(range(0, n, step)):
        t = toy_table(min(step, n - start), seed=seed + 1000 + i, bands=list(BANDS))
        t = t.drop(columns=["teff", "logg", "feh"])
        t["source_id"] += start * 7
        tab = pa.Table.from_pandas(t, preserve_index=False)
        writer = writer or pq.ParquetWriter(path, tab.schema)
        writer.write_table(tab, row_group_size=50_000)
    writer.close()


def _mode_naive(model_dir: Path, src: Path, out: Path) -> None:
    from ocfeh.predict import load_predictor
    from ocfeh.train.model import StellarParameterModel
    from ocfeh.train.uncertainty import interval_columns

    table = pd.read_parquet(src)
    spm = StellarParameterModel.load(model_dir)
    pred = load_predictor(model_dir)
    res = {c: table[c] for c in ("source_id", "ra", "dec") if c in table}
    values = {t: m.predict(table) for t, m in spm.models.items()}  # features rebuilt per target, float64
    feats = pred.build_features(table)
    bins = pred.bins.assign(values)
    for t in values:
        c = pred.conformal[t]
        half = c.half_widths(feats[c.difficulty_.feature_name_], bins)
        res.update(interval_columns(t, values[t], half))
    res["ood_score"] = pred.ood.score(feats[pred.ood.feature_names_in_])
    pd.DataFrame(res).to_parquet(out)


def _mode_chunked(model_dir: Path, src: Path, out: Path, chunk: int) -> None:
    from ocfeh.predict import predict_table

    predict_table(model_dir, src, out, chunk_size=chunk, overwrite=True, resume=False, progress=False)


def _child(args) -> None:
    src, out, model_dir = Path(args.src), Path(args.out), Path(args.model_dir)
    t0 = time.perf_counter()
    if args.mode == "naive":
        _mode_naive(model_dir, src, out)
    else:
        _mode_chunked(model_dir, src, out, args.chunk_size)
    print(json.dumps({"seconds": time.perf_counter() - t0}))


def _run_child(mode: str, model_dir: Path, src: Path, out: Path, chunk: int) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--model-dir", str(model_dir), "--src", str(src),
           "--out", str(out), "--chunk-size", str(chunk)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    stdout = proc.stdout.read()
    if status != 0:
        raise RuntimeError(f"mode {mode} failed with status {status}")
    rec = json.loads(stdout.strip().splitlines()[-1])
    rec["peak_rss_mb"] = usage.ru_maxrss / 1024.0  # Linux: kB
    return rec


def _profile(model_dir: Path, n: int, seed: int) -> dict:
    """Seconds per component for one chunk of ``n`` stars (in this process)."""
    from ocfeh.bands import BANDS
    from ocfeh.predict import load_predictor
    from ocfeh.predict.predictor import predict_fast
    from ocfeh.testing import toy_table

    pred = load_predictor(model_dir)
    t = toy_table(n, seed=seed + 7, bands=list(BANDS))
    out = {}
    t0 = time.perf_counter()
    feats = pred.build_features(t)
    out["features (float32, needed only)"] = time.perf_counter() - t0
    for tg in pred.targets:
        X = np.ascontiguousarray(feats[pred.features[tg]].to_numpy())
        t0 = time.perf_counter()
        predict_fast(pred.models[tg], X, pred.n_threads)
        out[f"model {tg}"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for tg in pred.targets:
        c = pred.conformal[tg]
        c.half_widths(feats[c.difficulty_features_])
    out["intervals (3 difficulty models)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred.ood.score(feats[pred.ood.feature_names_in_])
    out["OOD kNN score"] = time.perf_counter() - t0
    # float32 versus float64 features: fraction of stars whose prediction moves by > 1e-6
    from dataclasses import replace

    X64 = replace(pred, float32=False).build_features(t, pred.features["feh"])
    p64 = pred.models["feh"].predict(X64)
    p32 = predict_fast(pred.models["feh"], np.ascontiguousarray(feats[pred.features["feh"]].to_numpy()), 2)
    out["_float32_vs_float64_changed_fraction"] = float(np.mean(np.abs(p64 - p32) > 1e-6))
    out["_float32_vs_float64_max_abs_dex"] = float(np.max(np.abs(p64 - p32)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-stars", type=int, default=1_000_000)
    ap.add_argument("--n-trees", type=int, default=1000)
    ap.add_argument("--n-train", type=int, default=20_000)
    ap.add_argument("--chunk-size", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--modes", default="naive,chunked,catboost")
    ap.add_argument("--work", default=None, help="Working directory (default: a temporary one).")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--src", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.mode = args.child
        return _child(args)

    from rich.console import Console
    from rich.table import Table

    from ocfeh.provenance import provenance, write_json

    tmp = tempfile.TemporaryDirectory(prefix="ocfeh-bench-")
    work = Path(args.work or tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    timings: dict = {}
    t0 = time.perf_counter()
    if not (work / "model_catboost" / "calibration.json").is_file():
        _build(work, args.n_trees, args.n_train, args.seed)
    timings["build_models_s"] = time.perf_counter() - t0
    src = work / f"stars_{args.n_stars}.parquet"
    if not src.is_file():
        _write_input(src, args.n_stars, args.seed)
    runs = {}
    for mode in args.modes.split(","):
        model_dir = work / ("model_catboost" if mode == "catboost" else "model_lightgbm")
        rec = _run_child("naive" if mode == "naive" else "chunked", model_dir, src, work / f"out_{mode}.parquet",
                         args.chunk_size)
        rec["stars_per_s"] = args.n_stars / rec["seconds"]
        rec["extrapolated_5e6_min"] = 5e6 / rec["stars_per_s"] / 60.0
        runs[mode] = rec
    if "naive" in runs and "chunked" in runs:
        a = pd.read_parquet(work / "out_naive.parquet", columns=["feh", "feh_err"])
        b = pd.read_parquet(work / "out_chunked.parquet", columns=["feh", "feh_err"])
        timings["chunked_vs_naive_max_abs_feh"] = float(np.nanmax(np.abs(a["feh"] - b["feh"])))
    profile = {be: _profile(work / f"model_{be}", args.chunk_size, args.seed) for be in ("lightgbm", "catboost")}

    console = Console()
    tab = Table("mode", "seconds", "stars/s", "peak RSS [MB]", "x naive", "5e6 stars [min]",
                title=f"predict: {args.n_stars:,} stars, {args.n_trees} trees x 63 leaves, {N_FEATURES} features/target")
    base = runs.get("naive", {}).get("seconds")
    for mode, r in runs.items():
        tab.add_row(mode, f"{r['seconds']:.1f}", f"{r['stars_per_s']:,.0f}", f"{r['peak_rss_mb']:.0f}",
                    f"{base / r['seconds']:.2f}" if base else "-", f"{r['extrapolated_5e6_min']:.1f}")
    console.print(tab)
    ptab = Table("component", *profile, title=f"one chunk of {args.chunk_size:,} stars [s]")
    for k in profile["lightgbm"]:
        ptab.add_row(k, *(f"{profile[be][k]:.3g}" for be in profile))
    console.print(ptab)
    write_json(HERE / "results" / "predict.json", {
        "benchmark": "predict", "n_stars": args.n_stars, "n_trees": args.n_trees, "num_leaves": 63,
        "features_per_target": N_FEATURES, "chunk_size": args.chunk_size, "runs": runs,
        "profile_one_chunk_s": profile, "timings": timings,
        "target": {"5e6_stars_minutes": 15, "peak_memory_gb": 4},
        "provenance": provenance(vars(args), args.seed),
    })
    tmp.cleanup()


if __name__ == "__main__":
    main()
