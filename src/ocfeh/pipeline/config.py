"""The run configuration: one TOML file, one section per stage, each validated by its stage's model.

Unknown sections and unknown keys are errors that name the key and list the allowed ones.
"""

from __future__ import annotations

import difflib
import json
import logging
import numbers
import tomllib
import typing
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..clusters import ClusterConfig
from ..exceptions import InputError
from ..predict import PredictConfig
from ..profiles import Profile, apply_profile
from ..provenance import stable_hash
from ..sample import SampleConfig
from ..simulate import SimulationConfig
from ..train import FeatureConfig, ModelConfig, SelectionConfig, UncertaintyConfig

__all__ = ["Dataset", "RunSection", "RunConfig", "load_config", "run_config", "SECTION_MODELS", "example_toml"]

log = logging.getLogger(__name__)


class Dataset(str, Enum):
    """Where a run's stars come from (``[run] dataset``)."""

    MOCK = "mock"
    """The mock sky, simulated by the run's first stage."""
    APOGEE_XP = "apogee-xp"
    """The real APOGEE x Gaia XP labelled set (no catalogue to predict, no clusters)."""
    FILES = "files"
    """The survey tables of ``[sample.sources]``."""


class RunSection(BaseModel):
    """The ``[run]`` section."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(
        42, ge=0, description="The one random seed (an integer >= 0); every stage derives its generators from it.")
    profile: Profile = Field(
        "default", description="Size profile: small (minutes, tests), default (~10 min demo), full (poster scale)."
    )
    dataset: Dataset = Field(
        Dataset.MOCK, description="Where stars come from: the mock sky, the real APOGEE x Gaia XP set, or [sample] files."
    )
    out: str = Field("runs/demo", description="The run directory (a relative path is taken from the working "
                                                "directory, as --out is; table paths from this file's folder).")
    scheduler: str | None = Field(
        None, exclude=True, description="A Dask scheduler (tcp://host:8786) for the sample stage with [sample] engine = "
        "\"hats\" and for the predict stage where [predict] scheduler is unset; default a cluster in this process. "
        "Where work runs does not change results, so it is not part of the config hash.")

    @field_validator("seed", mode="before")
    @classmethod
    def _integer_seed(cls, v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):  # not true, "1" or 1.5
            raise ValueError(f"the seed is an integer >= 0; got {v!r}")  # noqa: TRY004 - pydantic wants ValueError
        return int(v)


SECTION_MODELS: dict[str, type[BaseModel]] = {
    "run": RunSection,
    "simulate": SimulationConfig,
    "sample": SampleConfig,
    "features": FeatureConfig,
    "selection": SelectionConfig,
    "model": ModelConfig,
    "uncertainty": UncertaintyConfig,
    "predict": PredictConfig,
    "clusters": ClusterConfig,
}
"""Each section of the run TOML and the config model of the stage that owns it."""


def _suggest(key: str, allowed) -> str:
    near = difflib.get_close_matches(key, list(allowed), n=1)
    return f" Did you mean {near[0]!r}?" if near else ""


def _nested_model(model: type[BaseModel], loc) -> type[BaseModel]:
    """The model that holds the key at ``loc`` (``("sources", "labels")`` -> the source spec model)."""
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None:
            break
        inner = [a for a in (typing.get_args(field.annotation) or (field.annotation,))
                 if isinstance(a, type) and issubclass(a, BaseModel)]
        if not inner:
            break
        model = inner[0]
    return model


def _format_validation(section: str, err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    key = f"[{section}] {loc}" if loc else f"[{section}]"
    if first["type"] == "extra_forbidden":
        allowed = list(_nested_model(SECTION_MODELS[section], first["loc"][:-1]).model_fields)
        return f"unknown key {key}.{_suggest(str(first['loc'][-1]), allowed)} Allowed: {', '.join(allowed)}"
    msg = first["msg"].removeprefix("Value error, ")
    got = "" if "got " in msg else f" (got {first.get('input')!r})"
    return f"bad value for {key}: {msg}{got}"


class RunConfig:
    """A validated run configuration: ``cfg.run`` plus one pydantic model per stage section.

    Sections absent from the file take their stage's defaults; ``raw`` keeps what the file said.
    """

    def __init__(self, raw: dict[str, Any] | None = None, source: str = "<defaults>"):
        raw = dict(raw or {})
        self.raw = raw
        self.source = source
        for section in raw:
            if section not in SECTION_MODELS:
                raise InputError(
                    f"{source}: unknown section [{section}].{_suggest(section, SECTION_MODELS)} "
                    f"Allowed: {', '.join(SECTION_MODELS)}"
                )
        self._sections: dict[str, BaseModel] = {}
        self.run = self.section("run")

    @property
    def base_dir(self) -> Path:
        """The folder that relative table paths in the file are read from (the file's own)."""
        return Path(self.source).parent if self.source != "<defaults>" else Path(".")

    def section(self, name: str) -> BaseModel:
        """The validated model of one section (defaults where the file is silent)."""
        if name not in self._sections:
            values = self.raw.get(name, {})
            if not isinstance(values, dict):
                raise InputError(f"{self.source}: [{name}] must be a table of keys, got {values!r}")
            try:
                model = SECTION_MODELS[name].model_validate(values)
            except ValidationError as err:
                raise InputError(f"{self.source}: {_format_validation(name, err)}") from None
            self._sections[name] = model if name == "run" else apply_profile(model, self.run.profile)
        return self._sections[name]

    def to_dict(self, sections: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The effective configuration (file values plus defaults) of some or all sections."""
        names = sections or tuple(SECTION_MODELS)
        return {n: self.section(n).model_dump(mode="json") for n in names}

    def hash(self) -> str:
        """Hash of the effective configuration, without ``[run] out`` (where a run lives does not change it)."""
        config = self.to_dict()
        config["run"].pop("out", None)
        return stable_hash(config)


def load_config(path: str | Path | None = None, **overrides: Any) -> RunConfig:
    """Read and validate a TOML config; ``overrides`` are ``section={key: value}`` dicts merged on top."""
    raw: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise InputError(f"config file not found: {path}")
        try:
            raw = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as err:
            raise InputError(f"{path}: not valid TOML: {err}") from None
    for section, values in overrides.items():
        raw.setdefault(section, {}).update({k: v for k, v in values.items() if v is not None})
    return RunConfig(raw, source)


def run_config(run_dir: str | Path, **overrides: Any) -> RunConfig:
    """The configuration a run directory was made with (``RUN_DIR/config.json``), else the defaults."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        log.info("%s has no config.json: using the default configuration", run_dir)
        return load_config(None, **overrides)
    try:
        rec = json.loads(path.read_text())
        raw = rec["config"]
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(f"{path}: not a run's config.json ({err})") from None
    for section, values in overrides.items():
        raw.setdefault(section, {}).update({k: v for k, v in values.items() if v is not None})
    source = rec.get("source")  # the TOML it came from: its table paths are relative to that file's folder
    return RunConfig(raw, source if source and Path(source).is_file() else str(path))


def _toml_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))


def _model_lines(model: type[BaseModel], table: str) -> list[str]:
    lines, nested = [f"[{table}]"], []
    doc = (model.__doc__ or "").strip().splitlines()
    if doc:
        lines.insert(0, f"# {doc[0]}")
    for name, field in model.model_fields.items():
        ann = field.annotation
        sub = next((a for a in (getattr(ann, "__args__", None) or (ann,))
                    if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if sub is not None:
            nested.append((name, sub, field))
            continue
        desc = (field.description or "").replace("\n", " ")
        lines.append(f"# {desc}")
        if field.is_required():
            lines.append(f"# {name} = <required>")
            continue
        presets = {p: v[name] for p, v in getattr(model, "PROFILES", {}).items() if name in v}
        if presets:  # left commented out: the [run] profile sets it unless the file does
            lines[-1] += " Set by [run] profile unless given here: " + ", ".join(
                f"{p} {_toml_value(v)}" for p, v in presets.items()) + "."
            lines.append(f"# {name} = {_toml_value(presets.get('default', next(iter(presets.values()))))}")
            continue
        default = field.get_default(call_default_factory=True)
        value = _toml_value(default.model_dump() if isinstance(default, BaseModel) else default)
        lines.append(f"# {name} = <unset>" if value == "" else f"{name} = {value}")
    for name, sub, field in nested:
        block = _model_lines(sub, f"{table}.{name}")
        if not field.is_required() and field.get_default(call_default_factory=True) is None:
            block = [ln if ln.startswith("#") else f"# {ln}" for ln in block]  # optional: shown commented out
        lines += ["", f"# {field.description or name}"] + block
    return lines


def example_toml() -> str:
    """A complete, commented config: every section and key with its default and description."""
    out = [("# ocfeh run configuration: every option with its default (commented out: set by [run] profile, or "
            "unset). Unknown keys are errors."),
           "# Run with: ocfeh run config.toml   (sections left out take these defaults)", ""]
    for section in SECTION_MODELS:
        out += _model_lines(SECTION_MODELS[section], section) + [""]
    return "\n".join(out)
