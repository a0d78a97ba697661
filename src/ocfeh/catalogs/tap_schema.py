"""The schema check: every table and column a product's query names, compared with the service's
own ``TAP_SCHEMA`` before a byte of data is fetched.

One small query per table (``SELECT column_name FROM TAP_SCHEMA.columns WHERE table_name = ...``),
answered through the same :class:`~ocfeh.catalogs.tap_client.TapClient` as the data (so it is
cached with the rest). A column the service does not have is reported with the three closest names
it does have and the setting that changes it, instead of the opaque HTTP 400 of the data query.

Regular ADQL identifiers are case-insensitive; delimited ones (VizieR's, in double quotes) are
compared exactly.
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass

from ..exceptions import ArchiveError
from .archive_columns import ArchiveProduct, ArchiveTable
from .tap_client import TapClient

__all__ = ["SchemaProblem", "check_names", "service_columns", "service_tables"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SchemaProblem:
    """A table or column that the service's TAP_SCHEMA does not list.

    Attributes
    ----------
    product : str
        The product whose query names it.
    table : str
        The table (as the query names it).
    column : str or None
        The column, or None when the table itself is missing.
    key : str or None
        ocfeh's key of the column (``--column PRODUCT.KEY=NAME`` changes it).
    closest : tuple of str
        Up to three names the service does have that come closest.
    url : str
        The service.
    """

    product: str
    table: str
    column: str | None
    key: str | None
    closest: tuple[str, ...]
    url: str

    def message(self) -> str:
        """One line: what is missing, what the service has instead, and the setting that changes it."""
        near = f"; closest it has: {', '.join(self.closest)}" if self.closest else ""
        if self.column is None:
            return (f"{self.product}: table {self.table!r} is not in the TAP_SCHEMA of {self.url}{near}. "
                    "The release may have changed: override the service URL with --service NAME=URL "
                    "(FetchConfig.service_urls), or report it to ocfeh.")
        return (f"{self.product}: column {self.column!r} of {self.table} is not in the TAP_SCHEMA of "
                f"{self.url}{near}. Set it with --column {self.product}.{self.key}=NAME "
                f"(FetchConfig.columns[{self.product!r}][{self.key!r}]).")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _names(table, column: str) -> list[str]:
    if len(table) == 0:
        return []
    name = next((c for c in table.colnames if c.lower() == column), table.colnames[0])
    return [str(v).strip() for v in table[name] if str(v).strip()]


def service_columns(client: TapClient, table: str) -> list[str]:
    """The column names the service's ``TAP_SCHEMA.columns`` lists for ``table`` (``[]`` if none)."""
    query = f"SELECT column_name FROM TAP_SCHEMA.columns WHERE table_name = {_literal(table)}"
    return _names(client.run(query), "column_name")


def service_tables(client: TapClient, table: str) -> list[str]:
    """Tables of the service whose names share ``table``'s schema prefix (to suggest a near name)."""
    sep = max(table.rfind("."), table.rfind("/"))
    prefix = table[: sep + 1] if sep > 0 else table[:4]
    pattern = prefix.replace("'", "''") + "%"
    return _names(client.run(f"SELECT table_name FROM TAP_SCHEMA.tables WHERE table_name LIKE '{pattern}'"),
                  "table_name")


def _closest(name: str, candidates: list[str], exact_case: bool) -> tuple[str, ...]:
    if exact_case:
        return tuple(difflib.get_close_matches(name, candidates, n=3, cutoff=0.0))
    lower = {c.lower(): c for c in candidates}
    return tuple(lower[c] for c in difflib.get_close_matches(name.lower(), list(lower), n=3, cutoff=0.0))


def _table_columns(client: TapClient, table: ArchiveTable) -> tuple[list[str] | None, list[str]]:
    """(columns, tables near its name): columns None when the table is not in the TAP_SCHEMA."""
    cols = service_columns(client, table.name)
    if cols:
        return cols, []
    near = service_tables(client, table.name)
    if not table.delimited:  # regular identifiers: a TAP_SCHEMA that spells the table in another case
        same = [t for t in near if t.lower() == table.name.lower()]
        if same:
            return service_columns(client, same[0]), []
    return None, near


def check_names(names: ArchiveProduct, client: TapClient) -> list[SchemaProblem]:
    """Compare a product's tables and columns with the service's TAP_SCHEMA.

    Parameters
    ----------
    names : ArchiveProduct
        The product's column table, with the user's overrides applied.
    client : TapClient
        A client of the product's service.

    Returns
    -------
    list of SchemaProblem
        Empty when the service has every table and column.

    Raises
    ------
    ArchiveError
        When the service cannot answer the TAP_SCHEMA query at all.
    """
    problems: list[SchemaProblem] = []
    for table in names.tables:
        try:
            have, near = _table_columns(client, table)
        except ArchiveError as exc:
            raise ArchiveError(
                f"{names.product}: the schema check could not read the TAP_SCHEMA of {client.url} "
                f"({exc}). Pass --no-check to fetch without it.",
                url=client.url, query=exc.query, transient=exc.transient,
            ) from exc
        if have is None:
            problems.append(SchemaProblem(names.product, table.name, None, None,
                                          _closest(table.name, near, table.delimited), client.url))
            continue
        known = set(have) if table.delimited else {c.lower() for c in have}
        for col in names.columns:
            if col.table != table.alias:
                continue
            if (col.name if table.delimited else col.name.lower()) not in known:
                problems.append(SchemaProblem(names.product, table.name, col.name, col.key,
                                              _closest(col.name, have, table.delimited), client.url))
    log.info("%s: %d table(s) checked against %s: %s", names.product, len(names.tables), client.url,
             "all names found" if not problems else f"{len(problems)} missing")
    return problems
