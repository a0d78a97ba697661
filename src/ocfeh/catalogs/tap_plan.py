"""Before a fetch: the pages of each product, the schema check and the dry run.

:func:`walk_pages` is the paging of ``ocfeh fetch``: the cone's RA/Dec boxes, each split in four
while it reaches the row limit. The fetch walks it with data queries; :func:`dry_run` walks it with
``SELECT COUNT(*)`` and so prints the very pages the fetch would send, with their row counts.
:func:`check` compares every product's names with its service's ``TAP_SCHEMA``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from ..exceptions import ArchiveError, InputError
from .archive_columns import ArchiveProduct
from .hr23 import name_key
from .tap_adql import (
    PRODUCTS,
    Box,
    Product,
    _names_condition,
    count_query,
    hr23_clusters_query,
    split_box,
    tile_cone,
)
from .tap_client import TapClient
from .tap_config import FetchConfig, product_names, tap_client
from .tap_schema import SchemaProblem, check_names

__all__ = [
    "PlannedPage",
    "check",
    "check_report",
    "dry_run",
    "dry_run_report",
    "product_options",
    "resolve_clusters",
    "walk_pages",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


def walk_pages(config: FetchConfig, probe: Callable[[Box], tuple[bool, T]], what: str = "") -> Iterator[tuple[Box, T]]:
    """The pages of the config's cone, split while ``probe(box)`` says a page is full.

    Parameters
    ----------
    config : FetchConfig
        Cone, page size, split depth and query limits.
    probe : callable
        ``probe(box) -> (full, answer)``; a full page is split in four and its answer dropped.
    what : str
        The product (for messages).

    Yields
    ------
    (Box, answer)
        Every page that is not full, in order.

    Raises
    ------
    ArchiveError
        When paging would take more than ``max_queries`` queries, or a page is still full after
        ``max_split_depth`` splits (rows would be lost).
    """
    pending: list[tuple[Box, int]] = [(b, 0) for b in tile_cone(config.cone, config.page_size_deg)]
    n = 0
    while pending:
        if n >= config.max_queries:
            raise ArchiveError(
                f"{what}: paging needs more than max_queries={config.max_queries} queries for a "
                f"{config.radius_deg} deg cone. Use a smaller --radius, or raise max_rows_per_query / max_queries "
                "if the archive allows."
            )
        box, depth = pending.pop(0)
        n += 1
        full, answer = probe(box)
        if not full:
            yield box, answer
            continue
        if depth >= config.max_split_depth:
            raise ArchiveError(
                f"{what}: a {box.ra_max - box.ra_min:.3g} x {box.dec_max - box.dec_min:.3g} deg page still "
                f"returns the row limit ({config.max_rows_per_query}) after {depth} splits, so rows would be lost. "
                "Raise max_rows_per_query (if the archive allows) or max_split_depth."
            )
        pending[:0] = [(b, depth + 1) for b in split_box(box)]


def resolve_clusters(config: FetchConfig, client: TapClient) -> tuple[str, ...]:
    """HR23's exact names of the clusters the config asks for (``()`` for all in the cone).

    Names are matched without regard to case, spaces, underscores or hyphens against the clusters
    whose centres lie in the cone; a name not found raises with the closest names there.
    """
    if not config.clusters:
        return ()
    import difflib

    names = product_names(PRODUCTS["hr23_clusters"], config)
    table = client.run(hr23_clusters_query(config.cone, names=names))
    col = names.column("Name").file
    have = {name_key(n): str(n) for n in (table[col] if col in table.colnames else [])}
    out, missing = [], []
    for want in config.clusters:
        (out if name_key(want) in have else missing).append(have.get(name_key(want), want))
    if missing:
        near = difflib.get_close_matches(name_key(missing[0]), list(have), n=3, cutoff=0.5)
        hint = f" Closest there: {', '.join(have[k] for k in near)}." if near else ""
        raise InputError(
            f"HR23 has no cluster {', '.join(map(repr, missing))} with its centre in the {config.radius_deg} deg "
            f"cone at ({config.ra_deg}, {config.dec_deg}).{hint} Check the name or move the cone (--ra/--dec/--radius)."
        )
    return tuple(dict.fromkeys(out))


def product_options(product: Product, config: FetchConfig, clusters: tuple[str, ...]) -> dict:
    """Keyword arguments of the product's query builder besides the region."""
    options: dict = {"names": product_names(product, config)}
    if product.survey == "hr23" and clusters:
        options["clusters"] = clusters
    return options


def check(config: FetchConfig | dict, *, clients: dict[str, TapClient] | None = None) -> dict[str, list[SchemaProblem]]:
    """Compare every table and column the configured products name with their services' TAP_SCHEMA.

    Returns
    -------
    dict
        Product name -> problems (empty lists when all is well).
    """
    config = config if isinstance(config, FetchConfig) else FetchConfig(**config)
    clients = {} if clients is None else clients
    out: dict[str, list[SchemaProblem]] = {}
    for product in PRODUCTS.values():
        if product.survey in config.surveys:
            client = clients.setdefault(product.service, tap_client(config, product.service))
            out[product.name] = check_names(product_names(product, config), client)
    return out


@dataclass(frozen=True)
class PlannedPage:
    """One page of a dry run.

    Attributes
    ----------
    product : str
        The product.
    box : Box
        The page.
    adql : str
        The query the fetch would send.
    n_rows : int or None
        ``SELECT COUNT(*)`` of the page, None where the service does not count.
    """

    product: str
    box: Box
    adql: str
    n_rows: int | None


def _count(client: TapClient, names: ArchiveProduct, config: FetchConfig, box: Box, where: str) -> int:
    table = client.run(count_query(names, config.cone, box, where=where))
    if len(table) != 1 or not table.colnames:
        raise ArchiveError(f"{names.product}: the service answered COUNT(*) with {len(table)} rows", url=client.url)
    return int(table[table.colnames[0]][0])


def dry_run(config: FetchConfig | dict, *, clients: dict[str, TapClient] | None = None) -> list[PlannedPage]:
    """The ADQL of every page the fetch would send and each page's row count, without fetching rows.

    Pages are counted with ``SELECT COUNT(*)`` and split exactly as the fetch would split them; a
    service that refuses COUNT gets the unsplit pages with ``n_rows=None`` (logged).
    """
    config = config if isinstance(config, FetchConfig) else FetchConfig(**config)
    clients = {} if clients is None else clients
    maxrec = config.max_rows_per_query
    clusters: tuple[str, ...] = ()
    if "hr23" in config.surveys and config.clusters:
        clusters = resolve_clusters(config, clients.setdefault("vizier", tap_client(config, "vizier")))
    pages: list[PlannedPage] = []
    for product in PRODUCTS.values():
        if product.survey not in config.surveys:
            continue
        client = clients.setdefault(product.service, tap_client(config, product.service))
        options = product_options(product, config, clusters)
        names = options["names"]
        where = _names_condition(options.get("clusters"), names.ref("Name")) if "clusters" in options else ""

        def probe(box: Box, client=client, names=names, where=where) -> tuple[bool, int]:
            n = _count(client, names, config, box, where)
            return n >= maxrec, n

        try:
            counted = list(walk_pages(config, probe, product.name))
        except ArchiveError as exc:
            if exc.transient:
                raise
            log.warning("%s: no row counts (%s)", product.name, str(exc).split(". ")[0])
            counted = [(b, None) for b in tile_cone(config.cone, config.page_size_deg)]
        pages += [PlannedPage(product.name, b, product.build(config.cone, b, **options), n) for b, n in counted]
    return pages


def check_report(config: FetchConfig | dict) -> tuple[bool, str]:
    """(all names found?, text): the schema check as ``ocfeh fetch --check`` prints it."""
    config = config if isinstance(config, FetchConfig) else FetchConfig(**config)
    found = check(config)
    lines = []
    for product, problems in found.items():
        names = product_names(PRODUCTS[product], config)
        tables = ", ".join(t.name for t in names.tables)
        if problems:
            lines += [f"{product}: MISSING " + p.message().split(": ", 1)[1] for p in problems]
        else:
            lines.append(f"{product}: ok, {len(names.columns)} columns of {tables} ({names.release})")
    return not any(found.values()), "\n".join(lines)


def dry_run_report(config: FetchConfig | dict) -> tuple[bool, str]:
    """(True, text): every page's ADQL and row count as ``ocfeh fetch --dry-run`` prints them."""
    config = config if isinstance(config, FetchConfig) else FetchConfig(**config)
    pages = dry_run(config)
    lines, totals = [], {}
    for i, page in enumerate(pages, 1):
        b = page.box
        rows = "rows unknown (no COUNT)" if page.n_rows is None else f"{page.n_rows} rows"
        lines.append(f"-- {page.product} page {i}: RA {b.ra_min:.4f}..{b.ra_max:.4f}, "
                     f"Dec {b.dec_min:.4f}..{b.dec_max:.4f}: {rows}")
        lines.append(page.adql + ";")
        totals.setdefault(page.product, []).append(page.n_rows)
    for product, counts in totals.items():
        known = [n for n in counts if n is not None]
        total = f"{sum(known)} rows" + (" (some pages not counted)" if len(known) < len(counts) else "")
        lines.append(f"-- {product}: {len(counts)} page(s), {total} (pages overlap on edges; duplicates are dropped)")
    return True, "\n".join(lines)
