"""Errors and warnings raised by ocfeh.

Every error derives from :class:`OcfehError` and from the matching builtin, so
``except ValueError`` keeps working for callers who do not know ocfeh.
"""

from __future__ import annotations

__all__ = [
    "OcfehError",
    "OcfehWarning",
    "DataFileError",
    "UnknownBandError",
    "InputError",
    "NotFittedError",
]


class OcfehError(Exception):
    """Base class of all ocfeh errors."""


class OcfehWarning(UserWarning):
    """Base class of all ocfeh warnings."""


class DataFileError(OcfehError, FileNotFoundError):
    """A data file shipped by a PyPI distribution is missing or altered."""


class UnknownBandError(OcfehError, KeyError):
    """A band name that is not in the registry."""

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0]) if self.args else ""


class InputError(OcfehError, ValueError):
    """A user table or file that cannot be used (missing column, bad unit, empty, corrupt)."""


class NotFittedError(OcfehError, AttributeError):
    """An estimator used before ``fit``."""
