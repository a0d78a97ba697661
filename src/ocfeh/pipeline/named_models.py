"""Models by name: trained once on a real labelled set by ``ocfeh build-model NAME``, cached, checksummed.

``ocfeh.load_model("apogee-xp")`` loads the model trained on real APOGEE DR17 stars with Gaia XP-synthetic
J-PLUS, Gaia and 2MASS photometry (the ``apogee-xp`` dataset), the model to apply to real photometry (the
demo's model is trained on the mock sky). The build is the ``apogee-xp`` demo run into the cache
(``$OCFEH_CACHE_DIR/models/<name>-<profile>-ocfeh<version>/``); its ``model/release.json`` holds the blind-test
MAE and interval coverage and the sha256 of every model file, checked at each load.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..datafiles import cache_dir
from ..exceptions import InputError
from ..provenance import file_sha256, package_version, write_json
from ..schema import LABELS

__all__ = ["NAMED_MODELS", "RELEASE_CARD", "NamedModel", "build_named_model", "model_dir_of", "named_model_dir"]

log = logging.getLogger(__name__)

RELEASE_CARD = "release.json"
PROFILES = ("default", "small")
"""Build profiles, best first: ``load_model(name)`` takes the best one built."""


@dataclass(frozen=True)
class NamedModel:
    """A model that ``ocfeh build-model`` trains on a labelled dataset of :mod:`ocfeh.datasets`."""

    name: str
    dataset: str
    about: str


NAMED_MODELS: dict[str, NamedModel] = {
    "apogee-xp": NamedModel(
        "apogee-xp", "apogee-xp",
        "real APOGEE DR17 stars (labels) with Gaia XP-synthetic J-PLUS (no uJAVA), Gaia DR3 and 2MASS magnitudes; "
        "for real photometry of stars like APOGEE's (mostly giants and FGK dwarfs, [Fe/H] -1 to +0.5)"),
}


def _named(name: str) -> NamedModel:
    if name not in NAMED_MODELS:
        raise InputError(f"no named model {name!r}; choose one of {', '.join(NAMED_MODELS)}, "
                         "or pass a run's model directory")
    return NAMED_MODELS[name]


def _run_dir(name: str, profile: str) -> Path:
    return cache_dir() / "models" / f"{name}-{profile}-ocfeh{package_version()}"


def named_model_dir(name: str) -> Path:
    """The model directory of the best build of ``name`` on this machine, its files checked against
    ``release.json``; InputError saying how to build it when there is none."""
    _named(name)
    for profile in PROFILES:
        model_dir = _run_dir(name, profile) / "model"
        if (model_dir / RELEASE_CARD).is_file():
            _verify(model_dir)
            if profile != PROFILES[0]:
                log.warning("the %s model on this machine was built with the %s profile; `ocfeh build-model %s` "
                            "builds the full one", name, profile, name)
            return model_dir
    raise InputError(f"the {name} model is not built on this machine (looked in {_run_dir(name, PROFILES[0])}): "
                     f"run `ocfeh build-model {name}` once (about an hour on 2 cores; `--small` takes minutes)")


def model_dir_of(model: str | Path) -> Path:
    """``model`` as a model directory: a named model's (:func:`named_model_dir`) unless a path of that name exists."""
    path = Path(model)
    return named_model_dir(str(model)) if str(model) in NAMED_MODELS and not path.exists() else path


def build_named_model(name: str, profile: str = "default", rebuild: bool = False) -> Path:
    """Train the model ``name`` into the cache (the dataset's demo run; it resumes when interrupted) and
    write its ``release.json``. Returns the model directory."""
    from .demo_run import demo  # the run machinery is needed only to build

    spec = _named(name)
    if profile not in PROFILES:
        raise InputError(f"profile {profile!r}: choose one of {', '.join(PROFILES)}")
    run_dir = _run_dir(name, profile)
    if rebuild and run_dir.exists():
        shutil.rmtree(run_dir)
    (run_dir / "model" / RELEASE_CARD).unlink(missing_ok=True)  # a build cut short leaves no release behind
    log.info("building the %s model (%s profile) in %s", name, profile, run_dir)
    demo(profile=profile, dataset=spec.dataset, out=run_dir)
    model_dir = run_dir / "model"
    metrics = _read(run_dir / "metrics.json")
    blind = {t: {"mae": metrics[t]["mae"], "n": metrics[t]["n"]} for t in LABELS if t in metrics}
    for row in metrics.get("coverage", []):
        if row.get("binning") == "all" and row.get("target") in blind:
            blind[row["target"]].update(coverage_68=row["coverage_68"], coverage_95=row["coverage_95"])
    files = sorted(p for p in model_dir.rglob("*") if p.is_file() and p.name != RELEASE_CARD)
    write_json(model_dir / RELEASE_CARD, {
        "name": name, "dataset": spec.dataset, "about": spec.about, "profile": profile,
        "ocfeh_version": package_version(), "built_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "blind_test": blind,
        "files": {str(p.relative_to(model_dir)): file_sha256(p) for p in files},
        "command": f"ocfeh build-model {name}" + (" --small" if profile == "small" else ""),
    })
    return model_dir


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"{path} is not readable JSON ({err}): rebuild the model (`ocfeh build-model ... "
                         "--rebuild`)") from None


def _verify(model_dir: Path) -> None:
    card = _read(model_dir / RELEASE_CARD)
    for rel, sha in card.get("files", {}).items():
        path = model_dir / rel
        if not path.is_file() or file_sha256(path) != sha:
            raise InputError(f"{path} is {'missing' if not path.is_file() else 'changed'} since the {card.get('name')} "
                             f"model was built: rebuild it with `{card.get('command')} --rebuild`")
