"""ADQL for the archives ocfeh reads: sky regions, pages, and one query builder per product.

Every builder returns ADQL that selects the survey's *native* column names (DESIGN.md section 6),
so the files ``ocfeh fetch`` writes are read by the same readers as a user's own downloads.
A product is one output table (``hr23`` gives two: clusters and members); :data:`PRODUCTS` holds
them, each with its TAP service, its position columns (for paging) and its key columns (for
de-duplication).

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
from dataclasses import dataclass

from ..bands import JPLUS_BANDS
from ..exceptions import InputError

__all__ = [
    "DEFAULT_SERVICE_URLS",
    "PRODUCTS",
    "SURVEYS",
    "Box",
    "Cone",
    "Product",
    "catwise_query",
    "gaia_query",
    "hr23_clusters_query",
    "hr23_members_query",
    "jplus_query",
    "lamost_query",
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

# J-PLUS array columns (one element per filter), read per filter through the jplus:: macro and
# written flattened as <column>_<band>: the readers accept that form and no array order is assumed.
JPLUS_OBJ_ARRAYS = ("mag_aper_6_0", "mag_err_aper_6_0", "mag_auto", "flags", "mask_flags")
JPLUS_POINT_ARRAYS = ("mag_aper_cor_6_0", "mag_err_aper_cor_6_0")

GAIA_SOURCE_COLUMNS = (
    "source_id", "ra", "dec", "ref_epoch", "parallax", "parallax_error", "pmra", "pmdec",
    "phot_g_mean_mag", "phot_bp_mean_mag", "phot_rp_mean_mag",
    "phot_g_mean_flux_over_error", "phot_bp_mean_flux_over_error", "phot_rp_mean_flux_over_error",
    "ruwe",
)
GAIA_AP_COLUMNS = ("ag_gspphot", "ebpminrp_gspphot", "azero_gspphot", "distance_gspphot")
GAIA_DIST_COLUMNS = (
    "r_med_geo", "r_lo_geo", "r_hi_geo", "r_med_photogeo", "r_lo_photogeo", "r_hi_photogeo",
)
CATWISE_COLUMNS = ("source_name", "ra", "dec", "w1mpro", "w1sigmpro", "w2mpro", "w2sigmpro")
HR23_CLUSTER_COLUMNS = (
    "Name", "ID", "RA_ICRS", "DE_ICRS", "pmRA", "pmDE", "Plx", "r50", "N",
    "logAge50", "AV50", "dist50", "Type", "CST",
)
HR23_TABLES = {"clusters": '"J/A+A/673/A114/clusters"', "members": '"J/A+A/673/A114/members"'}
# VizieR names of the LAMOST LRS stellar-parameter table -> LAMOST's own (native) names.
LAMOST_VIZIER_COLUMNS = {
    "ObsID": "obsid", "RAJ2000": "ra", "DEJ2000": "dec", "Teff": "teff", "e_Teff": "teff_err",
    "logg": "logg", "e_logg": "logg_err", "[Fe/H]": "feh", "e_[Fe/H]": "feh_err",
    "snrg": "snrg", "snrr": "snrr", "snri": "snri",
}
#: The LAMOST table on VizieR queried by default (LRS AFGK stellar parameters). Set
#: ``FetchConfig.lamost_table`` to the table of the release you want (e.g. a DR8 table).
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


def jplus_query(cone: Cone, box: Box | None = None, bands: tuple[str, ...] = JPLUS_BANDS) -> str:
    """J-PLUS DR3: dual-mode AB magnitudes, aperture-corrected point-source magnitudes, MW extinction
    and the star/galaxy probability, one row per object, arrays flattened to ``<column>_<band>``.

    Tables: ``jplus.MagABDualObj`` (o), ``jplus.MagABDualPointSources`` (p), ``jplus.MWExtinction``
    (e), ``jplus.StarGalClass`` (s), joined on ``(tile_id, number)``.
    """
    bad = [b for b in bands if b not in JPLUS_BANDS]
    if bad:
        raise InputError(f"Unknown J-PLUS band(s) {bad}; valid: {', '.join(JPLUS_BANDS)}.")
    cols = ["o.tile_id", "o.number", "o.alpha_j2000", "o.delta_j2000", "o.class_star"]
    for alias, arrays in (("o", JPLUS_OBJ_ARRAYS), ("p", JPLUS_POINT_ARRAYS), ("e", ("ax",))):
        for col in arrays:
            cols += [f"{alias}.{col}[jplus::{b}] AS {col}_{b}" for b in bands]
    cols += ["e.ebv", "s.total_prob_star"]
    return (
        "SELECT " + ", ".join(cols) + "\n"
        "FROM jplus.MagABDualObj AS o\n"
        "LEFT OUTER JOIN jplus.MagABDualPointSources AS p ON p.tile_id = o.tile_id AND p.number = o.number\n"
        "LEFT OUTER JOIN jplus.MWExtinction AS e ON e.tile_id = o.tile_id AND e.number = o.number\n"
        "LEFT OUTER JOIN jplus.StarGalClass AS s ON s.tile_id = o.tile_id AND s.number = o.number\n"
        "WHERE " + region_condition("o.alpha_j2000", "o.delta_j2000", cone, box)
    )


def gaia_query(cone: Cone, box: Box | None = None) -> str:
    """Gaia DR3 ``gaia_source`` + ``astrophysical_parameters`` (GSP-Phot extinction, distance)
    + Bailer-Jones et al. (2021) EDR3 distances (``external.gaiaedr3_distance``), on ``source_id``."""
    cols = (
        [f"g.{c}" for c in GAIA_SOURCE_COLUMNS]
        + [f"ap.{c}" for c in GAIA_AP_COLUMNS]
        + [f"d.{c}" for c in GAIA_DIST_COLUMNS]
    )
    return (
        "SELECT " + ", ".join(cols) + "\n"
        "FROM gaiadr3.gaia_source AS g\n"
        "LEFT OUTER JOIN gaiadr3.astrophysical_parameters AS ap ON ap.source_id = g.source_id\n"
        "LEFT OUTER JOIN external.gaiaedr3_distance AS d ON d.source_id = g.source_id\n"
        "WHERE " + region_condition("g.ra", "g.dec", cone, box)
    )


def catwise_query(cone: Cone, box: Box | None = None) -> str:
    """CatWISE2020 (IRSA ``catwise_2020``): W1/W2 profile-fit Vega magnitudes."""
    return (
        "SELECT " + ", ".join(CATWISE_COLUMNS) + "\n"
        "FROM catwise_2020\n"
        "WHERE " + region_condition("ra", "dec", cone, box)
    )


def _q(name: str) -> str:
    """A VizieR column as a delimited (case-exact) ADQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def hr23_clusters_query(cone: Cone, box: Box | None = None) -> str:
    """Hunt & Reffert (2023) clusters (VizieR J/A+A/673/A114/clusters) with centres in the cone."""
    return (
        "SELECT " + ", ".join(_q(c) for c in HR23_CLUSTER_COLUMNS) + "\n"
        f"FROM {HR23_TABLES['clusters']}\n"
        "WHERE " + region_condition(_q("RA_ICRS"), _q("DE_ICRS"), cone, box)
    )


def hr23_members_query(cone: Cone, box: Box | None = None) -> str:
    """Hunt & Reffert (2023) members (VizieR J/A+A/673/A114/members) inside the cone, all columns."""
    return (
        f"SELECT *\nFROM {HR23_TABLES['members']}\n"
        "WHERE " + region_condition(_q("RA_ICRS"), _q("DE_ICRS"), cone, box)
    )


def lamost_query(cone: Cone, box: Box | None = None, table: str = DEFAULT_LAMOST_TABLE) -> str:
    """LAMOST LRS stellar parameters from VizieR, renamed to LAMOST's own column names
    (``obsid``, ``ra``, ``dec``, ``teff``, ``teff_err``, ``logg``, ``logg_err``, ``feh``, ``feh_err``, ``snrg``...)."""
    if not table or '"' in table:
        raise InputError(f"The 'lamost_table' parameter must be a VizieR table name such as "
                         f"{DEFAULT_LAMOST_TABLE!r}. Got {table!r} instead.")
    cols = [f"{_q(v)} AS {_q(n)}" for v, n in LAMOST_VIZIER_COLUMNS.items()]  # "dec" is an SQL word
    return (
        "SELECT " + ", ".join(cols) + "\n"
        f"FROM {_q(table)}\n"
        "WHERE " + region_condition(_q("RAJ2000"), _q("DEJ2000"), cone, box)
    )


@dataclass(frozen=True)
class Product:
    """One output table of ``ocfeh fetch``.

    Attributes
    ----------
    name : str
        File stem (``<name>.parquet``).
    survey : str
        The ``--survey`` choice that selects it.
    service : str
        Key of the TAP service in :data:`DEFAULT_SERVICE_URLS`.
    build : callable
        ``build(cone, box, **options) -> ADQL``.
    ra_col, dec_col : str
        Position columns of the *result* (native names, deg).
    key_cols : tuple of str
        Columns that identify a row, used to drop rows returned by two pages.
    citation : str
        What to cite when using it.
    """

    name: str
    survey: str
    service: str
    build: Callable[..., str]
    ra_col: str
    dec_col: str
    key_cols: tuple[str, ...]
    citation: str


PRODUCTS: dict[str, Product] = {
    p.name: p
    for p in (
        Product("jplus", "jplus", "jplus", jplus_query, "alpha_j2000", "delta_j2000", ("tile_id", "number"),
                "J-PLUS DR3 (Cenarro et al. 2019, A&A 622, A176; CEFCA archive)"),
        Product("gaia", "gaia", "gaia", gaia_query, "ra", "dec", ("source_id",),
                "Gaia DR3 (Gaia Collaboration, Vallenari et al. 2023); Bailer-Jones et al. 2021, AJ 161, 147"),
        Product("catwise", "catwise", "irsa", catwise_query, "ra", "dec", ("source_name",),
                "CatWISE2020 (Marocco et al. 2021, ApJS 253, 8; IRSA)"),
        Product("hr23_clusters", "hr23", "vizier", hr23_clusters_query, "RA_ICRS", "DE_ICRS", ("ID",),
                "Hunt & Reffert 2023, A&A 673, A114 (VizieR J/A+A/673/A114)"),
        Product("hr23_members", "hr23", "vizier", hr23_members_query, "RA_ICRS", "DE_ICRS", ("ID", "GaiaDR3"),
                "Hunt & Reffert 2023, A&A 673, A114 (VizieR J/A+A/673/A114)"),
        Product("lamost", "lamost", "vizier", lamost_query, "ra", "dec", ("obsid",),
                "LAMOST LRS (Luo et al. 2015, RAA 15, 1095), via VizieR"),
    )
}

#: ``--survey`` choices, in output order.
SURVEYS: tuple[str, ...] = tuple(dict.fromkeys(p.survey for p in PRODUCTS.values()))
