"""One cluster's [Fe/H] (bootstrap median, hierarchical MCMC) and isochrone fit, and every cluster of a
members table: the member selection steps, the fits and the rows of ``clusters.csv``."""

from __future__ import annotations

import logging
import time
import warnings
import zlib
from enum import Enum
from pathlib import Path

import numpy as np
import pandas as pd
from rich.progress import track

from ..bands import JPLUS_BANDS
from ..exceptions import FewMembersWarning, InputError, OcfehWarning
from ..schema import mag_col
from .config import ClusterConfig
from .coverage import inside_box
from .figures import write_cluster_figure
from .isochrone_fit import fit_isochrone, with_feh_prior
from .members import normalise_members, select_members
from .membership import members_in_cones
from .metallicity import fit_cluster_feh, median_feh, member_errors, shift_posterior

__all__ = [
    "CLUSTER_COLUMNS",
    "ClusterFlag",
    "analyse_cluster",
    "analyse_clusters",
    "own_cones",
    "seed_for",
    "isochrone_members",
    "iso_feh_prior",
    "parallax_distance",
    "remove_age_offset",
]

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


class ClusterFlag(str, Enum):
    """Why a cluster's row is less than it should be (the ``flags`` column: ``;``-joined values)."""

    TOO_FEW_MEMBERS = "too_few_members"
    FEW_MEMBERS = "few_members"
    LOW_ACCEPTANCE = "low_acceptance"
    SHORT_CHAIN = "short_chain"
    ISO_FAILED = "iso_failed"
    NO_AGE_OFFSET = "no_age_offset"
    WARNING = "warning"

    @staticmethod
    def join(flags) -> str:
        """The ``flags`` column value: each flag once, in the order raised."""
        return ";".join(dict.fromkeys(f.value for f in flags))


def seed_for(seed: int, name: str) -> np.random.Generator:
    """The generator of one cluster: the run's seed and the cluster's name (independent of the order)."""
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
    rng = seed_for(seed, name)
    t0 = time.perf_counter()
    flags: list[ClusterFlag] = []
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
        flags += _cluster_feh(name, fm, use, cfg, rng, calibration, row, per_star, fits)
        im = members if iso_members is None else iso_members
        if iso is not None and cfg.isochrones and len(im) >= max(3, cfg.min_members):
            flags += _cluster_isochrone(name, im, iso_members is not None, cfg, rng, iso, row, per_star, fits)
            per_star = fits.pop("per_star", per_star)
        if age_offset is not None:
            flags += remove_age_offset(name, fm, fits, row, age_offset, calibration, cfg.age_offset_sys_fraction, rng)
    for w in caught:
        if issubclass(w.category, OcfehWarning):
            flags.append(ClusterFlag.FEW_MEMBERS if issubclass(w.category, FewMembersWarning) else ClusterFlag.WARNING)
            log.warning("%s", w.message)
        else:  # pragma: no cover - pass other warnings on
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if "feh_true" in members and members["feh_true"].notna().any():
        row["feh_true"] = float(np.nanmean(members["feh_true"]))
    row["flags"] = ClusterFlag.join(flags)
    row["seconds"] = round(time.perf_counter() - t0, 3)
    return row, per_star, fits


def _cluster_feh(name, fm, use, cfg: ClusterConfig, rng, calibration, row: dict, per_star: pd.DataFrame,
                 fits: dict) -> list[ClusterFlag]:
    """The bootstrap median and the hierarchical MCMC [Fe/H] of the members ``fm`` (rows ``use``) into ``row``."""
    flags = []
    med = median_feh(fm["feh"], cfg.n_bootstrap, rng, cfg.warn_members, name)
    fits["median"] = med
    row.update(feh_median=med.median, feh_median_err=med.err)
    if calibration is not None and med.n:
        row["feh_median"], row["feh_median_err"] = calibration.correct_median(med.median, med.err)
    if len(fm) < max(2, cfg.min_members):
        return [ClusterFlag.TOO_FEW_MEMBERS]
    res = fit_cluster_feh(
        fm["feh"], member_errors(fm["feh_err"], cfg.member_errors), n_walkers=cfg.n_walkers, n_steps=cfg.n_steps,
        n_burn=cfg.n_burn, outlier_width=cfg.outlier_width, max_spread=cfg.max_spread,
        max_outlier_fraction=cfg.max_outlier_fraction, seed=rng, warn_members=0, name=name,  # median_feh already warned
        calibration=calibration,
    )
    fits["mcmc"] = res
    per_star.loc[use, "feh_outlier_prob"] = res.outlier_prob
    row.update(feh_mcmc=res.mu, feh_mcmc_p16=res.mu_p16, feh_mcmc_p84=res.mu_p84, feh_mcmc_err=res.mu_err,
               feh_sys=res.sigma_sys, feh_spread=res.spread, feh_spread_p16=res.spread_p16,
               feh_spread_p84=res.spread_p84, outlier_fraction=res.outlier_fraction,
               n_outliers=int(np.nansum(res.outlier_prob > 0.5)),
               feh_mcmc_tau=float(np.max(res.tau)), feh_mcmc_n_kept=res.n_kept)
    if res.acceptance < 0.15:
        flags.append(ClusterFlag.LOW_ACCEPTANCE)
    if not res.converged:
        flags.append(ClusterFlag.SHORT_CHAIN)
    return flags


def _cluster_isochrone(name, im, separate: bool, cfg: ClusterConfig, rng, iso, row: dict, per_star: pd.DataFrame,
                       fits: dict) -> list[ClusterFlag]:
    """The isochrone fit of the members ``im`` (``separate``: not the [Fe/H] members) into ``row``; the
    per-star table with its outlier probabilities is left in ``fits["per_star"]``."""
    try:
        fits["iso"] = _fit_iso(name, im, cfg, fits["mcmc"], iso, rng)
    except InputError as err:
        log.warning("%s: isochrone fit skipped: %s", name, err)
        return [ClusterFlag.ISO_FAILED]
    row.update(fits["iso"].summary())
    if not separate:
        per_star["iso_outlier_prob"] = fits["iso"].outlier_prob
    elif "source_id" in per_star:
        ip = pd.DataFrame({"source_id": im["source_id"].to_numpy(), "iso_outlier_prob": fits["iso"].outlier_prob})
        fits["per_star"] = per_star.drop(columns="iso_outlier_prob").merge(ip, on="source_id", how="outer")
    return []


def remove_age_offset(name, members, fits, row, age_offset, calibration, sys_fraction, rng) -> list[ClusterFlag]:
    """Subtract the simulated age offset from ``row``'s [Fe/H] (and ``fits["mcmc"]``); returns flags."""
    if fits["mcmc"] is None or fits["iso"] is None:
        return [ClusterFlag.NO_AGE_OFFSET]
    try:
        delta, n = age_offset.offset(members, fits["iso"].log_age[1], fits["mcmc"].mu)
    except InputError as err:
        log.warning("%s: no age offset: %s", name, err)
        return [ClusterFlag.NO_AGE_OFFSET]
    if not np.isfinite(delta):
        log.info("%s: no age offset (no dwarf member on the main sequence at the cluster's and reference ages)", name)
        return [ClusterFlag.NO_AGE_OFFSET]
    shift = delta / (float(calibration.slope(fits["mcmc"].mu)) if calibration is not None else 1.0)
    extra = sys_fraction * abs(shift)
    fits["mcmc"] = res = shift_posterior(fits["mcmc"], shift, extra, rng)
    row.update(feh_mcmc=res.mu, feh_mcmc_p16=res.mu_p16, feh_mcmc_p84=res.mu_p84, feh_mcmc_err=res.mu_err,
               feh_sys=res.sigma_sys, feh_age_offset=shift, n_age_offset=n)
    if fits["iso"].feh_prior is not None:  # the isochrone fit's prior was the [Fe/H] before the offset
        fits["iso"] = with_feh_prior(fits["iso"], iso_feh_prior(res))
        row.update(fits["iso"].summary())
    if np.isfinite(row.get("feh_median", np.nan)):
        row.update(feh_median=row["feh_median"] - shift, feh_median_err=float(np.hypot(row["feh_median_err"], extra)))
    log.info("%s: age offset %+.3f dex at log age %.2f (%d dwarfs simulated)", name, shift,
             fits["iso"].log_age[1], n)
    return []


def parallax_distance(members: pd.DataFrame, cfg: ClusterConfig) -> tuple[float, float] | None:
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


def iso_feh_prior(mcmc) -> tuple[float, float]:
    """The isochrone fit's Gaussian [Fe/H] prior from the photometric cluster [Fe/H] (a 0.05 dex floor)."""
    return mcmc.mu, float(np.hypot(mcmc.mu_err, 0.05))


def _fit_iso(name, members, cfg, mcmc, iso, rng):
    feh_prior = iso_feh_prior(mcmc) if cfg.iso_feh_prior and mcmc is not None else None
    dist_prior = parallax_distance(members, cfg)  # else the members' median distance, +-10 %
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
    cfg = config or ClusterConfig()
    mem = normalise_members(members)
    pred = _joined(predictions, mem, stars)
    sel = select_members(pred, mem, cfg.member_prob_min, cfg.drop_ood, cfg.max_feh_err)
    iso_groups = _member_steps(sel, pred, mem, cfg, iso, coverage)
    truth = _truth_of(clusters)
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
            write_cluster_figure(name, m.reset_index(drop=True), fits, row, iso, Path(figure_dir), cfg.figures,
                                 im.reset_index(drop=True) if im is not None else None)
    table = pd.DataFrame(rows)
    if own_summary is not None:
        table = table.merge(own_summary.drop(columns="n_field"), on="cluster", how="left")
    table = table.reindex(columns=list(CLUSTER_COLUMNS))
    per = pd.concat(stars_out, ignore_index=True) if stars_out else pd.DataFrame()
    if own is not None and len(own) and "source_id" in per:
        per = per.merge(own, on=["cluster", "source_id"], how="outer")
    return table, per, sel.steps


def _joined(predictions: pd.DataFrame, mem: pd.DataFrame, stars: pd.DataFrame | None) -> pd.DataFrame:
    """The predictions with the stars' columns they lack (photometry, ``phot_quality``, truth) and the
    magnitudes a members table carries (the mock sky's, or HR23's Gaia columns)."""
    pred = predictions
    if stars is not None and "source_id" in stars:
        extra = [c for c in stars.columns if c not in pred.columns or c == "source_id"]
        pred = pred.merge(stars[extra].drop_duplicates("source_id"), on="source_id", how="left")
    extra = [c for c in mem.columns if c not in pred.columns and c not in ("cluster", "member_prob")]
    if extra:
        pred = pred.merge(mem[["source_id", *extra]].drop_duplicates("source_id"), on="source_id", how="left")
    return pred


def _member_steps(sel, pred: pd.DataFrame, mem: pd.DataFrame, cfg: ClusterConfig, iso, coverage) -> dict:
    """The steps after :func:`select_members`: photometric quality, the isochrone members, the training
    coverage. Marks ``sel.members["in_coverage"]``, adds the step counts; returns the isochrone members by
    cluster."""
    keep = np.ones(len(sel.members), dtype=bool)
    if "phot_quality" in sel.members:  # members held to the training sample's photometric cuts
        keep &= sel.members["phot_quality"].fillna(False).to_numpy(bool)
        counts = sel.members[keep].groupby("cluster").size()
        sel.steps["n_phot_quality"] = sel.steps["cluster"].map(counts).fillna(0).astype(int)
    sel.members["in_coverage"] = keep
    iso_groups = {}
    if iso is not None and cfg.isochrones:
        im = isochrone_members(pred, mem, cfg)
        iso_groups = dict(tuple(im.groupby("cluster")))
        counts = im.groupby("cluster").size()
        sel.steps["n_iso"] = sel.steps["cluster"].map(counts).fillna(0).astype(int)
    if coverage:
        keep &= inside_box(sel.members, coverage)
        sel.members["in_coverage"] = keep
        counts = sel.members[keep].groupby("cluster").size()
        sel.steps["n_covered"] = sel.steps["cluster"].map(counts).fillna(0).astype(int)
        log.info("members: %d of %d inside the training sample's coverage %s", int(keep.sum()), keep.size,
                 {k: (round(a, 2), round(b, 2)) for k, (a, b) in coverage.items()})
    return iso_groups


def _truth_of(clusters: pd.DataFrame | None) -> dict[str, dict]:
    """``{"feh_true": {cluster: value}, "log_age_true": {...}}`` of a cluster table that carries them."""
    if clusters is None:
        return {}
    ct = clusters.rename(columns={"Name": "cluster"}) if "cluster" not in clusters else clusters
    ct = ct.assign(cluster=ct["cluster"].astype(str).str.strip()).set_index("cluster")
    return {c: ct[c].to_dict() for c in ("feh_true", "log_age_true") if c in ct}


def own_cones(clusters: pd.DataFrame | None, cfg: ClusterConfig) -> pd.DataFrame | None:
    """The cone of each cluster for our own membership (``cluster``, ``ra``, ``dec``, ``radius_deg``), or None
    when it is not run or the cluster table lacks a position or ``r50``."""
    if not cfg.own_membership or clusters is None:
        return None
    ct = clusters.rename(columns={"Name": "cluster", "RA_ICRS": "ra", "DE_ICRS": "dec", "r50_deg": "r50"})
    if not {"cluster", "ra", "dec", "r50"} <= set(ct.columns):
        return None
    radius = np.maximum(cfg.own_radius_r50 * ct["r50"].astype(float), cfg.own_min_radius_deg)
    return pd.DataFrame({"cluster": ct["cluster"].astype(str).str.strip(), "ra": ct["ra"].astype(float),
                         "dec": ct["dec"].astype(float), "radius_deg": radius})


def _own_members(pred: pd.DataFrame, mem: pd.DataFrame, clusters, cfg: ClusterConfig):
    """Our members in a cone around each cluster and their comparison with the catalogue (None, None if not run)."""
    if not cfg.own_membership or clusters is None:
        return None, None
    centres = own_cones(clusters, cfg)
    astro = {"ra", "dec", "pmra", "pmdec", "parallax"}
    if centres is None or not astro <= set(pred.columns):
        log.info("own membership skipped: it needs the cluster table's %s and the stars' %s",
                 ["cluster", "dec", "r50", "ra"], sorted(astro))
        return None, None
    stars = pred[pred["mag_G"] < cfg.own_mag_limit] if "mag_G" in pred else pred
    catalogue = mem.loc[mem["member_prob"] >= cfg.member_prob_min, ["cluster", "source_id"]]
    summary, own = members_in_cones(stars, centres, catalogue, cfg.hdbscan_min_cluster_size, cfg.hdbscan_min_samples,
                                    cfg.cmd_clip, cfg.hdbscan_selection)
    rec = summary["own_recovered_fraction"]
    log.info("own membership in %d clusters: median %.2f of the catalogue members recovered, %d new candidates",
             int(rec.notna().sum()), float(np.nanmedian(rec)) if rec.notna().any() else float("nan"),
             int(np.nansum(summary["n_own_new"])))
    return summary, own


def isochrone_members(pred: pd.DataFrame, mem: pd.DataFrame, cfg: ClusterConfig) -> pd.DataFrame:
    """Members for the isochrone fit: probability cut, Gaia G present, RUWE <= ``iso_max_ruwe``; J-PLUS
    magnitudes of flagged stars (``jplus_flags`` / ``jplus_mask_flags`` non-zero) blanked."""
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


