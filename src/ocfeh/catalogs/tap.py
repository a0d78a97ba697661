"""Archive queries for users with network access: ``ocfeh fetch`` as a Python API.

:func:`fetch` downloads, for one cone on the sky, the tables the method needs (J-PLUS DR3 from the
CEFCA archive, Gaia DR3 + astrophysical parameters + Bailer-Jones distances from the Gaia archive,
CatWISE2020 from IRSA, Hunt & Reffert 2023 clusters and members and LAMOST stellar parameters from
VizieR), page by page (RA/Dec boxes, refined when a page reaches the row limit), de-duplicated,
with retries and a local cache, into Parquet or VOTable files with the surveys' native column names,
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
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..datafiles import cache_dir
from ..exceptions import ArchiveError, InputError
from ..provenance import atomic_path, new_dir, provenance, write_json
from .tap_adql import (
    DEFAULT_LAMOST_TABLE,
    DEFAULT_SERVICE_URLS,
    PRODUCTS,
    SURVEYS,
    Box,
    Cone,
    Product,
    split_box,
    tile_cone,
)
from .tap_client import TapClient

if TYPE_CHECKING:  # pragma: no cover
    from astropy.table import Table

__all__ = [
    "PRODUCTS",
    "SURVEYS",
    "ArchiveError",
    "Cone",
    "FetchConfig",
    "FetchResult",
    "default_cache_dir",
    "fetch",
    "fetch_product",
]

log = logging.getLogger(__name__)

SurveyName = Literal["jplus", "gaia", "catwise", "hr23", "lamost"]
_SUFFIX = {"parquet": ".parquet", "votable": ".vot"}


def default_cache_dir() -> Path:
    """``$OCFEH_CACHE_DIR/tap`` if set, else ``~/.cache/ocfeh/tap``."""
    return cache_dir() / "tap"


class FetchConfig(BaseModel):
    """What ``ocfeh fetch`` downloads and how (one cone; unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid")

    ra_deg: float = Field(..., ge=0.0, lt=360.0, description="Cone centre right ascension, ICRS [deg].")
    dec_deg: float = Field(..., ge=-90.0, le=90.0, description="Cone centre declination, ICRS [deg].")
    radius_deg: float = Field(..., gt=0.0, le=90.0, description="Cone radius [deg].")
    surveys: list[SurveyName] = Field(
        default_factory=lambda: list(SURVEYS),
        description="Surveys to download: jplus, gaia, catwise, hr23 (clusters + members), lamost.",
    )
    format: Literal["parquet", "votable"] = Field("parquet", description="Output file format.")
    overwrite: bool = Field(False, description="Replace output files that already exist.")
    use_cache: bool = Field(True, description="Reuse answers cached by earlier runs (and cache new ones).")
    cache_dir: Path | None = Field(
        None, description="Cache folder; None means $OCFEH_CACHE_DIR/tap or ~/.cache/ocfeh/tap."
    )
    page_size_deg: float = Field(1.0, gt=0.0, le=180.0, description="Largest side of one page (RA/Dec box) [deg].")
    max_rows_per_query: int = Field(
        100_000, ge=1, description="MAXREC of each query; a page that reaches it is split in four."
    )
    max_split_depth: int = Field(6, ge=0, le=12, description="How many times a full page may be split.")
    max_queries: int = Field(5_000, ge=1, description="Upper bound on queries per product (stops runaway paging).")
    timeout_s: float = Field(120.0, gt=0.0, description="Timeout of one HTTP request [s].")
    max_retries: int = Field(4, ge=0, le=20, description="Retries of a transient failure (busy, 5xx, timeout).")
    backoff_s: float = Field(2.0, ge=0.0, description="First wait before a retry [s]; doubles each time.")
    backoff_max_s: float = Field(60.0, ge=0.0, description="Longest wait between retries [s].")
    service_urls: dict[str, str] = Field(
        default_factory=dict,
        description=f"Override TAP base URLs by service name ({', '.join(DEFAULT_SERVICE_URLS)}).",
    )
    lamost_table: str = Field(
        DEFAULT_LAMOST_TABLE, description="VizieR table of LAMOST LRS stellar parameters (set the DR8 table here)."
    )

    @field_validator("surveys")
    @classmethod
    def _unique_surveys(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError(f"give at least one survey of {', '.join(SURVEYS)}")
        return list(dict.fromkeys(v))

    @field_validator("service_urls")
    @classmethod
    def _known_services(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - set(DEFAULT_SERVICE_URLS))
        if unknown:
            raise ValueError(f"unknown service(s) {unknown}; valid: {', '.join(DEFAULT_SERVICE_URLS)}")
        for name, url in v.items():
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"the URL of service {name!r} must start with http:// or https://; got {url!r}")
        return v

    @model_validator(mode="after")
    def _cone(self) -> FetchConfig:
        Cone(self.ra_deg, self.dec_deg, self.radius_deg)
        return self

    @property
    def cone(self) -> Cone:
        """The sky region as a :class:`Cone`."""
        return Cone(self.ra_deg, self.dec_deg, self.radius_deg)

    def url(self, service: str) -> str:
        """Base URL of a TAP service (the override if given)."""
        return self.service_urls.get(service, DEFAULT_SERVICE_URLS[service])

    def resolved_cache_dir(self) -> Path | None:
        """The cache folder in use, or None when the cache is off."""
        if not self.use_cache:
            return None
        return Path(self.cache_dir) if self.cache_dir is not None else default_cache_dir()


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

    Returns
    -------
    FetchResult

    Raises
    ------
    ArchiveError
        When the archive fails for good, or a page still reaches the row limit after
        ``max_split_depth`` splits, or paging would exceed ``max_queries``.
    """
    from astropy.table import Table, vstack

    if isinstance(product, str):
        if product not in PRODUCTS:
            raise InputError(f"Unknown product {product!r}; valid: {', '.join(PRODUCTS)}.")
        product = PRODUCTS[product]
    client = client or _client(config, product.service)
    options = {"table": config.lamost_table} if product.name == "lamost" else {}
    cone = config.cone
    maxrec = config.max_rows_per_query
    pending: list[tuple[Box, int]] = [(b, 0) for b in tile_cone(cone, config.page_size_deg)]
    log.info("%s: %d page(s) of <= %g deg from %s", product.name, len(pending), config.page_size_deg, client.url)
    pages: list[Table] = []
    empty: Table | None = None  # an empty answer keeps the column names for an empty region
    res = FetchResult(table=Table())
    while pending:
        if res.n_queries >= config.max_queries:
            raise ArchiveError(
                f"{product.name}: paging needs more than max_queries={config.max_queries} queries "
                f"for a {cone.radius_deg} deg cone. Use a smaller --radius, or raise max_rows_per_query / "
                "max_queries if the archive allows.",
                url=client.url,
            )
        box, depth = pending.pop(0)
        query = product.build(cone, box, **options)
        res.queries.append(query)
        res.n_queries += 1
        page = client.run(query, maxrec=maxrec)
        log.debug("%s page %d: %d rows (%s)", product.name, res.n_queries, len(page), box)
        if len(page) >= maxrec:
            if depth >= config.max_split_depth:
                raise ArchiveError(
                    f"{product.name}: a {box.ra_max - box.ra_min:.3g} x {box.dec_max - box.dec_min:.3g} deg "
                    f"page still returns the row limit ({maxrec}) after {depth} splits, so rows would be lost. "
                    "Raise max_rows_per_query (if the archive allows) or max_split_depth.",
                    url=client.url, query=query,
                )
            res.n_split += 1
            pending[:0] = [(b, depth + 1) for b in split_box(box)]
            continue
        if len(page):
            pages.append(page)
        elif empty is None:
            empty = page
    table = vstack(pages, join_type="exact", metadata_conflicts="silent") if pages else empty
    table.meta = {k: v for k, v in table.meta.items() if not str(k).startswith("ocfeh_tap")}
    res.table, res.n_duplicates = _dedup(table, product.key_cols)
    log.info(
        "%s: %d rows from %d queries (%d split, %d duplicates dropped)",
        product.name, len(res.table), res.n_queries, res.n_split, res.n_duplicates,
    )
    return res


def _client(config: FetchConfig, service: str, sleep: Callable[[float], None] = time.sleep) -> TapClient:
    cache = config.resolved_cache_dir()
    return TapClient(
        config.url(service),
        cache_dir=None if cache is None else cache / service,
        timeout_s=config.timeout_s,
        max_retries=config.max_retries,
        backoff_s=config.backoff_s,
        backoff_max_s=config.backoff_max_s,
        sleep=sleep,
    )


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
    with new_dir(out_dir):  # a failure before the first table leaves no empty folder behind
        out_dir.mkdir(parents=True, exist_ok=True)
        cfg = config.model_dump(mode="json")
        manifest = provenance(cfg, seed=None, stage="fetch", fetch_config=cfg, products={})
        clients: dict[str, TapClient] = {}
        for product in products:
            client = clients.setdefault(product.service, _client(config, product.service, sleep))
            n_req, n_hit = client.n_requests, client.n_cache_hits
            res = fetch_product(product, config, client)
            prov = {k: manifest[k] for k in ("ocfeh_version", "created_utc", "config_hash", "versions")}
            prov.update(product=product.name, service_url=client.url, citation=product.citation)
            _write_table(res.table, paths[product.name], config.format, prov)
            manifest["products"][product.name] = {
                "file": paths[product.name].name,
                "n_rows": len(res.table),
                "service_url": client.url,
                "n_queries": res.n_queries,
                "n_requests": client.n_requests - n_req,
                "n_cache_hits": client.n_cache_hits - n_hit,
                "n_split": res.n_split,
                "n_duplicates": res.n_duplicates,
                "citation": product.citation,
                "first_query": res.queries[0] if res.queries else None,
            }
            write_json(out_dir / "fetch.json", manifest)
    return paths
