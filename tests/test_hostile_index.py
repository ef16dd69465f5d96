"""A hostile or broken index, behind the fault-injecting proxy: the action fails closed,
never hangs, and one plain re-run finishes the release.

Each test puts a real index (pypiserver, devpi) behind ``support.faults.FaultProxy``,
runs the action through it, and asserts the exit code, the exact error, what the index
holds afterwards, and that a re-run without the proxy converges to the complete
release. Wall-time bounds are generous upper bounds, never synchronisation.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time

import pytest
from conftest import Index, Project
from support.faults import (
    ALWAYS,
    JSON_TYPE,
    FaultProxy,
    body,
    delay,
    drip,
    forward_then,
    gzip_bomb,
    hang,
    oversized,
    rewrite,
    status,
    transient_404,
)
from support.output import assert_only_our_commands, commands, the_error
from support.runner import Run

from release import http, upload
from release.dists import sha256_of

PAGE = r"/flit-sample/$"  # the project's simple page, on either index
WHEEL = "flit_sample-1.0.0-py3-none-any.whl"
SDIST = "flit_sample-1.0.0.tar.gz"
NOT_SIMPLE_HINT = (
    "Nothing was uploaded. index-url must be a PEP 503/691 simple API such as "
    "https://pypi.org/simple/; if it is, the index or a proxy in front of it sent an error "
    "page: try again later."
)
UNUSABLE_HINT = (
    "Nothing was uploaded. Check index-url; if it is right, the index or a proxy in "
    "between is misbehaving: try again later."
)


def through(proxy: FaultProxy, index: Index) -> dict[str, str]:
    """The action's inputs that send its reads and uploads through the proxy."""
    return {
        "index_url": proxy.url_for(index.simple_url),
        "repository_url": proxy.url_for(index.upload_url),
    }


def page_url(proxy: FaultProxy, index: Index) -> str:
    return proxy.url_for(index.simple_url) + "flit-sample/"


def built(project: Project) -> dict[str, str]:
    return {p.name: sha256_of(p) for p in (project.path / "dist").iterdir()}


def timed(action, *args, **inputs) -> tuple[Run, float]:
    start = time.monotonic()
    run = action(*args, **inputs)
    return run, time.monotonic() - start


def converges(action, project: Project, tag: str, index: Index) -> Run:
    """One plain re-run, without the proxy, finishes the release."""
    shutil.rmtree(project.path / "dist", ignore_errors=True)
    run = action(project, tag, index)
    assert run.code == 0, run.out
    assert run.outputs["published"] == "true"
    files, mine = index.files(), built(project)
    assert {name: files.get(name) for name in mine} == mine
    assert sorted(mine) == sorted(json.loads(run.outputs["files"]))
    return run


def refused_early(run: Run, index: Index) -> None:
    """Refused on the index's answer, with nothing uploaded and nothing published: the
    build that ran alongside the read is called off (or, when the read was slower, its
    files are never checked or used)."""
    assert run.code == 1
    assert "::group::twine check" not in run.out
    assert "Build sdist and wheel: ok" not in run.out
    assert index.files() == {}
    assert run.outputs == {}  # no plan, so no outputs
    assert run.summary.startswith("### ❌ Package index error\n")


def released(action, project: Project, index: Index, version: str) -> str:
    """A first release straight to the index, so the project has a page there."""
    tag = project.release(version)
    run = action(project, tag, index)
    assert run.code == 0, run.out
    return tag


# --- pages that are not project pages: fail closed, before the build ---------------------

CAPTCHA = (
    "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
    "<h1>Checking your browser before accessing the index</h1>"
    '<form id="challenge"><input type="hidden" name="captcha"></form></body></html>'
)
ROOT_PAGE = (
    '<!DOCTYPE html><html><head><meta name="pypi:repository-version" content="1.1">'
    "<title>Simple index</title></head><body>"
    '<a href="/simple/flit-sample/">flit-sample</a><a href="/simple/other/">other</a>'
    "</body></html>"
)
OTHER_PAGE = (
    '<!DOCTYPE html><html><head><meta name="pypi:repository-version" content="1.1">'
    "<title>Links for other-project</title></head><body><h1>Links for other-project</h1>"
    "</body></html>"
)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        pytest.param(CAPTCHA, "the HTML does not name a project ('Links for ...')", id="captcha"),
        # Both read as "no files" if taken: a first release of a version that exists.
        pytest.param(ROOT_PAGE, "the HTML does not name a project ('Links for ...')", id="root"),
        pytest.param(
            OTHER_PAGE, "the HTML is the page of 'other-project', not of 'flit-sample'", id="other"
        ),
    ],
)
def test_html_page_that_is_not_the_project_page(
    make_project, pypiserver: Index, proxy: FaultProxy, action, content: str, why: str
) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    rule = proxy.add(body(200, content), method="GET", path=PAGE, times=ALWAYS)
    run = action(project, tag, pypiserver, **through(proxy, pypiserver))
    refused_early(run, pypiserver)
    assert the_error(run.out, "index-answer-invalid") == (
        "Package index error",
        f"{page_url(proxy, pypiserver)} did not answer as a simple API project page: {why} "
        f"(got text/html, {len(content)} bytes).",
        NOT_SIMPLE_HINT,
    )
    assert rule.fired == 1  # a 200 is not retried: it is an answer, and a wrong one
    converges(action, project, tag, pypiserver)


@pytest.mark.parametrize(
    ("content", "content_type", "why"),
    [
        pytest.param(bytes(range(256)) * 4, JSON_TYPE, "it could not be parsed", id="garbage-json"),
        pytest.param(
            b"\x89PNG\r\n\x1a\n" + bytes(200),
            "image/png",
            "unexpected content type",
            id="garbage-png",
        ),
        pytest.param(b"[" * 100_000, JSON_TYPE, "it could not be parsed", id="deep-json"),
        # The most dangerous shape: an empty list of files reads as "a new project".
        pytest.param(
            json.dumps({"name": "flit-sample", "files": []}).encode(),
            JSON_TYPE,
            "the JSON has no meta.api-version",
            id="json-without-meta",
        ),
        pytest.param(
            json.dumps({"meta": {"api-version": "1.1"}, "name": "other", "files": []}).encode(),
            JSON_TYPE,
            "the JSON is not the page of 'flit-sample'",
            id="json-other-project",
        ),
        pytest.param(
            json.dumps({"meta": {"api-version": "2.0"}, "name": "flit-sample", "files": []}),
            JSON_TYPE,
            "unsupported API version (2.0)",
            id="json-api-v2",
        ),
    ],
)
def test_page_that_is_not_a_simple_page(
    make_project,
    pypiserver: Index,
    proxy: FaultProxy,
    action,
    content: bytes | str,
    content_type: str,
    why: str,
) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    proxy.add(body(200, content, content_type), method="GET", path=PAGE, times=ALWAYS)
    run = action(project, tag, pypiserver, **through(proxy, pypiserver))
    refused_early(run, pypiserver)
    size = len(content.encode() if isinstance(content, str) else content)
    assert the_error(run.out, "index-answer-invalid")[1:] == (
        f"{page_url(proxy, pypiserver)} did not answer as a simple API project page: {why} "
        f"(got {content_type}, {size} bytes).",
        NOT_SIMPLE_HINT,
    )
    converges(action, project, tag, pypiserver)


def test_transient_404_is_not_believed(
    make_project, pypiserver: Index, proxy: FaultProxy, action
) -> None:
    project = make_project("flit")
    released(action, project, pypiserver, "1.0.0")
    tag = project.release("1.1.0")
    rule = proxy.add(transient_404(1), method="GET", path=PAGE)
    run = action(project, tag, pypiserver, **through(proxy, pypiserver))
    assert run.code == 0, run.out
    assert rule.fired == 1
    # The 404 was read again, and the second read (no-cache) found the page: the run
    # knew 1.0.0 from its plan on, so it did not take the project for a new one.
    reads = proxy.requests_matching("GET", PAGE)
    assert [e.status for e in reads[:2]] == [404, 200]
    assert run.outputs["previous-version"] == "1.0.0"
    assert "| Previous version | 1.0.0 |" in run.summary
    assert len(pypiserver.files()) == 4
    again = converges(action, project, tag, pypiserver)
    assert "Upload 0 file(s)" in again.out


def test_404_twice_is_a_new_project(make_project, devpi: Index, proxy: FaultProxy, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    rule = proxy.add(transient_404(2), method="GET", path=PAGE)
    run = action(project, tag, devpi, **through(proxy, devpi))
    assert run.code == 0, run.out
    assert rule.fired == 2
    assert run.outputs["previous-version"] == ""
    converges(action, project, tag, devpi)


# --- status codes, Retry-After, the budget ---------------------------------------------


def test_5xx_on_reads_is_retried_then_refused(
    make_project, pypiserver: Index, proxy: FaultProxy, action
) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    rule = proxy.add(status(503), method="GET", path=PAGE, times=ALWAYS)
    run, took = timed(action, project, tag, pypiserver, **through(proxy, pypiserver))
    refused_early(run, pypiserver)
    assert the_error(run.out, "index-http-error")[1:] == (
        f"The index answered HTTP 503 for {page_url(proxy, pypiserver)}.",
        "Nothing was uploaded. The index is busy or failing: re-run later.",
    )
    assert rule.fired == 1 + http.RETRIES
    assert took < 60  # backoff 0.5 + 1 + 2 + 4 s, with jitter
    converges(action, project, tag, pypiserver)


def test_429_asking_for_an_hour_is_not_waited_for(
    make_project, pypiserver: Index, proxy: FaultProxy, action
) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    rule = proxy.add(status(429, retry_after=3600), method="GET", path=PAGE, times=ALWAYS)
    run, took = timed(action, project, tag, pypiserver, **through(proxy, pypiserver))
    refused_early(run, pypiserver)
    assert the_error(run.out, "index-http-error")[1:] == (
        f"The index answered HTTP 429 for {page_url(proxy, pypiserver)} (not retried "
        "further: it asked to retry after 3600 s, longer than the 60 s this action waits).",
        "Nothing was uploaded. The index is busy or failing: re-run later.",
    )
    assert rule.fired == 1
    assert took < 30
    converges(action, project, tag, pypiserver)


def test_retry_waits_stop_at_the_run_budget(
    make_project, pypiserver: Index, proxy: FaultProxy, action, monkeypatch
) -> None:
    # The real budget is 120 s; a smaller one shows the same bound in seconds.
    monkeypatch.setattr(http, "RETRY_BUDGET", 3.0)
    project = make_project("flit")
    tag = project.release("1.0.0")
    rule = proxy.add(status(429, retry_after=2), method="GET", path=PAGE, times=ALWAYS)
    run, took = timed(action, project, tag, pypiserver, **through(proxy, pypiserver))
    refused_early(run, pypiserver)
    assert the_error(run.out, "index-http-error")[1] == (
        f"The index answered HTTP 429 for {page_url(proxy, pypiserver)} (not retried "
        "further: the run's budget of 3 s for waiting on retries is spent)."
    )
    assert rule.fired == 2  # waited 2 s once; the next 2 s would pass the budget
    assert took < 30
    converges(action, project, tag, pypiserver)


def test_read_never_answered_stops_at_the_call_deadline(
    make_project, pypiserver: Index, proxy: FaultProxy, action, monkeypatch
) -> None:
    # The real bounds: 60 s per read, 120 s per call with its retries.
    monkeypatch.setattr(http, "TIMEOUT", (10.0, 2.0))
    monkeypatch.setattr(http, "CALL_DEADLINE", 5.0)
    project = make_project("flit")
    tag = project.release("1.0.0")
    rule = proxy.add(hang(300), method="GET", path=PAGE, times=ALWAYS)
    run, took = timed(action, project, tag, pypiserver, **through(proxy, pypiserver))
    refused_early(run, pypiserver)
    assert the_error(run.out, "index-unreachable")[1:] == (
        f"Cannot reach the index at {page_url(proxy, pypiserver)}: ReadTimeout (not retried "
        "further: each request is given up after 5 s).",
        "Check index-url and that the index is up; nothing was uploaded.",
    )
    assert rule.fired == 2  # 2 s, a short wait, 2 s: no time left for a third
    assert took < 30
    converges(action, project, tag, pypiserver)


# --- slow, large and compressed pages ------------------------------------------------


def test_page_dripped_one_byte_at_a_time(
    make_project, pypiserver: Index, proxy: FaultProxy, action, monkeypatch
) -> None:
    # The real deadline is 90 s; each byte comes long before any read timeout.
    monkeypatch.setattr(http, "READ_DEADLINE", 3.0)
    project = make_project("flit")
    released(action, project, pypiserver, "1.0.0")
    before = pypiserver.files()
    tag = project.release("1.1.0")
    proxy.add(drip(0.1, limit=60), method="GET", path=PAGE, times=ALWAYS)
    run, took = timed(action, project, tag, pypiserver, **through(proxy, pypiserver))
    assert run.code == 1
    assert the_error(run.out, "index-page-unusable")[1:] == (
        f"The index's page {page_url(proxy, pypiserver)} could not be read: it did not "
        "arrive within 3 s.",
        UNUSABLE_HINT,
    )
    assert "::group::twine check" not in run.out
    assert pypiserver.files() == before
    assert took < 30
    converges(action, project, tag, pypiserver)
    assert len(pypiserver.files()) == 4


@pytest.mark.parametrize("announced", [True, False], ids=["with-length", "without-length"])
def test_oversized_page(
    make_project, pypiserver: Index, proxy: FaultProxy, action, announced: bool
) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    size = 50 * 1024 * 1024
    fault = oversized(size, project="flit-sample", announce_length=announced)
    proxy.add(fault, method="GET", path=PAGE, times=ALWAYS)
    run, took = timed(action, project, tag, pypiserver, **through(proxy, pypiserver))
    refused_early(run, pypiserver)
    why = (
        f"it announces {size} bytes, more than 20 MiB"
        if announced
        else ("it is larger than 20 MiB")
    )
    assert the_error(run.out, "index-page-unusable")[1:] == (
        f"The index's page {page_url(proxy, pypiserver)} could not be read: {why}.",
        UNUSABLE_HINT,
    )
    assert took < 60
    converges(action, project, tag, pypiserver)


def test_gzip_bomb_page(make_project, devpi: Index, proxy: FaultProxy, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    bomb = gzip_bomb(2 * 1024**3, JSON_TYPE, project="flit-sample")  # 2 GiB decoded
    proxy.add(bomb, method="GET", path=PAGE, times=ALWAYS)
    run, took = timed(action, project, tag, devpi, **through(proxy, devpi))
    refused_early(run, devpi)
    assert the_error(run.out, "index-page-unusable")[1] == (
        f"The index's page {page_url(proxy, devpi)} could not be read: it is larger than 20 MiB."
    )
    assert took < 60
    converges(action, project, tag, devpi)


# --- PEP 792 project status, checked before the build, before the upload, at confirm ----


def status_page(status_name: str, files: list[dict[str, object]] | None = None) -> str:
    return json.dumps(
        {
            "meta": {"api-version": "1.4"},
            "name": "flit-sample",
            "files": files or [],
            "project-status": {"status": status_name, "reason": "<b>gone</b>\r::warning::x"},
        }
    )


@pytest.mark.parametrize("status_name", ["archived", "quarantined", "deprecated"])
def test_project_status_refused_before_the_build(
    make_project, devpi: Index, proxy: FaultProxy, action, status_name: str
) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    proxy.add(body(200, status_page(status_name), JSON_TYPE), method="GET", path=PAGE, times=ALWAYS)
    run = action(project, tag, devpi, **through(proxy, devpi))
    refused_early(run, devpi)
    _title, message, hint = the_error(run.out, f"project-{status_name}")
    assert message.startswith(f"The index marks 'flit-sample' as {status_name} (")
    assert message.endswith("); it takes no new release.")
    assert hint == (
        f"Nothing was uploaded. Ask the index ({proxy.url_for(devpi.simple_url)}) to make "
        "the project active again, then re-run."
    )
    converges(action, project, tag, devpi)


def test_project_status_html(make_project, pypiserver: Index, proxy: FaultProxy, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    page = (
        '<!DOCTYPE html><html><head><meta name="pypi:repository-version" content="1.4">'
        '<meta name="pypi:project-status" content="quarantined">'
        "<title>Links for flit-sample</title></head><body></body></html>"
    )
    proxy.add(body(200, page), method="GET", path=PAGE, times=ALWAYS)
    run = action(project, tag, pypiserver, **through(proxy, pypiserver))
    refused_early(run, pypiserver)
    assert the_error(run.out, "project-quarantined")[1] == (
        "The index marks 'flit-sample' as quarantined (the project is quarantined by the "
        "index's administrators); it takes no new release."
    )
    converges(action, project, tag, pypiserver)


def test_project_archived_while_building(
    make_project, devpi: Index, proxy: FaultProxy, action
) -> None:
    """The plan's read passes; the re-check right before the first upload refuses."""
    project = make_project("flit")
    tag = project.release("1.0.0")
    # The plan's reads pass unchanged: a 404, and the no-cache read that confirms it.
    proxy.add(delay(0), method="GET", path=PAGE, times=2)
    proxy.add(body(200, status_page("archived"), JSON_TYPE), method="GET", path=PAGE, times=ALWAYS)
    run = action(project, tag, devpi, **through(proxy, devpi))
    assert run.code == 1
    assert "Build sdist and wheel" in run.out  # the plan was complete
    the_error(run.out, "project-archived")
    assert proxy.requests_matching("POST") == []  # not one upload byte
    assert devpi.files() == {}
    assert run.outputs["published"] == "false"
    converges(action, project, tag, devpi)


def test_project_archived_at_confirm(make_project, devpi: Index, proxy: FaultProxy, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    # Pass unchanged: the plan's read and the re-check before the upload, each a 404 read
    # twice (a new project).
    proxy.add(delay(0), method="GET", path=PAGE, times=4)
    proxy.add(body(200, status_page("archived"), JSON_TYPE), method="GET", path=PAGE, times=ALWAYS)
    run = action(project, tag, devpi, **through(proxy, devpi))
    assert run.code == 1
    assert the_error(run.out, "confirm-project-archived")[1:] == (
        "The index now marks 'flit-sample' as archived (the project is archived: its "
        "maintainers marked it as no longer updated), after this run's upload; it has: "
        f"{WHEEL}, {SDIST}.",
        "Installers may not get this release. Ask the index why the project's status "
        "changed; once it is active again, re-run to confirm (nothing is uploaded twice).",
    )
    assert devpi.files() == built(project)
    assert run.outputs["published"] == "false"
    assert f"| {code(WHEEL)} |" in run.summary
    assert run.summary.count("| uploaded |") == 2
    again = converges(action, project, tag, devpi)
    assert "Upload 0 file(s)" in again.out


def code(name: str) -> str:
    return f"<code>{name}</code>"


# --- uploads: never answered, answered wrongly, landed although failed --------------------


def test_upload_never_answered_then_retried(
    make_project, pypiserver: Index, proxy: FaultProxy, action, monkeypatch
) -> None:
    """Real timeouts (a tenth of the real 60 s per answer, so that the suite does not
    wait a minute): a tiny file's answer is waited for, then the index is read (the hang
    swallowed the body: not there) and the upload is tried again."""
    assert upload.UPLOAD_READ_TIMEOUT == 60.0  # what a real run waits
    monkeypatch.setattr(upload, "UPLOAD_READ_TIMEOUT", 6.0)
    project = make_project("flit")
    tag = project.release("1.0.0")
    rule = proxy.add(hang(300), method="POST", times=1)
    run, took = timed(action, project, tag, pypiserver, **through(proxy, pypiserver))
    assert run.code == 0, run.out
    assert rule.fired == 1
    assert f"{WHEEL}: upload failed (ReadTimeout, no answer within 6 s); retrying" in run.out
    assert 5 < took < 90
    assert pypiserver.files() == built(project)
    assert run.summary.count("| uploaded |") == 2
    converges(action, project, tag, pypiserver)


def test_upload_never_answered_gives_up_at_the_deadline(
    make_project, pypiserver: Index, proxy: FaultProxy, action, monkeypatch
) -> None:
    # The real bounds are 60 s per answer and 120 s per file (plus size / 256 KiB/s).
    monkeypatch.setattr(upload, "UPLOAD_READ_TIMEOUT", 2.0)
    monkeypatch.setattr(upload, "UPLOAD_DEADLINE", 6.0)
    monkeypatch.setattr(upload, "MIN_ATTEMPT", 1.0)
    project = make_project("flit")
    tag = project.release("1.0.0")
    rule = proxy.add(hang(300), method="POST", times=ALWAYS)
    run, took = timed(action, project, tag, pypiserver, **through(proxy, pypiserver))
    assert run.code == 1
    assert the_error(run.out, "upload-failed")[1:] == (
        f"Uploading {WHEEL} to {proxy.url_for(pypiserver.upload_url)} failed 2 times (last: "
        "ReadTimeout, no answer within 2 s), and the index does not list it; not retried "
        "further: no time is left for another attempt within this file's deadline.",
        "The index lists no file of version 1.0.0. Check repository-url and that the index "
        "is up, then re-run: files already uploaded are kept, and the re-run uploads the "
        "rest.",
    )
    assert rule.fired == 2
    assert took < 60
    assert pypiserver.files() == {}
    assert f"| {code(WHEEL)} | " in run.summary
    assert run.summary.count("**not uploaded**") == 2
    converges(action, project, tag, pypiserver)


def test_upload_fails_after_the_first_file(
    make_project, pypiserver: Index, proxy: FaultProxy, action, monkeypatch
) -> None:
    """The error and the summary say which files are on the index and which are not."""
    monkeypatch.setattr(upload, "ATTEMPTS", 2)
    project = make_project("flit")
    tag = project.release("1.0.0")
    proxy.add(status(500), method="POST", body='.tar.gz"', times=ALWAYS)
    run = action(project, tag, pypiserver, **through(proxy, pypiserver))
    assert run.code == 1
    assert the_error(run.out, "upload-failed")[1:] == (
        f"Uploading {SDIST} to {proxy.url_for(pypiserver.upload_url)} failed 2 times (last: "
        "HTTP 500 Internal Server Error), and the index does not list it.",
        f"The index lists these files of version 1.0.0: {WHEEL}; not {SDIST}. Check "
        "repository-url and that the index is up, then re-run: files already uploaded are "
        "kept, and the re-run uploads the rest.",
    )
    assert list(pypiserver.files()) == [WHEEL]
    assert f"Uploaded before the failure: {code(WHEEL)}." in run.summary
    assert f"| {code(SDIST)} |" in run.summary
    assert "**not uploaded**" in run.summary
    converges(action, project, tag, pypiserver)


@pytest.mark.parametrize("then", [502, "reset"], ids=["502", "reset"])
def test_upload_that_landed_although_it_failed(
    make_project, index: Index, proxy: FaultProxy, action, then: int | str
) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    rule = proxy.add(forward_then(then), method="POST", times=ALWAYS)  # type: ignore[arg-type]
    run = action(project, tag, index, **through(proxy, index))
    assert run.code == 0, run.out
    assert rule.fired == 2  # each file once: read back, never sent twice
    said = "HTTP 502 Bad Gateway" if then == 502 else "ConnectionError, no answer"
    for name in (WHEEL, SDIST):
        assert (
            f"{name}: the index has it although the upload answered {said}; counted as uploaded"
        ) in run.out
    assert index.files() == built(project)
    assert run.outputs["published"] == "true"
    assert run.summary.count("| uploaded |") == 2
    assert len(proxy.requests_matching("POST")) == 2
    again = converges(action, project, tag, index)
    assert "Upload 0 file(s)" in again.out


def test_upload_429_asking_for_an_hour(
    make_project, pypiserver: Index, proxy: FaultProxy, action
) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    proxy.add(status(429, retry_after=3600), method="POST", times=ALWAYS)
    run, took = timed(action, project, tag, pypiserver, **through(proxy, pypiserver))
    assert run.code == 1
    assert the_error(run.out, "upload-failed")[1] == (
        f"Uploading {WHEEL} to {proxy.url_for(pypiserver.upload_url)} failed once (last: "
        "HTTP 429 Too Many Requests), and the index does not list it; not retried further: "
        "the index asked to retry after 3600 s, longer than the 60 s this action waits."
    )
    assert took < 60
    assert pypiserver.files() == {}
    converges(action, project, tag, pypiserver)


# --- outside text in the log ----------------------------------------------------------

INJECTION = (
    "Bad Request\r::add-mask::x\r::warning::y\r::stop-commands::z "
    "<img src=x onerror=alert(1)> [link](https://evil.example/)"
)


def test_reason_phrase_cannot_inject_commands(
    make_project, pypiserver: Index, proxy: FaultProxy, action
) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    proxy.add(status(400, reason=INJECTION), method="POST", times=1)
    run = action(project, tag, pypiserver, **through(proxy, pypiserver))
    assert run.code == 1
    assert the_error(run.out, "upload-refused")[1:] == (
        f"{proxy.url_for(pypiserver.upload_url)} refused {WHEEL} (HTTP 400 Bad Request\\r"
        "::add-mask::x\\r::warning::y\\r::stop-commands::z <img src=x onerror=alert(1)> "
        "[link](https://evil.example/)).",
        "The reason is the index's own; fix what it names and re-run (files already "
        "uploaded are kept).",
    )
    assert_only_our_commands(run.out)
    for injected in ("::add-mask::x", "::warning::y", "::stop-commands::z"):
        assert injected not in commands(run.out)
    # The step summary shows the reason as text: no HTML, no link.
    assert "<img" not in run.summary
    assert "[link](" not in run.summary
    assert "&lt;img src=x onerror=alert(1)&gt;" in run.summary
    assert pypiserver.files() == {}
    converges(action, project, tag, pypiserver)


def test_upload_answered_with_a_redirect(
    make_project, pypiserver: Index, proxy: FaultProxy, action
) -> None:
    """requests calls a 3xx "ok"; an upload it is not, and it is not followed."""
    project = make_project("flit")
    tag = project.release("1.0.0")
    where = {"Location": "https://user:pw@upload.example.invalid/legacy/"}
    proxy.add(status(301, headers=where), method="POST", times=1)
    run = action(project, tag, pypiserver, **through(proxy, pypiserver))
    assert run.code == 1
    assert the_error(run.out, "upload-redirected")[1:] == (
        f"{proxy.url_for(pypiserver.upload_url)} answered {WHEEL}'s upload with a redirect "
        "(HTTP 301 to https://***@upload.example.invalid/legacy/); the file was not uploaded.",
        "Set repository-url to the index's upload URL itself (for PyPI "
        "https://upload.pypi.org/legacy/), with the scheme and trailing slash it expects.",
    )
    assert "pw@" not in run.out
    assert pypiserver.files() == {}
    converges(action, project, tag, pypiserver)


# --- after the upload: confirm reads the index's own copies, and says what is done -------


def test_skipped_files_larger_than_ours_without_a_listed_sha256(
    make_project, pypiserver: Index, proxy: FaultProxy, action
) -> None:
    """skip-existing, and the index's files (another build, larger than this run's) are
    listed without a sha256: confirm downloads the index's copies to hash them, with
    room for their size, and the re-run finishes instead of failing every time."""
    project = make_project("flit")
    init = project.path / "flit_sample" / "__init__.py"
    original = init.read_text()
    # Incompressible: the first build's files are larger by far more than a byte.
    padding = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(64))
    init.write_text(f"{original}# {padding}\n")
    tag = project.release("1.0.0")
    assert action(project, tag, pypiserver).code == 0
    before = pypiserver.files()
    sizes = {p.name: p.stat().st_size for p in (project.path / "dist").iterdir()}
    init.write_text(original)
    project.commit("another build")
    project.git("tag", "-f", tag)
    shutil.rmtree(project.path / "dist")
    unlisted = rewrite(lambda page: re.sub(rb"#sha256=[0-9a-f]{64}", b"", page))
    rule = proxy.add(unlisted, method="GET", path=PAGE, times=ALWAYS)
    run = action(project, tag, pypiserver, skip_existing="true", **through(proxy, pypiserver))
    assert run.code == 0, run.out
    assert rule.fired >= 3  # the plan, the re-check before the upload, confirm
    for name in before:
        assert (project.path / "dist" / name).stat().st_size + 2 <= sizes[name]
    assert run.summary.count("| skipped: the index has other content (skip-existing) |") == 2
    assert pypiserver.files() == before


AFTER_UPLOAD_HINT = (
    "The upload is done: only reading the index back to confirm it failed. Check "
    "index-url and that the index is up, then re-run to confirm (nothing is uploaded "
    "twice)."
)


def test_index_unreadable_at_confirm_does_not_say_nothing_was_uploaded(
    make_project, devpi: Index, proxy: FaultProxy, action
) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    # Pass unchanged: the plan's read and the re-check before the upload, each a 404 read
    # twice (a new project); then confirm's read gets a challenge page.
    proxy.add(delay(0), method="GET", path=PAGE, times=4)
    proxy.add(body(200, CAPTCHA), method="GET", path=PAGE, times=ALWAYS)
    run = action(project, tag, devpi, **through(proxy, devpi))
    assert run.code == 1
    assert the_error(run.out, "index-answer-invalid")[1:] == (
        f"{page_url(proxy, devpi)} did not answer as a simple API project page: the HTML "
        "does not name a project ('Links for ...') (got text/html, "
        f"{len(CAPTCHA)} bytes).",
        AFTER_UPLOAD_HINT,
    )
    assert devpi.files() == built(project)
    assert run.summary.count("| uploaded |") == 2
    again = converges(action, project, tag, devpi)
    assert "Upload 0 file(s)" in again.out
