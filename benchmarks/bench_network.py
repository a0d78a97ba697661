"""Benchmark: variants of the network (``ocfeh.network``) on real stars, and where its errors lie (issue 5).

On apogee-xp (the split and the trees' selected features of ``bench_models.py`` part (a), read from
models.json), each variant is fitted on the train split and scored on the val split, which makes the
choice; the test MAE is printed beside it for the record only. Variants: the defaults (256-256-128,
L2 1e-4, Adam at 1e-3, batch 256, 3 seeds), a lower learning rate, stronger L2, wider, deeper, a
smaller batch, 6 seeds, one network for all three labels on the union of their features, and the
adopted A_0 as one more input. Then the defaults' val + test residuals in bins of A_0 and G.

Usage::

    python benchmarks/bench_network.py [--variants "defaults,A_0 as an input",...] [--n-jobs 1]

Writes benchmarks/results/network.json and prints two tables. About 7 minutes per variant on one thread
(the wide one longer), about 75 for all ten.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ocfeh.features import FeatureConfig, make_features
from ocfeh.provenance import provenance, write_json

RESULTS = Path(__file__).parent / "results"
OUT = RESULTS / "network.json"
TARGETS = ("teff", "logg", "feh")
VARIANTS: dict[str, dict] = {
    "defaults": {},
    "learning rate 3e-4": {"lr": 3e-4},
    "L2 1e-3": {"alpha": 1e-3},
    "L2 1e-2": {"alpha": 1e-2},
    "512-512-256": {"layers": (512, 512, 256)},
    "256-256-256-128": {"layers": (256, 256, 256, 128)},
    "batch 64": {"batch": 64},
    "6 seeds": {"seeds": 6},
    "one network for three labels": {"multi": True},
    "A_0 as an input": {"extra": ["a0"]},
}
log = logging.getLogger("bench_network")


def _inputs(df: pd.DataFrame, feats: pd.DataFrame, cols: list[str], train: np.ndarray,
            extra=()) -> np.ndarray:
    """Features (plus ``extra`` table columns), NaN filled with the train median, standardised on train."""
    X = pd.concat([feats[cols], df[list(extra)]], axis=1).to_numpy(float)
    fill = np.nanmedian(X[train], axis=0)
    X = np.where(np.isnan(X), fill, X)
    return (X - X[train].mean(axis=0)) / X[train].std(axis=0)


def _fit(Z, Y, train, seeds=3, layers=(256, 256, 128), alpha=1e-4, lr=1e-3, batch=256):
    """Mean prediction of ``seeds`` MLPs (the settings of ``ocfeh.network.NetworkRegressor`` unless
    given) fitted on the train rows with finite labels; ``Y`` may hold several labels (columns)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    Yt = Y[train]
    ok = np.isfinite(Yt).all(axis=1)
    m, s = Yt[ok].mean(axis=0), Yt[ok].std(axis=0)
    out, epochs = 0.0, []
    for k in range(seeds):
        net = MLPRegressor(hidden_layer_sizes=layers, alpha=alpha, batch_size=batch, learning_rate_init=lr,
                           max_iter=400, early_stopping=True, validation_fraction=0.1, n_iter_no_change=25,
                           random_state=42 + k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            net.fit(Z[train][ok], ((Yt[ok] - m) / s).squeeze())
        out = out + net.predict(Z).reshape(len(Z), -1)
        epochs.append(int(net.n_iter_))
    return out / seeds * s + m, epochs


def _mae(pred, y, rows) -> float:
    ok = rows & np.isfinite(y)
    return float(np.abs(pred[ok] - y[ok]).mean())


def run_variant(spec: dict, df, feats, selected: dict[str, list[str]]) -> tuple[dict, dict]:
    """One variant's record (val and test MAE per target, epochs, seconds) and its predictions."""
    spec = dict(spec)
    extra, multi = spec.pop("extra", ()), spec.pop("multi", False)
    split = df["split"].to_numpy()
    train, val, test = split == "train", split == "val", split == "test"
    Y = df[list(TARGETS)].to_numpy(float)
    row: dict = {}
    t0 = time.perf_counter()
    if multi:
        union = sorted(set().union(*selected.values()))
        P, epochs = _fit(_inputs(df, feats, union, train), Y, train, **spec)
        preds = {t: P[:, j] for j, t in enumerate(TARGETS)}
        row["n_features"] = len(union)
    else:
        preds, epochs = {}, {}
        for j, t in enumerate(TARGETS):
            P, epochs[t] = _fit(_inputs(df, feats, selected[t], train, extra), Y[:, [j]], train, **spec)
            preds[t] = P[:, 0]
    for j, t in enumerate(TARGETS):
        row[t] = {"val_mae": _mae(preds[t], Y[:, j], val), "test_mae": _mae(preds[t], Y[:, j], test)}
    row["epochs"], row["seconds"] = epochs, time.perf_counter() - t0
    return row, preds


def residual_bins(df, preds) -> dict:
    """The val + test MAE of ``preds`` in bins of A_0 and G (the stars the network never trained on)."""
    held = df["split"].to_numpy() != "train"
    out = {}
    for col, edges in (("a0", [0, 0.2, 0.5, 1, 2, 3, 5, 25]), ("mag_G", [6, 11, 12, 13, 14, 15, 16, 17.5])):
        b = pd.cut(df[col], edges).to_numpy()
        rows = []
        for cat in pd.unique(b[held & pd.notna(b)]):
            sel = held & (b == cat)
            rows.append({"bin": str(cat), "lo": float(cat.left), "n": int(sel.sum()),
                         **{t: _mae(preds[t], df[t].to_numpy(float), sel) for t in TARGETS}})
        out[col] = sorted(rows, key=lambda r: r["lo"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default=",".join(VARIANTS), help="Comma-separated names of VARIANTS.")
    ap.add_argument("--n-jobs", type=int, default=1, help="BLAS threads.")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from threadpoolctl import threadpool_limits

    from ocfeh.datasets import load_dataset

    names = [v.strip() for v in args.variants.split(",")]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    acc = json.loads((RESULTS / "models.json").read_text())["apogee_xp"]
    df = load_dataset("apogee-xp", seed=42)
    feats = make_features(df, FeatureConfig(**acc["feature_config"]))
    selected = {t: acc["targets"][t]["pipeline"]["features"] for t in TARGETS}
    t0 = time.perf_counter()
    rec = {"n_train": int((df.split == "train").sum()), "n_val": int((df.split == "val").sum()),
           "n_test": int((df.split == "test").sum()), "variants": {}}
    for name in names:
        with threadpool_limits(args.n_jobs):
            rec["variants"][name], preds = run_variant(VARIANTS[name], df, feats, selected)
        log.info("%s: %s", name, rec["variants"][name])
        if name == "defaults":
            rec["residual_bins"] = residual_bins(df, preds)
    rec["wall_seconds"] = time.perf_counter() - t0
    rec["provenance"] = provenance({"variants": names, "n_jobs": args.n_jobs}, 42)
    write_json(OUT, rec)
    _print(rec)


def _print(rec: dict) -> None:
    print(f"\nnetwork variants, apogee-xp: fitted on {rec['n_train']} train stars, MAE on val "
          f"({rec['n_val']}) [test ({rec['n_test']}) for the record]")
    print(f"{'variant':28s}" + "".join(f"{t + ' val, %, [test]':>26s}" for t in TARGETS) + f"{'s':>7s}")
    base = rec["variants"].get("defaults")
    for name, r in rec["variants"].items():
        rel = {t: f" {100 * (r[t]['val_mae'] / base[t]['val_mae'] - 1):+4.0f}%" if base else "      "
               for t in TARGETS}
        cells = "".join(f"{r[t]['val_mae']:10.4g}{rel[t]} [{r[t]['test_mae']:6.4g}]" for t in TARGETS)
        print(f"{name:28s}{cells}{r['seconds']:7.0f}")
    for col, rows in rec.get("residual_bins", {}).items():
        print(f"\nthe defaults, val + test MAE by {col}")
        print(f"{'bin':14s}{'n':>6s}" + "".join(f"{t:>9s}" for t in TARGETS))
        for r in rows:
            print(f"{r['bin']:14s}{r['n']:6d}" + "".join(f"{r[t]:9.4g}" for t in TARGETS))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
