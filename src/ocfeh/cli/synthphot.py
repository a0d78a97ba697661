"""``ocfeh synth``: synthetic magnitudes of one star (a thin layer over :func:`ocfeh.synthphot.magnitudes`)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the ``synth`` command to the ``ocfeh`` app."""

    # a negative [Fe/H] such as -1.0 is an argument, not an unknown option
    @app.command("synth", context_settings={"ignore_unknown_options": True})
    def synth(
        teff: float = typer.Argument(..., help="Effective temperature [K]."),
        logg: float = typer.Argument(..., help="log10 surface gravity [cgs]."),
        feh: float = typer.Argument(..., help="[Fe/H] [dex] (negative values as they are: 5000 4.5 -1.0)."),
        a0: float = typer.Option(0.0, "--a0", help="Extinction A_0 at 541.4 nm [mag] (G23, R_V=3.1), >= 0."),
        radius: float = typer.Option(1.0, "--radius", help="Radius [R_sun], > 0."),
        distance: float = typer.Option(10.0, "--distance", help="Distance [pc] (10 = absolute magnitudes), > 0."),
        bands: str = typer.Option("all", "--bands", help="Band set (jplus, gaia, wise, gaia+wise, all) or comma list."),
    ) -> None:
        """Print synthetic magnitudes and A_band/A_0 of one star from the merged Kurucz+PHOENIX grid."""
        from rich.console import Console
        from rich.table import Table

        from ..bands import get_band
        from ..synthphot import extinction_coefficients, magnitudes

        # magnitudes() gives NaN for these (arrays may hold a few bad rows): one star gets a clear error
        if not a0 >= 0:
            raise typer.BadParameter(f"A_0 must be >= 0 mag, got {a0}", param_hint="--a0")
        if not distance > 0:
            raise typer.BadParameter(f"the distance must be > 0 pc, got {distance}", param_hint="--distance")
        if not radius > 0:
            raise typer.BadParameter(f"the radius must be > 0 R_sun, got {radius}", param_hint="--radius")
        sel = bands.split(",") if "," in bands else bands
        m = magnitudes(teff, logg, feh, a0=a0, radius=radius, distance=distance, bands=sel)
        k = extinction_coefficients(teff, logg, feh, a0=a0, bands=sel)
        if not bool(m["in_grid"][0]):
            raise typer.BadParameter(f"(Teff, log g, [Fe/H], A_0) = ({teff}, {logg}, {feh}, {a0}) is outside the model grid")
        table = Table("band", "system", "mag", "A_band/A_0")
        for name in [c for c in m.columns if c != "in_grid"]:
            table.add_row(name, get_band(name).system, f"{m[name][0]:.3f}", f"{k[name][0]:.3f}")
        Console().print(table)
