"""Survey readers: native columns and formats to the canonical schema; sentinels, units, bad input."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from ocfeh.bands import JPLUS_ARRAY_ORDER, JPLUS_BANDS
from ocfeh.catalogs import Column, Reader, load_table, read_catalog, readers
from ocfeh.catalogs.registry import ReaderRegistry
from ocfeh.exceptions import InputError
from ocfeh.schema import ERR_COLUMNS, MAG_COLUMNS

from .test_sample_mocksky import flatten_jplus, make_sky, write_jplus_parquet, write_native_tables

CANONICAL_EXTRA = {
    "source_id", "ra", "dec", "parallax", "parallax_error", "pmra", "pmdec", "ruwe", "class_star", "jplus_flags",
    "jplus_mask_flags", "jplus_tile_id", "jplus_number", "jplus_id", "teff", "teff_err", "logg", "logg_err", "feh",
    "feh_err", "snr", "label_source", "a0", "a0_err", "ag", "ebpminrp", "ebv", "distance_pc", "lamost_obsid",
    "catwise_id", "distance_gspphot_pc", "distance_geo_pc", "distance_geo_lo_pc", "distance_geo_hi_pc",
    "distance_photogeo_pc", "distance_photogeo_lo_pc", "distance_photogeo_hi_pc", "apogee_id", "aspcapflag",
    "cluster", "cluster_id", "member_prob", "r50_deg", "n_members", "log_age", "av", "cluster_type", "cst",
    "ebv_sfd", "abs_mag_G", "mag_2mass_J", "mag_J", "mag_H", "mag_Ks", "mag_err_J", "mag_err_H", "mag_err_Ks",
} | set(MAG_COLUMNS) | set(ERR_COLUMNS) | {f"a_{b}" for b in JPLUS_BANDS}


@pytest.fixture(scope="module")
def native(tmp_path_factory):
    folder = tmp_path_factory.mktemp("native")
    return write_native_tables(folder, n=400, seed=1), make_sky(400, seed=1)


def test_registry_unknown_name_lists_registered_and_suggests():
    with pytest.raises(InputError, match=r"unknown reader 'lamsot'\. Did you mean 'lamost'\? Registered: jplus"):
        readers.get("lamsot")
    assert list(readers) == ["jplus", "jplus_cor", "jplus_auto", "jplus_extinction", "gaia", "gaia_ap",
                             "bailer_jones", "catwise", "lamost", "apogee", "hr23_clusters", "hr23_members",
                             "jplus_segue", "green2020", "ingot"]  # survey by survey, as `ocfeh readers` lists them
    reg = ReaderRegistry()
    r = Reader("mine", "test", (Column("ra", ("RA",)),))
    reg.register(r)
    with pytest.raises(InputError, match="already registered"):
        reg.register(r)
    assert "mine" in reg and len(reg) == 1


def test_every_reader_only_emits_canonical_names():
    for name in readers:
        for col in readers.get(name).columns:
            assert col.canonical.startswith("_") or col.canonical in CANONICAL_EXTRA, (name, col.canonical)


def test_jplus_array_parquet_equals_flattened_csv(native, tmp_path, caplog):
    paths, sky = native
    with caplog.at_level(logging.INFO, logger="ocfeh.catalogs.registry"):
        arr = read_catalog(paths["jplus"], "jplus")
    flat_path = tmp_path / "jplus_flat.csv"
    flatten_jplus(sky["jplus"]).to_csv(flat_path, index=False)
    flat = read_catalog(flat_path, "jplus")
    pd.testing.assert_frame_equal(arr.drop(columns="jplus_id"), flat.drop(columns="jplus_id"), check_dtype=False)
    raw_mags = np.asarray(sky["jplus"]["mag_aper_6_0"])
    # the archive's order (filter_id): element 10 of the array is J0660, element 4 uJAVA
    for k, band in ((10, "J0660"), (4, "uJAVA"), (0, "rSDSS")):
        ok = raw_mags[:, k] < 90
        np.testing.assert_allclose(arr[f"mag_{band}"].to_numpy()[ok], raw_mags[ok, k])
    n99 = int((raw_mags == 99).sum())
    assert n99 > 0
    assert sum(v for k, v in arr.attrs["n_sentinel"].items() if k in {f"mag_{b}" for b in JPLUS_BANDS}) == n99
    assert np.isnan(arr[[c for c in arr if c.startswith("mag_")]].to_numpy()).sum() == 2 * n99
    assert "sentinel values" in caplog.text
    flags = np.asarray(sky["jplus"]["flags"])
    np.testing.assert_array_equal(arr["jplus_flags"].to_numpy(), np.bitwise_or.reduce(flags, axis=1))
    assert arr["jplus_id"].iloc[0] == "10001-1"
    assert arr.attrs["epoch"] == 2018.0


def test_jplus_arrays_in_wavelength_order_are_detected_and_scrambled_ones_refused(native, tmp_path, caplog):
    """The archive's arrays are in filter_id order; a file in wavelength order is read in that order
    (with a warning) because its colours say so; an order that gives implausible colours is refused."""
    paths, sky = native
    right = read_catalog(paths["jplus"], "jplus")
    to_wavelength = [JPLUS_ARRAY_ORDER.index(b) for b in JPLUS_BANDS]
    arrays = ("mag_aper_6_0", "mag_err_aper_6_0", "flags", "mask_flags")
    wl = {k: (np.asarray(v)[:, to_wavelength] if k in arrays else v) for k, v in sky["jplus"].items()}
    with caplog.at_level(logging.WARNING, logger="ocfeh.catalogs.jplus"):
        got = read_catalog(write_jplus_parquet(wl, tmp_path / "wavelength.parquet"), "jplus")
    assert "in wavelength order" in caplog.text
    pd.testing.assert_frame_equal(got, right, check_like=True)
    scrambled = {k: (np.asarray(v)[:, ::-1] if k in arrays else v) for k, v in sky["jplus"].items()}
    with pytest.raises(InputError, match="neither the J-PLUS archive's order.*uJAVA - gSDSS is"):
        read_catalog(write_jplus_parquet(scrambled, tmp_path / "scrambled.parquet"), "jplus")


def test_jplus_extinction_array_order(tmp_path):
    """ax falls with wavelength: the archive's order reads as such, wavelength order is detected."""
    ax_wl = np.outer(np.linspace(0.5, 0.1, 40), np.linspace(1.6, 0.5, 12))  # uJAVA (largest) ... zSDSS
    order = [JPLUS_BANDS.index(b) for b in JPLUS_ARRAY_ORDER]
    base = {"tile_id": np.full(40, 1), "number": np.arange(40), "ebv": np.linspace(0.5, 0.1, 40) / 3.1}
    for name, ax in (("archive", ax_wl[:, order]), ("wavelength", ax_wl)):
        df = read_catalog(write_jplus_parquet({**base, "ax": ax}, tmp_path / f"{name}.parquet"), "jplus_extinction")
        np.testing.assert_allclose(df["a_uJAVA"], ax_wl[:, 0], rtol=1e-6)
        np.testing.assert_allclose(df["a_zSDSS"], ax_wl[:, -1], rtol=1e-6)


def test_adql_indexed_column_names(tmp_path):
    df = flatten_jplus(make_sky(50, seed=2)["jplus"])
    df = df.rename(columns={f"mag_aper_6_0_{b}": f"mag_aper_6_0[jplus::{b}]" for b in JPLUS_BANDS})
    df.to_csv(tmp_path / "j.csv", index=False)
    out = read_catalog(tmp_path / "j.csv", "jplus")
    assert "mag_zSDSS" in out and np.isfinite(out["mag_zSDSS"]).mean() > 0.9


def test_gaia_fits_units_and_errors(native):
    paths, sky = native
    g = read_catalog(paths["gaia"], "gaia")
    np.testing.assert_allclose(g["parallax"], sky["gaia"]["parallax"])
    assert g["source_id"].dtype == np.int64
    foe = sky["gaia"]["phot_g_mean_flux_over_error"].to_numpy()
    np.testing.assert_allclose(g["mag_err_G"], np.hypot(1.0857362 / foe, 0.0027553202), rtol=1e-6)
    assert g.attrs["epoch"] == 2016.0


def test_parallax_in_arcsec_is_converted_and_wrong_unit_rejected(tmp_path):
    gaia = make_sky(50, seed=4)["gaia"]
    t = Table.from_pandas(gaia)
    t["parallax"] = t["parallax"] / 1000.0
    t["parallax"].unit = "arcsec"
    t.write(tmp_path / "g_arcsec.fits")
    g = read_catalog(tmp_path / "g_arcsec.fits", "gaia")
    np.testing.assert_allclose(g["parallax"], gaia["parallax"], rtol=1e-12)
    t["parallax"].unit = "mag"
    t.write(tmp_path / "g_mag.fits")
    with pytest.raises(InputError, match=r"g_mag\.fits: column 'parallax' is in 'mag'.*must be in 'mas'"):
        read_catalog(tmp_path / "g_mag.fits", "gaia")


def test_other_readers_and_formats(native):
    paths, sky = native
    ap = read_catalog(paths["gaia_ap"], "gaia_ap")
    assert ap["a0"].isna().sum() == sky["gaia_ap"]["azero_gspphot"].isna().sum()
    bj = read_catalog(paths["bailer_jones"], "bailer_jones")
    np.testing.assert_allclose(bj["distance_photogeo_pc"], sky["bailer_jones"]["r_med_photogeo"])
    cw = read_catalog(paths["catwise"], "catwise")
    assert cw["catwise_id"].iloc[0] == "J0000000" and cw.attrs["epoch"] == 2015.4
    lam = read_catalog(paths["lamost"], "lamost")
    assert (lam["label_source"] == "lamost").all()
    assert lam["teff"].isna().sum() == (sky["lamost"]["teff"] == -9999).sum() > 0
    assert lam.attrs["n_sentinel"]["teff"] == (sky["lamost"]["teff"] == -9999).sum()


def test_user_column_map(tmp_path):
    df = pd.DataFrame({"RAdeg": [1.0, 2.0], "DEdeg": [3.0, 4.0], "T": [5000, 6000], "G": [0.1, 0.2],
                       "M": [-0.5, 0.1], "SN": [50, 60], "id": [1, 2]})
    df.to_csv(tmp_path / "mine.csv", index=False)
    cmap = {"ra": "RAdeg", "dec": "DEdeg", "teff": "T", "logg": "G", "feh": "M", "snr": "SN", "lamost_obsid": "id",
            "teff_err": "T", "logg_err": "G", "feh_err": "M"}
    out = read_catalog(tmp_path / "mine.csv", "lamost", column_map=cmap)
    assert out["teff"].tolist() == [5000.0, 6000.0] and out["ra"].tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "the file is empty"),
        (b"source_id,ra\n", "has no rows"),
        (b"\x00\x01garbage\xff" * 10, "cannot be read as parquet"),
    ],
)
def test_empty_and_corrupt_files(tmp_path, content, match):
    name = "x.parquet" if b"garbage" in content else "x.csv"
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError, match=match):
        read_catalog(tmp_path / name, "gaia")


def test_corrupt_fits_and_unknown_suffix(tmp_path):
    (tmp_path / "bad.fits").write_bytes(b"SIMPLE  =  T" + b" " * 100)
    with pytest.raises(InputError, match=r"bad\.fits: cannot be read as fits"):
        read_catalog(tmp_path / "bad.fits", "gaia")
    (tmp_path / "t.dat").write_text("a\n1\n")
    with pytest.raises(InputError, match="cannot tell the format"):
        read_catalog(tmp_path / "t.dat", "gaia")
    with pytest.raises(InputError, match="table file not found"):
        read_catalog(tmp_path / "nope.csv", "gaia")


def test_missing_column_names_file_and_column(native, tmp_path):
    _, sky = native
    sky["catwise"].drop(columns=["w2sigmpro"]).to_csv(tmp_path / "cw.csv", index=False)
    with pytest.raises(InputError, match=r"cw\.csv: missing column\(s\) for reader 'catwise': mag_err_W2 "
                                         r"\(native w2sigmpro\)"):
        read_catalog(tmp_path / "cw.csv", "catwise")


def test_catwise_motion_fit_is_refused_not_mixed_with_the_stationary_fit(native, tmp_path):
    _, sky = native
    vizier = sky["catwise"].rename(columns={"source_name": "Name", "ra": "RA_ICRS", "dec": "DE_ICRS",
                                            "w1mpro": "W1mproPM", "w1sigmpro": "e_W1mproPM",
                                            "w2mpro": "W2mproPM", "w2sigmpro": "e_W2mproPM"})
    vizier.to_csv(tmp_path / "ii365.csv", index=False)
    with pytest.raises(InputError, match=r"ii365\.csv: this CatWISE2020 table holds the proper-motion fit.*"
                                         r"stationary fit w1mpro/w2mpro.*ocfeh fetch --survey catwise"):
        read_catalog(tmp_path / "ii365.csv", "catwise")
    both = sky["catwise"].assign(w1mpro_pm=sky["catwise"]["w1mpro"] + 0.3)  # IRSA rows carry both fits
    both.to_csv(tmp_path / "irsa.csv", index=False)
    df = read_catalog(tmp_path / "irsa.csv", "catwise")
    assert np.allclose(df["mag_W1"], sky["catwise"]["w1mpro"], equal_nan=True)  # the stationary fit, always


def test_wrongly_typed_column(native, tmp_path):
    _, sky = native
    df = sky["lamost"].copy()
    df["teff"] = df["teff"].astype(object)
    df.loc[3, "teff"] = "hot"
    df.to_csv(tmp_path / "lam.csv", index=False)
    with pytest.raises(InputError, match=r"lam\.csv: column 'teff' .* must be numeric; 1 of \d+ rows are not "
                                         r"numbers \(e\.g\. 'hot'\)"):
        read_catalog(tmp_path / "lam.csv", "lamost")


def test_array_column_of_wrong_width(tmp_path):
    jplus = make_sky(30, seed=5)["jplus"]
    jplus["mag_aper_6_0"] = np.asarray(jplus["mag_aper_6_0"])[:, :11]
    write_jplus_parquet(jplus, tmp_path / "j.parquet")
    with pytest.raises(InputError, match="array column 'mag_aper_6_0' has 11 elements per row, expected 12"):
        read_catalog(tmp_path / "j.parquet", "jplus")


def test_load_table_votable_roundtrip(native):
    paths, _ = native
    raw = load_table(paths["lamost"])
    assert raw.n_rows > 100 and "teff" in raw.columns


def test_minus_9999_magnitudes_are_sentinels(native, tmp_path):
    _, sky = native
    cw = sky["catwise"].copy()
    cw.loc[:4, "w1mpro"] = -9999.0
    cw.to_csv(tmp_path / "cw.csv", index=False)
    df = read_catalog(tmp_path / "cw.csv", "catwise")
    assert df["mag_W1"].iloc[:5].isna().all() and df["mag_W1"].iloc[5:].notna().all()


def test_wise_magnitudes_without_an_error_are_upper_limits(native, tmp_path):
    _, sky = native
    cw = sky["catwise"].copy()
    cw.loc[:2, "w1sigmpro"] = 99.0  # CatWISE nulls the error of a non-detection's 95% upper limit
    cw.to_csv(tmp_path / "cw.csv", index=False)
    df = read_catalog(tmp_path / "cw.csv", "catwise")
    assert df[["mag_W1", "mag_err_W1"]].iloc[:3].isna().all().all()
    sky["catwise"].to_csv(tmp_path / "cw0.csv", index=False)
    ref = read_catalog(tmp_path / "cw0.csv", "catwise")
    np.testing.assert_array_equal(df["mag_W1"].iloc[3:], ref["mag_W1"].iloc[3:])


def test_ecsv_with_units_and_masked_values_reads_like_parquet(native, tmp_path):
    # the Gaia archive and astroquery write ECSV: units in the header, masked (null) magnitudes
    _, sky = native
    t = Table.from_pandas(sky["gaia"])
    t["phot_bp_mean_mag"] = np.ma.masked_array(t["phot_bp_mean_mag"], mask=np.arange(len(t)) % 7 == 0)
    t["parallax"].unit = "mas"
    t.write(tmp_path / "gaia.ecsv")
    df = read_catalog(tmp_path / "gaia.ecsv", "gaia")
    ref = read_catalog(tmp_path / "gaia.ecsv", "gaia", format="ecsv")
    assert len(df) == len(sky["gaia"]) and df["mag_BP"].isna().sum() == int((np.arange(len(t)) % 7 == 0).sum())
    np.testing.assert_allclose(df["parallax"], sky["gaia"]["parallax"])
    pd.testing.assert_frame_equal(df, ref)
    t["parallax"].unit = "arcsec"  # a stated unit other than the schema's is converted, not ignored
    t.write(tmp_path / "gaia_arcsec.ecsv")
    np.testing.assert_allclose(read_catalog(tmp_path / "gaia_arcsec.ecsv", "gaia")["parallax"],
                               1000 * sky["gaia"]["parallax"])


# ------------------------------------------------------------------------------------ real tables (skip)
def test_real_jplus_segue(shared_data):
    df = read_catalog(shared_data / "jplus_segue" / "IDR_SEGUE.csv", "jplus_segue")
    assert len(df) == 5249
    assert df["mag_err_uJAVA"].isna().sum() >= df.attrs["n_sentinel"]["mag_err_uJAVA"] > 0
    mags = df[[f"mag_{b}" for b in JPLUS_BANDS if b != "zSDSS"]]
    assert not (mags > 90).any().any()  # dereddened 99 sentinels (98.97, 99.06, ...) are NaN too
    # dereddened colours of F/G/K dwarfs: g - r between -0.5 and 1.5 mag
    gr = (df["mag_gSDSS"] - df["mag_rSDSS"]).dropna()
    assert gr.between(-0.5, 1.5).mean() > 0.98
    assert df["feh"].median() < -1.0  # the metal-poor bias the README warns about


def test_real_green2020(shared_data):
    df = read_catalog(shared_data / "lamost_gaia_wise" / "green2020_half_a.csv", "green2020")
    assert len(df) == 5000 and set(df["label_source"]) <= {"lamost", "apogee", "galah"}
    # W1 Vega - W2 Vega of ordinary stars is close to 0 (about -0.1 ... 0.3)
    assert (df["mag_W1"] - df["mag_W2"]).median() == pytest.approx(0.0, abs=0.15)
    assert df["parallax"].median() == pytest.approx(0.7, abs=0.5)
    # 2MASS in Vega: J - Ks of FGK stars 0.3 ... 0.8; Bayestar19 reddening as SFD-scale E(B-V)
    assert (df["mag_J"] - df["mag_Ks"]).median() == pytest.approx(0.5, abs=0.2)
    raw = pd.read_csv(shared_data / "lamost_gaia_wise" / "green2020_half_a.csv", usecols=["E_reddening"])
    np.testing.assert_allclose(df["ebv"], 0.884 * raw["E_reddening"])


def test_real_ingot_and_hr23(shared_data):
    ing = read_catalog(shared_data / "apogee_gaia_wise" / "ingot_data.csv.gz", "ingot")
    assert len(ing) == 35210 and ing["feh"].between(-2.5, 1).all()
    hr = read_catalog(shared_data / "open_clusters" / "HUNT2023.csv", "hr23_clusters")
    assert len(hr) == 6806
    row = hr.set_index("cluster").loc["ASCC_5"] if "ASCC_5" in set(hr["cluster"]) else hr.iloc[0]
    assert 0 < row["distance_pc"] < 20000 and np.isfinite(row["ra"])
    # dist50 and 1/parallax agree to ~30% for nearby clusters
    near = hr[hr["parallax"] > 1]
    assert np.median(near["distance_pc"] * near["parallax"] / 1000) == pytest.approx(1.0, abs=0.15)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "fits", "xml"])
def test_gaia_ids_stay_exact_with_a_null_and_the_row_without_one_is_dropped(tmp_path, caplog, fmt):
    """19-digit source_id values survive a null in any format (not through a float), and the row
    without an ID is counted and dropped."""
    ids = np.array([4468651891799804416, 4468651891799804417, 4468651891799804418, 4468651891799804419])
    df = pd.DataFrame({"source_id": pd.array(ids, dtype="Int64"), "ra": [1.0, 2, 3, 4], "dec": [0.0, 0, 0, 0],
                       "azero_gspphot": [0.1, 0.2, 0.3, 0.4]})
    df.loc[1, "source_id"] = pd.NA
    path = tmp_path / f"ap.{fmt}"
    if fmt == "parquet":
        df.to_parquet(path)
    elif fmt == "csv":
        df.to_csv(path, index=False)
    else:
        Table.from_pandas(df).write(path, format="votable" if fmt == "xml" else "fits")
    with caplog.at_level(logging.WARNING, logger="ocfeh.catalogs.registry"):
        out = read_catalog(path, "gaia_ap")
    assert out["source_id"].dtype == np.int64 and out["source_id"].tolist() == [ids[0], ids[2], ids[3]]
    assert out["a0"].tolist() == pytest.approx([0.1, 0.3, 0.4])
    assert "1 of 4 rows without source_id" in caplog.text


def test_float_ids_are_refused_above_two_to_the_53(tmp_path):
    big = pd.DataFrame({"source_id": [4468651891799804416.0, 4468651891799804417.0], "azero_gspphot": [0.1, 0.2]})
    big.to_csv(tmp_path / "big.csv", index=False)
    with pytest.raises(InputError, match=r"big.csv: column 'source_id' holds 2 of 2 IDs as floating-point .* 2\^53"):
        read_catalog(tmp_path / "big.csv", "gaia_ap")
    small = big.assign(source_id=[12345.0, 67890.0])  # small integers are exact in a float
    small.to_csv(tmp_path / "small.csv", index=False)
    assert read_catalog(tmp_path / "small.csv", "gaia_ap")["source_id"].tolist() == [12345, 67890]


def test_a_csv_copy_gives_the_magnitudes_of_its_binary_original(tmp_path):
    """float32 magnitudes (as the archives store them) written as text come back as the same numbers,
    not 1e-7 mag off, so a model trained on either copy is the same."""
    rng = np.random.default_rng(4)
    n = 500
    df = pd.DataFrame({"source_id": np.arange(n) + 10**18, "ra": rng.uniform(0, 10, n), "dec": rng.uniform(0, 10, n),
                       "parallax": rng.uniform(0.1, 5, n), "parallax_error": 0.05, "pmra": 0.0, "pmdec": 0.0,
                       "ruwe": np.float32(1.0)})
    for band in ("g", "bp", "rp"):
        df[f"phot_{band}_mean_mag"] = rng.uniform(10, 20, n).astype(np.float32)
        df[f"phot_{band}_mean_flux_over_error"] = rng.uniform(50, 500, n).astype(np.float32)
    df.to_parquet(tmp_path / "g.parquet")
    df.to_csv(tmp_path / "g.csv", index=False)
    binary, text = read_catalog(tmp_path / "g.parquet", "gaia"), read_catalog(tmp_path / "g.csv", "gaia")
    mags = [c for c in binary if c.startswith("mag_")]
    assert len(mags) == 6
    np.testing.assert_array_equal(binary[mags].to_numpy(), text[mags].to_numpy())
    assert (df["phot_g_mean_mag"].to_numpy(np.float64) == binary["mag_G"].to_numpy()).all()


def _gaia_like(n=40, seed=5):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"source_id": np.arange(n) + 10**18, "ra": rng.uniform(0, 10, n), "dec": rng.uniform(0, 10, n),
                       "parallax": rng.uniform(0.1, 5, n), "parallax_error": 0.05, "pmra": 0.0, "pmdec": 0.0,
                       "ruwe": 1.0})
    for band in ("g", "bp", "rp"):
        df[f"phot_{band}_mean_mag"] = rng.uniform(10, 20, n)
        df[f"phot_{band}_mean_flux_over_error"] = 200.0
    return df


def test_a_csv_cut_short_is_refused_and_one_without_a_final_line_end_warned(tmp_path, caplog):
    text = _gaia_like().to_csv(index=False)
    (tmp_path / "cut.csv").write_text(text[: text.rstrip("\n").rindex("\n") + 30])  # the last line cut after 30 characters
    with pytest.raises(InputError, match=r"cut.csv: the last line has 2 of the header's 14 fields .* cut short"):
        read_catalog(tmp_path / "cut.csv", "gaia")
    (tmp_path / "open.csv").write_text(text.rstrip("\n"))
    with caplog.at_level(logging.WARNING, logger="ocfeh.catalogs.formats"):
        assert len(read_catalog(tmp_path / "open.csv", "gaia")) == 40
    assert "does not end with a line end" in caplog.text


def test_duplicated_csv_columns_are_named(tmp_path, caplog):
    df = _gaia_like()
    (tmp_path / "dup.csv").write_text(df.to_csv(index=False).replace("ruwe", "ra", 1).replace(",ra\n", ",ra\n"))
    with caplog.at_level(logging.WARNING, logger="ocfeh.catalogs.formats"):
        read_catalog(tmp_path / "dup.csv", "gaia", column_map={"ruwe": "parallax_error"})
    assert "duplicated column name(s) ra: the first of each is used" in caplog.text


def test_array_columns_as_csv_text_and_votable_variable_length_are_spread(native, tmp_path):
    paths, sky = native
    right = read_catalog(paths["jplus"], "jplus")
    arrays = ("mag_aper_6_0", "mag_err_aper_6_0", "flags", "mask_flags")
    df = pd.DataFrame({k: (["{" + ",".join(repr(float(x)) for x in row) + "}" for row in np.asarray(v)]
                           if k in arrays else v) for k, v in sky["jplus"].items()})
    df.to_csv(tmp_path / "tap.csv", index=False)
    pd.testing.assert_frame_equal(read_catalog(tmp_path / "tap.csv", "jplus"), right, check_dtype=False)
    t = Table({k: np.asarray(v) for k, v in sky["jplus"].items()})
    t.write(tmp_path / "fixed.xml", format="votable")
    (tmp_path / "varlen.xml").write_text((tmp_path / "fixed.xml").read_text().replace('arraysize="12"', 'arraysize="*"'))
    pd.testing.assert_frame_equal(read_catalog(tmp_path / "varlen.xml", "jplus"), right, check_dtype=False)


def test_tap_query_status_error_is_raised_and_overflow_warned(tmp_path, caplog):
    Table.from_pandas(_gaia_like()).write(tmp_path / "ok.xml", format="votable")
    body = (tmp_path / "ok.xml").read_text()
    res = '<INFO name="QUERY_STATUS" value="{}">{}</INFO>'
    over = body.replace("<TABLE", res.format("OVERFLOW", "") + "\n<TABLE", 1)
    (tmp_path / "over.xml").write_text(over)
    with caplog.at_level(logging.WARNING, logger="ocfeh.catalogs.formats"):
        assert len(read_catalog(tmp_path / "over.xml", "gaia")) == 40
    assert "QUERY_STATUS = OVERFLOW" in caplog.text
    err = body.replace("<TABLE", res.format("ERROR", "Query timeout after 60 s") + "\n<TABLE", 1)
    (tmp_path / "err.xml").write_text(err)
    with pytest.raises(InputError, match="err.xml: the archive returned an error, not a table: Query timeout"):
        read_catalog(tmp_path / "err.xml", "gaia")


def test_a_flux_mapped_as_a_magnitude_is_refused_and_arcsec_parallaxes_warned(tmp_path, caplog):
    df = _gaia_like().assign(phot_g_mean_flux=lambda d: 10 ** (-0.4 * (d.phot_g_mean_mag - 25.7)))
    df.to_csv(tmp_path / "g.csv", index=False)
    with pytest.raises(InputError, match="column mag_G has the median .* no magnitude"):
        read_catalog(tmp_path / "g.csv", "gaia", column_map={"mag_G": "phot_g_mean_flux"})
    df.assign(parallax=df.parallax / 1000).to_csv(tmp_path / "arcsec.csv", index=False)
    with caplog.at_level(logging.WARNING, logger="ocfeh.catalogs.registry"):
        read_catalog(tmp_path / "arcsec.csv", "gaia")
    assert "is the column in arcsec?" in caplog.text


def test_parquet_nullable_integer_and_boolean_columns(tmp_path):
    """Nulls in Parquet integer and boolean columns: exact integers with None, booleans as 1/0/NaN."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ocfeh.catalogs import load_table

    big = 4468651891799804417
    pq.write_table(pa.table({"i": pa.array([big, None, 3], type=pa.int64()), "b": pa.array([True, None, False])}),
                   tmp_path / "n.parquet")
    raw = load_table(tmp_path / "n.parquet")
    assert raw.columns["i"].tolist() == [big, None, 3]
    assert raw.columns["b"][[0, 2]].tolist() == [1.0, 0.0] and np.isnan(raw.columns["b"][1])
