"""Archive queries for users with network access: ``ocfeh fetch`` as a Python API.

:func:`fetch` downloads, for one cone on the sky, the tables the method needs (J-PLUS DR3 from the
CEFCA archive, Gaia DR3 + astrophysical parameters + Bailer-Jones distances from the Gaia archive,
CatWISE2020 from IRSA, Hunt & Reffert 2023 clusters and members and LAMOST stellar parameters from
VizieR), page by page (RA/Dec boxes, refined when a page reaches the row limit), de-duplicated,
with retries and a local cache, after a check of every table and column against the services' own
TAP_SCHEMA (:mod:`~ocfeh.catalogs.tap_schema`), into Parquet or VOTable files with the surveys' native column names,
which the readers of :mod:`ocfeh.catalogs` read like a user's own downloads.

No test contacts a real archive: the tests run a small TAP server on 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..exceptions import ArchiveError, InputError
from ..provenance import atomic_path, new_dir, provenance, write_json
from .tap_adql import PRODUCTS, SURVEYS, Box, Cone, Product, tile_cone
from .tap_client import OVERFLOW_KEY, TapClient
from .tap_config import FetchConfig, default_cache_dir, product_names, tap_client
from .tap_plan import (
    check,
    check_report,
    dry_run,
    dry_run_report,
    product_options,
    resolve_clusters,
    walk_pages,
)

if TYPE_CHECKING:  # pragma: no cover
    from astropy.table import Table

__all__ = [
    "PRODUCTS",
    "SURVEYS",
    "ArchiveError",
    "Cone",
    "FetchConfig",
    "FetchResult",
    "check",
    "check_report",
    "default_cache_dir",
    "dry_run",
    "dry_run_report",
    "fetch",
    "fetch_product",
]

log = logging.getLogger(__name__)

_SUFFIX = {"parquet": ".parquet", "votable": ".vot"}


@dataclass
class FetchResult:
    """What one product's download did.

    Attributes
    ----------
    table : astropy.table.Table
        The de-duplicated rows (native column names).
    n_queries : int
        Page queries answered (from the archive or the cache).
    n_split : int
        Pages split in four because they reached ``max_rows_per_query``.
    n_duplicates : int
        Rows dropped because two pages returned them.
    queries : list of str
        The ADQL of every page, in order.
    """

    table: Table
    n_queries: int = 0
    n_split: int = 0
    n_duplicates: int = 0
    queries: list[str] = field(default_factory=list)


def _dedup(table: Table, key_cols: tuple[str, ...]) -> tuple[Table, int]:
    """Drop rows repeated on the key columns (all columns if none of the keys is present)."""
    import numpy as np

    keys = [k for k in key_cols if k in table.colnames] or [
        c for c in table.colnames if table[c].ndim == 1
    ]
    if len(table) == 0:
        return table, 0
    seen: dict[tuple, int] = {}
    cols = [np.asarray(table[k]).tolist() for k in keys]
    keep = []
    for i, row in enumerate(zip(*cols)):
        if row not in seen:
            seen[row] = i
            keep.append(i)
    return table[keep], len(table) - len(keep)


def fetch_product(
    product: Product | str,
    config: FetchConfig,
    client: TapClient | None = None,
    *,
    clusters: tuple[str, ...] = (),
) -> FetchResult:
    """Download one product over the config's cone, page by page.

    Parameters
    ----------
    product : Product or str
        An entry (or key) of :data:`ocfeh.catalogs.tap_adql.PRODUCTS`.
    config : FetchConfig
        Region, paging, retry and cache settings.
    client : TapClient, optional
        A client to reuse (default: one for the product's service built from ``config``).
    clusters : tuple of str
        HR23's exact cluster names to restrict the HR23 products to (:func:`resolve_clusters`).

    Returns
    -------
    FetchResult

    Raises
    ------
    ArchiveError
        When the archive fails for good, or a page still reaches the row limit (or the service's
        own limit, marked OVERFLOW) after ``max_split_depth`` splits, or paging would exceed
        ``max_queries``.
    """
    from astropy.table import Table, vstack

    if isinstance(product, str):
        if product not in PRODUCTS:
            raise InputError(f"Unknown product {product!r}; valid: {', '.join(PRODUCTS)}.")
        product = PRODUCTS[product]
    client = client or tap_client(config, product.service)
    options = product_options(product, config, clusters)
    maxrec = config.max_rows_per_query
    log.info("%s: %d page(s) of <= %g deg from %s", product.name, len(tile_cone(config.cone, config.page_size_deg)),
             config.page_size_deg, client.url)
    res = FetchResult(table=Table())

    def probe(box: Box) -> tuple[bool, Table]:
        query = product.build(config.cone, box, **options)
        res.queries.append(query)
        res.n_queries += 1
        page = client.run(query, maxrec=maxrec)
        full = len(page) >= maxrec or bool(page.meta.get(OVERFLOW_KEY))
        res.n_split += full
        log.debug("%s page %d: %d rows%s (%s)", product.name, res.n_queries, len(page), " (full)" * full, box)
        return full, page

    try:
        answers = [page for _, page in walk_pages(config, probe, product.name)]
    except ArchiveError as exc:
        if exc.url:
            raise
        raise ArchiveError(str(exc), url=client.url, query=res.queries[-1] if res.queries else "") from None
    pages = [p for p in answers if len(p)]
    table = vstack(pages, join_type="exact", metadata_conflicts="silent") if pages else answers[0]
    table.meta = {k: v for k, v in table.meta.items() if not str(k).startswith("ocfeh_tap")}
    res.table, res.n_duplicates = _dedup(table, product_names(product, config).key_files())
    log.info(
        "%s: %d rows from %d queries (%d split, %d duplicates dropped)",
        product.name, len(res.table), res.n_queries, res.n_split, res.n_duplicates,
    )
    return res


def _write_table(table: Table, path: Path, fmt: str, prov: dict) -> None:
    table = table.copy(copy_data=False)
    table.meta["ocfeh_provenance"] = json.dumps(prov, default=str)
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            table.write(tmp, format="parquet", overwrite=True)
        else:
            # BINARY2, not TABLEDATA: astropy's C TABLEDATA writer can corrupt memory (astropy#20419)
            table.write(tmp, format="votable", tabledata_format="binary2", overwrite=True)


def fetch(
    config: FetchConfig | dict,
    out_dir: str | Path,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Path]:
    """Download the configured surveys over one cone into ``out_dir``.

    Writes ``<product>.parquet`` (or ``.vot``) per product with native column names, and
    ``fetch.json`` (provenance, config hash, queries, row counts). Nothing half-written is left.

    Parameters
    ----------
    config : FetchConfig or dict
        The settings (a dict is validated into a :class:`FetchConfig`).
    out_dir : path-like
        Output folder (created if needed).
    sleep : callable, default=time.sleep
        Wait function between retries (tests pass a recorder).

    Returns
    -------
    dict
        Product name -> written file.

    Raises
    ------
    InputError
        If an output file exists and ``overwrite`` is False, or the config is invalid.
    ArchiveError
        If an archive fails (the message says what to do); products written before stay.
    """
    if not isinstance(config, FetchConfig):
        try:
            config = FetchConfig(**config)
        except Exception as exc:
            raise InputError(f"invalid fetch config: {exc}") from exc
    out_dir = Path(out_dir)
    products = [p for p in PRODUCTS.values() if p.survey in config.surveys]
    paths = {p.name: out_dir / f"{p.name}{_SUFFIX[config.format]}" for p in products}
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not config.overwrite:
        raise InputError(
            f"{len(existing)} output file(s) already exist: {', '.join(existing)}. "
            "Choose another -o folder or pass --overwrite."
        )
    clients: dict[str, TapClient] = {}

    def client_of(service: str) -> TapClient:
        return clients.setdefault(service, tap_client(config, service, sleep))

    checked = False
    if config.check_schema:
        problems = [p for found in check(config, clients={s: client_of(s) for s in {p.service for p in products}})
                    .values() for p in found]
        if problems:
            raise ArchiveError("\n".join(p.message() for p in problems), url=problems[0].url)
        checked = True
    clusters = resolve_clusters(config, client_of("vizier")) if "hr23" in config.surveys else ()
    with new_dir(out_dir):  # a failure before the first table leaves no empty folder behind
        out_dir.mkdir(parents=True, exist_ok=True)
        cfg = config.model_dump(mode="json")
        manifest = provenance(cfg, seed=None, stage="fetch", fetch_config=cfg, schema_checked=checked,
                              hr23_clusters=list(clusters), products={})
        for product in products:
            client = client_of(product.service)
            n_req, n_hit = client.n_requests, client.n_cache_hits
            res = fetch_product(product, config, client, clusters=clusters)
            names = product_names(product, config)
            prov = {k: manifest[k] for k in ("ocfeh_version", "created_utc", "config_hash", "versions")}
            prov.update(product=product.name, release=names.release, service_url=client.url,
                        citation=names.citation)
            _write_table(res.table, paths[product.name], config.format, prov)
            manifest["products"][product.name] = {
                "file": paths[product.name].name,
                "release": names.release,
                "n_rows": len(res.table),
                "service_url": client.url,
                "n_queries": res.n_queries,
                "n_requests": client.n_requests - n_req,
                "n_cache_hits": client.n_cache_hits - n_hit,
                "n_split": res.n_split,
                "n_duplicates": res.n_duplicates,
                "citation": names.citation,
                "first_query": res.queries[0] if res.queries else None,
            }
            write_json(out_dir / "fetch.json", manifest)
    return paths
