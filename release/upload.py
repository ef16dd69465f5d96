"""What to upload (a re-run uploads only what is missing), the upload, and confirm.

The upload's form (metadata, the sha256, attestations) is made from the file's own
metadata, as twine's would be (upload_form); the POST goes through our session so that
it has a deadline that scales with the file's size and bounds the whole attempt
(sending the file, waiting for the answer, reading it), and so that a failure that may
have landed (a 5xx or a reset after the body was sent) is settled by reading the index,
not by guessing.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import requests
from packaging.version import Version

from .dists import Dist, differing_members, file_version, sha256_of
from .errors import DistributionError, PackageIndexError, ReleaseError, VersionError
from .gha import Console, printable
from .http import (
    MAX_RETRY_AFTER,
    NO_JITTER,
    USER_AGENT,
    NoAnswer,
    Page,
    RetryPolicy,
    TransportError,
    budget_of,
    not_retried,
    request_capped,
    retry_after,
    sibling,
)
from .index import after_upload, download
from .model import Action, Step
from .progress import Reporter, reporter
from .simple import REFUSED_STATUS, IndexProject
from .urls import sanitize_url
from .versions import same_version

ATTEMPTS = 4
BACKOFF = 0.5  # seconds before the 2nd attempt of a file; doubled each time, with jitter
# Files uploaded at once. An index spends most of an upload's time on its side (PyPI:
# 0.5-1.5 s a file), so a few in parallel save most of the wait; few enough that no
# index takes it for abuse.
CONCURRENCY = 4
UPLOAD_RATE = 256 * 1024  # bytes/s we still wait for: the timeouts scale with size
CONNECT_TIMEOUT = 10.0
UPLOAD_READ_TIMEOUT = 60.0  # one attempt: the index's time to answer, + size / UPLOAD_RATE
UPLOAD_DEADLINE = 120.0  # one file, every attempt and wait: + size / UPLOAD_RATE
MIN_ATTEMPT = 5.0  # an attempt with less time than this left is not started
MAX_ANSWER = 1024 * 1024  # an index's answer to an upload: a short page, never more


def copy_limit(dist: Dist) -> int:
    """The most bytes of the index's copy of ``dist`` worth downloading: that copy may
    differ from ours (a backend that does not build reproducibly, another build under
    skip-existing), so it is given room, not held to our size."""
    return max(dist.size * 4, 1 << 24)


def decide(
    dists: Sequence[Dist],
    project: IndexProject,
    version: Version,
    *,
    skip_existing: bool,
    session: requests.Session,
    console: Console,
) -> list[Step]:
    """Compare this run's files with the index's files of the same version."""
    on_index = project.files_for(version)
    steps: list[Step] = []
    differing: dict[str, list[str] | None] = {}  # file -> its members that differ
    with tempfile.TemporaryDirectory(prefix="release-index-") as tmp:
        for dist in dists:
            existing = on_index.pop(dist.filename, None)
            if existing is None:
                steps.append(Step(dist, Action.UPLOAD, dist.sha256))
                continue
            index_sha = existing.sha256
            if index_sha != dist.sha256:
                # Unlisted hash, or a backend that does not build reproducibly:
                # compare what the archives hold.
                copy = download(session, existing, Path(tmp), limit=copy_limit(dist))
                index_sha = sha256_of(copy)
                members = [] if index_sha == dist.sha256 else differing_members(copy, dist.path)
                if members != []:
                    if not skip_existing:
                        differing[dist.filename] = members
                        continue
                    console.warning(
                        f"{dist.filename} is already on the index with different "
                        "content; skipped because skip-existing is true.",
                        title="File skipped",
                    )
                    steps.append(Step(dist, Action.SKIPPED, index_sha))
                    continue
            steps.append(Step(dist, Action.PRESENT, index_sha))
    unbuilt = [] if skip_existing else sorted(on_index)
    if differing or unbuilt:
        parts = []
        if differing:
            parts.append("these files differ from this run's: " + ", ".join(differing))
        if unbuilt:
            parts.append("these files were not made by this run: " + ", ".join(unbuilt))
        said = f"Version {version} is already on the index, and " + "; ".join(parts) + "."
        if differing:
            said += (
                " What differs: "
                + "; ".join(
                    f"{name}: {_members_said(members)}" for name, members in differing.items()
                )
                + "."
            )
        raise VersionError("version-exists-different-files", said, _differing_hint(differing))
    # Wheels first: if the run stops half-way, installers still get a binary.
    return sorted(steps, key=lambda s: (s.dist.kind != "wheel", s.dist.filename))


# Members a compiler writes: they embed build paths and times, so two builds of the
# same source rarely match byte for byte.
COMPILED = (".so", ".pyd", ".dylib", ".dll")
SHOWN_MEMBERS = 5


def _members_said(members: list[str] | None) -> str:
    if members is None:
        return "the index's copy could not be compared within bounds"
    shown = ", ".join(members[:SHOWN_MEMBERS])
    more = len(members) - SHOWN_MEMBERS
    return shown + (f" and {more} more" if more > 0 else "")


def _differing_hint(differing: dict[str, list[str] | None]) -> str:
    """Blame a missing version bump only when the sources differ: compiled files alone
    (with the RECORD that lists their digests) point at a build that is not
    reproducible."""
    members = [m for ms in differing.values() for m in (ms or [""])]
    if differing and all(m.endswith(COMPILED) or m.endswith(".dist-info/RECORD") for m in members):
        return (
            "Only compiled files differ: compilers embed build paths and times, so this "
            "build is not reproducible. If the project did not change since those files "
            "were uploaded, set {skip-existing=true} to keep the index's files; if it "
            "did, tag a new version."
        )
    return (
        "The version was probably not bumped after a change: tag a new version. "
        "(Only if the build cannot be reproduced, set {skip-existing=true}.)"
    )


# Core metadata as the legacy upload API's form carries it: each field under its
# RawMetadata name, except these, which the form has always named in the singular
# (warehouse's forklift/metadata.py, parse_form_metadata).
FORM_NAMES = {
    "platforms": "platform",
    "supported_platforms": "supported_platform",
    "license_files": "license_file",
    "import_names": "import_name",
    "import_namespaces": "import_namespace",
}


def metadata_fields(raw: Mapping[str, object]) -> list[tuple[str, str]]:
    """The file's core metadata as form fields, the way the index reads them back: a
    multiple-use field repeated, ``Project-URL`` as repeated "Label, URL" values, and
    keywords as one comma-separated value (a repeated keywords field is refused:
    "'keywords' has invalid data")."""
    fields: list[tuple[str, str]] = []
    for key, value in raw.items():
        name = FORM_NAMES.get(key, key)
        if key == "keywords" and isinstance(value, list):
            fields.append((name, ", ".join(value)))
        elif isinstance(value, dict):  # project_urls
            fields.extend((name, f"{label}, {url}") for label, url in value.items())
        elif isinstance(value, list):
            fields.extend((name, str(v)) for v in value)
        elif isinstance(value, str) and value:  # an empty field is as if absent
            fields.append((name, value))
    return fields


def upload_form(dist: Dist, attestations: Sequence[Path] = ()) -> list[tuple[str, str]]:
    """The legacy upload API's form fields for ``dist``, from its own metadata.

    Built here to the index's protocol rather than taken from one twine version's
    internals (twine 7 hands out ``project_urls`` as a dict, twine 6 as a list).
    The form carries the sha256 alone, as `uv publish` sends it: the index checks the
    digests it is sent and computes its own.
    """
    import json

    fields = metadata_fields(dist.metadata)
    fields += [
        ("pyversion", dist.python_tag),
        ("filetype", "bdist_wheel" if dist.kind == "wheel" else "sdist"),
        ("sha256_digest", dist.sha256),
    ]
    if attestations:
        # PEP 740's upload form: a JSON array of the attestation objects.
        objects = [json.loads(a.read_text(encoding="utf-8")) for a in attestations]
        fields.append(("attestations", json.dumps(objects)))
    fields += [(":action", "file_upload"), ("protocol_version", "1")]
    return fields


class Uploader:
    """Uploads one file at a time to the legacy API; safe to call again for the same file.

    A POST is never blindly repeated: after any failure that may have landed (5xx, a
    reset, a timeout, 409) the index is read, and a file it lists with our sha256 counts
    as uploaded. Retries back off with jitter, honour 429's ``Retry-After`` up to
    ``MAX_RETRY_AFTER``, and stop at the file's deadline or when the run's retry budget
    is spent; the error then says which bound stopped them.

    Each upload thread of ``upload_all`` has an HTTP session of its own (requests does
    not promise that a session is safe to share between threads), made by
    ``new_session`` (by default one like ``session``, with the same retry budget: the
    run's, whose ``take`` is atomic) and closed once the thread's batch is done. Its
    POSTs and its reads of the index (``read_index(session)``) go through it. ``upload``
    called from the caller's own thread uses ``session``. ``credential`` is called from
    the upload threads: it must be safe to share (credentials.py's sources are).
    """

    def __init__(
        self,
        *,
        repository_url: str,
        credential: Callable[[float], tuple[str, str]],
        session: requests.Session,
        read_index: Callable[[requests.Session], IndexProject],
        console: Console,
        sleep: Callable[[float], None] = time.sleep,
        concurrency: int = CONCURRENCY,
        progress: Reporter | None = None,
        new_session: Callable[[], requests.Session] | None = None,
    ) -> None:
        self.url = repository_url
        self.where = sanitize_url(repository_url)
        self.credential = credential
        self.session = session
        self.new_session = new_session or (lambda: sibling(session))
        self._thread = threading.local()  # .session: an upload thread's own
        self.budget = budget_of(session)
        self.read_index = read_index
        self.console = console
        self.sleep = sleep
        self.concurrency = concurrency
        # Bars in a terminal, periodic lines elsewhere: see progress.py.
        self.progress = progress if progress is not None else reporter(console)

    def _session(self) -> requests.Session:
        """This thread's session: an upload thread's own, else the caller's."""
        own: requests.Session | None = getattr(self._thread, "session", None)
        return self.session if own is None else own

    def _post(
        self, dist: Dist, attestations: Sequence[Path], read_timeout: float, until: float
    ) -> Page:
        """One POST of the file, sent and answered by ``until`` (a monotonic instant)."""
        from requests_toolbelt import MultipartEncoder

        from .progress import Changed

        fields = upload_form(dist, attestations)
        with (
            dist.path.open("rb") as fh,
            # Each attempt is a transfer of its own: a retry counts from 0 again. Its
            # size is the checked file's: the bytes sent are held to it and its sha256.
            self.progress.sending(dist.filename, dist.size) as transfer,
        ):
            # Counts the bytes as they are sent, and hashes them: the last block goes
            # only if the whole is the checked file (dist.sha256, the form's digest).
            content = transfer.reader(fh, dist.sha256)
            encoder = MultipartEncoder(
                [*fields, ("content", (dist.filename, content, "application/octet-stream"))]
            )
            try:
                return request_capped(
                    self._session(),
                    "POST",
                    self.url,
                    data=encoder,
                    # Valid until the body has arrived, at the slowest rate still waited for.
                    auth=self.credential(CONNECT_TIMEOUT + dist.size / UPLOAD_RATE),
                    headers={"Content-Type": encoder.content_type, "User-Agent": USER_AGENT},
                    allow_redirects=False,
                    timeout=(CONNECT_TIMEOUT, read_timeout),
                    max_bytes=MAX_ANSWER,
                    until=until,
                )
            except Changed as exc:
                # Raised from the body's last read: the connection is closed with the
                # body cut short, so the index stores nothing of it; never retried.
                raise DistributionError(
                    "dist-changed-while-uploading",
                    f"{dist.filename} changed after it was checked: {exc}, not "
                    f"{dist.sha256}. Its upload was stopped before the last byte.",
                    "Something on this machine rewrote the file between the checks and "
                    "the upload (a process the build left running?). Nothing of it was "
                    "stored; find what changed it, then re-run.",
                ) from None

    def _landed(self, dist: Dist, seen: _Seen) -> bool:
        """After a failure: does the index now list the file, with our bytes?"""
        try:
            seen.listed = self.read_index(self._session()).sha256s()
            seen.unread = ""
        except PackageIndexError as exc:
            seen.listed, seen.unread = {}, exc.code
            return False
        if dist.filename not in seen.listed:
            return False
        if seen.listed[dist.filename] not in (None, dist.sha256):
            raise PackageIndexError(
                "upload-conflict",
                f"{self.where} now has a file named {dist.filename} with other content "
                "than this run's: something else uploaded it while this run was working.",
                "Nothing of it can be replaced on the index. Find what else publishes "
                "this project, then tag a new version.",
            )
        return True

    def upload_all(
        self,
        files: Sequence[tuple[Dist, Sequence[Path]]],
        uploaded: Callable[[Dist], None],
    ) -> None:
        """Upload every file (with its attestations): one wheel alone first, then the
        other wheels side by side, at most ``concurrency`` at once, then the sdist, only
        once every wheel is there (an installer finding an sdist and no wheel would build
        from source).

        After a failure no new upload starts; those under way finish, so each file's
        state is known: ``uploaded`` was called for it, or the error names it. That holds
        whatever the failure: a ReleaseError (an index's refusal, a token that could not
        be minted again) is that file's failure; anything else ends the run as itself,
        once the uploads under way are collected.
        """
        failures: list[tuple[Dist, ReleaseError]] = []
        unexpected: BaseException | None = None
        wheels = [f for f in files if f[0].kind == "wheel"]
        sdists = [f for f in files if f[0].kind != "wheel"]
        # One file goes first, alone. rules.py refuses beforehand what the index's
        # published rules would, but the index may still refuse for reasons no local check
        # sees (its malware scan, the project's total size quota, an upload permission),
        # and such a reason mostly holds for every file: refused then, nothing of the
        # release is published. Once the index took one, the rest go side by side. That
        # first file is a wheel, so that the sdist still comes last.
        batches = (wheels[:1], wheels[1:], sdists) if wheels else (sdists[:1], sdists[1:])
        for batch in batches:
            if failures or unexpected is not None or not batch:
                continue
            workers = min(self.concurrency, len(batch))
            sessions = _Sessions(self.new_session, self._thread)
            # The bars are drawn while the batch runs, and go once its threads are done;
            # the threads' sessions are closed once the threads are done.
            with (
                sessions,
                self.progress.showing(),
                ThreadPoolExecutor(
                    workers, thread_name_prefix="upload", initializer=sessions.open
                ) as pool,
            ):
                running = {pool.submit(self.upload, dist, att): dist for dist, att in batch}
                try:
                    for future in as_completed(running):
                        if future.cancelled():
                            continue  # called off after a failure: left for the re-run
                        failed = future.exception()
                        if failed is None:
                            uploaded(running[future])
                            continue
                        for other in running:
                            other.cancel()  # only those not started yet
                        if isinstance(failed, ReleaseError):
                            failures.append((running[future], failed))
                        elif unexpected is None:
                            unexpected = failed
                except BaseException:
                    for other in running:
                        other.cancel()
                    raise
        if unexpected is not None:
            raise unexpected
        if failures:
            order = {dist.filename: n for n, (dist, _) in enumerate(files)}
            raise _failed_among(sorted(failures, key=lambda f: order[f[0].filename]))

    def upload(self, dist: Dist, attestations: Sequence[Path] = ()) -> None:
        """Upload ``dist``; raises PackageIndexError when the index does not end up with it."""
        scaled = dist.size / UPLOAD_RATE
        end = time.monotonic() + UPLOAD_DEADLINE + scaled
        policy = self.policy(end)
        seen = _Seen()
        said = stopped = ""
        tries = 0
        while True:
            tries += 1
            after: float | None = None
            read_timeout = min(UPLOAD_READ_TIMEOUT + scaled, end - time.monotonic())
            try:
                response = self._post(dist, attestations, read_timeout, end)
            except TransportError as exc:  # no answer, not sent in time, or unreadable
                said = _no_answer(exc, read_timeout)
            else:
                status = response.status
                if 200 <= status < 300:
                    return
                if 300 <= status < 400:
                    raise self._redirected(dist, response)
                said = f"HTTP {status} {printable(response.reason or '')}".strip()
                if status in (401, 403):
                    raise self._refused_credentials(dist, said)
                if status == 429:
                    after = retry_after(response)
                elif status < 500 and status not in (408, 409):
                    # A refusal is a refusal, whatever its words ("License-File LICENSE
                    # does not exist in ..."): only the index listing the file with our
                    # sha256 makes it uploaded, as after PyPI's "File already exists".
                    if _exists(response) and self._landed(dist, seen):
                        return
                    raise PackageIndexError(
                        "upload-refused",
                        f"{self.where} refused {dist.filename} ({said}).",
                        "The reason is the index's own; fix what it names and re-run (files "
                        "already uploaded are kept).",
                    )
            # The body may have landed although the answer was a failure.
            if self._landed(dist, seen):
                self.console.line(
                    f"{dist.filename}: the index has it although the upload answered "
                    f"{said}; counted as uploaded"
                )
                return
            decided = policy.decide(tries, after)
            if not decided.retry:
                stopped = decided.why
                break
            self.console.line(f"{dist.filename}: upload failed ({said}); retrying")
            policy.sleep(decided.seconds)
        failed = "once" if tries == 1 else f"{tries} times"
        raise PackageIndexError(
            "upload-failed",
            f"Uploading {dist.filename} to {self.where} failed {failed} (last: {said}), and "
            + (
                f"the index could not be read to check whether it has it ({seen.unread})"
                if seen.unread
                else "the index does not list it"
            )
            + (f"; not retried further: {stopped}" if stopped else "")
            + ".",
            self._where_things_are(dist, seen)
            + " Check {repository-url} and that the index is up, then re-run: files "
            "already uploaded are kept, and the re-run uploads the rest.",
        )

    def policy(self, end: float) -> RetryPolicy:
        """One file's: ATTEMPTS, BACKOFF doubling with jitter, 429's Retry-After honoured
        up to MAX_RETRY_AFTER, each attempt started with MIN_ATTEMPT left before ``end``
        (the file's deadline), every wait out of the run's budget."""
        return RetryPolicy(
            attempts=ATTEMPTS,
            backoff=BACKOFF,
            max_retry_after=MAX_RETRY_AFTER,
            budget=self.budget,
            deadline=end,
            margin=MIN_ATTEMPT,
            ends="no time is left for another attempt within this file's deadline",
            asker="the index",
            sleep=self.sleep,
        )

    def _where_things_are(self, dist: Dist, seen: _Seen) -> str:
        """Which of this version's files the index lists, as last read."""
        version = dist.version
        if seen.unread:
            return f"Whether the index has {dist.filename} is unknown: re-running settles it."
        listed = sorted(
            name
            for name in seen.listed
            if (v := file_version(name)) is not None and same_version(v, version)
        )
        if not listed:
            return f"The index lists no file of version {version}."
        return (
            f"The index lists these files of version {version}: {', '.join(listed)}; "
            f"not {dist.filename}."
        )

    def _redirected(self, dist: Dist, response: Page) -> PackageIndexError:
        # requests' Response.ok counts a redirect as success; an upload it is not (and
        # following it would resend the credentials elsewhere).
        return PackageIndexError(
            "upload-redirected",
            f"{self.where} answered {dist.filename}'s upload with a redirect (HTTP "
            f"{response.status} to {response.location}); the file was not uploaded.",
            "Set {repository-url} to the index's upload URL itself (for PyPI "
            "https://upload.pypi.org/legacy/), with the scheme and trailing slash it expects.",
        )

    def _refused_credentials(self, dist: Dist, said: str) -> PackageIndexError:
        return PackageIndexError(
            "upload-credentials-refused",
            f"{self.where} refused the credentials ({said}) when uploading {dist.filename}.",
            "Check {password}: the token may be wrong or expired, scoped to another "
            "project, or used with a user other than '__token__' (PyPI API tokens need "
            "user __token__); with trusted publishing, check the publisher on the index.",
        )


class _Sessions:
    """The HTTP sessions of one batch's upload threads: ``open`` gives the calling
    thread one of its own (the pool's initializer: once per thread); leaving the
    ``with`` closes them all, once the pool has shut down."""

    def __init__(self, make: Callable[[], requests.Session], local: threading.local) -> None:
        self._make = make
        self._local = local
        self._made: list[requests.Session] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        session = self._make()
        with self._lock:
            self._made.append(session)
        self._local.session = session

    def __enter__(self) -> _Sessions:
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            made, self._made = self._made, []
        for session in made:
            session.close()


class _Seen:
    """What one file's upload learnt of the index, for its error."""

    def __init__(self) -> None:
        self.listed: dict[str, str | None] = {}  # the index's last listing, name -> sha256
        self.unread = ""  # the error code when the index could not be read to check


def _failed_among(failures: list[tuple[Dist, ReleaseError]]) -> ReleaseError:
    """The first file's failure (in upload order), naming the others that failed beside it."""
    first = failures[0][1]
    if len(failures) == 1:
        return first
    others = "; ".join(f"{dist.filename} ({exc.code})" for dist, exc in failures[1:])
    return type(first)(
        first.code,
        f"{first.message} Uploads of other files failed beside it: {others}.",
        first.hint,
    )


def _exists(response: Page) -> bool:
    # PyPI answers 400 "File already exists" for a name it has: settled by reading the
    # index, like a 409.
    return response.status == 400 and "exist" in response.reason.lower()


def confirm(
    steps: Sequence[Step],
    read: Callable[[], IndexProject],
    session: requests.Session,
    *,
    attempts: int = 5,
    delay: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """The index now serves every file with the expected sha256, and still takes the
    project (PEP 792 status).

    PyPI's simple pages sit behind a CDN; a just-uploaded file may take a moment to
    appear, so a missing file is looked for again with backoff (charged to the run's
    retry budget). The upload is done by now: an index that cannot be read says so with
    a hint that fits (re-run to confirm), not one that says nothing was uploaded.
    """
    # A poll for a cache to catch up, not a retry after a failure: no jitter.
    policy = RetryPolicy(
        attempts=attempts,
        backoff=delay,
        jitter=NO_JITTER,
        budget=budget_of(session),
        sleep=sleep,
    )
    missing: list[str] = []
    listed: dict[str, Any] = {}
    stopped = ""
    tried = 0
    while True:
        tried += 1
        with after_upload():
            project = read()
        _check_still_active(project, steps)
        listed = {f.filename: f for f in project.files}
        missing = [s.dist.filename for s in steps if s.dist.filename not in listed]
        if not missing:
            break
        decided = policy.pause(tried)
        if not decided.retry:
            stopped = not_retried(decided.why)
            break
    if missing:
        there = [s.dist.filename for s in steps if s.dist.filename in listed]
        raise PackageIndexError(
            "confirm-missing",
            "The upload finished, but the index does not list: "
            + ", ".join(missing)
            + (f" (it lists: {', '.join(there)})" if there else "")
            + f"{stopped}.",
            "The index may be slow to update; re-run later to confirm (nothing is uploaded twice).",
        )
    wrong = []
    with tempfile.TemporaryDirectory(prefix="release-confirm-") as tmp:
        for step in steps:
            entry = listed[step.dist.filename]
            # Without a listed sha256, the copy is hashed: the index's own copy for a
            # file skipped or matched by contents, which may differ in size from ours.
            served = entry.sha256 or sha256_of(
                download(session, entry, Path(tmp), limit=copy_limit(step.dist))
            )
            if served != step.expected_sha256:
                wrong.append(step.dist.filename)
    if wrong:
        raise PackageIndexError(
            "confirm-sha256-mismatch",
            "The index serves these files with another sha256 than uploaded: "
            + ", ".join(wrong)
            + ".",
            "Something between this runner and the index altered the files; "
            "investigate before using this release.",
        )


def _check_still_active(project: IndexProject, steps: Sequence[Step]) -> None:
    """PEP 792 again at confirm: a project archived or quarantined meanwhile does not
    serve this release as it should, although the files are there."""
    why = REFUSED_STATUS.get(project.status)
    if why is None:
        return
    names = ", ".join(s.dist.filename for s in steps)
    raise PackageIndexError(
        f"confirm-project-{project.status}",
        f"The index now marks '{project.name}' as {project.status} ({why}), after this "
        f"run's upload; it has: {names}.",
        "Installers may not get this release. Ask the index why the project's status "
        "changed; once it is active again, re-run to confirm (nothing is uploaded twice).",
    )


def _no_answer(exc: TransportError, read_timeout: float) -> str:
    """What an upload attempt that got no readable answer met, for its messages."""
    if isinstance(exc, NoAnswer):
        if exc.timeout == "connect":
            return f"{exc}, no connection within {CONNECT_TIMEOUT:.0f} s"
        if exc.timeout == "read":
            return f"{exc}, no answer within {read_timeout:.0f} s"
        return f"{exc}, no answer"
    if exc.status is not None:
        return f"HTTP {exc.status}, but its answer could not be read: {exc}"
    return str(exc)  # the request body not sent in time
