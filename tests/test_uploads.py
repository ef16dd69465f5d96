"""Uploads: one wheel alone first (a refusal no local check could foresee then leaves
nothing published), then the other wheels side by side, a few at a time, then the sdist;
one failing file leaves every other file's state known, and the deadlines still hold.

Real pypiserver behind the fault proxy; prebuilt files (build: false), so no build runs
after the first dry run that makes them.
"""

from __future__ import annotations

import io
import re
import shutil
import threading
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pytest
import requests
from conftest import Index
from support.faults import ALWAYS, Exchange, Fault, FaultProxy, gather, hang, status
from support.faults import _Handler as Handler
from support.output import the_error
from support.projects import Project

from release import upload
from release.dists import Dist, sha256_of
from release.errors import CredentialError, PackageIndexError
from release.gha import Console
from release.http import Page, Session, make_session
from release.simple import IndexFile, IndexProject

PLATFORMS = ("manylinux_2_17_x86_64", "manylinux_2_17_aarch64", "musllinux_1_2_x86_64", "win_amd64")
SDIST = "flit_sample-1.0.0.tar.gz"


def prebuilt(action, project: Project, index: Index) -> tuple[str, list[str]]:
    """The tag, and the names of five wheels and an sdist in dist/: the project's own
    wheel and four more, each with its own bytes, as a build matrix would leave them."""
    tag = project.release("1.0.0")
    assert action(project, tag, index, dry_run="true").code == 0
    dist = project.path / "dist"
    (universal,) = dist.glob("*.whl")
    wheels = [universal.name]
    for platform in PLATFORMS:
        name = universal.name.replace("-any.whl", f"-{platform}.whl")
        shutil.copy(universal, dist / name)
        with zipfile.ZipFile(dist / name, "a") as zf:
            zf.comment = platform.encode()  # other bytes, same contents
        wheels.append(name)
    return tag, sorted(wheels)


def via(proxy: FaultProxy, index: Index) -> dict[str, str]:
    return {"repository_url": proxy.url_for(index.upload_url), "build": "false"}


def posts(log: list[Exchange]) -> list[Exchange]:
    return [e for e in log if e.method == "POST"]


@dataclass(frozen=True)
class _Arrival(Fault):
    """Note which uploads had been answered when this one arrived, then forward it as
    usual (or apply ``then``)."""

    name: ClassVar[str] = "arrival"
    seen: list[list[Exchange]] = field(default_factory=list)
    then: Fault | None = None

    def apply(self, h: Handler) -> None:
        self.seen.append(posts(h.proxy.log))
        if self.then is not None:
            self.then.apply(h)
        elif (resp := h.forward()) is not None:
            h.relay(resp)


def test_one_wheel_first_then_the_wheels_side_by_side_then_the_sdist(
    make_project, pypiserver: Index, proxy: FaultProxy, action
) -> None:
    project = make_project("flit")
    tag, wheels = prebuilt(action, project, pypiserver)
    first, rest, last = (
        _Arrival(),
        _Arrival(then=gather(upload.CONCURRENCY, timeout=20)),
        _Arrival(),
    )
    proxy.add(first, method="POST", body=wheels[0], times=1)
    # The four other wheels are held until all four are in flight together: a client
    # that uploads them one at a time gets 504 for the first of them.
    others = proxy.add(rest, method="POST", body='.whl"', times=upload.CONCURRENCY)
    proxy.add(last, method="POST", body='.tar.gz"')
    run = action(project, tag, pypiserver, **via(proxy, pypiserver))
    assert run.code == 0, run.out
    assert others.fired == upload.CONCURRENCY
    assert [e.status for e in posts(proxy.log)] == [200] * 6
    # The first wheel went alone: nothing before it, and each of the others arrived
    # once it was answered (and before any of them was: they were held together).
    assert first.seen == [[]]
    assert [[e.status for e in seen] for seen in rest.seen] == [[200]] * upload.CONCURRENCY
    # The sdist went only once every wheel was on the index.
    (seen,) = last.seen
    assert len(seen) == len(wheels)
    assert all(e.status == 200 for e in seen)
    assert sorted(pypiserver.files()) == sorted([*wheels, SDIST])
    assert run.summary.count("| uploaded |") == 6


def test_a_refused_first_wheel_leaves_nothing_published(
    make_project, pypiserver: Index, proxy: FaultProxy, action
) -> None:
    """A refusal no local check could foresee (here injected for the first wheel) stops
    the release before any other file goes: a re-run after the fix starts clean."""
    project = make_project("flit")
    tag, wheels = prebuilt(action, project, pypiserver)
    why = "Project size too large (injected)"
    proxy.add(status(400, why), method="POST", body=wheels[0], times=ALWAYS)
    run = action(project, tag, pypiserver, **via(proxy, pypiserver))
    assert run.code == 1
    assert the_error(run.out, "upload-refused")[1] == (
        f"{proxy.url_for(pypiserver.upload_url)} refused {wheels[0]} (HTTP 400 {why})."
    )
    assert [e.status for e in posts(proxy.log)] == [400]
    assert pypiserver.files() == {}
    assert "| uploaded |" not in run.summary


def test_one_failing_wheel_leaves_the_others_state_known(
    make_project, pypiserver: Index, proxy: FaultProxy, action
) -> None:
    project = make_project("flit")
    tag, wheels = prebuilt(action, project, pypiserver)
    bad = wheels[2]
    proxy.add(status(400, "Invalid platform (injected)"), method="POST", body=bad, times=ALWAYS)
    run = action(project, tag, pypiserver, **via(proxy, pypiserver))
    assert run.code == 1
    assert the_error(run.out, "upload-refused")[1:] == (
        f"{proxy.url_for(pypiserver.upload_url)} refused {bad} (HTTP 400 Invalid platform "
        "(injected)).",
        "The reason is the index's own; fix what it names and re-run (files already "
        "uploaded are kept).",
    )
    files = pypiserver.files()
    assert bad not in files
    assert SDIST not in files  # no sdist while a wheel is missing
    # The wheels under way when it failed finished; those not started were left for the
    # re-run. Whichever they were, the log and the summary say so file by file.
    uploaded = sorted(files)
    assert wheels[0] in uploaded, "the first wheel went alone, before the others"
    assert set(uploaded) <= set(wheels)
    for name in wheels:
        said = f"{name}: uploaded" in run.out
        assert said == (name in files), name
    assert run.summary.count("| uploaded |") == len(uploaded)
    for name, sha in files.items():
        assert sha == sha256_of(project.path / "dist" / name)

    rerun = action(project, tag, pypiserver, build="false")
    assert rerun.code == 0, rerun.out
    assert sorted(pypiserver.files()) == sorted([*wheels, SDIST])
    for name in uploaded:
        assert f"{name}: already on the index, not uploaded" in rerun.out


def test_two_failing_wheels_are_named_in_upload_order(
    make_project, pypiserver: Index, proxy: FaultProxy, action
) -> None:
    project = make_project("flit")
    tag, wheels = prebuilt(action, project, pypiserver)
    first, second = wheels[1], wheels[3]
    # Held together, so both are under way when either fails, whatever the scheduling.
    both = gather(2, timeout=20, then=status(400, "Refused (injected)"))
    for name in (first, second):
        proxy.add(both, method="POST", body=name, times=1)
    run = action(project, tag, pypiserver, **via(proxy, pypiserver))
    assert run.code == 1
    where = proxy.url_for(pypiserver.upload_url)
    assert the_error(run.out, "upload-refused")[1] == (
        f"{where} refused {first} (HTTP 400 Refused (injected)). Uploads of other files "
        f"failed beside it: {second} (upload-refused)."
    )
    assert first not in pypiserver.files()
    assert second not in pypiserver.files()


def test_a_hung_upload_still_meets_its_deadline_while_the_others_go_on(
    make_project, pypiserver: Index, proxy: FaultProxy, action, monkeypatch
) -> None:
    monkeypatch.setattr(upload, "UPLOAD_READ_TIMEOUT", 2.0)
    monkeypatch.setattr(upload, "UPLOAD_DEADLINE", 6.0)
    monkeypatch.setattr(upload, "MIN_ATTEMPT", 1.0)
    project = make_project("flit")
    tag, wheels = prebuilt(action, project, pypiserver)
    stuck = wheels[1]  # one of those side by side, after the first
    rule = proxy.add(hang(300), method="POST", body=stuck, times=ALWAYS)
    start = time.monotonic()
    run = action(project, tag, pypiserver, **via(proxy, pypiserver))
    took = time.monotonic() - start
    assert run.code == 1
    message = the_error(run.out, "upload-failed")[1]
    assert message == (
        f"Uploading {stuck} to {proxy.url_for(pypiserver.upload_url)} failed 2 times (last: "
        "ReadTimeout, no answer within 2 s), and the index does not list it; not retried "
        "further: no time is left for another attempt within this file's deadline."
    )
    assert rule.fired == 2
    assert took < 60  # the hang's 300 s were not waited for
    # Every other wheel went while the stuck one waited; the sdist did not.
    assert sorted(pypiserver.files()) == sorted(w for w in wheels if w != stuck)


def test_form_is_made_from_the_one_read(tmp_path: Path) -> None:
    """The upload form's digests are those read_dist computed: the file is not hashed
    again (a 300 MiB wheel is read once for its digests, once to send it)."""
    from release.dists import read_dist

    path = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(
            "demo-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n"
        )
    dist = read_dist(path)
    path.write_bytes(b"changed after reading")  # a second read would see this
    form = dict(upload.upload_form(dist))
    assert form["sha256_digest"] == dist.sha256
    assert form["name"] == "demo"
    assert form["version"] == "1.0"


def test_form_carries_metadata_the_way_the_index_reads_it(tmp_path: Path) -> None:
    """Project-URL as repeated "Label, URL" fields, keywords as one comma-separated
    field, every multiple-use field repeated under the form's own (singular) names:
    what warehouse's parse_form_metadata reads back, whichever twine is installed."""
    from release.dists import read_dist

    path = tmp_path / "demo-1.0-py3-none-any.whl"
    meta = (
        "Metadata-Version: 2.4\nName: demo\nVersion: 1.0\nKeywords: release,pypi, tags\n"
        "Project-URL: Homepage, https://example.invalid/demo\n"
        "Project-URL: Issue tracker, https://example.invalid/demo/issues\n"
        "Classifier: Programming Language :: Python :: 3\n"
        "Classifier: Operating System :: OS Independent\n"
        "Requires-Dist: requests>=2\nProvides-Extra: cli\nPlatform: any\n"
        "License-Expression: MIT\nLicense-File: LICENSE\nLicense-File: NOTICE\n"
        "Dynamic: Classifier\n\nThe long description.\n"
    )
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("demo-1.0.dist-info/METADATA", meta)
    form = upload.upload_form(read_dist(path))
    assert sorted(form) == sorted(
        [
            ("metadata_version", "2.4"),
            ("name", "demo"),
            ("version", "1.0"),
            ("keywords", "release, pypi, tags"),
            ("project_urls", "Homepage, https://example.invalid/demo"),
            ("project_urls", "Issue tracker, https://example.invalid/demo/issues"),
            ("classifiers", "Programming Language :: Python :: 3"),
            ("classifiers", "Operating System :: OS Independent"),
            ("requires_dist", "requests>=2"),
            ("provides_extra", "cli"),
            ("platform", "any"),
            ("license_expression", "MIT"),
            ("license_file", "LICENSE"),
            ("license_file", "NOTICE"),
            ("dynamic", "Classifier"),
            ("description", "The long description.\n"),
            ("pyversion", "py3"),
            ("filetype", "bdist_wheel"),
            ("sha256_digest", sha256_of(path)),
            (":action", "file_upload"),
            ("protocol_version", "1"),
        ]
    )


def test_a_refusal_that_says_exist_is_still_a_refusal(
    make_project, pypiserver: Index, proxy: FaultProxy, action
) -> None:
    """warehouse's "License-File LICENSE does not exist in distribution file ..." is no
    duplicate: the index is read once, does not list the file, and the refusal stands
    (no retries, no "is the index up?")."""
    project = make_project("flit")
    tag, _ = prebuilt(action, project, pypiserver)
    why = f"License-File LICENSE does not exist in distribution file {SDIST} at LICENSE"
    proxy.add(status(400, why), method="POST", body='.tar.gz"', times=ALWAYS)
    run = action(project, tag, pypiserver, **via(proxy, pypiserver))
    assert run.code == 1
    assert the_error(run.out, "upload-refused")[1] == (
        f"{proxy.url_for(pypiserver.upload_url)} refused {SDIST} (HTTP 400 {why})."
    )
    # Five wheels, then the sdist once.
    assert [e.status for e in posts(proxy.log)] == [200] * 5 + [400]
    assert SDIST not in pypiserver.files()


class Scripted(upload.Uploader):
    """An uploader whose uploads fail for the names given, without a server."""

    def __init__(self, failing: set[str], concurrency: int) -> None:
        super().__init__(
            repository_url="http://127.0.0.1:9/legacy/",
            credential=lambda _valid_for: ("", ""),
            session=requests.Session(),
            read_index=lambda _session: IndexProject("demo"),
            console=Console(actions=False, stream=io.StringIO()),
            concurrency=concurrency,
        )
        self.failing = failing
        self.started: list[str] = []

    def upload(self, dist: Dist, attestations: Sequence[Path] = ()) -> None:
        self.started.append(dist.filename)
        if dist.filename in self.failing:
            raise PackageIndexError("upload-refused", f"{dist.filename} refused", "")


def test_files_not_started_after_a_failure_are_left_for_the_rerun() -> None:
    """One at a time, the first wheel fails: the others, queued, are called off (not
    reported as an error of their own), and the sdist never starts."""
    names = [f"demo-1.0-py3-none-{p}.whl" for p in ("a", "b", "c")] + ["demo-1.0.tar.gz"]
    files = [
        (Dist(Path(n), "wheel" if n.endswith(".whl") else "sdist", "demo", "1.0", "0" * 64, 1), [])
        for n in names
    ]
    uploader = Scripted({names[0]}, concurrency=1)
    done: list[str] = []
    with pytest.raises(PackageIndexError) as info:
        uploader.upload_all(files, lambda d: done.append(d.filename))
    assert info.value.message == f"{names[0]} refused"
    assert uploader.started == [names[0]]
    assert done == []


class Raising(upload.Uploader):
    """One file's upload raises ``error`` once ``together`` uploads are under way; the
    others finish only after it has failed. The file that goes alone first (``alone``)
    just succeeds."""

    def __init__(self, alone: str, failing: str, error: BaseException, together: int) -> None:
        super().__init__(
            repository_url="http://127.0.0.1:9/legacy/",
            credential=lambda _valid_for: ("", ""),
            session=requests.Session(),
            read_index=lambda _session: IndexProject("demo"),
            console=Console(actions=False, stream=io.StringIO()),
            concurrency=4,
        )
        self.alone = alone
        self.failing = failing
        self.error = error
        self.failed = threading.Event()
        self.together = threading.Barrier(together)
        self.started: list[str] = []

    def upload(self, dist: Dist, attestations: Sequence[Path] = ()) -> None:
        self.started.append(dist.filename)
        if dist.filename == self.alone:
            return
        self.together.wait(20)
        if dist.filename == self.failing:
            self.failed.set()
            raise self.error
        assert self.failed.wait(20)


@pytest.mark.parametrize(
    "error",
    [
        CredentialError("trusted-publishing-mint-failed", "no token minted again", "later"),
        RuntimeError("a bug"),
    ],
    ids=["release-error", "unexpected"],
)
def test_a_failure_of_any_kind_leaves_the_others_collected(error: BaseException) -> None:
    """A token that cannot be minted again for one file (or a bug) while the others are
    under way: those finish and are reported uploaded; the failure is raised as itself."""
    names = [f"demo-1.0-py3-none-{p}.whl" for p in ("a", "b", "c", "d")] + ["demo-1.0.tar.gz"]
    files = [
        (Dist(Path(n), "wheel" if n.endswith(".whl") else "sdist", "demo", "1.0", "0" * 64, 1), [])
        for n in names
    ]
    uploader = Raising(names[0], names[2], error, together=3)
    done: list[str] = []
    with pytest.raises(type(error)) as info:
        uploader.upload_all(files, lambda d: done.append(d.filename))
    assert info.value is error
    assert done[0] == names[0]  # alone, first
    assert sorted(done) == [names[0], names[1], names[3]]
    assert names[4] not in uploader.started  # no sdist while a wheel is missing


def test_failures_of_several_kinds_are_named_together() -> None:
    """A ReleaseError of another kind is reported as an upload failure is: the first
    file's, naming the others."""
    names = [f"demo-1.0-py3-none-{p}.whl" for p in ("a", "b", "c")]
    files = [(Dist(Path(n), "wheel", "demo", "1.0", "0" * 64, 1), []) for n in names]

    together = threading.Barrier(2)  # both under way before either fails

    class Both(Scripted):
        def upload(self, dist: Dist, attestations: Sequence[Path] = ()) -> None:
            if dist.filename == names[0]:
                return  # the first, alone: taken
            together.wait(20)
            if dist.filename == names[1]:
                raise CredentialError("trusted-publishing-mint-failed", "no token", "later")
            raise PackageIndexError("upload-refused", f"{dist.filename} refused", "fix it")

    with pytest.raises(CredentialError) as info:
        Both(set(), concurrency=2).upload_all(files, lambda d: None)
    assert info.value.code == "trusted-publishing-mint-failed"
    assert info.value.message == (
        f"no token Uploads of other files failed beside it: {names[2]} (upload-refused)."
    )
    assert info.value.hint == "later"


class Tracked(Session):
    """A session that says whether it was closed."""

    closed = False

    def close(self) -> None:
        self.closed = True
        super().close()


class Sessions(upload.Uploader):
    """No server: each POST records the session it went through, from which thread; the
    first answer for ``flaky`` is a 503, so the index is read to settle it. The side-by-
    side batch waits until ``together`` uploads are under way."""

    def __init__(self, together: int, flaky: str) -> None:
        self.base = make_session(budget=30.0)
        self.made: list[Tracked] = []
        self.posts: list[tuple[threading.Thread, Session]] = []
        self.reads: list[tuple[threading.Thread, Session]] = []
        self.lock = threading.Lock()
        self.together = threading.Barrier(together)
        self.flaky = flaky

        def new_session() -> Tracked:
            made = Tracked(budget=self.base.budget)
            with self.lock:
                self.made.append(made)
            return made

        super().__init__(
            repository_url="http://127.0.0.1:9/legacy/",
            credential=lambda _valid_for: ("", ""),
            session=self.base,
            read_index=self.read,
            console=Console(actions=False, stream=io.StringIO()),
            sleep=lambda _seconds: None,
            new_session=new_session,
        )

    def read(self, session: requests.Session) -> IndexProject:
        assert isinstance(session, Session)
        with self.lock:
            self.reads.append((threading.current_thread(), session))
        listed = IndexFile(self.flaky, "http://127.0.0.1:9/f", "0" * 64, False, "1.0")
        return IndexProject("demo", files=(listed,))

    def _post(
        self, dist: Dist, attestations: Sequence[Path], read_timeout: float, until: float
    ) -> Page:
        session = self._session()
        assert isinstance(session, Tracked)
        assert not session.closed
        with self.lock:
            self.posts.append((threading.current_thread(), session))
        if not dist.filename.endswith("-a.whl") and dist.kind == "wheel":
            self.together.wait(20)  # the side-by-side batch: all under way at once
        status = 503 if dist.filename == self.flaky else 200
        return Page("http://127.0.0.1:9/legacy/", status, "", {}, b"")


def test_each_upload_thread_has_a_session_of_its_own() -> None:
    """Four wheels side by side: four threads, each with its own session (none the
    caller's), sharing the run's retry budget, each session closed once its batch is
    done; the index is read through the thread's session too."""
    names = [f"demo-1.0-py3-none-{p}.whl" for p in "abcde"] + ["demo-1.0.tar.gz"]
    files = [
        (Dist(Path(n), "wheel" if n.endswith(".whl") else "sdist", "demo", "1.0", "0" * 64, 1), [])
        for n in names
    ]
    uploader = Sessions(together=4, flaky=names[2])
    done: list[str] = []
    uploader.upload_all(files, lambda d: done.append(d.filename))
    assert sorted(done) == sorted(names)
    # One wheel alone, four side by side, the sdist alone: six threads, six sessions.
    assert len(uploader.made) == 6
    assert len({id(s) for s in uploader.made}) == 6
    assert all(s.closed for s in uploader.made)
    assert all(s.budget is uploader.base.budget for s in uploader.made)
    by_thread: dict[threading.Thread, set[int]] = {}
    for thread, session in uploader.posts + uploader.reads:
        by_thread.setdefault(thread, set()).add(id(session))
    assert len(by_thread) == 6
    assert all(len(ids) == 1 for ids in by_thread.values())  # one session per thread
    assert threading.current_thread() not in by_thread
    used = {id(session) for _, session in uploader.posts}
    assert len(used) == 6
    assert id(uploader.base) not in used
    (reader,) = uploader.reads  # the 503's upload settled by reading the index
    assert reader in uploader.posts


def test_the_default_session_factory_shares_the_runs_budget() -> None:
    base = make_session(retries=1, budget=30.0)
    uploader = upload.Uploader(
        repository_url="http://127.0.0.1:9/legacy/",
        credential=lambda _valid_for: ("", ""),
        session=base,
        read_index=lambda _session: IndexProject("demo"),
        console=Console(actions=False, stream=io.StringIO()),
    )
    made = uploader.new_session()
    assert isinstance(made, Session)
    assert made is not base
    assert made.budget is base.budget
    assert made.retries == 1


@dataclass(frozen=True)
class _AnswerDripped(Fault):
    """Forward the upload (it lands), then answer 200 with a body dripped a byte every
    0.2 s under a Content-Length it never reaches, for at most 30 s."""

    name: ClassVar[str] = "answer_dripped"

    def apply(self, h: Handler) -> None:
        resp = h.forward()
        if resp is None:
            return
        for _ in h.upstream_chunks(resp):
            pass
        h.record(200, resp.status)
        h.send_head(200, b"OK", [("Content-Type", "text/plain"), ("Content-Length", "100000")])
        end = time.monotonic() + 30
        while time.monotonic() < end and not h.wait(0.2):
            h.wfile.write(b".")


def test_an_answer_dripped_a_byte_at_a_time_ends_at_the_files_deadline(
    make_project, pypiserver: Index, proxy: FaultProxy, action, monkeypatch
) -> None:
    # The real deadline is 120 s plus size / 256 KiB/s, and bounds the whole attempt:
    # sending, waiting for the answer, and reading it.
    monkeypatch.setattr(upload, "UPLOAD_DEADLINE", 4.0)
    project = make_project("flit")
    tag = project.release("1.0.0")
    assert action(project, tag, pypiserver, dry_run="true").code == 0  # builds dist/
    rule = proxy.add(_AnswerDripped(), method="POST", body='.whl"', times=1)
    start = time.monotonic()
    run = action(project, tag, pypiserver, **via(proxy, pypiserver))
    took = time.monotonic() - start
    assert run.code == 0, run.out
    assert rule.fired == 1
    wheel = next(n for n in pypiserver.files() if n.endswith(".whl"))
    # Settled by reading the index: the file landed.
    assert re.search(
        rf"{re.escape(wheel)}: the index has it although the upload answered HTTP 200, but "
        r"its answer could not be read: it did not arrive within [45] s; counted as uploaded",
        run.out,
    ), run.out
    assert took < 25  # the drip's 30 s were not waited for
    assert run.summary.count("| uploaded |") == 2
