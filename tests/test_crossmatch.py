"""Cross-match: known true pairs recovered, epochs propagated, one-to-one, LSDB gives the same pairs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ocfeh.catalogs import read_catalog
from ocfeh.catalogs.matching import CrossmatchResult, crossmatch, join_matches, propagate_positions
from ocfeh.exceptions import InputError

from .test_sample_mocksky import make_sky, write_native_tables


@pytest.fixture(scope="module")
def sky_tables(tmp_path_factory):
    folder = tmp_path_factory.mktemp("xm")
    paths = write_native_tables(folder, n=3000, seed=7)
    jplus = read_catalog(paths["jplus"], "jplus")
    gaia = read_catalog(paths["gaia"], "gaia")
    truth = make_sky(3000, seed=7)["jplus"]["truth_gaia_row"]
    return jplus, gaia, truth


def _score(res: CrossmatchResult, truth: np.ndarray) -> tuple[float, float]:
    true_pairs = truth >= 0
    correct = truth[res.idx_left] == res.idx_right
    completeness = correct.sum() / true_pairs.sum()
    false_rate = (~correct).sum() / max(res.n_pairs, 1)
    return completeness, false_rate


def test_jplus_gaia_completeness_and_false_matches(sky_tables):
    """Default radius: completeness > 99 %, false matches < 0.5 % (8000 sources / deg2, 5 % fast movers)."""
    jplus, gaia, truth = sky_tables
    res = crossmatch(jplus, gaia)  # epochs from the readers: 2018.0 and 2016.0
    assert res.radius_arcsec == 1.0
    completeness, false_rate = _score(res, truth)
    assert completeness > 0.99
    assert false_rate < 0.005
    # one-to-one
    assert len(np.unique(res.idx_left)) == res.n_pairs == len(np.unique(res.idx_right))
    # separations are those of the injected position noise (0.15 arcsec per axis: Rayleigh median 0.18)
    assert np.median(res.sep_arcsec) == pytest.approx(0.15 * np.sqrt(2 * np.log(2)), rel=0.1)


def test_propagation_recovers_fast_movers(sky_tables):
    jplus, gaia, truth = sky_tables
    with_pm = crossmatch(jplus, gaia)
    without = crossmatch(jplus, gaia, epoch_left=2016.0, epoch_right=2016.0)
    c_with, _ = _score(with_pm, truth)
    c_without, _ = _score(without, truth)
    # ~5 % of stars move 300 mas/yr x 2 yr = 0.6 arcsec (per axis): many are lost without propagation
    assert c_with - c_without > 0.005


def test_propagate_positions_exact_values():
    ra, dec = propagate_positions([10.0, 10.0], [0.0, 60.0], [1000.0, 1000.0], [0.0, 500.0], 2016.0, 2018.0)
    # 1000 mas/yr * 2 yr = 2 arcsec along RA (pmra includes cos dec): 2/3600 deg at the equator,
    # twice that in RA degrees at dec 60
    np.testing.assert_allclose(ra - 10.0, [2 / 3600, 4 / 3600], rtol=1e-12)
    np.testing.assert_allclose(dec, [0.0, 60.0 + 1 / 3600], rtol=1e-12)


def test_mutual_best_and_ambiguous_counts():
    # two left sources 0.4" apart near one right source: only the nearer is paired, one ambiguity each side
    left = pd.DataFrame({"ra": [0.0, 0.4 / 3600, 1.0], "dec": [0.0, 0.0, 0.0]})
    right = pd.DataFrame({"ra": [0.1 / 3600, 1.0 + 5 / 3600], "dec": [0.0, 0.0]})
    res = crossmatch(left, right, radius_arcsec=1.0)
    assert res.idx_left.tolist() == [0] and res.idx_right.tolist() == [0]
    assert res.sep_arcsec[0] == pytest.approx(0.1, rel=1e-6)
    assert res.n_ambiguous == 1  # right 0 has two left candidates
    assert res.n_rejected == 1  # left 1's nearest prefers left 0
    joined = join_matches(left, right, res)
    assert list(joined.columns) == ["ra", "dec", "ra_right", "dec_right", "sep_arcsec"]
    kept = join_matches(left, right, res, how="left")
    assert len(kept) == 3 and kept["ra_right"].isna().sum() == 2


def test_nan_positions_empty_and_bad_radius():
    left = pd.DataFrame({"ra": [np.nan, 5.0], "dec": [0.0, 0.0]})
    right = pd.DataFrame({"ra": [5.0], "dec": [0.0]})
    res = crossmatch(left, right)
    assert res.idx_left.tolist() == [1] and res.idx_right.tolist() == [0]
    empty = crossmatch(left.iloc[:0], right)
    assert empty.n_pairs == 0
    with pytest.raises(InputError, match="radius_arcsec must be a positive number of arcsec; got -1"):
        crossmatch(left, right, radius_arcsec=-1)
    with pytest.raises(InputError, match="the right table has no 'dec' column"):
        crossmatch(left, right.drop(columns="dec"))

