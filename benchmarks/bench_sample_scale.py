"""Sample stage at survey scale: peak memory and time of the HATS engine at 5, 20 and 50 million J-PLUS rows
(Gaia and CatWISE tables of similar size), beside the in-memory engine at 5 million.

Usage: python benchmarks/bench_sample_scale.py [--rows 5e6 2e7 5e7] [--memory-rows 5e6] [--work DIR] [--keep]

Input: survey tables in their native columns, written chunk by chunk (never whole in memory) by tiling the
small mock sky: each star takes the photometry of a random mock star of its table and a new position on a
band of sky at J-PLUS-like density (0.95 J-PLUS rows per Gaia row, 85 % in CatWISE, 2 % with a LAMOST
label, 70 % with Gaia astrophysical parameters). Every configuration runs in a fresh subprocess, so its peak
RSS (the child's own ru_maxrss; the Dask workers are threads of it) is its own. Times: the import of the
files into HATS (hats-import, once per input), the training sample, the catalogue of every star.
Writes benchmarks/results/sample_scale.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import write_record

CHUNK = 1_000_000
DENSITY_PER_DEG2 = 5000.0
TEMPLATE_STARS = 60_000


def _template(work: Path) -> Path:
    sky = work / "template_sky"
    if not (sky / "manifest.json").is_file():
        from ocfeh.simulate import simulate_sky

        simulate_sky(sky, n_stars=TEMPLATE_STARS * 4, seed=11, overwrite=True)
    return sky


def _healpix12(ra, dec):
    from hats.pixel_math.spatial_index import compute_spatial_index

    return compute_spatial_index(ra, dec) >> (2 * (29 - 12))


def synthesise(n_jplus: int, out: Path, work: Path, seed: int = 0) -> Path:
    """Native-column Parquet tables with ``n_jplus`` J-PLUS rows, written a million stars at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ocfeh.simulate.sources import FILES

    if (out / "done.json").is_file():
        return out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    sky = _template(work)
    keys = ("gaia", "gaia_ap", "gaia_dist", "jplus", "jplus_ext", "catwise", "lamost")
    tmpl = {k: pq.read_table(sky / FILES[k]) for k in keys}
    writers = {k: None for k in keys}
    rng = np.random.default_rng(seed)
    n_stars = round(n_jplus / 0.95)
    dec_lo, dec_hi = 0.0, 60.0  # a band of sky: ra spans what the density needs
    area = n_stars / DENSITY_PER_DEG2  # deg2, as a strip of the band
    ra_span = min(360.0, area / ((np.sin(np.deg2rad(dec_hi)) - np.sin(np.deg2rad(dec_lo))) * 180.0 / np.pi))
    done = 0
    while done < n_stars:
        m = min(CHUNK, n_stars - done)
        ra = rng.uniform(0, ra_span, m)
        dec = np.rad2deg(np.arcsin(rng.uniform(np.sin(np.deg2rad(dec_lo)), np.sin(np.deg2rad(dec_hi)), m)))
        idx = np.arange(done, done + m, dtype=np.int64)
        sid = _healpix12(ra, dec).astype(np.int64) * 2**35 + idx
        tile = (np.floor(ra / 1.4).astype(np.int64) * 1000 + np.floor((dec + 90) / 1.4).astype(np.int64))

        def take(key, sel):
            t = tmpl[key]
            return t.take(pa.array(rng.integers(0, t.num_rows, int(sel.sum()) if sel.dtype == bool else len(sel))))

        def put(t, **cols):
            for name, values in cols.items():
                i = t.column_names.index(name)
                t = t.set_column(i, name, pa.array(values).cast(t.schema.field(name).type))
            return t

        def jitter(x, arcsec, cosd=None):
            step = rng.normal(0, arcsec / 3600.0, len(x))
            return x + (step / cosd if cosd is not None else step)

        cosd = np.cos(np.deg2rad(dec))
        every = np.ones(m, bool)
        tables = {"gaia": put(take("gaia", every), source_id=sid, ra=ra, dec=dec)}
        ap = rng.random(m) < 0.7
        tables["gaia_ap"] = put(take("gaia_ap", ap), source_id=sid[ap])
        tables["gaia_dist"] = put(take("gaia_dist", every), source_id=sid)
        jp = rng.random(m) < 0.95
        jt, jn = tile[jp], idx[jp]
        tables["jplus"] = put(take("jplus", jp), tile_id=jt, number=jn, alpha_j2000=jitter(ra[jp], 0.1, cosd[jp]),
                              delta_j2000=jitter(dec[jp], 0.1))
        tables["jplus_ext"] = put(take("jplus_ext", jp), tile_id=jt, number=jn)
        cw = rng.random(m) < 0.85
        tables["catwise"] = put(take("catwise", cw), ra=jitter(ra[cw], 0.2, cosd[cw]), dec=jitter(dec[cw], 0.2),
                                source_name=np.char.add("J", idx[cw].astype(str)))
        lm = rng.random(m) < 0.02
        tables["lamost"] = put(take("lamost", lm), ra=jitter(ra[lm], 0.1, cosd[lm]), dec=jitter(dec[lm], 0.1),
                               obsid=idx[lm])
        for key, table in tables.items():
            if writers[key] is None:
                writers[key] = pq.ParquetWriter(out / FILES[key], table.schema, compression="zstd")
            writers[key].write_table(table, row_group_size=CHUNK)
        done += m
        print(f"  synthesised {done:,} of {n_stars:,} stars", flush=True)
    for w in writers.values():
        w.close()
    rows = {k: pq.ParquetFile(out / FILES[k]).metadata.num_rows for k in keys}
    (out / "done.json").write_text(json.dumps(rows))
    return out


_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from ocfeh.sample import SampleConfig, build_catalog, build_sample
from ocfeh.simulate.sources import mock_sources
engine, phase, sky, out = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
out.mkdir(parents=True, exist_ok=True)
cfg = SampleConfig.model_validate({"sources": mock_sources(sky)})
src = mock_sources(sky); src.pop("labels")
cat = SampleConfig.model_validate({"sources": src})
rec = {}
t = time.perf_counter()
if engine == "hats":
    from ocfeh.sample.partitions import build_catalog_partitioned, build_sample_partitioned, open_source, sample_client
    from ocfeh.sample.config import SourcesConfig
    if phase == "import":
        with sample_client() as client:
            for name in SourcesConfig.model_fields:
                spec = getattr(cfg.sources, name)
                if spec is not None:
                    open_source(name, spec, Path("."), out / "hats_sources", client)
    elif phase == "sample":
        build_sample_partitioned(cfg, out, seed=1, work_dir=out / "hats_sources", progress=False)
        rec["n_sample"] = json.loads((out / "sample.json").read_text())["n_rows"]
    else:
        zp = out / "zero_points.csv"
        build_catalog_partitioned(cat, out / "catalog", zero_points=zp if zp.is_file() else None, seed=1,
                                  work_dir=out / "hats_sources", progress=False, resume=False)
        size = sum(p.stat().st_size for p in (out / "catalog" / "dataset").rglob("Npix=*.parquet"))
        rec["n_catalog"] = json.loads((out / "catalog" / "catalog.json").read_text())["n_rows"]
        rec["catalog_bytes_per_star"] = size / max(rec["n_catalog"], 1)
else:
    if phase == "sample":
        build_sample(cfg, out, seed=1)
        rec["n_sample"] = json.loads((out / "sample.json").read_text())["n_rows"]
    else:
        import pyarrow.parquet as pq
        zp = out / "zero_points.csv"
        build_catalog(cat, out / "catalog.parquet", zero_points=zp if zp.is_file() else None, seed=1)
        rec["n_catalog"] = pq.ParquetFile(out / "catalog.parquet").metadata.num_rows
        rec["catalog_bytes_per_star"] = (out / "catalog.parquet").stat().st_size / max(rec["n_catalog"], 1)
rec["seconds"] = time.perf_counter() - t
use = resource.getrusage(resource.RUSAGE_SELF)
rec["cpu_s"] = use.ru_utime + use.ru_stime
rec["peak_rss_mb"] = use.ru_maxrss / 1024.0
print(json.dumps(rec))
"""

PHASES = {"hats": ("import", "sample", "catalog"), "memory": ("sample", "catalog")}


def run_child(engine: str, sky: Path, out: Path) -> dict:
    """Each phase in its own process: its peak RSS and CPU time are its own (Dask workers are its threads)."""
    from ocfeh import __version__  # noqa: F401  (fail here, not in the child, if ocfeh is not installed)

    shutil.rmtree(out / "catalog", ignore_errors=True)
    rec: dict = {"phases": {}}
    for phase in PHASES[engine]:
        res = subprocess.run([sys.executable, "-c", _CHILD, engine, phase, str(sky), str(out)], capture_output=True,
                             text=True, check=False)
        if res.returncode != 0:
            raise SystemExit(f"{engine} {phase} at {sky}: failed\n{res.stderr[-3000:]}")
        got = json.loads(res.stdout.strip().splitlines()[-1])
        for key in ("n_sample", "n_catalog", "catalog_bytes_per_star"):
            if key in got:
                rec[key] = got.pop(key)
        rec["phases"][phase] = got
        print(f"  {phase}: {json.dumps(got)}", flush=True)
    ph = rec["phases"]
    rec["peak_rss_mb"] = max(p["peak_rss_mb"] for p in ph.values())
    rec["seconds"] = sum(p["seconds"] for p in ph.values())
    rec["cpu_s"] = sum(p["cpu_s"] for p in ph.values())
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=float, nargs="+", default=[5e6, 2e7, 5e7], help="J-PLUS rows (HATS engine)")
    ap.add_argument("--memory-rows", type=float, default=5e6, help="J-PLUS rows for the in-memory engine (0: skip)")
    ap.add_argument("--work", type=Path, default=Path("benchmarks/.scale_work"), help="scratch folder (large)")
    ap.add_argument("--keep", action="store_true", help="keep the synthesised inputs and imports")
    ap.add_argument("--add", action="store_true",
                    help="keep the runs already in the JSON at other (engine, size) pairs; each run names its commit")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    from record import RESULTS, recorded

    old = RESULTS / "sample_scale.json"
    runs = json.loads(old.read_text()).get("runs", []) if args.add and old.is_file() else []
    for r in runs:
        r.setdefault("commit", json.loads(old.read_text())["recorded"]["commit"])
    plan = [("memory", int(args.memory_rows))] if args.memory_rows else []
    plan += [("hats", int(n)) for n in args.rows]
    plan.sort(key=lambda p: (p[1], p[0] != "memory"))
    for engine, n in plan:
        sky = synthesise(n, args.work / f"sky_{n}", args.work)
        rows = json.loads((sky / "done.json").read_text())
        print(f"{engine} engine, {rows['jplus']:,} J-PLUS rows ...", flush=True)
        rec = {"engine": engine, "jplus_rows": rows["jplus"], "input_rows": rows, "commit": recorded()["commit"],
               **run_child(engine, sky, args.work / f"run_{engine}_{n}")}
        rec["seconds_per_million_jplus_rows"] = rec["seconds"] / (rows["jplus"] / 1e6)
        rec["cpu_s_per_million_jplus_rows"] = rec["cpu_s"] / (rows["jplus"] / 1e6)
        print(json.dumps(rec), flush=True)
        runs = [r for r in runs if (r["engine"], r["jplus_rows"]) != (engine, rows["jplus"])] + [rec]
        runs.sort(key=lambda r: (r["jplus_rows"], r["engine"]))
        if not args.keep:
            shutil.rmtree(args.work / f"run_{engine}_{n}", ignore_errors=True)
            shutil.rmtree(sky, ignore_errors=True)
        write_record("sample_scale.json", {"runs": runs, "growth": _growth(runs)})
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)


def _growth(runs: list[dict]) -> dict:
    """Wall and CPU time per million rows of the HATS engine at each size over the smallest (1.0: linear).

    CPU time (user + system of the stage's process) is the figure that other work on the machine does not
    inflate; both are given.
    """
    hats = sorted((r for r in runs if r["engine"] == "hats"), key=lambda r: r["jplus_rows"])
    if not hats:
        return {}
    base = hats[0]
    out = {}
    for r in hats:
        entry = {"wall": r["seconds_per_million_jplus_rows"] / base["seconds_per_million_jplus_rows"]}
        if "cpu_s_per_million_jplus_rows" in r and "cpu_s_per_million_jplus_rows" in base:
            entry["cpu"] = r["cpu_s_per_million_jplus_rows"] / base["cpu_s_per_million_jplus_rows"]
        out[str(r["jplus_rows"])] = entry
    return out


if __name__ == "__main__":
    main()
