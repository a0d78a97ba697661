"""Errors and warnings raised by ocfeh.

Every error derives from :class:`OcfehError` and from the matching builtin, so
``except ValueError`` keeps working for callers who do not know ocfeh.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "OcfehError",
    "OcfehWarning",
    "DataFileError",
    "UnknownBandError",
    "InputError",
    "NotFittedError",
    "StageError",
    "Interrupted",
    "ArchiveError",
    "FewMembersWarning",
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


class StageError(OcfehError, RuntimeError):
    """A stage failed; the message names the stage, the file (when known) and the reason."""

    def __init__(self, stage: str, reason: str, path: Path | None = None):
        self.stage, self.reason, self.path = stage, reason, path
        where = f" ({path})" if path else ""
        super().__init__(f"stage '{stage}' failed{where}: {reason}")


class Interrupted(OcfehError, RuntimeError):
    """Ctrl-C during work that a rerun resumes (a stage, a prediction); the message says what was interrupted
    and how to go on. Raised from the KeyboardInterrupt, which the command line would otherwise swallow."""


class ArchiveError(OcfehError, ConnectionError):
    """A remote archive could not answer a query; the message says what the user can do.

    Attributes
    ----------
    url : str
        The TAP service.
    query : str
        The ADQL that failed.
    transient : bool
        True when retrying later may help (the service was busy or unreachable).
    """

    def __init__(self, message: str, *, url: str = "", query: str = "", transient: bool = False):
        super().__init__(message)
        self.url = url
        self.query = query
        self.transient = transient


class FewMembersWarning(OcfehWarning):
    """A cluster has too few members for a robust [Fe/H]."""
