"""True stars: the tiles of the patch, field stars drawn along their lines of sight, and their photometry.

Field stars are drawn only where they could be seen: at distance d, initial masses start at the
lowest mass whose most luminous phase (any age and [M/H] of the grid) could be brighter than
``detect_limit_r`` (a bolometric bound with a 0.5 mag margin, extinction ignored, so it is
conservative). The distance distribution of each tile and component is the density times d^2 times
the IMF fraction above that mass, so counts keep their true proportions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from ..bands import BANDS
from ..synthphot import Isochrones, load_isochrones, magnitudes, radius_from_mass_logg
from . import galaxy
from .imf import imf_cdf, sample_imf

__all__ = ["make_tiles", "FieldModel", "draw_stars", "add_photometry", "TRUE_MAG_COLUMNS"]

log = logging.getLogger(__name__)

TRUE_MAG_COLUMNS = tuple(f"mag_{b}_true" for b in BANDS)
_M_BOL_SUN = 4.74


def _galactic_to_icrs(l_deg, b_deg):
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    c = SkyCoord(l=np.atleast_1d(l_deg) * u.deg, b=np.atleast_1d(b_deg) * u.deg, frame="galactic").icrs
    return c.ra.deg, c.dec.deg


def _icrs_to_galactic(ra_deg, dec_deg):
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    c = SkyCoord(ra=np.atleast_1d(ra_deg) * u.deg, dec=np.atleast_1d(dec_deg) * u.deg, frame="icrs").galactic
    return c.l.deg, c.b.deg


def _pm_rotation(l_deg, b_deg) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of the angle that turns (mu_l*, mu_b) into (mu_alpha*, mu_delta) at tile centres."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    l = np.atleast_1d(l_deg)
    c = SkyCoord(l=l * u.deg, b=np.atleast_1d(b_deg) * u.deg, pm_l_cosb=np.ones_like(l) * u.mas / u.yr,
                 pm_b=np.zeros_like(l) * u.mas / u.yr, frame="galactic").icrs
    return c.pm_ra_cosdec.to_value(u.mas / u.yr), c.pm_dec.to_value(u.mas / u.yr)


def make_tiles(n_tiles: int, cfg, rng: np.random.Generator) -> pd.DataFrame:
    """Tile centres spread over the configured |b| (both hemispheres), north of ``min_dec_deg``.

    Returns a table with ``tile``, ``tile_id``, ``l``, ``b``, ``ra``, ``dec`` (deg), ``half_size_deg``,
    ``dust_factor`` and ``pm_cos``/``pm_sin`` (rotation of proper motions from galactic to ICRS).
    """
    lats = np.asarray(cfg.tile_latitudes_deg, float)
    # candidate centres in a fixed sequence (golden-angle longitudes, latitudes cycling north then south),
    # all transformed at once; the first n_tiles north of min_dec are kept
    i = np.arange(100 * n_tiles + 1000)
    b = lats[i % len(lats)] * np.where((i // len(lats)) % 2 == 0, 1.0, -1.0)
    l = (i * 137.50776 + 30.0) % 360.0
    ra, dec = _galactic_to_icrs(l, b)
    ok = np.flatnonzero(dec >= cfg.min_dec_deg)[:n_tiles]
    rows = list(zip(l[ok], b[ok], ra[ok], dec[ok]))
    tiles = pd.DataFrame(rows, columns=["l", "b", "ra", "dec"])
    tiles.insert(0, "tile", np.arange(len(tiles)))
    tiles.insert(1, "tile_id", 80000 + 7 * np.arange(len(tiles)))
    tiles["half_size_deg"] = 0.5 * np.sqrt(cfg.tile_area_deg2)
    tiles["dust_factor"] = np.exp(rng.normal(0.0, cfg.dust_tile_scatter, len(tiles)))
    cos_, sin_ = _pm_rotation(tiles["l"].to_numpy(), tiles["b"].to_numpy())
    tiles["pm_cos"], tiles["pm_sin"] = cos_, sin_
    return tiles


@lru_cache(maxsize=1)
def _bolometric_correction_r(mh: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Largest M_bol - M_r (r_SDSS, AB) over log g 1-5 at each [M/H] of ``mh``, on a log Teff grid.

    Returns the log Teff grid and an array (n_mh, n_teff).
    """
    logt = np.linspace(np.log10(2400.0), np.log10(40000.0), 120)
    teff = np.tile(10**logt, len(mh))
    feh = np.repeat(np.asarray(mh, float), logt.size)
    m_bol = _M_BOL_SUN - 10.0 * np.log10(teff / 5772.0)
    best = np.full(teff.size, -np.inf)
    for logg in (1.0, 2.5, 4.0, 5.0):
        m_r = _magnitudes(teff, np.full(teff.size, logg), feh, 0.0, 1.0, 10.0, ["rSDSS"])[:, 0]
        best = np.fmax(best, m_bol - m_r)
    best[~np.isfinite(best)] = np.nanmax(best)  # no spectra there: the largest value is conservative
    return logt, best.reshape(len(mh), logt.size)


@lru_cache(maxsize=2)
def _node_envelopes(iso_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Per grid node (age, [M/H]): brightest absolute r (AB) reached by stars of initial mass <= m.

    Returns the mass grid (M_sun) and an array (n_age, n_met, n_mass).
    """
    iso = load_isochrones()
    logt, bc = _bolometric_correction_r(tuple(float(x) for x in iso.mh))
    masses = np.linspace(0.1, 3.0, 300)
    n_eep, n_age, n_met = iso.mass_ini.shape
    out = np.full((n_age, n_met, masses.size), np.inf)
    for jm in range(n_met):
        mi = iso.mass_ini[:, :, jm]
        m_r = (_M_BOL_SUN - 2.5 * iso.data["lumi_out"][:, :, jm]
               - np.interp(iso.data["teff_out"][:, :, jm], logt, bc[jm]))
        runmin = np.minimum.accumulate(m_r, axis=0)
        for ja in range(n_age):
            k = np.searchsorted(mi[:, ja], masses * 1.005, side="right")
            ok = k > 0
            out[ja, jm, ok] = runmin[np.clip(k[ok] - 1, 0, None), ja]
    return masses, out


def mass_floor(d_pc, detect_limit_r: float, iso: Isochrones, age_range_myr=None, feh_range=None) -> np.ndarray:
    """Lowest initial mass (M_sun) that could be brighter than ``detect_limit_r`` (r, AB) at ``d_pc``.

    Uses the brightest absolute r reached on the grid (ages within ``age_range_myr``, any [M/H]) by
    stars of at most that mass, with a 0.3 mag margin and no extinction (a conservative bound;
    pre-main-sequence stars of young ages are included). ``feh_range`` limits the [M/H] nodes.
    """
    masses, nodes = _node_envelopes(id(iso))
    ages = iso.ages_myr
    lo, hi = age_range_myr or (ages[0], ages[-1])
    i0 = max(int(np.searchsorted(ages, lo, side="right")) - 1, 0)
    i1 = min(int(np.searchsorted(ages, hi, side="left")), len(ages) - 1)
    flo, fhi = feh_range or (iso.mh[0], iso.mh[-1])
    j0 = max(int(np.searchsorted(iso.mh, flo + 1e-9, side="right")) - 1, 0)
    j1 = min(int(np.searchsorted(iso.mh, fhi - 1e-9, side="left")), len(iso.mh) - 1)
    env = np.minimum.accumulate(nodes[i0:i1 + 1, j0:j1 + 1].min(axis=(0, 1)))
    dm = 5.0 * np.log10(np.asarray(d_pc, float) / 10.0)
    need = detect_limit_r + 0.3 - dm  # absolute r a star must beat
    idx = np.searchsorted(-env, -need, side="left")  # env decreases with mass
    return np.where(idx >= masses.size, np.inf, masses[np.clip(idx, 0, masses.size - 1)])


_AGE_BINS_GYR = {
    "thin": (0.1, 0.2, 0.4, 0.8, 1.5, 3.0, 5.0, 7.5, 10.0),
    "thick": (9.0, 10.0, 11.0, 12.0),
    "halo": (11.0, 12.0, 13.5),
}


@dataclass
class _Segment:
    tile: int
    component: str
    start: int  # global index of the first star
    count: int
    within_tile_start: int


class FieldModel:
    """Expected field counts per tile and component, and the distributions to draw them from.

    Ages are uniform within each component's range (:data:`galaxy.COMPONENTS`); the range is cut in
    bins, each with its own mass floor (young bins include bright pre-main-sequence stars), so a
    star's distance and mass are drawn given its age bin.
    """

    def __init__(self, cfg, tiles: pd.DataFrame, iso: Isochrones):
        self.cfg, self.tiles, self.iso = cfg, tiles, iso
        self.lnd = np.linspace(np.log(5.0), np.log(cfg.max_distance_pc), 1500)
        d = np.exp(self.lnd)
        lo_feh, hi_feh = iso.mh_range
        self.m_ceiling: dict[str, float] = {}
        self.m_floor: dict[tuple[str, int], np.ndarray] = {}
        self.bin_frac: dict[str, np.ndarray] = {}
        for name, comp in galaxy.COMPONENTS.items():
            mh = np.linspace(lo_feh, hi_feh, 15)
            self.m_ceiling[name] = float(iso.max_initial_mass(np.full(15, comp.age_range_gyr[0] * 1000.0), mh).max())
            edges = np.asarray(_AGE_BINS_GYR[name])
            self.bin_frac[name] = np.diff(edges) / (edges[-1] - edges[0])
            for k in range(len(edges) - 1):
                floor = mass_floor(d, cfg.detect_limit_r, iso, (edges[k] * 1000.0, edges[k + 1] * 1000.0),
                                   comp.feh_range)
                self.m_floor[(name, k)] = np.maximum(floor, cfg.min_mass_msun)
        self.cdfs: dict[tuple[int, str, int], np.ndarray] = {}
        self.bin_weights: dict[tuple[int, str], np.ndarray] = {}
        weights = []
        for t in tiles.itertuples():
            R, z = galaxy.galactocentric(t.l, t.b, d)
            for name in galaxy.COMPONENTS:
                dens = galaxy.component_density(name, R, z, cfg) * d**3  # d^2 dd = d^3 dlnd
                totals = []
                for k, frac_bin in enumerate(self.bin_frac[name]):
                    floor = self.m_floor[(name, k)]
                    frac = np.clip(imf_cdf(self.m_ceiling[name], cfg.imf) - imf_cdf(np.minimum(floor, 1e3), cfg.imf),
                                   0.0, None)
                    frac[~np.isfinite(floor)] = 0.0
                    integrand = dens * frac
                    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (integrand[1:] + integrand[:-1]) * np.diff(self.lnd))])
                    totals.append(frac_bin * cdf[-1])
                    self.cdfs[(t.tile, name, k)] = cdf / cdf[-1] if cdf[-1] > 0 else cdf
                totals = np.asarray(totals)
                weights.append(totals.sum())
                self.bin_weights[(t.tile, name)] = totals / totals.sum() if totals.sum() > 0 else totals
        self.weights = np.asarray(weights) / np.sum(weights)

    def allocate(self, n_stars: int, rng: np.random.Generator) -> list[_Segment]:
        """Split ``n_stars`` over (tile, component) by a multinomial draw; contiguous global indices."""
        counts = rng.multinomial(n_stars, self.weights)
        segs, start, k = [], 0, 0
        for t in self.tiles.itertuples():
            within = 0
            for name in galaxy.COMPONENTS:
                segs.append(_Segment(t.tile, name, start, int(counts[k]), within))
                start += int(counts[k])
                within += int(counts[k])
                k += 1
        return segs

    def draw_age_distance_mass(self, rng, tile: int, component: str, n: int):
        """Ages (Myr), distances (pc) and initial masses (M_sun) of ``n`` potentially visible stars."""
        edges = np.asarray(_AGE_BINS_GYR[component]) * 1000.0
        w = self.bin_weights[(tile, component)]
        k = np.minimum(np.searchsorted(np.cumsum(w), rng.random(n) * w.sum(), side="right"), len(w) - 1)
        age = rng.uniform(edges[k], edges[k + 1])
        u = rng.random(n)
        lnd = np.empty(n)
        floor = np.empty(n)
        for kb in np.unique(k):
            sel = k == kb
            lnd[sel] = np.interp(u[sel], self.cdfs[(tile, component, kb)], self.lnd)
            floor[sel] = np.interp(lnd[sel], self.lnd, self.m_floor[(component, kb)])
        ceiling = self.m_ceiling[component]
        mass = sample_imf(rng, n, np.minimum(floor, ceiling), ceiling, self.cfg.imf)
        return age, np.exp(lnd), mass


def draw_stars(rng, model: FieldModel, seg: _Segment, lo: int, hi: int) -> pd.DataFrame:
    """True parameters of the field stars with global indices [lo, hi) of one segment.

    Dead stars (initial mass above the end of their isochrone) are dropped.
    """
    cfg, iso = model.cfg, model.iso
    n = hi - lo
    t = model.tiles.iloc[seg.tile]
    age, d, mass_ini = model.draw_age_distance_mass(rng, seg.tile, seg.component, n)
    R, z = galaxy.galactocentric(t.l, t.b, d)
    feh = galaxy.draw_feh(rng, seg.component, age, R)
    h = t.half_size_deg
    dec = t.dec + rng.uniform(-h, h, n)
    ra = (t.ra + rng.uniform(-h, h, n) / np.cos(np.radians(dec))) % 360.0
    uvw = galaxy.draw_velocities(rng, seg.component, n, age)
    mul, mub, vr = galaxy.proper_motions(t.l, t.b, d, uvw)
    a0 = galaxy.dust_a0(t.b, d, cfg.a0_per_kpc, cfg.dust_scale_height_pc, t.dust_factor)
    df = pd.DataFrame(
        {
            "star_id": np.arange(lo, hi, dtype=np.int64),
            "tile": np.full(n, seg.tile, dtype=np.int32),
            "jplus_number": (np.arange(lo, hi) - seg.start + seg.within_tile_start + 1).astype(np.int64),
            "component": seg.component,
            "cluster": "",
            "ra": ra, "dec": dec,
            "pmra": mul * t.pm_cos - mub * t.pm_sin,
            "pmdec": mul * t.pm_sin + mub * t.pm_cos,
            "radial_velocity": vr,
            "distance_true_pc": d, "a0_true": a0, "age_true_myr": age, "feh_true": feh,
            "mass_ini": mass_ini,
            "mass_ratio": np.zeros(n),
        }
    )
    return _evolve(df, iso)


def _evolve(df: pd.DataFrame, iso: Isochrones) -> pd.DataFrame:
    par = iso.interpolate(df["age_true_myr"].to_numpy(), df["feh_true"].to_numpy(), df["mass_ini"].to_numpy())
    alive = par["alive"].to_numpy()
    df = df.loc[alive].reset_index(drop=True)
    par = par.loc[alive].reset_index(drop=True)
    df["teff_true"] = par["teff"].to_numpy()
    df["logg_true"] = par["logg"].to_numpy()
    df["mass_true"] = par["mass"].to_numpy()
    df["radius_true"] = radius_from_mass_logg(df["mass_true"].to_numpy(), df["logg_true"].to_numpy())
    df["eep"] = par["eep"].to_numpy()
    return df


def _magnitudes(teff, logg, feh, a0, radius, distance, bands=None) -> np.ndarray:
    names = list(bands or BANDS)
    mags = magnitudes(teff, logg, feh, a0=a0, radius=radius, distance=distance, bands=names)
    return np.array(mags[names].to_numpy(dtype=float), copy=True)


def add_photometry(df: pd.DataFrame, iso: Isochrones) -> pd.DataFrame:
    """Add true apparent magnitudes ``mag_<band>_true`` (extinction included; unresolved binaries
    combined in flux). Stars outside the model-spectrum grid are dropped (counted in the log)."""
    if len(df) == 0:
        for c in TRUE_MAG_COLUMNS:
            df[c] = np.zeros(0)
        return df
    mags = _magnitudes(df["teff_true"], df["logg_true"], df["feh_true"], df["a0_true"], df["radius_true"],
                       df["distance_true_pc"])
    q = df["mass_ratio"].to_numpy()
    binary = q > 0
    if binary.any():
        sub = df.loc[binary]
        par = iso.interpolate(sub["age_true_myr"].to_numpy(), sub["feh_true"].to_numpy(),
                              np.maximum(sub["mass_ini"].to_numpy() * q[binary], 0.1))
        rad = radius_from_mass_logg(par["mass"].to_numpy(), par["logg"].to_numpy())
        m2 = _magnitudes(par["teff"], par["logg"], sub["feh_true"], sub["a0_true"], rad, sub["distance_true_pc"])
        m1 = mags[binary]
        comb = -2.5 * np.log10(10 ** (-0.4 * m1) + np.where(np.isfinite(m2), 10 ** (-0.4 * np.nan_to_num(m2, nan=99)), 0))
        mags[binary] = comb
    ok = np.isfinite(mags).all(axis=1)
    if (~ok).any():
        log.debug("mock sky: %d of %d stars outside the model-spectrum grid dropped", int((~ok).sum()), ok.size)
    df = df.loc[ok].reset_index(drop=True)
    mags = mags[ok]
    for j, c in enumerate(TRUE_MAG_COLUMNS):
        df[c] = mags[:, j]
    return df
