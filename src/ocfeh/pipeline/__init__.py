"""A run: one directory, one config, every stage in order, each skipped when its inputs are unchanged.

>>> from ocfeh.pipeline import load_config, default_stages
>>> cfg = load_config(run={"profile": "small", "seed": 7})
>>> [s.name for s in default_stages(cfg)]
['simulate', 'sample', 'train', 'evaluate', 'predict', 'clusters', 'report']
"""

from .config import Dataset, RunConfig, example_toml, load_config, run_config
from .demo_run import demo, demo_config
from .runner import run, run_stage
from .stage import RunResult, Stage
from .stages import build_run_sample, check_run_config, default_stages

__all__ = [
    "run",
    "run_stage",
    "demo",
    "demo_config",
    "load_config",
    "run_config",
    "RunConfig",
    "Dataset",
    "example_toml",
    "default_stages",
    "check_run_config",
    "build_run_sample",
    "Stage",
    "RunResult",
]
