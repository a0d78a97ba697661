"""A small TAP server on 127.0.0.1 for the archive tests (never a real archive).

It speaks enough of TAP for pyvo: ``/capabilities``, ``/tables`` and ``/sync`` (REQUEST=doQuery,
LANG=ADQL, QUERY, MAXREC), and behaves as the real services do where ocfeh depends on it:

- ``TAP_SCHEMA.columns`` / ``TAP_SCHEMA.tables`` are answered from the column lists of
  ``tests/data/tap_schema/*.txt`` (as the services publish them, with the evidence in each header);
- a query naming a table or column the schema does not have is refused with HTTP 400 and a VOTable
  whose QUERY_STATUS is ERROR (regular identifiers are case-insensitive, delimited ones exact);
- data queries are answered from tables the test wrote, with the CIRCLE, BETWEEN and IN conditions
  applied (so paging is exercised), only the selected columns returned, ``COUNT(*)`` counted, and
  truncation at MAXREC or at the service's own ``row_limit`` marked OVERFLOW;
- ``failures`` makes the next requests fail as services do: an HTTP code, QUERY_STATUS=ERROR in a
  200 answer, an HTML page, an answer that stalls or breaks off mid-page.
"""

from __future__ import annotations

import io
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from astropy.io.votable import from_table
from astropy.io.votable.tree import Info
from astropy.table import Table

SCHEMA_DIR = Path(__file__).parent / "data" / "tap_schema"
_NUM = r"([-+0-9.eE]+)"
_KEYWORDS = {
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "AS", "LEFT", "RIGHT", "OUTER", "INNER", "JOIN", "ON",
    "BETWEEN", "IN", "CONTAINS", "INTERSECTS", "POINT", "CIRCLE", "BOX", "POLYGON", "COUNT", "TOP", "DISTINCT",
    "IS", "NULL", "LIKE", "ORDER", "BY", "ASC", "DESC", "LOWER", "UPPER",
}


def load_schemas(directory: Path = SCHEMA_DIR) -> dict[str, list[str]]:
    """Table name -> column names, from the fixture files (``# table: NAME`` header, one column a line)."""
    out: dict[str, list[str]] = {}
    for path in sorted(directory.glob("*.txt")):
        table, cols = None, []
        for line in path.read_text().splitlines():
            if line.startswith("#"):
                m = re.match(r"#\s*table:\s*(\S+)", line)
                table = m.group(1) if m and table is None else table
                continue
            name = line.split("#", 1)[0].strip()
            if name:
                cols.append(name)
        if table is None:
            raise ValueError(f"{path}: no '# table: NAME' header")
        out[table] = cols
    return out


def votable_bytes(table: Table | None, status: str = "OK", message: str = "", overflow: bool = False) -> bytes:
    vot = from_table(table if table is not None else Table({"x": [0.0]})[:0])
    res = vot.resources[0]
    res.type = "results"
    info = Info(name="QUERY_STATUS", value=status)
    if message:
        info.content = message
    res.infos.append(info)
    if overflow:
        res.infos.append(Info(name="QUERY_STATUS", value="OVERFLOW"))
    buf = io.BytesIO()
    vot.to_xml(buf, tabledata_format="binary2")  # astropy's C TABLEDATA writer corrupts memory (#20419)
    return buf.getvalue()


_CAPABILITIES = """<?xml version="1.0" encoding="UTF-8"?>
<vosi:capabilities xmlns:vosi="http://www.ivoa.net/xml/VOSICapabilities/v1.0"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1"
  xmlns:tr="http://www.ivoa.net/xml/TAPRegExt/v1.0">
 <capability standardID="ivo://ivoa.net/std/TAP" xsi:type="tr:TableAccess">
  <interface xsi:type="vs:ParamHTTP" role="std"><accessURL use="base">{base}</accessURL></interface>
  <language><name>ADQL</name><version ivo-id="ivo://ivoa.net/std/ADQL#v2.0">2.0</version></language>
 </capability>
</vosi:capabilities>"""

_TABLES = """<?xml version="1.0" encoding="UTF-8"?>
<vosi:tableset xmlns:vosi="http://www.ivoa.net/xml/VOSITables/v1.0"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1">
 <schema><name>test</name>{tables}</schema>
</vosi:tableset>"""

_HTML = (b"<!DOCTYPE html><html><head><title>Service maintenance</title></head>"
         b"<body><h1>The archive is down for maintenance</h1></body></html>")


def _sep_deg(ra1, dec1, ra2, dec2):
    ra1, dec1, ra2, dec2 = map(np.radians, (ra1, dec1, ra2, dec2))
    c = np.sin(dec1) * np.sin(dec2) + np.cos(dec1) * np.cos(dec2) * np.cos(ra1 - ra2)
    return np.degrees(np.arccos(np.clip(c, -1, 1)))


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses and brackets."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


class ParsedQuery:
    """The parts of an ADQL query the server needs: tables with aliases, column references, outputs."""

    _TABLE = re.compile(r'\b(FROM|JOIN)\s+("[^"]+"|[\w.]+)(?:\s+AS\s+(\w+))?', re.IGNORECASE)

    def __init__(self, query: str):
        self.query = query
        self.tables = {(m.group(3) or ""): _unquote(m.group(2)) for m in self._TABLE.finditer(query)}
        self.main = _unquote(self._TABLE.search(query).group(2)) if self._TABLE.search(query) else ""
        self.count = bool(re.match(r"\s*SELECT\s+COUNT\(\*\)", query, re.IGNORECASE))
        select = re.match(r"\s*SELECT\s+(.*?)\s+FROM\s", query, re.IGNORECASE | re.DOTALL)
        self.outputs: list[str] = []
        for item in _split_top(select.group(1)) if select and not self.count else []:
            m = re.search(r'\s+AS\s+("[^"]+"|\w+)\s*$', item, re.IGNORECASE)
            ref = item[: m.start()] if m else item
            ref = ref.strip() if ref.strip().endswith('"') else re.sub(r"\[.*\]$", "", ref.strip())
            self.outputs.append(_unquote(m.group(1)) if m else _unquote(ref.split(".")[-1]))

    def references(self) -> list[tuple[str, str, bool]]:
        """(alias, column, delimited) of every column the query names."""
        q = re.sub(r"'(?:[^']|'')*'", "''", self.query)
        q = self._TABLE.sub(r"\1 ", q)
        q = re.sub(r'\bAS\s+("[^"]+"|\w+)', " ", q, flags=re.IGNORECASE)
        quoted: list[str] = []

        def hold(m: re.Match) -> str:
            quoted.append(_unquote(m.group(0)))
            return f"__q{len(quoted) - 1}__"

        q = re.sub(r'"(?:[^"]|"")+"', hold, q)
        q = re.sub(r"\[[^\]]*\]", "", q)  # array indexes such as [jplus::J0660]
        refs = []
        for m in re.finditer(r"(?<![\w.])(?:(\w+)\.)?([A-Za-z_]\w*)", q):
            alias, name = m.group(1) or "", m.group(2)
            held = re.fullmatch(r"__q(\d+)__", name)
            if held:
                refs.append((alias, quoted[int(held.group(1))], True))
            elif name.upper() not in _KEYWORDS:
                refs.append((alias, name, False))
        return refs


class FakeTap:
    """A TAP server on 127.0.0.1 answering from in-memory tables.

    Parameters
    ----------
    datasets : dict
        Table name (as after FROM) -> (table in output names, its ra column, its dec column).
    schemas : dict, optional
        Table name -> column names the service publishes (default: the fixtures).
    row_limit : int, optional
        The service's own limit: answers are cut there with OVERFLOW whatever MAXREC says.

    Attributes
    ----------
    failures : list
        How the next ``/sync`` requests fail, one entry each: an int (that HTTP code, plain text),
        ``"error"`` (200 with QUERY_STATUS=ERROR), ``"html"`` (200 with an HTML page), ``"stall"``
        (half the answer, then silence for ``stall_s``), ``"truncate"`` (half the answer, then the
        connection closes).
    """

    def __init__(self, datasets: dict[str, tuple[Table, str, str]], schemas: dict[str, list[str]] | None = None,
                 row_limit: int | None = None):
        self.datasets = datasets
        self.schemas = load_schemas() if schemas is None else schemas
        self.row_limit = row_limit
        self.queries: list[str] = []
        self.params: list[dict[str, str]] = []
        self.failures: list = []
        self.stall_s = 3.0
        self.n_sync = 0
        self.n_other = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, code: int, body: bytes, ctype: str, cut: str = "") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if cut:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    if cut == "stall":
                        time.sleep(server.stall_s)
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def _params(self) -> dict[str, str]:
                url = urllib.parse.urlsplit(self.path)
                params = dict(urllib.parse.parse_qsl(url.query))
                if self.command == "POST":
                    n = int(self.headers.get("Content-Length") or 0)
                    params.update(urllib.parse.parse_qsl(self.rfile.read(n).decode()))
                return {k.upper(): v for k, v in params.items()}

            def do_GET(self):
                self._route()

            def do_POST(self):
                self._route()

            def _route(self):
                path = urllib.parse.urlsplit(self.path).path.rstrip("/")
                params = self._params()
                if path.endswith("/capabilities"):
                    server.n_other += 1
                    return self._send(200, _CAPABILITIES.format(base=server.url).encode(), "text/xml")
                if path.endswith("/tables"):
                    server.n_other += 1
                    tables = "".join(f"<table><name>{n}</name></table>" for n in server.schemas)
                    return self._send(200, _TABLES.format(tables=tables).encode(), "text/xml")
                if not path.endswith("/sync"):
                    return self._send(404, b"not found", "text/plain")
                server.n_sync += 1
                server.params.append(params)
                failure = server.failures.pop(0) if server.failures else None
                if isinstance(failure, int):
                    return self._send(failure, f"temporarily unavailable ({failure})".encode(), "text/plain")
                if failure == "html":
                    return self._send(200, _HTML, "text/html; charset=utf-8")
                if failure == "error":
                    return self._send(200, votable_bytes(None, "ERROR", "Query execution failed: out of memory"),
                                      "application/x-votable+xml")
                code, body = server.answer(params)
                self._send(code, body, "application/x-votable+xml", cut=failure or "")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/tap"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # ------------------------------------------------------------------ answers

    def _error(self, message: str) -> tuple[int, bytes]:
        # services add lines of detail (the parser's position, the query): the text has line breaks
        return 400, votable_bytes(None, "ERROR", f"{message}\n  at line 1 of the query\n")

    def _schema_answer(self, query: str) -> tuple[int, bytes] | None:
        m = re.search(r"FROM\s+TAP_SCHEMA\.columns\s+WHERE\s+table_name\s*=\s*'((?:[^']|'')*)'", query, re.IGNORECASE)
        if m:
            cols = self.schemas.get(m.group(1).replace("''", "'"), [])
            return 200, votable_bytes(Table({"column_name": np.array(cols, dtype=str)}) if cols
                                      else Table({"column_name": np.array([], dtype="U1")}))
        m = re.search(r"FROM\s+TAP_SCHEMA\.tables\s+WHERE\s+table_name\s+LIKE\s+'((?:[^']|'')*)'", query, re.IGNORECASE)
        if m:
            prefix = m.group(1).replace("''", "'").rstrip("%")
            names = [t for t in self.schemas if t.startswith(prefix)]
            return 200, votable_bytes(Table({"table_name": np.array(names or [""], dtype=str)})[: len(names)])
        return None

    def _unknown_names(self, parsed: ParsedQuery) -> str | None:
        for table in parsed.tables.values():
            if table not in self.schemas:
                return f"Table '{table}' does not exist"
        for alias, name, delimited in parsed.references():
            tables = [parsed.tables[alias]] if alias in parsed.tables else list(parsed.tables.values())
            if alias and alias not in parsed.tables:
                return f"Unknown table alias '{alias}'"
            cols = [c for t in tables for c in self.schemas[t]]
            if not (name in cols if delimited else name.lower() in {c.lower() for c in cols}):
                return f"Column '{name}' does not exist in table '{tables[0]}'" if len(tables) == 1 else \
                    f"Column '{name}' does not exist"
        return None

    def answer(self, params: dict[str, str]) -> tuple[int, bytes]:
        if params.get("REQUEST") != "doQuery" or params.get("LANG") != "ADQL" or "QUERY" not in params:
            return self._error(f"bad TAP parameters {sorted(params)}")
        query = params["QUERY"]
        self.queries.append(query)
        schema = self._schema_answer(query)
        if schema is not None:
            return schema
        parsed = ParsedQuery(query)
        problem = self._unknown_names(parsed)
        if problem:
            return self._error(problem)
        if parsed.main not in self.datasets:
            return 500, b"test server: no rows for this table"
        table, ra_col, dec_col = self.datasets[parsed.main]
        keep = np.ones(len(table), bool)
        circle = re.search(rf"CIRCLE\('ICRS', {_NUM}, {_NUM}, {_NUM}\)", query)
        if circle:
            ra0, dec0, r = map(float, circle.groups())
            keep &= _sep_deg(table[ra_col], table[dec_col], ra0, dec0) <= r
        between = re.findall(rf"BETWEEN {_NUM} AND {_NUM}", query)
        if between:
            (a, b), (c, d) = [(float(x), float(y)) for x, y in between]
            ra, dec = np.asarray(table[ra_col]), np.asarray(table[dec_col])
            keep &= (ra >= a) & (ra <= b) & (dec >= c) & (dec <= d)
        for col, values in re.findall(r'"?(\w+)"?\s+IN\s+\(([^)]*)\)', query):
            wanted = [v.replace("''", "'") for v in re.findall(r"'((?:[^']|'')*)'", values)]
            keep &= np.isin(np.asarray(table[col]).astype(str), wanted)
        rows = table[keep]
        if parsed.count:
            return 200, votable_bytes(Table({"n": [len(rows)]}))
        if parsed.outputs == ["*"]:
            parsed.outputs = rows.colnames
        missing = [c for c in parsed.outputs if c not in rows.colnames]
        if missing:
            return 500, f"test server: the test table lacks {missing}".encode()
        limit = min(int(params.get("MAXREC", 10**9)), self.row_limit or 10**9)
        return 200, votable_bytes(rows[parsed.outputs][:limit], overflow=len(rows) > limit)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
