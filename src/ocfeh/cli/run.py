"""``ocfeh run CONFIG``, ``ocfeh config`` and ``ocfeh report RUN_DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run_cmd(
        config: Path = typer.Argument(..., help="A TOML config (see examples/config.toml)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (overrides [run] out)."),
        from_stage: Optional[str] = typer.Option(None, "--from", help="Redo this stage and all after it."),
        scheduler: Optional[str] = typer.Option(
            None, "--scheduler", help="Dask scheduler address (tcp://host:8786) for the sample stage of [sample] "
            "engine = \"hats\" and for the predict stage (overrides [run] scheduler)."),
    ) -> None:
        """Run every stage of the method into one run directory; unchanged stages are skipped."""
        from ..pipeline import load_config, run

        run(load_config(config, run={"scheduler": scheduler}) if scheduler else config, out=out, from_stage=from_stage)

    @app.command("config")
    def config_cmd(check: Optional[Path] = typer.Option(None, "--check", help="Validate this TOML instead.")) -> None:
        """Print a complete commented config (every option with its default), or validate one."""
        from ..pipeline import check_run_config, example_toml, load_config

        if check is None:
            typer.echo(example_toml())
        else:
            stages = check_run_config(load_config(check))
            typer.echo(f"{check}: valid (stages: {', '.join(stages)})")

    @app.command("report")
    def report_cmd(run_dir: Path = typer.Argument(..., help="A run directory.")) -> None:
        """Write RUN_DIR/report.html from the files of a run."""
        from ..pipeline import run_stage
        from ..report import write_report

        typer.echo(run_dir / "report.html" if run_stage(run_dir, "report") else write_report(run_dir))
