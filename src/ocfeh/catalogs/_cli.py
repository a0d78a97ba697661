"""``ocfeh sample CONFIG.toml``: build the training sample into the run directory; ``ocfeh readers``."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the ``sample`` and ``readers`` commands to the ``ocfeh`` CLI."""

    @app.command("sample")
    def sample_cmd(
        config: Path = typer.Argument(..., help="Run TOML with a [sample] section ([sample.sources] etc.)."),
        out: Path | None = typer.Option(None, "--out", "-o", help="Run directory (default: [run] out)."),
    ) -> None:
        """Read the survey tables, cross-match, cut and split: writes sample.parquet and cleaning.csv."""
        import pandas as pd
        from rich.console import Console
        from rich.table import Table

        from ..sample import build_sample

        paths = build_sample(config, run_dir=out)
        cleaning = pd.read_csv(paths.cleaning, keep_default_na=False)
        table = Table("step", "n_remaining", "fraction", "note", title="cleaning (the poster's Table 1)")
        for row in cleaning.itertuples(index=False):
            table.add_row(str(row.step), str(row.n_remaining), f"{row.fraction:.3f}", str(row.note))
        console = Console()
        console.print(table)
        console.print(f"wrote {paths.sample}, {paths.cleaning} and {paths.meta}")

    @app.command("readers")
    def readers_cmd() -> None:
        """List the registered survey readers (names for [sample.sources.*] reader = ...)."""
        from rich.console import Console
        from rich.table import Table

        from . import readers

        table = Table("reader", "epoch", "columns", "description")
        for row in readers.describe().itertuples(index=False):
            table.add_row(row.reader, "" if pd_isna(row.epoch) else f"{row.epoch:g}", str(row.n_columns),
                          row.description)
        Console().print(table)


def pd_isna(value) -> bool:
    import math

    return value is None or (isinstance(value, float) and math.isnan(value))
