"""Catalogue members (HR23-like) joined to per-star predictions, with a per-step survivor table."""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..exceptions import InputError

__all__ = ["MemberSelection", "normalise_members", "select_members"]

log = logging.getLogger(__name__)

# HR23 (VizieR J/A+A/673/A114) native names -> canonical names
_NATIVE = {"Name": "cluster", "GaiaDR3": "source_id", "Source": "source_id", "Prob": "member_prob"}

STEPS = ("n_catalogue", "n_prob", "n_matched", "n_feh", "n_not_ood", "n_err_ok")


class MemberSelection(NamedTuple):
    """The members kept and how many survived each step.

    Attributes
    ----------
    members : DataFrame
        Predictions of the kept members, with ``cluster`` and ``member_prob`` columns.
    steps : DataFrame
        One row per cluster; columns ``n_catalogue`` (catalogue members), ``n_prob`` (after the
        probability threshold), ``n_matched`` (with a prediction), ``n_feh`` (finite [Fe/H] and error),
        ``n_not_ood`` (not flagged out-of-distribution), ``n_err_ok`` ([Fe/H] error small enough).
    """

    members: pd.DataFrame
    steps: pd.DataFrame


def normalise_members(members: pd.DataFrame, source: str = "members table") -> pd.DataFrame:
    """Rename HR23 native columns (``Name``, ``GaiaDR3``/``Source``, ``Prob``) to canonical ones.

    Raises
    ------
    InputError
        When ``cluster`` or ``source_id`` cannot be found.
    """
    df = members.rename(columns={k: v for k, v in _NATIVE.items() if k in members and v not in members})
    missing = [c for c in ("cluster", "source_id") if c not in df]
    if missing:
        raise InputError(
            f"{source}: missing column(s) {missing} (or the HR23 names Name / GaiaDR3 / Source); "
            f"has {list(members.columns)[:20]} ({len(members)} rows)"
        )
    if "member_prob" not in df:
        log.info("%s: no member_prob / Prob column; all %d members taken with probability 1", source, len(df))
        df = df.assign(member_prob=1.0)
    df["cluster"] = df["cluster"].astype(str).str.strip()
    return df


def select_members(
    predictions: pd.DataFrame,
    members: pd.DataFrame,
    prob_min: float = 0.7,
    drop_ood: bool = True,
    max_feh_err: float = 0.5,
) -> MemberSelection:
    """Join catalogue members to predictions by ``source_id`` and apply the quality steps.

    Parameters
    ----------
    predictions : DataFrame
        Per-star predictions with ``source_id``, ``feh``, ``feh_err`` and optionally ``ood_flag``.
    members : DataFrame
        Catalogue members: ``cluster``, ``source_id``, ``member_prob`` (or the HR23 native names).
    prob_min : float, default=0.7
        Keep members with ``member_prob >= prob_min``.
    drop_ood : bool, default=True
        Drop stars with a true ``ood_flag``.
    max_feh_err : float, default=0.5
        Drop stars whose ``feh_err`` exceeds this (dex).

    Returns
    -------
    MemberSelection
    """
    if "source_id" not in predictions:
        raise InputError(f"predictions: no source_id column; has {list(predictions.columns)[:20]}")
    for col in ("feh", "feh_err"):
        if col not in predictions:
            raise InputError(f"predictions: no {col} column ({len(predictions)} rows)")
    mem = normalise_members(members)
    counts = {"n_catalogue": mem.groupby("cluster").size()}
    mem = mem[mem["member_prob"] >= prob_min]
    counts["n_prob"] = mem.groupby("cluster").size()
    pred = predictions.drop(columns=[c for c in ("cluster", "member_prob") if c in predictions])
    pred = pred.drop_duplicates("source_id")
    df = mem[["cluster", "source_id", "member_prob"]].merge(pred, on="source_id", how="inner")
    counts["n_matched"] = df.groupby("cluster").size()
    df = df[np.isfinite(df["feh"]) & np.isfinite(df["feh_err"]) & (df["feh_err"] > 0)]
    counts["n_feh"] = df.groupby("cluster").size()
    if drop_ood and "ood_flag" in df:
        df = df[~df["ood_flag"].fillna(False).astype(bool)]
    counts["n_not_ood"] = df.groupby("cluster").size()
    df = df[df["feh_err"] <= max_feh_err]
    counts["n_err_ok"] = df.groupby("cluster").size()
    steps = pd.DataFrame(counts).reindex(columns=list(STEPS)).fillna(0).astype(int)
    steps.index.name = "cluster"
    total = steps.sum()
    log.info("members: %s", ", ".join(f"{k}={int(v)}" for k, v in total.items()))
    return MemberSelection(df.reset_index(drop=True), steps.reset_index())
