"""A user's own table (issue 36): no row lost, nothing silently wrong, every error one line, one writer."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ocfeh.exceptions import InputError, Interrupted, OcfehWarning
from ocfeh.locks import LOCK_NAME, held
from ocfeh.predict import calibrate, load_predictor, predict_table
from ocfeh.testing import toy_predictor, toy_table
from ocfeh.train import PhotometricCheck
from ocfeh.train.uncertainty import UncertaintyConfig


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A calibrated toy model with a photometric check, and the blind-test stars it never saw."""
    s = toy_table(9000, seed=2)
    s["split"] = np.array(["train", "val", "test"])[np.arange(len(s)) % 3]
    pred = toy_predictor(s, n_estimators=60)
    calibrate(pred, s, UncertaintyConfig(min_bin_size=200), seed=1)
    bands = [c[4:] for c in s if c.startswith("mag_") and not c.startswith("mag_err_")]
    pred.phot = PhotometricCheck(bands, n_estimators=100, seed=1).fit(s[s.split == "train"], s[s.split == "val"])
    d = tmp_path_factory.mktemp("model")
    pred.save(d)
    test = s[s.split == "test"].drop(columns=["teff", "logg", "feh", "split"]).reset_index(drop=True)
    return d, test


@pytest.fixture
def stars(toy, tmp_path):
    """200 blind-test stars as a CSV with a user's own name column."""
    t = toy[1].head(200).copy()
    t.insert(0, "star_name", [f"star {i}" for i in range(len(t))])
    path = tmp_path / "stars.csv"
    t.to_csv(path, index=False)
    return t, path


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or p.name.endswith((".parts", ".lock")))


def test_csv_rows_are_counted_by_the_parser(toy, stars, tmp_path):
    t, path = stars
    text = path.read_text()
    (tmp_path / "no_newline.csv").write_text(text.rstrip("\n"))  # 200 rows, 199 newlines after the header
    (tmp_path / "blank_end.csv").write_text(text + "\n\n")
    for name in ("no_newline.csv", "blank_end.csv"):
        res = predict_table(toy[0], tmp_path / name, tmp_path / f"{name}.parquet", progress=False, shift="off")
        out = pd.read_parquet(res.output)
        assert res.n_rows == len(out) == 200
        assert out["star_name"].tolist() == t["star_name"].tolist()  # joined back by the user's own column
    assert _leftovers(tmp_path) == []


def test_malformed_csv_lines_are_refused_by_line_number_or_skipped_and_counted(toy, stars, tmp_path, caplog):
    lines = stars[1].read_text().splitlines()
    lines[5] += ",1"
    lines[9] = ",".join(lines[9].split(",")[:-2])
    bad = tmp_path / "ragged.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"ragged.csv: line 6, 10 has another number of fields"):
        predict_table(toy[0], bad, tmp_path / "r.parquet", progress=False)
    assert _leftovers(tmp_path) == [] and not (tmp_path / "r.parquet").exists()
    res = predict_table(toy[0], bad, tmp_path / "r.parquet", progress=False, skip_bad_lines=True, shift="off")
    assert res.n_rows == 198
    assert "skipped 2 malformed line(s) (line 6, 10)" in caplog.text


def test_text_in_a_magnitude_column_names_the_column(toy, stars, tmp_path):
    t = stars[0].copy()
    t["mag_G"] = t["mag_G"].astype(object)
    t.loc[3, "mag_G"] = "--"  # astropy's masked value: missing, the row keeps a reason
    t.to_csv(tmp_path / "masked.csv", index=False)
    out = pd.read_parquet(predict_table(toy[0], tmp_path / "masked.csv", tmp_path / "m.parquet", progress=False,
                                        shift="off").output)
    assert len(out) == 200 and "mag_G" in out.loc[3, "reason"] and (out["reason"].drop(3) == "").all()
    t.loc[7, "mag_G"] = "bright"
    t.to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(InputError, match="column mag_G holds 'bright', which is no double"):
        predict_table(toy[0], tmp_path / "text.csv", tmp_path / "t.parquet", progress=False)
    pq_text = tmp_path / "text.parquet"
    t.astype({"mag_G": str}).to_parquet(pq_text)
    with pytest.raises(InputError, match=r"mag_G hold text where numbers belong \(mag_G: row 7: 'bright'"):
        predict_table(toy[0], pq_text, tmp_path / "t2.parquet", progress=False)
    assert _leftovers(tmp_path) == [] and not list(tmp_path.glob("t*.parquet.parts"))


def test_fluxes_taken_for_magnitudes_are_refused(toy, stars, tmp_path):
    t, _ = stars
    one = t.copy()
    m = one["mag_J0395"]
    one["mag_J0395"] = 20 * 10 ** (-0.4 * (m - m.median()))  # fluxes whose numbers look like magnitudes
    assert 5 < one["mag_J0395"].median() < 40  # the median test alone would pass it
    model = load_predictor(toy[0])
    with pytest.raises(InputError, match="mag_J0395 falls where the stars' other magnitudes rise"):
        model.predict(one)
    every = t.copy()
    for c in [c for c in t if c.startswith("mag_") and not c.startswith("mag_err_")]:
        every[c] = 10 ** (-0.4 * (every[c] - 23.9))
    every.to_csv(tmp_path / "fluxes.csv", index=False)
    with pytest.raises(InputError, match="which is no magnitude .*is it a flux"):
        predict_table(toy[0], tmp_path / "fluxes.csv", tmp_path / "f.parquet", progress=False)


def test_model_files_are_verified_before_loading(toy, stars, tmp_path):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(toy[0], model)
    text = (model / "feh.txt").read_text()
    (model / "feh.txt").write_text(text[: len(text) // 2])  # truncated: LightGBM itself would abort the process
    with pytest.raises(InputError, match=r"feh.txt is not the file its card .*feh.json.* records"):
        load_predictor(model)
    card = json.loads((model / "feh.json").read_text())
    card.pop("model_sha256")  # a card written before checksums: the file's own structure is checked
    (model / "feh.json").write_text(json.dumps(card))
    with pytest.raises(InputError, match="feh.txt: not a whole LightGBM model file"):
        load_predictor(model)
    (model / "feh.json").write_text('{"target":\n')
    with pytest.raises(InputError, match=r"model card .*feh.json is not readable JSON"):
        load_predictor(model)
    # in the CLI: one line, exit 1, no LightGBM log
    res = subprocess.run([sys.executable, "-m", "ocfeh", "predict", str(model), str(stars[1]), "-o",
                          str(tmp_path / "o.parquet"), "--no-progress"], capture_output=True, text=True)
    assert res.returncode == 1
    assert res.stderr.count("\n") <= 3 and "feh.json is not readable JSON" in res.stderr and "[LightGBM]" not in res.stderr


def test_one_line_errors_of_the_api(toy, stars, tmp_path):
    model = load_predictor(toy[0])
    t = stars[0]
    empty = model.predict(t.head(0))
    assert len(empty) == 0 and "teff" in empty and "reason" in empty
    with pytest.raises(InputError, match="has the columns mag_G more than once"):
        model.predict(pd.concat([t, t[["mag_G"]]], axis=1))
    (tmp_path / "afile").write_text("")
    with pytest.raises(InputError, match="afile is a file, not a folder"):
        predict_table(toy[0], stars[1], tmp_path / "afile" / "out.parquet", progress=False)
    t.drop(columns="mag_G").to_csv(tmp_path / "no_g.csv", index=False)
    with pytest.raises(InputError, match="absent from it: mag_G"):  # into a directory of parts: none is made
        predict_table(toy[0], tmp_path / "no_g.csv", tmp_path / "parts", progress=False)
    assert not (tmp_path / "parts").exists() and _leftovers(tmp_path) == []


def test_a_run_that_predicts_almost_nothing_says_why(toy, stars, tmp_path):
    t = stars[0].copy()
    t["distance_pc"] = np.nan
    t.loc[:9, "distance_pc"] = 500.0
    t.to_csv(tmp_path / "nodist.csv", index=False)
    with pytest.warns(OcfehWarning, match=r"only 10 of 200 stars got a prediction .*missing distance_pc: 190"):
        load_predictor(toy[0]).predict(t)
    res = subprocess.run([sys.executable, "-m", "ocfeh", "predict", str(toy[0]), str(tmp_path / "nodist.csv"),
                          "-o", str(tmp_path / "n.parquet"), "--no-progress", "--shift", "off"],
                         capture_output=True, text=True)
    assert res.returncode == 2, res.stderr
    assert "only 10 of 200 stars got a prediction" in res.stderr and "missing distance_pc: 190" in res.stderr
    assert len(pd.read_parquet(tmp_path / "n.parquet")) == 200  # the output is still written


def test_one_writer_per_output_and_run_directory(toy, stars, tmp_path):
    from ocfeh.pipeline import run

    with held(tmp_path / "o.parquet.lock", "x"):
        with pytest.raises(InputError, match=rf"in use by another ocfeh process \(PID {os.getpid()} "):
            predict_table(toy[0], stars[1], tmp_path / "o.parquet", progress=False)
    run_dir = tmp_path / "run"
    with held(run_dir / LOCK_NAME, "x"):
        with pytest.raises(InputError, match=rf"run directory .*run is in use .*PID {os.getpid()}"):
            run(out=run_dir)
    assert not (run_dir / "config.json").exists()


def test_ctrl_c_says_what_was_interrupted(toy, stars, tmp_path, monkeypatch, capfd):
    with pytest.raises(Interrupted, match=r"interrupted after 1 of 4 chunks; rerun the same command to resume"):
        predict_table(toy[0], stars[1], tmp_path / "o.parquet", chunk_size=50, progress=False, shift="off",
                      _fail_after=1)
    res = predict_table(toy[0], stars[1], tmp_path / "o.parquet", chunk_size=50, progress=False, shift="off")
    assert res.n_resumed == 1 and len(pd.read_parquet(res.output)) == 200
    import ocfeh.predict as api
    from ocfeh.cli import entry

    def interrupted(*a, **k):
        raise Interrupted("interrupted after 3 of 9 chunks; rerun the same command to resume into x.parquet")

    monkeypatch.setattr(api, "predict_table", interrupted)
    monkeypatch.setattr(sys, "argv", ["ocfeh", "predict", str(toy[0]), str(stars[1]), "-o", "x.parquet"])
    with pytest.raises(SystemExit) as exit_:
        entry.main()
    assert exit_.value.code == 130
    err = capfd.readouterr().err
    assert "interrupted after 3 of 9 chunks; rerun the same command to resume" in err, err


@pytest.mark.parametrize("suffix", [".fits", ".vot", ".ecsv", ".csv"])
def test_outputs_for_topcat_keep_units_and_the_users_columns(toy, stars, tmp_path, suffix):
    from astropy.table import Table

    res = predict_table(toy[0], stars[1], tmp_path / f"out{suffix}", progress=False, shift="off",
                        keep_columns=["star_name", "mag_G"])
    tab = Table.read(res.output, format="ascii.csv" if suffix == ".csv" else None)
    assert len(tab) == 200 and list(tab["star_name"][:2]) == ["star 0", "star 1"]
    ref = pd.read_parquet(predict_table(toy[0], stars[1], tmp_path / "ref.parquet", progress=False,
                                        shift="off", overwrite=True, resume=False).output)
    np.testing.assert_allclose(np.asarray(tab["feh"], float), ref["feh"], rtol=1e-6)
    if suffix != ".csv":
        assert str(tab["teff"].unit) == "K" and str(tab["mag_G"].unit) == "mag"
        assert str(tab["feh_lo68"].unit) == "dex" or suffix in (".fits", ".vot")  # their standards know no dex
        again = predict_table(toy[0], stars[1], tmp_path / f"out{suffix}", progress=False, shift="off",
                              keep_columns=["star_name", "mag_G"])
        assert again.n_predicted == -1  # the finished output is recognised by its fingerprint


def test_a_kept_column_named_like_an_output_is_renamed(toy, stars):
    t = stars[0].assign(teff=5000.0)  # the user's spectroscopic Teff
    out = load_predictor(toy[0]).predict(t, keep_columns=["teff", "star_name"])
    assert (out["teff_input"] == 5000.0).all() and out["teff"].std() > 100
    assert out.index.equals(t.index) and list(out.columns[:2]) == ["source_id", "teff_input"]


def test_version_flag():
    from ocfeh import __version__

    res = subprocess.run([sys.executable, "-m", "ocfeh", "--version"], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.strip() == f"ocfeh {__version__}"


def test_one_band_off_is_flagged_and_named(toy):
    """A 1 mag offset in one band (a wrong zero point) is flagged for nearly every star and the band named;
    clean blind-test stars are flagged at the calibrated 1% (at most 2%)."""
    model = load_predictor(toy[0])
    test = toy[1]
    clean = model.predict(test)
    rate = clean["phot_band"].ne("").mean()
    assert rate <= 0.02, rate
    for band in ("J0395", "G", "W1", "rSDSS"):  # G and rSDSS are anchors: their offset moves every residual
        shifted = test.assign(**{f"mag_{band}": test[f"mag_{band}"] + 1.0})
        with pytest.warns(OcfehWarning, match=rf"band {band}: the stars. median offset .* \+(0\.9\d|1\.0\d) mag"):
            out = model.predict(shifted)
        named = (out["phot_band"] == band).mean()
        assert named > 0.9, (band, named)
        assert out["ood_flag"].mean() > 0.9 and out["flag_reason"].str.contains(f"{band} off the training stars' colour locus").mean() > 0.9
        np.testing.assert_allclose(out.loc[out["phot_band"] == band, "phot_offset"].median(), 1.0, atol=0.15)
