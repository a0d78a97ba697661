"""``ocfeh sample CONFIG.toml``: build the training sample into the run directory; ``ocfeh convert``,
``ocfeh readers``."""

from __future__ import annotations

import math
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the ``sample``, ``convert`` and ``readers`` commands to the ``ocfeh`` CLI."""

    @app.command("sample")
    def sample_cmd(
        config: Path = typer.Argument(..., help="Run TOML with a [sample] section ([sample.sources] etc.)."),
        out: Path | None = typer.Option(None, "--out", "-o", help="Run directory (default: [run] out)."),
        scheduler: str | None = typer.Option(
            None, "--scheduler", help="Dask scheduler address (tcp://host:8786) for [sample] engine = \"hats\" "
            "(overrides [run] scheduler)."),
    ) -> None:
        """Read the survey tables, cross-match, cut and split: RUN_DIR/sample.parquet, cleaning.csv, catalog.parquet
        (catalog/, a HATS catalogue, with [sample] engine = "hats").

        The pipeline's sample stage alone (the mock sky must be simulated first; `ocfeh run` runs every stage).
        """
        import pandas as pd
        from rich.console import Console
        from rich.table import Table

        from ..pipeline import load_config, run

        cfg = load_config(config, run={"scheduler": scheduler}) if scheduler else config
        run_dir = run(cfg, out=out, only="sample").run_dir
        console = Console()
        if (run_dir / "cleaning.csv").is_file():
            cleaning = pd.read_csv(run_dir / "cleaning.csv", keep_default_na=False)
            table = Table("step", "n_remaining", "fraction", "note", title="cleaning (the poster's Table 1)")
            for row in cleaning.itertuples(index=False):
                table.add_row(str(row.step), str(row.n_remaining), f"{row.fraction:.3f}", str(row.note))
            console.print(table)
        console.print(f"wrote {run_dir / 'sample.parquet'} and its companions in {run_dir}")

    @app.command("convert")
    def convert_cmd(
        path: Path = typer.Argument(
            ..., help="A survey's table (FITS, Parquet, CSV, VOTable, ECSV) in its native columns."),
        reader: str = typer.Option(..., "--reader", "-r", help="Reader name (see `ocfeh readers`)."),
        output: Path = typer.Option(..., "--output", "-o", help="The canonical table to write (.parquet)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
        format: str | None = typer.Option(None, "--format", help="fits, parquet, csv, votable or ecsv "
                                          "(default: from the suffix)."),
        column_map: list[str] | None = typer.Option(
            None, "--column-map", help="canonical=native for a renamed column, e.g. teff=TEFF_SPEC (repeatable)."),
    ) -> None:
        """Map a survey's native columns onto the canonical schema (mag_<band>, mag_err_<band>, ...)."""
        from rich.console import Console

        from ..exceptions import InputError
        from ..sample import convert_table

        mapping = {}
        for item in column_map or []:
            canonical, sep, native = item.partition("=")
            if not sep or not canonical.strip() or not native.strip():
                raise InputError(f"--column-map {item!r}: give canonical=native, e.g. teff=TEFF_SPEC")
            mapping[canonical.strip()] = native.strip()
        df, adopted = convert_table(path, reader, output, format=format, column_map=mapping or None,
                                    overwrite=overwrite)
        note = "".join(f"; {k} from {v}" for k, v in adopted.items())
        Console(stderr=True).print(f"{len(df)} rows, {df.shape[1]} canonical columns{note} -> {output}")

    @app.command("readers")
    def readers_cmd() -> None:
        """List the registered survey readers (names for [sample.sources.*] reader = ...)."""
        from rich.console import Console
        from rich.table import Table

        from ..catalogs import readers

        table = Table("reader", "epoch", "columns", "description")
        for row in readers.describe().itertuples(index=False):
            table.add_row(row.reader, "" if _isna(row.epoch) else f"{row.epoch:g}", str(row.n_columns),
                          row.description)
        Console().print(table)
        from ..catalogs.archive_columns import ARCHIVE

        fetched = Table("ocfeh fetch product", "release", "service tables", "note", title="What ocfeh fetch downloads")
        for names in ARCHIVE.values():
            fetched.add_row(names.product, names.release, ", ".join(t.name for t in names.tables), names.note)
        Console().print(fetched)


def _isna(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
