"""``ocfeh clusters RUN_DIR``: cluster [Fe/H] and isochrone parameters into ``clusters.csv``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    """Add the ``clusters`` command to the ocfeh CLI."""

    @app.command("clusters")
    def clusters_cmd(
        run_dir: Path = typer.Argument(..., help="Run directory holding predictions.parquet and a members table."),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="TOML config ([clusters], [run] seed); default: the run's own (RUN_DIR/config.json)."),
        members: Optional[Path] = typer.Option(None, "--members", help="Members table (cluster/Name, source_id/GaiaDR3, member_prob/Prob)."),
        stars: Optional[Path] = typer.Option(None, "--stars", help="Star table with photometry / truth (default RUN_DIR/catalog.parquet)."),
        clusters: Optional[Path] = typer.Option(None, "--clusters", help="Cluster table (names, truth)."),
        predictions: Optional[Path] = typer.Option(None, "--predictions", help="Predictions file or directory (default RUN_DIR/predictions.parquet)."),
        model: Optional[Path] = typer.Option(None, "--model", help="Model directory for the age offset "
                                             "(default RUN_DIR/model)."),
        training: Optional[Path] = typer.Option(None, "--training", help="Labelled sample with a split column "
                                                "(default RUN_DIR/sample.parquet)."),
        no_isochrones: bool = typer.Option(False, "--no-isochrones", help="Skip the isochrone fits."),
        figures: Optional[str] = typer.Option(None, "--figures", help="png, pdf or none."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (default: [run] seed)."),
    ) -> None:
        """Cluster metallicities (median, hierarchical MCMC) and isochrone fits -> RUN_DIR/clusters.csv.

        Without options, on a run directory: the run's own cluster stage (its config and tables).
        """
        from rich.console import Console
        from rich.table import Table

        from ..clusters import ClusterInputs, run_clusters
        from ..exceptions import InputError
        from ..pipeline import load_config, run_config, run_stage

        given = (config, members, stars, clusters, predictions, training, model, figures, seed)
        if all(v is None for v in given) and not no_isochrones and run_stage(run_dir, "clusters") is not None:
            out = run_dir / "clusters.csv"  # the run's own cluster stage, with its config and tables
        else:
            over = {k: v for k, v in (("isochrones", False if no_isochrones else None), ("figures", figures))
                    if v is not None}
            cfg = load_config(config, clusters=over) if config is not None else run_config(run_dir, clusters=over)
            if members is None:
                raise InputError(f"{run_dir}: no members table: pass --members (HR23 members or a table with cluster, "
                                 "source_id and member_prob), or run the clusters stage of a run (`ocfeh run`)")
            inputs = ClusterInputs.of_run(run_dir, members=members, clusters=clusters, stars=stars,
                                          predictions=predictions, training=training, model=model)
            out = run_clusters(run_dir, inputs, cfg.section("clusters"), seed if seed is not None else cfg.run.seed)
        import pandas as pd

        df = pd.read_csv(out)
        table = Table("cluster", "n", "median", "MCMC [16, 84]", "log age", "age offset", "flags", title=str(out))
        for _, r in df.head(30).iterrows():
            table.add_row(str(r["cluster"]), str(r["n_members_used"]), f"{r['feh_median']:+.3f}",
                          f"{r['feh_mcmc']:+.3f} [{r['feh_mcmc_p16']:+.3f}, {r['feh_mcmc_p84']:+.3f}]",
                          f"{r['iso_log_age']:.2f}", f"{r['feh_age_offset']:+.3f}", str(r["flags"]) if pd.notna(r["flags"]) else "")
        Console().print(table)
