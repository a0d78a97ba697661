"""CLI: ``ocfeh train CONFIG.toml`` and ``ocfeh evaluate RUN_DIR``."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train_cmd(
        config: Path = typer.Argument(..., help="A TOML config ([run], [features], [selection], [model])."),
        out: Path | None = typer.Option(None, "--out", "-o", help="Run directory (overrides [run] out)."),
    ) -> None:
        """Select features, tune, train and calibrate one model per target: RUN_DIR/sample.parquet -> RUN_DIR/model/.

        The pipeline's train stage alone (`ocfeh run` runs every stage).
        """
        from .pipeline import run

        result = run(config, out=out, only="train")
        typer.echo(result.run_dir / "model")

    @app.command("evaluate")
    def evaluate_cmd(run_dir: Path = typer.Argument(..., help="A run directory with sample.parquet and model/.")) -> None:
        """Blind-test metrics (RUN_DIR/metrics.json) and model figures (RUN_DIR/figures/)."""
        from .evaluate import evaluate_run

        typer.echo(evaluate_run(run_dir))
