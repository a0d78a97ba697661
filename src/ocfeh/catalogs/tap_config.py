"""The settings of ``ocfeh fetch`` (:class:`FetchConfig`), and what follows from them: each
product's column table with the user's overrides, and a TAP client per service."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..datafiles import cache_dir
from .archive_columns import ArchiveProduct
from .tap_adql import (
    DEFAULT_LAMOST_TABLE,
    DEFAULT_SERVICE_URLS,
    PRODUCTS,
    SURVEYS,
    Cone,
    Product,
    lamost_names,
)
from .tap_client import TapClient

__all__ = ["FetchConfig", "default_cache_dir", "product_names", "tap_client"]

SurveyName = Literal["jplus", "gaia", "catwise", "hr23", "lamost"]


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
        DEFAULT_LAMOST_TABLE,
        description="VizieR table of LAMOST LRS stellar parameters (V/164/stellar5 is DR5; VizieR holds no DR8).",
    )
    clusters: list[str] = Field(
        default_factory=list,
        description="HR23 clusters to fetch (names as in HR23, any case or spacing); empty: every cluster in the cone.",
    )
    columns: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Service column names that differ from ocfeh's table, by product and key "
                    "(e.g. {'jplus': {'prob_star': 'total_prob_star'}}).",
    )
    check_schema: bool = Field(
        True, description="Compare every table and column with the service's TAP_SCHEMA before fetching."
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

    @field_validator("columns")
    @classmethod
    def _known_columns(cls, v: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for product, names in v.items():
            if product not in PRODUCTS:
                raise ValueError(f"unknown product {product!r} in columns; valid: {', '.join(PRODUCTS)}")
            PRODUCTS[product].names.with_names(names)  # unknown keys raise, naming the valid ones
        return v

    @model_validator(mode="after")
    def _cone(self) -> FetchConfig:
        Cone(self.ra_deg, self.dec_deg, self.radius_deg)
        lamost_names(self.lamost_table)
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


def product_names(product: Product, config: FetchConfig) -> ArchiveProduct:
    """A product's column table as the config asks for it (LAMOST table, column overrides)."""
    names = lamost_names(config.lamost_table) if product.name == "lamost" else product.names
    return names.with_names(config.columns.get(product.name, {}))


def tap_client(config: FetchConfig, service: str, sleep: Callable[[float], None] = time.sleep) -> TapClient:
    """A client of one service with the config's cache, timeout and retry settings."""
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


