"""The one HTTP session: timeouts, bounded retries for safe requests, capped reads; the
one transport failure (TransportError) and the one retry policy (RetryPolicy).

Every wait is bounded, and a bound that stops a retry says so:

- each request has connect and read timeouts (``TIMEOUT``);
- a GET or HEAD is retried on a lost connection, a timeout, 429 and 5xx, with
  exponential backoff and jitter, within ``CALL_DEADLINE`` for the call as a whole;
- ``Retry-After`` is honoured up to ``MAX_RETRY_AFTER``; an index that asks for longer
  is not waited for at all (waiting the cap would only meet the same refusal);
- all retry waits of a run, uploads included, come out of one ``RETRY_BUDGET``;
- a body is read within a deadline and a size cap (``request_capped``, ``get_capped``):
  a page sent one byte at a time never trips a per-read timeout, and a compressed page
  is counted decoded;
- a request body (an upload) is sent within the call's deadline: a server that takes it
  one block at a time, each within the socket's timeout, is given up on all the same.

Every retry loop of the run (the GET loop here, the upload, the trusted-publishing mint,
the confirmation read, the GitHub POST) decides with a RetryPolicy: its own attempts,
backoff, jitter and deadline, the run's shared RetryBudget. urllib3's own ``Retry`` has
no deadline per call and no budget per run, hence the loop here.

A request that got no readable answer raises a TransportError, whatever the cause
(requests' exceptions are turned into one by ``transport()``, a body past its caps is
one): callers catch that one type. Timeouts and caps are module constants read at call
time, so tests can shorten them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import requests
import urllib3.exceptions

from . import __version__
from .gha import printable
from .urls import sanitize_url

USER_AGENT = f"pypi-release-action/{__version__}"
TIMEOUT = (10.0, 60.0)  # connect, read (seconds)
RETRIES = 4  # after the first attempt, for GET and HEAD
BACKOFF = 0.5  # seconds before the first retry; doubled each time, with jitter
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT = frozenset({"GET", "HEAD"})
MAX_RETRY_AFTER = 60.0
RETRY_BUDGET = 120.0  # seconds of retry waits in one run, all requests together
CALL_DEADLINE = 120.0  # one GET: every attempt, every wait, and its body
READ_DEADLINE = 90.0  # seconds to read one body once the answer has begun
CHUNK = 16 * 1024  # decoded bytes per read: a gzip bomb never inflates past this per read
# A header's number: ASCII digits only. str.isdigit() also takes '²' (a Latin-1 byte 0xB2
# decodes to it), which int() and float() then refuse.
_DIGITS = re.compile(r"[0-9]+")
_HUGE = 10**18  # what a longer number counts as (int() refuses more than 4300 digits)


def number(value: str) -> int | None:
    """A header's non-negative integer (Content-Length, Retry-After), or None."""
    value = value.strip()
    if not _DIGITS.fullmatch(value):
        return None
    return int(value) if len(value) < 19 else _HUGE


class RetryBudget:
    """Seconds the run may still spend waiting to retry (shared by every request, and by
    the upload threads: ``take`` is atomic)."""

    def __init__(self, seconds: float) -> None:
        self.total = seconds
        self.left = seconds
        self.lock = threading.Lock()

    def take(self, wanted: float) -> bool:
        """Spend ``wanted`` seconds if that many are left; False (nothing spent) if not."""
        with self.lock:
            if wanted > self.left:
                return False
            self.left -= wanted
            return True


# Jitter: each wait is the backoff times a random number in one of these ranges.
SPREAD = (0.75, 1.25)  # the backoff, give or take a quarter: this action's usual
FULL_JITTER = (0.0, 1.0)  # anything up to the backoff (AWS's "full jitter")
EQUAL_JITTER = (0.5, 1.0)  # half the backoff, and up to half again (AWS's "equal jitter")
NO_JITTER = (1.0, 1.0)


@dataclasses.dataclass(frozen=True)
class Pause:
    """A retry policy's answer after a failed attempt."""

    retry: bool
    seconds: float = 0.0  # the wait before the next attempt
    why: str = ""  # when not retrying: the bound that stopped it ('' when out of attempts)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """When a failed attempt is made again, and after how long; a bound that stops it
    says which (``Pause.why``), in words for a message.

    The wait after the n-th failure is ``backoff * factor**(n-1)``, at most ``cap``,
    times a random number within ``jitter``; or what the server asked for (Retry-After),
    unless that is more than ``max_retry_after``. The next attempt must start, with
    ``margin`` seconds to spare, before ``deadline`` (a ``clock()`` instant); every wait
    is taken from ``budget``, the run's, shared by all its loops and threads.
    """

    attempts: int  # in all, the first one included
    backoff: float  # seconds before the second attempt
    factor: float = 2.0
    jitter: tuple[float, float] = SPREAD
    cap: float = math.inf
    max_retry_after: float = MAX_RETRY_AFTER
    budget: RetryBudget | None = None
    deadline: float | None = None
    margin: float = 0.0
    ends: str = "its deadline has passed"  # what the message says when the deadline stops it
    asker: str = "it"  # who asked to retry after a while, as the message names it
    sleep: Callable[[float], None] = time.sleep
    uniform: Callable[[float, float], float] = random.uniform
    clock: Callable[[], float] = time.monotonic

    def delay(self, failures: int) -> float:
        """The backoff after ``failures`` failed attempts, jittered, at most ``cap``."""
        base = min(self.backoff * self.factor ** min(failures - 1, 64), self.cap)
        return min(base * self.uniform(*self.jitter), self.cap)

    def decide(self, failures: int, retry_after: float | None = None) -> Pause:
        """After ``failures`` failed attempts (the last answered with ``retry_after``, if
        it said): whether to try again, after how long, or why not. A wait decided on is
        taken from the budget; the caller sleeps it (``pause`` does both)."""
        if failures >= self.attempts:
            return Pause(retry=False)
        if retry_after is not None and retry_after > self.max_retry_after:
            return Pause(
                retry=False,
                why=f"{self.asker} asked to retry after {retry_after:.0f} s, longer than "
                f"the {self.max_retry_after:.0f} s this action waits",
            )
        wait = self.delay(failures) if retry_after is None else retry_after
        if self.deadline is not None and self.clock() + wait + self.margin > self.deadline:
            return Pause(retry=False, why=self.ends)
        if self.budget is not None and not self.budget.take(wait):
            return Pause(
                retry=False,
                why=f"the run's budget of {self.budget.total:.0f} s for waiting on retries "
                "is spent",
            )
        return Pause(retry=True, seconds=wait)

    def pause(self, failures: int, retry_after: float | None = None) -> Pause:
        """``decide``, and sleep the wait when it says to retry."""
        decided = self.decide(failures, retry_after)
        if decided.retry:
            self.sleep(decided.seconds)
        return decided


class _Answered(Protocol):
    @property
    def headers(self) -> Mapping[str, str]: ...


def retry_after(response: _Answered) -> float | None:
    """The ``Retry-After`` header in seconds (RFC 9110: seconds or an HTTP date)."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    seconds = number(value)
    if seconds is not None:
        return float(seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


_NOTE = "_release_note"  # on a response: why it was not retried further
_RETRY_NOTE = "retry: "  # the same, as a note on a requests exception


def gave_up(response: requests.Response) -> str:
    """Why retrying a response stopped early (a cap, the budget, the deadline), or ''."""
    return str(getattr(response, _NOTE, ""))


def not_retried(why: str) -> str:
    """What a message says about a retry stopped early (gave_up's answer), or ''."""
    return f" (not retried further: {why})" if why else ""


class Session(requests.Session):
    """A requests session whose every call has timeouts, and whose GETs retry within a
    deadline and the run's budget."""

    def __init__(self, retries: int = RETRIES, budget: RetryBudget | float | None = None) -> None:
        super().__init__()
        self.headers["User-Agent"] = USER_AGENT
        self.retries = retries
        if not isinstance(budget, RetryBudget):
            budget = RetryBudget(RETRY_BUDGET if budget is None else budget)
        self.budget = budget

    def request(self, method: str | bytes, url: str | bytes, *a: Any, **kw: Any) -> Any:
        if kw.get("timeout") is None:
            kw["timeout"] = TIMEOUT
        verb = method.decode() if isinstance(method, bytes) else method
        if verb.upper() not in IDEMPOTENT or self.retries <= 0:
            # Anything else may change the world: its caller decides about retrying.
            return super().request(method, url, *a, **kw)
        return self._retrying(method, url, a, kw)

    def policy(self, end: float) -> RetryPolicy:
        """The GET loop's: RETRIES after the first, BACKOFF doubling with jitter, within
        ``end`` (CALL_DEADLINE after the call began) and the run's budget."""
        return RetryPolicy(
            attempts=self.retries + 1,
            backoff=BACKOFF,
            max_retry_after=MAX_RETRY_AFTER,
            budget=self.budget,
            deadline=end,
            margin=1.0,
            ends=f"each request is given up after {CALL_DEADLINE:.0f} s",
        )

    def _retrying(self, method: str | bytes, url: str | bytes, a: Any, kw: Any) -> Any:
        timeout = kw["timeout"]
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        end = time.monotonic() + CALL_DEADLINE
        policy = self.policy(end)
        failures = 0
        while True:
            left = end - time.monotonic()
            kw["timeout"] = (min(connect, left), min(read, left))
            failures += 1
            try:
                response = super().request(method, url, *a, **kw)
            except (requests.ConnectionError, requests.Timeout) as exc:
                decided = policy.pause(failures)
                if not decided.retry:
                    if decided.why:
                        exc.add_note(_RETRY_NOTE + decided.why)  # read by transport()
                    raise
            else:
                if response.status_code not in RETRY_STATUS:
                    return response
                decided = policy.pause(failures, retry_after(response))
                if not decided.retry:
                    setattr(response, _NOTE, decided.why)
                    return response
                response.close()


def make_session(retries: int = RETRIES, budget: RetryBudget | float | None = None) -> Session:
    return Session(retries, budget)


def sibling(session: requests.Session) -> requests.Session:
    """A new session like ``session``, for another thread: the same retries, the same
    run's budget (a plain requests session gets a plain one)."""
    if isinstance(session, Session):
        return Session(session.retries, session.budget)
    return requests.Session()


def budget_of(session: requests.Session) -> RetryBudget:
    """The session's retry budget (a plain requests session gets a fresh one)."""
    if isinstance(session, Session):
        return session.budget
    return RetryBudget(RETRY_BUDGET)


class TransportError(Exception):
    """The request got no readable answer: no connection, no answer in time, or an
    answer (or the request's body) not read (or sent) within its caps.

    ``str()`` says what happened, in one phrase for a message: the name of what
    requests raised when no answer came ("ReadTimeout"), else what was wrong with the
    body ("it is larger than 20 MiB").
    """

    status: int | None = None  # the answer's status, when an answer had begun
    timeout = ""  # "connect" or "read": no connection, or no answer, in time
    transient = True  # trying again may help (False: a request that cannot work)
    note = ""  # why retrying stopped early, when it did


class NoAnswer(TransportError):
    """requests raised: no connection, no answer in time, or the exchange broke off."""

    def __init__(self, exc: requests.RequestException) -> None:
        super().__init__(type(exc).__name__)
        if isinstance(exc, requests.ConnectTimeout):
            self.timeout = "connect"
        elif isinstance(exc, requests.Timeout):
            self.timeout = "read"
        # Anything else (a URL requests cannot use, too many redirects): the same again.
        self.transient = isinstance(exc, requests.ConnectionError | requests.Timeout)
        notes = [n for n in getattr(exc, "__notes__", ()) if n.startswith(_RETRY_NOTE)]
        self.note = notes[0].removeprefix(_RETRY_NOTE) if notes else ""


@contextlib.contextmanager
def transport() -> Iterator[None]:
    """Turn what requests raises for a request that got no answer into a NoAnswer, so
    that callers catch one type, TransportError. (Also for a client that calls requests
    itself: PyGithub.)"""
    try:
        yield
    except requests.RequestException as exc:
        raise NoAnswer(exc) from exc


class BodyError(TransportError):
    """A body not read (or sent) within its caps."""


class TooLarge(BodyError):
    """The body is larger than the cap."""


class TooSlow(BodyError):
    """The body did not arrive within the deadline."""


class Unreadable(BodyError):
    """The body broke off, or its encoding could not be decoded."""


@dataclasses.dataclass(frozen=True)
class Page:
    """A response read whole, within its caps."""

    url: str
    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes
    note: str = ""  # why retrying stopped early, if it did

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()

    @property
    def location(self) -> str:
        """Where a redirect points, fit to print: without credentials, bounded, and
        "nowhere" when it does not say."""
        return printable(sanitize_url(self.headers.get("Location", "")), 200) or "nowhere"

    @property
    def charset(self) -> str | None:
        for param in self.headers.get("Content-Type", "").split(";")[1:]:
            key, _, value = param.strip().partition("=")
            if key.lower() == "charset":
                return value.strip('"') or None
        return None


def _amount(n: int) -> str:
    """A size cap as people say it: whole MiB, else bytes."""
    mib = 1024 * 1024
    return f"{n // mib} MiB" if n % mib == 0 else f"{n} bytes"


class NotSent(TooSlow):
    """The request body could not be sent within the deadline."""


class _Sending:
    """A request body (a file-like object) that refuses to go on past ``until``: each
    read() by urllib3 is one block to send, so a server that takes every block just
    within the socket's timeout still cannot stretch the call past its deadline."""

    def __init__(self, data: Any, start: float, until: float) -> None:
        self._data = data
        self._start = start
        self._until = until
        # requests sets Content-Length from this (super_len), as it would for ``data``.
        self.len = requests.utils.super_len(data)  # type: ignore[no-untyped-call]

    def read(self, size: int = -1) -> Any:
        if time.monotonic() > self._until:
            raise NotSent(f"the request body was not sent within {self._until - self._start:.0f} s")
        return self._data.read(size)


class Answer:
    """A response whose body is yet to be read, within the call's deadline and a cap."""

    def __init__(self, response: requests.Response, start: float, end: float) -> None:
        self.response = response
        self.start = start
        self.end = end

    @property
    def status(self) -> int:
        return int(self.response.status_code)

    @property
    def headers(self) -> Mapping[str, str]:
        return self.response.headers

    def chunks(self, max_bytes: int) -> Iterator[bytes]:
        """The body, decoded, in pieces as they arrive; TooLarge past ``max_bytes``,
        TooSlow past the deadline, Unreadable when it breaks off or cannot be decoded.

        Reads with ``read1`` so each call returns what has arrived: the deadline is
        checked between reads however slowly the server sends. The error carries the
        answer's status.
        """
        try:
            yield from self._chunks(max_bytes)
        except BodyError as exc:
            exc.status = self.status
            raise

    def _chunks(self, max_bytes: int) -> Iterator[bytes]:
        response = self.response
        declared = number(response.headers.get("Content-Length", ""))
        encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
        if declared is not None and declared > max_bytes and not encoded:
            raise TooLarge(f"it announces {declared} bytes, more than {_amount(max_bytes)}")
        seen = 0
        raw = response.raw
        try:
            while True:
                if time.monotonic() > self.end:
                    raise TooSlow(f"it did not arrive within {self.end - self.start:.0f} s")
                chunk = raw.read1(CHUNK, decode_content=True)
                if not chunk:
                    return
                seen += len(chunk)
                if seen > max_bytes:
                    raise TooLarge(f"it is larger than {_amount(max_bytes)}")
                yield chunk
        except urllib3.exceptions.DecodeError:
            raise Unreadable("its content encoding could not be decoded") from None
        except urllib3.exceptions.ReadTimeoutError:
            raise TooSlow("it stopped arriving") from None
        except (urllib3.exceptions.HTTPError, OSError):
            raise Unreadable("the connection broke off before it was complete") from None

    def page(self, max_bytes: int) -> Page:
        """The whole body, read within the deadline and the cap."""
        body = b"".join(self.chunks(max_bytes))
        response = self.response
        return Page(
            url=response.url,
            status=response.status_code,
            reason=response.reason or "",
            headers=response.headers,
            body=body,
            note=gave_up(response),
        )


@contextlib.contextmanager
def answer(
    session: requests.Session,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    deadline: float | None = None,
    until: float | None = None,
    **kwargs: Any,
) -> Iterator[Answer]:
    """Send a request (any method); its answer, with the body still to be read.

    The whole call ends by ``until`` (a ``time.monotonic()`` instant; by default
    ``CALL_DEADLINE`` from now): a request body with ``read()`` is sent only until then
    (else NotSent), and the answer's body is read only until then, and within
    ``deadline`` seconds (``READ_DEADLINE``) of the answer's start. Raises NoAnswer when
    no answer came.
    """
    start = time.monotonic()
    stop = start + CALL_DEADLINE if until is None else until
    data = kwargs.get("data")
    if data is not None and hasattr(data, "read"):
        kwargs["data"] = _Sending(data, start, stop)
    with transport():
        response = session.request(method, url, headers=dict(headers or {}), stream=True, **kwargs)
    with response:
        limit = READ_DEADLINE if deadline is None else deadline
        yield Answer(response, start, min(time.monotonic() + limit, stop))


def request_capped(
    session: requests.Session,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    max_bytes: int,
    deadline: float | None = None,
    until: float | None = None,
    **kwargs: Any,
) -> Page:
    """A request of any method whose answer is read whole, decoded, of at most
    ``max_bytes``, within the deadlines of ``answer()``.

    Raises a TransportError: TooLarge, TooSlow (NotSent when the request body could not
    be sent in time), Unreadable, or NoAnswer when no answer came.
    """
    with answer(
        session, method, url, headers=headers, deadline=deadline, until=until, **kwargs
    ) as got:
        return got.page(max_bytes)


def get_capped(
    session: requests.Session,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    max_bytes: int,
    deadline: float | None = None,
) -> Page:
    """GET a body, decoded, of at most ``max_bytes``, read within ``deadline`` seconds
    (``READ_DEADLINE``) of the answer's start and within ``CALL_DEADLINE`` in all."""
    return request_capped(
        session, "GET", url, headers=headers, max_bytes=max_bytes, deadline=deadline
    )
