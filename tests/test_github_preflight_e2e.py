"""The GitHub preflight, end to end: what the GitHub step would refuse about a release
already there for the tag is refused before anything is uploaded (the index stays
empty, GitHub gets no write but the permission probe), and what it would take passes.

Each test runs the whole action in-process against pypiserver and the fake GitHub.
The files a run will build are known beforehand from a dry run: flit builds them
byte for byte the same again.
"""

from __future__ import annotations

import hashlib
import shutil

import pytest
from conftest import Index
from support.fake_github import FakeGitHub
from support.output import the_error

from release.github import draft_body

REPO = "octo-org/sample"
TAG = "v1.0.0"
WHEEL = "flit_sample-1.0.0-py3-none-any.whl"
SDIST = "flit_sample-1.0.0.tar.gz"
NOTES = "### Added\n- The first release."
CHANGELOG = f"# Changelog\n\n## [1.0.0] - 2026-11-20\n\n{NOTES}\n"
URL = f"https://github.example/{REPO}/releases/tag/{TAG}"
REVIEW = (
    f"Review the draft ({URL}): delete it, or what this run does not make, and re-run; "
    "or set replace-draft: true to replace its assets and notes with this run's."
)
DIFFERS_HINT = (
    "GitHub's asset is not the file this release publishes. If it is wrong, delete it on "
    "GitHub and re-run (on a draft release, replace-draft: true replaces it); a published "
    "immutable release cannot change: release a new version instead."
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def built(make_project, pypiserver: Index, action):
    """A flit project tagged v1.0.0 with a changelog, and the bytes its build makes
    (from a dry run, which uploads nothing and touches no GitHub)."""
    project = make_project("flit")
    (project.path / "CHANGELOG.md").write_text(CHANGELOG)
    project.release("1.0.0")
    assert action(project, TAG, pypiserver, dry_run="true").code == 0
    files = {p.name: p.read_bytes() for p in (project.path / "dist").iterdir()}
    assert sorted(files) == [WHEEL, SDIST]
    sums = "".join(f"{sha(data)}  {name}\n" for name, data in sorted(files.items()))
    return project, files, sums.encode()


def refused(run, pypiserver: Index, github: FakeGitHub, code: str) -> tuple[str, str]:
    """The run failed in the plan with ``code``: nothing on the index, and no GitHub
    write but the permission probe (generate-notes). (message, hint)."""
    assert run.code == 1, run.out
    assert pypiserver.files() == {}
    assert [p.rsplit("/", 1)[-1] for _, p in github.writes()] == ["generate-notes"]
    title, message, hint = the_error(run.out, code)
    assert title == "GitHub release failed"
    return message, hint


# --- refused before any upload ------------------------------------------------------------


def test_immutable_release_lacking_assets(built, pypiserver, github, action) -> None:
    project, files, _sums = built
    github.repos[REPO].immutable = True
    release = github.add_release(REPO, TAG, body="Published by hand.")
    github.add_asset(REPO, release["id"], WHEEL, files[WHEEL])
    run = action(project, TAG, pypiserver, github)
    assert refused(run, pypiserver, github, "github-release-immutable") == (
        f"Release {TAG} is published and immutable, and lacks: {SDIST}, SHA256SUMS.",
        "An immutable release takes no assets once it is published. Release a new version "
        "(a new tag); or, to publish this version to the index without its GitHub Release, "
        "set github-release: false.",
    )
    assert sorted(github.assets_of(REPO, release["id"])) == [WHEEL]


@pytest.mark.parametrize("digests", [True, False])
def test_asset_differs_on_a_draft(built, pypiserver, github, action, digests: bool) -> None:
    """Without GitHub's digest (an older GitHub Enterprise Server), the asset is
    downloaded and hashed."""
    project, files, _sums = built
    github.digests = digests
    draft = github.add_release(REPO, TAG, draft=True)
    github.add_asset(REPO, draft["id"], SDIST, b"something else")
    run = action(project, TAG, pypiserver, github)
    assert refused(run, pypiserver, github, "github-asset-differs") == (
        f"Release {TAG} already has an asset {SDIST} with sha256 {sha(b'something else')}, "
        f"but the file this run attaches has sha256 {sha(files[SDIST])}; it is not replaced.",
        DIFFERS_HINT,
    )
    assert github.assets_of(REPO, draft["id"]) == {SDIST: b"something else"}
    assert github.release_for(REPO, TAG)["draft"] is True


def test_asset_differs_on_a_published_release(built, pypiserver, github, action) -> None:
    """SHA256SUMS of other files: the release names other bytes than this run's."""
    project, _files, sums = built
    theirs = b"0" * 64 + b"  other.whl\n"
    release = github.add_release(REPO, TAG, body="Published by hand.")
    github.add_asset(REPO, release["id"], "SHA256SUMS", theirs)
    run = action(project, TAG, pypiserver, github)
    assert refused(run, pypiserver, github, "github-asset-differs") == (
        f"Release {TAG} already has an asset SHA256SUMS with sha256 {sha(theirs)}, but the "
        f"file this run attaches has sha256 {sha(sums)}; it is not replaced.",
        DIFFERS_HINT,
    )


def test_draft_with_foreign_assets(built, pypiserver, github, action) -> None:
    """A draft holding assets this run does not make; its notes are empty (GitHub's
    "Draft a new release" page leaves them so), which holds nothing to lose."""
    project, files, _sums = built
    draft = github.add_release(REPO, TAG, draft=True)
    github.add_asset(REPO, draft["id"], WHEEL, files[WHEEL])  # this run's: fine
    github.add_asset(REPO, draft["id"], "sample-1.0.0-linux.tar.gz", b"a binary")
    github.add_asset(REPO, draft["id"], "checksums.txt", b"sums")
    run = action(project, TAG, pypiserver, github)
    assert refused(run, pypiserver, github, "github-draft-foreign") == (
        f"The draft release for {TAG} holds assets this run does not make "
        "(checksums.txt, sample-1.0.0-linux.tar.gz); it is not published with them.",
        REVIEW,
    )
    assert github.release_for(REPO, TAG)["draft"] is True


def test_draft_with_notes_written_by_hand(built, pypiserver, github, action) -> None:
    project, _files, _sums = built
    github.add_release(REPO, TAG, draft=True, body="Notes a maintainer wrote.")
    run = action(project, TAG, pypiserver, github)
    assert refused(run, pypiserver, github, "github-draft-foreign") == (
        f"The draft release for {TAG} holds release notes this run did not write; it is "
        "not published with them.",
        REVIEW,
    )


def test_draft_of_this_action_edited_since(built, pypiserver, github, action) -> None:
    """A draft an earlier run made (its notes end with the action's marker), whose notes
    someone edited since: the marker's sha256 no longer matches, so they are not the
    action's to replace."""
    project, _files, _sums = built
    draft = github.add_release(REPO, TAG, draft=True, body=draft_body(NOTES))
    github.add_asset(REPO, draft["id"], "extra.txt", b"x")
    draft["body"] = draft["body"].replace("The first release.", "The first release!")
    run = action(project, TAG, pypiserver, github)
    assert refused(run, pypiserver, github, "github-draft-foreign") == (
        f"The draft release for {TAG} holds assets this run does not make (extra.txt) "
        "and release notes this run did not write; it is not published with them.",
        REVIEW,
    )


def test_dry_run_is_refused_the_same(built, pypiserver, github, action) -> None:
    project, _files, _sums = built
    github.add_release(REPO, TAG, draft=True, body="Notes a maintainer wrote.")
    run = action(project, TAG, pypiserver, github, dry_run="true")
    message, _hint = refused(run, pypiserver, github, "github-draft-foreign")
    assert message.startswith(f"The draft release for {TAG} holds release notes")


# --- what passes --------------------------------------------------------------------------


def test_immutable_release_complete_rerun_confirms(built, pypiserver, github, action) -> None:
    """A re-run of a release that finished on an immutable release: every asset is
    there with the same digest, so it only confirms (no GitHub write but the probe)."""
    project, files, sums = built
    github.repos[REPO].immutable = True
    first = action(project, TAG, pypiserver, github)
    assert first.code == 0, first.out
    release = github.release_for(REPO, TAG)
    assert release["immutable"] is True
    assert release["body"] == NOTES  # the draft's marker is gone once published
    attached = github.assets_of(REPO, release["id"])
    assert attached == {**files, "SHA256SUMS": sums}

    shutil.rmtree(project.path / "dist")
    before = len(github.writes())
    second = action(project, TAG, pypiserver, github)
    assert second.code == 0, second.out
    assert [p.rsplit("/", 1)[-1] for _, p in github.writes()[before:]] == ["generate-notes"]
    assert github.assets_of(REPO, release["id"]) == attached
    assert second.outputs["release-url"] == URL
    assert pypiserver.files() == {name: sha(data) for name, data in files.items()}


def test_immutable_release_made_by_hand_with_the_same_files(
    built, pypiserver, github, action
) -> None:
    """An immutable release that already carries exactly this run's files (attached by
    hand before the index upload): the upload goes ahead, the release is confirmed."""
    project, files, sums = built
    github.repos[REPO].immutable = True
    release = github.add_release(REPO, TAG, body="Published by hand.")
    for name, data in {**files, "SHA256SUMS": sums}.items():
        github.add_asset(REPO, release["id"], name, data)
    run = action(project, TAG, pypiserver, github)
    assert run.code == 0, run.out
    assert pypiserver.files() == {name: sha(data) for name, data in files.items()}
    assert [p.rsplit("/", 1)[-1] for _, p in github.writes()] == ["generate-notes"]
    assert github.release_for(REPO, TAG)["body"] == "Published by hand."


def test_replace_draft_replaces_foreign_assets_and_notes(built, pypiserver, github, action) -> None:
    project, files, sums = built
    draft = github.add_release(REPO, TAG, draft=True, body="Notes a maintainer wrote.")
    github.add_asset(REPO, draft["id"], WHEEL, files[WHEEL])  # this run's: kept
    other = github.add_asset(REPO, draft["id"], SDIST, b"something else")  # replaced
    foreign = github.add_asset(REPO, draft["id"], "checksums.txt", b"sums")  # deleted
    run = action(project, TAG, pypiserver, github, replace_draft="true")
    assert run.code == 0, run.out
    release = github.release_for(REPO, TAG)
    assert release["id"] == draft["id"]
    assert release["draft"] is False
    assert release["body"] == NOTES
    assert github.assets_of(REPO, draft["id"]) == {**files, "SHA256SUMS": sums}
    assert [(m, p.rsplit("/", 1)[-1]) for m, p in github.writes()] == [
        ("POST", "generate-notes"),
        ("DELETE", str(foreign["id"])),
        ("DELETE", str(other["id"])),
        ("POST", "assets"),  # the sdist
        ("POST", "assets"),  # SHA256SUMS
        ("PATCH", str(draft["id"])),
    ]
