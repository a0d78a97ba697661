"""Are two run directories the same result? Every number, to the last digit, of the files a run is judged by.

Compares ``metrics.json`` (without its provenance), ``clusters.csv`` (without the ``seconds`` column),
``cleaning.csv``, the data of ``sample.parquet``, ``catalog.parquet`` and ``predictions.parquet`` (not their
metadata, which holds creation times), and the trees of ``model/*.txt``. Writes one JSON record:

    python benchmarks/accuracy/compare_runs.py RUN_A RUN_B --label refactor -o benchmarks/results/run_identity.json

Exit code 1 when anything differs (each difference is listed in the record).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from record import write_record  # noqa: E402

PARQUET = ("sample.parquet", "catalog.parquet", "predictions.parquet")
CSV = {"clusters.csv": ("seconds",), "cleaning.csv": ()}


def _json_numbers(a, b, path="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k == "provenance":
                continue
            if k not in a or k not in b:
                out.append(f"{path}/{k}: only in {'B' if k not in a else 'A'}")
            else:
                out += _json_numbers(a[k], b[k], f"{path}/{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} != {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _json_numbers(x, y, f"{path}[{i}]")]
    return [] if a == b or (a != a and b != b) else [f"{path}: {a!r} != {b!r}"]


def _frames(a: pd.DataFrame, b: pd.DataFrame, name: str, ignore: dict[str, set[str]]) -> list[str]:
    drop = ignore.get(name, set())
    a, b = a.drop(columns=list(drop & set(a.columns))), b.drop(columns=list(drop & set(b.columns)))
    if list(a.columns) != list(b.columns):
        return [f"{name}: columns differ ({sorted(set(a.columns) ^ set(b.columns))[:8]})"]
    if len(a) != len(b):
        return [f"{name}: {len(a)} != {len(b)} rows"]
    diffs = [c for c in a.columns if not a[c].equals(b[c])]
    return [f"{name}: column {c} differs" for c in diffs[:10]]


def compare(run_a: Path, run_b: Path, ignore: dict[str, set[str]] | None = None) -> dict:
    """Every difference between two run directories; ``ignore`` maps a file name to columns left out."""
    ignore = ignore or {}
    checked, diffs = [], []
    ma, mb = (json.loads((r / "metrics.json").read_text()) for r in (run_a, run_b))
    diffs += [f"metrics.json{d}" for d in _json_numbers(ma, mb)]
    checked.append("metrics.json")
    for name, drop in CSV.items():
        if (run_a / name).is_file():
            a, b = (pd.read_csv(r / name).drop(columns=list(drop), errors="ignore") for r in (run_a, run_b))
            diffs += _frames(a, b, name, ignore)
            checked.append(name)
    for name in PARQUET:
        if (run_a / name).is_file():
            diffs += _frames(pd.read_parquet(run_a / name), pd.read_parquet(run_b / name), name, ignore)
            checked.append(name)
    for p in sorted((run_a / "model").glob("*.txt")):
        q = run_b / "model" / p.name
        same = q.is_file() and p.read_text() == q.read_text()
        diffs += [] if same else [f"model/{p.name} differs"]
        checked.append(f"model/{p.name}")
    return {"run_a": str(run_a), "run_b": str(run_b), "checked": checked, "n_differences": len(diffs),
            "differences": diffs, "identical": not diffs,
            "columns_left_out": {k: sorted(v) for k, v in ignore.items()},
            "headline": {t: {k: ma[t][k] for k in ("mae", "mae_true") if k in ma[t]}
                         for t in ("teff", "logg", "feh") if isinstance(ma.get(t), dict)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_a", type=Path)
    ap.add_argument("run_b", type=Path)
    ap.add_argument("--label", default="runs", help="Key of this comparison in the output JSON.")
    ap.add_argument("-o", "--output", type=Path, help="JSON file to add the record to.")
    ap.add_argument("--ignore", action="append", default=[], metavar="FILE:COLUMN",
                    help="A column one run has by design (e.g. catalog.parquet:phot_quality); recorded.")
    ap.add_argument("--note", default="", help="How the runs were made, kept in the record.")
    args = ap.parse_args()
    ignore: dict[str, set[str]] = {}
    for item in args.ignore:
        name, sep, col = item.partition(":")
        if not sep or not col:
            ap.error(f"--ignore {item!r}: give FILE:COLUMN, e.g. catalog.parquet:phot_quality")
        ignore.setdefault(name, set()).add(col)
    res = compare(args.run_a, args.run_b, ignore)
    if args.note:
        res["note"] = args.note
    print(json.dumps({k: res[k] for k in ("checked", "n_differences", "differences")}, indent=1))
    if args.output:
        write_record(args.output, {args.label: res})
    sys.exit(0 if res["identical"] else 1)


if __name__ == "__main__":
    main()
