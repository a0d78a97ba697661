"""A small seeded synthetic star sample for the model tests, and checks of it.

Magnitudes follow a toy physics: a blackbody SED at each band's pivot wavelength, a metallicity term
that grows towards the blue, a luminosity from log g (M = 1 Msun), distance modulus and extinction
A_band = R_band * a0 with the G23 pivot ratios (so ``extinction="pivot"`` de-reddens exactly).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ocfeh.bands import BANDS, get_band
from ocfeh.schema import err_col, mag_col
from ocfeh.train.features import feature_names, pivot_ratios


def synthetic_sample(n: int = 600, seed: int = 0, bands=tuple(BANDS), label_noise: float = 0.0) -> pd.DataFrame:
    """Canonical sample with labels, truth and a 70/20/10 split (seeded)."""
    rng = np.random.default_rng(seed)
    teff = rng.uniform(4000, 7000, n)
    logg = np.where(rng.random(n) < 0.7, rng.uniform(4.0, 4.8, n), rng.uniform(1.5, 3.5, n))
    feh = np.clip(rng.normal(-0.3, 0.4, n), -2.0, 0.5)
    dist = rng.uniform(100, 2000, n)
    a0 = rng.uniform(0, 0.5, n)
    lam_um = np.array([get_band(b).pivot_wavelength_aa for b in bands]) / 1e4
    ratios = pivot_ratios(tuple(bands), 3.1)
    x = 14388.0 / (lam_um[None, :] * teff[:, None])
    sed = -2.5 * np.log10(lam_um[None, :] ** -5 / np.expm1(x))  # relative Planck in magnitudes
    sed -= -2.5 * np.log10(0.55**-5 / np.expm1(14388.0 / (0.55 * teff)))[:, None]
    log_l = 0.0 - logg + 4.44 + 4 * np.log10(teff / 5772)  # L from g, M = 1 Msun
    m_v = 4.83 - 2.5 * log_l
    metal = feh[:, None] * 0.35 * np.clip(0.5 / lam_um[None, :], 0, 2) ** 3
    absmag = m_v[:, None] + sed + metal
    mags = absmag + 5 * np.log10(dist / 10)[:, None] + ratios[None, :] * a0[:, None]
    err = 0.01 + 0.005 * rng.random((n, len(bands)))
    mags = mags + err * rng.standard_normal(mags.shape)
    out = {"source_id": np.arange(n)}
    for j, b in enumerate(bands):
        out[mag_col(b)], out[err_col(b)] = mags[:, j], err[:, j]
    out.update(distance_pc=dist, a0=a0, teff_true=teff, logg_true=logg, feh_true=feh)
    out["teff"] = teff + label_noise * 500 * rng.standard_normal(n)
    out["logg"] = logg + label_noise * 1.0 * rng.standard_normal(n)
    out["feh"] = feh + label_noise * 1.0 * rng.standard_normal(n)
    out["split"] = rng.choice(np.array(["train", "val", "test"]), n, p=[0.7, 0.2, 0.1])
    return pd.DataFrame(out)


def test_sample_is_seeded_and_split():
    a, b = synthetic_sample(200, seed=3), synthetic_sample(200, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert set(a["split"]) == {"train", "val", "test"}
    assert len(feature_names(BANDS)) == 153
