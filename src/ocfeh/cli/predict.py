"""``ocfeh predict``: the command-line face of :func:`ocfeh.predict.predict_table`."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the ``predict`` command to the ``ocfeh`` app."""

    @app.command("predict")
    def predict_cmd(
        model_dir: Path = typer.Argument(
            ..., help="A model directory (RUN_DIR/model: model cards, LightGBM models, calibration) or a named "
                      "model (apogee-xp, see `ocfeh build-model`)."),
        inputs: list[Path] = typer.Argument(..., help="Tables (Parquet/CSV/FITS) or Parquet/HATS directories."),
        output: Path = typer.Option(..., "--output", "-o", help="A .parquet file, or a directory of parts."),
        scheduler: str | None = typer.Option(
            None, "--scheduler", help="Dask scheduler address (tcp://host:8786) or 'local'; default in-process."),
        chunk_size: int = typer.Option(200_000, "--chunk-size", help="Stars per chunk (memory ~1 kB/star)."),
        n_draws: int = typer.Option(0, "--n-draws", help="Monte Carlo draws per star (0 = conformal only)."),
        seed: int = typer.Option(0, "--seed", help="Seed of the Monte Carlo draws."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
        no_resume: bool = typer.Option(False, "--no-resume", help="Refuse to continue a partial output."),
        no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
        zero_points: Path | None = typer.Option(
            None, "--zero-points", help="A run's zero_points.csv: remove its per-tile J-PLUS offsets first."),
        n_threads: int | None = typer.Option(
            None, "--n-threads", min=1,
            help="Tree threads per chunk (default min(2, cores)); --scheduler local runs cores // n_threads "
                 "chunks at once."),
        min_bands: int | None = typer.Option(
            None, "--min-bands", min=0,
            help="Stars that miss bands, a distance or A_0 get a gap-model prediction when they keep this many "
                 "bands (default 6; 0: complete stars only)."),
        shift: str = typer.Option(
            "check", "--shift",
            help="check: compare the inputs with the validation stars and write the expected coverage to "
                 "OUTPUT.shift.json; weighted: also rescale the intervals (weighted conformal); off."),
        keep_columns: str | None = typer.Option(
            None, "--keep-columns",
            help="Comma list of input columns copied to the output row by row (default: the ID-like columns, "
                 "*_id, *_name, designation)."),
        skip_bad_lines: bool = typer.Option(
            False, "--skip-bad-lines", help="Skip (and count) CSV lines with another number of fields than the header."),
        min_predicted: float = typer.Option(
            0.1, "--min-predicted", min=0.0, max=1.0,
            help="Exit with an error (status 2, the output is still written) when fewer than this share of the "
                 "stars get a prediction."),
    ) -> None:
        """Predict Teff, log g and [Fe/H] with 68/95% intervals and OOD flags, chunk by chunk (resumable)."""
        from rich.console import Console
        from rich.markup import escape

        from ..pipeline.named_models import model_dir_of
        from ..predict import predict_table

        res = predict_table(
            model_dir_of(model_dir), inputs, output, chunk_size=chunk_size, resume=not (no_resume or overwrite),
            overwrite=overwrite, n_draws=n_draws, seed=seed, scheduler=scheduler, progress=not no_progress,
            zero_points=zero_points, n_threads=n_threads, shift=shift, skip_bad_lines=skip_bad_lines,
            keep_columns=None if keep_columns is None else [c.strip() for c in keep_columns.split(",") if c.strip()],
            min_predicted=0.0, **({} if min_bands is None else {"min_bands": min_bands}),
        )
        if res.n_predicted < 0:  # the output was already complete for these inputs and options
            Console(stderr=True).print(f"{res.output} is complete ({res.n_rows} stars): nothing to do")
            return
        Console(stderr=True).print(
            f"{res.n_rows} stars -> {res.output} ({res.n_predicted} predicted, {res.n_rejected} without "
            f"prediction, {res.n_chunks} chunks, {res.n_resumed} resumed) in {res.seconds:.1f} s"
        )
        if res.n_rows and res.n_predicted < min_predicted * res.n_rows:
            Console(stderr=True).print(f"[bold red]error:[/] {escape(res.shortfall(min_predicted))}", soft_wrap=True,
                                       highlight=False)
            raise typer.Exit(2)
