"""Benchmark: how much of the full Gaia XP spectrum's information do the 12 synthetic bands carry? (issue 5)

The apogee-xp stars' J-PLUS magnitudes are synthesised from their Gaia XP spectra, so the spectrum
itself bounds what any set of bands made from it can give. One plain LightGBM per target (the
parameters of ``bench_levers.py``: learning rate 0.05, 63 leaves, depth 8, early stopping on the val
split, fitted on the train split), the same split, blind-test MAE against the APOGEE labels, on:

- ``colours``: the pipeline's features (de-reddened colours of the 12 J-PLUS, 3 Gaia and 3 2MASS
  bands and three-band curvatures, ``MODEL_SETTINGS``);
- ``xp_pca``: the first ``--n-pca`` principal components of log10 of the XP spectrum (343 samples,
  336-1020 nm, each divided by its median: the shape), fitted on the train split, plus A_0;
- ``xp_pca+colours`` and ``xp+colours`` (all 343 samples instead of the components).

If the spectrum with the colours beside it gains little on the colours alone, the bands already carry
what this learner can take from XP, and the aim of 50 K / 0.10 / 0.07 dex is beyond the data (no
parallaxes here), not beyond the pipeline.

Usage::

    python benchmarks/bench_xp_ceiling.py [--n-pca 40] [--n-jobs 2]

Writes benchmarks/results/xp_ceiling.json (machine, versions, timings) and prints a table.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from bench_levers import BASE, _fit

from ocfeh.evaluate import regression_metrics
from ocfeh.provenance import provenance, write_json
from ocfeh.train.features import FeatureConfig, make_features

OUT = Path(__file__).parent / "results" / "xp_ceiling.json"
TARGETS = ("teff", "logg", "feh")
log = logging.getLogger("bench_xp_ceiling")


def xp_log_flux(df: pd.DataFrame) -> np.ndarray:
    """log10 of the XP spectrum shape (flux / median flux) of each star of the apogee-xp table, in order.

    The rows of the source table are found by APOGEE id and S/N (APOGEE repeats some stars).
    """
    from astropy.io import fits

    from ocfeh.datafiles import data_path

    with fits.open(data_path("apogee-xp"), memmap=False) as hdul:
        data = hdul[1].data
        ids = np.char.strip(np.asarray(data["apogee_id"]).astype(str))
        snr = np.asarray(data["snr"]).astype("<f8")
        flux = np.asarray(data["flux"], dtype="<f8")
    key = pd.Series(np.arange(len(ids)), index=[f"{a}|{b:.3f}" for a, b in zip(ids, snr)])
    key = key[~key.index.duplicated()]
    want = [f"{a}|{b:.3f}" for a, b in zip(df["apogee_id"].astype(str).str.strip(), df["snr"].astype(float))]
    rows = key.reindex(want)
    if rows.isna().any():
        raise SystemExit(f"{int(rows.isna().sum())} apogee-xp stars not found in the XP table")
    return np.log10(np.clip(flux[rows.to_numpy(int)], 1e-4, None))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-pca", type=int, default=40, help="Principal components of the XP spectrum.")
    ap.add_argument("--n-jobs", type=int, default=2)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from sklearn.decomposition import PCA

    from ocfeh.datasets import MODEL_SETTINGS, load_dataset

    t0 = time.perf_counter()
    df = load_dataset("apogee-xp", seed=42).reset_index(drop=True)
    split = df["split"].to_numpy()
    colours = make_features(df, FeatureConfig(bands=df.attrs["bands"], **MODEL_SETTINGS["features"]))
    xp = xp_log_flux(df)
    pca = PCA(args.n_pca, random_state=0).fit(xp[split == "train"])
    comps = pd.DataFrame(pca.transform(xp), columns=[f"xp_pc{i}" for i in range(args.n_pca)])
    samples = pd.DataFrame(xp, columns=[f"xp{i}" for i in range(xp.shape[1])])
    a0 = df[["a0"]]
    sets = {"colours": colours, "xp_pca": pd.concat([comps, a0], axis=1),
            "xp_pca+colours": pd.concat([comps, a0, colours], axis=1),
            "xp+colours": pd.concat([samples, a0, colours], axis=1)}
    params = {**BASE, "num_threads": args.n_jobs}
    test = split == "test"
    results = {}
    for name, X in sets.items():
        rows = {}
        for t in TARGETS:
            y = df[t].to_numpy(float)
            ok = np.isfinite(y)
            t1 = time.perf_counter()
            booster = _fit(X[ok].to_numpy(float), y[ok], split[ok], params)
            pred = booster.predict(X.to_numpy(float)[test & ok])
            rows[t] = {**regression_metrics(y[test & ok], pred), "seconds": time.perf_counter() - t1,
                       "n_trees": booster.best_iteration}
            log.info("%s %s: MAE %.4g (%d features, %.0f s)", name, t, rows[t]["mae"], X.shape[1], rows[t]["seconds"])
        results[name] = {"n_features": X.shape[1], "targets": rows}
    out = {"n_stars": len(df), "n_train": int((split == "train").sum()), "n_test": int(test.sum()),
           "n_pca": args.n_pca, "pca_explained_variance": float(pca.explained_variance_ratio_.sum()),
           "base_params": params, "results": results, "seconds": time.perf_counter() - t0,
           "provenance": provenance({"n_pca": args.n_pca, "n_jobs": args.n_jobs}, 42)}
    write_json(OUT, out)
    print(f"\napogee-xp blind test ({out['n_test']} stars), plain LightGBM, MAE (Teff K, log g dex, [Fe/H] dex):")
    print(f"  {'features':16s} {'n':>4s} {'Teff':>7s} {'log g':>7s} {'[Fe/H]':>7s}  {'ratio to colours':>24s}")
    base = results["colours"]["targets"]
    for name, r in results.items():
        m = [r["targets"][t]["mae"] for t in TARGETS]
        ratio = " / ".join(f"{r['targets'][t]['mae'] / base[t]['mae']:.3f}" for t in TARGETS)
        print(f"  {name:16s} {r['n_features']:4d} {m[0]:7.1f} {m[1]:7.4f} {m[2]:7.4f}  {ratio:>24s}")
    print(f"\nwrote {OUT} in {out['seconds']:.0f} s")


if __name__ == "__main__":
    main()
