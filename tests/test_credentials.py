"""release.credentials against the GitHub OIDC and trusted publishing stand-ins."""

from __future__ import annotations

import io
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter
from support.faults import ALWAYS, FaultProxy, drip, status
from support.oidc import GitHubOIDC, Publisher, TrustedPublishingIndex

from release import credentials
from release.credentials import (
    DEFAULT_LIFETIME,
    REFRESH_MARGIN,
    ApiToken,
    Credential,
    TrustedPublishing,
    check_oidc_available,
    expiry,
    http_date,
    unverified_claims,
    upload_credentials,
    workflow_file,
)
from release.errors import CredentialError
from release.gha import Console
from release.http import make_session
from release.urls import exchange_base

REPOSITORY = "octo-org/sample"
OWNER_ID = "1234567"
WORKFLOW_REF = f"{REPOSITORY}/.github/workflows/release.yml@refs/tags/v1.0.0"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def oidc() -> Iterator[GitHubOIDC]:
    with GitHubOIDC(
        repository=REPOSITORY, repository_owner_id=OWNER_ID, workflow_filename="release.yml"
    ) as service:
        yield service


@pytest.fixture
def front(oidc: GitHubOIDC) -> Iterator[TrustedPublishingIndex]:
    # Minting needs no index behind the front; uploads are test_oidc_standins' business.
    with TrustedPublishingIndex(
        None, issuer=oidc.issuer, publisher=Publisher(REPOSITORY, OWNER_ID, "release.yml")
    ) as index:
        yield index


@pytest.fixture
def out() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def console(out: io.StringIO) -> Console:
    return Console(actions=True, stream=out)


class Exchange:
    """A TrustedPublishing wired to the stand-ins, with a test clock and recorded sleeps."""

    def __init__(
        self, front: TrustedPublishingIndex, oidc: GitHubOIDC, console: Console, **kw: Any
    ) -> None:
        self.clock = Clock()
        self.sleeps: list[float] = []
        self.host = front.url.removeprefix("http://")
        options: dict[str, Any] = {
            "repository_url": f"{front.url}/legacy/",
            "request_url": oidc.request_url,
            "request_token": oidc.request_token,
            "project": "Sample_Project",
            "session": make_session(),
            "console": console,
            "clock": self.clock,
            "sleep": self.sleeps.append,
            # The jitter's middle: each wait is the backoff itself (jitter: see below).
            "uniform": lambda low, high: (low + high) / 2,
        }
        self.tp = TrustedPublishing(**{**options, **kw})

    def credential(self, valid_for: float = 0.0) -> Credential:
        return self.tp.credential(valid_for)

    def error(self) -> CredentialError:
        with pytest.raises(CredentialError) as info:
            self.tp.credential()
        return info.value


@pytest.fixture
def exchange(front: TrustedPublishingIndex, oidc: GitHubOIDC, console: Console) -> Exchange:
    return Exchange(front, oidc, console)


def masks(out: io.StringIO) -> list[str]:
    return [line.removeprefix("::add-mask::") for line in out.getvalue().splitlines()
            if line.startswith("::add-mask::")]  # fmt: skip


def unmasked(out: io.StringIO) -> str:
    return "\n".join(
        line for line in out.getvalue().splitlines() if not line.startswith("::add-mask::")
    )


# -- where the exchange happens ---------------------------------------------------------


@pytest.mark.parametrize(
    ("repository_url", "base"),
    [
        ("https://upload.pypi.org/legacy/", "https://pypi.org"),
        ("https://UPLOAD.PYPI.ORG/legacy", "https://pypi.org"),
        ("https://test.pypi.org/legacy/", "https://test.pypi.org"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:3141/user/dev/", "http://127.0.0.1:3141"),
        ("https://user:secret@pypi.example.org:8443/upload/", "https://pypi.example.org:8443"),
        ("http://[::1]:8080/legacy/", "http://[::1]:8080"),
    ],
)
def test_exchange_base(repository_url: str, base: str) -> None:
    assert exchange_base(repository_url) == base


@pytest.mark.parametrize("url", ["upload.pypi.org/legacy/", "ftp://example.org/", "https://"])
def test_exchange_base_needs_an_http_url(url: str) -> None:
    with pytest.raises(CredentialError) as info:
        exchange_base(url)
    assert info.value.code == "exchange-url-invalid"


def test_workflow_file_and_unverified_claims(oidc: GitHubOIDC) -> None:
    assert workflow_file(WORKFLOW_REF) == "release.yml"
    assert workflow_file("o/r/.github/workflows/x.yaml@refs/heads/a@b") == "x.yaml"
    assert workflow_file("") == ""
    assert unverified_claims(oidc.token())["workflow_ref"] == WORKFLOW_REF
    assert unverified_claims("not-a-jwt") == {}
    assert unverified_claims("a.!!!.c") == {}


# -- choosing the credential ------------------------------------------------------------


def test_password_means_api_token_and_no_oidc_request(
    front: TrustedPublishingIndex, oidc: GitHubOIDC, console: Console, out: io.StringIO
) -> None:
    source = upload_credentials(
        user="__token__",
        password="pypi-given-api-token-0123456789",
        repository_url=f"{front.url}/legacy/",
        request_url=oidc.request_url,
        request_token=oidc.request_token,
        project="sample",
        event_name="push",
        fork_pr=False,
        session=make_session(),
        console=console,
    )
    assert isinstance(source, ApiToken)
    cred = source.credential()
    assert cred == Credential("__token__", "pypi-given-api-token-0123456789", "API token", None)
    assert "pypi-given" not in repr(cred)
    assert masks(out) == []  # input secrets are masked by the entry point, once
    assert oidc.requests == 0
    assert front.mint_calls == 0


def test_trusted_publishing_is_chosen_lazily(
    front: TrustedPublishingIndex, oidc: GitHubOIDC, console: Console
) -> None:
    source = upload_credentials(
        user="__token__",
        password="",
        repository_url=f"{front.url}/legacy/",
        request_url=oidc.request_url,
        request_token=oidc.request_token,
        project="sample",
        event_name="push",
        fork_pr=False,
        session=make_session(),
        console=console,
    )
    assert isinstance(source, TrustedPublishing)
    assert (oidc.requests, front.mint_calls) == (0, 0)  # nothing until credential()
    assert source.credential().kind == "trusted publishing"
    assert (oidc.requests, front.mint_calls) == (1, 1)


def test_no_password_and_another_user(console: Console) -> None:
    with pytest.raises(CredentialError) as info:
        upload_credentials(
            user="uploader",
            password="",
            repository_url="https://upload.pypi.org/legacy/",
            request_url="",
            request_token="",
            project="sample",
            event_name="push",
            fork_pr=False,
            session=make_session(),
            console=console,
        )
    assert info.value.code == "password-missing"


def test_no_id_token_permission() -> None:
    with pytest.raises(CredentialError) as info:
        check_oidc_available("", "", event_name="push", fork_pr=False)
    assert info.value.code == "id-token-permission-missing"
    assert info.value.message == (
        "Trusted publishing needs the job's OIDC token, but the job lacks the "
        "`id-token: write` permission (no password was given, so no API token is used)."
    )
    assert info.value.hint == (
        "Add these lines to the publishing job:\n"
        "permissions:\n"
        "  id-token: write\n"
        "and register this repository and workflow as a trusted publisher on the index; "
        "or pass an API token in the password input."
    )


def test_pull_request_from_a_fork() -> None:
    with pytest.raises(CredentialError) as info:
        check_oidc_available("", "", event_name="pull_request", fork_pr=True)
    assert info.value.code == "id-token-unavailable-for-pull-request"
    assert info.value.message == (
        "Trusted publishing needs the job's OIDC token, and this run is for a pull request "
        "from a fork: GitHub never gives OIDC tokens to workflows run for pull requests "
        "from forks, even with `id-token: write`."
    )
    # pull_request_target runs in the base repository: a missing token is a permission.
    with pytest.raises(CredentialError) as info:
        check_oidc_available("", "", event_name="pull_request_target", fork_pr=True)
    assert info.value.code == "id-token-permission-missing"
    check_oidc_available("https://x/?api-version=2.0", "t", event_name="push", fork_pr=False)


# -- the exchange -----------------------------------------------------------------------


def test_mints_masks_and_reuses(
    exchange: Exchange, front: TrustedPublishingIndex, oidc: GitHubOIDC, out: io.StringIO
) -> None:
    cred = exchange.credential()
    minted = front.minted[0]
    assert cred == Credential("__token__", minted.token, "trusted publishing", cred.expires)
    # On this runner's clock: from when the request was sent, warehouse's 15 minutes.
    assert cred.expires == pytest.approx(exchange.clock.now + 900, abs=1)
    assert minted.token not in repr(cred)
    assert oidc.audiences == ["pypi"]
    # The JWT is masked as soon as it arrives, the minted token as soon as it is read.
    assert masks(out) == [oidc.issued[0], minted.token]
    for secret in (oidc.issued[0], minted.token):
        assert secret not in unmasked(out)
    assert f"Trusted publishing: {exchange.host} minted an upload token" in unmasked(out)
    # Still live: no new request.
    assert exchange.credential() is cred
    assert (oidc.requests, front.mint_calls) == (1, 1)


def test_the_index_chooses_the_audience(
    exchange: Exchange, front: TrustedPublishingIndex, oidc: GitHubOIDC
) -> None:
    front.audience = "testpypi"
    exchange.credential()
    assert oidc.audiences == ["testpypi"]


def test_remints_when_the_token_nears_expiry(
    exchange: Exchange, front: TrustedPublishingIndex, oidc: GitHubOIDC, out: io.StringIO
) -> None:
    first = exchange.credential()
    assert first.expires is not None
    exchange.clock.now = first.expires - REFRESH_MARGIN - 1
    assert exchange.credential() is first
    exchange.clock.now = first.expires - REFRESH_MARGIN + 1
    second = exchange.credential()
    assert second.password != first.password
    assert [m.token for m in front.minted] == [first.password, second.password]
    # A new OIDC token for the new exchange (the first one's jti is spent).
    assert oidc.requests == 2
    assert len(set(oidc.issued)) == 2
    assert masks(out) == [oidc.issued[0], first.password, oidc.issued[1], second.password]
    assert front.refusals == []


def test_a_long_upload_gets_a_token_that_outlives_it(
    exchange: Exchange, front: TrustedPublishingIndex
) -> None:
    first = exchange.credential()
    assert first.expires is not None
    exchange.clock.now = first.expires - REFRESH_MARGIN - 100
    assert exchange.credential() is first  # enough for a short upload
    assert exchange.credential(valid_for=REFRESH_MARGIN + 50) is first
    second = exchange.credential(valid_for=REFRESH_MARGIN + 150)  # not for this one
    assert second.password != first.password
    assert second.expires is not None
    assert second.expires - exchange.clock.now == pytest.approx(DEFAULT_LIFETIME, abs=2)
    # Longer than any token lives: a fresh token each time, the best there is.
    third = exchange.credential(valid_for=2 * DEFAULT_LIFETIME)
    assert third.password != second.password
    assert len(front.minted) == 3
    assert front.refusals == []


def test_short_lived_tokens_are_reminted_each_time(
    exchange: Exchange, front: TrustedPublishingIndex
) -> None:
    front.token_lifetime = 60  # below the refresh margin: never worth keeping
    tokens = [exchange.credential().password for _ in range(3)]
    assert len(set(tokens)) == 3
    assert front.mint_calls == 3
    assert front.refusals == []


# -- expires: informational, on the index's clock (warehouse oidc/views.py) ---------------


NOW = 1_750_000_000.0
DATE = "Sun, 15 Jun 2025 15:06:40 GMT"  # NOW as an HTTP date


@pytest.mark.parametrize(
    ("expires", "date", "lifetime"),
    [
        (NOW + 900, DATE, 900),  # warehouse: minted now, 15 minutes
        (int(NOW) + 60, DATE, 60),
        (NOW + 900, "", 900),  # no Date: the clocks are taken to agree
        (NOW + 900, "not a date", 900),
        (NOW + 900 + 3600, "Sun, 15 Jun 2025 16:06:40 GMT", 900),  # index clock 1 h ahead
        (NOW + 900 - 3600, "Sun, 15 Jun 2025 14:06:40 GMT", 900),  # 1 h behind
        (NOW + 900, "Sun, 15 Jun 2025 15:06:40 -0000", 900),
        (None, DATE, DEFAULT_LIFETIME),  # warehouse before 2024 says nothing
        ("1750000900", DATE, DEFAULT_LIFETIME),
        (True, DATE, DEFAULT_LIFETIME),
        ((NOW + 900) * 1000, DATE, DEFAULT_LIFETIME),  # milliseconds: capped
        (NOW + 86_400, DATE, DEFAULT_LIFETIME),  # longer-lived: re-minted after 15 min anyway
        (float("inf"), DATE, DEFAULT_LIFETIME),
        (float("nan"), DATE, DEFAULT_LIFETIME),
        (10**400, DATE, DEFAULT_LIFETIME),
        (NOW - 10, DATE, 0),  # already dead: re-minted at every use
        (float("-inf"), DATE, 0),
    ],
)
def test_expiry(expires: object, date: str, lifetime: float) -> None:
    assert expiry(expires, date, NOW) - NOW == pytest.approx(lifetime)


def test_http_date() -> None:
    assert http_date(DATE) == NOW
    assert http_date("") is None
    assert http_date("yesterday") is None


@pytest.mark.parametrize("skew", [3600, -3600])
def test_expiry_is_measured_on_the_index_clock(
    exchange: Exchange, front: TrustedPublishingIndex, skew: int
) -> None:
    # The index's clock is an hour off: expires and Date both say so.
    front.clock = lambda: time.time() + skew
    cred = exchange.credential()
    assert front.minted[0].expires == pytest.approx(time.time() + skew + 900, abs=2)
    assert cred.expires == pytest.approx(exchange.clock.now + 900, abs=2)
    assert exchange.credential() is cred  # neither dead at once nor live for an hour more


@pytest.mark.parametrize(
    ("rewrite", "lifetime"),
    [
        (lambda a: {k: v for k, v in a.items() if k != "expires"}, DEFAULT_LIFETIME),
        (lambda a: {**a, "expires": a["expires"] * 1000}, DEFAULT_LIFETIME),
        (lambda a: {**a, "expires": float("inf")}, DEFAULT_LIFETIME),
        (lambda a: {**a, "expires": 10**400}, DEFAULT_LIFETIME),
        (lambda a: {**a, "expires": "soon"}, DEFAULT_LIFETIME),
        (lambda a: {**a, "expires": a["expires"] - 3600}, 0),
    ],
    ids=["absent", "milliseconds", "infinity", "huge", "string", "past"],
)
def test_odd_expires_answers_never_break_the_run(
    exchange: Exchange,
    front: TrustedPublishingIndex,
    out: io.StringIO,
    rewrite: Any,
    lifetime: float,
) -> None:
    front.rewrite_answer = rewrite
    cred = exchange.credential()
    assert cred.password == front.minted[0].token
    assert cred.expires == pytest.approx(exchange.clock.now + lifetime, abs=2)
    assert "minted an upload token, valid until" in unmasked(out)
    # A token believed dead is minted anew at its next use; a live one is kept.
    again = exchange.credential()
    assert (again is cred) == (lifetime > REFRESH_MARGIN)


def test_index_without_trusted_publishing(
    exchange: Exchange, front: TrustedPublishingIndex, oidc: GitHubOIDC
) -> None:
    front.audience_mode = "not-found"
    err = exchange.error()
    assert err.code == "trusted-publishing-unsupported"
    assert err.message == (
        f"The index at {exchange.host} does not support trusted publishing "
        f"(GET {front.url}/_/oidc/audience answered 404)."
    )
    assert err.hint == (
        "Pass an API token for this index in the password input, or set repository-url to "
        "an index with trusted publishing (PyPI, TestPyPI)."
    )
    assert oidc.requests == 0


def test_index_with_trusted_publishing_disabled(
    exchange: Exchange, front: TrustedPublishingIndex, oidc: GitHubOIDC
) -> None:
    front.audience_mode = "disabled"
    err = exchange.error()
    assert err.code == "trusted-publishing-disabled"
    assert err.message == (
        f"The index at {exchange.host} has trusted publishing disabled "
        f"(GET {front.url}/_/oidc/audience answered 403)."
    )
    assert err.hint == (
        "The index's administrators have turned trusted publishing off, usually for a "
        "while: re-run the job later, or pass an API token in the password input."
    )
    assert oidc.requests == 0


def test_invalid_publisher(
    exchange: Exchange, front: TrustedPublishingIndex, oidc: GitHubOIDC, out: io.StringIO
) -> None:
    oidc.workflow_filename = "ci.yml"
    oidc.environment = "pypi"
    err = exchange.error()
    assert err.code == "trusted-publishing-invalid-publisher"
    assert err.message == (
        f"{exchange.host} refused to mint an upload token by trusted publishing: "
        "invalid-publisher: valid token, but no corresponding publisher "
        "(All lookup strategies exhausted)"
    )
    ci_ref = f"{REPOSITORY}/.github/workflows/ci.yml@refs/tags/v1.0.0"
    assert err.hint == (
        "invalid-publisher: the token is valid, but no trusted publisher on the index "
        "matches this job.\n"
        f"The trusted publisher for 'Sample_Project' on {exchange.host} must name this "
        "repository ('octo-org/sample'), this workflow file ('ci.yml') and this environment "
        "('pypi'). It is also bound to the owner's numeric id (repository_owner_id): if the "
        "owner account was renamed or re-created, register the publisher again.\n"
        "This job's OIDC token claims (decoded without verification, to compare with the "
        "trusted publisher):\n"
        "  repository: octo-org/sample\n"
        f"  repository_owner_id: {OWNER_ID}\n"
        f"  workflow_ref: {ci_ref}\n"
        f"  job_workflow_ref: {ci_ref}\n"
        "  ref: refs/tags/v1.0.0\n"
        "  environment: pypi\n"
        "  event_name: push\n"
        "See https://docs.pypi.org/trusted-publishers/troubleshooting/"
    )
    jwt = oidc.issued[0]
    assert jwt not in err.message
    assert jwt not in err.hint
    assert front.mint_calls == 1  # a refusal is final: not retried


class ToFront(HTTPAdapter):
    """Sends https://pypi.org/... to the stand-in, so messages name pypi.org."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    def send(self, request: requests.PreparedRequest, **kw: Any) -> requests.Response:  # type: ignore[override]
        request.url = self.target + str(request.url).removeprefix("https://pypi.org")
        return super().send(request, **kw)


def test_invalid_publisher_on_pypi_links_the_publishing_forms(
    front: TrustedPublishingIndex, oidc: GitHubOIDC, console: Console
) -> None:
    session = make_session()
    session.mount("https://pypi.org/", ToFront(front.url))
    oidc.repository_owner_id = "1"
    exchange = Exchange(
        front,
        oidc,
        console,
        repository_url="https://upload.pypi.org/legacy/",
        session=session,
    )
    err = exchange.error()
    assert err.message.startswith("pypi.org refused to mint an upload token")
    assert (
        "Add or fix it at https://pypi.org/manage/project/sample-project/settings/publishing/ ; "
        "for a project not yet on pypi.org, add a pending publisher at "
        "https://pypi.org/manage/account/publishing/ ." in err.hint
    )
    assert "  repository_owner_id: 1\n" in err.hint
    assert "  environment: (not set)\n" in err.hint
    assert "and no environment." in err.hint


def test_invalid_token(exchange: Exchange, oidc: GitHubOIDC) -> None:
    oidc.fault = "expired"
    err = exchange.error()
    assert err.code == "trusted-publishing-invalid-token"
    assert err.message.endswith("invalid-token: malformed or invalid token")
    assert err.hint.startswith("invalid-token: the index could not verify the job's OIDC token")


def test_reused_token(exchange: Exchange, front: TrustedPublishingIndex, oidc: GitHubOIDC) -> None:
    oidc.claim_overrides = {"jti": "always-the-same"}  # a broken token service
    front.token_lifetime = 60
    exchange.credential()
    err = exchange.error()
    assert err.code == "trusted-publishing-invalid-reuse-token"
    assert "Re-run the job: each exchange needs a fresh token." in err.hint


def test_reusable_workflow_warning(
    exchange: Exchange, front: TrustedPublishingIndex, oidc: GitHubOIDC, out: io.StringIO
) -> None:
    called = f"{REPOSITORY}/.github/workflows/publish.yml@refs/tags/v1.0.0"
    oidc.job_workflow_ref = called
    front.publisher = Publisher(REPOSITORY, OWNER_ID, "publish.yml")
    exchange.credential()
    warnings = [line for line in out.getvalue().splitlines() if line.startswith("::warning")]
    assert warnings == [
        "::warning title=Trusted publishing from a reusable workflow::This job runs in a "
        f"reusable workflow ({called}) called by {WORKFLOW_REF}. {exchange.host} matches the "
        "trusted publisher against the called workflow's file, 'publish.yml', which must "
        "live in the publishing repository; the caller's workflow file is not checked."
    ]


def test_no_warning_for_a_plain_workflow(exchange: Exchange, out: io.StringIO) -> None:
    exchange.credential()
    assert "::warning" not in out.getvalue()


# -- shared by the upload threads -------------------------------------------------------


def at_once(n: int, call: Callable[[], Credential]) -> list[Credential]:
    """``call`` from ``n`` threads released together; what each got."""
    start = threading.Barrier(n)
    got: list[Credential] = []
    failed: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        start.wait(20)
        try:
            cred = call()
        except BaseException as exc:  # reported below, in the test's thread
            with lock:
                failed.append(exc)
        else:
            with lock:
                got.append(cred)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failed == []
    assert len(got) == n
    return got


def test_many_threads_at_once_mint_once(
    exchange: Exchange, front: TrustedPublishingIndex, oidc: GitHubOIDC
) -> None:
    got = at_once(16, exchange.credential)
    assert front.mint_calls == 1
    assert oidc.requests == 1
    assert len(front.minted) == 1
    assert {c.password for c in got} == {front.minted[0].token}
    # Near its expiry, the threads asking at once get one new token between them.
    exchange.clock.now += DEFAULT_LIFETIME - REFRESH_MARGIN + 1
    again = at_once(16, exchange.credential)
    assert front.mint_calls == 2
    assert oidc.requests == 2
    assert {c.password for c in again} == {front.minted[1].token}


def test_an_api_token_is_the_same_for_every_thread() -> None:
    source = ApiToken("__token__", "pypi-secret")
    got = at_once(8, source.credential)
    assert all(c is got[0] for c in got)


# -- retries ----------------------------------------------------------------------------


def test_mint_retries_5xx_and_non_json_with_backoff(
    exchange: Exchange, front: TrustedPublishingIndex, oidc: GitHubOIDC, out: io.StringIO
) -> None:
    front.fail_mint("server-error", 2)
    front.fail_mint("non-json")
    cred = exchange.credential()
    assert cred.password == front.minted[0].token
    assert exchange.sleeps == [1.0, 2.0, 4.0]
    assert front.mint_calls == 4
    assert oidc.requests == 4  # a fresh OIDC token for each attempt
    assert masks(out) == [*oidc.issued, cred.password]


def test_mint_waits_are_jittered_and_drawn_from_the_runs_budget(
    front: TrustedPublishingIndex, oidc: GitHubOIDC, console: Console
) -> None:
    session = make_session(budget=100.0)
    seeded = random.Random(21)  # noqa: S311 - jitter, seeded
    exchange = Exchange(front, oidc, console, session=session, uniform=seeded.uniform)
    front.fail_mint("server-error", 3)
    exchange.credential()
    assert len(exchange.sleeps) == 3
    for wait, backoff in zip(exchange.sleeps, [1.0, 2.0, 4.0], strict=True):
        assert backoff * 0.75 <= wait <= backoff * 1.25
    assert exchange.sleeps != [1.0, 2.0, 4.0]
    assert session.budget.left == pytest.approx(100.0 - sum(exchange.sleeps))


def test_mint_stops_when_the_runs_budget_is_spent(
    front: TrustedPublishingIndex, oidc: GitHubOIDC, console: Console
) -> None:
    exchange = Exchange(front, oidc, console, session=make_session(budget=2.0))
    front.fail_mint("server-error", 10)
    err = exchange.error()
    assert err.message == (
        f"{exchange.host} did not mint an upload token by trusted publishing: it answered "
        "503 Service Unavailable (after 2 attempts; not retried further: the run's budget "
        "of 2 s for waiting on retries is spent)."
    )
    assert exchange.sleeps == [1.0]
    assert front.mint_calls == 2


def test_a_lost_answer_is_retried_with_a_fresh_oidc_token(
    exchange: Exchange, front: TrustedPublishingIndex, oidc: GitHubOIDC
) -> None:
    front.fail_mint("lost-response")
    cred = exchange.credential()
    assert len(front.minted) == 2  # the first was minted, its answer lost
    assert cred.password == front.minted[1].token
    assert front.refusals == []  # the retry did not reuse the spent jti


def test_mint_gives_up_after_bounded_attempts(
    exchange: Exchange, front: TrustedPublishingIndex
) -> None:
    front.fail_mint("server-error", 10)
    err = exchange.error()
    assert err.code == "trusted-publishing-mint-failed"
    assert err.message == (
        f"{exchange.host} did not mint an upload token by trusted publishing: it answered "
        "503 Service Unavailable (after 4 attempts)."
    )
    assert err.hint == (
        "This points to an outage or maintenance of the index, not to your configuration: "
        "re-run the job in a few minutes."
    )
    assert front.mint_calls == 4
    assert exchange.sleeps == [1.0, 2.0, 4.0]


def test_mint_non_json_to_the_end(exchange: Exchange, front: TrustedPublishingIndex) -> None:
    front.fail_mint("non-json", 4)
    err = exchange.error()
    assert err.message.endswith("it answered 200 with a body that is not JSON (after 4 attempts).")


def test_mint_endpoint_missing_is_not_retried(
    exchange: Exchange, front: TrustedPublishingIndex
) -> None:
    front.fail_mint("not-found")
    err = exchange.error()
    assert err.code == "trusted-publishing-mint-failed"
    assert err.message == (
        f"{exchange.host} did not mint an upload token by trusted publishing: it answered "
        "404 Not Found."
    )
    assert err.hint == (
        f"{exchange.host} does not answer the token exchange ({front.url}/_/oidc/mint-token) "
        "as PyPI does: check repository-url, or pass an API token in the password input."
    )
    assert front.mint_calls == 1
    assert exchange.sleeps == []


# -- the GitHub side --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "code", "message"),
    [
        ("unauthorized", "oidc-token-refused",
         "GitHub refused the request for the job's OIDC token: 401 Unauthorized."),
        ("server-error", "oidc-token-refused",
         "GitHub refused the request for the job's OIDC token: 500 Internal Server Error."),
        ("no-value", "oidc-token-missing",
         "GitHub's OIDC token service answered without a token."),
        ("not-json", "oidc-token-missing",
         "GitHub's OIDC token service answered without a token."),
    ],
)  # fmt: skip
def test_oidc_token_request_failures(
    front: TrustedPublishingIndex,
    oidc: GitHubOIDC,
    console: Console,
    fault: str,
    code: str,
    message: str,
) -> None:
    oidc.fault = fault
    # No urllib3 retries of the GET here: the point is the message, not the waiting.
    exchange = Exchange(front, oidc, console, session=make_session(retries=0))
    err = exchange.error()
    assert err.code == code
    assert err.message == message
    assert "permissions:\n  id-token: write" in err.hint
    assert front.mint_calls == 0


def test_oidc_request_keeps_the_runners_query(
    front: TrustedPublishingIndex, oidc: GitHubOIDC, console: Console
) -> None:
    # The stand-in answers 400 to a request without api-version=2.0; this one passes.
    Exchange(front, oidc, console).credential()
    assert oidc.audiences == ["pypi"]


# -- answers read within a deadline; a redirect is no answer ----------------------------


@pytest.fixture
def through(front: TrustedPublishingIndex) -> Iterator[FaultProxy]:
    """A fault proxy in front of the trusted publishing front."""
    with FaultProxy(front.url) as proxy:
        yield proxy
        assert proxy.errors == [], proxy.errors


def test_audience_dripped_stops_at_the_answer_deadline(
    front: TrustedPublishingIndex,
    oidc: GitHubOIDC,
    console: Console,
    through: FaultProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The real deadline is 30 s; each byte comes long before the read timeout.
    monkeypatch.setattr(credentials, "ANSWER_DEADLINE", 1.0)
    through.add(drip(1.0, limit=30), method="GET", path="/_/oidc/audience$", times=ALWAYS)
    exchange = Exchange(front, oidc, console, repository_url=through.url_for("/legacy/"))
    start = time.monotonic()
    err = exchange.error()
    assert time.monotonic() - start < 15
    host = through.url_for("/").removeprefix("http://").rstrip("/")
    assert err.code == "trusted-publishing-audience-unreadable"
    assert err.message == (
        f"{host}'s answer to GET http://{host}/_/oidc/audience could not be read: it did "
        "not arrive within 1 s."
    )
    assert oidc.requests == 0


def test_oidc_token_dripped_stops_at_the_answer_deadline(
    front: TrustedPublishingIndex, oidc: GitHubOIDC, console: Console, monkeypatch
) -> None:
    monkeypatch.setattr(credentials, "ANSWER_DEADLINE", 1.0)
    with FaultProxy(oidc.url) as proxy:
        proxy.add(drip(0.1, limit=30), method="GET", times=ALWAYS)  # a JWT: over 100 s
        exchange = Exchange(front, oidc, console, request_url=proxy.url_for(oidc.request_url))
        start = time.monotonic()
        err = exchange.error()
        assert time.monotonic() - start < 15
    assert err.code == "oidc-token-unreadable"
    assert err.message == (
        "The answer to the request for the job's OIDC token could not be read: it did not "
        "arrive within 1 s."
    )
    assert front.mint_calls == 0


def test_mint_answer_dripped_is_retried_then_given_up(
    front: TrustedPublishingIndex,
    oidc: GitHubOIDC,
    console: Console,
    through: FaultProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(credentials, "ANSWER_DEADLINE", 1.0)
    rule = through.add(drip(0.1, limit=10), method="POST", path="mint-token$", times=ALWAYS)
    exchange = Exchange(front, oidc, console, repository_url=through.url_for("/legacy/"))
    start = time.monotonic()
    err = exchange.error()
    assert time.monotonic() - start < 30  # 4 attempts of 1 s; the waits are recorded
    host = through.url_for("/").removeprefix("http://").rstrip("/")
    assert err.code == "trusted-publishing-mint-failed"
    assert err.message == (
        f"{host} did not mint an upload token by trusted publishing: its answer could not "
        "be read (it did not arrive within 1 s) (after 4 attempts)."
    )
    assert rule.fired == 4
    assert exchange.sleeps == [1.0, 2.0, 4.0]


def test_mint_answered_with_a_redirect_is_not_retried(
    front: TrustedPublishingIndex, oidc: GitHubOIDC, console: Console, through: FaultProxy
) -> None:
    """requests counts a 3xx as ok; no token came, and following would send the OIDC
    token elsewhere: a configuration error, named, not an outage retried."""
    where = {"Location": "https://user:pw@pypi.example.invalid/_/oidc/mint-token"}
    rule = through.add(status(301, headers=where), method="POST", times=ALWAYS)
    exchange = Exchange(front, oidc, console, repository_url=through.url_for("/legacy/"))
    err = exchange.error()
    host = through.url_for("/").removeprefix("http://").rstrip("/")
    assert err.code == "trusted-publishing-redirected"
    assert err.message == (
        f"{host} answered the token exchange (POST http://{host}/_/oidc/mint-token) with a "
        "redirect (HTTP 301 to https://***@pypi.example.invalid/_/oidc/mint-token); no "
        "upload token was minted."
    )
    assert err.hint == (
        "Set repository-url to the index's upload URL itself, with the scheme and host it "
        "expects (for PyPI https://upload.pypi.org/legacy/): the exchange is made with that "
        "scheme and host, and a redirect is not followed (it would send the job's OIDC "
        "token elsewhere)."
    )
    assert "pw@" not in err.message
    assert rule.fired == 1
    assert exchange.sleeps == []
    assert front.mint_calls == 0
