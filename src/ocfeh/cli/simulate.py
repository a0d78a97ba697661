"""``ocfeh simulate``: write a mock sky (thin layer over :func:`ocfeh.simulate.simulate_sky`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    """Add the ``simulate`` command to the ocfeh CLI."""

    @app.command("simulate")
    def simulate(
        out: Path = typer.Option(..., "--out", "-o", help="Output directory (must be empty unless --overwrite)."),
        config: Optional[Path] = typer.Option(
            None, "--config", "-c", help="A run config: simulate the sky that `ocfeh run` would (its profile, seed "
            "and [simulate]) into OUT/sources, OUT being the run directory; the other options are then not used."),
        small: bool = typer.Option(
            False, "--small", help="The small profile: 12,000 stars in seconds, for tests; too few labels to "
            "train on (for the sky `ocfeh demo --small` trains on, use --config with [run] profile = \"small\")."),
        full: bool = typer.Option(False, "--full", help="The poster-scale profile (~90k labels after cuts; minutes)."),
        profile: str = typer.Option("default", "--profile", help="Size profile: small, default, full."),
        n_stars: Optional[int] = typer.Option(None, "--n-stars", help="Field stars to generate (100 .. 2e7)."),
        seed: int = typer.Option(42, "--seed", help="Random seed."),
        fits: bool = typer.Option(False, "--fits", help="Also write FITS copies of every table."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Allow a non-empty output directory."),
    ) -> None:
        """Simulate a J-PLUS + Gaia + CatWISE + LAMOST + HR23-like sky with a known truth."""
        import json

        from rich.console import Console
        from rich.table import Table

        from ..exceptions import InputError
        from ..simulate import simulate_sky

        if config is not None:  # the pipeline's own stage: the run's sky, stamped for `ocfeh sample` / `ocfeh run`
            from ..pipeline import run

            run(config, out=out, only="simulate")
            out = out / "sources"
            paths = {"manifest": out / "manifest.json"}
            paths.update({k: out / v for k, v in json.loads(paths["manifest"].read_text()).get("files", {}).items()})
        elif small and full:
            raise InputError("--small and --full exclude each other")
        else:
            profile = "small" if small else "full" if full else profile
            paths = simulate_sky(out, n_stars=n_stars, profile=profile, seed=seed, fits=fits, overwrite=overwrite)
        counts = json.loads(Path(paths["manifest"]).read_text())["row_counts"]
        table = Table("table", "file", "rows")
        for key, n in counts.items():
            table.add_row(key, Path(paths[key]).name, str(n))
        Console().print(table)
