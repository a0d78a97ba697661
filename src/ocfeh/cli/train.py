"""``ocfeh train CONFIG.toml`` and ``ocfeh evaluate RUN_DIR``: the train and evaluate stages of a run."""

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
        from ..pipeline import run

        result = run(config, out=out, only="train")
        typer.echo(result.run_dir / "model")

    @app.command("evaluate")
    def evaluate_cmd(run_dir: Path = typer.Argument(..., help="A run directory with sample.parquet and model/.")) -> None:
        """Blind-test metrics (RUN_DIR/metrics.json) and model figures (RUN_DIR/figures/)."""
        import json

        from rich.console import Console
        from rich.table import Table

        from ..evaluate import evaluate_run
        from ..pipeline import run_stage

        if run_stage(run_dir, "evaluate") is None:  # not a run's directory: the files alone
            evaluate_run(run_dir)
        path = Path(run_dir) / "metrics.json"
        metrics = json.loads(path.read_text())
        table = Table("target", "n", "MAE", "bias", "robust scatter", "MAE vs truth", "68% / 95% coverage",
                      title=f"blind test ({path})")
        for t in ("teff", "logg", "feh"):
            m = metrics.get(t)
            if isinstance(m, dict) and "mae" in m:
                cov = f"{m['coverage_68']:.2f} / {m['coverage_95']:.2f}" if "coverage_68" in m else ""
                table.add_row(t, str(m.get("n", "")), f"{m['mae']:.4g}", f"{m['bias']:+.3g}",
                              f"{m['robust_scatter']:.4g}", f"{m['mae_true']:.4g}" if "mae_true" in m else "", cov)
        Console().print(table)

    @app.command("build-model")
    def build_model(
        name: str = typer.Argument(..., help="The model's name: apogee-xp (real APOGEE stars)."),
        small: bool = typer.Option(False, "--small", help="A profile of minutes (for trials; less accurate)."),
        rebuild: bool = typer.Option(False, "--rebuild", help="Train again from scratch."),
    ) -> None:
        """Train a named model on real labelled stars once; ocfeh.load_model(NAME) and `ocfeh predict NAME`
        then use it."""
        from rich.console import Console

        from ..pipeline.named_models import RELEASE_CARD, build_named_model

        model_dir = build_named_model(name, "small" if small else "default", rebuild=rebuild)
        Console(stderr=True).print(f"{name} model: {model_dir} (blind test in {model_dir / RELEASE_CARD})")
