"""Per-tile J-PLUS zero points: injected offsets recovered, populations not mistaken for offsets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ocfeh.bands import JPLUS_BANDS
from ocfeh.exceptions import InputError
from ocfeh.sample.zeropoints import ZeroPointConfig, apply_tile_offsets, fit_tile_offsets, summarize_offsets

BANDS = ("uJAVA", "J0395", "gSDSS", "rSDSS")
# colour (band - G) = a + b (Teff - 5500) / 1000 + c [Fe/H]: blue bands feel metallicity strongly
COEF = {"uJAVA": (1.6, -0.9, 0.35), "J0395": (1.2, -0.8, 0.30), "gSDSS": (0.35, -0.45, 0.05),
        "rSDSS": (-0.1, -0.15, 0.0), "BP": (0.3, -0.25, 0.02), "RP": (-0.6, 0.25, -0.01)}


def labelled_tiles(n_tiles=40, per_tile=120, offsets=None, tile_feh=None, noise=0.02, seed=0):
    """Labelled stars in tiles; ``offsets`` (n_tiles, len(BANDS)) are added to the J-PLUS magnitudes."""
    rng = np.random.default_rng(seed)
    tile = np.repeat(np.arange(n_tiles), per_tile)
    n = tile.size
    teff = rng.uniform(4500, 6500, n)
    mean_feh = np.zeros(n_tiles) if tile_feh is None else tile_feh
    feh = mean_feh[tile] + rng.normal(0, 0.3, n)
    g = rng.uniform(12, 16, n)
    df = pd.DataFrame({"jplus_tile_id": tile + 1000, "teff": teff + rng.normal(0, 80, n), "logg": 4.3,
                       "feh": feh + rng.normal(0, 0.05, n), "mag_G": g, "a0": 0.1,
                       "split": rng.choice(["train", "val", "test"], n, p=[0.7, 0.2, 0.1])})
    for b, (a, bt, c) in COEF.items():
        df[f"mag_{b}"] = g + a + bt * (teff - 5500) / 1000 + c * feh + rng.normal(0, 0.005 if b in ("BP", "RP")
                                                                                 else noise, n)
    for j, b in enumerate(BANDS):
        if offsets is not None:
            df[f"mag_{b}"] += offsets[tile, j]
        df[f"mag_err_{b}"] = noise
    return df


def test_injected_offsets_are_recovered_within_their_errors():
    rng = np.random.default_rng(1)
    true = rng.normal(0, 0.02, (40, len(BANDS)))
    true -= true.mean(axis=0)
    df = labelled_tiles(offsets=true)
    off = fit_tile_offsets(df, seed=0)
    wide = off.pivot(index="jplus_tile_id", columns="band", values="offset_mag").loc[np.arange(40) + 1000]
    err = off.pivot(index="jplus_tile_id", columns="band", values="offset_err").loc[np.arange(40) + 1000]
    for j, b in enumerate(BANDS):
        resid = wide[b].to_numpy() - true[:, j]
        resid -= resid.mean()  # offsets are relative to the mean tile
        assert np.std(resid) < 0.3 * np.std(true[:, j]), b
        assert np.mean(np.abs(resid) < 3 * err[b].to_numpy() + 0.002) > 0.9, b
    after = apply_tile_offsets(df, off)
    left = after.mag_uJAVA - (df.mag_uJAVA - true[df.jplus_tile_id - 1000, 0])
    assert left.groupby(df.jplus_tile_id).first().std() < 0.3 * np.std(true[:, 0])


def test_metal_poor_tiles_are_not_read_as_offsets():
    """Tiles differ by 0.6 dex in mean [Fe/H] (0.2 mag in uJAVA) but carry no offset: none is found."""
    tile_feh = np.where(np.arange(40) % 2 == 0, -0.8, -0.2)
    off = fit_tile_offsets(labelled_tiles(tile_feh=tile_feh, seed=3), seed=0)
    u = off[off.band == "uJAVA"].set_index("jplus_tile_id").offset_mag
    poor = u.loc[np.arange(0, 40, 2) + 1000].mean()
    rich = u.loc[np.arange(1, 40, 2) + 1000].mean()
    assert abs(poor - rich) < 0.004
    assert summarize_offsets(off)["uJAVA"]["spread_mag"] < 0.006


def test_blind_test_stars_do_not_enter():
    df = labelled_tiles(seed=5)
    base = fit_tile_offsets(df, seed=0)
    spoiled = df.copy()
    spoiled.loc[spoiled.split == "test", "mag_uJAVA"] += 1.0
    again = fit_tile_offsets(spoiled, seed=0)
    np.testing.assert_allclose(again.offset_mag, base.offset_mag)


def test_tiles_with_few_stars_keep_zero_and_unknown_tiles_are_untouched():
    rng = np.random.default_rng(2)
    true = rng.normal(0, 0.03, (40, len(BANDS)))
    df = labelled_tiles(offsets=true)
    few = df[(df.jplus_tile_id != 1000) | (np.arange(len(df)) % 120 < 3)]  # tile 1000 keeps 3 stars
    off = fit_tile_offsets(few, ZeroPointConfig(min_stars=5), seed=0)
    t0 = off[off.jplus_tile_id == 1000]
    assert (t0.offset_mag == 0).all() and (t0.n_stars == 0).all()
    other = pd.DataFrame({"jplus_tile_id": [9999, 1001], "mag_uJAVA": [15.0, 15.0]})
    out = apply_tile_offsets(other, off)
    assert out.mag_uJAVA.iloc[0] == 15.0
    expected = 15.0 - off[(off.jplus_tile_id == 1001) & (off.band == "uJAVA")].offset_mag.iloc[0]
    assert out.mag_uJAVA.iloc[1] == pytest.approx(expected)


def test_bad_input_is_refused():
    df = labelled_tiles(n_tiles=5, per_tile=40)
    with pytest.raises(InputError, match="feh"):
        fit_tile_offsets(df.drop(columns="feh"))
    with pytest.raises(InputError, match="at least 10 tiles"):
        fit_tile_offsets(df)
    with pytest.raises(InputError, match="jplus_tile_id"):
        apply_tile_offsets(df.drop(columns="jplus_tile_id"), fit_tile_offsets(df, ZeroPointConfig(min_tiles=3)))
    assert set(BANDS) <= set(JPLUS_BANDS)
