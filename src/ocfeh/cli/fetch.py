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
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Output folder for the tables and fetch.json (not needed with --check/--dry-run)."
        ),
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
        lamost_table: str | None = typer.Option(
            None, "--lamost-table", help="VizieR table of LAMOST parameters (default V/164/stellar5, DR5)."
        ),
        cluster: list[str] | None = typer.Option(
            None, "--cluster", help="HR23 cluster to fetch (repeatable; e.g. NGC_2682). Default: all in the cone."
        ),
        column: list[str] | None = typer.Option(
            None, "--column", help="A service column name that differs from ocfeh's: PRODUCT.KEY=NAME (repeatable)."
        ),
        check: bool = typer.Option(
            False, "--check", help="Only compare every table and column with the services' TAP_SCHEMA."
        ),
        dry_run: bool = typer.Option(
            False, "--dry-run", help="Print the ADQL of every page and its row count (COUNT(*)); fetch no rows."
        ),
        no_check: bool = typer.Option(False, "--no-check", help="Fetch without the TAP_SCHEMA check."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
    ) -> None:
        """Download J-PLUS DR3, Gaia DR3, CatWISE2020, HR23 and LAMOST tables over one cone (needs network).

        Every table and column is first checked against the service's TAP_SCHEMA; --check does only
        that, --dry-run prints the queries and their row counts.
        """
        from pydantic import ValidationError

        from ..catalogs.tap import FetchConfig, check_report, dry_run_report, fetch
        from ..exceptions import InputError

        urls = {name: url for name, url in (_pair(item, "--service", "NAME=URL (e.g. gaia=https://...)")
                                            for item in service or [])}
        columns: dict[str, dict[str, str]] = {}
        for item in column or []:
            key, name = _pair(item, "--column", "PRODUCT.KEY=NAME (e.g. jplus.prob_star=total_prob_star)")
            product, dot, key = key.partition(".")
            if not dot:
                raise InputError(f"--column must look like PRODUCT.KEY=NAME. Got {item!r} instead.")
            columns.setdefault(product, {})[key] = name
        kwargs = {
            "ra_deg": ra, "dec_deg": dec, "radius_deg": radius, "format": fmt, "page_size_deg": page_size,
            "max_rows_per_query": max_rows, "cache_dir": cache_dir, "use_cache": not no_cache,
            "max_retries": retries, "timeout_s": timeout, "service_urls": urls, "overwrite": overwrite,
            "clusters": list(cluster or []), "columns": columns, "check_schema": not no_check,
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
        if check or dry_run:
            ok, text = check_report(config) if check else dry_run_report(config)
            typer.echo(text)
            if not ok:
                raise typer.Exit(1)
            return
        if out is None:
            raise InputError("ocfeh fetch needs an output folder: pass --out DIR (or -o DIR).")
        for name, path in fetch(config, out).items():
            typer.echo(f"{name}\t{path}")


def _pair(item: str, option: str, form: str) -> tuple[str, str]:
    from ..exceptions import InputError

    name, sep, value = item.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise InputError(f"{option} must look like {form}. Got {item!r} instead.")
    return name.strip(), value.strip()
