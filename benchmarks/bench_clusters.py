"""Benchmark of the cluster stage: cluster [Fe/H] bias / scatter / coverage and isochrone ages.

1. [Fe/H]: simulated clusters (10-60 members, per-star errors 0.05-0.15 dex, intrinsic spread 0-0.04 dex,
   5 % outliers drawn from a broad field distribution) -> bias and scatter of the MCMC mean and the
   median against the true mean, 68 % interval coverage, time per cluster.
2. Isochrones: clusters of 8 Myr-6 Gyr made from BaSTI-IAC at its native resolution with
   :func:`ocfeh.synthphot.magnitudes` (17 bands, noise 0.01-0.03 mag, 35 % binaries, 0.5 % depth, a
   0.01-mag zero point per band), each fitted with the per-band offset term and without it -> log-age
   and [Fe/H]_iso errors, 68 % interval coverage, time per cluster.
3. Optionally (``--run-dir``) the mock-sky run directory: clusters.csv against ``feh_true``; and
   (``--full-run-dir``) a run of the ``full`` profile (poster-scale training sample) the same way.
   Without ``--full-run-dir`` the previous results file's ``mock_sky_full`` is carried over, marked
   with the date it was measured.

Usage: ``python benchmarks/bench_clusters.py [--n-feh 200] [--n-iso 16] [--run-dir runs/demo]
[--mock-config benchmarks/configs/mock_clusters60.toml]``.
Writes benchmarks/results/clusters.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from ocfeh.clusters import fit_cluster_feh, median_feh
from ocfeh.provenance import provenance, write_json


def bench_feh(n_clusters: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    rows = []
    t0 = time.perf_counter()
    for k in range(n_clusters):
        mu = rng.uniform(-0.8, 0.3)
        n = int(rng.integers(10, 61))
        e = rng.uniform(0.05, 0.15, n)
        x = mu + rng.uniform(0, 0.04) * rng.standard_normal(n) + e * rng.standard_normal(n)
        out = rng.uniform(size=n) < 0.05
        x[out] = rng.normal(-0.3, 0.5, out.sum())
        r = fit_cluster_feh(x, e, n_walkers=16, n_steps=600, n_burn=200, seed=k)
        m = median_feh(x, 500, k, warn_members=0)
        rows.append({"truth": mu, "mcmc": r.mu, "p16": r.mu_p16, "p84": r.mu_p84, "median": m.median,
                     "median_err": m.err, "n": n})
    seconds = (time.perf_counter() - t0) / n_clusters
    df = pd.DataFrame(rows)
    d, dm = df.mcmc - df.truth, df["median"] - df.truth
    return {
        "n_clusters": n_clusters,
        "mcmc_bias_dex": float(d.mean()), "mcmc_scatter_dex": float(d.std()),
        "mcmc_coverage_68": float(((df.p16 <= df.truth) & (df.truth <= df.p84)).mean()),
        "median_bias_dex": float(dm.mean()), "median_scatter_dex": float(dm.std()),
        "median_coverage_68": float((np.abs(dm) <= df.median_err).mean()),
        "seconds_per_cluster": seconds,
    }


def _iso_cluster(grid, log_age, feh, d, a0, n, rng, depth=0.005, binary_fraction=0.35, zero_point=0.01):
    """Members of a cluster made as the mock sky makes them: BaSTI at its native resolution, a
    Salpeter mass function up the red-giant branch, unresolved binaries (flat mass ratio 0.1-1, fluxes
    added), a depth along the line of sight (fractional sigma of the distance), errors of 0.01-0.03 mag
    and a calibration offset per band shared by all members (sigma ``zero_point``); stars with G < 19."""
    from ocfeh.synthphot import magnitudes
    from ocfeh.synthphot.isochrone_mags import LOG_TEFF_SUN

    it = grid.isochrone_at(log_age, feh)
    tip = int(np.argmax(it["log_lum"]))
    order = np.argsort(it["mass_ini"][:tip])
    mi, lt_, lg_, ll_ = (it[k][:tip][order] for k in ("mass_ini", "log_teff", "logg", "log_lum"))

    def mags(mass, dist):
        lt, lg, ll = (np.interp(mass, mi, v) for v in (lt_, lg_, ll_))
        radius = 10 ** (0.5 * ll - 2 * (lt - LOG_TEFF_SUN))
        return magnitudes(10**lt, lg, feh, a0=a0, radius=radius, distance=dist).drop(columns="in_grid")

    lo = max(mi[0], 0.5 if d > 1200 else 0.35)
    mass = (lo**-1.35 + rng.uniform(size=n) * (mi[-1] ** -1.35 - lo**-1.35)) ** (-1 / 1.35)
    dist = d * (1 + depth * rng.standard_normal(n))
    df = mags(mass, dist)
    m2 = np.where(rng.uniform(size=n) < binary_fraction, rng.uniform(0.1, 1.0, n), 0.0) * mass
    two = m2 >= mi[0]
    if two.any():
        sec = mags(m2[two], dist[two])
        for b in df.columns:
            df.loc[two, b] = -2.5 * np.log10(10 ** (-0.4 * df.loc[two, b].to_numpy()) + 10 ** (-0.4 * sec[b].to_numpy()))
    out = pd.DataFrame(index=df.index)
    for b in df.columns:
        e = rng.uniform(0.01, 0.03, n)
        out[f"mag_{b}"] = df[b] + zero_point * rng.standard_normal() + e * rng.standard_normal(n)
        out[f"mag_err_{b}"] = e
    return out[out["mag_G"] < 19].reset_index(drop=True)


def bench_iso(n_clusters: int, seed: int) -> dict:
    """Synthetic clusters (8 Myr-6 Gyr) fitted with and without the per-band offset term."""
    from ocfeh.clusters.isochrone_fit import fit_isochrone
    from ocfeh.synthphot import load_isochrones
    from ocfeh.synthphot.isochrone_mags import IsochroneMagnitudes, MagnitudeTable

    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    grid = load_isochrones().subset()
    iso = IsochroneMagnitudes(grid, MagnitudeTable.build(grid.mh))
    native = load_isochrones().subset(eep_step=1, adaptive=False)
    setup = time.perf_counter() - t0
    rows = []
    for k in range(n_clusters):
        la, fe = rng.uniform(7.9, 9.8), rng.uniform(-0.5, 0.2)
        d, a0 = rng.uniform(400, 2500), rng.uniform(0.1, 1.2)
        stars = _iso_cluster(native, la, fe, d, a0, 120, rng)
        priors = {"feh_prior": (fe + rng.normal(0, 0.04), 0.05),
                  "distance_prior": (d * (1 + rng.normal(0, 0.03)), 0.03 * d)}
        for band_offset in (0.0, 0.01):
            t1 = time.perf_counter()
            r = fit_isochrone(stars, iso, band_offset=band_offset, seed=k, **priors)
            rows.append({"band_offset": band_offset, "log_age_true": la, "log_age": r.log_age[1],
                         "log_age_p16": r.log_age[0], "log_age_p84": r.log_age[2], "d_true": d, "d": r.distance_pc[1],
                         "a0_true": a0, "a0": r.a0[1], "feh_true": fe, "feh_iso": r.feh_iso[1],
                         "feh_iso_p16": r.feh_iso[0], "feh_iso_p84": r.feh_iso[2], "n": r.n,
                         "seconds": time.perf_counter() - t1})
    all_rows = pd.DataFrame(rows)
    out = {"n_clusters": n_clusters, "setup_seconds": setup,
           "made_with": "native BaSTI, synthphot, 35% binaries, 0.5% depth, 0.01 mag zero point per band, G < 19"}
    for band_offset, df in all_rows.groupby("band_offset"):
        err = df.log_age - df.log_age_true
        tag = "" if band_offset > 0 else "independent_members_"
        out.update({
            f"{tag}log_age_abs_err_median": float(np.median(np.abs(err))),
            f"{tag}log_age_abs_err_max": float(np.max(np.abs(err))),
            f"{tag}frac_log_age_within_0.1": float(np.mean(np.abs(err) < 0.1)),
            f"{tag}log_age_coverage_68": float(((df.log_age_p16 <= df.log_age_true) & (df.log_age_true <= df.log_age_p84)).mean()),
            f"{tag}feh_iso_abs_err_median": float(np.median(np.abs(df.feh_iso - df.feh_true))),
            f"{tag}feh_iso_coverage_68": float(((df.feh_iso_p16 <= df.feh_true) & (df.feh_true <= df.feh_iso_p84)).mean()),
            f"{tag}seconds_per_cluster": float(df.seconds.mean()),
        })
        if band_offset > 0:
            out.update(distance_rel_err_median=float(np.median(np.abs(df.d / df.d_true - 1))),
                       a0_abs_err_median=float(np.median(np.abs(df.a0 - df.a0_true))))
    out["clusters"] = rows
    return out


def bench_run_dir(run_dir: Path) -> dict:
    df = pd.read_csv(run_dir / "clusters.csv")
    ok = (df.n_members_used >= 10) & df.feh_true.notna()
    d = (df.feh_mcmc - df.feh_true)[ok]
    out = {"n_clusters": int(ok.sum()), "mcmc_bias_dex": float(d.mean()), "mcmc_scatter_dex": float(d.std()),
           "mcmc_coverage_68": float(((df.feh_mcmc_p16 <= df.feh_true) & (df.feh_true <= df.feh_mcmc_p84))[ok].mean())}
    aged = ok & df.log_age_true.notna() & df.iso_log_age.notna() if "log_age_true" in df else ok & False
    for prefix, sel in (("", aged & (df.log_age_true > 8.477)), ("young_", aged & (df.log_age_true <= 8.477))):
        if sel.any():  # older / younger than 300 Myr
            e = (df.iso_log_age - df.log_age_true)[sel]
            inside = (df.iso_log_age_p16 <= df.log_age_true) & (df.log_age_true <= df.iso_log_age_p84)
            out.update({f"n_{prefix.rstrip('_') or 'old'}": int(sel.sum()),
                        f"{prefix}log_age_abs_err_median": float(np.median(np.abs(e))),
                        f"{prefix}log_age_abs_err_max": float(np.max(np.abs(e))),
                        f"{prefix}frac_log_age_within_0_1": float(np.mean(np.abs(e) < 0.1)),
                        f"{prefix}log_age_coverage_68": float(inside[sel].mean())})
    if "iso_feh" in df and df.iso_feh[ok].notna().any():
        e = (df.iso_feh - df.feh_true)[ok]
        out.update(iso_feh_bias_dex=float(e.mean()), iso_feh_scatter_dex=float(e.std()),
                   iso_feh_coverage_68=float(((df.iso_feh_p16 <= df.feh_true) & (df.feh_true <= df.iso_feh_p84))[ok].mean()))
    out.update(_own_membership(run_dir, df))
    out.update(_age_dependence(run_dir, df.loc[ok, "log_age_true"] if "log_age_true" in df else None))
    raw = df.feh_mcmc
    if "feh_age_offset" in df and df.feh_age_offset[ok].notna().any():
        # the package's simulated age offset (clusters without one keep their value)
        raw = df.feh_mcmc + df.feh_age_offset.fillna(0.0)
        e = (raw - df.feh_true)[ok]
        out.update(n_age_offset=int(df.feh_age_offset[ok].notna().sum()),
                   mean_feh_age_offset_dex=float(df.feh_age_offset[ok].mean()),
                   without_age_offset_mcmc_bias_dex=float(e.mean()),
                   without_age_offset_mcmc_scatter_dex=float(e.std()))
    if "field_resid_per_dex_log_age" in out and "iso_log_age" in df:
        # for comparison, the field's age slope measured with the mock's true ages (not possible on real
        # labelled stars) removed at each cluster's isochrone age, from the values without the age offset
        fixed = raw - out["field_resid_per_dex_log_age"] * (df.iso_log_age - out["field_mean_log_age"])
        e = (fixed - df.feh_true)[ok & df.iso_log_age.notna()]
        out.update(true_age_slope_corrected_mcmc_bias_dex=float(e.mean()),
                   true_age_slope_corrected_mcmc_scatter_dex=float(e.std()))
    return out


def _own_membership(run_dir: Path, df: pd.DataFrame) -> dict:
    """Own (HDBSCAN) members against the catalogue and, on the mock sky, against the true cluster of each star."""
    if "own_recovered_fraction" not in df or not df.own_recovered_fraction.notna().any():
        return {}
    out = {"own_n_clusters": int(df.own_recovered_fraction.notna().sum()),
           "own_recovered_fraction_median": float(df.own_recovered_fraction.median()),
           "own_recovered_fraction_p10": float(df.own_recovered_fraction.quantile(0.1)),
           "own_new_per_cluster_median": float(df.n_own_new.median())}
    truth = run_dir / "sources" / "truth.parquet"
    per = pd.read_parquet(run_dir / "cluster_members.parquet")
    if truth.is_file() and "member_prob_own" in per:
        own = per[per.member_prob_own.notna()]
        t = pd.read_parquet(truth, columns=["source_id", "cluster"]).rename(columns={"cluster": "true_cluster"})
        own = own.merge(t, on="source_id", how="left")
        own["true"] = own.true_cluster.astype(str) == own.cluster.astype(str)
        out.update(own_purity_median=float(own.groupby("cluster").true.mean().median()),
                   own_new_true_fraction=float(own.loc[~own.in_catalogue.astype(bool), "true"].mean()))
    return out


def _age_dependence(run_dir: Path, cluster_log_age) -> dict:
    """Held-out field stars: predicted - true [Fe/H] = a + b [Fe/H]_true + c (log age - 9.5).

    A photometric [Fe/H] read partly from absolute magnitudes depends on age at fixed [Fe/H] (a young
    star on the ZAMS is sub-luminous, like a metal-poor one); ``c`` times the difference between the
    clusters' and the field sample's mean log age is the offset that age alone gives the clusters.
    """
    paths = [run_dir / "sample.parquet", run_dir / "predictions.parquet", run_dir / "sources" / "truth.parquet"]
    if not all(p.is_file() for p in paths):
        return {}
    s = pd.read_parquet(paths[0], columns=["source_id", "split", "feh_true"])
    p = pd.read_parquet(paths[1], columns=["source_id", "feh"])
    t = pd.read_parquet(paths[2], columns=["source_id", "age_true_myr"])
    m = s[s.split != "train"].merge(p, on="source_id").merge(t, on="source_id").dropna()
    if len(m) < 50:
        return {}
    la = np.log10(m.age_true_myr.to_numpy()) + 6.0
    A = np.c_[np.ones(len(m)), m.feh_true, la - 9.5]
    coef, *_ = np.linalg.lstsq(A, (m.feh - m.feh_true).to_numpy(), rcond=None)
    out = {"field_n_heldout": len(m), "field_resid_per_dex_log_age": float(coef[2]),
           "field_mean_log_age": float(la.mean())}
    if cluster_log_age is not None and cluster_log_age.notna().any():
        out["cluster_mean_log_age"] = float(cluster_log_age.mean())
        out["expected_cluster_offset_from_age_dex"] = float(coef[2] * (cluster_log_age.mean() - la.mean()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-feh", type=int, default=200)
    ap.add_argument("--n-iso", type=int, default=16)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--run-dir", type=Path, default=None)
    ap.add_argument("--full-run-dir", type=Path, default=None,
                    help="A finished run of the full profile (e.g. `ocfeh demo --full`), reported as mock_sky_full.")
    ap.add_argument("--mock-config", type=Path, default=None,
                    help="Run this config first (`ocfeh run`; stages already done are skipped) and use its run "
                         "directory as --run-dir, e.g. benchmarks/configs/mock_clusters60.toml.")
    args = ap.parse_args()
    if args.mock_config is not None:
        import ocfeh
        from ocfeh.pipeline.config import load_config

        ocfeh.run(args.mock_config)
        args.run_dir = Path(load_config(args.mock_config).run.out)
    res = {"feh": bench_feh(args.n_feh, args.seed)}
    if args.n_iso:
        res["isochrones"] = bench_iso(args.n_iso, args.seed)
    if args.run_dir is not None and (args.run_dir / "clusters.csv").is_file():
        res["mock_sky"] = bench_run_dir(args.run_dir)
    out = Path(__file__).parent / "results" / "clusters.json"
    if args.full_run_dir is not None and (args.full_run_dir / "clusters.csv").is_file():
        res["mock_sky_full"] = bench_run_dir(args.full_run_dir)
    elif out.is_file():  # a poster-scale run takes hours: keep the last measurement, dated
        import json

        old = json.loads(out.read_text())
        if "mock_sky_full" in old["results"]:
            res["mock_sky_full"] = {**old["results"]["mock_sky_full"],
                                    "measured_utc": old["results"]["mock_sky_full"].get("measured_utc", old["created_utc"])}
    table = Table("check", "value", "target", title="ocfeh clusters benchmark")
    f = res["feh"]
    table.add_row("MCMC [Fe/H] bias (dex)", f"{f['mcmc_bias_dex']:+.4f}", "|bias| < 0.02")
    table.add_row("MCMC [Fe/H] scatter (dex)", f"{f['mcmc_scatter_dex']:.4f}", "< 0.05")
    table.add_row("MCMC 68% coverage", f"{f['mcmc_coverage_68']:.2f}", "0.60-0.76")
    table.add_row("median bias / scatter (dex)", f"{f['median_bias_dex']:+.4f} / {f['median_scatter_dex']:.4f}", "")
    table.add_row("median +-err coverage", f"{f['median_coverage_68']:.2f}", "")
    table.add_row("[Fe/H] s per cluster", f"{f['seconds_per_cluster']:.2f}", "")
    if "isochrones" in res:
        i = res["isochrones"]
        table.add_row("iso |d log age| median / max", f"{i['log_age_abs_err_median']:.3f} / "
                      f"{i['log_age_abs_err_max']:.3f}", "< 0.1")
        table.add_row("iso fraction within 0.1 dex", f"{i['frac_log_age_within_0.1']:.2f}", "")
        table.add_row("iso 68% coverage: log age / [Fe/H]", f"{i['log_age_coverage_68']:.2f} / "
                      f"{i['feh_iso_coverage_68']:.2f}", "0.68")
        table.add_row("  with independent members", f"{i['independent_members_log_age_coverage_68']:.2f} / "
                      f"{i['independent_members_feh_iso_coverage_68']:.2f}", "")
        table.add_row("iso distance / A0 / [Fe/H] err", f"{i['distance_rel_err_median']:.3f} / "
                      f"{i['a0_abs_err_median']:.3f} / {i['feh_iso_abs_err_median']:.3f}", "")
        table.add_row("iso s per cluster (setup)", f"{i['seconds_per_cluster']:.1f} ({i['setup_seconds']:.1f})", "")
    for key in ("mock_sky", "mock_sky_full"):
        for k, v in res.get(key, {}).items():
            table.add_row(f"{key.replace('_', ' ')} {k}", f"{v:.4f}" if isinstance(v, float) else str(v), "")
    Console().print(table)
    write_json(out, {"results": res, "args": vars(args), **provenance(vars(args), args.seed)})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
