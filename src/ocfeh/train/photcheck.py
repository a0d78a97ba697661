"""The photometric sanity check: each band's magnitude predicted from the star's other bands, so that one band
off (a wrong zero point or aperture, an AB/Vega mix-up, a blend) is seen and named before it bends the
labels.

For band ``b`` the target is ``m_b - mean(m_anchors)`` (the anchors: G, BP, RP, rSDSS, iSDSS, b left out),
predicted by LightGBM from the other bands' colours against the same mean and from A_0, trained on the train
rows (other bands masked at random, so stars that miss some still get checked). Its residual on a star,
``r_b``, is scaled by ``s_b = sqrt(f_b^2 + err_b^2)``, with the intrinsic scatter ``f_b`` fitted on the
validation rows (median ``|r_b| / s_b`` = 0.6745, the Gaussian value). A star is flagged when its largest
``|r_b| / s_b`` exceeds the threshold that 1% of the validation stars exceed; the band named is that one.
A band whose median residual over a table is far from zero (at least 0.05 mag and five of its standard
errors) is a systematic offset: a zero point or magnitude-system mistake of the whole table.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import InputError
from ..provenance import checked_file, file_sha256, provenance, write_json
from ..schema import mag_col
from .backends import load_lightgbm_text

__all__ = ["ANCHORS", "PHOTCHECK_DIR", "PhotometricCheck", "fit_phot_check", "load_phot_check"]

log = logging.getLogger(__name__)

PHOTCHECK_DIR = "photcheck"
"""Sub-directory of a model directory that holds the photometric check."""
ANCHORS = ("G", "BP", "RP", "rSDSS", "iSDSS")
"""Bright, precise bands whose mean magnitude is the zero of every band's colour (the checked band left out)."""
FALSE_FLAG_RATE = 0.01
"""Share of the validation stars above the flag threshold."""
MIN_OFFSET_MAG = 0.05
"""Smallest median residual of a band over a table that is reported as a systematic offset."""
MIN_FLOOR_MAG = 0.01
"""Least intrinsic scatter of a band about the locus: the calibration floor of survey photometry."""
_GAUSS_MEDIAN = 0.6745  # median |z| of a standard normal


class PhotometricCheck:
    """Leave-one-band-out residuals of every band against the colour locus of the training stars.

    Parameters
    ----------
    bands : list of str
        The bands checked (and used as features of each other).
    n_estimators : int, default=200
        Trees per band model.
    mask_probability : float, default=0.1
        Chance that each non-anchor feature is masked in a training row.
    seed : int, default=0
    """

    def __init__(self, bands, n_estimators: int = 200, mask_probability: float = 0.1, seed: int = 0):
        self.bands = list(bands)
        self.n_estimators = n_estimators
        self.mask_probability = mask_probability
        self.seed = seed

    def __repr__(self) -> str:
        fitted = f", threshold={self.threshold_:.2f}" if hasattr(self, "threshold_") else ""
        return f"PhotometricCheck({len(self.bands)} bands{fitted})"

    def anchors(self, band: str) -> list[str]:
        return [a for a in ANCHORS if a in self.bands and a != band]

    def _frame(self, table: pd.DataFrame, band: str) -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)`` of one band: the others' colours against the anchor mean (and A_0), and ``m_b - mean``."""
        mags = {b: _column(table, mag_col(b)) for b in self.bands}
        anchors = self.anchors(band)
        ref = np.mean([mags[a] for a in anchors], axis=0) if anchors else np.full(len(table), np.nan)
        cols = [mags[b] - ref for b in self.bands if b != band]
        cols.append(_column(table, "a0"))
        return np.column_stack(cols), mags[band] - ref

    def fit(self, train: pd.DataFrame, calib: pd.DataFrame) -> PhotometricCheck:
        """Fit each band's model on ``train``; its scatter and the flag threshold on ``calib``."""
        import lightgbm as lgb

        if len(train) < 50 or len(calib) < 50:
            raise InputError(f"the photometric check needs 50 train and 50 validation stars; got {len(train)} and "
                             f"{len(calib)}")
        rng = np.random.default_rng(self.seed)
        params = {"objective": "l2", "learning_rate": 0.1, "num_leaves": 31, "min_child_samples": 20,
                  "verbose": -1, "num_threads": 2, "seed": self.seed, "deterministic": True}
        self.boosters_, self.floor_ = {}, {}
        for band in self.bands:
            X, y = self._frame(train, band)
            ok = np.isfinite(y)
            X = X[ok].copy()
            anchor_cols = [j for j, b in enumerate(b for b in self.bands if b != band) if b in ANCHORS]
            mask = rng.random(X.shape) < self.mask_probability
            mask[:, anchor_cols + [X.shape[1] - 1]] = False
            X[mask] = np.nan
            self.boosters_[band] = lgb.train(params, lgb.Dataset(X, y[ok]), num_boost_round=self.n_estimators)
            r, err = self._residual(calib, band)
            self.floor_[band] = max(MIN_FLOOR_MAG, _floor(r[np.isfinite(r)], err[np.isfinite(r)]))
        self.threshold_ = np.inf
        worst = self.check(calib)["z"]
        worst = worst[np.isfinite(worst)]
        self.threshold_ = float(np.quantile(worst, 1 - FALSE_FLAG_RATE))
        self.n_calib_ = int(len(worst))
        return self

    def _residual(self, table: pd.DataFrame, band: str) -> tuple[np.ndarray, np.ndarray]:
        X, y = self._frame(table, band)
        r = np.full(len(table), np.nan)
        ok = np.isfinite(y)
        if ok.any():
            r[ok] = y[ok] - self.boosters_[band].predict(X[ok], num_threads=2)
        err = _column(table, f"mag_err_{band}")
        return r, np.where(np.isfinite(err), err, 0.0)

    def scores(self, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """``(r, z)``: observed minus predicted magnitude of each band, and ``r / sqrt(f_b^2 + err_b^2)``
        (rows x bands; NaN where a band is not checked)."""
        r = np.full((len(table), len(self.bands)), np.nan)
        z = np.full_like(r, np.nan)
        for j, b in enumerate(self.bands):
            r[:, j], err = self._residual(table, b)
            z[:, j] = r[:, j] / np.sqrt(self.floor_[b] ** 2 + err**2)
        return r, z

    def patterns(self) -> np.ndarray:
        """``V[x, b]``: the residual of band ``b`` that one magnitude of offset in band ``x`` makes to first
        order, ignoring the models' response (1 in ``x`` itself; ``-1/k`` in every band whose anchor mean
        holds ``x`` among its ``k`` anchors)."""
        nb = len(self.bands)
        v = np.eye(nb)
        for j, b in enumerate(self.bands):
            anchors = self.anchors(b)
            for a in anchors:
                v[self.bands.index(a), j] -= 1.0 / len(anchors)
        return v

    def _gains(self, res: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Chi-square removed by a one-band offset in each band (rows x bands; 0 where a band is unchecked)."""
        scale = np.where(np.isfinite(z) & (z != 0), res / np.where(z != 0, z, 1.0), np.nan)
        ok = np.isfinite(res) & np.isfinite(scale) & (scale > 0)
        w = np.where(ok, 1.0 / np.where(ok, scale, 1.0) ** 2, 0.0)
        v = self.patterns()
        num, den = (np.where(ok, res, 0.0) * w) @ v.T, w @ (v**2).T
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(ok & (den > 0), num**2 / den, 0.0)

    def _chi2_without(self, table: pd.DataFrame, band: str, shift) -> np.ndarray:
        """Each star's chi-square over the other bands once ``band`` is moved by ``-shift`` (clipped at 5 sigma
        per band, so one bad band of another kind does not decide)."""
        moved = table.copy()
        col = mag_col(band)
        moved[col] = moved[col].to_numpy(dtype=np.float64, na_value=np.nan) - shift
        z = self.scores(moved)[1]
        z[:, self.bands.index(band)] = np.nan
        return np.nansum(np.minimum(z**2, 25.0), axis=1)

    def check(self, table: pd.DataFrame, candidates: int = 3) -> dict[str, np.ndarray]:
        """Per star: ``z`` (the significance of the likeliest one-band offset, in sigma; NaN when unchecked),
        ``band`` (the band that is off, where flagged; else ""), ``offset`` (its size, mag), ``flag``.

        A band's model never sees that band, so its residual is the band's own offset, but an offset in one
        band also moves the other bands' predictions (it is one of their inputs, and an anchor also moves
        their zero). The flag is the largest chi-square gain of a one-band offset (:meth:`patterns`); the band
        named is, among the ``candidates`` bands of largest gain, the one whose correction (by its own
        residual) leaves the other bands closest to the locus."""
        n = len(table)
        res, z = self.scores(table)
        gain = self._gains(res, z)
        checked = np.isfinite(z).any(axis=1)
        order = np.argsort(-gain, axis=1)[:, :candidates] if n else np.zeros((0, candidates), int)
        zmax = np.where(checked, np.sqrt(gain[np.arange(n), order[:, 0]] if n else 0.0), np.nan)
        flag = np.nan_to_num(zmax, nan=0.0) > self.threshold_
        best = order[:, 0].copy()
        rows = np.flatnonzero(flag)
        if len(rows) and candidates > 1:
            sub = table.iloc[rows]
            chi2 = np.full((len(rows), candidates), np.inf)
            for k in range(candidates):
                for j in np.unique(order[rows, k]):
                    these = order[rows, k] == j
                    if np.isfinite(res[rows[these], j]).any():
                        chi2[these, k] = self._chi2_without(sub[these], self.bands[j], res[rows[these], j])
            best[rows] = order[rows, np.argmin(chi2, axis=1)]
        band = np.where(flag, np.array(self.bands, dtype=object)[best], "").astype(object)
        offset = np.where(flag, res[np.arange(n), best], np.nan)
        return {"z": zmax, "band": band, "offset": offset, "flag": flag, "residuals": res}

    def systematic(self, table: pd.DataFrame, max_rows: int = 5000, seed: int = 0, candidates: int = 3) -> list[str]:
        """The warning (none or one) of one band off for a whole table (a zero point, aperture or AB/Vega
        mistake): among the ``candidates`` bands of largest summed gain, the one whose median residual, removed
        from every star, brings the table closest to the locus; reported when that median is at least
        ``MIN_OFFSET_MAG`` and five standard errors and its removal lowers the chi-square."""
        if len(table) > max_rows:
            table = table.sample(max_rows, random_state=seed)
        res, z = self.scores(table)
        usable = np.isfinite(z).any(axis=1)
        if usable.sum() < 20:
            return []
        table, res, z = table[usable], res[usable], z[usable]
        base = np.nansum(np.minimum(z**2, 25.0))
        best = None
        for j in np.argsort(-self._gains(res, z).sum(axis=0))[:candidates]:
            r = res[:, j][np.isfinite(res[:, j])]
            if len(r) < 20:
                continue
            med = float(np.median(r))
            chi2 = float(np.nansum(self._chi2_without(table, self.bands[j], med)))
            if best is None or chi2 < best[2]:
                best = (self.bands[j], med, chi2, len(r))
        if best is None:
            return []
        b, med, chi2, n = best
        se = 1.2533 * 1.4826 * np.median(np.abs(res[:, self.bands.index(b)][np.isfinite(res[:, self.bands.index(b)])]
                                                - med)) / np.sqrt(n)
        if abs(med) >= MIN_OFFSET_MAG and abs(med) > 5 * se and chi2 < base:
            return [f"band {b}: the stars' median offset from the colour locus of the training stars is {med:+.2f} "
                    f"mag ({n} stars); a zero point, aperture or AB/Vega mix-up in mag_{b}?"]
        return []

    # -- persistence
    def save(self, directory: str | Path, config=None, seed: int | None = None) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        files = {}
        for b, booster in self.boosters_.items():
            path = directory / f"{b}.txt"
            booster.save_model(str(path))
            files[b] = {"file": path.name, "sha256": file_sha256(path)}
        return write_json(directory / "photcheck.json", {
            "bands": self.bands, "anchors": list(ANCHORS), "floor_mag": self.floor_, "threshold": self.threshold_,
            "false_flag_rate": FALSE_FLAG_RATE, "n_calibration": self.n_calib_, "n_estimators": self.n_estimators,
            "mask_probability": self.mask_probability, "files": files,
            "provenance": provenance(config, self.seed if seed is None else seed)})


def fit_phot_check(table: pd.DataFrame, bands, seed: int = 0) -> PhotometricCheck:
    """The check of ``bands`` fitted on the sample's train rows and calibrated on its validation rows."""
    split = table["split"].to_numpy()
    return PhotometricCheck(bands, seed=seed).fit(table[split == "train"], table[split == "val"])


def load_phot_check(model_dir: str | Path) -> PhotometricCheck | None:
    """The photometric check of a model directory, or None when it was trained without one."""
    card = Path(model_dir) / PHOTCHECK_DIR / "photcheck.json"
    if not card.is_file():
        return None
    try:
        rec = json.loads(card.read_text())
        pc = PhotometricCheck(rec["bands"], rec["n_estimators"], rec["mask_probability"])
        pc.floor_, pc.threshold_, pc.n_calib_ = dict(rec["floor_mag"]), float(rec["threshold"]), rec["n_calibration"]
        files = rec["files"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InputError(f"{card} is not a photometric-check card ({type(err).__name__}: {err}); retrain (ocfeh "
                         f"train) or remove {card.parent} to predict without the check") from None
    pc.boosters_ = {b: load_lightgbm_text(checked_file(card.parent / f["file"], f.get("sha256"), card))
                    for b, f in files.items()}
    return pc


def _column(table: pd.DataFrame, name: str) -> np.ndarray:
    if name not in table:
        return np.full(len(table), np.nan)
    v = table[name].to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.abs(v) < 50, v, np.nan) if name.startswith("mag_") else v


def _floor(r: np.ndarray, err: np.ndarray) -> float:
    """The intrinsic scatter ``f`` with median ``|r| / sqrt(f^2 + err^2)`` = 0.6745 (0 when the errors do)."""
    if len(r) == 0:
        return 0.1
    lo, hi = 0.0, max(1.0, float(np.max(np.abs(r))))
    if np.median(np.abs(r) / np.maximum(err, 1e-6)) <= _GAUSS_MEDIAN:
        return 1e-3
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if np.median(np.abs(r) / np.sqrt(mid**2 + err**2)) > _GAUSS_MEDIAN:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
