"""A hats-import reader that numbers the rows it reads (the in-memory order) and, for tables keyed on a Gaia
``source_id``, adds the HATS spatial index the ``source_id`` encodes."""

from __future__ import annotations

import numpy as np
from hats_import.catalog.file_readers import InputReader

from .keys import ROW, SPATIAL_INDEX, source_id_healpix29

__all__ = ["NumberedReader"]


class NumberedReader(InputReader):
    """Wrap a hats-import reader: add :data:`ROW` and, with ``healpix_from``, ``_healpix_29`` from that column.

    Parameters
    ----------
    inner : InputReader
        The reader of the file format (hats-import's own).
    files : list of str
        The input files, in order (their index is the high part of :data:`ROW`).
    healpix_from : str, optional
        A Gaia ``source_id`` column to derive the spatial index from.
    """

    def __init__(self, inner: InputReader, files: list[str], healpix_from: str | None = None):
        self.inner = inner
        self.files = [str(f) for f in files]
        self.healpix_from = healpix_from

    def read(self, input_file, read_columns=None):
        import pyarrow as pa

        index = self.files.index(str(input_file))
        columns = read_columns
        if columns is not None and self.healpix_from:
            columns = [self.healpix_from if c == SPATIAL_INDEX else c for c in columns]
        start = 0
        for chunk in self.inner.read(input_file, read_columns=columns):
            table = chunk if isinstance(chunk, pa.Table) else pa.Table.from_pandas(chunk, preserve_index=False)
            n = table.num_rows
            if self.healpix_from:
                sid = table.column(self.healpix_from).to_numpy(zero_copy_only=False)
                table = table.append_column(SPATIAL_INDEX, pa.array(source_id_healpix29(sid)))
                if read_columns is not None and self.healpix_from not in read_columns:
                    table = table.drop_columns([self.healpix_from])
            if read_columns is None or ROW in read_columns:
                table = table.append_column(ROW, pa.array(np.int64(index) * 2**40 + start + np.arange(n, dtype=np.int64)))
            start += n
            yield table
