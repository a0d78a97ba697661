"""Named models (ocfeh.load_model("apogee-xp")) and the warning when a mock-trained model meets real photometry."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import ocfeh
from ocfeh.exceptions import InputError, OcfehWarning
from ocfeh.pipeline.named_models import RELEASE_CARD, build_named_model, named_model_dir


def test_unbuilt_named_model_says_how_to_build_it(monkeypatch, tmp_path):
    monkeypatch.setenv("OCFEH_CACHE_DIR", str(tmp_path))
    with pytest.raises(InputError, match=r"not built on this machine.*ocfeh build-model apogee-xp"):
        ocfeh.load_model("apogee-xp")
    with pytest.raises(InputError, match="no named model 'apogee'"):
        named_model_dir("apogee")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The apogee-xp model built with the small profile on 3,000 of the real APOGEE stars (for time)."""
    import ocfeh.datasets.registry as registry

    cache = tmp_path_factory.mktemp("cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("OCFEH_CACHE_DIR", str(cache))
    whole = registry.DATASETS["apogee-xp"]
    mp.setitem(registry.DATASETS, "apogee-xp", lambda **kw: whole(**kw).sample(3000, random_state=1))
    model_dir = build_named_model("apogee-xp", "small")
    yield model_dir
    mp.undo()


def test_named_model_is_built_checksummed_and_loaded_by_name(built, monkeypatch):
    monkeypatch.setenv("OCFEH_CACHE_DIR", str(built.parents[2]))
    card = json.loads((built / RELEASE_CARD).read_text())
    assert card["profile"] == "small" and len(card["files"]) >= 10
    for t in ("teff", "logg", "feh"):  # the blind test of the build, with coverage near the nominal level
        assert card["blind_test"][t]["n"] > 100 and 0.5 < card["blind_test"][t]["coverage_68"] < 0.85
    assert card["blind_test"]["teff"]["mae"] < 250 and card["blind_test"]["feh"]["mae"] < 0.3
    model = ocfeh.load_model("apogee-xp")
    assert model.meta["training_set"]["kind"] == "real"
    stars = ocfeh.load_dataset("apogee-xp", seed=42)
    test = stars[stars["split"] == "test"].head(300)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OcfehWarning)  # real stars, real-star model: no mock warning
        out = model.predict(test)
    ok = out["reason"] == ""
    assert ok.mean() > 0.9
    assert np.median(np.abs(out.loc[ok, "teff"] - test.loc[ok, "teff"])) < 250
    # a changed model file is found before it is used
    (built / "feh.txt").write_text((built / "feh.txt").read_text() + "\n")
    with pytest.raises(InputError, match=r"feh.txt is changed.*--small --rebuild"):
        ocfeh.load_model("apogee-xp")
