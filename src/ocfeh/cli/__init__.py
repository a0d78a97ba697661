"""The ``ocfeh`` command line (``ocfeh --help``); each command is a thin layer over the Python API."""

from .entry import app, main

__all__ = ["app", "main"]
