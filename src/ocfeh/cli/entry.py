"""The ``ocfeh`` command line: a thin layer over the Python API; every command module is registered here."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table

from ..bands import band_set as resolve_band_set
from ..bands import get_band
from ..exceptions import Interrupted, OcfehError
from ..provenance import versions
from . import clusters, datasets, fetch, predict, run, sample, simulate, synthphot, train

app = typer.Typer(
    help="Teff, log g and [Fe/H] from J-PLUS + Gaia + WISE photometry, and open-cluster metallicities.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # help texts name config sections such as [run]: print them, not as markup
)
console = Console(stderr=True)
_state = {"debug": False}


def _print_version(value: bool) -> None:
    if value:
        Console().print(f"ocfeh {versions()['ocfeh']}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details."),
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version of ocfeh and exit."),
) -> None:
    _state["debug"] = debug
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
        force=True,
    )


@app.command("show-versions")
def show_versions() -> None:
    """Print the versions of ocfeh, its libraries and its data distributions (for bug reports)."""
    table = Table("package", "version")
    for name, ver in versions().items():
        table.add_row(name, ver)
    Console().print(table)


@app.command("bands")
def bands_cmd(band_set: str = typer.Argument(
        "all", help="Band set (jplus, gaia, wise, gaia+wise, all) or comma list (G,BP).")) -> None:
    """List the bands of a set with survey, magnitude system and wavelengths from their curves."""
    table = Table("band", "survey", "system", "pivot [AA]", "mean [AA]")
    for name in resolve_band_set([b.strip() for b in band_set.split(",")] if "," in band_set else band_set):
        b = get_band(name)
        table.add_row(b.name, b.survey, b.system, f"{b.pivot_wavelength_aa:.1f}", f"{b.mean_wavelength_aa:.1f}")
    Console().print(table)


@app.command("demo")
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Run directory."),
    small: bool = typer.Option(False, "--small", help="A profile of a few minutes (for tests)."),
    full: bool = typer.Option(False, "--full", help="The poster-scale profile (long)."),
    dataset: str = typer.Option("mock", "--dataset", help="mock (the mock sky) or apogee-xp (real APOGEE stars)."),
    seed: int = typer.Option(42, "--seed", help="The random seed."),
    from_stage: Optional[str] = typer.Option(None, "--from", help="Redo this stage and all after it."),
) -> None:
    """Run the whole method on the embedded default (the mock sky) into one run directory."""
    from ..pipeline import demo as run_demo

    if small and full:
        raise typer.BadParameter("choose one of --small and --full")
    profile = "small" if small else "full" if full else "default"
    result = run_demo(profile, dataset, seed, out, from_stage=from_stage)
    Console().print(f"report: {result.run_dir / 'report.html'}")


for _module in (synthphot, simulate, sample, fetch, train, predict, clusters, run, datasets):  # `--help` lists them so
    _module.register(app)


def main() -> None:
    """Entry point: one-line errors with a non-zero exit; ``--debug`` shows the traceback."""
    try:
        app()
    except Interrupted as exc:  # Ctrl-C in a stage or a prediction: what stopped, and that a rerun resumes
        if _state["debug"]:
            raise
        console.print(f"[bold red]interrupted:[/] {escape(str(exc))}", soft_wrap=True, highlight=False)
        sys.exit(130)
    except (OcfehError, OSError, ValueError, KeyError) as exc:
        if _state["debug"]:
            raise
        # messages name config sections such as [sample.cuts]: print them literally, not as rich markup
        console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True, highlight=False)
        sys.exit(1)
