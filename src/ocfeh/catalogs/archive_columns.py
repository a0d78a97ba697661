"""Column names of the archive products, one table per product and release: what ``ocfeh fetch``
selects from each TAP service and what the readers read.

A data release that renames a column is one edit here. Each :class:`ArchiveColumn` has a ``key``
(ocfeh's name for the quantity, also the name a user overrides it by), the ``name`` the service
uses in this release, and the ``file`` name the fetched table carries, which is the name the
survey's own downloads use and the readers of :mod:`ocfeh.catalogs` know. The schema check
(:mod:`ocfeh.catalogs.tap_schema`) compares every ``name`` with the service's ``TAP_SCHEMA``.

>>> from ocfeh.catalogs.archive_columns import ARCHIVE
>>> ARCHIVE["jplus"].release
'J-PLUS DR3'
>>> ARCHIVE["jplus"].column("prob_star").name
'sglc_prob_star'
>>> ARCHIVE["catwise"].file_names("w1")
('w1mpro',)
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, replace

from ..bands import JPLUS_BANDS
from ..exceptions import InputError

__all__ = ["ARCHIVE", "LAMOST_VIZIER", "ArchiveColumn", "ArchiveProduct", "ArchiveTable"]


@dataclass(frozen=True)
class ArchiveTable:
    """One table of a product's query.

    Attributes
    ----------
    alias : str
        Its alias in the ADQL (``""`` when the query has one table and no alias).
    name : str
        The table's name as the service's ``TAP_SCHEMA.tables`` lists it.
    delimited : bool
        Names are case-exact and written in double quotes (VizieR).
    """

    alias: str
    name: str
    delimited: bool = False

    def adql(self) -> str:
        """The table as it stands after FROM/JOIN (with its alias)."""
        name = f'"{self.name}"' if self.delimited else self.name
        return f"{name} AS {self.alias}" if self.alias else name


@dataclass(frozen=True)
class ArchiveColumn:
    """One column a product selects.

    Attributes
    ----------
    key : str
        ocfeh's name for it (``--column PRODUCT.KEY=NAME`` overrides the service name).
    table : str
        Alias of its :class:`ArchiveTable`.
    name : str
        The service's column name in this release.
    file : str
        The name in the written file (the survey's own download name, which the readers know).
    per_band : bool
        A J-PLUS array column: selected per filter as ``name[jplus::BAND] AS file_BAND``.
    """

    key: str
    table: str
    name: str
    file: str = ""
    per_band: bool = False

    def __post_init__(self) -> None:
        if not self.file:
            object.__setattr__(self, "file", self.name)


@dataclass(frozen=True)
class ArchiveProduct:
    """The column table of one product in one release.

    Attributes
    ----------
    product : str
        The product (``ocfeh fetch`` writes ``<product>.parquet``).
    release : str
        The data release the names are those of.
    service : str
        Key of the TAP service (``jplus``, ``gaia``, ``irsa``, ``vizier``).
    tables : tuple of ArchiveTable
        The first is the main table (paging, counting); the others are joined to it.
    columns : tuple of ArchiveColumn
        Every column the query selects, in output order.
    ra, dec : str
        Keys of the main table's position columns.
    keys : tuple of str
        Keys of the columns that identify a row (pages that overlap are de-duplicated on them).
    join_on : tuple of str
        Service names of the columns every joined table shares with the main table.
    citation : str
        What to cite.
    note : str
        What a user should know about the release (shown by ``ocfeh readers`` and the docs).
    """

    product: str
    release: str
    service: str
    tables: tuple[ArchiveTable, ...]
    columns: tuple[ArchiveColumn, ...]
    ra: str
    dec: str
    keys: tuple[str, ...]
    citation: str
    join_on: tuple[str, ...] = ()
    note: str = ""

    def column(self, key: str) -> ArchiveColumn:
        """The column of a key; unknown keys raise with the closest ones."""
        for c in self.columns:
            if c.key == key:
                return c
        known = [c.key for c in self.columns]
        close = difflib.get_close_matches(key, known, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise InputError(f"{self.product} has no column key {key!r}.{hint} Keys: {', '.join(known)}.")

    def table(self, alias: str) -> ArchiveTable:
        """The table of an alias."""
        return next(t for t in self.tables if t.alias == alias)

    @property
    def main(self) -> ArchiveTable:
        """The table that is paged and counted."""
        return self.tables[0]

    def ref(self, key: str) -> str:
        """A column as an ADQL expression (``alias.name`` or ``"name"``), arrays not indexed."""
        c = self.column(key)
        t = self.table(c.table)
        name = f'"{c.name}"' if t.delimited else c.name
        return f"{t.alias}.{name}" if t.alias else name

    def file_names(self, key: str, bands: tuple[str, ...] = JPLUS_BANDS) -> tuple[str, ...]:
        """The column name(s) of a key in the written file (one per band for arrays)."""
        c = self.column(key)
        return tuple(f"{c.file}_{b}" for b in bands) if c.per_band else (c.file,)

    def key_files(self) -> tuple[str, ...]:
        """File names of the key columns (for de-duplication)."""
        return tuple(self.column(k).file for k in self.keys)

    def with_names(self, names: Mapping[str, str]) -> ArchiveProduct:
        """A copy whose service names are overridden by key (file names stay: the readers know them)."""
        if not names:
            return self
        for key in names:
            self.column(key)  # unknown keys raise
        cols = tuple(replace(c, name=names.get(c.key, c.name)) for c in self.columns)
        return replace(self, columns=cols)

    def select_list(self, bands: tuple[str, ...] = JPLUS_BANDS) -> list[str]:
        """The SELECT items, each ``expression AS file-name`` where the two differ."""
        items = []
        for c in self.columns:
            ref = self.ref(c.key)
            if c.per_band:
                items += [f"{ref}[jplus::{b}] AS {c.file}_{b}" for b in bands]
            elif c.file == c.name:
                items.append(ref)
            else:
                items.append(f'{ref} AS "{c.file}"' if self.table(c.table).delimited else f"{ref} AS {c.file}")
        return items


def _cols(table: str, *names: str, per_band: bool = False) -> tuple[ArchiveColumn, ...]:
    """Columns whose key, service name and file name are the same."""
    return tuple(ArchiveColumn(n, table, n, per_band=per_band) for n in names)


_JPLUS_DR3 = ArchiveProduct(
    product="jplus",
    release="J-PLUS DR3",
    service="jplus",
    tables=(
        ArchiveTable("o", "jplus.MagABDualObj"),
        ArchiveTable("p", "jplus.MagABDualPointSources"),
        ArchiveTable("e", "jplus.MWExtinction"),
        ArchiveTable("s", "jplus.StarGalClass"),
    ),
    columns=(
        *_cols("o", "tile_id", "number", "alpha_j2000", "delta_j2000", "class_star"),
        *_cols("o", "mag_aper_6_0", "mag_err_aper_6_0", "mag_auto", "mag_err_auto", "flags", "mask_flags",
               per_band=True),
        *_cols("p", "mag_aper_cor_6_0", per_band=True),
        *_cols("e", "ebv"),
        *_cols("e", "ax", per_band=True),
        ArchiveColumn("prob_star", "s", "sglc_prob_star"),
    ),
    ra="alpha_j2000",
    dec="delta_j2000",
    keys=("tile_id", "number"),
    join_on=("tile_id", "number"),
    citation="J-PLUS DR3 (Cenarro et al. 2019, A&A 622, A176; CEFCA archive)",
    note="aperture-corrected magnitudes (mag_aper_cor_6_0, point sources) carry the errors of mag_aper_6_0",
)

_GAIA_DR3 = ArchiveProduct(
    product="gaia",
    release="Gaia DR3",
    service="gaia",
    tables=(
        ArchiveTable("g", "gaiadr3.gaia_source"),
        ArchiveTable("ap", "gaiadr3.astrophysical_parameters"),
        ArchiveTable("d", "external.gaiaedr3_distance"),
    ),
    columns=(
        *_cols("g", "source_id", "ra", "dec", "ref_epoch", "parallax", "parallax_error", "pmra", "pmdec",
               "phot_g_mean_mag", "phot_bp_mean_mag", "phot_rp_mean_mag", "phot_g_mean_flux_over_error",
               "phot_bp_mean_flux_over_error", "phot_rp_mean_flux_over_error", "ruwe"),
        *_cols("ap", "ag_gspphot", "ebpminrp_gspphot", "azero_gspphot", "azero_gspphot_lower",
               "azero_gspphot_upper", "distance_gspphot"),
        *_cols("d", "r_med_geo", "r_lo_geo", "r_hi_geo", "r_med_photogeo", "r_lo_photogeo", "r_hi_photogeo"),
    ),
    ra="ra",
    dec="dec",
    keys=("source_id",),
    join_on=("source_id",),
    citation="Gaia DR3 (Gaia Collaboration, Vallenari et al. 2023); Bailer-Jones et al. 2021, AJ 161, 147",
)

_CATWISE2020_IRSA = ArchiveProduct(
    product="catwise",
    release="CatWISE2020 (IRSA catwise_2020)",
    service="irsa",
    tables=(ArchiveTable("", "catwise_2020"),),
    columns=(
        *_cols("", "source_name", "ra", "dec"),
        ArchiveColumn("w1", "", "w1mpro"), ArchiveColumn("w1_err", "", "w1sigmpro"),
        ArchiveColumn("w2", "", "w2mpro"), ArchiveColumn("w2_err", "", "w2sigmpro"),
    ),
    ra="ra",
    dec="dec",
    keys=("source_name",),
    citation="CatWISE2020 (Marocco et al. 2021, ApJS 253, 8; IRSA)",
    note="W1/W2 of the stationary profile fit (w1mpro, w2mpro), the photometry ocfeh trains and predicts on; "
         "VizieR's II/365 holds the proper-motion fit (W1mproPM) instead",
)

_HR23 = "J/A+A/673/A114"
_HR23_CITATION = "Hunt & Reffert 2023, A&A 673, A114 (VizieR J/A+A/673/A114)"

_HR23_CLUSTERS = ArchiveProduct(
    product="hr23_clusters",
    release="Hunt & Reffert 2023",
    service="vizier",
    tables=(ArchiveTable("", f"{_HR23}/clusters", delimited=True),),
    columns=_cols("", "Name", "Type", "RA_ICRS", "DE_ICRS", "r50", "N", "Plx", "pmRA", "pmDE", "dist50",
                  "logAge50", "AV50"),
    ra="RA_ICRS",
    dec="DE_ICRS",
    keys=("Name",),
    citation=_HR23_CITATION,
)

_HR23_MEMBERS = ArchiveProduct(
    product="hr23_members",
    release="Hunt & Reffert 2023",
    service="vizier",
    tables=(ArchiveTable("", f"{_HR23}/members", delimited=True),),
    columns=_cols("", "Name", "GaiaDR3", "Prob", "RA_ICRS", "DE_ICRS", "Plx", "e_Plx", "pmRA", "pmDE",
                  "Gmag", "BPmag", "RPmag", "RUWE"),
    ra="RA_ICRS",
    dec="DE_ICRS",
    keys=("Name", "GaiaDR3"),
    citation=_HR23_CITATION,
)


def _lamost(table: str, release: str, snr: tuple[str, ...]) -> ArchiveProduct:
    """LAMOST LRS stellar parameters on VizieR, written with LAMOST's own column names."""
    vizier = {"obsid": "ObsID", "ra": "RAJ2000", "dec": "DEJ2000", "teff": "Teff", "teff_err": "e_Teff",
              "logg": "logg", "logg_err": "e_logg", "feh": "[Fe/H]", "feh_err": "e_[Fe/H]",
              **{s: s for s in snr}}
    return ArchiveProduct(
        product="lamost",
        release=release,
        service="vizier",
        tables=(ArchiveTable("", table, delimited=True),),
        columns=tuple(ArchiveColumn(k, "", v, file=k) for k, v in vizier.items()),
        ra="ra",
        dec="dec",
        keys=("obsid",),
        citation=f"LAMOST LRS (Luo et al. 2015, RAA 15, 1095), {release} via VizieR {table.rsplit('/', 1)[0]}",
        note="the poster used LAMOST DR8 LRS, which VizieR does not hold: download the DR8 LRS stellar-"
             "parameter catalogue from the LAMOST data release and read it with the 'lamost' reader",
    )


#: LAMOST tables of VizieR that ``ocfeh fetch --lamost-table`` accepts, by table name.
LAMOST_VIZIER = {
    "V/164/stellar5": _lamost("V/164/stellar5", "LAMOST DR5 LRS", ("snrg", "snrr")),
    "V/156/dr7slrs": _lamost("V/156/dr7slrs", "LAMOST DR7 LRS", ("snrg", "snrr")),
}

#: Column tables of the products ``ocfeh fetch`` writes, by product name.
ARCHIVE: dict[str, ArchiveProduct] = {
    p.product: p
    for p in (_JPLUS_DR3, _GAIA_DR3, _CATWISE2020_IRSA, _HR23_CLUSTERS, _HR23_MEMBERS,
              LAMOST_VIZIER["V/164/stellar5"])
}
