"""Survey-level systematics (drawn once per sky) and the observation of one chunk of true stars."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..bands import JPLUS_BANDS
from ..synthphot import extinction_coefficients
from . import galaxy
from .obs_catwise import observe_catwise
from .obs_gaia import observe_gaia
from .obs_jplus import observe_jplus
from .obs_lamost import observe_lamost

__all__ = ["SurveyState", "observe_chunk", "hr23_rows"]


@dataclass
class SurveyState:
    """Per-sky systematics: J-PLUS tile depths, zero points, aperture corrections, epochs, reddening
    of the tiles (SFD-like, the total column), LAMOST coverage per tile."""

    cfg: object
    tiles: pd.DataFrame
    jplus_depth: np.ndarray
    jplus_zp: np.ndarray
    jplus_zp_tile: np.ndarray
    jplus_apcor: np.ndarray
    jplus_epoch: np.ndarray
    jplus_ebv: np.ndarray
    jplus_ax_per_ebv: np.ndarray
    lamost_cover: np.ndarray
    _cache: dict = field(default_factory=dict)

    @classmethod
    def draw(cls, cfg, tiles: pd.DataFrame, rng: np.random.Generator) -> "SurveyState":
        """Draw the systematics of one sky from ``rng``."""
        nt = len(tiles)
        depth = np.array([cfg.jplus_depth_5sigma[b] for b in JPLUS_BANDS])
        a0_inf = galaxy.dust_a0(tiles["b"].to_numpy(), 1e6, cfg.a0_per_kpc, cfg.dust_scale_height_pc,
                                tiles["dust_factor"].to_numpy())
        k = extinction_coefficients(5800.0, 4.4, 0.0, a0=0.3, bands=list(JPLUS_BANDS))
        cover = np.clip(cfg.lamost_coverage * rng.uniform(0.5, 1.5, nt), 0, 1)
        cover[tiles["dec"].to_numpy() < -10.0] = 0.0
        return cls(
            cfg=cfg, tiles=tiles,
            jplus_depth=depth[None, :] + rng.normal(0, cfg.jplus_depth_scatter, (nt, 12)),
            jplus_zp=rng.normal(0, cfg.jplus_zero_point_scatter, 12),
            jplus_zp_tile=rng.normal(0, 0.01, (nt, 12)),
            jplus_apcor=rng.uniform(0.02, 0.06, (nt, 12)),
            jplus_epoch=cfg.jplus_epoch + rng.uniform(-1.5, 1.5, nt),
            jplus_ebv=a0_inf / 3.1,
            jplus_ax_per_ebv=3.1 * k[list(JPLUS_BANDS)].to_numpy()[0],
            lamost_cover=cover,
        )

    def summary(self) -> dict:
        """The systematics as plain lists (for the manifest)."""
        return {
            "jplus_zero_point_offsets_mag": dict(zip(JPLUS_BANDS, np.round(self.jplus_zp, 5).tolist())),
            "jplus_ax_per_ebv": dict(zip(JPLUS_BANDS, np.round(self.jplus_ax_per_ebv, 4).tolist())),
            "tiles": self.tiles.assign(ebv_sfd_like=self.jplus_ebv, jplus_epoch=self.jplus_epoch,
                                       lamost_coverage=self.lamost_cover)
            .round(5).to_dict(orient="records"),
        }

    def galactic(self, ra, dec):
        """Galactic l, b (deg) of ICRS positions."""
        from .stars import _icrs_to_galactic

        return _icrs_to_galactic(ra, dec)

    def gaia_extinction_coefficients(self, stars: pd.DataFrame) -> np.ndarray:
        """A_G/A_0, A_BP/A_0, A_RP/A_0 (n, 3) at the stars' true parameters."""
        if len(stars) == 0:
            return np.zeros((0, 3))
        k = extinction_coefficients(stars["teff_true"].to_numpy(), stars["logg_true"].to_numpy(),
                                    stars["feh_true"].to_numpy(), a0=1.0, bands=["G", "BP", "RP"])
        return np.nan_to_num(k[["G", "BP", "RP"]].to_numpy(), nan=0.8)


def observe_chunk(stars: pd.DataFrame, state: SurveyState, rng: np.random.Generator):
    """Observe one chunk with every survey.

    Returns
    -------
    tables : dict of str to dict
        Columns per output table (``jplus``, ``jplus_ext``, ``gaia``, ``gaia_ap``, ``gaia_dist``,
        ``catwise``, ``lamost``).
    links : DataFrame
        Per input star: ``source_id`` (or -1), ``jplus_tile_id`` / ``jplus_number`` (or -1),
        ``catwise_source_name`` (or ""), ``lamost_obsid`` (or -1) and Gaia columns needed for HR23.
    """
    n = len(stars)
    jp, jext, k_j = observe_jplus(stars, state, rng)
    ga, gap, gdist, k_g = observe_gaia(stars, state, rng)
    cw, k_c = observe_catwise(stars, state, rng)
    la, k_l = observe_lamost(stars, state, rng)
    links = pd.DataFrame({
        "source_id": np.full(n, -1, np.int64),
        "jplus_tile_id": np.full(n, -1, np.int32),
        "jplus_number": np.full(n, -1, np.int64),
        "catwise_source_name": np.full(n, "", dtype=object),
        "lamost_obsid": np.full(n, -1, np.int64),
    })
    links.loc[k_j, "jplus_tile_id"] = jp["tile_id"]
    links.loc[k_j, "jplus_number"] = jp["number"]
    links.loc[k_g, "source_id"] = ga["source_id"]
    links.loc[k_c, "catwise_source_name"] = cw["source_name"]
    links.loc[k_l, "lamost_obsid"] = la["obsid"]
    gaia_rows = pd.DataFrame({k: ga[k] for k in ("source_id", "ra", "dec", "l", "b", "pmra", "pmra_error", "pmdec",
                                                  "pmdec_error", "parallax", "parallax_error", "ruwe",
                                                  "phot_g_mean_mag", "phot_bp_mean_mag", "phot_rp_mean_mag")})
    gaia_rows.index = np.nonzero(k_g)[0]
    tables = {"jplus": jp, "jplus_ext": jext, "gaia": ga, "gaia_ap": gap, "gaia_dist": gdist,
              "catwise": cw, "lamost": la}
    return tables, links, gaia_rows


def _member_columns(name, cid, g: pd.DataFrame, prob) -> dict:
    return {
        "Name": np.full(len(g), name, dtype=object).astype(str), "ID": np.full(len(g), cid, np.int32),
        "GaiaDR3": g["source_id"].to_numpy(np.int64), "Prob": np.asarray(prob, np.float32),
        "RA_ICRS": g["ra"].to_numpy(), "DE_ICRS": g["dec"].to_numpy(),
        "GLON": g["l"].to_numpy(), "GLAT": g["b"].to_numpy(),
        "pmRA": g["pmra"].to_numpy(np.float32), "e_pmRA": g["pmra_error"].to_numpy(np.float32),
        "pmDE": g["pmdec"].to_numpy(np.float32), "e_pmDE": g["pmdec_error"].to_numpy(np.float32),
        "Plx": g["parallax"].to_numpy(np.float32), "e_Plx": g["parallax_error"].to_numpy(np.float32),
        "RUWE": g["ruwe"].to_numpy(np.float32),
        "Gmag": g["phot_g_mean_mag"].to_numpy(np.float32), "BPmag": g["phot_bp_mean_mag"].to_numpy(np.float32),
        "RPmag": g["phot_rp_mean_mag"].to_numpy(np.float32),
    }


def hr23_rows(stars: pd.DataFrame, gaia_rows: pd.DataFrame, clusters: pd.DataFrame, rng) -> tuple[list[dict], np.ndarray]:
    """HR23-like member rows: recovered true members (high ``Prob``) and field contaminants whose
    position, proper motion and parallax agree with a cluster (lower ``Prob``).

    Returns the list of column dicts and a boolean per input star (listed as a member of some cluster).
    """
    listed = np.zeros(len(stars), bool)
    out = []
    if len(gaia_rows) == 0:
        return out, listed
    idx = gaia_rows.index.to_numpy()
    st = stars.iloc[idx]
    cname = st["cluster"].to_numpy()
    G = gaia_rows["phot_g_mean_mag"].to_numpy()
    for cl in clusters.itertuples():
        true_m = cname == cl.name
        # true members: recovered with 92% probability to G = 20.5
        rec = true_m & (G < 20.5) & (rng.random(len(idx)) < 0.92)
        p_true = np.clip(rng.beta(6.0, 1.0, len(idx)) * (1 - 0.3 * np.clip((G - 17) / 3.5, 0, 1)), 0.1, 1.0)
        # contaminants: field stars near the centre with consistent astrometry
        ra, dec = gaia_rows["ra"].to_numpy(), gaia_rows["dec"].to_numpy()
        dx = (ra - cl.ra + 180.0) % 360.0 - 180.0
        sep = np.hypot(dx * np.cos(np.radians(cl.dec)), dec - cl.dec)
        near = (cname == "") & (sep < 2.0 * cl.r50_deg)
        plx_c = 1000.0 / cl.distance_true_pc
        s_pm2 = gaia_rows["pmra_error"].to_numpy() ** 2 + (0.25 * plx_c) ** 2
        chi2 = ((gaia_rows["pmra"].to_numpy() - cl.pmra) ** 2 / s_pm2
                + (gaia_rows["pmdec"].to_numpy() - cl.pmdec) ** 2 / s_pm2
                + (gaia_rows["parallax"].to_numpy() - plx_c) ** 2
                / (gaia_rows["parallax_error"].to_numpy() ** 2 + (0.05 * plx_c) ** 2))
        p_cont = 0.8 * np.exp(-chi2 / 4.0) * rng.uniform(0.4, 1.0, len(idx))
        cont = near & (p_cont >= 0.1)
        sel = rec | cont
        if sel.any():
            prob = np.where(rec, p_true, p_cont)[sel]
            out.append(_member_columns(cl.name, cl.cluster_index + 1, gaia_rows.loc[idx[sel]], prob))
            listed[idx[sel]] = True
    return out, listed
