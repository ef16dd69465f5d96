"""What to upload (a re-run uploads only what is missing), the upload, and confirm.

twine's ``PackageFile`` makes the upload's form (metadata, digests, attestations); the
POST goes through our session so that it has a deadline that scales with the file's
size, and so that a failure that may have landed (a 5xx or a reset after the body was
sent) is settled by reading the index, not by guessing.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import requests
from packaging.version import Version

from .dists import Dist, same_contents, sha256_of
from .errors import PackageIndexError, VersionError
from .gha import Console
from .http import MAX_RETRY_AFTER, USER_AGENT
from .index import IndexProject, download
from .model import Action, Step
from .settings import sanitize_url

ATTEMPTS = 4
BACKOFF = 0.5  # seconds before the 2nd attempt; doubled each time, with jitter
UPLOAD_RATE = 256 * 1024  # bytes/s we still wait for: the read timeout scales with size


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
    differing: list[str] = []
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
                copy = download(session, existing, Path(tmp), limit=max(dist.size * 4, 1 << 24))
                index_sha = sha256_of(copy)
                if index_sha != dist.sha256 and not same_contents(copy, dist.path):
                    if not skip_existing:
                        differing.append(dist.filename)
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
        raise VersionError(
            "version-exists-different-files",
            f"Version {version} is already on the index, and " + "; ".join(parts) + ".",
            "The version was probably not bumped after a change: tag a new version. "
            "(Only if the build cannot be reproduced, set {skip-existing=true}.)",
        )
    # Wheels first: if the run stops half-way, installers still get a binary.
    return sorted(steps, key=lambda s: (s.dist.kind != "wheel", s.dist.filename))


def upload_form(dist: Dist, attestations: Sequence[Path] = ()) -> list[tuple[str, Any]]:
    """The legacy upload API's form fields, as twine makes them."""
    from twine.package import PackageFile

    package = PackageFile.from_filename(str(dist.path), comment=None)
    if attestations:
        package.add_attestations([str(a) for a in attestations])
    fields: list[tuple[str, Any]] = []
    for key, value in package.metadata_dictionary().items():
        if value is None:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        fields.extend((key, v) for v in values)
    fields += [(":action", "file_upload"), ("protocol_version", "1")]
    return fields


class Uploader:
    """Uploads one file at a time to the legacy API; safe to call again for the same file."""

    def __init__(
        self,
        *,
        repository_url: str,
        credential: Callable[[], tuple[str, str]],
        session: requests.Session,
        read_index: Callable[[], IndexProject],
        console: Console,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = repository_url
        self.where = sanitize_url(repository_url)
        self.credential = credential
        self.session = session
        self.read_index = read_index
        self.console = console
        self.sleep = sleep

    def _post(self, dist: Dist, attestations: Sequence[Path]) -> requests.Response:
        from requests_toolbelt import MultipartEncoder

        fields = upload_form(dist, attestations)
        with dist.path.open("rb") as fh:
            encoder = MultipartEncoder(
                [*fields, ("content", (dist.filename, fh, "application/octet-stream"))]
            )
            return self.session.post(
                self.url,
                data=encoder,
                auth=self.credential(),
                headers={"Content-Type": encoder.content_type, "User-Agent": USER_AGENT},
                allow_redirects=False,
                timeout=(10, 60 + dist.size / UPLOAD_RATE),
            )

    def _landed(self, dist: Dist) -> bool:
        """After a failure: does the index now list the file, with our bytes?"""
        try:
            listed = self.read_index().sha256s()
        except PackageIndexError:
            return False
        if dist.filename not in listed:
            return False
        if listed[dist.filename] not in (None, dist.sha256):
            raise PackageIndexError(
                "upload-conflict",
                f"{self.where} now has a file named {dist.filename} with other content "
                "than this run's: something else uploaded it while this run was working.",
                "Nothing of it can be replaced on the index. Find what else publishes "
                "this project, then tag a new version.",
            )
        return True

    def upload(self, dist: Dist, attestations: Sequence[Path] = ()) -> None:
        """Upload ``dist``; raises PackageIndexError when the index does not end up with it."""
        said = ""
        for attempt in range(ATTEMPTS):
            wait = BACKOFF * 2**attempt * (0.5 + random.random())  # noqa: S311 - jitter
            try:
                response = self._post(dist, attestations)
            except requests.RequestException as exc:
                said = f"{type(exc).__name__}, no answer"
            else:
                if response.ok:
                    return
                status = response.status_code
                said = f"HTTP {status} {response.reason or ''}".strip()
                if status in (401, 403):
                    raise self._refused_credentials(dist, said)
                if status == 429:
                    after = response.headers.get("Retry-After", "")
                    wait = min(float(after), MAX_RETRY_AFTER) if after.isdigit() else wait
                elif status < 500 and status not in (408, 409) and not _exists(response):
                    raise PackageIndexError(
                        "upload-refused",
                        f"{self.where} refused {dist.filename} ({said}).",
                        "The index's answer is above; fix what it names and re-run (files "
                        "already uploaded are kept).",
                    )
            # The body may have landed although the answer was a failure.
            if self._landed(dist):
                self.console.line(
                    f"{dist.filename}: the index has it although the upload answered "
                    f"{said}; counted as uploaded"
                )
                return
            if attempt + 1 < ATTEMPTS:
                self.console.line(f"{dist.filename}: upload failed ({said}); retrying")
                self.sleep(wait)
        raise PackageIndexError(
            "upload-failed",
            f"Uploading {dist.filename} to {self.where} failed {ATTEMPTS} times "
            f"(last: {said}), and the index does not list it.",
            "Check {repository-url} and that the index is up, then re-run: files "
            "already uploaded are kept, and the re-run uploads the rest.",
        )

    def _refused_credentials(self, dist: Dist, said: str) -> PackageIndexError:
        return PackageIndexError(
            "upload-credentials-refused",
            f"{self.where} refused the credentials ({said}) when uploading {dist.filename}.",
            "Check {password}: the token may be wrong or expired, scoped to another "
            "project, or used with a user other than '__token__' (PyPI API tokens need "
            "user __token__); with trusted publishing, check the publisher on the index.",
        )


def _exists(response: requests.Response) -> bool:
    # PyPI answers 400 "File already exists" for a name it has: settled by reading the
    # index, like a 409.
    return response.status_code == 400 and "exist" in (response.reason or "").lower()


def confirm(
    steps: Sequence[Step],
    read: Callable[[], IndexProject],
    session: requests.Session,
    *,
    attempts: int = 5,
    delay: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """The index now serves every file with the expected sha256.

    PyPI's simple pages sit behind a CDN; a just-uploaded file may take a moment to
    appear, so a missing file is looked for again with backoff.
    """
    missing: list[str] = []
    listed: dict[str, Any] = {}
    for attempt in range(attempts):
        listed = {f.filename: f for f in read().files}
        missing = [s.dist.filename for s in steps if s.dist.filename not in listed]
        if not missing:
            break
        if attempt + 1 < attempts:
            sleep(delay * 2**attempt)
    if missing:
        raise PackageIndexError(
            "confirm-missing",
            "The upload finished, but the index does not list: " + ", ".join(missing) + ".",
            "The index may be slow to update; re-run later to confirm (nothing is uploaded twice).",
        )
    wrong = []
    with tempfile.TemporaryDirectory(prefix="release-confirm-") as tmp:
        for step in steps:
            entry = listed[step.dist.filename]
            served = entry.sha256 or sha256_of(
                download(session, entry, Path(tmp), limit=step.dist.size + 1)
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
