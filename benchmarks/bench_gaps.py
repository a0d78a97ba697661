"""Stars that miss inputs: how many get a prediction, and how good it is, per missing pattern.

On a finished run (default: a fresh ``ocfeh demo`` of the default profile, the mock sky):

- coverage of the catalogue: the fraction of stars predicted by the main model alone (complete stars,
  what every release before the gap model gave) and with the gap model, among all stars and among the
  stars with at least ``min_bands`` bands;
- per missing pattern (the ``--patterns`` most common of the catalogue): the blind-test MAE and 68%
  coverage of (b) the gap model (one model, inputs masked at random in training) on the test rows masked
  to the pattern, against (a) a model trained on that pattern alone (the train rows masked alike, same
  hyper-parameters), and the main model's MAE on the complete test rows;
- A_0 from the map against GSP-Phot's, both against the truth (mock sky);
- the catalogue's own MAE and 68% coverage against the truth, by model and G magnitude, and within or
  beyond the G range of the validation/test stars (``beyond_training``): what the shift from the bright
  training sample to the faint catalogue costs.

Usage: python benchmarks/bench_gaps.py [--run-dir RUN] [--patterns 8]
Writes benchmarks/results/gaps.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import write_record

TARGETS = ("teff", "logg", "feh")
G_BINS = [0, 15, 16, 17, 18, 19, 30]


def _catalogue(run: Path, columns: list[str]) -> pd.DataFrame:
    import pyarrow.dataset as ds

    path = run / "catalog.parquet" if (run / "catalog.parquet").is_file() else run / "catalog"
    dataset = ds.dataset(path, format="parquet", partitioning="hive" if path.is_dir() else None)
    return dataset.to_table(columns=[c for c in columns if c in dataset.schema.names]).to_pandas()


def _maes(values: dict, truth: pd.DataFrame) -> dict:
    return {t: float(np.nanmean(np.abs(values[t] - truth[t].to_numpy(float)))) for t in TARGETS}


def _pattern_model(gaps, sample: pd.DataFrame, key: str, seed: int):
    """The run's own model of pattern ``key``, else one trained here as the train stage would."""
    from ocfeh.train import FeatureConfig, ModelConfig
    from ocfeh.train.gaps import train_gap_models

    if key in gaps.patterns:
        return gaps.patterns[key]
    g = next(iter(gaps.model.models.values()))
    fcfg = FeatureConfig(**g.feature_config)
    results = {t: argparse.Namespace(params=m.params, n_estimators=m.n_estimators)
               for t, m in gaps.model.models.items()}
    _, own = train_gap_models(sample, fcfg, ModelConfig(n_jobs=2, gap_copies=1), results, seed, patterns=[key])
    return own[key]


def stats_cover(gaps, key: str, masked: pd.DataFrame) -> dict:
    """68% coverage on ``masked`` of the model that serves ``key`` in the run (its own, or the gap model)."""
    q = gaps.pattern(key)
    values = gaps.point(masked, key)
    return {t: float(np.mean(np.abs(values[t] - masked[t].to_numpy(float)) <= q[t][0.68])) for t in TARGETS}


def measure(run: Path, n_patterns: int, seed: int = 42) -> dict:
    from ocfeh.predict import load_predictor
    from ocfeh.predict.gaps import MIN_BANDS, GapModel
    from ocfeh.sample import map_a0
    from ocfeh.train.gaps import galactic_latitude, mask_to_pattern

    pred = load_predictor(run / "model")
    gaps = pred.gaps
    if gaps is None:
        raise SystemExit(f"{run}/model has no gap model (model/gaps/): retrain with [model] gap_model = true")
    sample = pd.read_parquet(run / "sample.parquet")
    test = sample[sample["split"] == "test"]
    cols = list(dict.fromkeys(pred.required_columns + gaps.input_columns + ["mag_BP", "mag_RP", "a0_true"]
                              + [f"{t}_true" for t in TARGETS]))
    cat = _catalogue(run, cols)
    preds = pd.read_parquet(run / "predictions.parquet",
                            columns=["model", "missing", *TARGETS, *(f"{t}_{e}" for t in TARGETS for e in ("lo68", "hi68"))])
    _, miss, keys, has_a0 = gaps.fill(cat)
    n_bands = (~miss).sum(axis=1)
    eligible = (n_bands >= MIN_BANDS) & has_a0
    model = preds["model"].to_numpy()
    coverage = {
        "n_catalogue": len(cat), "min_bands": MIN_BANDS, "n_with_min_bands": int(eligible.sum()),
        "main_model_only": {"all": float((model == "full").mean()),
                            "with_min_bands": float((model == "full")[eligible].mean())},
        "with_gap_model": {"all": float((model != "").mean()), "with_min_bands": float((model != "")[eligible].mean())},
        "no_a0_source": int((~has_a0).sum()), "below_min_bands": int((n_bands < MIN_BANDS).sum()),
    }
    counts = pd.Series(keys[eligible & (keys != "")]).value_counts()
    patterns = []
    for key, n in counts.head(n_patterns).items():
        t0 = time.perf_counter()
        masked = mask_to_pattern(test, key)
        values = gaps.point(masked)  # the gap model itself
        plain = GapModel(gaps.model, gaps.bands, gaps.reference)
        q = plain.pattern(key)
        cover = {t: float(np.mean(np.abs(values[t] - masked[t].to_numpy(float)) <= q[t][0.68])) for t in TARGETS}
        own = _pattern_model(gaps, sample, key, seed)
        alone = {t: np.asarray(m.predict(masked), float) for t, m in own.models.items()}
        patterns.append({"pattern": key, "n_catalogue": int(n), "fraction_of_catalogue": float(n / len(cat)),
                         "in_run": key in gaps.patterns, "n_test": len(masked),
                         "gap_model_mae": _maes(values, masked), "gap_model_coverage_68": cover,
                         "pattern_model_mae": _maes(alone, masked),
                         "pattern_model_features": len(own.models["feh"].feature_names_in_),
                         "served_by_coverage_68": stats_cover(gaps, key, masked),
                         "seconds": round(time.perf_counter() - t0, 1)})
        print(f"  {key:40s} {n:8d}  feh MAE gap {patterns[-1]['gap_model_mae']['feh']:.3f}"
              f"  pattern {patterns[-1]['pattern_model_mae']['feh']:.3f}", flush=True)
    main = _maes(pred.point(test), test)
    out = {"run": str(run), "coverage": coverage, "main_model_mae_complete_test": main, "patterns": patterns}
    if "a0_true" in cat and {"ebv", "ra", "dec"} <= set(cat):
        both = cat["a0"].notna() & cat["distance_pc"].gt(0) & cat["ebv"].notna()
        c = cat[both]
        a_map = map_a0(c["ebv"], galactic_latitude(c["ra"], c["dec"]), c["distance_pc"])
        out["a0"] = {"n": int(both.sum()),
                     "map_median_abs_error": float(np.median(np.abs(a_map - c["a0_true"]))),
                     "gspphot_median_abs_error": float(np.median(np.abs(c["a0"] - c["a0_true"]))),
                     "note": "the mock sky's dust is an exponential layer like the map's scaling: an optimistic case"}
    if all(f"{t}_true" in cat for t in TARGETS):
        g = pd.cut(cat["mag_G"], G_BINS)
        rows = []
        for (gbin, m), idx in pd.DataFrame({"g": g, "m": model}).groupby(["g", "m"], observed=True).groups.items():
            if m == "":
                continue
            sub, truth = preds.loc[idx], cat.loc[idx]
            rows.append({"G": str(gbin), "model": m, "n": len(idx),
                         **{f"{t}_mae_vs_truth": float(np.nanmean(np.abs(sub[t] - truth[f"{t}_true"])))
                            for t in TARGETS}})
        out["catalogue_vs_truth"] = rows
        beyond = gaps.beyond_range(cat)
        summary = []
        for m in ("full", "pattern", "gaps"):
            for name, sel in (("within", ~beyond), ("beyond", beyond)):
                idx = (model == m) & sel
                if not idx.any():
                    continue
                sub, truth = preds[idx], cat[idx]
                summary.append({"model": m, "G_range": name, "n": int(idx.sum()), **{
                    f"{t}_{k}": v for t in TARGETS for k, v in (
                        ("mae_vs_truth", float(np.nanmean(np.abs(sub[t] - truth[f"{t}_true"])))),
                        ("coverage_68", float(((sub[f"{t}_lo68"] <= truth[f"{t}_true"])
                                               & (truth[f"{t}_true"] <= sub[f"{t}_hi68"])).mean())))}})
        out["catalogue_by_training_range"] = {
            "G_range_of_reference": [float(q) for q in np.nanquantile(gaps.reference["mag_G"], [0.005, 0.995])],
            "rows": summary}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", type=Path, default=Path("benchmarks/.gaps_run"),
                    help="a finished run (made with `ocfeh demo -o DIR` when absent)")
    ap.add_argument("--patterns", type=int, default=8, help="most common missing patterns to measure")
    args = ap.parse_args()
    if not (args.run_dir / "predictions.parquet").is_file():
        subprocess.run(["ocfeh", "demo", "-o", str(args.run_dir)], check=True)
    res = measure(args.run_dir, args.patterns)
    cov = res["coverage"]
    print(f"predicted, stars with >= {cov['min_bands']} bands: main model "
          f"{cov['main_model_only']['with_min_bands']:.3f}"
          f" -> with the gap model {cov['with_gap_model']['with_min_bands']:.3f}")
    write_record("gaps.json", res, benchmark="gaps", merge=False)


if __name__ == "__main__":
    main()
