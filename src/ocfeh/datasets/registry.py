"""The registry of ready-made real datasets, each loaded into the canonical star-table schema."""

from __future__ import annotations

import difflib
from collections.abc import Callable

import pandas as pd
from pydantic import ValidationError

from ..exceptions import InputError
from ..sample import SplitConfig, stratified_split
from .apogee_xp import load_apogee_xp

__all__ = ["DATASETS", "load_dataset"]


DATASETS: dict[str, Callable[..., pd.DataFrame]] = {"apogee-xp": load_apogee_xp}
"""Registered datasets: name -> loader returning a canonical table."""


_STRATIFY = ("teff", "feh", "logg")


def load_dataset(
    name: str,
    *,
    seed: int | None = None,
    fractions: tuple[float, float, float] = (0.7, 0.2, 0.1),
    **kwargs,
) -> pd.DataFrame:
    """A registered dataset, optionally with a seeded, stratified ``split`` column.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS` (``"apogee-xp"``).
    seed : int, optional
        If given, add ``split`` (``"train"``/``"val"``/``"test"``) stratified on quantile bins of
        ``teff``, ``feh`` and ``logg``, reproducible from the seed
        (:func:`ocfeh.sample.stratified_split`).
    fractions : tuple of 3 floats, default=(0.7, 0.2, 0.1)
        Train / validation / test shares (>= 0, summing to 1).
    **kwargs
        Passed to the loader (e.g. ``snr_min``, ``g_max``, ``cache``).

    Raises
    ------
    InputError
        An unknown dataset or bad ``fractions`` (checked before anything is loaded).
    """
    try:  # the check of [sample.split] fractions
        fractions = SplitConfig(fractions=fractions).fractions
    except ValidationError:
        raise InputError("The 'fractions' parameter of load_dataset must be three shares (train, val, test), "
                         f">= 0 and summing to 1. Got {fractions!r} instead.") from None
    if name not in DATASETS:
        near = difflib.get_close_matches(name, list(DATASETS), n=1)
        hint = f" Did you mean {near[0]!r}?" if near else ""
        raise InputError(f"Unknown dataset {name!r}.{hint} Known: {', '.join(DATASETS)}")
    df = DATASETS[name](**kwargs)
    if seed is not None:
        attrs = df.attrs
        split, method = stratified_split(df[list(_STRATIFY)], fractions=fractions, seed=seed), "ocfeh.sample"
        df = df.assign(split=split)
        df.attrs = {
            **attrs,
            "split": {
                "seed": int(seed),
                "fractions": list(fractions),
                "stratify": list(_STRATIFY),
                "method": method,
            },
        }
        if "provenance" in df.attrs:
            df.attrs["provenance"] = {**df.attrs["provenance"], "seed": int(seed)}
    return df
