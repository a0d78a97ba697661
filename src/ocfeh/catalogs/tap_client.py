"""One TAP query, done carefully: pyvo sync call, bounded retries with backoff, a local cache.

The cache holds one VOTable per query, named by a hash of (service URL, ADQL, row limit) and written
atomically, so an interrupted download never leaves a half file and a re-run reuses every page
already fetched. Remote failures become :class:`ArchiveError` messages that say what to do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import ArchiveError
from ..provenance import atomic_path, package_version, stable_hash

if TYPE_CHECKING:  # pragma: no cover
    from astropy.table import Table

__all__ = ["OVERFLOW_KEY", "ArchiveError", "TapClient", "query_key"]

log = logging.getLogger(__name__)

#: HTTP codes worth retrying: busy, rate-limited, gateway trouble.
TRANSIENT_HTTP = frozenset({408, 429, 500, 502, 503, 504})
_CACHE_VERSION = 1
#: ``Table.meta`` key set on an answer the service cut at its own row limit (QUERY_STATUS=OVERFLOW).
OVERFLOW_KEY = "ocfeh_tap_overflow"


def query_key(url: str, query: str, maxrec: int | None) -> str:
    """The cache key of a query: a stable hash of service URL, ADQL text and row limit."""
    return stable_hash({"v": _CACHE_VERSION, "url": url.rstrip("/"), "query": query, "maxrec": maxrec}, length=24)


def _session(timeout_s: float) -> Any:
    """A requests session whose calls time out (pyvo's own has no timeout)."""
    import requests

    version = package_version()

    class _TimeoutSession(requests.Session):
        def request(self, *args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("timeout", timeout_s)
            return super().request(*args, **kwargs)

        def send(self, request: Any, **kwargs: Any) -> Any:
            response = super().send(request, **kwargs)
            self.last_content_type = response.headers.get("Content-Type", "")
            return response

    s = _TimeoutSession()
    s.last_content_type = ""
    s.headers["User-Agent"] = f"ocfeh/{version} (pyvo)"
    return s


def _root(exc: BaseException) -> BaseException:
    """The network error behind pyvo's wrappers (``cause``) and Python's chaining (``__cause__``/``__context__``)."""
    import requests
    import urllib3

    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        if isinstance(node, (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, TimeoutError)):
            return node
        seen.add(id(node))
        node = getattr(node, "cause", None) or node.__cause__ or node.__context__
    return exc


def _classify(exc: BaseException, content_type: str = "") -> tuple[bool, int | None, str]:
    """(transient?, HTTP code or None, short reason) of an exception raised by a pyvo call."""
    import requests
    import urllib3
    from pyvo.dal.exceptions import DALFormatError, DALQueryError, DALServiceError

    root = _root(exc)  # network errors raised while pyvo reads the answer arrive wrapped
    if isinstance(root, (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)):
        return True, None, "timed out"
    if isinstance(root, requests.exceptions.ConnectionError):
        return True, None, f"could not connect ({str(root)[:160]})"
    if isinstance(root, urllib3.exceptions.HTTPError):
        return True, None, f"the connection broke off during the answer ({str(root)[:160]})"
    if "html" in content_type.lower() and not isinstance(exc, DALQueryError):
        code = getattr(exc, "code", None) or None
        return True, code, ("the service answered with an HTML page instead of a VOTable (a maintenance page, "
                            "a proxy or a login portal)")
    if isinstance(exc, DALQueryError):
        return False, None, f"the archive rejected the query: {exc.reason}"
    if isinstance(exc, DALServiceError):
        code = exc.code or None
        if code in TRANSIENT_HTTP:
            return True, code, f"HTTP {code} (service busy or down)"
        return False, code, f"HTTP {code}: {str(exc.reason)[:300]}" if code else str(exc.reason)[:300]
    if isinstance(exc, DALFormatError):
        return True, None, f"unreadable answer (not a VOTable): {str(exc)[:200]}"
    return False, None, f"{exc.__class__.__name__}: {str(exc)[:300]}"


def _advice(url: str, code: int | None, transient: bool, cached: bool = True) -> str:
    if code in (401, 403):
        return (f"The service at {url} refused access (HTTP {code}): it may need a login; "
                "download the table from its web portal instead and read it with ocfeh's readers.")
    if code == 404:
        return (f"No TAP service answers at {url} (HTTP 404): check the URL "
                "(override it with --service NAME=URL or FetchConfig.service_urls).")
    if transient:
        again = (": pages already fetched are cached and not asked again" if cached
                 else " (with the cache on, pages already fetched would not be asked again)")
        return (f"The service at {url} is unreachable or busy. Check your network connection or proxy, "
                f"then re-run the same command later{again}. "
                "Smaller pages (--page-size) help if queries time out.")
    return ("Column or table names can change between data releases: 'ocfeh fetch --check' compares them "
            "with the service's TAP_SCHEMA and '--dry-run' prints the ADQL.")


class TapClient:
    """Runs ADQL on one TAP service through pyvo, with retries and a file cache.

    Parameters
    ----------
    url : str
        Base URL of the TAP service (``<url>/sync`` receives the query).
    cache_dir : path-like or None
        Folder of cached answers; None disables the cache.
    timeout_s : float, default=120
        Per-request timeout in seconds.
    max_retries : int, default=4
        Retries after the first attempt on transient errors (HTTP 408/429/5xx, timeouts, refused
        connections, unreadable answers); permanent errors (bad ADQL, 4xx) are raised at once.
    backoff_s : float, default=2
        First wait in seconds; doubles at each retry, capped at ``backoff_max_s``.
    backoff_max_s : float, default=60
        Longest wait between attempts (seconds).
    sleep : callable, default=time.sleep
        The wait function (tests pass a recorder).

    Attributes
    ----------
    n_requests : int
        Requests sent so far (retries included).
    n_cache_hits : int
        Queries answered from the cache.
    """

    def __init__(
        self,
        url: str,
        *,
        cache_dir: str | Path | None = None,
        timeout_s: float = 120.0,
        max_retries: int = 4,
        backoff_s: float = 2.0,
        backoff_max_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url.rstrip("/")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.sleep = sleep
        self.n_requests = 0
        self.n_cache_hits = 0
        self._service: Any = None
        self._http: Any = None

    def _get_service(self) -> Any:
        if self._service is None:
            from pyvo.dal import TAPService

            self._http = _session(self.timeout_s)
            self._service = TAPService(self.url, session=self._http)
        return self._service

    def cache_path(self, query: str, maxrec: int | None) -> Path | None:
        """Where the answer of ``query`` is (or would be) cached."""
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"{query_key(self.url, query, maxrec)}.vot"

    def run(self, query: str, maxrec: int | None = None) -> Table:
        """Run ADQL and return the result as an astropy Table (from the cache when present).

        Raises
        ------
        ArchiveError
            After ``max_retries`` retries of a transient failure, or at once on a permanent one.
        """
        from astropy.table import Table

        path = self.cache_path(query, maxrec)
        if path is not None and path.is_file():
            try:
                table = Table.read(path, format="votable")
            except Exception as exc:  # noqa: BLE001  (a damaged cache file of any kind: fetch again)
                log.warning("ignoring unreadable cache file %s (%s)", path, exc)
            else:
                self.n_cache_hits += 1
                return table
        table = self._run_remote(query, maxrec)
        if path is not None and not table.meta.get(OVERFLOW_KEY):  # a cut page is split, never reused
            table.meta["ocfeh_tap_url"] = self.url
            table.meta["ocfeh_tap_query"] = query
            with atomic_path(path) as tmp:
                # BINARY2, not TABLEDATA: astropy's C TABLEDATA writer can corrupt memory (astropy#20419)
                table.write(tmp, format="votable", tabledata_format="binary2", overwrite=True)
        return table

    def _run_remote(self, query: str, maxrec: int | None) -> Table:
        import warnings

        from pyvo.dal.exceptions import DALOverflowWarning

        attempt = 0
        while True:
            self.n_requests += 1
            if self._http is not None:
                self._http.last_content_type = ""
            try:
                with warnings.catch_warnings():
                    # a full page is detected by its row count and split by the caller
                    warnings.simplefilter("ignore", DALOverflowWarning)
                    result = self._get_service().run_sync(query, maxrec=maxrec)
                    table = result.to_table()
                if str(result.status[0]).lower() == "overflow":
                    table.meta[OVERFLOW_KEY] = True
                return table
            except Exception as exc:  # every failure is classified and re-raised as ArchiveError
                content_type = getattr(self._http, "last_content_type", "")
                transient, code, reason = _classify(exc, content_type)
                if not transient or attempt >= self.max_retries:
                    tries = f" after {attempt + 1} attempts" if attempt else ""
                    log.debug("failed ADQL (%s):\n%s", self.url, query)
                    reason = " ".join(str(reason).split())  # a service's multi-line text, on one line
                    raise ArchiveError(
                        f"TAP query to {self.url} failed{tries}: {reason}. "
                        f"{_advice(self.url, code, transient, self.cache_dir is not None)}",
                        url=self.url, query=query, transient=transient,
                    ) from exc
                wait = min(self.backoff_max_s, self.backoff_s * 2.0**attempt)
                attempt += 1
                log.warning("%s: %s; retry %d/%d in %.1f s", self.url, reason, attempt, self.max_retries, wait)
                self.sleep(wait)
