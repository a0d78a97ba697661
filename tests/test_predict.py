"""Chunked, resumable, distributed prediction (issue 6, parts 2 and 3)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ocfeh.exceptions import InputError, Interrupted
from ocfeh.predict import calibrate, load_predictor, predict_frame, predict_table
from ocfeh.testing import toy_predictor, toy_table
from ocfeh.train.uncertainty import UncertaintyConfig


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    s = toy_table(9000, seed=2)
    s["split"] = np.array(["train", "val", "test"])[np.arange(len(s)) % 3]
    pred = toy_predictor(s, n_estimators=60)
    calibrate(pred, s, UncertaintyConfig(min_bin_size=200, n_draws=3), seed=1)
    d = tmp_path_factory.mktemp("model")
    pred.save(d)
    return d


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """2,500 stars in shuffled id order with some unusable rows, as Parquet (small row groups)."""
    t = toy_table(2500, seed=3).drop(columns=["teff", "logg", "feh"])
    t["source_id"] = np.random.default_rng(0).permutation(len(t)).astype(np.int64) * 11
    t.loc[[5, 700, 2499], "mag_gSDSS"] = np.nan
    t.loc[[6, 700], "distance_pc"] = np.nan
    t.loc[8, "distance_pc"] = -1.0
    d = tmp_path_factory.mktemp("survey")
    path = d / "stars.parquet"
    pq.write_table(pa.Table.from_pandas(t, preserve_index=False), path, row_group_size=300)
    return t, path


def test_chunked_output_equals_in_memory_and_keeps_order_ids_and_rejects(model_dir, survey, tmp_path):
    table, path = survey
    out = tmp_path / "pred.parquet"
    res = predict_table(model_dir, path, out, chunk_size=700, progress=False)
    assert (res.n_rows, res.n_chunks, res.n_rejected) == (2500, 4, 5)
    got = pd.read_parquet(out)
    ref = predict_frame(load_predictor(model_dir), table)
    pd.testing.assert_frame_equal(got, ref.reset_index(drop=True))
    assert got["source_id"].tolist() == table["source_id"].tolist()
    assert got.loc[5, "reason"] == "missing mag_gSDSS"
    assert got.loc[700, "reason"] == "missing mag_gSDSS,distance_pc"
    assert got.loc[8, "reason"] == "missing distance_pc"
    assert np.isnan(got.loc[[5, 6, 8, 700, 2499], "feh"]).all()
    assert (got.drop(index=[5, 6, 8, 700, 2499])["reason"] == "").all()
    assert got["feh"].notna().sum() == 2495
    meta = json.loads(pq.ParquetFile(out).schema_arrow.metadata[b"ocfeh"])
    assert meta["seed"] == 0 and meta["config_hash"] and meta["versions"]["lightgbm"]
    assert not out.with_name(out.name + ".parts").exists()


def test_resume_after_interruption_gives_the_same_rows(model_dir, survey, tmp_path):
    _, path = survey
    full = tmp_path / "full.parquet"
    predict_table(model_dir, path, full, chunk_size=400, n_draws=3, seed=5, progress=False)
    part = tmp_path / "part.parquet"
    with pytest.raises(Interrupted, match="rerun the same command to resume"):
        predict_table(model_dir, path, part, chunk_size=400, n_draws=3, seed=5, progress=False, _fail_after=3)
    parts_dir = tmp_path / "part.parquet.parts"
    man = json.loads((parts_dir / "_manifest.json").read_text())
    assert sorted(man["done"]) == ["0", "1", "2"] and not part.exists()
    res = predict_table(model_dir, path, part, chunk_size=400, n_draws=3, seed=5, progress=False)
    assert res.n_resumed == 3 and res.n_chunks == 7 and res.n_rows == 2500
    pd.testing.assert_frame_equal(pd.read_parquet(part), pd.read_parquet(full))
    # a finished output is not redone; other options cannot resume into it
    assert predict_table(model_dir, path, part, chunk_size=400, n_draws=3, seed=5, progress=False).n_resumed == 7
    with pytest.raises(InputError, match="overwrite"):
        predict_table(model_dir, path, part, chunk_size=500, n_draws=3, seed=5, progress=False)


def test_refuses_to_mix_outputs(model_dir, survey, tmp_path):
    _, path = survey
    out = tmp_path / "dir"
    with pytest.raises(Interrupted, match="rerun the same command to resume"):
        predict_table(model_dir, path, out, chunk_size=1000, progress=False, _fail_after=1)
    with pytest.raises(InputError, match="fingerprint"):
        predict_table(model_dir, path, out, chunk_size=900, progress=False)
    with pytest.raises(InputError, match="not empty"):
        predict_table(model_dir, path, out, chunk_size=1000, resume=False, progress=False)
    with pytest.raises(InputError, match="not both"):
        predict_table(model_dir, path, out, resume=True, overwrite=True)
    res = predict_table(model_dir, path, out, chunk_size=900, resume=False, overwrite=True, progress=False)
    assert res.n_chunks == 3 and len(pd.read_parquet(out)) == 2500  # a directory reads as one dataset


def test_dask_local_cluster_equals_in_process(model_dir, survey, tmp_path):
    pytest.importorskip("distributed")
    _, path = survey
    a = predict_table(model_dir, path, tmp_path / "a.parquet", chunk_size=600, n_draws=3, seed=2, progress=False)
    b = predict_table(model_dir, path, tmp_path / "b.parquet", chunk_size=600, n_draws=3, seed=2,
                      scheduler="local", progress=False)
    assert a.n_rows == b.n_rows == 2500
    pd.testing.assert_frame_equal(pd.read_parquet(a.output), pd.read_parquet(b.output))


def test_csv_fits_and_partitioned_inputs_agree(model_dir, survey, tmp_path):
    from astropy.table import Table

    table, path = survey
    first, second = table.iloc[:1200], table.iloc[1200:]
    first.to_csv(tmp_path / "a.csv", index=False)
    Table.from_pandas(second).write(tmp_path / "b.fits")
    hats = tmp_path / "cat" / "dataset"
    for i, chunk in enumerate([table.iloc[:1000], table.iloc[1000:]]):
        d = hats / "Norder=1" / "Dir=0"
        d.mkdir(parents=True, exist_ok=True)
        chunk.to_parquet(d / f"Npix={[3, 12][i]}.parquet", index=False)
    ref = pd.read_parquet(predict_table(model_dir, path, tmp_path / "r.parquet", chunk_size=500,
                                        progress=False).output)
    mixed = pd.read_parquet(predict_table(model_dir, [tmp_path / "a.csv", tmp_path / "b.fits"],
                                          tmp_path / "m.parquet", chunk_size=500, progress=False).output)
    part = pd.read_parquet(predict_table(model_dir, tmp_path / "cat", tmp_path / "p.parquet", chunk_size=500,
                                         progress=False).output)
    cols = [c for c in ref.columns if c != "source_id"]
    pd.testing.assert_frame_equal(mixed[cols], ref[cols], check_dtype=False, atol=1e-9)
    pd.testing.assert_frame_equal(part, ref)


def test_bad_inputs_name_the_problem(model_dir, tmp_path):
    with pytest.raises(InputError, match="input not found"):
        predict_table(model_dir, tmp_path / "nope.parquet", tmp_path / "o.parquet")
    (tmp_path / "x.txt").write_text("a")
    with pytest.raises(InputError, match="unknown table format"):
        predict_table(model_dir, tmp_path / "x.txt", tmp_path / "o.parquet")
    with pytest.raises(InputError, match="no trained model"):
        predict_table(tmp_path, tmp_path / "x.txt", tmp_path / "o.parquet")
    with pytest.raises(InputError, match="absent from it: mag_J0395, mag_gSDSS, .*distance_pc"):
        predict_frame(load_predictor(model_dir), pd.DataFrame({"source_id": [1, 2], "mag_G": [10.0, 11.0]}))
    # a survey's native columns (here J-PLUS x SEGUE style) are not the schema: say how to convert, write nothing
    pd.DataFrame({"RA": [1.0], "gSDSS_0": [17.0], "ERR_MAG_6_gSDSS": [0.01]}).to_csv(tmp_path / "native.csv")
    with pytest.raises(InputError, match="ocfeh convert FILE --reader NAME"):
        predict_table(model_dir, tmp_path / "native.csv", tmp_path / "n.parquet")
    assert not list(tmp_path.glob("n.parquet*"))
    # the output may not be (or hold) an input, nor be of an unknown format; an empty input is an error, not a 0-byte file
    canon = tmp_path / "stars.parquet"
    pd.DataFrame({"source_id": [1], "mag_G": [10.0]}).to_parquet(canon)
    with pytest.raises(InputError, match="is \\(or holds\\) the input"):
        predict_table(model_dir, canon, canon, overwrite=True, resume=False)
    assert canon.is_file()
    with pytest.raises(InputError, match="outputs are .* files, or a directory of Parquet parts"):
        predict_table(model_dir, canon, tmp_path / "p.xlsx")
    pd.DataFrame({"source_id": pd.Series([], dtype="int64"), "mag_G": pd.Series([], dtype=float)}).to_parquet(
        tmp_path / "empty.parquet")
    with pytest.raises(InputError, match="has no rows"):
        predict_table(model_dir, tmp_path / "empty.parquet", tmp_path / "e.parquet")
    assert not (tmp_path / "e.parquet").exists()


def test_absent_columns_raise_in_memory_and_chunked_but_nan_values_do_not(model_dir, survey, tmp_path):
    """A needed column that is absent (not merely NaN) names itself, with hints; nothing is written."""
    table, _ = survey
    pred = load_predictor(model_dir)
    assert pred.required_columns == [f"mag_{b}" for b in ("J0395", "gSDSS", "rSDSS", "iSDSS", "G", "W1")] + [
        "distance_pc"]  # a plain-features toy: absolute magnitudes need distance_pc, no a0 (no de-reddening)
    cases = {
        "no_w1": (table.drop(columns=["mag_W1"]), r"absent from it: mag_W1\. Tables without these bands"),
        "case": (table.rename(columns={"mag_G": "MAG_G"}), "rename MAG_G to mag_G"),
        "native": (table.rename(columns={"mag_G": "phot_g_mean_mag"}),
                   r"phot_g_mean_mag \(mag_G, reader gaia.*ocfeh convert FILE --reader NAME"),
        "no_distance": (table.drop(columns=["distance_pc"]), "distance_pc .pc. for the absolute magnitudes"),
    }
    for name, (t, match) in cases.items():
        with pytest.raises(InputError, match=match):
            predict_frame(pred, t)
        with pytest.raises(InputError, match=match):
            pred.predict(t)
        path = tmp_path / f"{name}.parquet"
        t.to_parquet(path, index=False)
        with pytest.raises(InputError, match=f"{name}.parquet: .*{match}"):
            predict_table(model_dir, path, tmp_path / f"{name}_out.parquet", chunk_size=1000, progress=False)
        assert not list(tmp_path.glob(f"{name}_out*"))
    # errors stay optional; NaN in every row of a present column is a per-row reason, not an error
    res = predict_frame(pred, table.drop(columns=[c for c in table if c.startswith("mag_err_")]).head(50))
    assert (res["reason"] == "").sum() > 40
    res = predict_frame(pred, table.head(50).assign(mag_W1=np.nan))
    assert (res["reason"].str.contains("mag_W1")).all() and res["feh"].isna().all()


def test_table_that_is_not_a_dataframe_is_a_type_error(model_dir, survey):
    from astropy.table import Table

    table, _ = survey
    pred = load_predictor(model_dir)
    rows = table.head(3)
    for bad in (rows.iloc[0].to_dict(), rows.to_dict("records"), rows.to_numpy(), rows.iloc[0]):
        with pytest.raises(TypeError, match="expected a pandas DataFrame with canonical columns .mag_<band>"):
            pred.predict(bad)
    pd.testing.assert_frame_equal(pred.predict(Table.from_pandas(rows)), pred.predict(rows.reset_index(drop=True)))


def test_unreachable_scheduler_is_an_input_error_and_touches_no_output(model_dir, survey, tmp_path, monkeypatch):
    import socket
    import subprocess
    import sys
    import time

    import ocfeh.parallel

    pytest.importorskip("distributed")
    _, path = survey
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    out = tmp_path / "p.parquet"
    out.write_bytes(b"an earlier output")
    monkeypatch.setattr(ocfeh.parallel, "SCHEDULER_TIMEOUT_S", 1)
    t0 = time.perf_counter()
    with pytest.raises(InputError, match=f"cannot connect to the Dask scheduler {address}"):
        predict_table(model_dir, path, out, overwrite=True, resume=False, scheduler=address, progress=False)
    assert time.perf_counter() - t0 < 15
    assert out.read_bytes() == b"an earlier output" and not (tmp_path / "p.parquet.parts").exists()
    # the command line: a one-line error, exit 1, no traceback, no output
    cli = tmp_path / "cli.parquet"
    res = subprocess.run([sys.executable, "-m", "ocfeh.cli", "predict", str(model_dir), str(path), "-o", str(cli),
                          "--scheduler", address, "--no-progress"], capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.strip().startswith("error: cannot connect to the Dask scheduler " + address)
    assert len(res.stderr.strip().splitlines()) <= 3  # one message (rich may wrap it)
    assert not list(tmp_path.glob("cli.parquet*"))


def test_sentinel_magnitudes_left_in_a_canonical_table_are_not_predicted(model_dir, survey):
    t, _ = survey
    t = t.copy()
    t.loc[[10, 11], "mag_gSDSS"] = [99.0, -9999.0]
    res = predict_frame(load_predictor(model_dir), t.iloc[:20])
    assert (res["reason"].iloc[[10, 11]] == "missing mag_gSDSS").all() and res["feh"].iloc[[10, 11]].isna().all()
    assert (res["reason"].iloc[12:] == "").all()  # the fixture's own rejects are rows 5-8


def test_fast_path_matches_plain_backend_prediction(model_dir):
    """float32 arrays, only the needed features, capped threads: within 1e-6 of model.predict."""
    pred = load_predictor(model_dir)
    t = toy_table(3000, seed=8)
    feats = pred.build_features(t)
    fast = pred.point(t, feats)
    for target, model in pred.models.items():
        plain = model.predict(feats[pred.features[target]])
        np.testing.assert_allclose(fast[target], plain, rtol=0, atol=1e-6)


def test_catboost_backend_fast_path():
    catboost = pytest.importorskip("catboost")
    from ocfeh.predict import Predictor
    from ocfeh.train import make_features

    t = toy_table(3000, seed=9)
    names = ["M_G", "gSDSS-rSDSS", "J0395-gSDSS", "G-W1"]
    X = make_features(t, bands=["J0395", "gSDSS", "rSDSS", "G", "W1"], extinction="none", names=names)
    m = catboost.CatBoostRegressor(iterations=80, depth=6, verbose=False, allow_writing_files=False,
                                   thread_count=2, random_seed=0).fit(X, t["feh"])
    pred = Predictor({"feh": m}, {"feh": names}, {"extinction": "none"})
    np.testing.assert_allclose(pred.point(t)["feh"], m.predict(X), rtol=0, atol=1e-6)
    assert np.corrcoef(pred.point(t)["feh"], t["feh"])[0, 1] > 0.8


def test_cli_predict(model_dir, survey, tmp_path):
    from typer.testing import CliRunner

    from ocfeh.cli import app

    _, path = survey
    out = tmp_path / "cli.parquet"
    res = CliRunner().invoke(app, ["predict", str(model_dir), str(path), "-o", str(out), "--chunk-size", "1000",
                                   "--no-progress", "--n-threads", "1"])
    assert res.exit_code == 0, res.output
    assert len(pd.read_parquet(out)) == 2500
    bad = CliRunner().invoke(app, ["predict", str(model_dir), str(path), "-o", str(tmp_path / "b.parquet"),
                                   "--n-threads", "0"])
    assert bad.exit_code == 2 and not (tmp_path / "b.parquet").exists()


def test_model_dir_of_ocfeh_model_with_calibration(tmp_path):
    """A directory written by TargetModel (cards + LightGBM text) + calibrate_model_dir predicts end to end."""
    from dataclasses import replace

    from ocfeh.predict import calibrate_model_dir, evaluate_coverage
    from ocfeh.train.features import FeatureConfig, make_features
    from ocfeh.train.model import StellarParameterModel, TargetModel

    bands = ["J0395", "gSDSS", "rSDSS", "iSDSS", "G", "W1"]
    fc = {"bands": bands, "extinction": "pivot", "curvatures": [1]}
    s = toy_table(6000, seed=4)
    s["split"] = np.array(["train", "val", "test"])[np.arange(len(s)) % 3]
    train = s[s["split"] == "train"]
    X = make_features(train, FeatureConfig(**fc))
    # a three-band curvature too: the predictor needs the magnitudes of its bands (not 'mag_gSDSS~rSDSS~iSDSS')
    keep = ["M_G", "M_W1", "J0395-gSDSS", "gSDSS-rSDSS", "rSDSS-iSDSS", "G-W1", "gSDSS-W1", "gSDSS~rSDSS~iSDSS"]
    models = {t: TargetModel(t, n_estimators=60, feature_config=fc, seed=1).fit(X[keep], train[t])
              for t in ("teff", "logg", "feh")}
    StellarParameterModel(models).save(tmp_path, config={"features": fc})
    calibrate_model_dir(tmp_path, s, UncertaintyConfig(min_bin_size=100), seed=0)
    pred = load_predictor(tmp_path)
    assert pred.required_columns == ["mag_G", "mag_W1", "mag_J0395", "mag_gSDSS", "mag_rSDSS", "mag_iSDSS",
                                     "distance_pc", "a0"]
    test = s[s["split"] == "test"]
    # the features and the fast path agree with ocfeh.train.model's own prediction (float64 features)
    feats = replace(pred, float32=False).build_features(test, keep)
    pd.testing.assert_frame_equal(feats, make_features(test, FeatureConfig(**fc))[keep])
    res = predict_frame(pred, test)
    for t, m in models.items():
        np.testing.assert_allclose(res[t].to_numpy(), m.predict(pred.build_features(test)), rtol=0, atol=1e-6)
    _table, metrics = evaluate_coverage(pred, s)
    assert abs(metrics["feh"]["coverage_95"] - 0.95) < 0.04
    src = tmp_path / "in.parquet"
    test.drop(columns=["teff", "logg", "feh"]).to_parquet(src)
    out = predict_table(tmp_path, src, tmp_path / "out.parquet", chunk_size=700, progress=False)
    got = pd.read_parquet(out.output)
    pd.testing.assert_frame_equal(got, res.reset_index(drop=True))
    # the output names the model: its directory and the config hash and training seed of its cards
    from ocfeh.provenance import stable_hash

    model = json.loads(pq.read_schema(out.output).metadata[b"ocfeh"])["model"]
    assert model["path"] == str(tmp_path.resolve()) and set(model["cards"]) == {"teff", "logg", "feh"}
    assert model["config_hash"] == stable_hash({"features": fc}) and model["seed"] == 1
    # a de-reddening model needs the a0 column; an unphysical a0 (< -0.05 mag) is like NaN: a per-row reason
    with pytest.raises(InputError, match=r"a0 \[mag\] to de-redden"):
        predict_frame(pred, test.drop(columns=["a0"]))
    a0 = np.where(np.arange(len(test)) % 2 == 0, -1.0, -0.03)
    odd = predict_frame(pred, test.assign(a0=a0))
    assert (odd["reason"].to_numpy()[a0 == -1.0] == "missing a0").all() and odd["feh"][a0 == -1.0].isna().all()
    assert (odd["reason"].to_numpy()[a0 == -0.03] == "").all()
    nan = predict_frame(pred, test.assign(a0=np.nan))
    assert (nan["reason"] == "missing a0").all()
    # validation stars without a0 (a de-reddened table read with require_a0 = false): the error says so
    with pytest.raises(InputError, match=r"got 0 of 2000: 2000 missing a0 .*extinction_source = \"zero\""):
        calibrate_model_dir(tmp_path, s.assign(a0=np.nan), UncertaintyConfig(min_bin_size=100), seed=0)


def test_zero_points_are_removed_per_tile_before_prediction(model_dir, survey, tmp_path):
    table, _ = survey
    t = table.assign(jplus_tile_id=np.where(np.arange(len(table)) % 2 == 0, 1001, 1002))
    path = tmp_path / "tiles.parquet"
    t.to_parquet(path, index=False)
    zp = pd.DataFrame({"jplus_tile_id": [1001, 1002, 1002], "band": ["gSDSS", "gSDSS", "rSDSS"],
                       "offset_mag": [0.05, -0.04, 0.02]})
    zp.to_csv(tmp_path / "zero_points.csv", index=False)
    out = tmp_path / "pred.parquet"
    predict_table(model_dir, path, out, chunk_size=900, progress=False, zero_points=tmp_path / "zero_points.csv")
    shifted = t.copy()
    shifted["mag_gSDSS"] -= np.where(t.jplus_tile_id == 1001, 0.05, -0.04)
    shifted["mag_rSDSS"] -= np.where(t.jplus_tile_id == 1002, 0.02, 0.0)
    ref = predict_frame(load_predictor(model_dir), shifted)
    got = pd.read_parquet(out)
    np.testing.assert_allclose(got["feh"], ref["feh"].to_numpy(), equal_nan=True)
    plain = predict_frame(load_predictor(model_dir), t)
    assert np.nanmax(np.abs(got["feh"] - plain["feh"].to_numpy())) > 0.01  # the offsets did act
    with pytest.raises(InputError, match="jplus_tile_id"):
        predict_table(model_dir, survey[1], tmp_path / "p2.parquet", progress=False,
                      zero_points=tmp_path / "zero_points.csv")
    assert not (tmp_path / "p2.parquet.parts").exists() and not (tmp_path / "p2.parquet").exists()
    (tmp_path / "bad.csv").write_text("tile,band\n1,gSDSS\n")
    with pytest.raises(InputError, match="not a zero_points.csv"):
        predict_table(model_dir, path, tmp_path / "p3.parquet", progress=False, zero_points=tmp_path / "bad.csv")


@pytest.mark.parametrize("address", ["foo", "", "Local", "tcp://", "tcp:/host:8786"])
def test_config_rejects_a_scheduler_that_is_no_dask_address(address):
    from ocfeh.pipeline.config import load_config

    with pytest.raises(InputError, match=r"\[predict\] scheduler: must be 'local', a Dask scheduler address"):
        load_config(predict={"scheduler": address}).section("predict")


@pytest.mark.parametrize("address", [None, "local", "tcp://10.0.0.1:8786", "tls://h.example:8786",
                                     "ucx://h:13337", "inproc://10.0.0.1/123/1", "127.0.0.1:8786"])
def test_config_takes_dask_addresses(address):
    from ocfeh.predict import PredictConfig

    assert PredictConfig(scheduler=address).scheduler == address


def test_output_records_the_model_that_made_it(model_dir, survey, tmp_path):
    _, path = survey
    out = tmp_path / "parts"  # a directory output keeps its _manifest.json
    predict_table(model_dir, path, out, chunk_size=1500, progress=False)
    card = json.loads((model_dir / "teff.json").read_text())["provenance"]
    for meta in (json.loads((out / "_manifest.json").read_text())["provenance"],
                 json.loads(pq.read_schema(out / "part-000000.parquet").metadata[b"ocfeh"])):
        assert meta["model"]["path"] == str(model_dir.resolve())
        assert meta["model"]["seed"] == card["seed"] == 0  # the training seed of the fixture's models
        assert meta["model"]["config_hash"] == card["config_hash"]
        assert {"dask", "distributed"} <= set(meta["versions"])


def test_a_model_with_the_a0_feature_needs_a0_without_de_reddening(tmp_path):
    """A_0 as a feature with extinction = "none": the stars' a0 is still an input, named when absent."""
    from ocfeh.predict import calibrate_model_dir
    from ocfeh.train.features import A0_FEATURE, FeatureConfig, make_features
    from ocfeh.train.model import StellarParameterModel, TargetModel

    fc = {"bands": ["gSDSS", "rSDSS", "G", "W1"], "extinction": "none", "a0_feature": True}
    s = toy_table(3000, seed=5)
    s["split"] = np.array(["train", "val", "test"])[np.arange(len(s)) % 3]
    train = s[s["split"] == "train"]
    keep = ["gSDSS-rSDSS", "G-W1", A0_FEATURE]
    X = make_features(train, FeatureConfig(**fc))[keep]
    models = {t: TargetModel(t, n_estimators=30, feature_config=fc, seed=1).fit(X, train[t])
              for t in ("teff", "logg", "feh")}
    StellarParameterModel(models).save(tmp_path, config={"features": fc})
    calibrate_model_dir(tmp_path, s, UncertaintyConfig(min_bin_size=100), seed=0)
    pred = load_predictor(tmp_path)
    assert sorted(pred.required_columns) == ["a0", "mag_G", "mag_W1", "mag_gSDSS", "mag_rSDSS"]  # no distance
    test = s[s["split"] == "test"]
    res = predict_frame(pred, test)
    np.testing.assert_allclose(res["teff"], models["teff"].predict(make_features(test, FeatureConfig(**fc))[keep]),
                               rtol=0, atol=1e-3)
    with pytest.raises(InputError, match="a0"):
        predict_frame(pred, test.drop(columns="a0"))


def test_threads_and_float64_reach_every_chunk_and_match_the_predictor(model_dir, survey, tmp_path, monkeypatch):
    """predict_table's n_threads / float32 reach the tree back-end of every chunk; results equal a float64
    predictor's, and a float64 output is not resumed as a float32 one."""
    from dataclasses import replace

    import ocfeh.predict.predictor as P

    _, path = survey
    seen, fast = [], P.predict_fast

    def spy(model, X, n_threads):
        seen.append((n_threads, X.dtype))
        return fast(model, X, n_threads)

    monkeypatch.setattr(P, "predict_fast", spy)
    out = tmp_path / "f64.parquet"
    res = predict_table(model_dir, path, out, chunk_size=1000, n_threads=1, float32=False, progress=False)
    assert res.n_chunks == 3 and len(seen) == 3 * 3  # three chunks, three targets
    assert set(seen) == {(1, np.dtype(np.float64))}
    ref = predict_frame(replace(load_predictor(model_dir), float32=False), survey[0])
    pd.testing.assert_frame_equal(pd.read_parquet(out), ref.reset_index(drop=True))
    seen.clear()
    predict_table(model_dir, path, tmp_path / "default.parquet", chunk_size=1000, progress=False)
    assert set(seen) == {(load_predictor(model_dir).n_threads, np.dtype(np.float32))}
    # asking for the model's own precision is the same output (complete: nothing to do)
    again = predict_table(model_dir, path, tmp_path / "default.parquet", chunk_size=1000, float32=True,
                          n_threads=1, progress=False)
    assert again.n_predicted == -1
    with pytest.raises(InputError, match="overwrite"):
        predict_table(model_dir, path, out, chunk_size=1000, progress=False)  # float32 now: another output
    with pytest.raises(InputError, match="'n_threads' parameter of predict_table must be >= 1"):
        predict_table(model_dir, path, tmp_path / "x.parquet", n_threads=0, progress=False)


@pytest.mark.parametrize(("cores", "n_threads", "tasks"), [(8, 2, 4), (8, 3, 2), (2, 4, 1)])
def test_local_cluster_runs_no_more_threads_than_cores(cores, n_threads, tasks, monkeypatch):
    pytest.importorskip("distributed")
    import ocfeh.parallel as S

    monkeypatch.setattr(S.os, "cpu_count", lambda: cores)
    with S.dask_client("local", n_threads) as client:
        assert list(client.nthreads().values()) == [tasks]


def test_predict_stage_passes_the_predict_section(tmp_path, monkeypatch):
    """[predict] scheduler, n_threads and float32 of a run's config reach predict_table."""
    import ocfeh.pipeline.stages as stages
    from ocfeh.pipeline import default_stages, load_config

    got = {}
    monkeypatch.setattr(stages, "predict_table", lambda *a, **kw: got.update(kw))
    cfg = load_config(predict={"scheduler": "tcp://h:8786", "n_threads": 3, "float32": False, "chunk_size": 7})
    next(s for s in default_stages(cfg) if s.name == "predict").func(tmp_path, cfg)
    assert {k: got[k] for k in ("scheduler", "n_threads", "float32", "chunk_size")} == {
        "scheduler": "tcp://h:8786", "n_threads": 3, "float32": False, "chunk_size": 7}
