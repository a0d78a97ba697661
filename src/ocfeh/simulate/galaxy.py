"""The field: thin disc, thick disc and halo along the lines of sight of a patch of tiles, and dust.

Densities follow Juric et al. (2008, ApJ 673, 864): exponential discs in R and |z|, a flattened
power-law halo; local normalisations are number fractions relative to the thin disc. Ages and
[Fe/H] follow simple textbook distributions (constant star formation in the thin disc with an
age-metallicity relation and a radial gradient; old, metal-poor thick disc and halo). Kinematics are
Gaussian velocity ellipsoids with asymmetric drift, seen from the Sun (Schoenrich et al. 2010 solar
motion). Dust is a smooth exponential layer, integrated analytically along each line of sight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

__all__ = [
    "COMPONENTS", "R0_PC", "Z_SUN_PC", "galactocentric", "component_density", "dust_a0",
    "draw_feh", "draw_velocities", "proper_motions", "truncnorm",
]

R0_PC = 8200.0
Z_SUN_PC = 20.0
_K = 4.740470446  # km/s per (mas/yr * kpc)
_SUN_UVW = np.array([11.1, 12.24, 7.25])  # km/s, peculiar motion w.r.t. the LSR (Schoenrich+2010)


@dataclass(frozen=True)
class Component:
    """Velocity ellipsoid (km/s) and asymmetric drift of a population."""

    name: str
    sigma_uvw: tuple[float, float, float]
    v_lag: float
    age_range_gyr: tuple[float, float]
    feh_range: tuple[float, float]  # truncation of the [Fe/H] distribution (about 4 sigma)


COMPONENTS: dict[str, Component] = {
    "thin": Component("thin", (35.0, 20.0, 16.0), 10.0, (0.1, 10.0), (-1.0, 0.3)),
    "thick": Component("thick", (67.0, 38.0, 35.0), 45.0, (9.0, 12.0), (-1.45, 0.3)),
    "halo": Component("halo", (141.0, 106.0, 94.0), 220.0, (11.0, 13.5), (-2.5, 0.3)),
}


def galactocentric(l_deg, b_deg, d_pc):
    """Galactocentric cylindrical radius R and height z (pc) of points at (l, b, distance)."""
    l, b = np.radians(l_deg), np.radians(b_deg)
    x = R0_PC - d_pc * np.cos(b) * np.cos(l)
    y = d_pc * np.cos(b) * np.sin(l)
    z = Z_SUN_PC + d_pc * np.sin(b)
    return np.hypot(x, y), z


def component_density(name: str, R, z, cfg) -> np.ndarray:
    """Number density of a component relative to the local thin disc (dimensionless).

    ``cfg`` carries the structural parameters (a :class:`~ocfeh.simulate.SimulationConfig`).
    """
    if name == "thin":
        return np.exp(-(R - R0_PC) / cfg.thin_scale_length_pc - (np.abs(z) - Z_SUN_PC) / cfg.thin_scale_height_pc)
    if name == "thick":
        return cfg.thick_fraction * np.exp(
            -(R - R0_PC) / cfg.thick_scale_length_pc - (np.abs(z) - Z_SUN_PC) / cfg.thick_scale_height_pc
        )
    if name == "halo":
        r = np.sqrt(R**2 + (z / cfg.halo_flattening) ** 2 + 500.0**2)
        return cfg.halo_fraction * (r / R0_PC) ** -cfg.halo_power
    raise KeyError(f"unknown component {name!r}; known: {', '.join(COMPONENTS)}")


def dust_a0(b_deg, d_pc, a0_per_kpc: float, scale_height_pc: float, factor=1.0) -> np.ndarray:
    """A_0 (mag) to distance ``d_pc`` through an exponential dust layer centred on the mid-plane.

    ``a0_per_kpc`` is the extinction per kpc in the plane at the Sun, ``factor`` a per-line-of-sight
    scaling (the patch's tile-to-tile variation).
    """
    s = np.abs(np.sin(np.radians(b_deg)))
    h = scale_height_pc
    d = np.asarray(d_pc, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        path = np.where(s > 1e-4, h / np.maximum(s, 1e-4) * -np.expm1(-d * s / h), d)
    return factor * a0_per_kpc * path / 1000.0


def truncnorm(rng: np.random.Generator, mu, sigma, lo, hi, n: int) -> np.ndarray:
    """Normal draws truncated to [lo, hi] by inverse CDF (no pile-up at the grid edges)."""
    mu = np.broadcast_to(np.asarray(mu, float), (n,))
    a, b = ndtr((lo - mu) / sigma), ndtr((hi - mu) / sigma)
    u = a + rng.random(n) * (b - a)
    return np.clip(mu + sigma * ndtri(np.clip(u, 1e-12, 1 - 1e-12)), lo, hi)


def draw_feh(rng, name: str, age_myr, R) -> np.ndarray:
    """[Fe/H] (dex) of stars of one component given their ages (Myr) and galactocentric radii R (pc).

    Thin disc: N(0.05 - 0.03 age/Gyr - 0.06 (R - R0)/kpc, 0.18); thick disc N(-0.55, 0.22); halo
    N(-1.5, 0.45); each truncated to its component's ``feh_range`` (within the isochrone grid).
    """
    lo, hi = COMPONENTS[name].feh_range
    n = np.size(age_myr)
    if name == "thin":
        mu = 0.05 - 0.03 * np.asarray(age_myr) / 1000.0 - 0.06 * (np.asarray(R) - R0_PC) / 1000.0
        return truncnorm(rng, mu, 0.18, lo, hi, n)
    if name == "thick":
        return truncnorm(rng, -0.55, 0.22, lo, hi, n)
    return truncnorm(rng, -1.5, 0.45, lo, hi, n)


def draw_velocities(rng, name: str, n: int, age_myr=None) -> np.ndarray:
    """Heliocentric (U, V, W) velocities (km/s), shape (n, 3), of a component."""
    comp = COMPONENTS[name]
    sig = np.asarray(comp.sigma_uvw)[None, :] * np.ones((n, 1))
    if name == "thin" and age_myr is not None:  # disc heating, sigma ~ age^0.33
        sig = sig * (np.clip(np.asarray(age_myr) / 5000.0, 0.05, 2.0) ** 0.33)[:, None]
    v = rng.normal(0.0, 1.0, (n, 3)) * sig
    v[:, 1] -= comp.v_lag
    return v - _SUN_UVW[None, :]


def proper_motions(l_deg, b_deg, d_pc, uvw):
    """Galactic proper motions (mas/yr: mu_l cos b, mu_b) and radial velocity (km/s)."""
    l, b = np.radians(l_deg), np.radians(b_deg)
    U, V, W = uvw[:, 0], uvw[:, 1], uvw[:, 2]
    vl = -U * np.sin(l) + V * np.cos(l)
    vb = -U * np.cos(l) * np.sin(b) - V * np.sin(l) * np.sin(b) + W * np.cos(b)
    vr = U * np.cos(b) * np.cos(l) + V * np.cos(b) * np.sin(l) + W * np.sin(b)
    dk = np.asarray(d_pc) / 1000.0
    return vl / (_K * dk), vb / (_K * dk), vr
