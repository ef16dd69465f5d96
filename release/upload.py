"""What to upload (a resume uploads only what is missing), twine upload, and confirm."""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import requests
from packaging.version import Version

from .errors import PackageIndexError, VersionError
from .gha import Console
from .index import IndexFile, IndexProject, download, sanitize_url, sha256_of
from .verify import Dist, same_contents

if TYPE_CHECKING:  # twine is imported only when uploading
    from twine.settings import Settings as TwineSettings

UPLOAD = "upload"  # not on the index yet
PRESENT = "present"  # on the index with the same content
SKIPPED = "skipped"  # on the index with other content; skip-existing says go on


@dataclasses.dataclass(frozen=True)
class Step:
    """One file and what publishing does with it."""

    dist: Dist
    action: str
    # The sha256 the index must serve once the run is done.
    expected_sha256: str


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
                steps.append(Step(dist, UPLOAD, dist.sha256))
                continue
            index_sha = existing.sha256
            if index_sha != dist.sha256:
                # Unlisted hash, or a backend that does not build reproducibly:
                # compare what the archives hold.
                copy = download(session, existing, Path(tmp))
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
                    steps.append(Step(dist, SKIPPED, index_sha))
                    continue
            steps.append(Step(dist, PRESENT, index_sha))
    unbuilt = [] if skip_existing else sorted(on_index)
    if differing or unbuilt:
        parts = []
        if differing:
            parts.append("these files differ from this run's: " + ", ".join(differing))
        if unbuilt:
            parts.append("these files were not made by this run: " + ", ".join(unbuilt))
        raise VersionError(
            f"Version {version} is already on the index, and " + "; ".join(parts) + ".",
            "The version was probably not bumped after a change: tag a new version. "
            "(Only if the build cannot be reproduced, set skip-existing: true.)",
        )
    # Wheels first: if the run stops half-way, installers still get a binary.
    return sorted(steps, key=lambda s: (s.dist.kind != "wheel", s.dist.filename))


def twine_settings(
    *, user: str, password: str, repository_url: str, config_dir: Path
) -> TwineSettings:
    """twine's settings, with the password held in memory only."""
    from twine.settings import Settings as TwineSettings

    return TwineSettings(
        username=user,
        password=password,
        repository_url=repository_url,
        non_interactive=True,
        disable_progress_bar=True,
        # twine's non-verbose failure text advises a --verbose flag users cannot pass.
        verbose=True,
        # Never read the user's ~/.pypirc: the inputs say where to upload.
        config_file=str(config_dir / "no-pypirc"),
    )


def upload_one(dist: Dist, settings: TwineSettings, repository_url: str) -> None:
    """Upload one file with twine's library API; index refusals become ReleaseErrors."""
    from twine.commands.upload import upload as twine_upload
    from twine.exceptions import TwineException

    where = sanitize_url(repository_url)
    try:
        twine_upload(settings, [str(dist.path)])
    except requests.HTTPError as exc:
        raise upload_refused(dist.filename, where, exc.response) from None
    except requests.RequestException as exc:
        raise PackageIndexError(
            f"Cannot reach {where} to upload {dist.filename}: {type(exc).__name__}.",
            "Check repository-url and that the index is up, then re-run: files "
            "already uploaded are kept, and the re-run uploads the rest.",
        ) from None
    except TwineException as exc:
        raise PackageIndexError(
            f"twine could not upload {dist.filename}: {exc}",
            "Check repository-url and the credentials inputs.",
        ) from None


def upload_refused(
    filename: str, where: str, response: requests.Response | None
) -> PackageIndexError:
    status = response.status_code if response is not None else 0
    reason = response.reason if response is not None else ""
    said = f"HTTP {status} {reason}".strip()
    if status in (401, 403):
        return PackageIndexError(
            f"{where} refused the credentials ({said}) when uploading {filename}.",
            "Check the password secret: the token may be wrong or expired, scoped to "
            "another project, or used with a user other than '__token__' (PyPI API "
            "tokens need user __token__).",
        )
    if status == 409 or "already exist" in reason.lower():
        return PackageIndexError(
            f"{where} already has a file named {filename} ({said}): something else "
            "uploaded it while this run was working.",
            "Re-run the workflow: the action then compares that file with this build.",
        )
    return PackageIndexError(
        f"{where} refused {filename} ({said}).",
        "The index's answer is above; fix what it names and re-run (files already "
        "uploaded are kept).",
    )


def confirm(
    steps: Sequence[Step],
    read: Callable[[], IndexProject],
    session: requests.Session,
    *,
    attempts: int = 5,
    delay: float = 2.0,
) -> None:
    """The index now serves every file with the expected sha256.

    PyPI's simple pages sit behind a CDN; a just-uploaded file may take a moment to
    appear, so a missing file is looked for again with backoff.
    """
    missing: list[str] = []
    for attempt in range(attempts):
        listed = {f.filename: f for f in read().files}
        missing = [s.dist.filename for s in steps if s.dist.filename not in listed]
        if not missing:
            break
        if attempt + 1 < attempts:
            time.sleep(delay * 2**attempt)
    if missing:
        raise PackageIndexError(
            "The upload finished, but the index does not list: " + ", ".join(missing) + ".",
            "The index may be slow to update; re-run later to confirm (nothing is uploaded twice).",
        )
    wrong = []
    with tempfile.TemporaryDirectory(prefix="release-confirm-") as tmp:
        for step in steps:
            entry: IndexFile = listed[step.dist.filename]
            served = entry.sha256 or sha256_of(download(session, entry, Path(tmp)))
            if served != step.expected_sha256:
                wrong.append(step.dist.filename)
    if wrong:
        raise PackageIndexError(
            "The index serves these files with another sha256 than uploaded: "
            + ", ".join(wrong)
            + ".",
            "Something between this runner and the index altered the files; "
            "investigate before using this release.",
        )
