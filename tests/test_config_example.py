from pathlib import Path

from ocfeh.pipeline.config import example_toml, load_config

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "config.toml"


def test_committed_example_config_is_complete_and_current():
    # regenerate with: ocfeh config > examples/config.toml
    assert EXAMPLE.read_text().strip() == example_toml().strip()


def test_example_config_validates_with_its_defaults():
    cfg = load_config(EXAMPLE)
    d = cfg.to_dict()
    assert d["run"]["profile"] == "default" and d["run"]["seed"] == 42
    assert {"simulate", "sample", "features", "selection", "model", "uncertainty", "predict", "clusters"} <= set(d)
