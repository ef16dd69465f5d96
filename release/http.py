"""The one HTTP session: timeouts, retries for safe requests, a user agent."""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from . import __version__

USER_AGENT = f"pypi-release-action/{__version__}"
TIMEOUT = (10, 60)  # connect, read (seconds)


class Session(requests.Session):
    """A requests session whose every call has a timeout."""

    def request(self, method: str | bytes, url: str | bytes, *a: Any, **kw: Any) -> Any:
        if kw.get("timeout") is None:
            kw["timeout"] = TIMEOUT
        return super().request(method, url, *a, **kw)


def make_session(retries: int = 4) -> Session:
    session = Session()
    session.headers["User-Agent"] = USER_AGENT
    retry = Retry(
        total=retries,
        backoff_factor=0.5,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "HEAD"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
