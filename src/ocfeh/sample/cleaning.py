"""The cleaning table (the poster's Table 1): how many stars each join and cut of the sample leaves."""

from __future__ import annotations

import logging

import pandas as pd

__all__ = ["CleaningSteps", "emptying_step"]

log = logging.getLogger(__name__)


class CleaningSteps:
    """The rows of the cleaning table, added step by step (each logged).

    Attributes
    ----------
    rows : list of dict
        ``step``, ``n_remaining``, ``fraction`` (of the first row's count), ``note``.
    settings : dict of str to str
        Cut step -> the ``[sample.cuts]`` setting that relaxes it (named in errors).
    """

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.settings: dict[str, str] = {}

    def add(self, step: str, n: int, note: str = "", setting: str = "") -> None:
        n0 = self.rows[0]["n_remaining"] if self.rows else n
        self.rows.append({"step": step, "n_remaining": int(n), "fraction": (n / n0) if n0 else 0.0, "note": note})
        if setting:
            self.settings[step] = setting
        log.info("%-40s %8d  %s", step, n, note)

    def frame(self) -> pd.DataFrame:
        """The table: ``step, n_remaining, n_removed, fraction, note``."""
        df = pd.DataFrame(self.rows, columns=["step", "n_remaining", "fraction", "note"])
        df["n_removed"] = (-df["n_remaining"].diff()).fillna(0).astype(int)
        return df[["step", "n_remaining", "n_removed", "fraction", "note"]]


def emptying_step(cleaning: pd.DataFrame, settings: dict[str, str]) -> str:
    """Which cut removed the last stars, and the setting that relaxes it (:attr:`CleaningSteps.settings`)."""
    zero = cleaning.index[cleaning["n_remaining"] == 0]
    if not len(zero) or zero[0] == 0:
        return "the input is empty"
    name = str(cleaning.loc[zero[0], "step"])
    key = settings.get(name)
    return f"'{name}' removed the last {cleaning.loc[zero[0] - 1, 'n_remaining']}" + (
        f" (relax it with [sample.cuts] {key})" if key else "")
