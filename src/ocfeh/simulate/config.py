"""The mock-sky configuration: one pydantic model, one documented line per field, unknown keys are errors."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from ..bands import JPLUS_BANDS

__all__ = ["SimulationConfig", "PROFILE_SIZES", "JPLUS_DEPTH_5SIGMA", "JPLUS_SATURATION"]

# profile -> (n_stars generated, n_tiles, n_clusters, detect_limit_r)
PROFILE_SIZES: dict[str, tuple[int, int, int, float]] = {
    "small": (12_000, 4, 4, 23.0),
    "default": (400_000, 24, 30, 23.0),
    # poster scale: ~90k LAMOST-like labels after the default cuts over 600 tiles (840 deg^2); only stars
    # that could be brighter than r ~ 18 are generated (the labels stop at r = 17.8)
    "full": (12_000_000, 600, 40, 18.0),
}

# 5-sigma limits (AB) of the 6-arcsec aperture, broad bands ~21.5-22, narrow bands ~20.5-21.5
JPLUS_DEPTH_5SIGMA: dict[str, float] = {
    "uJAVA": 21.0, "J0378": 20.7, "J0395": 20.6, "J0410": 20.8, "J0430": 20.9, "gSDSS": 21.9,
    "J0515": 21.1, "rSDSS": 21.8, "J0660": 21.2, "iSDSS": 21.5, "J0861": 20.6, "zSDSS": 21.0,
}
# bright limit (AB): the core of a point source saturates at about these magnitudes
JPLUS_SATURATION: dict[str, float] = {
    b: (14.0 if b in ("gSDSS", "rSDSS", "iSDSS") else 13.0 if b in ("uJAVA", "zSDSS") else 12.0)
    for b in JPLUS_BANDS
}


class SimulationConfig(BaseModel):
    """Everything the mock sky depends on besides the seed (``[simulate]`` section of the run config).

    Sizes left at ``None`` come from the profile (``small``, ``default``, ``full``; see
    :data:`PROFILE_SIZES`).
    """

    model_config = ConfigDict(extra="forbid")

    # -- size and patch
    n_stars: Optional[int] = Field(None, ge=100, le=20_000_000,
                                   description="Field stars generated (before detection); None: from the profile.")
    n_tiles: Optional[int] = Field(None, ge=1, le=5000, description="Number of J-PLUS-like tiles; None: from the profile.")
    n_clusters: Optional[int] = Field(None, ge=0, le=500, description="Number of open clusters; None: from the profile.")
    tile_area_deg2: float = Field(1.4, gt=0, le=20, description="Area of one square tile [deg^2] (J-PLUS: 1.4).")
    tile_latitudes_deg: list[float] = Field(
        [12.0, 20.0, 30.0, 45.0, 60.0, 75.0],
        description="Galactic latitudes |b| [deg] the tiles are spread over (north and south of the plane).",
    )
    min_dec_deg: float = Field(-5.0, description="Tiles are kept north of this declination [deg] (J-PLUS sky).")
    # -- stellar populations
    imf: Literal["kroupa", "chabrier"] = Field("kroupa", description="Initial mass function.")
    min_mass_msun: float = Field(0.1, ge=0.1, le=1.0, description="Lowest initial mass drawn [M_sun] (grid edge 0.1).")
    thin_scale_height_pc: float = Field(300.0, gt=0, description="Thin-disc scale height [pc] (Juric+2008).")
    thin_scale_length_pc: float = Field(2600.0, gt=0, description="Thin-disc scale length [pc].")
    thick_scale_height_pc: float = Field(900.0, gt=0, description="Thick-disc scale height [pc].")
    thick_scale_length_pc: float = Field(3600.0, gt=0, description="Thick-disc scale length [pc].")
    thick_fraction: float = Field(0.12, ge=0, le=1, description="Local thick/thin number-density ratio.")
    halo_fraction: float = Field(0.005, ge=0, le=1, description="Local halo/thin number-density ratio.")
    halo_power: float = Field(2.77, gt=0, description="Halo power-law index of the density.")
    halo_flattening: float = Field(0.64, gt=0, le=1, description="Halo axis ratio c/a.")
    max_distance_pc: float = Field(60_000.0, gt=100, description="Field stars are drawn out to this distance [pc].")
    detect_limit_r: Optional[float] = Field(
        None, description="Stars are generated only where they could be brighter than this r (AB, before "
                          "extinction); fainter ones are never drawn. None: from the profile (23, full: 18).")
    # -- dust
    a0_per_kpc: float = Field(1.0, ge=0, description="Mid-plane extinction A_0 per kpc at the Sun [mag/kpc].")
    dust_scale_height_pc: float = Field(120.0, gt=0, description="Scale height of the dust layer [pc].")
    dust_tile_scatter: float = Field(0.2, ge=0, description="Log-normal sigma of the tile-to-tile dust factor.")
    # -- clusters
    cluster_age_range_myr: tuple[float, float] = Field((50.0, 8000.0), description="Cluster ages (log-uniform) [Myr].")
    cluster_feh_range: tuple[float, float] = Field((-0.6, 0.3), description="Cluster [Fe/H] (uniform) [dex].")
    cluster_distance_range_pc: tuple[float, float] = Field((300.0, 2500.0), description="Cluster distances [pc].")
    cluster_bright_members: tuple[int, int] = Field(
        (15, 60), description="Members brighter than r = 17.5 per cluster (uniform between the two)."
    )
    cluster_max_members: int = Field(6000, ge=10, description="Cap on the members drawn per cluster (G < 21).")
    binary_fraction: float = Field(0.35, ge=0, le=1, description="Unresolved binary fraction of cluster members.")
    # -- J-PLUS
    jplus_depth_5sigma: dict[str, float] = Field(dict(JPLUS_DEPTH_5SIGMA),
                                                 description="5-sigma limit per J-PLUS band [AB mag].")
    jplus_depth_scatter: float = Field(0.15, ge=0, description="Tile-to-tile scatter of the depths [mag].")
    jplus_saturation: dict[str, float] = Field(dict(JPLUS_SATURATION), description="Saturation per band [AB mag].")
    jplus_zero_point_scatter: float = Field(0.02, ge=0, description="Sigma of the per-band zero-point offsets [mag].")
    jplus_error_floor: float = Field(0.01, ge=0, description="Calibration error floor [mag].")
    jplus_epoch: float = Field(2018.0, description="Mean epoch of the J-PLUS images [yr].")
    jplus_astrometric_error_arcsec: float = Field(0.15, ge=0, description="J-PLUS position error, bright stars.")
    # -- Gaia
    gaia_g_limit: float = Field(21.0, description="Gaia G limit [mag].")
    gaia_completeness: float = Field(0.985, ge=0, le=1, description="Gaia completeness of bright stars.")
    gaia_gspphot_g_limit: float = Field(19.0, description="GSP-Phot parameters exist for G brighter than this.")
    gaia_parallax_zero_point_mas: float = Field(-0.017, description="Gaia parallax zero point [mas].")
    # -- CatWISE2020
    catwise_depth_5sigma: tuple[float, float] = Field((17.5, 16.5), description="W1, W2 5-sigma limits [Vega mag].")
    catwise_completeness: float = Field(0.985, ge=0, le=1, description="CatWISE completeness of bright stars.")
    catwise_epoch: float = Field(2015.4, description="Epoch of CatWISE2020 positions [yr].")
    # -- LAMOST
    lamost_r_limit: float = Field(17.8, description="Faint limit of the LAMOST-like selection [r, AB].")
    lamost_coverage: float = Field(0.25, ge=0, le=1, description="Fraction of stars brighter than the limit observed.")
    lamost_snr_at_limit: float = Field(8.0, gt=0, description="Median g-band SNR at the faint limit.")
    lamost_min_snr: float = Field(6.0, ge=0, description="Stars below this g-band SNR get no parameters.")
    lamost_teff_noise_k: float = Field(100.0, ge=0, description="Teff noise at SNR 10 [K].")
    lamost_logg_noise: float = Field(0.15, ge=0, description="log g noise at SNR 10 [dex].")
    lamost_feh_noise: float = Field(0.10, ge=0, description="[Fe/H] noise at SNR 10 [dex].")
    lamost_noise_floor: float = Field(0.3, ge=0, le=1, description="Noise at high SNR as a fraction of the SNR-10 noise.")
    lamost_feh_offset: float = Field(0.0, description="Systematic [Fe/H] offset of the labels [dex].")
    lamost_feh_scale: float = Field(1.0, gt=0, description="Scale of the labels' [Fe/H] against the truth.")
    # -- output
    write_fits: bool = Field(False, description="Also write every table as FITS.")

    def sizes(self, profile: str) -> tuple[int, int, int]:
        """(n_stars, n_tiles, n_clusters) after filling ``None`` from the profile."""
        return self.resolved(profile)[:3]

    def resolved(self, profile: str) -> tuple[int, int, int, float]:
        """(n_stars, n_tiles, n_clusters, detect_limit_r) after filling ``None`` from the profile."""
        if profile not in PROFILE_SIZES:
            from ..exceptions import InputError

            raise InputError(f"The 'profile' parameter must be one of {tuple(PROFILE_SIZES)}. Got {profile!r} instead.")
        n, t, c, lim = PROFILE_SIZES[profile]
        return (self.n_stars or n, self.n_tiles or t, self.n_clusters if self.n_clusters is not None else c,
                self.detect_limit_r if self.detect_limit_r is not None else lim)
