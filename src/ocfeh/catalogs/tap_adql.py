"""ADQL for the archives ocfeh reads: sky regions, pages, and one query builder per product.

Every builder returns ADQL that selects the columns of the product's column table
(:mod:`ocfeh.catalogs.archive_columns`) under the survey's *native* names, so the files
``ocfeh fetch`` writes are read by the same readers as a user's own downloads. A product is one
output table (``hr23`` gives two: clusters and members); :data:`PRODUCTS` holds them, each with its
column table (TAP service, position columns for paging, key columns for de-duplication).

Sky regions: a :class:`Cone` is cut into RA/Dec :class:`Box` pages of at most ``page_size_deg``
on a side; each page query is "inside the cone AND inside the box" (boxes are closed, so a star on
an edge comes back twice and the pages are de-duplicated on the key columns).

Examples
--------
>>> cone = Cone(ra_deg=10.0, dec_deg=41.0, radius_deg=0.1)
>>> print(region_condition("ra", "dec", cone))
1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 10.0, 41.0, 0.1))
>>> len(tile_cone(Cone(ra_deg=10.0, dec_deg=41.0, radius_deg=1.0), page_size_deg=1.0)) > 1
True

References
----------
.. [1] IVOA, "Astronomical Data Query Language 2.0/2.1" (CONTAINS, POINT, CIRCLE).
.. [2] J-PLUS DR3 (CEFCA archive): array columns indexed with filter macros,
       e.g. ``mag_aper_6_0[jplus::J0660]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..bands import JPLUS_BANDS
from ..exceptions import InputError
from .archive_columns import ARCHIVE, LAMOST_VIZIER, ArchiveProduct

__all__ = [
    "DEFAULT_SERVICE_URLS",
    "PRODUCTS",
    "SURVEYS",
    "Box",
    "Cone",
    "Product",
    "catwise_query",
    "count_query",
    "gaia_query",
    "hr23_clusters_query",
    "hr23_members_query",
    "jplus_query",
    "lamost_names",
    "lamost_query",
    "product_query",
    "region_condition",
    "split_box",
    "tile_cone",
]

#: Base URLs of the TAP services (``<url>/sync`` is queried). Override per service in ``FetchConfig``.
DEFAULT_SERVICE_URLS: dict[str, str] = {
    "jplus": "https://archive.cefca.es/catalogues/vo/tap/jplus-dr3",
    "gaia": "https://gea.esac.esa.int/tap-server/tap",
    "irsa": "https://irsa.ipac.caltech.edu/TAP",
    "vizier": "https://tapvizier.cds.unistra.fr/TAPVizieR/tap",
}

#: The LAMOST table on VizieR queried by default (LAMOST DR5 LRS AFGK stellar parameters); see
#: :data:`ocfeh.catalogs.archive_columns.LAMOST_VIZIER` for the release of each table.
DEFAULT_LAMOST_TABLE = "V/164/stellar5"


@dataclass(frozen=True)
class Cone:
    """A cone on the sky (ICRS, degrees)."""

    ra_deg: float
    dec_deg: float
    radius_deg: float

    def __post_init__(self) -> None:
        for name, value in (("ra_deg", self.ra_deg), ("dec_deg", self.dec_deg), ("radius_deg", self.radius_deg)):
            if not math.isfinite(value):
                raise InputError(f"The cone's {name} must be a finite number. Got {value!r} instead.")
        if not 0.0 <= self.ra_deg < 360.0:
            raise InputError(f"The cone's ra_deg must be in [0, 360). Got {self.ra_deg!r} instead.")
        if not -90.0 <= self.dec_deg <= 90.0:
            raise InputError(f"The cone's dec_deg must be in [-90, 90]. Got {self.dec_deg!r} instead.")
        if not 0.0 < self.radius_deg <= 90.0:
            raise InputError(f"The cone's radius_deg must be in (0, 90]. Got {self.radius_deg!r} instead.")


@dataclass(frozen=True)
class Box:
    """A closed RA/Dec box (degrees, ``0 <= ra_min < ra_max <= 360``), one page of a query."""

    ra_min: float
    ra_max: float
    dec_min: float
    dec_max: float


def _num(x: float) -> str:
    """A float as ADQL text: shortest round-trip repr, never exponent-free surprises."""
    return repr(float(x))


def region_condition(ra_col: str, dec_col: str, cone: Cone, box: Box | None = None) -> str:
    """ADQL condition: the row lies in ``cone`` (and in ``box`` if given).

    Parameters
    ----------
    ra_col, dec_col : str
        The table's position columns (deg), as ADQL expressions (e.g. ``o.alpha_j2000``).
    cone : Cone
        The sky region.
    box : Box, optional
        One page: an RA/Dec box, closed on all sides.
    """
    cond = (
        f"1 = CONTAINS(POINT('ICRS', {ra_col}, {dec_col}), "
        f"CIRCLE('ICRS', {_num(cone.ra_deg)}, {_num(cone.dec_deg)}, {_num(cone.radius_deg)}))"
    )
    if box is not None:
        cond += (
            f" AND {ra_col} BETWEEN {_num(box.ra_min)} AND {_num(box.ra_max)}"
            f" AND {dec_col} BETWEEN {_num(box.dec_min)} AND {_num(box.dec_max)}"
        )
    return cond


def _ra_intervals(lo: float, hi: float) -> list[tuple[float, float]]:
    """Split an RA interval that may cross 0/360 into intervals inside [0, 360]."""
    if hi - lo >= 360.0:
        return [(0.0, 360.0)]
    lo_w, hi_w = lo % 360.0, hi % 360.0
    if hi_w == 0.0 and hi > lo:
        hi_w = 360.0
    if lo_w < hi_w:
        return [(lo_w, hi_w)]
    return [(lo_w, 360.0), (0.0, hi_w)]


def tile_cone(cone: Cone, page_size_deg: float) -> list[Box]:
    """Cut the RA/Dec bounding box of a cone into pages of at most ``page_size_deg`` (on the sky).

    Parameters
    ----------
    cone : Cone
        The region.
    page_size_deg : float
        Largest side of a page in degrees of arc (RA sides measured at the page's widest Dec).

    Returns
    -------
    list of Box
        Pages covering the cone, RA wrapped into [0, 360]; a cone that reaches a pole gets full-RA
        strips near it.
    """
    if not page_size_deg > 0:
        raise InputError(f"The 'page_size_deg' parameter must be > 0. Got {page_size_deg!r} instead.")
    r = cone.radius_deg
    dec_lo, dec_hi = max(-90.0, cone.dec_deg - r), min(90.0, cone.dec_deg + r)
    n_dec = max(1, math.ceil((dec_hi - dec_lo) / page_size_deg - 1e-9))
    step = (dec_hi - dec_lo) / n_dec
    reaches_pole = cone.dec_deg + r >= 90.0 or cone.dec_deg - r <= -90.0
    if reaches_pole:
        half_ra = 180.0
    else:  # RA half-width of a cone: sin(dRA) = sin(r) / cos(dec0)
        half_ra = math.degrees(math.asin(min(1.0, math.sin(math.radians(r)) / math.cos(math.radians(cone.dec_deg)))))
    boxes: list[Box] = []
    for i in range(n_dec):
        d0 = dec_lo + i * step
        d1 = dec_hi if i == n_dec - 1 else dec_lo + (i + 1) * step
        cos_widest = math.cos(math.radians(min(abs(d0), abs(d1)) if d0 * d1 > 0 else 0.0))
        for lo, hi in _ra_intervals(cone.ra_deg - half_ra, cone.ra_deg + half_ra):
            n_ra = max(1, math.ceil((hi - lo) * cos_widest / page_size_deg - 1e-9))
            w = (hi - lo) / n_ra
            for j in range(n_ra):
                boxes.append(Box(lo + j * w, hi if j == n_ra - 1 else lo + (j + 1) * w, d0, d1))
    return boxes


def split_box(box: Box) -> list[Box]:
    """Four quarter boxes of a page (used when a page reaches the row limit)."""
    ra_mid = 0.5 * (box.ra_min + box.ra_max)
    dec_mid = 0.5 * (box.dec_min + box.dec_max)
    return [
        Box(box.ra_min, ra_mid, box.dec_min, dec_mid),
        Box(ra_mid, box.ra_max, box.dec_min, dec_mid),
        Box(box.ra_min, ra_mid, dec_mid, box.dec_max),
        Box(ra_mid, box.ra_max, dec_mid, box.dec_max),
    ]


# ---------------------------------------------------------------------------------------------
# Query builders: (cone, box, options) -> ADQL
# ---------------------------------------------------------------------------------------------


def _quote(value: str) -> str:
    """An ADQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def product_query(
    names: ArchiveProduct,
    cone: Cone,
    box: Box | None = None,
    *,
    bands: tuple[str, ...] = JPLUS_BANDS,
    where: str = "",
) -> str:
    """The ADQL of one page of a product: its columns, its joins, the region, an extra condition.

    Parameters
    ----------
    names : ArchiveProduct
        The product's column table (:data:`ocfeh.catalogs.archive_columns.ARCHIVE`).
    cone, box : Cone, Box
        The region and the page.
    bands : tuple of str
        J-PLUS filters of the per-band array columns.
    where : str
        An ADQL condition ANDed to the region (e.g. cluster names).
    """
    bad = [b for b in bands if b not in JPLUS_BANDS]
    if bad:
        raise InputError(f"Unknown J-PLUS band(s) {bad}; valid: {', '.join(JPLUS_BANDS)}.")
    main = names.main
    lines = ["SELECT " + ", ".join(names.select_list(bands)), f"FROM {main.adql()}"]
    for t in names.tables[1:]:
        on = " AND ".join(f"{t.alias}.{k} = {main.alias}.{k}" for k in names.join_on)
        lines.append(f"LEFT OUTER JOIN {t.adql()} ON {on}")
    cond = region_condition(names.ref(names.ra), names.ref(names.dec), cone, box)
    lines.append("WHERE " + cond + (f" AND {where}" if where else ""))
    return "\n".join(lines)


def count_query(names: ArchiveProduct, cone: Cone, box: Box | None = None, *, where: str = "") -> str:
    """``SELECT COUNT(*)`` of the product's main table over one page (the joins add no rows)."""
    cond = region_condition(names.ref(names.ra), names.ref(names.dec), cone, box)
    return f"SELECT COUNT(*) AS n\nFROM {names.main.adql()}\nWHERE {cond}" + (f" AND {where}" if where else "")


def jplus_query(cone: Cone, box: Box | None = None, bands: tuple[str, ...] = JPLUS_BANDS,
                names: ArchiveProduct = ARCHIVE["jplus"]) -> str:
    """J-PLUS DR3: dual-mode AB magnitudes, aperture-corrected point-source magnitudes, MW extinction
    and the star/galaxy probability, one row per object, arrays flattened to ``<column>_<band>``.

    Tables: ``jplus.MagABDualObj`` (o), ``jplus.MagABDualPointSources`` (p), ``jplus.MWExtinction``
    (e), ``jplus.StarGalClass`` (s), joined on ``(tile_id, number)``.
    """
    return product_query(names, cone, box, bands=bands)


def gaia_query(cone: Cone, box: Box | None = None, names: ArchiveProduct = ARCHIVE["gaia"]) -> str:
    """Gaia DR3 ``gaia_source`` + ``astrophysical_parameters`` (GSP-Phot extinction, distance)
    + Bailer-Jones et al. (2021) EDR3 distances (``external.gaiaedr3_distance``), on ``source_id``."""
    return product_query(names, cone, box)


def catwise_query(cone: Cone, box: Box | None = None, names: ArchiveProduct = ARCHIVE["catwise"]) -> str:
    """CatWISE2020 (IRSA ``catwise_2020``): W1/W2 of the stationary profile fit, Vega magnitudes."""
    return product_query(names, cone, box)


def _names_condition(clusters: tuple[str, ...] | list[str] | None, column: str = '"Name"') -> str:
    return f"{column} IN ({', '.join(_quote(c) for c in clusters)})" if clusters else ""


def hr23_clusters_query(cone: Cone, box: Box | None = None, clusters: tuple[str, ...] | None = None,
                        names: ArchiveProduct = ARCHIVE["hr23_clusters"]) -> str:
    """Hunt & Reffert (2023) clusters (VizieR J/A+A/673/A114/clusters) with centres in the cone
    (only those named in ``clusters``, HR23's exact names, when given)."""
    return product_query(names, cone, box, where=_names_condition(clusters, names.ref("Name")))


def hr23_members_query(cone: Cone, box: Box | None = None, clusters: tuple[str, ...] | None = None,
                       names: ArchiveProduct = ARCHIVE["hr23_members"]) -> str:
    """Hunt & Reffert (2023) members (VizieR J/A+A/673/A114/members) inside the cone: named columns
    only (the table has about 1.3 million rows of about 1 kB), of the clusters named when given."""
    return product_query(names, cone, box, where=_names_condition(clusters, names.ref("Name")))


def lamost_names(table: str = DEFAULT_LAMOST_TABLE) -> ArchiveProduct:
    """The column table of a LAMOST table on VizieR (a table ocfeh does not list gets DR5's names)."""
    if not table or '"' in table:
        raise InputError(f"The 'lamost_table' parameter must be a VizieR table name such as "
                         f"{DEFAULT_LAMOST_TABLE!r}. Got {table!r} instead.")
    if table in LAMOST_VIZIER:
        return LAMOST_VIZIER[table]
    base = LAMOST_VIZIER[DEFAULT_LAMOST_TABLE]
    return replace(base, release=f"LAMOST LRS ({table})", tables=(replace(base.main, name=table),),
                   citation=base.citation.replace(DEFAULT_LAMOST_TABLE.rsplit("/", 1)[0], table))


def lamost_query(cone: Cone, box: Box | None = None, table: str = DEFAULT_LAMOST_TABLE,
                 names: ArchiveProduct | None = None) -> str:
    """LAMOST LRS stellar parameters from VizieR, renamed to LAMOST's own column names
    (``obsid``, ``ra``, ``dec``, ``teff``, ``teff_err``, ``logg``, ``logg_err``, ``feh``, ``feh_err``, ``snrg``...)."""
    return product_query(names or lamost_names(table), cone, box)


@dataclass(frozen=True)
class Product:
    """One output table of ``ocfeh fetch``.

    Attributes
    ----------
    name : str
        File stem (``<name>.parquet``).
    survey : str
        The ``--survey`` choice that selects it.
    build : callable
        ``build(cone, box, names=..., **options) -> ADQL``.
    names : ArchiveProduct
        Its column table (tables, service names, file names, release, citation).
    """

    name: str
    survey: str
    build: Callable[..., str]
    names: ArchiveProduct

    @property
    def service(self) -> str:
        """Key of the TAP service in :data:`DEFAULT_SERVICE_URLS`."""
        return self.names.service

    @property
    def ra_col(self) -> str:
        """Right ascension column of the written table (deg)."""
        return self.names.column(self.names.ra).file

    @property
    def dec_col(self) -> str:
        """Declination column of the written table (deg)."""
        return self.names.column(self.names.dec).file

    @property
    def key_cols(self) -> tuple[str, ...]:
        """Columns of the written table that identify a row."""
        return self.names.key_files()

    @property
    def citation(self) -> str:
        """What to cite when using it."""
        return self.names.citation


PRODUCTS: dict[str, Product] = {
    p.name: p
    for p in (
        Product("jplus", "jplus", jplus_query, ARCHIVE["jplus"]),
        Product("gaia", "gaia", gaia_query, ARCHIVE["gaia"]),
        Product("catwise", "catwise", catwise_query, ARCHIVE["catwise"]),
        Product("hr23_clusters", "hr23", hr23_clusters_query, ARCHIVE["hr23_clusters"]),
        Product("hr23_members", "hr23", hr23_members_query, ARCHIVE["hr23_members"]),
        Product("lamost", "lamost", lamost_query, ARCHIVE["lamost"]),
    )
}

#: ``--survey`` choices, in output order.
SURVEYS: tuple[str, ...] = tuple(dict.fromkeys(p.survey for p in PRODUCTS.values()))
