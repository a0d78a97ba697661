"""``simulate_sky``: the whole mock sky, generated and observed in chunks, written table by table."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import InputError
from ..provenance import new_dir, provenance, stable_hash, versions, write_json
from ..synthphot import load_isochrones
from .clusters import draw_clusters
from .config import SimulationConfig
from .observe import SurveyState, hr23_rows, observe_chunk
from .stars import TRUE_MAG_COLUMNS, FieldModel, add_photometry, draw_stars, make_tiles
from .writer import ParquetSink, parquet_to_fits

__all__ = ["simulate_sky", "FILES", "FIELD_CHUNK"]

log = logging.getLogger(__name__)

FIELD_CHUNK = 50_000
"""Field stars per chunk (fixed, so the output depends only on the seed and the configuration)."""

FILES: dict[str, str] = {
    "jplus": "jplus_magabdualobj.parquet",
    "jplus_ext": "jplus_mwextinction.parquet",
    "gaia": "gaia_source.parquet",
    "gaia_ap": "gaia_astrophysical_parameters.parquet",
    "gaia_dist": "gaia_edr3_distances.parquet",
    "catwise": "catwise2020.parquet",
    "lamost": "lamost_dr8_lrs_stellar.parquet",
    "hr23_clusters": "hr23_clusters.parquet",
    "hr23_members": "hr23_members.parquet",
    "truth": "truth.parquet",
    "truth_clusters": "truth_clusters.parquet",
}

# stream ids of numpy SeedSequence spawn keys
_S_SETUP, _S_CLUSTERS, _S_FIELD, _S_OBS_CLUSTERS, _S_HR23 = 0, 1, 2, 3, 4

_TRUTH_COLUMNS = (
    "star_id", "component", "cluster", "tile", "ra", "dec", "pmra", "pmdec", "radial_velocity",
    "teff_true", "logg_true", "feh_true", "mass_true", "mass_ini", "radius_true", "distance_true_pc", "a0_true",
    "age_true_myr", "mass_ratio",
)


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _truth_columns(stars: pd.DataFrame, links: pd.DataFrame, listed: np.ndarray, tiles) -> dict:
    import pyarrow as pa

    keep = ((links["source_id"] >= 0) | (links["jplus_number"] >= 0) | (links["catwise_source_name"] != "")
            | (links["lamost_obsid"] >= 0)).to_numpy()
    st, ln = stars.loc[keep], links.loc[keep]
    cols: dict[str, Any] = {}
    for c in ("source_id", "jplus_tile_id", "jplus_number", "lamost_obsid"):
        cols[c] = ln[c].to_numpy()  # -1: no counterpart (ints stay ints in pandas)
    name = ln["catwise_source_name"].to_numpy().astype(str)
    cols["catwise_source_name"] = pa.array(name.tolist(), mask=name == "", type=pa.string())
    cols["hr23_listed"] = listed[keep]
    for c in _TRUTH_COLUMNS:
        v = st[c].to_numpy()
        if c == "cluster":
            v = v.astype(str)
            cols[c] = pa.array(v.tolist(), mask=v == "", type=pa.string())
        elif c == "component":
            cols[c] = v.astype(str)
        else:
            cols[c] = v
    cols["is_binary"] = st["mass_ratio"].to_numpy() > 0
    for c in TRUE_MAG_COLUMNS:
        cols[c] = st[c].to_numpy(np.float32)
    return cols


def _hr23_clusters(clusters: pd.DataFrame, members: list[dict], rng) -> dict:
    n = len(clusters)
    stats = {name: [] for name in clusters["name"]}
    for m in members:
        if len(m["Name"]):
            stats[m["Name"][0]].append(m)
    cols: dict[str, list] = {k: [] for k in (
        "Name", "ID", "Type", "CST", "N", "RA_ICRS", "DE_ICRS", "GLON", "GLAT", "r50", "r50pc", "pmRA", "s_pmRA",
        "e_pmRA", "pmDE", "s_pmDE", "e_pmDE", "Plx", "s_Plx", "e_Plx", "dist16", "dist50", "dist84",
        "logAge16", "logAge50", "logAge84", "AV16", "AV50", "AV84", "MOD50")}
    for cl in clusters.itertuples():
        parts = stats[cl.name]
        get = (lambda k: np.concatenate([p[k] for p in parts]).astype(float)) if parts else (lambda k: np.zeros(0))
        prob = get("Prob")
        good = prob > 0.5
        nn = int(len(prob))
        def mean_sd(k):
            v, w = get(k)[good], 1.0 / get("e_" + k)[good] ** 2
            if v.size == 0:
                return np.nan, np.nan, np.nan
            return float(np.average(v, weights=w)), float(np.std(v)), float(1.0 / math.sqrt(w.sum()))
        pmra, pmdec, plx = mean_sd("pmRA"), mean_sd("pmDE"), mean_sd("Plx")
        d50 = cl.distance_true_pc * math.exp(rng.normal(0, 0.03))
        la = math.log10(cl.age_true_myr * 1e6) + rng.normal(0, 0.1)
        av = max(cl.a0_true * 1.0 + rng.normal(0, 0.08), 0.0)
        vals = {
            "Name": cl.name, "ID": cl.cluster_index + 1, "Type": "o", "CST": 5.0 + math.sqrt(max(nn, 0)) * 1.5,
            "N": nn, "RA_ICRS": cl.ra, "DE_ICRS": cl.dec, "GLON": float(cl.l), "GLAT": float(cl.b),
            "r50": cl.r50_deg * math.exp(rng.normal(0, 0.1)), "r50pc": cl.r50_pc * math.exp(rng.normal(0, 0.1)),
            "pmRA": pmra[0], "s_pmRA": pmra[1], "e_pmRA": pmra[2],
            "pmDE": pmdec[0], "s_pmDE": pmdec[1], "e_pmDE": pmdec[2],
            "Plx": plx[0], "s_Plx": plx[1], "e_Plx": plx[2],
            "dist16": d50 * 0.97, "dist50": d50, "dist84": d50 * 1.03,
            "logAge16": la - 0.15, "logAge50": la, "logAge84": la + 0.15,
            "AV16": max(av - 0.1, 0.0), "AV50": av, "AV84": av + 0.1,
            "MOD50": 5 * math.log10(d50) - 5,
        }
        for k, v in vals.items():
            cols[k].append(v)
    out = {k: np.asarray(v) for k, v in cols.items()}
    out["ID"] = out["ID"].astype(np.int32)
    out["N"] = out["N"].astype(np.int32)
    return out


def _check_out_dir(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"output path {out_dir} exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise InputError(f"output directory {out_dir} is not empty; pass overwrite=True (CLI: --overwrite) "
                         "or choose another directory")
    out_dir.mkdir(parents=True, exist_ok=True)


def simulate_sky(
    out_dir: str | Path,
    n_stars: int | None = None,
    profile: str = "default",
    seed: int = 42,
    config: SimulationConfig | dict | None = None,
    fits: bool | None = None,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Simulate and observe a mock sky and write its catalogues in the surveys' native columns.

    Parameters
    ----------
    out_dir : str or Path
        Output directory (created, and removed again if the simulation fails before writing into it;
        must be empty unless ``overwrite``).
    n_stars : int, optional
        Field stars generated (before detection); overrides the config and the profile
        (small 12k, default 400k, full 12M; see :data:`PROFILE_SIZES`). About 40% of them are detected
        by J-PLUS; the default profile takes about 40 s and yields ~3k LAMOST-like labels, ``full`` ~90k.
    profile : {"small", "default", "full"}, default="default"
        Size profile filling the sizes the config leaves at ``None``.
    seed : int, default=42
        The one random seed (>= 0). The same seed and configuration give byte-identical files.
    config : SimulationConfig or dict, optional
        Everything else (see :class:`SimulationConfig`).
    fits : bool, optional
        Also write FITS copies (default: ``config.write_fits``).
    overwrite : bool, default=False
        Allow a non-empty ``out_dir`` (files of the same names are replaced).

    Returns
    -------
    dict of str to Path
        Paths keyed as in :data:`FILES`, plus ``"manifest"`` (and ``"<key>_fits"`` if FITS).

    Raises
    ------
    InputError
        A bad seed, profile or size, or a non-empty ``out_dir`` without ``overwrite`` (before anything is made).
    """
    t_start = time.perf_counter()
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"The 'seed' parameter of simulate_sky must be a non-negative integer. "
                         f"Got {seed!r} instead.")
    cfg = config if isinstance(config, SimulationConfig) else SimulationConfig.model_validate(config or {})
    if n_stars is not None:
        cfg = cfg.model_copy(update={"n_stars": int(n_stars)})
        SimulationConfig.model_validate(cfg.model_dump())  # range check of n_stars
    out_dir = Path(out_dir)
    cfg.resolved(profile)  # a bad profile fails before the directory is made
    with new_dir(out_dir):
        _check_out_dir(out_dir, overwrite)
        return _write_sky(out_dir, cfg, profile, int(seed), fits, t_start)


def _write_sky(out_dir: Path, cfg: SimulationConfig, profile: str, seed: int, fits: bool | None,
               t_start: float) -> dict[str, Path]:
    n_stars, n_tiles, n_clusters, limit = cfg.resolved(profile)
    cfg = cfg.model_copy(update={"detect_limit_r": limit})
    cfg_dict = {"profile": profile, **cfg.model_dump(mode="json"), "n_stars": n_stars, "n_tiles": n_tiles,
                "n_clusters": n_clusters}
    meta = {"config_hash": stable_hash(cfg_dict), "seed": int(seed), "ocfeh_version": versions()["ocfeh"]}

    iso = load_isochrones()
    rng = _rng(seed, _S_SETUP)
    tiles = make_tiles(n_tiles, cfg, rng)
    state = SurveyState.draw(cfg, tiles, rng)
    model = FieldModel(cfg, tiles, iso)
    segments = model.allocate(n_stars, rng)

    sinks = {k: ParquetSink(out_dir / f, k, meta) for k, f in FILES.items() if k not in ("hr23_clusters", "truth_clusters")}
    member_parts: list[dict] = []
    rng_hr23 = _rng(seed, _S_HR23)
    clusters = pd.DataFrame()
    try:
        # --- clusters first (their members are one chunk)
        if n_clusters > 0:
            clusters, members = draw_clusters(cfg, tiles, n_clusters, iso, _rng(seed, _S_CLUSTERS))
            _process(members, state, _rng(seed, _S_OBS_CLUSTERS), sinks, clusters, rng_hr23, member_parts, tiles)
        # --- field, chunk by chunk
        n_chunks = max(1, math.ceil(n_stars / FIELD_CHUNK))
        for i in range(n_chunks):
            lo, hi = i * FIELD_CHUNK, min((i + 1) * FIELD_CHUNK, n_stars)
            crng = _rng(seed, _S_FIELD, i)
            parts = []
            for seg in segments:
                a, b = max(lo, seg.start), min(hi, seg.start + seg.count)
                if a < b:
                    parts.append(draw_stars(crng, model, seg, a, b))
            stars = pd.concat(parts, ignore_index=True) if parts else None
            if stars is None or len(stars) == 0:
                continue
            stars = add_photometry(stars, iso)
            _process(stars, state, crng, sinks, clusters, rng_hr23, member_parts, tiles)
            log.info("mock sky: chunk %d/%d (%d field stars) done", i + 1, n_chunks, hi - lo)
        paths = {k: s.close() for k, s in sinks.items()}
    except BaseException:
        for s in sinks.values():
            s.abort()
        raise

    # --- cluster catalogue and cluster truth
    if len(clusters):
        hr = _hr23_clusters(clusters, member_parts, rng_hr23)
        truth_cl = {
            "Name": clusters["name"].to_numpy().astype(str),
            **{c: clusters[c].to_numpy() for c in ("tile", "ra", "dec", "l", "b", "age_true_myr", "feh_true",
                                                   "distance_true_pc", "a0_true", "r50_pc", "r50_deg", "pmra",
                                                   "pmdec", "radial_velocity", "n_bright_true")},
        }
    else:
        hr, truth_cl = {}, {}
    for key, cols in (("hr23_clusters", hr), ("truth_clusters", truth_cl)):
        sink = ParquetSink(out_dir / FILES[key], key, meta)
        sink.write(cols if cols else {"Name": np.zeros(0, dtype=str)})
        paths[key] = sink.close()
    counts = {k: int(_count(p)) for k, p in paths.items()}
    if fits if fits is not None else cfg.write_fits:
        for k in list(paths):
            paths[f"{k}_fits"] = parquet_to_fits(paths[k])
    manifest = provenance(
        config=cfg_dict, seed=int(seed),
        description="ocfeh mock sky: J-PLUS DR3-, Gaia DR3-, CatWISE2020-, LAMOST DR8- and HR23-like tables "
                    "in native column names, with truth.parquet linking them to the true parameters.",
        config_effective=cfg_dict,
        files={k: p.name for k, p in paths.items()},
        row_counts=counts,
        systematics=state.summary(),
        runtime_s=round(time.perf_counter() - t_start, 1),
    )
    paths["manifest"] = write_json(out_dir / "manifest.json", manifest)
    log.info("mock sky: wrote %s (%s)", out_dir, ", ".join(f"{k} {v}" for k, v in counts.items()))
    return paths


def _count(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def _process(stars, state, rng, sinks, clusters, rng_hr23, member_parts, tiles) -> None:
    tables, links, gaia_rows = observe_chunk(stars, state, rng)
    for key, cols in tables.items():
        sinks[key].write(cols)
    listed = np.zeros(len(stars), bool)
    if len(clusters):
        rows, listed = hr23_rows(stars, gaia_rows, clusters, rng_hr23)
        for r in rows:
            sinks["hr23_members"].write(r)
            member_parts.append({k: r[k] for k in ("Name", "Prob", "pmRA", "pmDE", "Plx", "e_pmRA", "e_pmDE",
                                                  "e_Plx")})
    sinks["truth"].write(_truth_columns(stars, links, listed, tiles))
