"""Ready-made real datasets in the canonical star-table schema.

>>> from ocfeh.datasets import DATASETS
>>> sorted(DATASETS)
['apogee-xp']
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from ..exceptions import InputError
from ._xpsynth import XP_WAVELENGTH_NM, band_weights, xp_synthetic_mags
from .apogee_xp import (
    EXTRA_BANDS,
    MODEL_SETTINGS,
    XP_ERROR_MODELS,
    ak_to_a0,
    build_apogee_xp,
    load_apogee_xp,
    parse_apogee_designation,
)

__all__ = [
    "DATASETS",
    "EXTRA_BANDS",
    "MODEL_SETTINGS",
    "XP_ERROR_MODELS",
    "XP_WAVELENGTH_NM",
    "ak_to_a0",
    "band_weights",
    "build_apogee_xp",
    "load_apogee_xp",
    "load_dataset",
    "parse_apogee_designation",
    "xp_synthetic_mags",
]

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
    from pydantic import ValidationError

    from ..sample import SplitConfig

    try:  # the check of [sample.split] fractions
        fractions = SplitConfig(fractions=fractions).fractions
    except ValidationError:
        raise InputError("The 'fractions' parameter of load_dataset must be three shares (train, val, test), "
                         f">= 0 and summing to 1. Got {fractions!r} instead.") from None
    if name not in DATASETS:
        import difflib

        near = difflib.get_close_matches(name, list(DATASETS), n=1)
        hint = f" Did you mean {near[0]!r}?" if near else ""
        raise InputError(f"Unknown dataset {name!r}.{hint} Known: {', '.join(DATASETS)}")
    df = DATASETS[name](**kwargs)
    if seed is not None:
        attrs = df.attrs
        from ..sample import stratified_split

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
