"""Run profiles: ``small`` (minutes, the tests), ``default`` (the demo) and ``full`` (the poster's scale).

A config section may carry ``PROFILES = {profile: {field: value}}`` presets; :func:`apply_profile` fills
the fields the user did not set, which is what every section of a run config gets.

>>> from typing import ClassVar
>>> from pydantic import BaseModel
>>> class Section(BaseModel):
...     PROFILES: ClassVar[dict] = {"small": {"n": 2}}
...     n: int = 10
>>> apply_profile(Section(), "small").n, apply_profile(Section(n=5), "small").n
(2, 5)
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

__all__ = ["PROFILES", "Profile", "apply_profile"]

PROFILES = ("small", "default", "full")
Profile = Literal["small", "default", "full"]


def apply_profile(model: BaseModel, profile: str) -> BaseModel:
    """``model`` with its class's ``PROFILES[profile]`` presets where the user is silent (what runs, and
    what config.json and the stage keys record)."""
    presets = getattr(type(model), "PROFILES", {}).get(profile, {})
    update = {k: v for k, v in presets.items() if k not in model.model_fields_set}
    return model.model_copy(update=update) if update else model
