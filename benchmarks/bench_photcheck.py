"""The photometric check: one band off by a wrong zero point or aperture, seen and named at predict time.

On a finished run (default: the default-profile ``ocfeh demo`` of the mock sky), with the check fitted as
the train stage fits it (the sample's train rows; threshold and scatter on its validation rows):

- the false-flag rate on the clean blind-test stars (the target: at most 2%);
- each band shifted by 0.1, 0.3, 0.5, 1 and 2 mag on every blind-test star: the share flagged, the share
  with that very band named, the median offset reported, the share the whole predictor flags as out of
  distribution (``ood_flag``: the kNN score or the check) and whether the table-level warning names the band;
- the clean catalogue (the mock sky's own photometry, no shift): the share flagged by model, by G magnitude
  and within or beyond the training range, and whether any table-level warning fires;
- the check's cost per star beside the whole prediction's.

Usage: python benchmarks/bench_photcheck.py [--run-dir RUN] [--catalogue-rows 20000]
Writes benchmarks/results/photcheck.json.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import write_record

SHIFTS = (0.1, 0.3, 0.5, 1.0, 2.0)
G_BINS = [0, 15, 16, 17, 18, 19, 30]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", type=Path, default=Path("runs/demo"), help="a finished default-profile run")
    ap.add_argument("--catalogue-rows", type=int, default=20000, help="catalogue stars checked (a random sample)")
    args = ap.parse_args()
    import ocfeh
    from ocfeh.train.photcheck import fit_phot_check

    run = args.run_dir
    sample = pd.read_parquet(run / "sample.parquet")
    model = ocfeh.load_model(run / "model")
    bands = list(model.gaps.bands) if model.gaps is not None else model.bands
    t0 = time.perf_counter()
    check = fit_phot_check(sample, bands, seed=42)
    fit_s = time.perf_counter() - t0
    model.phot = check  # the predictor as the train stage of this commit makes it
    test = sample[sample["split"] == "test"].reset_index(drop=True)
    clean = check.check(test)
    out: dict = {"run": str(run), "n_test": len(test), "n_calibration": check.n_calib_,
                 "threshold_sigma": check.threshold_, "floor_mag": check.floor_, "fit_seconds": round(fit_s, 1),
                 "clean_test": {"flagged": float(clean["flag"].mean()),
                                "systematic_warning": check.systematic(test)}}
    shifted: dict = {}
    for band in bands:
        rows = {}
        for d in SHIFTS:
            moved = test.assign(**{f"mag_{band}": test[f"mag_{band}"] + d})
            c = check.check(moved)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pred = model.predict(moved)
            named = c["band"] == band
            warn = check.systematic(moved)
            rows[str(d)] = {"flagged": float(c["flag"].mean()), "named": float(named.mean()),
                            "median_offset": float(np.median(c["offset"][named])) if named.any() else None,
                            "ood_flag": float(pred["ood_flag"].mean()),
                            "table_warning_names_band": bool(warn and warn[0].startswith(f"band {band}:"))}
        shifted[band] = rows
        print(band, {d: (r["flagged"], r["named"]) for d, r in rows.items()}, flush=True)
    out["shifted_test"] = shifted
    out["catalogue"] = _catalogue(run, model, check, args.catalogue_rows)
    write_record("photcheck.json", out)


def _catalogue(run: Path, model, check, n: int) -> dict:
    import pyarrow.dataset as ds

    path = run / "catalog.parquet" if (run / "catalog.parquet").is_file() else run / "catalog"
    cat = ds.dataset(path, format="parquet").to_table().to_pandas()
    cat = cat.sample(min(n, len(cat)), random_state=0).reset_index(drop=True)
    t0 = time.perf_counter()
    c = check.check(cat)
    check_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = model.predict(cat)
    predict_s = time.perf_counter() - t0
    done = (pred["reason"] == "").to_numpy()
    flag = c["flag"] & done
    g = cat["mag_G"].to_numpy()
    by_g = {}
    for lo, hi in zip(G_BINS[:-1], G_BINS[1:]):
        sel = done & (g >= lo) & (g < hi)
        by_g[f"{lo}-{hi}"] = {"n": int(sel.sum()), "flagged": float(flag[sel].mean()) if sel.any() else None}
    err = np.abs(pred["feh"].to_numpy() - cat["feh_true"].to_numpy()) if "feh_true" in cat else None
    return {
        "n": len(cat), "n_predicted": int(done.sum()), "flagged": float(flag[done].mean()),
        "by_model": {m: float(flag[done & (pred["model"] == m).to_numpy()].mean())
                     for m in ("full", "pattern", "gaps") if (done & (pred["model"] == m).to_numpy()).any()},
        "within_training_range": float(flag[done & ~pred["beyond_training"].to_numpy()].mean()),
        "beyond_training_range": float(flag[done & pred["beyond_training"].to_numpy()].mean()),
        "by_G": by_g,
        "bands_named": pd.Series(c["band"][flag]).value_counts().head(6).to_dict(),
        "feh_abs_error_median": None if err is None else {
            "flagged": float(np.nanmedian(err[flag])), "not_flagged": float(np.nanmedian(err[done & ~flag]))},
        "table_warning": check.systematic(cat),
        "seconds_per_1e4_stars": {"check": round(check_s / len(cat) * 1e4, 3),
                                  "whole_prediction": round(predict_s / len(cat) * 1e4, 3)},
    }


if __name__ == "__main__":
    main()
