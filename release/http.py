"""The one HTTP session: timeouts, bounded retries for safe requests, capped reads.

Every wait is bounded: connect and read timeouts on each request, ``Retry-After``
honoured up to ``MAX_RETRY_AFTER``, all retry waits of a run within
``RETRY_BUDGET``, and each body read within a deadline and a size cap (a page sent one
byte at a time never trips a per-read timeout).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from . import __version__

USER_AGENT = f"pypi-release-action/{__version__}"
TIMEOUT = (10, 60)  # connect, read (seconds)
MAX_RETRY_AFTER = 60.0
RETRY_BUDGET = 120.0  # seconds of retry waits in one run, all requests together
READ_DEADLINE = 90.0  # seconds to read one body
CHUNK = 16 * 1024  # small: a gzip bomb inflates ~1000x per chunk read


class RetryBudget:
    """Seconds the run may still spend waiting to retry (shared by every request)."""

    def __init__(self, seconds: float) -> None:
        self.left = seconds
        self.lock = threading.Lock()

    def take(self, wanted: float) -> float:
        with self.lock:
            granted = max(0.0, min(wanted, self.left))
            self.left -= granted
            return granted


class BoundedRetry(Retry):
    """urllib3's Retry with ``Retry-After`` capped and every wait charged to a budget."""

    budget: RetryBudget = RetryBudget(RETRY_BUDGET)

    def new(self, **kw: Any) -> BoundedRetry:
        made: BoundedRetry = super().new(**kw)
        made.budget = self.budget
        return made

    def get_retry_after(self, response: Any) -> float | None:
        after = super().get_retry_after(response)
        return None if after is None else min(after, MAX_RETRY_AFTER)

    def sleep(self, response: Any = None) -> None:
        wanted = 0.0
        if self.respect_retry_after_header and response is not None:
            wanted = self.get_retry_after(response) or 0.0
        wanted = wanted or self.get_backoff_time()
        time.sleep(self.budget.take(wanted))


class Session(requests.Session):
    """A requests session whose every call has a timeout."""

    def request(self, method: str | bytes, url: str | bytes, *a: Any, **kw: Any) -> Any:
        if kw.get("timeout") is None:
            kw["timeout"] = TIMEOUT
        return super().request(method, url, *a, **kw)


def make_session(retries: int = 4, budget: float = RETRY_BUDGET) -> Session:
    session = Session()
    session.headers["User-Agent"] = USER_AGENT
    retry = BoundedRetry(
        total=retries,
        backoff_factor=0.5,
        backoff_jitter=0.25,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "HEAD"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    retry.budget = RetryBudget(budget)
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class TooLarge(Exception):
    """The body is larger than the cap."""


class TooSlow(Exception):
    """The body did not arrive within the deadline."""


@dataclasses.dataclass(frozen=True)
class Page:
    """A response read whole, within its caps."""

    url: str
    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()

    @property
    def charset(self) -> str | None:
        for param in self.headers.get("Content-Type", "").split(";")[1:]:
            key, _, value = param.strip().partition("=")
            if key.lower() == "charset":
                return value.strip('"') or None
        return None


def get_capped(
    session: requests.Session,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    max_bytes: int,
    deadline: float = READ_DEADLINE,
) -> Page:
    """GET a body, decoded, of at most ``max_bytes``, read within ``deadline`` seconds.

    Reads with ``read1`` so each call returns what has arrived: the deadline is checked
    between reads however slowly the server sends.
    """
    end = time.monotonic() + deadline
    with session.get(url, headers=dict(headers or {}), stream=True) as response:
        parts: list[bytes] = []
        size = 0
        raw = response.raw
        while True:
            if time.monotonic() > end:
                raise TooSlow(f"the answer took more than {deadline:.0f} s to arrive")
            chunk = raw.read1(CHUNK, decode_content=True)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise TooLarge(f"the answer is larger than {max_bytes // (1024 * 1024)} MiB")
            parts.append(chunk)
        return Page(
            url=response.url,
            status=response.status_code,
            reason=response.reason or "",
            headers=response.headers,
            body=b"".join(parts),
        )
