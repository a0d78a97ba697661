"""Source tables as HATS catalogues: files imported once with hats-import, existing catalogues opened as they are.

A positional table (J-PLUS, Gaia, CatWISE, the labels) becomes a HATS catalogue partitioned on its own
``ra``/``dec`` with a margin catalogue of :data:`MARGIN_ARCSEC`; a table keyed on a Gaia ``source_id``
(astrophysical parameters, distances) is partitioned on the HEALPix index the ``source_id`` encodes; the
J-PLUS extinction table (keyed on tile and number) becomes a Parquet dataset partitioned by tile. Each
import records the fingerprint of its input files and is reused while they are unchanged.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from ...catalogs import readers
from ...exceptions import InputError

__all__ = ["MARGIN_ARCSEC", "PARTITION_ROWS", "TILE_BUCKET", "TILE_BUCKETS", "PartitionedSource", "is_hats",
           "open_source", "tile_bucket"]

log = logging.getLogger(__name__)

MARGIN_ARCSEC = 10.0
"""Margin of the imported catalogues (arcsec), as LSDB's published catalogues have."""

PARTITION_ROWS = 250_000
"""Largest partition of an imported table (rows): a partition's task holds a few of them at once."""

TILE_BUCKETS = 64
"""Files of an imported tile-keyed table (a power of two): about 25 of J-PLUS DR3's 1,600 tiles each."""
TILE_BUCKET = "tile_bucket"


def tile_bucket(tiles):
    """The bucket (``tile % TILE_BUCKETS``) of each tile id of an Arrow array, as an int64 Arrow array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.bit_wise_and(pa.array(tiles).cast(pa.int64()), TILE_BUCKETS - 1)

_SOURCE_ID_KEYED = ("gaia_ap", "distances")
_TILE_KEYED = ("jplus_extinction",)


@dataclass(frozen=True)
class PartitionedSource:
    """One source table in partitioned form.

    Attributes
    ----------
    name : str
        The ``[sample.sources]`` key (``gaia``, ``jplus``, ...).
    path : Path or str
        HATS catalogue (``key`` position or source_id) or Parquet dataset partitioned by tile.
    margin : Path, str or None
        Its margin catalogue (positional tables).
    reader : str
        The ocfeh reader that maps the native columns, applied to each partition as it is read.
    column_map : dict
        Native-name overrides for the reader.
    epoch : float or None
        Julian year of the positions (None: the reader's).
    imported : bool
        Whether ocfeh imported it from files (False: a HATS catalogue given as it is).
    key : {"position", "source_id", "tile"}
        How rows are found: by sky position, by the HEALPix index of a Gaia ``source_id``, by J-PLUS tile.
    native_key : str
        The native column of the key (``source_id`` or the tile column) for keyed tables.
    """

    name: str
    path: Path | str
    margin: Path | str | None
    reader: str
    column_map: dict
    epoch: float | None
    imported: bool = True
    key: str = "position"
    native_key: str = ""


def is_hats(path: str | Path) -> bool:
    """Whether ``path`` is a HATS catalogue (a directory with HATS properties, local or remote)."""
    import hats

    try:
        hats.read_hats(path)
    except Exception:  # noqa: BLE001 - any failure to open means "not a catalogue"
        return False
    return True


def _native(reader_name: str, canonical: str, column_map: dict) -> str:
    if canonical in column_map:
        value = column_map[canonical]
        return value if isinstance(value, str) else value[0]
    for col in readers.get(reader_name).columns:
        if col.canonical == canonical:
            return col.native[0]
    raise InputError(f"reader {reader_name!r} has no {canonical!r} column: set column_map.{canonical} in the source")


def _fingerprint(paths: list[Path]) -> list[dict]:
    return [{"path": str(p), "size": p.stat().st_size, "mtime_ns": p.stat().st_mtime_ns} for p in paths]


def _input_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))
    else:
        files = [path]
    if not files:
        raise InputError(f"{path}: no input files to import")
    return files


def _reused(out: Path, stamp: dict) -> bool:
    record = out / "ocfeh_import.json"
    if not record.is_file():
        return False
    try:
        return json.loads(record.read_text()) == stamp
    except (OSError, ValueError):
        return False


def open_source(name: str, spec, base_dir: Path, work_dir: Path, client, margin: str | None = None,
                partition_rows: int = PARTITION_ROWS) -> PartitionedSource:
    """The partitioned form of one ``[sample.sources]`` entry, importing it into ``work_dir`` if needed.

    Parameters
    ----------
    name : str
        The source key.
    spec : SourceSpec
        Its path, reader, format, column map and epoch. A path that is a HATS catalogue (local or a URL)
        is used as it is, with ``margin`` (or ``spec.margin``) as its margin catalogue.
    base_dir : Path
        Relative paths are read from here.
    work_dir : Path
        Where imports go (``work_dir/<name>``; reused while the input files are unchanged).
    client : distributed.Client
        Runs hats-import.
    margin : str, optional
        The margin catalogue of a HATS ``spec.path`` (default ``spec.margin``).
    partition_rows : int
        hats-import's ``pixel_threshold`` for files imported here.
    """
    column_map = dict(spec.column_map or {})
    raw = str(spec.path)
    path = Path(raw) if "://" not in raw else raw
    if isinstance(path, Path) and not path.is_absolute():
        path = Path(base_dir) / path
    margin = margin or getattr(spec, "margin", None)
    key = "source_id" if name in _SOURCE_ID_KEYED else "tile" if name in _TILE_KEYED else "position"
    native_key = _native(spec.reader, {"source_id": "source_id", "tile": "jplus_tile_id"}[key], column_map) \
        if key != "position" else ""
    common = dict(name=name, reader=spec.reader, column_map=column_map, epoch=spec.epoch, key=key, native_key=native_key)
    if key != "tile" and is_hats(path):
        if key == "position" and margin is None:
            log.warning("%s: HATS catalogue %s given without a margin catalogue: set margin = \"...\" in "
                        "[sample.sources.%s]; matches across partition edges are lost", name, path, name)
        return PartitionedSource(path=path, margin=margin, imported=False, **common)
    if not isinstance(path, Path) or not path.exists():
        raise InputError(f"[sample.sources.{name}] path {path} does not exist (a file, a folder of files, or a "
                         "HATS catalogue)")
    files = _input_files(path)
    fmt = spec.format or _format_of(files[0])
    out = Path(work_dir) / name
    stamp = {"inputs": _fingerprint(files), "format": fmt, "key": key, "native_key": native_key,
             "position": [_native(spec.reader, "ra", column_map), _native(spec.reader, "dec", column_map)]
             if key == "position" else None, "margin_arcsec": MARGIN_ARCSEC, "partition_rows": partition_rows,
             "tile_buckets": TILE_BUCKETS if key == "tile" else None}
    if not _reused(out, stamp):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        if key == "tile":
            _import_tiles(files, fmt, native_key, out)
        else:
            _import_hats(files, fmt, stamp, out, client)
        (out / "ocfeh_import.json").write_text(json.dumps(stamp, indent=1))
    else:
        log.info("%s: reusing the import in %s", name, out)
    if key == "tile":
        return PartitionedSource(path=out / "tiles", margin=None, **common)
    return PartitionedSource(path=out / "catalog", margin=out / "margin" if key == "position" else None, **common)


def _format_of(path: Path) -> str:
    from ...catalogs.formats import guess_format

    fmt = guess_format(path)
    if fmt not in ("parquet", "fits", "csv", "ecsv"):
        raise InputError(f"{path}: hats-import reads Parquet, FITS, CSV and ECSV; convert this {fmt} file first "
                         "(ocfeh convert) or set [sample] engine = \"memory\"")
    return fmt


def _import_hats(files: list[Path], fmt: str, stamp: dict, out: Path, client) -> None:
    """hats-import of positional or source_id-keyed files, then (positional) the margin catalogue."""
    from hats_import.catalog.arguments import ImportArguments
    from hats_import.catalog.file_readers import get_file_reader
    from hats_import.margin_cache.margin_cache_arguments import MarginCacheArguments
    from hats_import.pipeline import pipeline_with_client

    from .numbered import NumberedReader

    keyed = stamp["key"] == "source_id"
    reader = NumberedReader(get_file_reader(fmt, chunksize=250_000), [str(f) for f in files],
                            healpix_from=stamp["native_key"] if keyed else None)
    ra, dec = stamp["position"] or ("ra", "dec")
    args = ImportArguments(
        output_path=out, output_artifact_name="catalog", input_file_list=[str(f) for f in files],
        file_reader=reader, ra_column=ra, dec_column=dec, use_healpix_29=keyed, add_healpix_29=not keyed,
        pixel_threshold=stamp["partition_rows"], highest_healpix_order=10, tmp_dir=out / "tmp", dask_tmp=out / "tmp",
        progress_bar=False, resume=False, should_write_skymap=False)
    log.info("importing %d file(s) into the HATS catalogue %s", len(files), out / "catalog")
    pipeline_with_client(args, client)
    if not keyed:
        margin = MarginCacheArguments(
            input_catalog_path=out / "catalog", output_path=out, output_artifact_name="margin",
            margin_threshold=MARGIN_ARCSEC, tmp_dir=out / "tmp", dask_tmp=out / "tmp", progress_bar=False,
            resume=False, should_write_skymap=False)
        pipeline_with_client(margin, client)
    shutil.rmtree(out / "tmp", ignore_errors=True)


def _import_tiles(files: list[Path], fmt: str, tile_column: str, out: Path) -> None:
    """A Parquet dataset of :data:`TILE_BUCKETS` buckets (``bucket = tile % TILE_BUCKETS``), each one file
    sorted by tile: written chunk by chunk into the buckets, then each bucket compacted (a bucket holds
    1/TILE_BUCKETS of the table), so the file count does not grow with the table or its tiles."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq
    from hats_import.catalog.file_readers import get_file_reader

    reader = get_file_reader(fmt, chunksize=1_000_000)
    staged = out / "staged"
    for k, f in enumerate(files):
        for i, chunk in enumerate(reader.read(str(f))):
            table = chunk if isinstance(chunk, pa.Table) else pa.Table.from_pandas(chunk, preserve_index=False)
            if tile_column not in table.column_names:
                raise InputError(f"{f}: no tile column {tile_column!r} (has {', '.join(table.column_names[:8])})")
            ds.write_dataset(table.append_column(TILE_BUCKET, tile_bucket(table.column(tile_column))), staged, format="parquet",
                             partitioning=[TILE_BUCKET], partitioning_flavor="hive",
                             basename_template=f"part-{k}-{i}-{{i}}.parquet",
                             existing_data_behavior="overwrite_or_ignore")
    for folder in sorted(staged.glob(f"{TILE_BUCKET}=*")):
        table = ds.dataset(str(folder), format="parquet").to_table()
        target = out / "tiles" / folder.name
        target.mkdir(parents=True)
        pq.write_table(table.sort_by(tile_column), target / "part-0.parquet", row_group_size=65_536)
        shutil.rmtree(folder)
    shutil.rmtree(staged, ignore_errors=True)
