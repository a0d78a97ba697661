"""The rows one partition of the anchor catalogue needs from every source table, read through the readers.

For an anchor pixel P: the anchor's rows in P (its own, :data:`~ocfeh.sample.assembly.OWNED`) and in P's
margin; every other positional table's partitions that overlap P with their margins (rows inside P are
its own); the source_id-keyed tables' rows of P's own stars; the J-PLUS extinction rows of the tiles met.
With margins of at least twice the sum of the matching radii, the mutual matches of P's own rows are those
the whole sky would give.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ...catalogs import raw_from_arrow, readers
from ...exceptions import InputError
from ..assembly import OWNED
from .inputs import TILE_BUCKET, PartitionedSource, tile_bucket
from .keys import ROW, SPATIAL_INDEX, in_pixel, source_id_healpix29

__all__ = ["Layout", "check_margins", "margin_needed", "open_layout", "overlapping", "pixel_tables", "tile_rows"]

log = logging.getLogger(__name__)

Pixel = tuple[int, int]


@dataclass
class Layout:
    """A source's partitions: pixels of the catalogue and of its margin, the reader, an empty canonical frame."""

    source: PartitionedSource
    pixels: list[Pixel]
    margin_pixels: set[Pixel]
    margin_threshold: float | None
    empty: pd.DataFrame

    def file(self, pixel: Pixel, margin: bool = False) -> str:
        """The partition file of ``pixel`` (in the margin catalogue if ``margin``)."""
        from hats.io import paths
        from hats.pixel_math import HealpixPixel

        base = self.source.margin if margin else self.source.path
        return str(paths.pixel_catalog_file(base, HealpixPixel(*pixel)))


def _reader(src: PartitionedSource):
    reader = readers.get(src.reader)
    return reader.with_column_map(src.column_map) if src.column_map else reader


def _read_arrow(path: str, columns: list[str] | None = None):
    import pyarrow.parquet as pq

    try:
        if "://" in path:
            from upath import UPath

            with UPath(path).open("rb") as f:
                return pq.read_table(f, columns=columns)
        return pq.read_table(path, columns=columns)
    except (OSError, ValueError) as err:  # ArrowInvalid is a ValueError
        raise InputError(f"partition {path} cannot be read ({str(err).splitlines()[0]}): restore it from the "
                         "catalogue's source, or delete the import folder to import again") from None


def _canonical(src: PartitionedSource, table, path: str, keep_row: bool) -> pd.DataFrame:
    """The reader's canonical columns of one partition, with the spatial index (and the row number)."""
    extra = {c: table.column(c).to_numpy() for c in (SPATIAL_INDEX, ROW) if c in table.column_names}
    table = table.drop_columns([c for c in (SPATIAL_INDEX, ROW, TILE_BUCKET, "Norder", "Dir", "Npix")
                              if c in table.column_names])
    try:
        df = _reader(src).from_raw(raw_from_arrow(table, Path(path)))
    except InputError as err:
        raise InputError(f"partition {path}: {err}") from None
    except (TypeError, ValueError) as err:
        raise InputError(f"partition {path}: a column has the wrong type ({err}); fix this partition of "
                         f"[sample.sources.{src.name}] or import the source again") from None
    if SPATIAL_INDEX in extra:
        df[SPATIAL_INDEX] = extra[SPATIAL_INDEX].astype(np.int64)
    if keep_row:
        if ROW in extra:
            df[ROW] = extra[ROW].astype(np.int64)
        elif "source_id" in df:  # a catalogue not imported by ocfeh: its own order is the source_id's
            df[ROW] = df["source_id"].to_numpy(np.int64)
        else:
            df[ROW] = extra[SPATIAL_INDEX].astype(np.int64)
    if src.epoch is not None:
        df.attrs["epoch"] = src.epoch
    return df


def open_layout(src: PartitionedSource) -> Layout:
    """Read a source's partition lists (and its empty canonical frame) once."""
    if src.key == "tile":
        import pyarrow.dataset as ds

        dataset = ds.dataset(str(src.path), format="parquet", partitioning="hive")
        empty = _canonical(src, dataset.head(1), str(src.path), keep_row=False).iloc[:0].copy()
        return Layout(src, [], set(), None, empty)
    import hats

    cat = hats.read_hats(src.path)
    pixels = [(p.order, p.pixel) for p in cat.get_healpix_pixels()]
    margin_pixels, threshold = set(), None
    if src.margin is not None:
        with warnings.catch_warnings():  # a margin without partition_info.csv: hats lists its files
            warnings.filterwarnings("ignore", "Computing partitions", UserWarning)
            margin = hats.read_hats(src.margin)
        margin_pixels = {(p.order, p.pixel) for p in margin.get_healpix_pixels()}
        threshold = margin.catalog_info.margin_threshold
    layout = Layout(src, pixels, margin_pixels, threshold, pd.DataFrame())
    if pixels:  # the reader needs rows to size array columns: read one partition, keep none
        first = _canonical(src, _read_arrow(layout.file(pixels[0])), layout.file(pixels[0]), keep_row=True)
        layout.empty = first.iloc[:0].copy()
    return layout


def overlapping(pixels: list[Pixel], order: int, pixel: int) -> list[Pixel]:
    """Pixels of another partitioning that overlap ``(order, pixel)`` (ancestors, itself, descendants)."""
    out = []
    for o, p in pixels:
        if (o <= order and pixel >> (2 * (order - o)) == p) or (o > order and p >> (2 * (o - order)) == pixel):
            out.append((o, p))
    return out


def _concat(frames: list[pd.DataFrame], empty: pd.DataFrame) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty.copy()
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    out.attrs = dict(frames[0].attrs)
    return out


def _positional(layout: Layout, order: int, pixel: int, anchor: bool) -> pd.DataFrame:
    src = layout.source
    main = [(order, pixel)] if anchor else overlapping(layout.pixels, order, pixel)
    frames = []
    for pix in main:
        df = _canonical(src, _read_arrow(layout.file(pix)), layout.file(pix), keep_row=anchor)
        df[OWNED] = True if anchor else in_pixel(df[SPATIAL_INDEX], order, pixel)
        frames.append(df)
    for pix in main:
        if pix not in layout.margin_pixels:
            continue
        df = _canonical(src, _read_arrow(layout.file(pix, margin=True)), layout.file(pix, margin=True), keep_row=anchor)
        inside = np.zeros(len(df), bool)  # a margin row inside a partition read above is already there
        for o, p in main:
            inside |= in_pixel(df[SPATIAL_INDEX], o, p)
        df = df.loc[~inside]
        df[OWNED] = False
        frames.append(df)
    out = _concat(frames, layout.empty.assign(**{OWNED: pd.Series(dtype=bool)}))
    if not anchor:
        out = out.drop(columns=[ROW], errors="ignore")
    return out.drop(columns=[SPATIAL_INDEX])


def _by_source_id(layout: Layout, source_ids: np.ndarray) -> pd.DataFrame:
    """The rows of a source_id-keyed catalogue for the given ids (only the partitions that hold them)."""
    import pyarrow.compute as pc

    src = layout.source
    h29 = source_id_healpix29(source_ids)
    wanted = _arrow_ids(source_ids)
    frames = []
    for o, p in layout.pixels:
        if not in_pixel(h29, o, p).any():
            continue
        table = _read_arrow(layout.file((o, p)))
        table = table.filter(pc.is_in(table.column(src.native_key), value_set=wanted))
        frames.append(_canonical(src, table, layout.file((o, p)), keep_row=False))
    return _concat(frames, layout.empty).drop(columns=[SPATIAL_INDEX, ROW], errors="ignore")


def _arrow_ids(ids: np.ndarray):
    import pyarrow as pa

    return pa.array(np.asarray(ids, np.int64))


def tile_rows(layout: Layout, tiles: np.ndarray) -> pd.DataFrame:
    """The canonical rows of a tile-keyed source (the J-PLUS extinction) for the J-PLUS tiles ``tiles``."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    src = layout.source
    dataset = ds.dataset(str(src.path), format="parquet", partitioning="hive")
    field = dataset.schema.field(src.native_key)
    values = np.unique(np.asarray(tiles)[np.asarray(tiles) >= 0]).astype(np.int64)
    want = ds.field(src.native_key).isin(pa.array(values).cast(field.type))
    if TILE_BUCKET in dataset.schema.names:  # read only the buckets that hold these tiles
        buckets = pc.unique(tile_bucket(values))
        want &= ds.field(TILE_BUCKET).isin(buckets.cast(dataset.schema.field(TILE_BUCKET).type))
    table = dataset.to_table(filter=want)
    return _canonical(src, table, str(src.path), keep_row=False).drop(columns=[SPATIAL_INDEX, ROW], errors="ignore")


def pixel_tables(layouts: dict[str, Layout], anchor: str, pixel: Pixel) -> dict[str, pd.DataFrame]:
    """Every source's rows that anchor pixel ``pixel`` needs, canonical, ready for
    :func:`~ocfeh.sample.assembly.assemble` (the anchor's own rows carry :data:`ROW`)."""
    order, pix = pixel
    tables = {anchor: _positional(layouts[anchor], order, pix, anchor=True)}
    for name, layout in layouts.items():
        if name != anchor and layout.source.key == "position":
            tables[name] = _positional(layout, order, pix, anchor=False)
    base = tables[anchor]
    for name, layout in layouts.items():
        if layout.source.key == "source_id":
            if "source_id" not in base:
                raise InputError(f"[sample.sources.{name}] joins on source_id, which the {anchor} table lacks")
            tables[name] = _by_source_id(layout, base.loc[base[OWNED], "source_id"].to_numpy(np.int64))
        elif layout.source.key == "tile":
            jplus = tables.get("jplus", base)
            if "jplus_tile_id" not in jplus:
                raise InputError(f"[sample.sources.{name}] joins on the J-PLUS tile, which no positional table has")
            tables[name] = tile_rows(layout, jplus["jplus_tile_id"].to_numpy())
    return tables


def margin_needed(radii: list[float]) -> float:
    """The margin (arcsec) that makes a partition's chained mutual matches exact: twice the sum of the radii."""
    return 2.0 * float(sum(radii))


def check_margins(layouts: dict[str, Layout], radii: list[float]) -> None:
    """Raise when a positional source's margin is narrower than :func:`margin_needed`."""
    need = margin_needed(radii)
    for name, layout in layouts.items():
        if layout.source.key != "position" or layout.source.margin is None:
            continue
        if layout.margin_threshold is not None and layout.margin_threshold < need:
            raise InputError(f"[sample.sources.{name}] margin catalogue {layout.source.margin} is "
                             f"{layout.margin_threshold:g} arcsec wide; the matching radii need {need:g}: give a "
                             "wider margin (hats-import margin_threshold) or smaller [sample.crossmatch] radii")
