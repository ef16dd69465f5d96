"""http.RetryPolicy, RetryBudget and TransportError, without a network: a clock, a
sleep and the jitter's random numbers are injected."""

from __future__ import annotations

import io
import random
import threading
from typing import Any

import pytest
import requests

from release.http import (
    EQUAL_JITTER,
    FULL_JITTER,
    NO_JITTER,
    SPREAD,
    NoAnswer,
    Pause,
    RetryBudget,
    RetryPolicy,
    TransportError,
    make_session,
    sibling,
    transport,
)

NOW = 1000.0


def middle(low: float, high: float) -> float:
    return (low + high) / 2


def policy(**kw: Any) -> RetryPolicy:
    options: dict[str, Any] = {
        "attempts": 4,
        "backoff": 0.5,
        "uniform": middle,
        "clock": lambda: NOW,
        "sleep": lambda _s: pytest.fail("decide() never sleeps"),
    }
    return RetryPolicy(**{**options, **kw})


BUDGET = "the run's budget of {} s for waiting on retries is spent"


@pytest.mark.parametrize(
    ("options", "failures", "retry_after", "expected"),
    [
        # backoff * 2**(failures - 1), at the jitter's middle
        ({}, 1, None, Pause(True, 0.5)),
        ({}, 2, None, Pause(True, 1.0)),
        ({}, 3, None, Pause(True, 2.0)),
        ({"factor": 3.0}, 3, None, Pause(True, 4.5)),
        # out of attempts: no reason to give (the count says it)
        ({}, 4, None, Pause(False)),
        ({"attempts": 1}, 1, None, Pause(False)),
        # Retry-After honoured as asked (no jitter), up to the cap; past it, not waited
        ({}, 1, 7.0, Pause(True, 7.0)),
        ({}, 1, 60.0, Pause(True, 60.0)),
        ({}, 1, 0.0, Pause(True, 0.0)),
        ({}, 1, 3600.0, Pause(False, 0.0, "it asked to retry after 3600 s, longer than the "
                                           "60 s this action waits")),
        ({"max_retry_after": 10.0, "asker": "the index"}, 2, 11.0,
         Pause(False, 0.0, "the index asked to retry after 11 s, longer than the 10 s this "
                           "action waits")),
        # the attempts are counted before Retry-After
        ({}, 4, 3600.0, Pause(False)),
        # a cap on the backoff (not on Retry-After, which has its own)
        ({"cap": 3.0}, 3, None, Pause(True, 2.0)),
        ({"attempts": 5, "cap": 3.0}, 4, None, Pause(True, 3.0)),
        ({"cap": 3.0}, 1, 30.0, Pause(True, 30.0)),
        ({"attempts": 20, "cap": 3.0}, 10, None, Pause(True, 3.0)),
        ({"attempts": 20, "cap": 3.0, "jitter": (1.0, 2.0)}, 10, None, Pause(True, 3.0)),
        # the deadline: the next attempt must start with ``margin`` to spare
        ({"deadline": NOW + 2.0}, 2, None, Pause(True, 1.0)),
        ({"deadline": NOW + 2.0, "margin": 1.0}, 2, None, Pause(True, 1.0)),
        ({"deadline": NOW + 2.0, "margin": 1.5}, 2, None,
         Pause(False, 0.0, "its deadline has passed")),
        ({"deadline": NOW + 5.0, "ends": "each request is given up after 5 s"}, 1, 10.0,
         Pause(False, 0.0, "each request is given up after 5 s")),
        ({"deadline": NOW - 1.0}, 1, 0.0, Pause(False, 0.0, "its deadline has passed")),
        # the budget
        ({"budget": RetryBudget(1.0)}, 2, None, Pause(True, 1.0)),
        ({"budget": RetryBudget(0.9)}, 2, None, Pause(False, 0.0, BUDGET.format(1))),
        ({"budget": RetryBudget(30.0)}, 1, 45.0, Pause(False, 0.0, BUDGET.format(30))),
        # the deadline is checked before the budget is drawn on
        ({"budget": RetryBudget(0.0), "deadline": NOW}, 1, None,
         Pause(False, 0.0, "its deadline has passed")),
    ],
)  # fmt: skip
def test_decide(
    options: dict[str, Any], failures: int, retry_after: float | None, expected: Pause
) -> None:
    assert policy(**options).decide(failures, retry_after) == expected


def test_a_refused_wait_spends_nothing_and_a_taken_one_its_seconds() -> None:
    budget = RetryBudget(3.0)
    p = policy(budget=budget)
    assert p.decide(1, 3600.0).retry is False  # too long to wait: the budget untouched
    assert budget.left == 3.0
    assert p.decide(1, 2.5) == Pause(True, 2.5)
    assert budget.left == 0.5
    assert p.decide(2) == Pause(False, 0.0, BUDGET.format(3))  # 1 s wanted, 0.5 left
    assert budget.left == 0.5
    assert p.decide(1, 0.5) == Pause(True, 0.5)
    assert budget.left == 0.0


def test_pause_sleeps_only_to_retry() -> None:
    slept: list[float] = []
    p = policy(attempts=3, sleep=slept.append)
    assert p.pause(1) == Pause(True, 0.5)
    assert p.pause(2, 4.0) == Pause(True, 4.0)
    assert p.pause(3) == Pause(False)
    assert slept == [0.5, 4.0]


@pytest.mark.parametrize(
    ("jitter", "low", "high"),
    [(SPREAD, 0.75, 1.25), (FULL_JITTER, 0.0, 1.0), (EQUAL_JITTER, 0.5, 1.0), (NO_JITTER, 1, 1)],
    ids=["spread", "full", "equal", "none"],
)
def test_jitter_stays_within_its_bounds(
    jitter: tuple[float, float], low: float, high: float
) -> None:
    seeded = random.Random(1234)  # noqa: S311 - jitter, seeded
    p = policy(attempts=10, backoff=1.0, jitter=jitter, uniform=seeded.uniform)
    for failures in range(1, 10):
        base = 2.0 ** (failures - 1)
        waits = [p.delay(failures) for _ in range(200)]
        assert all(base * low <= w <= base * high for w in waits)
        if low != high:
            assert len(set(waits)) > 100  # drawn, not fixed
            # spread over the range, not bunched at one end
            assert min(waits) < base * (low + (high - low) / 4)
            assert max(waits) > base * (high - (high - low) / 4)


def test_the_default_random_is_used_when_none_is_injected() -> None:
    p = RetryPolicy(attempts=3, backoff=1.0)
    waits = {p.delay(1) for _ in range(50)}
    assert len(waits) > 1
    assert all(0.75 <= w <= 1.25 for w in waits)


def test_a_long_run_of_failures_does_not_overflow() -> None:
    assert policy(attempts=10_000, cap=30.0).delay(5000) == 30.0


def test_the_budget_is_shared_safely_by_threads() -> None:
    """Many threads draw on one budget at once: it is never overspent, and every wait
    granted is counted."""
    budget = RetryBudget(100.0)
    start = threading.Barrier(16)
    granted: list[int] = []
    lock = threading.Lock()

    def draw() -> None:
        start.wait(20)
        mine = sum(budget.take(0.25) for _ in range(100))
        with lock:
            granted.append(mine)

    threads = [threading.Thread(target=draw) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(granted) == 400  # 100 s / 0.25 s, out of 1600 asked for
    assert budget.left == 0.0


def test_a_sibling_session_shares_the_runs_budget() -> None:
    with make_session(retries=2, budget=50.0) as session:
        with sibling(session) as other:
            assert other is not session
            assert other.budget is session.budget  # type: ignore[attr-defined]
            assert other.retries == 2  # type: ignore[attr-defined]
            assert other.headers["User-Agent"] == session.headers["User-Agent"]
        with requests.Session() as plain, sibling(plain) as other:
            assert type(other) is requests.Session


# -- TransportError: what requests raises, as one type ----------------------------------


def raised(exc: BaseException) -> TransportError:
    with pytest.raises(TransportError) as info, transport():
        raise exc
    return info.value


@pytest.mark.parametrize(
    ("exc", "said", "timeout", "transient"),
    [
        (requests.ConnectTimeout(), "ConnectTimeout", "connect", True),
        (requests.ReadTimeout(), "ReadTimeout", "read", True),
        (requests.ConnectionError(), "ConnectionError", "", True),
        (requests.exceptions.ChunkedEncodingError(), "ChunkedEncodingError", "", False),
        (requests.exceptions.InvalidURL(), "InvalidURL", "", False),
        (requests.TooManyRedirects(), "TooManyRedirects", "", False),
        (requests.HTTPError(), "HTTPError", "", False),
    ],
)
def test_transport_turns_requests_exceptions_into_no_answer(
    exc: requests.RequestException, said: str, timeout: str, transient: bool
) -> None:
    err = raised(exc)
    assert isinstance(err, NoAnswer)
    assert (str(err), err.timeout, err.transient, err.note, err.status) == (
        said,
        timeout,
        transient,
        "",
        None,
    )
    assert err.__cause__ is exc


def test_the_retry_loops_note_is_carried() -> None:
    exc = requests.ReadTimeout()
    exc.add_note("something else")
    exc.add_note("retry: each request is given up after 5 s")
    assert raised(exc).note == "each request is given up after 5 s"


def test_transport_lets_anything_else_pass() -> None:
    with pytest.raises(ValueError, match="not a transport"), transport():
        raise ValueError("not a transport failure")


# -- the GitHub POST's loop -------------------------------------------------------------


def test_a_post_is_looked_for_after_each_failure_then_retried_after_a_backoff() -> None:
    from release import github
    from release.errors import GitHubError

    events: list[str] = []

    def attempt() -> str:
        events.append("post")
        raise GitHubError("github-http-error", "GitHub answered HTTP 502.", "later", transient=True)

    def recover() -> str | None:
        events.append("look")
        return None

    p = policy(attempts=3, budget=RetryBudget(1.0), sleep=lambda s: events.append(f"wait {s}"))
    with pytest.raises(GitHubError) as info:
        github._retry_post("attaching x", "o/r", attempt, recover, p)
    # 0.5 s, then 1 s: more than the 0.5 s left of the budget
    assert events == ["post", "wait 0.5", "look", "post"]
    assert info.value.message == (
        "GitHub answered HTTP 502 (not retried further: the run's budget of 1 s for waiting "
        "on retries is spent)."
    )
    assert info.value.transient

    events.clear()
    p = policy(attempts=2, sleep=lambda s: events.append(f"wait {s}"))
    with pytest.raises(GitHubError) as info:
        github._retry_post("attaching x", "o/r", attempt, recover, p)
    assert events == ["post", "wait 0.5", "look", "post"]
    assert info.value.message == "GitHub answered HTTP 502."  # out of attempts: as it was


def test_each_loop_has_its_numbers_and_the_runs_budget() -> None:
    """The GET loop, the upload, the mint and the GitHub POST: each its own attempts and
    backoff, all jittered, all drawing on the one budget of the run's session."""
    from release import github, upload
    from release.credentials import TrustedPublishing
    from release.gha import Console
    from release.simple import IndexProject

    session = make_session(budget=77.0)
    console = Console(actions=False, stream=io.StringIO())
    uploader = upload.Uploader(
        repository_url="http://127.0.0.1:9/legacy/",
        credential=lambda _valid_for: ("", ""),
        session=session,
        read_index=lambda _session: IndexProject("demo"),
        console=console,
    )
    minting = TrustedPublishing(
        repository_url="http://127.0.0.1:9/legacy/",
        request_url="http://127.0.0.1:9/token",
        request_token="t",
        project="demo",
        session=session,
        console=console,
    )
    policies = {
        "get": session.policy(NOW),
        "upload": uploader.policy(NOW),
        "mint": minting.mint_policy(),
        "post": github.post_policy(session),
    }
    numbers = {k: (p.attempts, p.backoff, p.factor, p.jitter) for k, p in policies.items()}
    assert numbers == {
        "get": (5, 0.5, 2.0, SPREAD),
        "upload": (4, 0.5, 2.0, SPREAD),
        "mint": (4, 1.0, 2.0, SPREAD),
        "post": (3, 0.5, 2.0, SPREAD),
    }
    assert all(p.budget is session.budget for p in policies.values())
    assert (policies["get"].deadline, policies["get"].margin) == (NOW, 1.0)
    assert (policies["upload"].deadline, policies["upload"].margin) == (NOW, 5.0)
