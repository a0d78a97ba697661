"""``ocfeh fetch`` downloads survey tables over one cone from the real archives (TAP)."""

from __future__ import annotations

from pathlib import Path

import typer

_SURVEY_HELP = "Survey to download (repeatable): jplus, gaia, catwise, hr23, lamost. Default: all."


def register(app: typer.Typer) -> None:
    @app.command("fetch")
    def fetch_cmd(
        ra: float = typer.Option(..., "--ra", help="Cone centre right ascension, ICRS (deg)."),
        dec: float = typer.Option(..., "--dec", help="Cone centre declination, ICRS (deg)."),
        radius: float = typer.Option(..., "--radius", help="Cone radius (deg)."),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder for the tables and fetch.json."),
        survey: list[str] | None = typer.Option(None, "--survey", "-s", help=_SURVEY_HELP),
        fmt: str = typer.Option("parquet", "--format", help="parquet or votable."),
        page_size: float = typer.Option(1.0, "--page-size", help="Largest side of one query page (deg)."),
        max_rows: int = typer.Option(100_000, "--max-rows", help="Row limit of one query; full pages are split."),
        cache_dir: Path | None = typer.Option(
            None, "--cache-dir", help="Cache folder (default $OCFEH_CACHE_DIR/tap or ~/.cache/ocfeh/tap)."
        ),
        no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the cache."),
        retries: int = typer.Option(4, "--retries", help="Retries of a transient failure."),
        timeout: float = typer.Option(120.0, "--timeout", help="Timeout of one request (s)."),
        service: list[str] | None = typer.Option(
            None, "--service", help="Override a TAP URL: NAME=URL with NAME in jplus, gaia, irsa, vizier."
        ),
        lamost_table: str | None = typer.Option(None, "--lamost-table", help="VizieR table of LAMOST parameters."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
    ) -> None:
        """Download J-PLUS DR3, Gaia DR3, CatWISE2020, HR23 and LAMOST tables over one cone (needs network)."""
        from pydantic import ValidationError

        from ..catalogs.tap import FetchConfig, fetch
        from ..exceptions import InputError

        urls = {}
        for item in service or []:
            name, sep, url = item.partition("=")
            if not sep:
                raise InputError(f"--service must look like NAME=URL (e.g. gaia=https://...). Got {item!r} instead.")
            urls[name.strip()] = url.strip()
        kwargs = {
            "ra_deg": ra, "dec_deg": dec, "radius_deg": radius, "format": fmt, "page_size_deg": page_size,
            "max_rows_per_query": max_rows, "cache_dir": cache_dir, "use_cache": not no_cache,
            "max_retries": retries, "timeout_s": timeout, "service_urls": urls, "overwrite": overwrite,
        }
        if survey:
            kwargs["surveys"] = survey
        if lamost_table:
            kwargs["lamost_table"] = lamost_table
        try:
            config = FetchConfig(**kwargs)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise InputError(f"bad value for {loc}: {first['msg']} (got {first.get('input')!r})") from None
        for name, path in fetch(config, out).items():
            typer.echo(f"{name}\t{path}")
