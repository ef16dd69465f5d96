"""The GitHub Release, through PyGithub, against a fake GitHub that validates every
request against GitHub's OpenAPI description."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import GITHUB_TOKEN, Index
from github import GithubException
from packaging.version import Version
from support.fake_github import FakeGitHub
from support.output import the_error

from release import github as gh
from release.dists import sha256_of
from release.errors import GitHubError
from release.http import make_session
from release.model import ReleasePlan, ReleaseResult
from release.notes import BODY_LIMIT

REPO = "octo-org/sample"
CHANGELOG = """# Changelog

## [Unreleased]

- Work in progress.

## [1.0.0] - 2026-11-20

### Added
- The first release.

## [0.9.0] - 2026-10-01

- A preview.
"""


def watch(github: FakeGitHub, index: Index) -> list[tuple[str, str, int]]:
    """Record, for each write GitHub receives, how many files the index had then."""
    seen: list[tuple[str, str, int]] = []
    faults = github.faults

    def record(method: str, path: str) -> None:
        if method != "GET":
            seen.append((method, path.rsplit("/", 1)[-1], len(index.files())))

    faults.append(lambda m, p: record(m, p))  # type: ignore[func-returns-value]
    return seen


def test_first_release(make_project, pypiserver: Index, github: FakeGitHub, action) -> None:
    project = make_project("flit")
    (project.path / "CHANGELOG.md").write_text(CHANGELOG)
    tag = project.release("1.0.0")
    seen = watch(github, pypiserver)
    run = action(project, tag, pypiserver, github)
    assert run.code == 0, run.out
    release = github.release_for(REPO, tag)
    assert release["draft"] is False
    assert release["prerelease"] is False
    assert release["make_latest"] == "true"
    assert release["name"] == "v1.0.0"
    assert release["body"] == "### Added\n- The first release."
    assets = github.assets_of(REPO, release["id"])
    files = pypiserver.files()
    assert sorted(assets) == sorted([*files, "SHA256SUMS"])
    for name, sha in files.items():
        assert hashlib.sha256(assets[name]).hexdigest() == sha
    assert assets["SHA256SUMS"].decode() == "".join(
        f"{sha}  {name}\n" for name, sha in sorted(files.items())
    )
    # Order: the permission probe before any upload; everything else after the index
    # confirmed both files.
    assert seen[0] == ("POST", "generate-notes", 0)
    assert all(n == 2 for _, _, n in seen[1:]), seen
    assert [m for m, *_ in seen[1:]] == ["POST", "POST", "POST", "POST", "PATCH"]
    url = f"https://github.example/{REPO}/releases/tag/v1.0.0"
    assert run.outputs["release-url"] == url
    assert run.outputs["release-id"] == str(release["id"])
    assert f"| GitHub Release | [v1.0.0]({url}) (notes: CHANGELOG.md) |" in run.summary


def test_prerelease_is_not_latest(make_project, pypiserver, github, action) -> None:
    project = make_project("flit")
    tag = project.release("2.0.0rc1")
    run = action(project, tag, pypiserver, github)
    assert run.code == 0, run.out
    release = github.release_for(REPO, tag)
    assert release["prerelease"] is True
    assert release["make_latest"] == "false"
    # No changelog: GitHub's generated notes.
    assert release["body"] == "## What's Changed\n* Generated notes for v2.0.0rc1"


def test_backport_is_not_latest(make_project, pypiserver, github, action) -> None:
    github.add_release(REPO, "v3.0.0")
    project = make_project("flit")
    tag = project.release("2.1.0")
    run = action(project, tag, pypiserver, github)
    assert run.code == 0, run.out
    release = github.release_for(REPO, tag)
    assert release["prerelease"] is False
    assert release["make_latest"] == "false"


def test_existing_draft_is_reused(make_project, pypiserver, github, action) -> None:
    """A draft with no notes (as GitHub's "Draft a new release" page leaves it) holds
    nothing of anyone's: it is finished with this run's notes. (A draft holding what
    this run did not make: tests/test_github_preflight_e2e.py.)"""
    draft = github.add_release(REPO, "v1.0.0", draft=True, body="")
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action(project, tag, pypiserver, github)
    assert run.code == 0, run.out
    release = github.release_for(REPO, tag)
    assert release["id"] == draft["id"]
    assert release["draft"] is False
    assert release["body"] == "## What's Changed\n* Generated notes for v1.0.0"
    assert len(github.assets_of(REPO, draft["id"])) == 3


def test_rerun_finishes_a_half_made_release(make_project, pypiserver, github, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    calls = {"n": 0}

    def break_third_asset(method: str, path: str) -> Any:
        if method == "POST" and path.endswith("/assets"):
            calls["n"] += 1
            if calls["n"] >= 3:
                return 500, {}, {"message": "Server Error"}
        return None

    github.faults.append(break_third_asset)
    first = action(project, tag, pypiserver, github)
    assert first.code == 1
    title, message, _ = the_error(first.out)
    assert title == "GitHub release failed"
    assert message.startswith("GitHub answered HTTP 500 while attaching ")
    # The upload itself is done and says so.
    assert first.outputs["published"] == "true"
    assert len(pypiserver.files()) == 2
    assert (
        "## ⚠️ flit-sample 1.0.0 is on the index, but the GitHub Release did not finish"
        in first.summary
    )
    assert "| GitHub Release | not finished: re-run the workflow to finish it |" in first.summary
    release = github.release_for(REPO, tag)
    assert release["draft"] is True  # nothing public is half-done
    attached = github.assets_of(REPO, release["id"])
    assert len(attached) == 2

    github.faults.remove(break_third_asset)
    shutil.rmtree(project.path / "dist")
    before = len(github.writes())
    second = action(project, tag, pypiserver, github)
    assert second.code == 0, second.out
    release = github.release_for(REPO, tag)
    assert release["draft"] is False
    assert len(github.assets_of(REPO, release["id"])) == 3
    new_writes = [p.rsplit("/", 1)[-1] for m, p in github.writes()[before:]]
    assert new_writes == ["generate-notes", "assets", str(release["id"])]

    # A third run has nothing left to do on either side.
    shutil.rmtree(project.path / "dist")
    before = len(github.writes())
    third = action(project, tag, pypiserver, github)
    assert third.code == 0, third.out
    assert [p.rsplit("/", 1)[-1] for m, p in github.writes()[before:]] == ["generate-notes"]


def test_immutable_releases(make_project, pypiserver, github, action) -> None:
    github.repos[REPO].immutable = True
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action(project, tag, pypiserver, github)
    assert run.code == 0, run.out
    release = github.release_for(REPO, tag)
    assert release["immutable"] is True
    assert len(github.assets_of(REPO, release["id"])) == 3


# --- the preflight: nothing is uploaded when GitHub would refuse ------------------------


def preflight_fails(run, pypiserver: Index, github: FakeGitHub) -> tuple[str, str, str]:
    assert run.code == 1, run.out
    assert pypiserver.files() == {}
    assert not [w for w in github.writes() if not w[1].endswith("generate-notes")]
    return the_error(run.out)


def test_bad_token(make_project, pypiserver, github, action) -> None:
    github.tokens.clear()
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action(project, tag, pypiserver, github)
    assert preflight_fails(run, pypiserver, github) == (
        "GitHub release failed",
        "GitHub refused the token (HTTP 401: Bad credentials) while reading octo-org/sample.",
        "The github-token is wrong or expired. Leave it at its default "
        "(${{ github.token }}) or pass a valid token from a secret.",
    )


def test_token_without_write_permission(make_project, pypiserver, github, action) -> None:
    github.tokens[GITHUB_TOKEN] = "read"
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action(project, tag, pypiserver, github)
    _title, message, hint = preflight_fails(run, pypiserver, github)
    assert message == (
        "The token lacks permission for creating releases in octo-org/sample "
        "(HTTP 403: Resource not accessible by integration)."
    )
    assert hint == (
        "Give the job's token permission to write releases in the workflow:\n"
        "permissions:\n  contents: write\n"
        "(or pass a github-token that has the contents: write permission)."
    )


def test_repository_not_found(make_project, pypiserver, github, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    env = action.env(project, tag, pypiserver, github)
    env["GITHUB_REPOSITORY"] = "octo-org/missing"
    run = action.run(env)
    assert preflight_fails(run, pypiserver, github)[1] == (
        "Repository octo-org/missing was not found, or the token cannot see it (HTTP 404)."
    )


def test_tag_not_on_github(make_project, pypiserver, github, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    env = action.env(project, tag, pypiserver, github)
    del github.repos[REPO].tags[tag]
    run = action.run(env)
    assert preflight_fails(run, pypiserver, github)[1:] == (
        "Tag 'v1.0.0' is not in octo-org/sample on GitHub (HTTP 404).",
        "Push the tag first: git push origin v1.0.0",
    )


def test_tag_on_another_commit(make_project, pypiserver, github, action) -> None:
    """A tag push: the run built GITHUB_SHA, and the tag moved on GitHub meanwhile."""
    project = make_project("flit")
    tag = project.release("1.0.0")
    github.repos[REPO].tags[tag] = "f" * 40
    run = action(project, tag, pypiserver, github)
    assert preflight_fails(run, pypiserver, github)[1:] == (
        "Tag 'v1.0.0' points at commit ffffffffffff on GitHub, but this workflow run was "
        f"started for commit {project.head[:12]}, which it built: the tag moved after the "
        "run started.",
        "Run the workflow again for the tag as it is now (or move the tag back, if it was "
        "moved by mistake).",
    )


def test_dispatch_with_the_tag_checked_out(make_project, pypiserver, github, action) -> None:
    """workflow_dispatch from a branch with the tag input, the tag checked out (as the
    tag-not-on-head hint says): GITHUB_SHA is the branch's head, which was not built."""
    project = make_project("flit")
    tag = project.release("1.0.0")
    tagged = project.head
    project.commit("work after the release")
    branch_head = project.head
    project.git("checkout", "-q", tag)
    env = action.env(project, tag, pypiserver, github)
    env.update(
        INPUT_TAG=tag,
        GITHUB_EVENT_NAME="workflow_dispatch",
        GITHUB_REF="refs/heads/main",
        GITHUB_REF_NAME="main",
        GITHUB_REF_TYPE="branch",
        GITHUB_SHA=branch_head,
    )
    github.repos[REPO].tags[tag] = tagged
    run = action.run(env)
    assert run.code == 0, run.out
    assert github.release_for(REPO, tag)["draft"] is False
    assert sorted(pypiserver.files()) == [
        "flit_sample-1.0.0-py3-none-any.whl",
        "flit_sample-1.0.0.tar.gz",
    ]


def test_tag_push_with_another_commit_checked_out(make_project, pypiserver, github, action) -> None:
    """A tag push whose workflow checks out the branch (no tags fetched): GITHUB_SHA is
    the tag's commit, but the branch's code was built; it must not go out as the tag."""
    project = make_project("flit")
    tag = project.release("1.0.0")
    tagged = project.head
    init = project.path / "flit_sample" / "__init__.py"
    init.write_text(init.read_text() + "UNRELEASED = True\n")
    built = project.commit("work after the release")
    project.git("tag", "-d", tag)  # a checkout of a branch has no tags
    env = action.env(project, tag, pypiserver, github)
    env["GITHUB_SHA"] = tagged
    github.repos[REPO].tags[tag] = tagged
    run = action.run(env)
    assert preflight_fails(run, pypiserver, github) == (
        "GitHub release failed",
        f"Tag 'v1.0.0' points at commit {tagged[:12]} on GitHub, but this run built "
        f"commit {built[:12]} (the checked-out HEAD).",
        "Check out the tag before releasing it (in a workflow, actions/checkout with "
        "'ref: v1.0.0'; locally, git fetch --tags, then git checkout v1.0.0); if the tag "
        "is on the wrong commit, move it on GitHub to the commit to release.",
    )


def test_no_checkout_tag_moved(make_project, pypiserver, github, action) -> None:
    """Files from packages-dir and no git checkout: GITHUB_SHA, the commit the pushed
    tag named when the run started, is all there is to compare with."""
    project = make_project("flit")
    tag = project.release("1.0.0")
    started = project.head
    assert action(project, tag, pypiserver, dry_run="true").code == 0
    github.repos[REPO].tags[tag] = "f" * 40
    env = action.env(project, tag, pypiserver, github, build="false")
    assert env["GITHUB_SHA"] == started
    shutil.rmtree(project.path / ".git")
    run = action.run(env)
    assert preflight_fails(run, pypiserver, github)[1] == (
        "Tag 'v1.0.0' points at commit ffffffffffff on GitHub, but this workflow run was "
        f"started for commit {started[:12]}: the tag moved after the run started."
    )


def test_annotated_tag(make_project, pypiserver, github, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    env = action.env(project, tag, pypiserver, github)
    github.repos[REPO].annotated.add(tag)
    assert action.run(env).code == 0


def test_validation_error_is_shown(make_project, pypiserver, github, action) -> None:
    def refuse_create(method: str, path: str) -> Any:
        if method == "POST" and path.endswith("/releases"):
            return (
                422,
                {},
                {
                    "message": "Validation Failed",
                    "errors": [
                        {
                            "resource": "Release",
                            "code": "custom",
                            "field": "tag_name",
                            "message": "tag_name was used by an immutable release",
                        }
                    ],
                },
            )
        return None

    github.faults.append(refuse_create)
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action(project, tag, pypiserver, github)
    assert run.code == 1
    assert the_error(run.out)[1] == (
        "GitHub refused creating the release for v1.0.0 (HTTP 422: Validation Failed; "
        "tag_name was used by an immutable release)."
    )
    assert run.outputs["published"] == "true"


def test_rate_limit_is_waited_out(make_project, pypiserver, github, action) -> None:
    hits = {"n": 0}

    def limited_once(method: str, path: str) -> Any:
        if method == "GET" and path.endswith("/releases") and hits["n"] == 0:
            hits["n"] += 1
            return (
                429,
                {"Retry-After": "1"},
                {"message": "You have exceeded a secondary rate limit."},
            )
        return None

    github.faults.append(limited_once)
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action(project, tag, pypiserver, github)
    assert run.code == 0, run.out
    assert hits["n"] == 1


def test_rate_limit_beyond_the_bound(make_project, pypiserver, github, action) -> None:
    github.faults.append(
        lambda m, p: (
            (
                403,
                {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "4102444800"},
                {"message": "API rate limit exceeded"},
            )
            if p.endswith("/releases")
            else None
        )
    )
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action(project, tag, pypiserver, github)
    _title, message, hint = preflight_fails(run, pypiserver, github)
    assert message.startswith("GitHub's rate limit stopped listing the releases of octo-org/sample")
    assert hint == "Re-run the workflow later; what is done is kept."


def test_server_errors_are_retried(make_project, pypiserver, github, action) -> None:
    hits = {"n": 0}

    def flaky(method: str, path: str) -> Any:
        if method == "GET" and path.endswith("/releases") and hits["n"] < 2:
            hits["n"] += 1
            return 502, {}, {"message": "Bad Gateway"}
        return None

    github.faults.append(flaky)
    project = make_project("flit")
    tag = project.release("1.0.0")
    assert action(project, tag, pypiserver, github).code == 0
    assert hits["n"] == 2


def test_server_errors_that_persist(make_project, pypiserver, github, action) -> None:
    github.faults.append(
        lambda m, p: (
            (503, {}, {"message": "Unavailable"})
            if p.endswith("/releases") and m == "GET"
            else None
        )
    )
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action(project, tag, pypiserver, github)
    assert preflight_fails(run, pypiserver, github)[1] == (
        "GitHub did not answer while listing the releases of octo-org/sample (RetryError), "
        "even after retries."
    )


def test_github_release_false(make_project, pypiserver, github, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action(project, tag, pypiserver, github, github_release="false")
    assert run.code == 0, run.out
    assert github.log == []
    assert run.outputs["release-url"] == ""
    assert "| GitHub Release | not made (github-release: false) |" in run.summary


def test_dry_run_checks_github_but_creates_nothing(
    make_project, pypiserver, github, action
) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action(project, tag, pypiserver, github, dry_run="true")
    assert run.code == 0, run.out
    assert [p for m, p in github.writes()] == [f"/api/v3/repos/{REPO}/releases/generate-notes"]
    assert (
        "| GitHub Release | would be made: release, latest (notes: generated by GitHub) |"
        in run.summary
    )


def test_release_notes_file(make_project, pypiserver, github, action) -> None:
    project = make_project("flit")
    (project.path / "NOTES.md").write_text("Hand-written notes.\n")
    tag = project.release("1.0.0")
    run = action(project, tag, pypiserver, github, release_notes="NOTES.md")
    assert run.code == 0, run.out
    assert github.release_for(REPO, tag)["body"] == "Hand-written notes.\n"


def test_dry_run_names_an_existing_draft(make_project, pypiserver, github, action) -> None:
    github.add_release(REPO, "v1.0.0", draft=True, body="")
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action(project, tag, pypiserver, github, dry_run="true")
    assert run.code == 0, run.out
    assert (
        "| GitHub Release | the draft release there would be finished "
        "(notes: generated by GitHub) |" in run.summary
    )


def test_refusals_are_not_retried(make_project, pypiserver, github, action) -> None:
    creates = {"n": 0}

    def refuse(method: str, path: str) -> Any:
        if method == "POST" and path.endswith("/releases"):
            creates["n"] += 1
            return 422, {}, {"message": "Validation Failed"}
        return None

    github.faults.append(refuse)
    project = make_project("flit")
    tag = project.release("1.0.0")
    assert action(project, tag, pypiserver, github).code == 1
    assert creates["n"] == 1


def test_attached_asset_confirmed_by_digest(make_project, pypiserver, github, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    github.tampered.add("flit_sample-1.0.0.tar.gz")
    run = action(project, tag, pypiserver, github)
    assert run.code == 1
    _title, message, _hint = the_error(run.out, "github-asset-digest-mismatch")
    assert message.startswith(
        f"GitHub stored flit_sample-1.0.0.tar.gz on release {tag} with sha256 {'0' * 64}, "
        "but the file's is "
    )
    assert run.outputs["published"] == "true"  # the index part is done; a re-run finishes


def test_rerun_attaches_the_bytes_the_index_serves(
    make_project, pypiserver: Index, github, action
) -> None:
    """setuptools' sdists are not byte-reproducible: a re-run finds the index's sdist
    with the same contents and other bytes, and the release must carry the index's."""
    project = make_project("setuptools")
    tag = project.release("1.0.0")
    assert action(project, tag, pypiserver).code == 0  # the release was not made then
    served = pypiserver.files()
    shutil.rmtree(project.path / "dist")
    run = action(project, tag, pypiserver, github)
    assert run.code == 0, run.out
    rebuilt = {p.name: sha256_of(p) for p in (project.path / "dist").iterdir()}
    assert rebuilt != served  # the premise: this build's bytes differ
    release = github.release_for(REPO, tag)
    assets = github.assets_of(REPO, release["id"])
    assert sorted(assets) == sorted([*served, "SHA256SUMS"])
    assert {n: hashlib.sha256(assets[n]).hexdigest() for n in served} == served
    assert assets["SHA256SUMS"].decode() == "".join(
        f"{sha}  {name}\n" for name, sha in sorted(served.items())
    )


# --- preflight() and publish() driven directly ------------------------------------------
# The whole-run cases are in tests/test_github_preflight_e2e.py; these reach what a run
# with an API token cannot (attestations), and a release that changes between the plan
# and the publish.

TAG = "v1.0.0"
COMMIT = "c" * 40
WHEEL = "sample-1.0.0-py3-none-any.whl"
ATTESTATION = WHEEL + ".publish.attestation"
GENERATED = "## What's Changed\n* Generated notes for v1.0.0"  # the fake's, for TAG


def wheel(tmp_path: Path) -> gh.Asset:
    path = tmp_path / WHEEL
    path.write_bytes(b"the wheel")
    return gh.Asset(WHEEL, sha256_of(path), path)


def preflight(
    github: FakeGitHub,
    tmp_path: Path,
    files: Sequence[gh.Asset],
    *,
    signs: Collection[str] = (),
    replace_draft: bool = False,
) -> ReleasePlan:
    github.repos[REPO].tags[TAG] = COMMIT
    with make_session() as session:
        return gh.preflight(
            gh.client(GITHUB_TOKEN, github.api, 0),
            repository=REPO,
            tag=TAG,
            tag_prefix="",
            built=COMMIT,
            started_for="",
            version=Version("1.0.0"),
            previous=None,
            workdir=tmp_path,  # no changelog: GitHub's generated notes
            notes_file=None,
            root=tmp_path,
            files=[(f.name, f.sha256) for f in files],
            signs=signs,
            replace_draft=replace_draft,
            session=session,
            token=GITHUB_TOKEN,
        )


def publish(
    github: FakeGitHub, plan: ReleasePlan, files: Sequence[gh.Asset], extra: Sequence[gh.Asset]
) -> None:
    with make_session() as session, gh.assets_for(files, extra) as assets:
        gh.publish(
            gh.client(GITHUB_TOKEN, github.api, 0),
            plan,
            assets,
            token=GITHUB_TOKEN,
            session=session,
            result=ReleaseResult(),
        )


def sums_of(*files: gh.Asset) -> bytes:
    return "".join(f"{f.sha256}  {f.name}\n" for f in sorted(files, key=lambda f: f.name)).encode()


MARKER = "<!-- tag-to-pypi-release draft: notes sha256:{} -->"


@pytest.mark.parametrize(
    ("found", "ours"),
    [
        (None, True),
        ("", True),
        ("  \n", True),
        (GENERATED + "\n", True),  # the notes this run writes
        (gh.draft_body("Notes of an earlier run."), True),
        (gh.draft_body("Line one.\nLine two.").replace("\n", "\r\n"), True),  # web page
        ("Notes a maintainer wrote.", False),
        (gh.draft_body("Notes of an earlier run.").replace("earlier", "edited"), False),
        ("By hand.\n\n" + MARKER.format("0" * 64), False),  # a marker copied elsewhere
        (gh.draft_body("Ours.") + "\nAdded below the marker.", False),
    ],
)
def test_whose_notes(found: str | None, ours: bool) -> None:
    assert gh.notes_are_ours(found, GENERATED) is ours


def test_draft_notes_fit_githubs_limit() -> None:
    body = gh.draft_body("x" * BODY_LIMIT)
    assert len(body) <= BODY_LIMIT
    assert body.endswith(MARKER.format(hashlib.sha256(body.split("\n\n")[0].encode()).hexdigest()))
    assert gh.notes_are_ours(body, "other notes")


def test_attestation_of_an_upload_already_there(github: FakeGitHub, tmp_path: Path) -> None:
    """The release has an attestation of a file this run uploads and signs anew: the
    new signature cannot equal it. Without signing (an API token), it is left as it is."""
    dist = wheel(tmp_path)
    release = github.add_release(REPO, TAG, body="Published.")
    github.add_asset(REPO, release["id"], WHEEL, b"the wheel")
    github.add_asset(REPO, release["id"], ATTESTATION, b"{}")
    with pytest.raises(GitHubError) as caught:
        preflight(github, tmp_path, [dist], signs=[WHEEL])
    assert (caught.value.code, caught.value.message, caught.value.hint) == (
        "github-attestation-present",
        f"Release {TAG} already has an asset {ATTESTATION}, but this run uploads {WHEEL} "
        "and signs a new attestation for it, which cannot be the same; it is not replaced.",
        "That asset is not the attestation of this run's upload. If it is wrong, delete it "
        "on GitHub and re-run (on a draft release, {replace-draft=true} replaces it); a "
        "published immutable release cannot change: release a new version instead.",
    )
    plan = preflight(github, tmp_path, [dist])
    assert plan.existing == "published"
    # publish() refuses the same, had the attestation appeared after the plan.
    signed = tmp_path / ATTESTATION
    signed.write_text('{"new": true}')
    with pytest.raises(GitHubError) as caught:
        publish(github, plan, [dist], [gh.Asset(ATTESTATION, sha256_of(signed), signed)])
    assert caught.value.code == "github-attestation-present"
    assert github.writes() == [("POST", f"/api/v3/repos/{REPO}/releases/generate-notes")] * 2


def test_attestation_on_a_draft_is_the_runs_own(github: FakeGitHub, tmp_path: Path) -> None:
    """An attestation of one of this run's files on a draft is not foreign: a run
    carries the index's provenance as it is (``kept``), without comparing."""
    dist = wheel(tmp_path)
    draft = github.add_release(REPO, TAG, draft=True, body=gh.draft_body(GENERATED))
    github.add_asset(REPO, draft["id"], ATTESTATION, b"{}")
    plan = preflight(github, tmp_path, [dist])
    carried = tmp_path / "carried" / ATTESTATION
    carried.parent.mkdir()
    carried.write_text('{"carried": true}')
    publish(github, plan, [dist], [gh.Asset(ATTESTATION, sha256_of(carried), carried, kept=True)])
    release = github.release_for(REPO, TAG)
    assert release["draft"] is False
    assert release["body"] == GENERATED
    assert github.assets_of(REPO, draft["id"]) == {
        WHEEL: b"the wheel",
        ATTESTATION: b"{}",
        "SHA256SUMS": sums_of(dist),
    }


def test_publish_refuses_what_came_after_the_plan(github: FakeGitHub, tmp_path: Path) -> None:
    """The preflight passed; then someone attached a file to the draft. publish()
    checks again and does not publish it."""
    dist = wheel(tmp_path)
    draft = github.add_release(REPO, TAG, draft=True)
    plan = preflight(github, tmp_path, [dist])
    github.add_asset(REPO, draft["id"], "notes.pdf", b"%PDF")
    with pytest.raises(GitHubError) as caught:
        publish(github, plan, [dist], [])
    assert (caught.value.code, caught.value.message) == (
        "github-draft-foreign",
        f"The draft release for {TAG} holds assets this run does not make (notes.pdf); it "
        "is not published with them.",
    )
    assert github.release_for(REPO, TAG)["draft"] is True
    assert [m for m, _ in github.writes()] == ["POST"]  # generate-notes only


def test_replace_draft_replaces_a_carried_attestation(github: FakeGitHub, tmp_path: Path) -> None:
    """With replace-draft, even an attestation a run would keep as it is is replaced
    when the draft's copy is not the one this run carries; equal files stay."""
    dist = wheel(tmp_path)
    draft = github.add_release(REPO, TAG, draft=True, body="By hand.")
    github.add_asset(REPO, draft["id"], WHEEL, b"the wheel")
    github.add_asset(REPO, draft["id"], ATTESTATION, b"{}")
    plan = preflight(github, tmp_path, [dist], replace_draft=True)
    assert plan.replace_draft is True
    carried = tmp_path / "carried" / ATTESTATION
    carried.parent.mkdir()
    carried.write_text('{"carried": true}')
    publish(github, plan, [dist], [gh.Asset(ATTESTATION, sha256_of(carried), carried, kept=True)])
    release = github.release_for(REPO, TAG)
    assert (release["draft"], release["body"]) == (False, GENERATED)
    assert github.assets_of(REPO, draft["id"]) == {
        WHEEL: b"the wheel",
        ATTESTATION: b'{"carried": true}',
        "SHA256SUMS": sums_of(dist),
    }


def test_immutable_release_lacking_only_attestations(github: FakeGitHub, tmp_path: Path) -> None:
    """An immutable release with every file and SHA256SUMS, but not the attestation a
    re-run would carry: nothing to refuse (the index serves it as provenance), nothing
    written."""
    github.repos[REPO].immutable = True
    dist = wheel(tmp_path)
    release = github.add_release(REPO, TAG, body="Published.")
    github.add_asset(REPO, release["id"], WHEEL, b"the wheel")
    github.add_asset(REPO, release["id"], "SHA256SUMS", sums_of(dist))
    plan = preflight(github, tmp_path, [dist])
    carried = tmp_path / "carried" / ATTESTATION
    carried.parent.mkdir()
    carried.write_text("{}")
    publish(github, plan, [dist], [gh.Asset(ATTESTATION, sha256_of(carried), carried, kept=True)])
    assert [m for m, _ in github.writes()] == ["POST"]  # generate-notes only
    assert sorted(github.assets_of(REPO, release["id"])) == ["SHA256SUMS", WHEEL]


def test_the_fake_keeps_an_immutable_release(github: FakeGitHub, tmp_path: Path) -> None:
    """The fake refuses what GitHub refuses on a published immutable release: adding,
    deleting an asset, moving its tag, unpublishing; its title and notes may change."""
    github.repos[REPO].immutable = True
    release = github.add_release(REPO, TAG)
    github.add_asset(REPO, release["id"], WHEEL, b"the wheel")
    there = gh.client(GITHUB_TOKEN, github.api, 0).get_repo(REPO).get_release(release["id"])
    assert there.immutable is True
    assert there.get_assets()[0].digest == "sha256:" + hashlib.sha256(b"the wheel").hexdigest()
    (tmp_path / "more").write_bytes(b"more")
    for attempt in (
        lambda: there.upload_asset(str(tmp_path / "more"), content_type="application/octet-stream"),
        lambda: there.get_assets()[0].delete_asset(),
        lambda: there.update_release(name=TAG, message="x", tag_name="v9"),
        lambda: there.update_release(name=TAG, message="x", draft=True),
    ):
        with pytest.raises(GithubException) as caught:
            attempt()
        assert caught.value.status == 422
    there.update_release(name="Renamed", message="New notes.")
    assert (github.release_for(REPO, TAG)["name"], github.release_for(REPO, TAG)["body"]) == (
        "Renamed",
        "New notes.",
    )
    assert github.assets_of(REPO, release["id"]) == {WHEEL: b"the wheel"}
