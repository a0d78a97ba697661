"""The synthetic-photometry table: magnitudes of the merged model grid on regular nodes, cached.

Nodes
-----
Regular (rectilinear) grid in log10 Teff x log g x [Fe/H] x A_0:

- Teff: 2300-4000 K every 100 K (PHOENIX nodes), 4250-13000 K every 250 K, then the Kurucz nodes
  up to 50,000 K;
- log g: 0.0-5.5 every 0.5;
- [Fe/H]: -4.0 to -0.5 every 0.5, -0.3 to +0.3 every 0.1, +0.5, +1.0 (the Kurucz nodes);
- A_0: 0, 0.5, 1, 2, 3, 4, 6, 8, 10 mag.

How the grids are merged
------------------------
Two SEDFit grids are used (both solar-scaled, [alpha/Fe] = 0):

- PHOENIX (Husser et al. 2013) for cool stars, Teff <= 4600 K (complete there in log g 0-6 and
  [Fe/H] -4..+1); its molecular opacities make it the better model for M and late-K stars.
- Kurucz/ATLAS9 (1993) for Teff >= 3500 K: the complete [Fe/H] axis (-5..+1, 0.1 dex steps near
  solar), 20 AA sampling in the optical (PHOENIX as shipped by SEDFit is sampled at ~30 AA, coarse
  for the J-PLUS narrow bands).

Each grid's magnitudes are first computed on its own nodes, then moved to the common nodes by
linear interpolation along each axis (a common node that is a native node takes its value exactly).
Where both grids exist, 3800 K < Teff < 4500 K, the magnitude is a weighted mean whose Kurucz weight
rises linearly in log Teff from 0 at 3800 K to 1 at 4500 K, so the merged surface has no step.
Below 3800 K only PHOENIX is used, above 4500 K only Kurucz. If one grid lacks a node inside the
blend zone, the other grid's value is used alone.

Coelho (2014) is not merged: as shipped, its solar-scaled spectra cover only four [Fe/H] values
(the rest are alpha-enhanced), so it would bring metallicity edges; it serves as an independent
cross-check in the tests. BT-Settl is not used (PHOENIX already reaches 2300 K).

Gaps
----
A common node with no model in any grid (e.g. hot stars at low log g, where the Kurucz grid has
no converged models, or log g 5.5 above 4500 K) is stored as NaN. The interpolator reports any
star whose enclosing grid cell touches such a node as outside the grid (NaN and ``in_grid`` False):
gaps are never filled by extrapolation.

Cache
-----
The table is written as Parquet under ``$OCFEH_CACHE_DIR`` (default ``~/.cache/ocfeh``), named by a
hash of every input: the grid files' sha256, each band's curve (sha256 or the curve values), the
node lists, the extinction law and :data:`TABLE_VERSION`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..bands import Band
from ..datafiles import DATA_FILES, cache_dir
from ..provenance import atomic_path, provenance, stable_hash
from .extinction_law import A0_WAVELENGTH_AA, RV, extinction_curve
from .photometry import VEGA_MAG_SURVEY, Quadrature, zero_point_counts
from .spectra import load_grid

__all__ = [
    "TABLE_VERSION", "TEFF_NODES", "LOGG_NODES", "FEH_NODES", "A0_NODES",
    "SynthTable", "table_key", "build_table", "load_table",
]

log = logging.getLogger(__name__)

TABLE_VERSION = "2"
"""Bump when the way the table is computed changes (invalidates every cache)."""

TEFF_NODES = np.array(
    list(range(2300, 4001, 100)) + list(range(4250, 13001, 250)) + list(range(14000, 35001, 1000))
    + [37500, 40000, 42500, 45000, 47500, 50000],
    dtype=float,
)
LOGG_NODES = np.round(np.arange(0.0, 5.51, 0.5), 2)
FEH_NODES = np.array([-4.0, -3.5, -3.0, -2.5, -2.0, -1.5, -1.0, -0.5, -0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.5, 1.0])
A0_NODES = np.array([0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0])
_A0_SMALL = 1.0e-3  # A_0 used for the A_band/A_0 limit at the A_0 = 0 node

_BLEND_TEFF = (3800.0, 4500.0)
_GRIDS = {"kurucz": (3500.0, np.inf), "phoenix": (0.0, 4600.0)}


def _band_fingerprint(band: Band) -> dict:
    key = f"filter:{band.curve_key}"
    if key in DATA_FILES:
        return {"name": band.name, "system": band.system, "sha256": DATA_FILES[key].sha256}
    c = band.curve
    return {"name": band.name, "system": band.system,
            "curve": stable_hash([c.wavelength_aa.round(6).tolist(), c.throughput.round(9).tolist()], 32)}


def table_key(bands: Sequence[Band]) -> str:
    """Hash of everything the table depends on (grid files, curves, nodes, law, code version)."""
    return stable_hash({
        "version": TABLE_VERSION,
        "grids": {g: DATA_FILES[f"grid:{g}"].sha256 for g in _GRIDS},
        "vega": DATA_FILES["vega"].sha256,
        "bands": [_band_fingerprint(b) for b in bands],
        "nodes": [TEFF_NODES.tolist(), LOGG_NODES.tolist(), FEH_NODES.tolist(), A0_NODES.tolist()],
        "law": ["G23", RV, A0_WAVELENGTH_AA],
        "vega_mag": VEGA_MAG_SURVEY,
        "blend": _BLEND_TEFF,
    }, 24)


@dataclass
class SynthTable:
    """Surface magnitudes and extinction coefficients on the regular nodes.

    Attributes
    ----------
    bands : tuple of str
        Band names, the last axis of the arrays.
    teff, logg, feh, a0 : ndarray
        Node values [K, cgs dex, dex, mag].
    msurf : ndarray, shape (n_teff, n_logg, n_feh, n_bands)
        Magnitude of the surface flux at A_0 = 0 (the magnitude of a star with R = d); NaN at gaps.
    kext : ndarray, shape (n_teff, n_logg, n_feh, n_a0, n_bands)
        A_band / A_0 at each A_0 node (at A_0 = 0: the limit for small A_0); NaN at gaps.
    key : str
        The cache key.
    """

    bands: tuple[str, ...]
    teff: np.ndarray
    logg: np.ndarray
    feh: np.ndarray
    a0: np.ndarray
    msurf: np.ndarray
    kext: np.ndarray
    key: str

    def to_frame(self) -> pd.DataFrame:
        """Long table: one row per (teff, logg, feh, a0) node; ``msurf_<band>`` (at that A_0) and ``kext_<band>``."""
        t, g, f, a = np.meshgrid(self.teff, self.logg, self.feh, self.a0, indexing="ij")
        cols = {"teff": t.ravel(), "logg": g.ravel(), "feh": f.ravel(), "a0": a.ravel()}
        m_a = self.msurf[:, :, :, None, :] + self.kext * self.a0[None, None, None, :, None]
        for i, b in enumerate(self.bands):
            cols[f"msurf_{b}"] = m_a[..., i].ravel().astype(np.float32)
        for i, b in enumerate(self.bands):
            cols[f"kext_{b}"] = self.kext[..., i].ravel().astype(np.float32)
        return pd.DataFrame(cols)

    @classmethod
    def from_frame(cls, df: pd.DataFrame, bands: Sequence[str], key: str) -> "SynthTable":
        """Inverse of :meth:`to_frame`."""
        axes = [np.unique(df[c].to_numpy()) for c in ("teff", "logg", "feh", "a0")]
        shape = tuple(a.size for a in axes)
        if len(df) != int(np.prod(shape)):
            raise ValueError(f"synthetic-photometry table has {len(df)} rows, expected {int(np.prod(shape))}")
        df = df.sort_values(["teff", "logg", "feh", "a0"])
        kext = np.stack([df[f"kext_{b}"].to_numpy(np.float64).reshape(shape) for b in bands], axis=-1)
        m = np.stack([df[f"msurf_{b}"].to_numpy(np.float64).reshape(shape) for b in bands], axis=-1)
        return cls(tuple(bands), *axes, msurf=m[:, :, :, 0, :], kext=kext, key=key)


def _native_counts(grid_name: str, quads: list[Quadrature], law: list[np.ndarray], tmax_lo: tuple[float, float]):
    """Photon counts of each native spectrum at each A_0 (first: _A0_SMALL, then A0_NODES)."""
    g = load_grid(grid_name)
    lo, hi = tmax_lo
    sel = (g.teff >= lo) & (g.teff <= hi)
    flam = g.flam(sel)
    a0s = np.concatenate([[_A0_SMALL], A0_NODES])
    counts = np.empty((flam.shape[0], len(quads), a0s.size))
    for j, (q, k) in enumerate(zip(quads, law)):
        cols, mat = q.interpolation_matrix(g.wavelength_aa)
        on_q = flam[:, cols] @ mat  # (n_spec, n_quad)
        atten = 10.0 ** (-0.4 * np.outer(k, a0s)) * q.weights[:, None]  # (n_quad, n_a0)
        counts[:, j, :] = on_q @ atten
    return g.teff[sel], g.logg[sel], g.feh[sel], counts


def _to_dense(teff, logg, feh, values):
    axes = [np.unique(teff), np.unique(logg), np.unique(feh)]
    out = np.full(tuple(a.size for a in axes) + values.shape[1:], np.nan)
    idx = [np.searchsorted(a, v) for a, v in zip(axes, (teff, logg, feh))]
    out[idx[0], idx[1], idx[2]] = values
    return axes, out


def _resample_axis(nodes: np.ndarray, values: np.ndarray, targets: np.ndarray, axis: int) -> np.ndarray:
    """Linear interpolation along one axis; exact nodes are copied; outside the nodes -> NaN."""
    v = np.moveaxis(values, axis, 0)
    i1 = np.clip(np.searchsorted(nodes, targets), 0, nodes.size - 1)
    exact = np.isclose(nodes[i1], targets)
    i0 = np.clip(i1 - 1, 0, nodes.size - 1)
    w = np.where(exact, 1.0, (targets - nodes[i0]) / np.where(i1 > i0, nodes[i1] - nodes[i0], 1.0))
    inside = exact | ((targets > nodes[0]) & (targets < nodes[-1]))
    shape = (-1,) + (1,) * (v.ndim - 1)
    w = w.reshape(shape)
    a, b = v[i0], v[i1]
    out = np.where(w >= 1.0, b, np.where(w <= 0.0, a, a * (1 - w) + b * w))
    out[~inside] = np.nan
    return np.moveaxis(out, 0, axis)


def _merge_weights(teff: np.ndarray) -> np.ndarray:
    lo, hi = np.log10(_BLEND_TEFF)
    return np.clip((np.log10(teff) - lo) / (hi - lo), 0.0, 1.0)  # Kurucz weight


def build_table(bands: Sequence[Band], progress: bool = True) -> SynthTable:
    """Compute the table from the model grids (about half a minute; logs progress).

    Parameters
    ----------
    bands : sequence of Band
        Passbands (registered bands or e.g. :func:`ocfeh.bands.splus_bands`).
    progress : bool, default=True
        Log each step at INFO level.
    """
    t0 = time.perf_counter()
    say = log.info if progress else log.debug
    quads = [Quadrature.from_curve(b.curve) for b in bands]
    law = [extinction_curve(q.wavelength_aa) for q in quads]
    zps = np.array([zero_point_counts(q, b.system) for q, b in zip(quads, bands)])
    zmag = np.array([VEGA_MAG_SURVEY.get(b.survey, 0.0) if b.system == "Vega" else 0.0 for b in bands])
    target = (np.log10(TEFF_NODES), LOGG_NODES, FEH_NODES)
    merged = {}
    for name, trange in _GRIDS.items():
        say("synthphot: integrating %s spectra through %d bands (%.0f s)", name, len(bands), time.perf_counter() - t0)
        teff, logg, feh, counts = _native_counts(name, quads, law, trange)
        mags = -2.5 * np.log10(counts / zps[None, :, None]) + zmag[None, :, None]
        axes, dense = _to_dense(np.log10(teff), logg, feh, mags)
        for ax in range(3):
            dense = _resample_axis(axes[ax], dense, target[ax], ax)
        merged[name] = dense
    wk = _merge_weights(TEFF_NODES)[:, None, None, None, None]
    k, p = merged["kurucz"], merged["phoenix"]
    out = np.where(np.isfinite(k) & np.isfinite(p), wk * k + (1 - wk) * p,
                   np.where(np.isfinite(k) & (wk > 0), k, np.where(np.isfinite(p) & (wk < 1), p, np.nan)))
    m_small = out[..., 0]
    m0 = out[..., 1]
    kext = np.empty(out.shape[:4] + (A0_NODES.size,))
    kext[..., 0] = (m_small - m0) / _A0_SMALL
    kext[..., 1:] = (out[..., 2:] - m0[..., None]) / A0_NODES[None, None, None, None, 1:]
    kext = np.moveaxis(kext, 4, 3)  # (T, g, Z, A0, band)
    say("synthphot: table built in %.1f s (%d of %d nodes filled)", time.perf_counter() - t0,
        int(np.isfinite(m0[..., 0]).sum()), m0[..., 0].size)
    return SynthTable(tuple(b.name for b in bands), TEFF_NODES.copy(), LOGG_NODES.copy(), FEH_NODES.copy(),
                      A0_NODES.copy(), msurf=m0, kext=kext, key=table_key(bands))


def load_table(bands: Sequence[Band], directory: str | Path | None = None, rebuild: bool = False) -> SynthTable:
    """The table for ``bands``, read from the cache or built and cached.

    Parameters
    ----------
    bands : sequence of Band
        Passbands.
    directory : str or Path, optional
        Cache folder (default :func:`cache_dir`).
    rebuild : bool, default=False
        Ignore an existing cache file.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    key = table_key(bands)
    path = Path(directory or cache_dir()) / f"synthphot-{key}.parquet"
    names = [b.name for b in bands]
    if path.is_file() and not rebuild:
        try:
            df = pq.read_table(path).to_pandas()
            log.debug("synthphot: using cached table %s", path)
            return SynthTable.from_frame(df, names, key)
        except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
            log.warning("synthphot: cached table %s unreadable (%s); rebuilding", path, exc)
    log.info("synthphot: building the synthetic-photometry table (cache %s)", path)
    table = build_table(bands)
    pat = pa.Table.from_pandas(table.to_frame(), preserve_index=False)
    meta = provenance({"table_key": key, "bands": names}, None, table_key=key, bands=names)
    import json

    pat = pat.replace_schema_metadata({**(pat.schema.metadata or {}), b"ocfeh": json.dumps(meta, default=str).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(pat, tmp)
    # the cache holds float32: return what a later run reads from it, so the first run gives the same numbers
    return SynthTable.from_frame(table.to_frame(), names, key)
