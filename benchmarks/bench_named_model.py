"""The named real-star model: ``ocfeh build-model apogee-xp`` from a clean cache, its time, peak memory and the
blind-test MAE and 68%/95% coverage its ``release.json`` carries; and the mock-trained model's warning on
real stars.

The build runs in a child process (``ocfeh build-model``), so the peak memory is that of the build alone.

Usage: python benchmarks/bench_named_model.py [--small] [--cache DIR]
Writes benchmarks/results/named_model.json (key ``small`` or ``default``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import write_record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="the small profile (minutes) instead of the default one")
    ap.add_argument("--cache", type=Path, default=None, help="cache folder (default: a new temporary one)")
    args = ap.parse_args()
    cache = args.cache or Path(tempfile.mkdtemp(prefix="ocfeh-cache-"))
    env = {**os.environ, "OCFEH_CACHE_DIR": str(cache)}
    cmd = [sys.executable, "-m", "ocfeh.cli", "build-model", "apogee-xp", *(["--small"] if args.small else [])]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if res.returncode:
        sys.exit(f"build failed: {res.stderr[-2000:]}")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    profile = "small" if args.small else "default"
    model_dir = next((cache / "models").glob(f"apogee-xp-{profile}-*")) / "model"
    card = json.loads((model_dir / "release.json").read_text())
    write_record("named_model.json", {profile: {
        "command": " ".join(["ocfeh", *cmd[3:]]), "seconds": round(seconds, 1), "peak_rss_mb": round(peak_mb),
        "blind_test": card["blind_test"], "n_files": len(card["files"]),
        "training_set": json.loads((model_dir / "feh.json").read_text()).get("training_set"),
    }})
    if args.cache is None:
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
