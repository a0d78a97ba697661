"""Open clusters of the mock sky: true parameters and members drawn from their isochrone.

Each cluster sits in a tile (low-latitude tiles preferred, as real clusters hug the plane), has an
age (log-uniform), [Fe/H] (uniform), distance, the dust model's A_0 at that distance, a projected
Plummer profile with half-number radius ``r50``, and a thin-disc velocity. Members are drawn from the
IMF (only masses that could be brighter than G ~ 21.5 at the cluster's distance), with unresolved
binaries (flat mass ratio 0.1-1), until the cluster has the requested number of members brighter
than r = 17.5 (so every cluster has enough well-measured, LAMOST-quality stars) or the cap is hit.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..synthphot import Isochrones
from . import galaxy
from .imf import sample_imf
from .stars import _evolve, add_photometry, mass_floor

__all__ = ["draw_clusters", "CLUSTER_ID_OFFSET"]

log = logging.getLogger(__name__)

CLUSTER_ID_OFFSET = 1_000_000_000  # star_id of cluster members start here
_CLUSTER_NUMBER_OFFSET = 9_000_000  # J-PLUS ``number`` of cluster members start here (per tile)
_BATCH = 300


def _cluster_params(cfg, tiles: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    w = np.exp(-np.abs(tiles["b"].to_numpy()) / 20.0)
    tile = rng.choice(len(tiles), size=n, p=w / w.sum())
    t = tiles.iloc[tile].reset_index(drop=True)
    h = 0.35 * t["half_size_deg"].to_numpy()
    dec = t["dec"].to_numpy() + rng.uniform(-1, 1, n) * h
    ra = (t["ra"].to_numpy() + rng.uniform(-1, 1, n) * h / np.cos(np.radians(dec))) % 360.0
    lo, hi = np.log10(cfg.cluster_age_range_myr)
    age = 10 ** rng.uniform(lo, hi, n)
    feh = rng.uniform(*cfg.cluster_feh_range, n)
    d = rng.uniform(*cfg.cluster_distance_range_pc, n)
    a0 = galaxy.dust_a0(t["b"].to_numpy(), d, cfg.a0_per_kpc, cfg.dust_scale_height_pc, t["dust_factor"].to_numpy())
    r50_pc = rng.uniform(1.5, 4.0, n)
    uvw = galaxy.draw_velocities(rng, "thin", n, age)
    mul, mub, vr = galaxy.proper_motions(t["l"].to_numpy(), t["b"].to_numpy(), d, uvw)
    c, s = t["pm_cos"].to_numpy(), t["pm_sin"].to_numpy()
    return pd.DataFrame(
        {
            "name": [f"MockOC_{i + 1:03d}" for i in range(n)],
            "cluster_index": np.arange(n),
            "tile": t["tile"].to_numpy().astype(np.int32),
            "ra": ra, "dec": dec, "l": t["l"].to_numpy(), "b": t["b"].to_numpy(),
            "age_true_myr": age, "feh_true": feh, "distance_true_pc": d, "a0_true": a0,
            "r50_pc": r50_pc, "r50_deg": np.degrees(r50_pc / d),
            "pmra": mul * c - mub * s, "pmdec": mul * s + mub * c, "radial_velocity": vr,
            "n_bright_target": rng.integers(cfg.cluster_bright_members[0], cfg.cluster_bright_members[1] + 1, n),
        }
    )


def _members_batch(cfg, cl, iso: Isochrones, rng, n: int) -> pd.DataFrame:
    d = cl.distance_true_pc
    floor = float(mass_floor(d, 21.5 + 3.0, iso, (cl.age_true_myr * 0.8, cl.age_true_myr * 1.25),
                             (cl.feh_true - 0.1, cl.feh_true + 0.1)))
    ceiling = float(iso.max_initial_mass(cl.age_true_myr, cl.feh_true))
    floor = max(min(floor, ceiling * 0.999), cfg.min_mass_msun)
    mass = sample_imf(rng, n, floor, ceiling, cfg.imf)
    u = rng.random(n) * 0.99
    rad_deg = cl.r50_deg * np.sqrt(u / (1 - u))
    phi = rng.uniform(0, 2 * np.pi, n)
    dec = cl.dec + rad_deg * np.sin(phi)
    ra = (cl.ra + rad_deg * np.cos(phi) / np.cos(np.radians(cl.dec))) % 360.0
    sig_pm = 0.7 / (4.740470446 * d / 1000.0)  # 0.7 km/s internal dispersion
    binary = rng.random(n) < cfg.binary_fraction
    q = np.where(binary, rng.uniform(0.1, 1.0, n), 0.0)
    return pd.DataFrame(
        {
            "tile": np.full(n, cl.tile, dtype=np.int32),
            "component": "cluster",
            "cluster": cl.name,
            "ra": ra, "dec": dec,
            "pmra": cl.pmra + rng.normal(0, sig_pm, n),
            "pmdec": cl.pmdec + rng.normal(0, sig_pm, n),
            "radial_velocity": cl.radial_velocity + rng.normal(0, 0.7, n),
            "distance_true_pc": d + rng.normal(0, cl.r50_pc, n),
            "a0_true": np.full(n, cl.a0_true),
            "age_true_myr": np.full(n, cl.age_true_myr),
            "feh_true": np.full(n, cl.feh_true),
            "mass_ini": mass,
            "mass_ratio": q,
        }
    )


def draw_clusters(cfg, tiles: pd.DataFrame, n_clusters: int, iso: Isochrones, rng: np.random.Generator):
    """True clusters and their members (with true magnitudes).

    Returns
    -------
    clusters : DataFrame
        One row per cluster: ``name``, ``tile``, ``ra``, ``dec`` (deg, epoch 2016), ``age_true_myr``,
        ``feh_true``, ``distance_true_pc``, ``a0_true``, ``r50_deg``, ``pmra``, ``pmdec`` (mas/yr), ...
    members : DataFrame
        Truth columns as for field stars, ``cluster`` naming the cluster, ``mass_ratio`` > 0 for
        unresolved binaries.
    """
    clusters = _cluster_params(cfg, tiles, n_clusters, rng)
    parts = []
    n_bright = np.zeros(n_clusters, int)
    for cl in clusters.itertuples():
        got, bright, drawn = [], 0, 0
        while bright < cl.n_bright_target and drawn < cfg.cluster_max_members:
            batch = _members_batch(cfg, cl, iso, rng, _BATCH)
            drawn += _BATCH
            batch = add_photometry(_evolve(batch, iso), iso)
            batch = batch.loc[batch["mag_G_true"] < 21.5]
            got.append(batch)
            bright += int((batch["mag_rSDSS_true"] < 17.5).sum())
        mem = pd.concat(got, ignore_index=True)
        is_bright = (mem["mag_rSDSS_true"] < 17.5).to_numpy()
        if bright > cl.n_bright_target:  # members come in random order: cut at the target-th bright one
            cut = int(np.nonzero(is_bright)[0][cl.n_bright_target - 1]) + 1
            mem, bright = mem.iloc[:cut], int(cl.n_bright_target)
        n_bright[cl.cluster_index] = bright
        parts.append(mem)
    members = pd.concat([p for p in parts if p is not None], ignore_index=True)
    clusters["n_bright_true"] = n_bright
    members.insert(0, "star_id", CLUSTER_ID_OFFSET + np.arange(len(members), dtype=np.int64))
    members.insert(2, "jplus_number", (_CLUSTER_NUMBER_OFFSET + members.groupby("tile").cumcount() + 1).astype(np.int64))
    log.info("mock sky: %d clusters, %d members (G < 21.5)", n_clusters, len(members))
    return clusters, members
