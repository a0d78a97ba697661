"""Benchmark: variants of the network (``ocfeh.train.network``) on real stars, and where its errors lie (issue 5).

On apogee-xp (the split and the trees' selected features of ``bench_models.py`` part (a), read from
models.json), each variant is fitted on the train split and scored on the val split, which makes the
choice; the test MAE is printed beside it for the record only. Every variant is
``ocfeh.train.network.NetworkRegressor``: the defaults (its own: 256-256-128, L2 1e-4, Adam at 1e-3, batch 256;
3 seeds), a lower learning rate, stronger L2, wider, deeper, a
smaller batch, 6 seeds, one network for all three labels on the union of their features, and the
adopted A_0 as one more input. Then the defaults' val + test residuals in bins of A_0, G, Teff and log g.

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
from pathlib import Path

import numpy as np
import pandas as pd

from ocfeh.provenance import provenance, write_json
from ocfeh.train.features import FeatureConfig, make_features

RESULTS = Path(__file__).parent / "results"
OUT = RESULTS / "network.json"
TARGETS = ("teff", "logg", "feh")
VARIANTS: dict[str, dict] = {
    "defaults": {},
    "learning rate 3e-4": {"learning_rate": 3e-4},
    "L2 1e-3": {"alpha": 1e-3},
    "L2 1e-2": {"alpha": 1e-2},
    "512-512-256": {"layers": (512, 512, 256)},
    "256-256-256-128": {"layers": (256, 256, 256, 128)},
    "batch 64": {"batch_size": 64},
    "6 seeds": {"seeds": 6},
    "one network for three labels": {"multi": True},
    "A_0 as an input": {"extra": ["a0"]},
}
log = logging.getLogger("bench_network")


def _inputs(df: pd.DataFrame, feats: pd.DataFrame, cols: list[str], extra=()) -> np.ndarray:
    """Features plus ``extra`` table columns (the network fills NaN and standardises on its training rows)."""
    return pd.concat([feats[cols], df[list(extra)]], axis=1).to_numpy(float)


def _fit(X, Y, train, seeds=3, **settings):
    """``ocfeh.train.network.NetworkRegressor`` with ``seeds`` networks (its defaults unless ``settings`` say
    otherwise: ``layers``, ``alpha``, ``learning_rate``, ``batch_size``) fitted on the train rows; ``Y`` may
    hold several labels (columns). Returns the (n, k) predictions and the epochs of each network."""
    from ocfeh.train.network import NetworkRegressor

    y = Y[train] if Y.shape[1] > 1 else Y[train, 0]
    net = NetworkRegressor(n_models=seeds, seed=42, **settings).fit(X[train], y)
    return net.predict(X).reshape(len(X), -1), net.n_iter_


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
        P, epochs = _fit(_inputs(df, feats, union), Y, train, **spec)
        preds = {t: P[:, j] for j, t in enumerate(TARGETS)}
        row["n_features"] = len(union)
    else:
        preds, epochs = {}, {}
        for j, t in enumerate(TARGETS):
            P, epochs[t] = _fit(_inputs(df, feats, selected[t], extra), Y[:, [j]], train, **spec)
            preds[t] = P[:, 0]
    for j, t in enumerate(TARGETS):
        row[t] = {"val_mae": _mae(preds[t], Y[:, j], val), "test_mae": _mae(preds[t], Y[:, j], test)}
    row["epochs"], row["seconds"] = epochs, time.perf_counter() - t0
    return row, preds


def residual_bins(df, preds) -> dict:
    """The val + test MAE of ``preds`` in bins of A_0, G and the Teff and log g labels (the stars the network
    never trained on), with the median Teff, log g and A_0 of each bin."""
    held = df["split"].to_numpy() != "train"
    out = {}
    for col, edges in (("a0", [0, 0.2, 0.5, 1, 2, 3, 5, 25]), ("mag_G", [6, 11, 12, 13, 14, 15, 16, 17.5]),
                       ("teff", [3000, 4000, 4500, 5000, 5500, 6000, 6500, 8000]),
                       ("logg", [-1, 1, 2, 3, 3.5, 4, 4.5, 6])):
        b = pd.cut(df[col], edges).to_numpy()
        rows = []
        for cat in pd.unique(b[held & pd.notna(b)]):
            sel = held & (b == cat)
            rows.append({"bin": str(cat), "lo": float(cat.left), "n": int(sel.sum()),
                         **{t: _mae(preds[t], df[t].to_numpy(float), sel) for t in TARGETS},
                         **{f"median_{c}": float(df.loc[sel, c].median()) for c in ("teff", "logg", "a0")}})
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
        med = ("median_teff", "median_logg", "median_a0")
        print(f"{'bin':14s}{'n':>6s}" + "".join(f"{t:>9s}" for t in TARGETS) + "".join(f"{c:>13s}" for c in med))
        for r in rows:
            print(f"{r['bin']:14s}{r['n']:6d}" + "".join(f"{r[t]:9.4g}" for t in TARGETS)
                  + "".join(f"{r[c]:13.4g}" for c in med))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
