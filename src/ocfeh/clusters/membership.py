"""Our own membership: HDBSCAN in positions, proper motions and parallax (as HR23), refined in the CMD.

The astrometric step follows Hunt & Reffert (2021, 2023): HDBSCAN on the rescaled five-dimensional
space (tangent-plane position, pmra, pmdec, parallax). Candidates of the group that matches the
target cluster are then weighted by their distance from the cluster's sequence in the colour-magnitude
diagram (and, where predictions exist, in the Teff-log g plane), so that field stars that share the
cluster's motion but not its sequence lose probability.

References
----------
Hunt & Reffert 2021, A&A 646, A104; Hunt & Reffert 2023, A&A 673, A114;
Campello, Moulavi & Sander 2013 (HDBSCAN); McInnes, Healy & Astels 2017.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..catalogs.matching import unit_vectors
from ..exceptions import InputError

__all__ = ["MembershipResult", "hdbscan_members", "sequence_weight", "find_members", "compare_members",
           "members_in_cones"]

log = logging.getLogger(__name__)

_ASTRO = ("ra", "dec", "pmra", "pmdec", "parallax")


class MembershipResult(NamedTuple):
    """Own membership of one cluster.

    Attributes
    ----------
    table : DataFrame
        The input field with ``hdbscan_label`` (-1 = noise), ``hdbscan_prob``, ``cmd_weight`` and
        ``member_prob_own`` (= hdbscan_prob x cmd_weight for stars of the chosen group, else 0).
    label : int
        The HDBSCAN group taken as the cluster (-1 if none).
    n_groups : int
        Number of groups HDBSCAN found in the field.
    """

    table: pd.DataFrame
    label: int
    n_groups: int


def _features(field: pd.DataFrame) -> np.ndarray:
    missing = [c for c in _ASTRO if c not in field]
    if missing:
        raise InputError(f"membership: field table lacks column(s) {missing} ({len(field)} rows)")
    ra = np.asarray(field["ra"], float)
    dec = np.asarray(field["dec"], float)
    dec0 = np.deg2rad(np.nanmedian(dec))
    ra0 = np.rad2deg(np.angle(np.nanmean(np.exp(1j * np.deg2rad(ra)))))
    x = ((ra - ra0 + 180.0) % 360.0 - 180.0) * np.cos(dec0)
    y = dec - np.rad2deg(dec0)
    return np.column_stack([x, y, field["pmra"], field["pmdec"], field["parallax"]]).astype(float)


def hdbscan_members(field: pd.DataFrame, min_cluster_size: int = 10, min_samples: int = 10,
                    selection: str = "leaf") -> tuple[np.ndarray, np.ndarray]:
    """HDBSCAN labels and probabilities in (x, y, pmra, pmdec, parallax), robustly rescaled.

    Parameters
    ----------
    field : DataFrame
        Stars with ``ra``, ``dec`` (deg), ``pmra``, ``pmdec`` (mas/yr), ``parallax`` (mas).
        Rows with NaN astrometry get label -1 and probability 0.
    min_cluster_size, min_samples : int, default=10
        HDBSCAN settings (the values of Hunt & Reffert 2023).
    selection : {"leaf", "eom"}, default="leaf"
        HDBSCAN cluster selection; "leaf" (as Hunt & Reffert) keeps small dense groups that "eom" merges
        into field-sized blobs.

    Returns
    -------
    labels, probabilities : ndarray
    """
    from sklearn.cluster import HDBSCAN
    from sklearn.preprocessing import RobustScaler

    feats = _features(field)
    ok = np.all(np.isfinite(feats), axis=1)
    labels = np.full(len(field), -1)
    probs = np.zeros(len(field))
    if ok.sum() < max(min_cluster_size, min_samples) + 1:
        log.warning("membership: only %d stars with full astrometry; no clustering done", int(ok.sum()))
        return labels, probs
    z = RobustScaler().fit_transform(feats[ok])
    model = HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples, cluster_selection_method=selection,
                    copy=True).fit(z)
    labels[ok] = model.labels_
    probs[ok] = model.probabilities_
    return labels, probs


def sequence_weight(x, y, weight=None, clip: float = 3.0, floor: float = 0.02, n_per_bin: int = 8) -> np.ndarray:
    """Weight of each star from its offset to the running-median sequence x(y).

    Parameters
    ----------
    x, y : array_like
        E.g. colour BP-RP and magnitude G (the sequence is x as a function of y).
    weight : array_like, optional
        Current membership probabilities; stars above 0.5 define the sequence.
    clip : float, default=3.0
        Within ``clip`` robust sigmas the weight is 1; beyond it falls as a Gaussian.
    floor : float, default=0.02
        Minimum robust sigma (units of x).

    Returns
    -------
    ndarray
        Weights in [0, 1]; NaN inputs get weight 1 (no information).
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    w = np.ones_like(x) if weight is None else np.asarray(weight, float)
    out = np.ones_like(x)
    ok = np.isfinite(x) & np.isfinite(y)
    core = ok & (w >= 0.5)
    if core.sum() < 2 * n_per_bin:
        return out
    order = np.argsort(y[core])
    ys, xs = y[core][order], x[core][order]
    nb = max(2, core.sum() // n_per_bin)
    edges = np.array_split(np.arange(ys.size), nb)
    yc = np.array([np.median(ys[i]) for i in edges])
    xc = np.array([np.median(xs[i]) for i in edges])
    resid = x[ok] - np.interp(y[ok], yc, xc)
    core_res = x[core] - np.interp(y[core], yc, xc)
    sigma = max(floor, 1.4826 * float(np.median(np.abs(core_res - np.median(core_res)))))
    excess = np.clip(np.abs(resid) / sigma - clip, 0.0, None)
    out[ok] = np.exp(-0.5 * excess**2)
    return out


def find_members(
    field: pd.DataFrame,
    known_ids=None,
    centre: dict | None = None,
    min_cluster_size: int = 10,
    min_samples: int = 10,
    cmd_clip: float = 3.0,
    selection: str = "leaf",
) -> MembershipResult:
    """Own membership of one cluster in a field: HDBSCAN, then CMD (and Kiel-diagram) refinement.

    Parameters
    ----------
    field : DataFrame
        Field stars with astrometry (see :func:`hdbscan_members`); optional ``mag_G``, ``mag_BP``,
        ``mag_RP`` for the CMD refinement (absolute G from ``parallax``), and predicted ``teff``,
        ``logg`` for the Kiel refinement.
    known_ids : array_like, optional
        ``source_id`` of catalogue members: the group holding most of them is the cluster.
    centre : dict, optional
        ``pmra``, ``pmdec``, ``parallax`` of the cluster: otherwise the nearest group in these.
    min_cluster_size, min_samples, selection
        HDBSCAN settings (see :func:`hdbscan_members`).
    cmd_clip : float
        See :func:`sequence_weight`.

    Returns
    -------
    MembershipResult
    """
    labels, probs = hdbscan_members(field, min_cluster_size, min_samples, selection)
    groups = sorted(set(labels) - {-1})
    table = field.copy()
    table["hdbscan_label"] = labels
    table["hdbscan_prob"] = probs
    label = -1
    if groups:
        if known_ids is not None and "source_id" in field:
            known = np.isin(field["source_id"].to_numpy(), np.asarray(known_ids))
            counts = [int((known & (labels == g)).sum()) for g in groups]
            if max(counts) > 0:
                label = groups[int(np.argmax(counts))]
        if label == -1 and centre is not None:
            d = []
            for g in groups:
                sel = labels == g
                d.append(sum(((np.median(field.loc[sel, k]) - centre[k]) / s) ** 2
                             for k, s in (("pmra", 0.3), ("pmdec", 0.3), ("parallax", 0.1))))
            label = groups[int(np.argmin(d))]
        if label == -1:
            label = max(groups, key=lambda g: int((labels == g).sum()))
    base = np.where(labels == label, probs, 0.0) if label != -1 else np.zeros(len(field))
    weight = np.ones(len(field))
    if {"mag_G", "mag_BP", "mag_RP"} <= set(field.columns):
        plx = np.asarray(field["parallax"], float)
        with np.errstate(invalid="ignore", divide="ignore"):
            abs_g = field["mag_G"].to_numpy(float) + 5 * np.log10(np.where(plx > 0, plx, np.nan) / 100.0)
        weight *= sequence_weight(field["mag_BP"] - field["mag_RP"], abs_g, base, clip=cmd_clip)
    if {"teff", "logg"} <= set(field.columns):
        weight *= sequence_weight(np.log10(field["teff"].to_numpy(float)), field["logg"], base,
                                  clip=cmd_clip, floor=0.01)
    table["cmd_weight"] = weight
    table["member_prob_own"] = base * weight
    log.info("membership: %d HDBSCAN groups; chosen group %d with %d stars (%d with p_own > 0.5)",
             len(groups), label, int((labels == label).sum()) if label != -1 else 0,
             int((table["member_prob_own"] > 0.5).sum()))
    return MembershipResult(table, int(label), len(groups))


def compare_members(own_ids, catalogue_ids) -> dict:
    """Compare our members with the catalogue's.

    Returns
    -------
    dict
        ``n_catalogue``, ``n_own``, ``n_recovered``, ``recovered_fraction`` (of the catalogue members),
        ``n_new`` (our candidates not in the catalogue).
    """
    own = set(np.asarray(own_ids).tolist())
    cat = set(np.asarray(catalogue_ids).tolist())
    rec = len(own & cat)
    return {
        "n_catalogue": len(cat),
        "n_own": len(own),
        "n_recovered": rec,
        "recovered_fraction": rec / len(cat) if cat else float("nan"),
        "n_new": len(own - cat),
    }


def members_in_cones(stars: pd.DataFrame, centres: pd.DataFrame, catalogue: pd.DataFrame,
                     min_cluster_size: int = 10, min_samples: int = 10, cmd_clip: float = 3.0,
                     selection: str = "leaf", min_prob: float = 0.5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Own membership of every cluster in a cone around it (:func:`find_members`), compared with the catalogue.

    Parameters
    ----------
    stars : DataFrame
        All stars: ``source_id``, ``ra``, ``dec``, ``pmra``, ``pmdec``, ``parallax`` (optional photometry
        and predicted ``teff``/``logg`` for the refinements); rows lacking astrometry are left out.
    centres : DataFrame
        ``cluster``, ``ra``, ``dec``, ``radius_deg``: the cone of each cluster. It must hold field
        stars around the cluster: HDBSCAN finds no group in a field the cluster fills.
    catalogue : DataFrame
        Catalogue members: ``cluster``, ``source_id``.
    min_prob : float, default=0.5
        Our members are the stars with ``member_prob_own`` above this.

    Returns
    -------
    summary : DataFrame
        Per cluster: ``cluster``, ``n_field``, ``n_members_own``, ``own_recovered_fraction`` (of the
        catalogue members in the cone), ``n_own_new`` (ours not in the catalogue).
    own : DataFrame
        Our members: ``cluster``, ``source_id``, ``member_prob_own``, ``in_catalogue``.
    """
    from scipy.spatial import cKDTree

    missing = sorted(set(_ASTRO) - set(stars.columns))
    if missing:
        raise InputError(f"own membership: the star table lacks column(s) {missing}")
    stars = stars[stars[list(_ASTRO)].notna().all(axis=1)].reset_index(drop=True)
    tree = cKDTree(unit_vectors(stars["ra"].to_numpy(float), stars["dec"].to_numpy(float)))
    by_cluster = catalogue.groupby("cluster")["source_id"].apply(np.asarray).to_dict()
    rows, own = [], []
    for c in centres.itertuples(index=False):
        chord = 2 * np.sin(np.deg2rad(c.radius_deg) / 2)
        idx = np.sort(np.asarray(tree.query_ball_point(unit_vectors(np.array([c.ra]), np.array([c.dec]))[0], chord), dtype=int))
        field = stars.iloc[idx]
        row = {"cluster": c.cluster, "n_field": len(field)}
        if len(field) > 2 * min_cluster_size:
            known = np.intersect1d(by_cluster.get(c.cluster, []), field["source_id"].to_numpy())
            res = find_members(field, known_ids=known, min_cluster_size=min_cluster_size, min_samples=min_samples,
                               cmd_clip=cmd_clip, selection=selection)
            mine = res.table[res.table["member_prob_own"] > min_prob]
            cmp = compare_members(mine["source_id"], known)
            row.update(n_members_own=cmp["n_own"], own_recovered_fraction=cmp["recovered_fraction"],
                       n_own_new=cmp["n_new"])
            own.append(pd.DataFrame({"cluster": c.cluster, "source_id": mine["source_id"].to_numpy(),
                                     "member_prob_own": mine["member_prob_own"].to_numpy(),
                                     "in_catalogue": np.isin(mine["source_id"].to_numpy(), known)}))
        rows.append(row)
    summary = pd.DataFrame(rows).reindex(
        columns=["cluster", "n_field", "n_members_own", "own_recovered_fraction", "n_own_new"])
    columns = ["cluster", "source_id", "member_prob_own", "in_catalogue"]
    own_df = pd.concat(own, ignore_index=True) if own else pd.DataFrame(columns=columns)
    return summary, own_df
