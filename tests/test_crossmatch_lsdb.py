"""The LSDB/HATS cross-match gives the same pairs as the in-memory one (slow: LSDB's first call costs
tens of seconds of Dask/numba set-up on this machine)."""

from __future__ import annotations

import numpy as np
import pytest

from ocfeh.catalogs import read_catalog
from ocfeh.catalogs.matching import crossmatch
from ocfeh.catalogs.matching_lsdb import crossmatch_lsdb

from .test_sample_mocksky import write_native_tables


@pytest.mark.slow
def test_lsdb_gives_identical_pairs(tmp_path):
    """Same pairs, separations and counts on a small shared input (with fast movers and J-PLUS-only sources)."""
    pytest.importorskip("lsdb")
    paths = write_native_tables(tmp_path, n=1500, seed=11)
    jplus = read_catalog(paths["jplus"], "jplus")
    gaia = read_catalog(paths["gaia"], "gaia")
    cut = np.quantile(gaia["ra"], 0.5)
    j, g = jplus[jplus["ra"] < cut], gaia[gaia["ra"] < cut + 1 / 3600]
    a = crossmatch(j, g)
    b = crossmatch_lsdb(j, g)
    assert a.n_pairs > 0.8 * len(j)
    np.testing.assert_array_equal(a.idx_left, b.idx_left)
    np.testing.assert_array_equal(a.idx_right, b.idx_right)
    np.testing.assert_allclose(a.sep_arcsec, b.sep_arcsec, atol=1e-9)
    assert (a.n_ambiguous, a.n_rejected) == (b.n_ambiguous, b.n_rejected)
