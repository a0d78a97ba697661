"""Benchmark of the ``apogee-xp`` dataset: build time, rows, finite magnitudes, XP truncation errors.

Run: ``python benchmarks/bench_datasets.py`` (about 30 s). Writes ``benchmarks/results/datasets.json``.

The sampling study integrates Kurucz (1993) model spectra (10 Angstrom bins) through each J-PLUS
band twice: exactly over the whole curve, and the way :func:`ocfeh.datasets.xp_synthetic.xp_synthetic_mags` does
it (spectrum linearly sampled on the 2 nm XP grid, 336-1020 nm, continued flat beyond the edges).
The difference is the error of the edge continuation (uJAVA, zSDSS) plus that of 2 nm sampling of
a spectrum with unresolved lines (J0395: Ca II H and K). Real XP spectra are smoother than 2 nm
(resolution R ~ 30-100), so for them the second part is a loss of information in the instrument,
not in the integration.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from ocfeh.bands import JPLUS_BANDS, get_band
from ocfeh.datasets import load_apogee_xp
from ocfeh.datasets.xp_synthetic import XP_WAVELENGTH_NM, band_weights
from ocfeh.provenance import provenance, write_json

OUT = Path(__file__).resolve().parent / "results" / "datasets.json"


def _sampling_study() -> dict:
    from ocfeh.synthphot.spectra import load_grid

    g = load_grid("kurucz")
    sel = np.isin(g.logg, (2.5, 4.5)) & np.isin(g.feh, (-1.0, 0.0)) & (g.teff >= 3500) & (g.teff <= 10000)
    flam = g.flam(sel)
    out = {}
    for b in JPLUS_BANDS:
        curve = get_band(b).curve
        lam = np.arange(curve.wavelength_aa[0], curve.wavelength_aa[-1] + 1.0)
        thr = np.interp(lam, curve.wavelength_aa, curve.throughput)
        exact = np.trapezoid(
            np.array([np.interp(lam, g.wavelength_aa, f) for f in flam]) * thr * lam, lam, axis=1
        )
        xp = (
            np.array([np.interp(XP_WAVELENGTH_NM * 10.0, g.wavelength_aa, f) for f in flam])
            @ band_weights(b).weights
        )
        d = -2.5 * np.log10(xp / exact)
        out[b] = {
            "frac_outside": round(band_weights(b).frac_outside, 4),
            "max_abs_err_mag": round(float(np.max(np.abs(d))), 4),
            "median_err_mag": round(float(np.median(d)), 4),
            "n_models": int(sel.sum()),
        }
    return out


def main() -> int:
    con = Console()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["OCFEH_CACHE_DIR"] = cache
        t0 = time.perf_counter()
        df = load_apogee_xp()  # builds and writes the cache
        t_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        load_apogee_xp()
        t_cached = time.perf_counter() - t0
    bands = list(JPLUS_BANDS) + ["G", "BP", "RP", "J", "H", "Ks"]
    finite = {b: round(float(np.isfinite(df[f"mag_{b}"]).mean()), 4) for b in bands}
    err_ind = df.attrs["xp_error_model"]["median_err_independent"]
    err_cor = df.attrs["xp_error_model"]["median_err_fully_correlated"]
    trunc = _sampling_study()

    table = Table(
        "band",
        "finite",
        "median err (indep.)",
        "median err (corr.)",
        "frac outside XP",
        "max |sampling err| Kurucz",
        title=f"apogee-xp: {len(df)} stars, built in {t_build:.1f} s, cached load {t_cached:.2f} s",
    )
    for b in bands:
        t = trunc.get(b, {})
        table.add_row(
            b,
            f"{finite[b]:.3f}",
            str(err_ind.get(b, "-")),
            str(err_cor.get(b, "-")),
            str(t.get("frac_outside", "-")),
            str(t.get("max_abs_err_mag", "-")),
        )
    con.print(table)
    ctable = Table("step", "removed", "remaining", "reason", title="cleaning")
    for r in df.attrs["cleaning"]:
        ctable.add_row(r["step"], str(r["removed"]), str(r["remaining"]), r["reason"])
    con.print(ctable)
    result = {
        "provenance": provenance({"benchmark": "datasets", "snr_min": 70, "g_max": 17}, seed=None),
        "timings_s": {
            "build_uncached": round(t_build, 2),
            "load_cached": round(t_cached, 3),
            "build_inside": df.attrs["build_seconds"],
        },
        "rows": len(df),
        "cleaning": df.attrs["cleaning"],
        "finite_fraction": finite,
        "xp_median_mag_err_independent": err_ind,
        "xp_median_mag_err_fully_correlated": err_cor,
        "xp_sampling_error_kurucz": trunc,
    }
    write_json(OUT, result)
    con.print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
