"""The upload credential: an API token as given, or one minted by trusted publishing.

Trusted publishing (https://docs.pypi.org/trusted-publishers/) trades the job's GitHub
OIDC token for a short-lived upload token, in three requests:

1. ``GET {index}/_/oidc/audience`` -> the audience the index wants in the OIDC token;
2. ``GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=...`` (bearer
   ``$ACTIONS_ID_TOKEN_REQUEST_TOKEN``) -> ``{"value": jwt}`` from GitHub;
3. ``POST {index}/_/oidc/mint-token {"token": jwt}`` -> ``{"token", "expires"}``, or
   422 ``{"message", "errors": [{"code", "description"}]}`` (warehouse ``oidc/views.py``).
   ``expires`` is informational, on the index's clock (its time of minting + 900 s), and
   older warehouse versions leave it out.

Each failure has its own code and a hint that says what to change, after
pypa/gh-action-pypi-publish ``oidc-exchange.py``. Each answer is read within a deadline
and a size cap (``http.request_capped``). Nothing here reads ``os.environ``.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import email.utils
import json
import math
import random
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, Protocol

import requests
from packaging.utils import canonicalize_name

from .errors import CredentialError
from .gha import Console, printable
from .http import (
    BodyError,
    Page,
    RetryPolicy,
    TransportError,
    budget_of,
    request_capped,
    retry_after,
)
from .inputs import API_TOKEN, TOKEN_USER, TRUSTED_PUBLISHING
from .urls import exchange_base

# Re-mint when the token expires within this many seconds, so an upload that starts now
# still has a live token when it ends (PyPI's tokens live 15 minutes).
REFRESH_MARGIN = 300.0
# When the index does not say when its token expires: warehouse's fixed lifetime. Also the
# longest a token is believed to live: an ``expires`` further out (milliseconds by mistake,
# a clock far off) costs at most one more exchange, where believing it could mean uploading
# with a dead token.
DEFAULT_LIFETIME = 900.0
MINT_ATTEMPTS = 4
BACKOFF = 1.0  # seconds before the 2nd mint attempt, doubled after each failure, jittered
TIMEOUT = (10, 30)  # connect, read (seconds)
ANSWER_DEADLINE = 30.0  # seconds to read an answer's body once it has begun
MAX_ANSWER = 1024 * 1024  # an audience, a JWT, a minted token: a few KiB at most
# Indexes whose project settings pages we can link to.
WAREHOUSE_HOSTS = frozenset({"pypi.org", "test.pypi.org"})
ID_TOKEN_LINES = "permissions:\n  id-token: write"
TROUBLESHOOTING = "https://docs.pypi.org/trusted-publishers/troubleshooting/"
# The claims a trusted publisher is matched on, shown when the index refuses a token.
SHOWN_CLAIMS = (
    "repository",
    "repository_owner_id",
    "workflow_ref",
    "job_workflow_ref",
    "ref",
    "environment",
    "event_name",
)


@dataclasses.dataclass(frozen=True)
class Credential:
    """What twine logs in with."""

    user: str
    password: str = dataclasses.field(repr=False)
    kind: str  # TRUSTED_PUBLISHING or API_TOKEN
    expires: float | None = None  # unix time on this runner's clock, for minted tokens


class CredentialSource(Protocol):
    """Where the upload credential comes from; ``credential`` is called from the upload
    threads at once, so a source guards its own state."""

    def credential(self, valid_for: float = 0.0) -> Credential: ...


class ApiToken:
    """A password given as input: used as it is, no OIDC request at all. Safe to share
    between threads: it holds one frozen Credential and never changes."""

    def __init__(self, user: str, password: str) -> None:
        self._credential = Credential(user, password, API_TOKEN)

    def credential(self, valid_for: float = 0.0) -> Credential:
        return self._credential


def check_oidc_available(
    request_url: str, request_token: str, *, event_name: str, fork_pr: bool
) -> None:
    """Fail early, with the fix, when the runner offers the job no OIDC token."""
    if request_url and request_token:
        return
    # pull_request_target runs in the base repository and does get tokens.
    if fork_pr and event_name != "pull_request_target":
        raise CredentialError(
            "id-token-unavailable-for-pull-request",
            "Trusted publishing needs the job's OIDC token, and this run is for a pull "
            "request from a fork: GitHub never gives OIDC tokens to workflows run for "
            "pull requests from forks, even with `id-token: write`.",
            "Publish from an event that forks cannot trigger: a pushed tag "
            "(on: push: tags), a published release or a manual workflow_dispatch.",
        )
    raise CredentialError(
        "id-token-permission-missing",
        "Trusted publishing needs the job's OIDC token, but the job lacks the "
        "`id-token: write` permission (no password was given, so no API token is used).",
        "Add these lines to the publishing job:\n"
        f"{ID_TOKEN_LINES}\n"
        "and register this repository and workflow as a trusted publisher on the index; "
        "or pass an API token in the password input.",
    )


def password_missing(user: str) -> CredentialError:
    """No password, and a user other than __token__: no credential at all. Settings
    refuses this before any build; ``upload_credentials`` again for each target. One
    text for both fronts: ``{password}`` renders as the input or as TWINE_PASSWORD."""
    return CredentialError(
        "password-missing",
        f"No password for the index: {{password}} is empty and the user is '{user}'.",
        "Pass the index's API token in {password}, or, in GitHub Actions, use trusted "
        f"publishing (user {TOKEN_USER}, no password, and `id-token: write` for the job).",
    )


def upload_credentials(
    *,
    user: str,
    password: str,
    repository_url: str,
    request_url: str,
    request_token: str,
    project: str,
    event_name: str,
    fork_pr: bool,
    session: requests.Session,
    console: Console,
    clock: Callable[[], float] = time.time,
) -> CredentialSource:
    """An API token when a password is given; else trusted publishing (user __token__).

    Nothing is requested here: a trusted publishing token is minted at the first
    ``credential()`` call, after the plan is complete.
    """
    if password:
        # Already masked by the entry point, with every input secret, before any output.
        return ApiToken(user, password)
    if user != TOKEN_USER:
        raise password_missing(user)
    check_oidc_available(request_url, request_token, event_name=event_name, fork_pr=fork_pr)
    return TrustedPublishing(
        repository_url=repository_url,
        request_url=request_url,
        request_token=request_token,
        project=project,
        session=session,
        console=console,
        clock=clock,
    )


class TrustedPublishing:
    """Mints upload tokens from the job's OIDC identity, again when one nears expiry.

    Shared by the upload threads: its own lock guards its state (the audience, the
    token, the warning given) and its session, as twine's TrustedPublishingAuthenticator
    does. A thread that finds the token too close to its expiry mints a new one while
    the others wait for it, so a token is minted once however many ask at once.
    """

    def __init__(
        self,
        *,
        repository_url: str,
        request_url: str,
        request_token: str,
        project: str,
        session: requests.Session,
        console: Console,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.base = exchange_base(repository_url)
        self.host = urllib.parse.urlsplit(self.base).netloc
        self._request_url = request_url
        self._request_token = request_token
        self._project = project
        self._session = session
        self._console = console
        self._clock = clock
        self._sleep = sleep
        self._uniform = uniform  # the jitter's random numbers
        # Guards everything below, and every use of the session. Re-entrant: a mint
        # asks for the audience and an OIDC token, public methods that take it too.
        self._lock = threading.RLock()
        self._audience: str | None = None
        self._current: Credential | None = None
        self._warned_reusable = False

    def credential(self, valid_for: float = 0.0) -> Credential:
        """A live token: minted on the first call, re-minted when it expires within
        REFRESH_MARGIN, or within ``valid_for`` (how long the upload about to use it may
        take: an index checks the token once the upload has arrived). Each mint takes a
        new OIDC token: each one is good for one exchange."""
        with self._lock:
            current = self._current
            if (
                current is not None
                and current.expires is not None
                and current.expires - self._clock() > max(REFRESH_MARGIN, valid_for)
            ):
                return current
            self._current = self._mint()
            return self._current

    # -- step 1: the audience -------------------------------------------------------------

    def audience(self) -> str:
        with self._lock:
            if self._audience is None:
                self._audience = self._ask_audience()
            return self._audience

    def _ask_audience(self) -> str:
        url = f"{self.base}/_/oidc/audience"
        try:
            resp = _read(self._session, "GET", url)
        except TransportError as exc:
            if isinstance(exc, BodyError):
                raise CredentialError(
                    "trusted-publishing-audience-unreadable",
                    f"{self.host}'s answer to GET {url} could not be read: {exc}.",
                    "Check repository-url. If it is right, the index or a proxy in between "
                    "is misbehaving: re-run the job later.",
                ) from None
            raise CredentialError(
                "trusted-publishing-audience-unreachable",
                f"Could not reach {self.host} to start trusted publishing: {exc}.",
                "Check repository-url. If it is right, the index is unreachable from the "
                "runner: re-run the job later.",
            ) from None
        if resp.status == 404:
            raise CredentialError(
                "trusted-publishing-unsupported",
                f"The index at {self.host} does not support trusted publishing "
                f"(GET {url} answered 404).",
                "Pass an API token for this index in the password input, or set "
                "repository-url to an index with trusted publishing (PyPI, TestPyPI).",
            )
        if resp.status == 403:
            raise CredentialError(
                "trusted-publishing-disabled",
                f"The index at {self.host} has trusted publishing disabled "
                f"(GET {url} answered 403).",
                "The index's administrators have turned trusted publishing off, usually for "
                "a while: re-run the job later, or pass an API token in the password input.",
            )
        audience = _json(resp).get("audience") if _ok(resp) else None
        if not isinstance(audience, str) or not audience:
            raise CredentialError(
                "trusted-publishing-audience-missing",
                f"The index at {self.host} answered {_said(resp)} without an audience to "
                f"GET {url}.",
                "This points to an outage or maintenance of the index, or to a wrong "
                "repository-url: check it, then re-run the job.",
            )
        return audience

    # -- step 2: the job's OIDC token -----------------------------------------------------

    def oidc_token(self, audience: str) -> str:
        """A fresh OIDC token from GitHub for this audience (masked at once)."""
        with self._lock:
            return self._oidc_token(audience)

    def _oidc_token(self, audience: str) -> str:
        sep = "&" if "?" in self._request_url else "?"
        url = f"{self._request_url}{sep}{urllib.parse.urlencode({'audience': audience})}"
        hint = (
            "The job needs the `id-token: write` permission:\n"
            f"{ID_TOKEN_LINES}\n"
            "If it has it, GitHub's token service failed: re-run the job, and see "
            "https://www.githubstatus.com/ if it keeps failing."
        )
        try:
            resp = _read(
                self._session,
                "GET",
                url,
                headers={"Authorization": f"bearer {self._request_token}"},
            )
        except TransportError as exc:
            if isinstance(exc, BodyError):
                raise CredentialError(
                    "oidc-token-unreadable",
                    f"The answer to the request for the job's OIDC token could not be read: {exc}.",
                    hint,
                ) from None
            raise CredentialError(
                "oidc-token-request-failed",
                f"The request for the job's OIDC token failed: {exc}.",
                hint,
            ) from None
        if not _ok(resp):
            raise CredentialError(
                "oidc-token-refused",
                f"GitHub refused the request for the job's OIDC token: {_said(resp)}.",
                hint,
            )
        value = _json(resp).get("value")
        if not isinstance(value, str) or not value:
            raise CredentialError(
                "oidc-token-missing",
                "GitHub's OIDC token service answered without a token.",
                hint,
            )
        self._console.mask(value)
        self._warn_if_reusable(unverified_claims(value))
        return value

    def _warn_if_reusable(self, claims: dict[str, Any]) -> None:
        called = str(claims.get("job_workflow_ref") or "")
        caller = str(claims.get("workflow_ref") or "")
        if self._warned_reusable or not called or not caller or called == caller:
            return
        self._warned_reusable = True
        self._console.warning(
            f"This job runs in a reusable workflow ({called}) called by {caller}. "
            f"{self.host} matches the trusted publisher against the called workflow's file, "
            f"'{workflow_file(called) or called}', which must live in the publishing "
            "repository; the caller's workflow file is not checked.",
            title="Trusted publishing from a reusable workflow",
        )

    # -- step 3: the exchange -------------------------------------------------------------

    def _mint(self) -> Credential:
        audience = self.audience()
        url = f"{self.base}/_/oidc/mint-token"
        policy = self.mint_policy()
        problem = ""
        after: float | None = None  # what the last answer asked to wait (Retry-After)
        tried = 0
        while True:
            if tried:
                decided = policy.pause(tried, after)
                if not decided.retry:
                    raise self._mint_failed(f"{problem} ({_after(tried, decided.why)})")
            tried += 1
            after = None
            # A fresh OIDC token for each attempt: a failed attempt may have used up the
            # last one's jti, and the index refuses a jti it has seen.
            jwt = self.oidc_token(audience)
            asked = self._clock()
            try:
                resp = _read(self._session, "POST", url, json={"token": jwt}, allow_redirects=False)
            except TransportError as exc:
                if isinstance(exc, BodyError):
                    problem = f"its answer could not be read ({exc})"
                    continue
                if not exc.transient:
                    raise self._mint_failed(f"the request failed ({exc})") from None
                problem = f"the request failed ({exc})"
                continue
            if 300 <= resp.status < 400:
                # requests counts a redirect as ok; it is no answer to the exchange, and
                # following it would send the OIDC token elsewhere.
                raise self._redirected(resp, url)
            if resp.status >= 500 or resp.status == 429:
                problem = f"it answered {_said(resp)}"
                after = retry_after(resp)
                continue
            try:
                payload = json.loads(resp.body)
            except ValueError:
                if not _ok(resp):  # a 4xx page: retrying will not change it
                    raise self._mint_failed(f"it answered {_said(resp)}", transient=False) from None
                # A 200 that is not JSON: a proxy's or a maintenance page.
                problem = f"it answered {resp.status} with a body that is not JSON"
                continue
            if not isinstance(payload, dict):
                payload = {}
            token = payload.get("token")
            if isinstance(token, str):
                self._console.mask(token)  # before anything else can print it
            if resp.status == 422 or (400 <= resp.status < 500 and "errors" in payload):
                raise self._refused(payload, jwt)
            if not _ok(resp):
                raise self._mint_failed(f"it answered {_said(resp)}", transient=False)
            if not isinstance(token, str) or not token:
                raise self._mint_failed("it answered without a token", transient=False)
            expires = expiry(payload.get("expires"), resp.headers.get("Date", ""), asked)
            self._console.line(
                f"Trusted publishing: {self.host} minted an upload token, valid until "
                f"{time.strftime('%H:%M:%S UTC', time.gmtime(expires))}."
            )
            return Credential(TOKEN_USER, token, TRUSTED_PUBLISHING, expires)

    def mint_policy(self) -> RetryPolicy:
        """The exchange's: MINT_ATTEMPTS, BACKOFF doubling with jitter, Retry-After
        honoured up to the usual cap, every wait out of the run's budget."""
        return RetryPolicy(
            attempts=MINT_ATTEMPTS,
            backoff=BACKOFF,
            budget=budget_of(self._session),
            sleep=self._sleep,
            uniform=self._uniform,
        )

    def _redirected(self, resp: Page, url: str) -> CredentialError:
        return CredentialError(
            "trusted-publishing-redirected",
            f"{self.host} answered the token exchange (POST {url}) with a redirect (HTTP "
            f"{resp.status} to {resp.location}); no upload token was minted.",
            "Set repository-url to the index's upload URL itself, with the scheme and host "
            "it expects (for PyPI https://upload.pypi.org/legacy/): the exchange is made "
            "with that scheme and host, and a redirect is not followed (it would send the "
            "job's OIDC token elsewhere).",
        )

    def _mint_failed(self, problem: str, *, transient: bool = True) -> CredentialError:
        if transient:
            hint = (
                "This points to an outage or maintenance of the index, not to your "
                "configuration: re-run the job in a few minutes"
                + (" (https://status.python.org/)." if self.host in WAREHOUSE_HOSTS else ".")
            )
        else:
            hint = (
                f"{self.host} does not answer the token exchange ({self.base}/_/oidc/"
                "mint-token) as PyPI does: check repository-url, or pass an API token in "
                "the password input."
            )
        return CredentialError(
            "trusted-publishing-mint-failed",
            f"{self.host} did not mint an upload token by trusted publishing: {problem}.",
            hint,
        )

    def _refused(self, payload: dict[str, Any], jwt: str) -> CredentialError:
        """The index refused the OIDC token: its reasons, what to do, the claims."""
        errors = [
            (str(e.get("code", "")), " ".join(str(e.get("description", "")).split()))
            for e in payload.get("errors") or []
            if isinstance(e, dict)
        ]
        claims = unverified_claims(jwt)
        if not errors:
            errors = [("", str(payload.get("message") or "no reason given"))]
        first = errors[0][0]
        code = f"trusted-publishing-{first}" if first in REFUSALS else "trusted-publishing-refused"
        reasons = "; ".join(f"{c}: {d}" if c else d for c, d in errors)
        lines = []
        for c, _ in errors:
            if c in REFUSALS:
                lines.append(f"{c}: {REFUSALS[c]}")
                if c == "invalid-publisher":
                    lines.append(self._publisher_fix(claims))
        lines.append(
            "This job's OIDC token claims (decoded without verification, to compare with "
            "the trusted publisher):"
        )
        lines += [f"  {name}: {claims.get(name, '(not set)')}" for name in SHOWN_CLAIMS]
        lines.append(f"See {TROUBLESHOOTING}")
        return CredentialError(
            code,
            f"{self.host} refused to mint an upload token by trusted publishing: {reasons}",
            "\n".join(lines),
        )

    def _publisher_fix(self, claims: dict[str, Any]) -> str:
        repository = claims.get("repository", "(unknown)")
        called = str(claims.get("job_workflow_ref") or "")
        workflow = workflow_file(called) or "(unknown)"
        environment = claims.get("environment")
        env_text = f"this environment ('{environment}')" if environment else "no environment"
        text = (
            f"The trusted publisher for '{self._project}' on {self.host} must name this "
            f"repository ('{repository}'), this workflow file ('{workflow}') and {env_text}. "
            "It is also bound to the owner's numeric id (repository_owner_id): if the owner "
            "account was renamed or re-created, register the publisher again."
        )
        if self.host in WAREHOUSE_HOSTS:
            name = canonicalize_name(self._project)
            text += (
                f" Add or fix it at https://{self.host}/manage/project/{name}/settings/"
                f"publishing/ ; for a project not yet on {self.host}, add a pending publisher "
                f"at https://{self.host}/manage/account/publishing/ ."
            )
        return text


# What each of warehouse's mint-token error codes means for the user, and what to do.
REFUSALS = {
    "invalid-publisher": (
        "the token is valid, but no trusted publisher on the index matches this job."
    ),
    "invalid-token": (
        "the index could not verify the job's OIDC token (signature, issuer, audience or "
        "validity period). Re-run the job; if it persists, the index does not accept "
        "GitHub's tokens or the clocks disagree."
    ),
    "invalid-reuse-token": (
        "this OIDC token was already exchanged once. Re-run the job: each exchange needs "
        "a fresh token."
    ),
    "invalid-payload": (
        "the index could not take the exchange request. 'unknown trusted publishing "
        "issuer' means the index does not accept this runner's OIDC tokens (GitHub "
        "Enterprise Server, or an issuer not registered with the index); a pending "
        "publisher whose project cannot be created gives the index's reason; anything else "
        "is a bug in the action or the index: report it with this log."
    ),
    "invalid-pending-publisher": (
        "a pending publisher matched, but the project already exists: add the trusted "
        "publisher under the project's own settings instead."
    ),
    "not-enabled": (
        "the index has trusted publishing for GitHub turned off. Re-run the job later, or "
        "pass an API token in the password input."
    ),
}


def expiry(expires: object, date: str, asked: float) -> float:
    """When a minted token expires, on this runner's clock.

    ``expires`` is on the index's clock, and so is the answer's ``Date``: their difference
    is the token's lifetime however far the runner's clock is off, counted from ``asked``
    (when the request was sent, so it errs early). Without a ``Date`` the clocks are taken
    to agree. No numeric ``expires`` means warehouse's fixed lifetime; any lifetime is kept
    within 0 and DEFAULT_LIFETIME, so that an odd value neither keeps a dead token in use
    nor breaks the run.
    """
    if isinstance(expires, bool) or not isinstance(expires, int | float):
        return asked + DEFAULT_LIFETIME
    served = http_date(date)
    try:
        lifetime = float(expires) - (asked if served is None else served)
    except OverflowError:  # an integer beyond any float
        lifetime = DEFAULT_LIFETIME
    if math.isnan(lifetime):  # Python's json reads NaN and Infinity
        lifetime = DEFAULT_LIFETIME
    return asked + min(max(lifetime, 0.0), DEFAULT_LIFETIME)


def http_date(value: str) -> float | None:
    """An HTTP ``Date`` header as unix time, or None."""
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None:  # "-0000": UTC without a claim about local time (RFC 5322)
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp()


def workflow_file(job_workflow_ref: str) -> str:
    """``owner/repo/.github/workflows/release.yml@ref`` -> ``release.yml``."""
    marker = "/.github/workflows/"
    if marker not in job_workflow_ref:
        return ""
    # Workflow file names have no "@"; a branch name may.
    return job_workflow_ref.split(marker, 1)[1].partition("@")[0]


def unverified_claims(token: str) -> dict[str, Any]:
    """A JWT's payload, decoded without checking its signature (for messages only)."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        data = json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:  # also binascii.Error and UnicodeDecodeError
        return {}
    return data if isinstance(data, dict) else {}


def _read(session: requests.Session, method: str, url: str, **kwargs: Any) -> Page:
    """One request of the exchange, its answer read within ANSWER_DEADLINE and MAX_ANSWER."""
    return request_capped(
        session,
        method,
        url,
        timeout=TIMEOUT,
        max_bytes=MAX_ANSWER,
        deadline=ANSWER_DEADLINE,
        **kwargs,
    )


def _after(tried: int, why: str) -> str:
    """How many attempts were made, and why no more were (when not for their number)."""
    said = f"after {tried} attempt{'s' if tried > 1 else ''}"
    return f"{said}; not retried further: {why}" if why else said


def _ok(resp: Page) -> bool:
    return 200 <= resp.status < 300


def _said(resp: Page) -> str:
    """The status and reason, the reason being outside text."""
    return f"{resp.status} {printable(resp.reason)}".strip()


def _json(resp: Page) -> dict[str, Any]:
    try:
        data = json.loads(resp.body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
