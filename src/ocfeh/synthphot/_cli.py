"""``ocfeh synth``: synthetic magnitudes of one star (a thin layer over :func:`ocfeh.synthphot.magnitudes`)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the ``synth`` command to the ``ocfeh`` app."""

    @app.command("synth")
    def synth(
        teff: float = typer.Argument(..., help="Effective temperature [K]."),
        logg: float = typer.Argument(..., help="log10 surface gravity [cgs]."),
        feh: float = typer.Argument(..., help="[Fe/H] [dex]."),
        a0: float = typer.Option(0.0, "--a0", help="Extinction A_0 at 541.4 nm [mag] (G23, R_V=3.1)."),
        radius: float = typer.Option(1.0, "--radius", help="Radius [R_sun]."),
        distance: float = typer.Option(10.0, "--distance", help="Distance [pc] (10 = absolute magnitudes)."),
        bands: str = typer.Option("all", "--bands", help="Band set (jplus, gaia, wise, gaia+wise, all) or comma list."),
    ) -> None:
        """Print synthetic magnitudes and A_band/A_0 of one star from the merged Kurucz+PHOENIX grid."""
        from rich.console import Console
        from rich.table import Table

        from ..bands import get_band
        from . import extinction_coefficients, magnitudes

        sel = bands.split(",") if "," in bands else bands
        m = magnitudes(teff, logg, feh, a0=a0, radius=radius, distance=distance, bands=sel)
        k = extinction_coefficients(teff, logg, feh, a0=a0, bands=sel)
        if not bool(m["in_grid"][0]):
            raise typer.BadParameter(f"(Teff, log g, [Fe/H], A_0) = ({teff}, {logg}, {feh}, {a0}) is outside the model grid")
        table = Table("band", "system", "mag", "A_band/A_0")
        for name in [c for c in m.columns if c != "in_grid"]:
            table.add_row(name, get_band(name).system, f"{m[name][0]:.3f}", f"{k[name][0]:.3f}")
        Console().print(table)
