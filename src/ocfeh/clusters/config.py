"""The ``[clusters]`` section of the run configuration."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

__all__ = ["ClusterConfig"]


class ClusterConfig(BaseModel):
    """Settings of the cluster stage: members, cluster [Fe/H] and isochrone fitting.

    Unknown keys are errors (``extra="forbid"``).
    """

    model_config = ConfigDict(extra="forbid")

    # -- tables ---------------------------------------------------------------------------------
    catalogue: str | None = Field(
        None, description="Cluster table in HR23's columns (Name, RA_ICRS, DE_ICRS, r50, ...; any case, read by the "
        "hr23_clusters reader, units converted where the file states them), e.g. the hr23_clusters.parquet of `ocfeh fetch --survey hr23`; FITS, Parquet, CSV, VOTable or ECSV, relative to the TOML. "
        "Unset: the mock sky's; on real data without it the cluster stage is left out.")
    members: str | None = Field(
        None, description="Member table (Name, GaiaDR3 or Source, Prob), e.g. hr23_members.parquet; set with "
        "catalogue.")
    # -- members ------------------------------------------------------------------------------
    member_prob_min: float = Field(
        0.7, ge=0.0, le=1.0, description="Minimum catalogue membership probability (HR23 `Prob`) to keep a member."
    )
    drop_ood: bool = Field(True, description="Drop members whose prediction is flagged out-of-distribution.")
    max_feh_err: float = Field(
        0.5, gt=0.0, description="Drop members whose predicted [Fe/H] error exceeds this (dex)."
    )
    min_members: int = Field(
        5, ge=1, description="Fewer members than this after all cuts: the cluster [Fe/H] is not fitted."
    )
    warn_members: int = Field(
        10, ge=1, description="Fewer members than this: a FewMembersWarning is issued (result still written)."
    )
    train_coverage: bool = Field(
        True, description="Drop members outside the training stars' range of G and predicted Teff / log g "
        "(needs the run's sample.parquet with a split column).")
    coverage_quantile: float = Field(
        0.005, ge=0.0, lt=0.5, description="Training coverage: the [q, 1-q] quantile range of each column.")
    coverage_columns: list[str] = Field(
        ["mag_G", "teff", "logg"], description="Training coverage columns (teff/logg: predicted values).")
    # -- own membership (HDBSCAN) ---------------------------------------------------------------
    own_membership: bool = Field(
        True, description="Find members of our own (HDBSCAN + CMD/Kiel refinement) in a cone around each cluster "
        "of the cluster table (needs its RA_ICRS, DE_ICRS, r50) and compare them with the catalogue's.")
    own_radius_r50: float = Field(3.0, gt=0.0, description="Cone radius of the own membership, in units of r50.")
    own_min_radius_deg: float = Field(
        0.5, gt=0.0, description="Smallest cone radius (deg): HDBSCAN needs field stars around the cluster.")
    own_mag_limit: float = Field(19.0, description="Own membership: only stars with Gaia G brighter than this.")
    hdbscan_selection: Literal["leaf", "eom"] = Field(
        "leaf", description="HDBSCAN cluster selection (leaf, as HR23; eom merges clusters into field blobs).")
    hdbscan_min_cluster_size: int = Field(10, ge=2, description="HDBSCAN min_cluster_size (HR23 used 10).")
    hdbscan_min_samples: int = Field(10, ge=1, description="HDBSCAN min_samples (HR23 used 10).")
    cmd_clip: float = Field(
        3.0, gt=0.0, description="CMD refinement: stars beyond this many robust sigmas of the sequence lose weight."
    )
    # -- cluster [Fe/H] -------------------------------------------------------------------------
    n_bootstrap: int = Field(1000, ge=10, description="Bootstrap resamples for the median's error.")
    n_walkers: int = Field(24, ge=8, description="emcee walkers of the hierarchical [Fe/H] model.")
    n_steps: int = Field(1500, ge=100, description="emcee steps per walker of the [Fe/H] model.")
    n_burn: int = Field(500, ge=0, description="Steps discarded as burn-in.")
    outlier_width: float = Field(
        0.5, gt=0.0, description="Width (dex) of the broad outlier component of the [Fe/H] mixture."
    )
    max_outlier_fraction: float = Field(0.5, gt=0.0, lt=1.0, description="Upper bound of the outlier fraction prior.")
    max_spread: float = Field(0.5, gt=0.0, description="Upper bound (dex) of the intrinsic-spread prior.")
    member_errors: Literal["common", "per_star"] = Field(
        "common", description="Errors of the members in the [Fe/H] model: common, the median of their feh_err for "
        "every member (an unweighted mean); per_star, each member's own feh_err. The per-star errors come from a "
        "model of the same colours as the prediction and correlate with each star's residual, which biases a "
        "weighted mean (+0.02 dex for real stars near solar [Fe/H]; benchmarks/results/real_clusters.md).")
    calibrate: bool = Field(
        True, description="Forward-model the predictor's response (the expected predicted [Fe/H] at each true "
        "[Fe/H]) and add a cluster-level systematic, both measured on the held-out labelled stars (needs "
        "sample.parquet).")
    response: Literal["binned", "linear"] = Field(
        "binned", description="Form of the response: binned, a monotone broken line with knots every "
        "response_knot_step dex (follows the flattening far from the bulk of the training labels); linear, "
        "pred = alpha + beta [Fe/H].")
    response_knot_step: float = Field(
        0.25, gt=0.0, description="Knot spacing (dex) of the binned response; knots with fewer than 50 held-out "
        "stars between them are merged.")
    calibration_splits: list[str] = Field(["val", "test"], description="Held-out splits used for the calibration.")
    calibration_bins: int = Field(
        3, ge=2, description="Quantile bins per axis (held-out stars' Teff, log g, [Fe/H] labels) for the systematic term.")
    calibration_min_bin: int = Field(25, ge=5, description="Calibration bins with fewer stars are ignored.")
    age_offset: bool = Field(
        True, description="Remove the cluster's age offset from its [Fe/H]: the dwarf members re-made on the fitted "
        "isochrone and on a reference field age mix and predicted with the run's model (needs the model, the "
        "isochrone fit and sample.parquet).")
    age_reference_gyr: tuple[float, float] = Field(
        (0.5, 9.5), description="Age range (Gyr) of the reference field mix (constant star formation).")
    age_reference_n: int = Field(10, ge=1, description="Ages of the reference field mix.")
    age_offset_draws: int = Field(16, ge=1, description="Photometric noise draws per star for the age offset.")
    age_offset_sys_fraction: float = Field(
        0.5, ge=0.0, description="This fraction of the age offset is added to the cluster [Fe/H] error as a "
        "systematic (on the mock sky the offset removed about 60 % of the age bias).")
    # -- isochrones -----------------------------------------------------------------------------
    isochrones: bool = Field(True, description="Fit BaSTI-IAC isochrones (age, distance, A_0, [Fe/H]_iso).")
    iso_feh_prior: bool = Field(
        True, description="Use the photometric cluster [Fe/H] (MCMC mean and width) as a Gaussian prior."
    )
    iso_bands: str = Field("all", description="Band set used by the isochrone fit (see `ocfeh bands`).")
    iso_max_ruwe: float = Field(
        1.4, gt=0.0, description="Isochrone fit: members with a larger Gaia RUWE (unresolved binaries) are left out.")
    iso_parallax_zp_mas: float = Field(
        -0.017, description="Gaia parallax zero point subtracted from the members' mean parallax (mas; "
        "Lindegren et al. 2021 global value).")
    iso_parallax_sys_mas: float = Field(
        0.011, ge=0.0, description="Systematic floor of a cluster's mean Gaia parallax (mas), added in quadrature.")
    iso_max_stars: int = Field(200, ge=5, description="At most this many members (a seeded subsample) per fit.")
    iso_mag_floor: float = Field(
        0.02, ge=0.0, description="Added in quadrature to photometric errors: isochrone + synthetic photometry (mag)."
    )
    iso_star_offset_mag: float = Field(
        0.0, ge=0.0, description="Sigma of a per-star offset common to all bands (depth along the line of sight, "
        "binarity), marginalised in the isochrone fit (mag); 0: bands independent.")
    iso_band_offset_mag: float = Field(
        0.01, ge=0.0, description="Sigma of an offset per band common to all members (isochrone and synthetic-"
        "photometry colour errors, zero points), marginalised in the isochrone fit (mag); 0: none.")
    iso_n_walkers: int = Field(16, ge=8, description="emcee walkers of the isochrone fit.")
    iso_n_steps: int = Field(400, ge=100, description="emcee steps per walker of the isochrone fit.")
    iso_n_burn: int = Field(200, ge=0, description="Burn-in steps of the isochrone fit.")
    iso_a0_max: float = Field(5.0, gt=0.0, description="Upper bound of the A_0 prior (mag).")
    figures: Literal["none", "png", "pdf"] = Field("png", description="Per-cluster figure format, or none.")

    @field_validator("n_burn", "iso_n_burn")
    @classmethod
    def _burn_below_steps(cls, v: int, info: ValidationInfo) -> int:
        # the chain keeps the steps after the burn-in: none would be left
        steps = "n_steps" if info.field_name == "n_burn" else "iso_n_steps"
        n_steps = info.data.get(steps)
        if n_steps is not None and v >= n_steps:
            raise ValueError(f"must be below {steps} = {n_steps} (the steps after the burn-in are kept); got {v}")
        return v
