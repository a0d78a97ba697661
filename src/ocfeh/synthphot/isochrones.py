"""BaSTI-IAC isochrones: one grid, read once, that the mock sky and the cluster fit share.

The file shipped by ``fastar-astro`` (data key ``isochrones:basti``) holds, on 2100 equivalent
evolutionary points (EEP) x 169 ages x 18 metallicities:

- ``ages`` : Myr, 20 .. 14000 (not log)
- ``mets`` : [M/H], -2.5 .. +0.3 (solar-scaled; ocfeh takes [Fe/H] = [M/H])
- ``teff_out`` : log10 Teff [K]; ``logg_out`` : log10 g [cgs]; ``lumi_out`` : log10 L/L_sun
- ``mass_ini``, ``mass_out`` : M_sun, initial and present mass

There is no NaN fill: every isochrone runs from 0.1 M_sun on the main sequence through the red-giant
branch, the core-helium-burning clump / horizontal branch and the early AGB. ``mass_ini`` increases
monotonically along the EEP axis, so an interpolated isochrone (a positively weighted sum of four
neighbours at the same EEP) is monotonic in initial mass too, and a star of initial mass ``m`` is
placed by bisection on that axis.

The mock sky uses the whole grid (:func:`load_isochrones`, float32); the isochrone fit of the clusters a
subset of its EEPs in float64 (:meth:`Isochrones.subset`), dense where isochrones move fast.

References
----------
Hidalgo et al. 2018, ApJ 856, 125 (BaSTI-IAC); Pietrinferni et al. 2021, ApJ 908, 102.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import pandas as pd

from ..datafiles import data_path
from ..exceptions import InputError

__all__ = ["Isochrones", "eep_subset", "load_isochrones"]

_FIELDS = ("teff_out", "logg_out", "lumi_out", "mass_out")


@dataclass(frozen=True)
class Isochrones:
    """The BaSTI-IAC grid in memory (float32, about 130 MB).

    Attributes
    ----------
    ages_myr : ndarray, shape (n_age,)
        Grid ages in Myr.
    mh : ndarray, shape (n_met,)
        Grid [M/H] in dex.
    mass_ini : ndarray, shape (n_eep, n_age, n_met)
        Initial mass (M_sun).
    data : dict of str to ndarray
        ``teff_out`` (log K), ``logg_out`` (dex), ``lumi_out`` (log L_sun), ``mass_out`` (M_sun),
        each (n_eep, n_age, n_met).
    """

    ages_myr: np.ndarray
    mh: np.ndarray
    mass_ini: np.ndarray
    data: dict

    @cached_property
    def log_age(self) -> np.ndarray:
        """Grid ages as log10 (age / yr)."""
        return np.log10(np.asarray(self.ages_myr, float) * 1e6)

    @property
    def log_teff(self) -> np.ndarray:
        """log10 Teff [K], shape (n_eep, n_age, n_met)."""
        return self.data["teff_out"]

    @property
    def logg(self) -> np.ndarray:
        """log g [cgs], shape (n_eep, n_age, n_met)."""
        return self.data["logg_out"]

    @property
    def log_lum(self) -> np.ndarray:
        """log10 L / L_sun, shape (n_eep, n_age, n_met)."""
        return self.data["lumi_out"]

    @property
    def n_eep(self) -> int:
        """Number of equivalent evolutionary points."""
        return self.mass_ini.shape[0]

    @property
    def age_range_myr(self) -> tuple[float, float]:
        """Youngest and oldest grid age (Myr)."""
        return float(self.ages_myr[0]), float(self.ages_myr[-1])

    @property
    def mh_range(self) -> tuple[float, float]:
        """Lowest and highest grid [M/H] (dex)."""
        return float(self.mh[0]), float(self.mh[-1])

    # ------------------------------------------------------------------ helpers
    def _corners(self, age_myr: np.ndarray, mh: np.ndarray):
        lag = np.log10(self.ages_myr)
        la = np.log10(np.clip(age_myr, *self.age_range_myr))
        ia = np.clip(np.searchsorted(lag, la, side="right") - 1, 0, len(lag) - 2)
        wa = np.clip((la - lag[ia]) / (lag[ia + 1] - lag[ia]), 0.0, 1.0)
        m = np.clip(mh, *self.mh_range)
        im = np.clip(np.searchsorted(self.mh, m, side="right") - 1, 0, len(self.mh) - 2)
        wm = np.clip((m - self.mh[im]) / (self.mh[im + 1] - self.mh[im]), 0.0, 1.0)
        n_met = len(self.mh)
        base = [(ia + da) * n_met + (im + dm) for da in (0, 1) for dm in (0, 1)]
        weights = [
            (1 - wa) * (1 - wm), (1 - wa) * wm, wa * (1 - wm), wa * wm,
        ]
        return base, weights

    def _at(self, flat: np.ndarray, k: np.ndarray, base, weights) -> np.ndarray:
        stride = self.mass_ini.shape[1] * self.mass_ini.shape[2]
        out = np.zeros(k.shape, dtype=float)
        for b, w in zip(base, weights):
            out += w * flat[k * stride + b]
        return out

    def max_initial_mass(self, age_myr, mh) -> np.ndarray:
        """Initial mass (M_sun) at the last EEP (end of the early AGB) of the interpolated isochrone."""
        age_myr, mh = np.broadcast_arrays(np.asarray(age_myr, float), np.asarray(mh, float))
        base, w = self._corners(age_myr.ravel(), mh.ravel())
        k = np.full(age_myr.size, self.n_eep - 1)
        return self._at(self.mass_ini.ravel(), k, base, w).reshape(age_myr.shape)

    def interpolate(self, age_myr, mh, mass_ini) -> pd.DataFrame:
        """Stellar parameters of stars of given age, [M/H] and initial mass.

        Parameters
        ----------
        age_myr : array_like
            Age in Myr (clipped to the grid, 20 Myr - 14 Gyr).
        mh : array_like
            [M/H] in dex (clipped to the grid, -2.5 .. +0.3).
        mass_ini : array_like
            Initial mass in M_sun.

        Returns
        -------
        DataFrame
            ``teff`` (K), ``logg`` (dex), ``log_lum`` (log L_sun), ``mass`` (present, M_sun),
            ``eep`` (fractional EEP index) and ``alive`` (False where the star has evolved past the
            end of the isochrone, i.e. is a remnant; its other columns are NaN).
        """
        age_myr, mh, mass_ini = np.broadcast_arrays(
            np.asarray(age_myr, float), np.asarray(mh, float), np.asarray(mass_ini, float)
        )
        shape = age_myr.shape
        age_myr, mh, m = age_myr.ravel(), mh.ravel(), mass_ini.ravel()
        n = m.size
        base, w = self._corners(age_myr, mh)
        flat_m = self.mass_ini.ravel()
        last = self.n_eep - 1
        m_lo = self._at(flat_m, np.zeros(n, int), base, w)
        m_hi = self._at(flat_m, np.full(n, last), base, w)
        alive = m <= m_hi
        mm = np.clip(m, m_lo, m_hi)
        lo = np.zeros(n, int)
        hi = np.full(n, last)
        # invariant: M(lo) <= mm <= M(hi); bisection to hi = lo + 1
        while True:
            open_ = hi - lo > 1
            if not open_.any():
                break
            mid = (lo + hi) // 2
            mmid = self._at(flat_m, mid, base, w)
            go_up = open_ & (mmid <= mm)
            go_down = open_ & ~go_up
            lo = np.where(go_up, mid, lo)
            hi = np.where(go_down, mid, hi)
        m0 = self._at(flat_m, lo, base, w)
        m1 = self._at(flat_m, hi, base, w)
        dm = m1 - m0
        t = np.where(dm > 0, (mm - m0) / np.where(dm > 0, dm, 1.0), 0.0)
        out = {}
        for name in _FIELDS:
            flat = self.data[name].ravel()
            v0 = self._at(flat, lo, base, w)
            v1 = self._at(flat, hi, base, w)
            out[name] = v0 + t * (v1 - v0)
        res = pd.DataFrame(
            {
                "teff": 10.0 ** out["teff_out"],
                "logg": out["logg_out"],
                "log_lum": out["lumi_out"],
                "mass": out["mass_out"],
                "eep": lo + t,
                "alive": alive,
            }
        )
        res.loc[~alive, ["teff", "logg", "log_lum", "mass", "eep"]] = np.nan
        if len(shape) > 1:
            res.index = pd.RangeIndex(n)
        return res

    def isochrone(self, age_myr: float, mh: float) -> pd.DataFrame:
        """The interpolated isochrone at one age (Myr) and [M/H]: one row per EEP.

        Columns ``mass_ini``, ``mass`` (M_sun), ``teff`` (K), ``logg``, ``log_lum``, ``eep``.
        """
        k = np.arange(self.n_eep)
        base, w = self._corners(np.full(self.n_eep, float(age_myr)), np.full(self.n_eep, float(mh)))
        cols = {"mass_ini": self._at(self.mass_ini.ravel(), k, base, w)}
        for name in _FIELDS:
            cols[name] = self._at(self.data[name].ravel(), k, base, w)
        return pd.DataFrame(
            {
                "mass_ini": cols["mass_ini"],
                "mass": cols["mass_out"],
                "teff": 10.0 ** cols["teff_out"],
                "logg": cols["logg_out"],
                "log_lum": cols["lumi_out"],
                "eep": k.astype(float),
            }
        )


    def isochrone_at(self, log_age: float, feh: float) -> dict[str, np.ndarray]:
        """An isochrone interpolated bilinearly, EEP by EEP, at a log age and [Fe/H] inside the grid (no
        clipping: outside it is an InputError): ``log_teff``, ``logg``, ``log_lum``, ``mass_ini``."""
        (ia, wa), (im, wm) = _bracket(self.log_age, log_age), _bracket(self.mh, feh)
        out = {}
        for key in ("log_teff", "logg", "log_lum", "mass_ini"):
            arr = getattr(self, key)
            out[key] = ((1 - wa) * (1 - wm) * arr[:, ia, im] + wa * (1 - wm) * arr[:, ia + 1, im]
                        + (1 - wa) * wm * arr[:, ia, im + 1] + wa * wm * arr[:, ia + 1, im + 1])
        return out

    def subset(self, eep_step: int = 5, adaptive: bool = True) -> Isochrones:
        """Every ``eep_step``-th EEP (and with ``adaptive`` those :func:`eep_subset` adds where isochrones
        move fast, the young lower main sequences), in float64: the grid of the isochrone fit."""
        sl = (eep_subset(np.asarray(self.data["teff_out"], float), np.asarray(self.data["lumi_out"], float), eep_step)
              if adaptive else slice(None, None, eep_step))
        return Isochrones(ages_myr=self.ages_myr, mh=np.asarray(self.mh, float),
                          mass_ini=np.asarray(self.mass_ini[sl], float),
                          data={k: np.asarray(v[sl], float) for k, v in self.data.items()})


def _bracket(nodes: np.ndarray, value: float) -> tuple[int, float]:
    """Index of the grid interval holding ``value`` and the weight of its upper node."""
    if not nodes[0] <= value <= nodes[-1]:
        raise InputError(f"value {value} outside the isochrone grid range [{nodes[0]}, {nodes[-1]}]")
    i = int(np.clip(np.searchsorted(nodes, value) - 1, 0, nodes.size - 2))
    return i, float((value - nodes[i]) / (nodes[i + 1] - nodes[i]))


@lru_cache(maxsize=1)
def load_isochrones() -> Isochrones:
    """Read the BaSTI-IAC grid from the verified ``fastar-astro`` file (cached).

    Raises
    ------
    DataFileError
        The distribution ``fastar-astro==0.1.2`` is not installed or the file is altered.
    """
    import h5py

    with h5py.File(data_path("isochrones:basti"), "r") as fh:
        ages = np.asarray(fh["ages"][:], dtype=float)
        mets = np.asarray(fh["mets"][:], dtype=float)
        mass_ini = np.asarray(fh["mass_ini"][:], dtype=np.float32)
        data = {name: np.asarray(fh[name][:], dtype=np.float32) for name in _FIELDS}
    # float16 storage of the grid axes: round the ages to whole Myr, mets to 0.01 dex
    return Isochrones(ages_myr=np.round(ages), mh=np.round(mets, 2), mass_ini=mass_ini, data=data)


def eep_subset(log_teff: np.ndarray, log_lum: np.ndarray, eep_step: int = 5, max_dlum: float = 0.08,
               max_dteff: float = 0.01, below_log_lum: float = 0.5) -> np.ndarray:
    """EEP indices to keep: every ``eep_step``-th, and more wherever an isochrone of the grid would
    otherwise move by more than ``max_dlum`` in log L or ``max_dteff`` in log Teff between kept points
    below ``below_log_lum`` (the lower main sequence).

    A uniform step leaves the lower main sequence of young isochrones (which spend fewer EEPs on it)
    sampled every 0.6-0.8 mag in G, against 0.2 mag for old ones; the nearest-point likelihood then
    favours old ages for young clusters. ``log_teff``, ``log_lum``: shape (n_eep, ...).
    """
    n = log_teff.shape[0]
    lt, ll = log_teff.reshape(n, -1), log_lum.reshape(n, -1)
    keep, last = [0], 0
    for k in range(1, n - 1):
        jump = np.maximum(np.abs(ll[k + 1] - ll[last]) / max_dlum, np.abs(lt[k + 1] - lt[last]) / max_dteff)
        jump = np.where(ll[k + 1] < below_log_lum, jump, 0.0)
        if k % eep_step == 0 or np.nanmax(jump) > 1.0:
            keep.append(k)
            last = k
    keep.append(n - 1)
    return np.asarray(keep)
