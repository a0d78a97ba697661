"""The cluster stage: members -> cluster [Fe/H] (median, MCMC) -> isochrone fit -> ``clusters.csv`` + figures.

Files read from the run directory (the first that exists of each; see :func:`find_inputs`):

- predictions: ``predictions.parquet`` (from ``ocfeh predict``: ``source_id``, ``feh``, ``feh_err``,
  ``ood_flag``, ``teff``, ``logg``, ...), or a directory of Parquet parts of that name;
- members: ``cluster_members_input.parquet`` (the pipeline's, with the photometric-quality flag) /
  ``members.parquet`` / ``cluster_members_catalog.parquet`` / ``hr23_members.parquet`` (or ``.csv``;
  also inside ``sources/``, ``sky/`` or ``mock/``): ``cluster``/``Name``, ``source_id``/``GaiaDR3``,
  ``member_prob``/``Prob``;
- stars with photometry: ``catalog.parquet`` / ``stars.parquet`` / ``sample.parquet`` (canonical columns
  ``mag_<band>``, ``mag_err_<band>``, ``distance_pc``, ``a0``, truth ``*_true``), joined by
  ``source_id``; the members table itself is used when it carries magnitudes;
- cluster table (optional): ``clusters_catalog.parquet`` / ``hr23_clusters.parquet`` (or ``.csv``; also in ``sources/``)
  with ``cluster``/``Name`` and, on the mock sky, ``feh_true``, ``log_age_true``.

Files written: ``clusters.csv`` (+ ``clusters.provenance.json``), ``cluster_members.parquet`` (per
star: outlier probabilities; our own members' ``member_prob_own``, ``in_catalogue``), ``cluster_member_steps.csv`` (members surviving each step), and
``clusters/<cluster>.png``.
"""

from __future__ import annotations

import logging
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import InputError, OcfehWarning
from ..provenance import atomic_path, provenance, write_json
from .config import ClusterConfig
from .members import normalise_members, select_members
from .metallicity import fit_cluster_feh, median_feh, member_errors, shift_posterior

__all__ = ["CLUSTER_COLUMNS", "analyse_cluster", "analyse_clusters", "find_inputs", "run_clusters"]

log = logging.getLogger(__name__)

CLUSTER_COLUMNS = (
    "cluster", "n_members_catalogue", "n_members_used", "n_members_own", "own_recovered_fraction", "n_own_new",
    "feh_median", "feh_median_err",
    "feh_mcmc", "feh_mcmc_p16", "feh_mcmc_p84", "feh_mcmc_err", "feh_sys", "feh_spread", "feh_spread_p16",
    "feh_spread_p84", "outlier_fraction", "n_outliers", "feh_mcmc_tau", "feh_mcmc_n_kept",
    "iso_log_age", "iso_log_age_p16", "iso_log_age_p84", "iso_distance_pc", "iso_distance_pc_p16",
    "iso_distance_pc_p84", "iso_a0", "iso_a0_p16", "iso_a0_p84", "iso_feh", "iso_feh_p16", "iso_feh_p84",
    "iso_n_stars", "iso_tau", "iso_n_kept", "feh_age_offset", "n_age_offset", "flags", "feh_true", "log_age_true", "seconds",
)

_CANDIDATES = {  # a run directory's own files first (what the pipeline's cluster stage reads)
    "predictions": ("predictions.parquet", "predictions"),
    "members": ("cluster_members_input.parquet", "members.parquet", "members.csv", "cluster_members_catalog.parquet",
                "hr23_members.parquet", "hr23_members.csv", "sources/hr23_members.parquet", "sky/members.parquet",
                "mock/members.parquet"),
    "stars": ("catalog.parquet", "stars.parquet", "sample.parquet", "sky/stars.parquet", "mock/stars.parquet"),
    "clusters": ("clusters_catalog.parquet", "clusters_catalog.csv", "hr23_clusters.parquet", "hr23_clusters.csv",
                 "sources/hr23_clusters.parquet", "sky/clusters.parquet", "mock/clusters.parquet"),
}


def find_inputs(run_dir: str | Path) -> dict[str, Path | None]:
    """The input files of the cluster stage found in a run directory (None where absent)."""
    run_dir = Path(run_dir)
    found = {}
    for kind, names in _CANDIDATES.items():
        found[kind] = next((run_dir / n for n in names if (run_dir / n).exists()), None)
    return found


def _read(path: Path) -> pd.DataFrame:
    if path.is_dir():
        parts = sorted(p for p in path.glob("*.parquet") if not p.name.startswith(("_", ".")))
        if not parts:
            raise InputError(f"{path}: a directory without Parquet parts")
        return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    return pd.read_parquet(path)


def _seed(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def analyse_cluster(
    name: str,
    members: pd.DataFrame,
    config: ClusterConfig | None = None,
    seed: int = 0,
    iso=None,
    calibration=None,
    iso_members: pd.DataFrame | None = None,
    age_offset=None,
) -> tuple[dict, pd.DataFrame, dict]:
    """Cluster [Fe/H] (median + MCMC) and, if ``iso`` is given, the isochrone fit of one cluster.

    Parameters
    ----------
    name : str
    members : DataFrame
        The cluster's members after the quality steps: ``feh``, ``feh_err``, optional boolean
        ``in_coverage`` (only those rows give the [Fe/H]; all give the isochrone fit), and for the isochrone fit,
        ``mag_<band>`` / ``mag_err_<band>``; optional ``distance_pc``, ``a0``, ``feh_true``.
    config : ClusterConfig, optional
    seed : int
    iso : IsochroneMagnitudes, optional
    calibration : FehCalibration, optional
        The predictor's response and cluster-level systematic (see :mod:`ocfeh.clusters.calibration`):
        the MCMC forward-models it (see :func:`~ocfeh.clusters.fit_cluster_feh`), the median is corrected
        with it (the response inverted at the median, the systematic added to its error).
    iso_members : DataFrame, optional
        The members for the isochrone fit (default ``members``): all catalogue members with good
        Gaia photometry, as the isochrone needs the turn-off and giants that the [Fe/H] cuts remove.
    age_offset : AgeOffset, optional
        With an isochrone fit, the cluster's age offset (:mod:`ocfeh.clusters.age_offset`) is removed
        from the median and the MCMC mean (column ``feh_age_offset``); ``age_offset_sys_fraction`` of it
        is added to their errors as a systematic.

    Returns
    -------
    row : dict
        One row of ``clusters.csv``.
    per_star : DataFrame
        ``source_id`` (if present), ``feh_outlier_prob``, ``iso_outlier_prob`` (the union of the
        [Fe/H] and isochrone members when ``iso_members`` is given).
    fits : dict
        ``median``, ``mcmc``, ``iso`` result objects (None where not run).
    """
    cfg = config or ClusterConfig()
    rng = _seed(seed, name)
    t0 = time.perf_counter()
    flags: list[str] = []
    # [Fe/H] from the members inside the training coverage (column ``in_coverage``), isochrones from all
    use = members["in_coverage"].to_numpy(bool) if "in_coverage" in members else np.ones(len(members), bool)
    fm = members[use]
    row: dict = {"cluster": name, "n_members_used": int(use.sum())}
    per_star = pd.DataFrame(index=members.index)
    if "source_id" in members:
        per_star["source_id"] = members["source_id"].to_numpy()
    per_star["feh_outlier_prob"] = np.nan
    per_star["iso_outlier_prob"] = np.nan
    fits: dict = {"median": None, "mcmc": None, "iso": None}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", OcfehWarning)
        med = median_feh(fm["feh"], cfg.n_bootstrap, rng, cfg.warn_members, name)
        fits["median"] = med
        row.update(feh_median=med.median, feh_median_err=med.err)
        if calibration is not None and med.n:
            row["feh_median"], row["feh_median_err"] = calibration.correct_median(med.median, med.err)
        if len(fm) >= max(2, cfg.min_members):
            res = fit_cluster_feh(
                fm["feh"], member_errors(fm["feh_err"], cfg.member_errors), n_walkers=cfg.n_walkers, n_steps=cfg.n_steps,
                n_burn=cfg.n_burn, outlier_width=cfg.outlier_width, max_spread=cfg.max_spread,
                max_outlier_fraction=cfg.max_outlier_fraction, seed=rng, warn_members=0, name=name,  # median_feh already warned
                calibration=calibration,
            )
            fits["mcmc"] = res
            per_star.loc[use, "feh_outlier_prob"] = res.outlier_prob
            row.update(feh_mcmc=res.mu, feh_mcmc_p16=res.mu_p16, feh_mcmc_p84=res.mu_p84, feh_mcmc_err=res.mu_err, feh_sys=res.sigma_sys,
                       feh_spread=res.spread, feh_spread_p16=res.spread_p16, feh_spread_p84=res.spread_p84,
                       outlier_fraction=res.outlier_fraction,
                       n_outliers=int(np.nansum(res.outlier_prob > 0.5)),
                       feh_mcmc_tau=float(np.max(res.tau)), feh_mcmc_n_kept=res.n_kept)
            if res.acceptance < 0.15:
                flags.append("low_acceptance")
            if not res.converged:
                flags.append("short_chain")
        else:
            flags.append("too_few_members")
        im = members if iso_members is None else iso_members
        if iso is not None and cfg.isochrones and len(im) >= max(3, cfg.min_members):
            try:
                fits["iso"] = _fit_iso(name, im, cfg, fits["mcmc"], iso, rng)
                row.update(fits["iso"].summary())
                if iso_members is None:
                    per_star["iso_outlier_prob"] = fits["iso"].outlier_prob
                elif "source_id" in per_star:
                    ip = pd.DataFrame({"source_id": im["source_id"].to_numpy(),
                                       "iso_outlier_prob": fits["iso"].outlier_prob})
                    per_star = per_star.drop(columns="iso_outlier_prob").merge(ip, on="source_id", how="outer")
            except InputError as err:
                log.warning("%s: isochrone fit skipped: %s", name, err)
                flags.append("iso_failed")
        if age_offset is not None:
            flags += _remove_age_offset(name, fm, fits, row, age_offset, calibration, cfg.age_offset_sys_fraction, rng)
    for w in caught:
        if issubclass(w.category, OcfehWarning):
            flags.append("few_members" if "members" in str(w.message) else "warning")
            log.warning("%s", w.message)
        else:  # pragma: no cover - pass other warnings on
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if "feh_true" in members and members["feh_true"].notna().any():
        row["feh_true"] = float(np.nanmean(members["feh_true"]))
    row["flags"] = ";".join(dict.fromkeys(flags))
    row["seconds"] = round(time.perf_counter() - t0, 3)
    return row, per_star, fits


def _remove_age_offset(name, members, fits, row, age_offset, calibration, sys_fraction, rng) -> list[str]:
    """Subtract the simulated age offset from ``row``'s [Fe/H] (and ``fits["mcmc"]``); returns flags."""
    if fits["mcmc"] is None or fits["iso"] is None:
        return ["no_age_offset"]
    try:
        delta, n = age_offset.offset(members, fits["iso"].log_age[1], fits["mcmc"].mu)
    except InputError as err:
        log.warning("%s: no age offset: %s", name, err)
        return ["no_age_offset"]
    if not np.isfinite(delta):
        log.info("%s: no age offset (no dwarf member on the main sequence at the cluster's and reference ages)", name)
        return ["no_age_offset"]
    shift = delta / (float(calibration.slope(fits["mcmc"].mu)) if calibration is not None else 1.0)
    extra = sys_fraction * abs(shift)
    fits["mcmc"] = res = shift_posterior(fits["mcmc"], shift, extra, rng)
    row.update(feh_mcmc=res.mu, feh_mcmc_p16=res.mu_p16, feh_mcmc_p84=res.mu_p84, feh_mcmc_err=res.mu_err,
               feh_sys=res.sigma_sys, feh_age_offset=shift, n_age_offset=n)
    if fits["iso"].feh_prior is not None:  # the isochrone fit's prior was the [Fe/H] before the offset
        from .isochrone_fit import with_feh_prior

        fits["iso"] = with_feh_prior(fits["iso"], _iso_feh_prior(res))
        row.update(fits["iso"].summary())
    if np.isfinite(row.get("feh_median", np.nan)):
        row.update(feh_median=row["feh_median"] - shift, feh_median_err=float(np.hypot(row["feh_median_err"], extra)))
    log.info("%s: age offset %+.3f dex at log age %.2f (%d dwarfs simulated)", name, shift,
             fits["iso"].log_age[1], n)
    return []


def _parallax_distance(members: pd.DataFrame, cfg: ClusterConfig) -> tuple[float, float] | None:
    """Distance prior (pc, 1 sigma) from the members' inverse-variance mean Gaia parallax.

    The zero point ``iso_parallax_zp_mas`` is subtracted and ``iso_parallax_sys_mas`` (the angular
    covariance floor of Gaia parallaxes; Lindegren et al. 2021, Maiz Apellaniz et al. 2021) added in
    quadrature to the error of the mean. None without >= 3 parallaxes or when the mean is not >= 5 sigma.
    """
    if not {"parallax", "parallax_error"} <= set(members.columns):
        return None
    plx = members["parallax"].to_numpy(float)
    err = members["parallax_error"].to_numpy(float)
    ok = np.isfinite(plx) & np.isfinite(err) & (err > 0)
    if ok.sum() < 3:
        return None
    w = 1.0 / err[ok] ** 2
    mean = float(np.sum(w * plx[ok]) / np.sum(w)) - cfg.iso_parallax_zp_mas
    sig = float(np.hypot(np.sum(w) ** -0.5, cfg.iso_parallax_sys_mas))
    if not mean > 5 * sig:
        return None
    d = 1000.0 / mean
    return d, d * sig / mean


def _iso_feh_prior(mcmc) -> tuple[float, float]:
    """The isochrone fit's Gaussian [Fe/H] prior from the photometric cluster [Fe/H] (a 0.05 dex floor)."""
    return mcmc.mu, float(np.hypot(mcmc.mu_err, 0.05))


def _fit_iso(name, members, cfg, mcmc, iso, rng):
    from .isochrone_fit import fit_isochrone

    feh_prior = _iso_feh_prior(mcmc) if cfg.iso_feh_prior and mcmc is not None else None
    dist_prior = _parallax_distance(members, cfg)  # else the members' median distance, +-10 %
    if dist_prior is None and "distance_pc" in members and members["distance_pc"].notna().sum() >= 3:
        d = float(np.nanmedian(members["distance_pc"]))
        if d > 0:
            dist_prior = (d, 0.1 * d)
    elif dist_prior is None and "parallax" in members and (members["parallax"] > 0).sum() >= 3:
        plx = float(np.nanmedian(members["parallax"]))
        if plx > 0:
            dist_prior = (1000.0 / plx, 0.1 * 1000.0 / plx)
    a0_prior = None
    if "a0" in members and members["a0"].notna().sum() >= 3:
        a = members["a0"].to_numpy(float)
        a0_prior = (float(np.nanmedian(a)), float(max(0.2, 1.4826 * np.nanmedian(np.abs(a - np.nanmedian(a))))))
    return fit_isochrone(members, iso, feh_prior=feh_prior, distance_prior=dist_prior, a0_prior=a0_prior,
                         mag_floor=cfg.iso_mag_floor, star_offset=cfg.iso_star_offset_mag,
                         band_offset=cfg.iso_band_offset_mag, a0_max=cfg.iso_a0_max, n_walkers=cfg.iso_n_walkers,
                         n_steps=cfg.iso_n_steps, n_burn=cfg.iso_n_burn, max_stars=cfg.iso_max_stars,
                         seed=rng, name=name)


def analyse_clusters(
    predictions: pd.DataFrame,
    members: pd.DataFrame,
    stars: pd.DataFrame | None = None,
    clusters: pd.DataFrame | None = None,
    config: ClusterConfig | None = None,
    seed: int = 0,
    iso=None,
    figure_dir: str | Path | None = None,
    calibration=None,
    coverage: dict | None = None,
    age_offset=None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Every cluster of a members table: selection, [Fe/H] and isochrones.

    Parameters
    ----------
    predictions : DataFrame
        Per-star predictions (``source_id``, ``feh``, ``feh_err``, ...).
    members : DataFrame
        Catalogue members (canonical or HR23 names).
    stars : DataFrame, optional
        Photometry and truth by ``source_id`` (joined to the predictions where they lack them).
    clusters : DataFrame, optional
        Cluster table with ``cluster`` (or ``Name``) and truth (``feh_true``, ``log_age_true``).
    config : ClusterConfig, optional
    seed : int
    iso : IsochroneMagnitudes, optional
        Needed for the isochrone fit.
    figure_dir : str or Path, optional
        Write ``<cluster>.png`` figures there.
    calibration : FehCalibration, optional
        Passed to :func:`analyse_cluster`.
    coverage : dict, optional
        ``{column: (low, high)}`` ranges of the training sample (:func:`ocfeh.clusters.coverage.training_box`):
        members outside are left out of the [Fe/H] estimators (step ``n_covered`` of the survival table)
        but kept for the isochrone fit.
    age_offset : AgeOffset, optional
        Passed to :func:`analyse_cluster`.

    Returns
    -------
    table, per_star, steps : DataFrame
        ``clusters.csv`` rows, per-member outlier probabilities, and the member-survival table.
    """
    from rich.progress import track

    cfg = config or ClusterConfig()
    pred = predictions
    mem = normalise_members(members)
    if stars is not None and "source_id" in stars:
        extra = [c for c in stars.columns if c not in pred.columns or c == "source_id"]
        pred = pred.merge(stars[extra].drop_duplicates("source_id"), on="source_id", how="left")
    # magnitudes carried by the members table (mock sky / HR23 with Gaia columns)
    extra = [c for c in mem.columns if c not in pred.columns and c not in ("cluster", "member_prob")]
    if extra:
        pred = pred.merge(mem[["source_id", *extra]].drop_duplicates("source_id"), on="source_id", how="left")
    sel = select_members(pred, mem, cfg.member_prob_min, cfg.drop_ood, cfg.max_feh_err)
    keep = np.ones(len(sel.members), dtype=bool)
    if "phot_quality" in sel.members:  # members held to the training sample's photometric cuts
        keep &= sel.members["phot_quality"].fillna(False).to_numpy(bool)
        counts = sel.members[keep].groupby("cluster").size()
        sel.steps["n_phot_quality"] = sel.steps["cluster"].map(counts).fillna(0).astype(int)
    sel.members["in_coverage"] = keep
    iso_groups = {}
    if iso is not None and cfg.isochrones:
        im = _iso_members(pred, mem, cfg)
        iso_groups = dict(tuple(im.groupby("cluster")))
        counts = im.groupby("cluster").size()
        sel.steps["n_iso"] = sel.steps["cluster"].map(counts).fillna(0).astype(int)
    if coverage:
        from .coverage import inside_box

        keep &= inside_box(sel.members, coverage)
        sel.members["in_coverage"] = keep
        counts = sel.members[keep].groupby("cluster").size()
        sel.steps["n_covered"] = sel.steps["cluster"].map(counts).fillna(0).astype(int)
        log.info("members: %d of %d inside the training sample's coverage %s", int(keep.sum()), keep.size,
                 {k: (round(a, 2), round(b, 2)) for k, (a, b) in coverage.items()})
    truth = {}
    if clusters is not None:
        ct = clusters.rename(columns={"Name": "cluster"}) if "cluster" not in clusters else clusters
        ct = ct.assign(cluster=ct["cluster"].astype(str).str.strip()).set_index("cluster")
        if "log_age_true" not in ct and "age_true_myr" in ct:  # the mock sky's truth
            ct["log_age_true"] = np.log10(ct["age_true_myr"].astype(float) * 1e6)
        truth = {c: ct[c].to_dict() for c in ("feh_true", "log_age_true") if c in ct}
    own_summary, own = _own_members(pred, mem, clusters, cfg)
    rows, stars_out = [], []
    names = sel.steps["cluster"].tolist()
    n_cat = sel.steps.set_index("cluster")["n_catalogue"]
    groups = dict(tuple(sel.members.groupby("cluster")))
    for name in track(names, description="clusters", transient=True, disable=len(names) < 2):
        m = groups.get(name, sel.members.iloc[:0])
        im = iso_groups.get(name)
        row, per_star, fits = analyse_cluster(name, m.reset_index(drop=True), cfg, seed, iso, calibration,
                                              im.reset_index(drop=True) if im is not None else None, age_offset)
        row["n_members_catalogue"] = int(n_cat.get(name, 0))
        for col, values in truth.items():
            if name in values and pd.notna(values[name]):
                row[col] = float(values[name])
        rows.append(row)
        per_star.insert(0, "cluster", name)
        stars_out.append(per_star)
        if figure_dir is not None and len(m):
            _figure(name, m.reset_index(drop=True), fits, row, iso, Path(figure_dir), cfg.figures,
                    im.reset_index(drop=True) if im is not None else None)
    table = pd.DataFrame(rows)
    if own_summary is not None:
        table = table.merge(own_summary.drop(columns="n_field"), on="cluster", how="left")
    table = table.reindex(columns=list(CLUSTER_COLUMNS))
    per = pd.concat(stars_out, ignore_index=True) if stars_out else pd.DataFrame()
    if own is not None and len(own) and "source_id" in per:
        per = per.merge(own, on=["cluster", "source_id"], how="outer")
    return table, per, sel.steps


def _own_members(pred: pd.DataFrame, mem: pd.DataFrame, clusters, cfg: ClusterConfig):
    """Our members in a cone around each cluster and their comparison with the catalogue (None, None if not run)."""
    if not cfg.own_membership or clusters is None:
        return None, None
    ct = clusters.rename(columns={"Name": "cluster", "RA_ICRS": "ra", "DE_ICRS": "dec", "r50_deg": "r50"})
    need, astro = {"cluster", "ra", "dec", "r50"}, {"ra", "dec", "pmra", "pmdec", "parallax"}
    if not need <= set(ct.columns) or not astro <= set(pred.columns):
        log.info("own membership skipped: it needs the cluster table's %s and the stars' %s", sorted(need),
                 sorted(astro))
        return None, None
    from .membership import members_in_cones

    radius = np.maximum(cfg.own_radius_r50 * ct["r50"].astype(float), cfg.own_min_radius_deg)
    centres = pd.DataFrame({"cluster": ct["cluster"].astype(str).str.strip(), "ra": ct["ra"].astype(float),
                            "dec": ct["dec"].astype(float), "radius_deg": radius})
    stars = pred[pred["mag_G"] < cfg.own_mag_limit] if "mag_G" in pred else pred
    catalogue = mem.loc[mem["member_prob"] >= cfg.member_prob_min, ["cluster", "source_id"]]
    summary, own = members_in_cones(stars, centres, catalogue, cfg.hdbscan_min_cluster_size, cfg.hdbscan_min_samples,
                                    cfg.cmd_clip, cfg.hdbscan_selection)
    rec = summary["own_recovered_fraction"]
    log.info("own membership in %d clusters: median %.2f of the catalogue members recovered, %d new candidates",
             int(rec.notna().sum()), float(np.nanmedian(rec)) if rec.notna().any() else float("nan"),
             int(np.nansum(summary["n_own_new"])))
    return summary, own


def _iso_members(pred: pd.DataFrame, mem: pd.DataFrame, cfg: ClusterConfig) -> pd.DataFrame:
    """Members for the isochrone fit: probability cut, Gaia G present, RUWE <= ``iso_max_ruwe``; J-PLUS
    magnitudes of flagged stars (``jplus_flags`` / ``jplus_mask_flags`` non-zero) blanked."""
    from ..bands import JPLUS_BANDS
    from ..schema import mag_col

    m = mem[mem["member_prob"] >= cfg.member_prob_min][["cluster", "source_id", "member_prob"]]
    p = pred.drop(columns=[c for c in ("cluster", "member_prob") if c in pred]).drop_duplicates("source_id")
    df = m.merge(p, on="source_id", how="inner")
    n0 = len(df)
    if "mag_G" in df:
        df = df[np.isfinite(df["mag_G"].to_numpy(float))]
    if "ruwe" in df:
        df = df[~(df["ruwe"].to_numpy(float) > cfg.iso_max_ruwe)]
    df = df.copy()
    bad = np.zeros(len(df), dtype=bool)
    for col in ("jplus_flags", "jplus_mask_flags"):
        if col in df:
            bad |= df[col].fillna(0).to_numpy() != 0
    jcols = [mag_col(b) for b in JPLUS_BANDS if mag_col(b) in df]
    if bad.any() and jcols:
        df.loc[bad, jcols] = np.nan
    log.info("isochrone members: %d of %d (probability >= %.2f, G present, RUWE <= %.1f); J-PLUS blanked for %d "
             "flagged stars", len(df), n0, cfg.member_prob_min, cfg.iso_max_ruwe, int(bad.sum()))
    return df.reset_index(drop=True)


def _figure(name, members, fits, row, iso, folder: Path, fmt: str, iso_members=None) -> None:
    if fmt == "none" or not {"mag_G", "mag_BP", "mag_RP"} <= set(members.columns):
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import cluster_figure

    # the median as in clusters.csv (calibrated, age-corrected), beside the posterior that is too
    fig = cluster_figure(name, members, fits["mcmc"], row.get("feh_median"), row.get("feh_true"), fits["iso"], iso,
                         iso_members)
    safe = "".join(ch if ch.isalnum() or ch in "-_+." else "_" for ch in name)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / f"{safe}.{fmt}") as tmp:
        fig.savefig(tmp, dpi=110, format=fmt)
    plt.close(fig)


def _training_terms(run_dir: Path, training, predictions: pd.DataFrame, cfg: ClusterConfig, seed: int):
    """The [Fe/H] calibration and training coverage from the labelled sample (None where unavailable)."""
    if not (cfg.calibrate or cfg.train_coverage or cfg.age_offset):
        return None, None, None
    path = Path(training) if training is not None else run_dir / "sample.parquet"
    if not path.is_file():
        if training is not None:
            raise InputError(f"{path}: training sample not found")
        log.warning("clusters: no %s; the cluster [Fe/H] is neither calibrated, held to the training "
                     "coverage nor corrected for age (set calibrate/train_coverage/age_offset = false to silence)",
                     path)
        return None, None, None
    sample = _read(path)
    if "split" not in sample:
        raise InputError(f"{path}: no split column ({len(sample)} rows); the calibration needs held-out rows")
    calibration = coverage = None
    if cfg.calibrate:
        from .calibration import calibration_from_sample

        calibration = calibration_from_sample(sample, predictions, splits=cfg.calibration_splits,
                                              n_per_axis=cfg.calibration_bins, min_bin=cfg.calibration_min_bin,
                                              seed=_seed(seed, "calibration"), response=cfg.response,
                                              knot_step=cfg.response_knot_step)
    if cfg.train_coverage:
        from .coverage import training_box

        coverage = training_box(sample[sample["split"] == "train"], cfg.coverage_columns, cfg.coverage_quantile,
                                predictions)
    return calibration, coverage, sample


def _age_offset_model(model_dir: Path, sample, iso, cfg: ClusterConfig, seed: int):
    """The :class:`AgeOffset` of a run (None, logged, without a model, a sample or isochrones)."""
    if not (cfg.age_offset and iso is not None):
        return None
    from ..bands import BANDS
    from ..predict import load_predictor
    from .age_offset import AgeOffset, reference_log_ages, synthetic_zero_points

    try:
        if sample is None:
            raise InputError("no labelled sample")
        predictor = load_predictor(model_dir)
        unknown = [b for b in predictor.bands if b not in BANDS]
        if unknown:
            raise InputError(f"synthphot has no bands {unknown}")
        zero_points = synthetic_zero_points(sample[sample["split"].isin(cfg.calibration_splits)], predictor.bands)
    except InputError as err:
        log.warning("clusters: no age offset (%s; set age_offset = false to silence)", err)
        return None
    return AgeOffset(predictor, iso.grid, zero_points, reference_log_ages(*cfg.age_reference_gyr, cfg.age_reference_n),
                     n_draws=cfg.age_offset_draws, seed=seed)


def run_clusters(run_dir: str | Path, config: ClusterConfig | None = None, seed: int = 0,
                 members: str | Path | None = None, stars: str | Path | None = None,
                 clusters: str | Path | None = None, predictions: str | Path | None = None,
                 training: str | Path | None = None, model: str | Path | None = None) -> Path:
    """The cluster stage on a run directory: writes ``clusters.csv`` and its companions.

    Parameters
    ----------
    run_dir : str or Path
    config : ClusterConfig, optional
    seed : int
    members, stars, clusters, predictions : str or Path, optional
        Override the files found by :func:`find_inputs`.
    training : str or Path, optional
        The labelled sample with a ``split`` column (default ``<run_dir>/sample.parquet`` if present):
        its ``train`` rows bound the members (``train_coverage``), its held-out rows give the [Fe/H]
        calibration (``calibrate``) and the synthetic zero points of the age offset (``age_offset``).
    model : str or Path, optional
        The model directory for the age offset (default ``<run_dir>/model``).

    Returns
    -------
    Path
        ``<run_dir>/clusters.csv``.
    """
    cfg = config or ClusterConfig()
    run_dir = Path(run_dir)
    found = find_inputs(run_dir)
    paths = {k: Path(v) if v is not None else found[k]
             for k, v in (("predictions", predictions), ("members", members), ("stars", stars),
                          ("clusters", clusters))}
    for kind, hint in (("predictions", "run `ocfeh predict` first, or pass --predictions"),
                       ("members", "pass --members, or set [clusters] members and run `ocfeh run`")):
        if paths[kind] is None:
            raise InputError(f"{run_dir}: no {kind} file; looked for {', '.join(_CANDIDATES[kind])} ({hint})")
    log.info("clusters: inputs %s", {k: str(v) for k, v in paths.items()})
    tables = {k: _read(v) if v is not None else None for k, v in paths.items()}
    iso = None
    if cfg.isochrones:
        from .isochrones import IsochroneMagnitudes, MagnitudeTable, read_basti

        grid = read_basti()
        iso = IsochroneMagnitudes(grid, MagnitudeTable.build(grid.mets, bands=cfg.iso_bands))
    calibration, coverage, sample = _training_terms(run_dir, training, tables["predictions"], cfg, seed)
    model_dir = Path(model) if model is not None else run_dir / "model"
    age_offset = _age_offset_model(model_dir, sample, iso, cfg, seed)
    table, per_star, steps = analyse_clusters(
        tables["predictions"], tables["members"], tables["stars"], tables["clusters"], cfg, seed, iso,
        figure_dir=run_dir / "clusters" if cfg.figures != "none" else None,
        calibration=calibration, coverage=coverage, age_offset=age_offset,
    )
    out = run_dir / "clusters.csv"
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(run_dir / "cluster_member_steps.csv") as tmp:
        steps.to_csv(tmp, index=False)
    prov = provenance(cfg.model_dump(mode="json"), seed)
    from ..sample import _write_parquet

    _write_parquet(per_star, run_dir / "cluster_members.parquet", {**prov, "stage": "clusters"})
    write_json(run_dir / "clusters.provenance.json", {
        "inputs": {k: str(v) if v is not None else None for k, v in paths.items()},
        "n_clusters": len(table),
        "training": str(training or run_dir / "sample.parquet")
        if calibration is not None or coverage or age_offset is not None else None,
        "feh_calibration": calibration.to_dict() if calibration is not None else None,
        "training_coverage": coverage or None,
        "age_offset": {"model": str(model_dir), "zero_points": age_offset.zero_points,
                       "reference_log_ages": age_offset.reference.tolist()} if age_offset is not None else None,
        **prov,
    })
    log.info("clusters: wrote %s (%d clusters)", out, len(table))
    return out
