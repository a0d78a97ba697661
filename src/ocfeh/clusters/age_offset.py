"""The age offset of a cluster's photometric [Fe/H], simulated through the trained predictor.

The predictor learns [Fe/H] from field stars. At fixed colour a dwarf's absolute magnitude depends on
both [Fe/H] and age: the dwarfs of a young cluster lie near the zero-age main sequence, below most
field stars of their colour, as metal-poor stars do, and a field-trained predictor reads them as
metal-poor (on the mock sky, held-out field residuals rise by 0.02-0.04 dex per dex of log age at
fixed [Fe/H]; clusters are 0.6-1 dex younger than the labelled field).

The correction (:class:`AgeOffset`): every dwarf member is re-made at its predicted Teff on the main
sequence of the cluster's fitted isochrone and, for comparison, on the main sequences of a reference
field age mix (constant star formation, :func:`reference_log_ages`): synthetic magnitudes
(:func:`ocfeh.synthphot.magnitudes`) at the member's distance and A0, shifted by the
synthetic-to-catalogue zero points measured on the labelled stars (:func:`synthetic_zero_points`),
with noise at the member's own errors (the same draws at every age). The mean difference of the
predicted [Fe/H] between the cluster's age and the reference mix is the cluster's age offset, in
prediction units. Only the difference enters, so a model error common to both ages cancels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputError

__all__ = ["AgeOffset", "main_sequence", "reference_log_ages", "synthetic_zero_points"]

log = logging.getLogger(__name__)

_T_SUN = 5772.0


def reference_log_ages(min_gyr: float = 0.5, max_gyr: float = 9.5, n: int = 10) -> np.ndarray:
    """log10 ages (yr) of ``n`` equal steps in linear age: a constant star-formation history."""
    if not 0 < min_gyr < max_gyr or n < 1:
        raise InputError(f"reference ages need 0 < min_gyr < max_gyr and n >= 1; got {min_gyr}, {max_gyr}, {n}")
    return np.log10(np.linspace(min_gyr, max_gyr, n) * 1e9)


def synthetic_zero_points(stars: pd.DataFrame, bands, reference: str = "G") -> dict[str, float]:
    """Median catalogue-minus-synthetic colour ``(m_b - m_ref)`` of labelled stars, per band.

    ``stars`` holds spectroscopic ``teff``, ``logg``, ``feh``, the catalogue ``a0`` and ``mag_<band>``;
    synthetic magnitudes at the labels and ``a0`` (colours do not depend on radius or distance). The
    reference band gets 0. Bands without a usable star get 0 and a log line.
    """
    from ..synthphot import colour_residuals

    bands = list(bands)
    need = ["teff", "logg", "feh", "a0", f"mag_{reference}"]
    missing = [c for c in need if c not in stars]
    if missing:
        raise InputError(f"synthetic zero points need column(s) {missing} in the labelled stars")
    s = stars.dropna(subset=need)
    if s.empty:
        raise InputError("synthetic zero points: no labelled star has Teff, log g, [Fe/H], A0 and "
                         f"mag_{reference}")
    others = [b for b in bands if b != reference and f"mag_{b}" in s]
    res = colour_residuals(s, others, reference) if others else pd.DataFrame(columns=["band", "offset"])
    out = {b: 0.0 for b in bands}
    out.update({r.band: float(r.offset) for r in res.itertuples() if np.isfinite(r.offset)})
    log.info("synthetic-to-catalogue zero points from %d labelled stars (mag, relative to %s): %s", len(s),
             reference, {b: round(v, 3) for b, v in out.items()})
    return out


_RGB_LOGG = 3.0
"""log g below which an isochrone point is on the red giant branch (the subgiants and the hook lie above)."""


def main_sequence(grid, log_age: float, feh: float, logg_min: float = 3.6):
    """``(log_teff, logg, log_lum)`` of an isochrone's main sequence, Teff strictly increasing.

    From the lowest mass to the hottest point with ``logg > logg_min`` before the red giant branch
    (the turn-off, or the end of the hook of stars with convective cores); points where Teff falls back
    (the hook) are dropped. Points after the giant branch, e.g. the blue horizontal branch of old
    metal-poor isochrones (log g ~3.7 at ~10,000 K), are not on the main sequence.
    """
    it = grid.isochrone_at(log_age, feh)
    lt, lg, ll = it["log_teff"], it["logg"], it["log_lum"]
    ok = np.isfinite(lt) & np.isfinite(lg) & np.isfinite(ll)
    lt, lg, ll = lt[ok], lg[ok], ll[ok]
    dwarf = lg > logg_min
    first = int(np.argmax(dwarf))
    giant = np.flatnonzero(lg[first:] < _RGB_LOGG)
    end = first + int(giant[0]) if giant.size else lg.size
    to = int(np.argmax(np.where(dwarf[:end], lt[:end], -np.inf)))
    lt, lg, ll = lt[: to + 1], lg[: to + 1], ll[: to + 1]
    rising = np.r_[True, lt[1:] > np.maximum.accumulate(lt)[:-1]]
    return lt[rising], lg[rising], ll[rising]


@dataclass
class AgeOffset:
    """Simulates a cluster's dwarfs through ``predictor`` at the cluster's age and a reference age mix.

    Parameters
    ----------
    predictor : Predictor
        Anything with ``bands`` and ``point(table) -> {"feh": ndarray}``.
    grid : Isochrones
        The EEP subset of the cluster fit (``load_isochrones().subset()``).
    zero_points : dict of band -> float
        Added to the synthetic magnitudes (:func:`synthetic_zero_points`).
    reference : ndarray
        log10 ages (yr) of the field mix (:func:`reference_log_ages`).
    n_draws : int, default=16
        Noise draws per star (common to all ages).
    dwarf_logg_min : float, default=3.8
        Members with a lower predicted log g are not simulated (they get the mean offset).
    seed : int, default=0
    """

    predictor: Any
    grid: Any
    zero_points: dict[str, float]
    reference: np.ndarray
    n_draws: int = 16
    dwarf_logg_min: float = 3.8
    seed: int = 0

    def _predicted(self, stars: pd.DataFrame, log_age: float, feh: float, z: np.ndarray) -> np.ndarray:
        """Mean predicted [Fe/H] of ``stars`` re-made on the main sequence at ``log_age`` (NaN off it)."""
        from ..synthphot import magnitudes

        lt, lg, ll = main_sequence(self.grid, log_age, feh)
        x = np.log10(stars["teff"].to_numpy(float))
        on = (x >= lt[0]) & (x <= lt[-1])
        out = np.full(len(stars), np.nan)
        if not on.any():
            return out
        logg, log_lum = np.interp(x[on], lt, lg), np.interp(x[on], lt, ll)
        radius = 10 ** (0.5 * log_lum - 2 * (x[on] - np.log10(_T_SUN)))
        sub = stars[on]
        bands = self.predictor.bands
        syn = magnitudes(10 ** x[on], logg, feh, a0=sub["a0"].to_numpy(float), radius=radius,
                         distance=sub["distance_pc"].to_numpy(float), bands=bands)
        # all draws in one table: row k * n_on + i is draw k of star i
        table = pd.concat([sub] * self.n_draws, ignore_index=True)
        noise = z[:, on].ravel()
        for b in bands:
            err = np.nan_to_num(table[f"mag_err_{b}"].to_numpy(float)) if f"mag_err_{b}" in table else 0.0
            table[f"mag_{b}"] = np.tile(syn[b].to_numpy(float), self.n_draws) + self.zero_points.get(b, 0.0) \
                + err * noise
        out[on] = self.predictor.point(table)["feh"].reshape(self.n_draws, -1).mean(axis=0)
        return out

    def star_offsets(self, members: pd.DataFrame, log_age: float, feh: float) -> np.ndarray:
        """Per-member offset (dex, prediction units): predicted [Fe/H] at ``log_age`` minus the reference mean.

        ``members`` holds predicted ``teff``, ``logg``, the catalogue ``a0``, ``distance_pc`` and
        ``mag_err_<band>``. NaN for giants, for stars off the main sequence at ``log_age`` and for
        stars with no reference age.
        """
        need = ["teff", "logg", "a0", "distance_pc"]
        missing = [c for c in need if c not in members]
        if missing:
            raise InputError(f"the age offset needs member column(s) {missing}")
        feh = float(np.clip(feh, self.grid.mh[0], self.grid.mh[-1]))
        log_age = float(np.clip(log_age, self.grid.log_age[0], self.grid.log_age[-1]))
        ok = (members["logg"].to_numpy(float) > self.dwarf_logg_min) & members[need].notna().all(axis=1).to_numpy()
        out = np.full(len(members), np.nan)
        if not ok.any():
            return out
        stars = members[ok]
        z = np.random.default_rng(self.seed).standard_normal((self.n_draws, len(stars)))
        at_age = self._predicted(stars, log_age, feh, z)
        ref = np.vstack([self._predicted(stars, a, feh, z) for a in self.reference])
        with np.errstate(invalid="ignore"):
            n_ref = np.isfinite(ref).sum(axis=0)
            ref_mean = np.where(n_ref > 0, np.nansum(ref, axis=0) / np.maximum(n_ref, 1), np.nan)
        out[ok] = at_age - ref_mean
        return out

    def offset(self, members: pd.DataFrame, log_age: float, feh: float) -> tuple[float, int]:
        """The cluster's age offset (mean of :meth:`star_offsets`, dex) and the number of stars it used."""
        d = self.star_offsets(members, log_age, feh)
        n = int(np.isfinite(d).sum())
        return (float(np.nanmean(d)) if n else float("nan")), n
