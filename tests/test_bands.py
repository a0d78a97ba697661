import pytest

from ocfeh import band_set, get_band
from ocfeh.bands import BANDS, JPLUS_BANDS, splus_bands
from ocfeh.exceptions import UnknownBandError


def test_registry_has_the_17_bands_in_survey_order():
    assert list(BANDS) == list(JPLUS_BANDS) + ["G", "BP", "RP", "W1", "W2"]
    assert {b.system for b in BANDS.values() if b.survey == "jplus"} == {"AB"}
    assert {b.system for b in BANDS.values() if b.survey != "jplus"} == {"Vega"}


def test_band_sets():
    assert band_set("jplus") == JPLUS_BANDS
    assert band_set("gaia") == ("G", "BP", "RP")
    assert band_set("wise") == ("W1", "W2")
    assert len(band_set("all")) == 17
    assert band_set(["G", "W1"]) == ("G", "W1")


@pytest.mark.parametrize(
    "band, lo, hi",
    # Published pivot wavelengths (Cenarro+2019 Table 2; Riello+2021; Jarrett+2011), AA.
    [("uJAVA", 3450, 3560), ("J0395", 3920, 3960), ("J0660", 6580, 6620), ("zSDSS", 8900, 9010),
     ("G", 6150, 6300), ("BP", 5000, 5200), ("RP", 7700, 7850), ("W1", 33300, 34000), ("W2", 45800, 46500)],
)
def test_pivot_wavelengths_match_published_values(band, lo, hi):
    assert lo < get_band(band).pivot_wavelength_aa < hi


def test_jplus_narrow_bands_are_named_after_their_wavelength():
    for name in JPLUS_BANDS:
        if name.startswith("J0"):
            assert abs(get_band(name).pivot_wavelength_aa / 10 - int(name[1:])) < 15


def test_unknown_band_lists_known_and_suggests():
    with pytest.raises(UnknownBandError, match="Did you mean 'J0660'.*Known: uJAVA"):
        get_band("J660")
    with pytest.raises(KeyError):  # also a builtin KeyError
        band_set("sdss")


def test_splus_is_a_second_system_on_the_same_design(shared_data):
    splus = splus_bands(shared_data / "filters_splus")
    assert list(splus) == list(JPLUS_BANDS)
    for name, band in splus.items():
        # same filter design: pivots within 1.5% of J-PLUS, but not identical curves
        ratio = band.pivot_wavelength_aa / get_band(name).pivot_wavelength_aa
        assert abs(ratio - 1) < 0.015, name
    assert splus["J0660"].pivot_wavelength_aa != get_band("J0660").pivot_wavelength_aa


def test_cli_bands_takes_a_comma_list_like_synth():
    from typer.testing import CliRunner

    from ocfeh.cli import app

    res = CliRunner().invoke(app, ["bands", "G, BP"])
    assert res.exit_code == 0, res.output
    rows = [ln.split("│")[1].strip() for ln in res.output.splitlines() if ln.startswith("│")]
    assert rows == ["G", "BP"]
    bad = CliRunner().invoke(app, ["bands", "G,foo"])
    assert bad.exit_code != 0 and "Unknown band 'foo'" in str(bad.exception)
