"""The GitHub Release for the tag, through PyGithub.

preflight() runs in the plan, before anything is uploaded, and changes nothing:
the token reaches the repository, the tag is there on the commit this run built, and the
token may write releases. publish() runs after the index confirmed the files: it
creates the release as a draft (or reuses the one there), attaches the files, then
publishes it, so immutable releases work and a re-run finishes what is left.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import requests
from packaging.version import Version

from .dists import Dist, sha256_of, sha256sums
from .errors import GitHubError, InputError
from .http import USER_AGENT
from .model import ReleasePlan, ReleaseResult
from .notes import clip, find_notes
from .versions import parse_tag

if TYPE_CHECKING:  # PyGithub is imported only when a release is made (it is heavy)
    from typing import TypeAlias

    from github import Github, GithubException
    from github.GitRelease import GitRelease
    from github.GitReleaseAsset import GitReleaseAsset
    from github.Repository import Repository

    Client: TypeAlias = Github

T = TypeVar("T")

PERMISSIONS_FIX = (
    "Give the job's token permission to write releases in the workflow:\n"
    "permissions:\n  contents: write\n"
    "(or pass a github-token that has the contents: write permission)."
)
# At most this long for one rate-limit wait, so a run never hangs for an hour.
MAX_RATE_LIMIT_WAIT = 120.0


@dataclasses.dataclass(frozen=True)
class Asset:
    """A file to attach: a distribution or the SHA256SUMS file."""

    name: str
    sha256: str
    path: Path
    # An asset of this name already there is kept as it is, not compared: an attestation
    # taken from the index may be serialised otherwise than the copy attached before.
    kept: bool = False


def client(token: str, api_url: str, write_interval: float) -> Client:
    from github import Auth, Github, GithubRetry

    retry = GithubRetry(
        total=4,
        backoff_factor=0.5,
        status_forcelist=[429, 500, 502, 503, 504],
        # POSTs create things: a blind retry could duplicate them, so the code
        # re-reads the state and retries those itself.
        allowed_methods=frozenset({"GET", "HEAD", "PATCH", "PUT", "DELETE"}),
        respect_retry_after_header=True,
        max_rate_limit_wait=MAX_RATE_LIMIT_WAIT,
    )
    return Github(
        auth=Auth.Token(token),
        base_url=api_url.rstrip("/"),
        retry=retry,
        timeout=30,
        user_agent=USER_AGENT,
        seconds_between_requests=None,
        seconds_between_writes=write_interval or None,
    )


def _message(exc: GithubException) -> str:
    data = exc.data if isinstance(exc.data, dict) else {}
    text = str(data.get("message") or exc.message or "").strip()
    details = [
        str(e.get("message") or f"{e.get('field')} {e.get('code')}")
        for e in data.get("errors", []) or []
        if isinstance(e, dict)
    ]
    return "; ".join([text, *details]) if details else text


@contextmanager
def api_errors(
    doing: str, repository: str, not_found: tuple[str, str, str] | None = None
) -> Iterator[None]:
    """Turn what PyGithub raises into GitHubErrors that say what to do."""
    from github import GithubException

    try:
        yield
    except GithubException as exc:
        status, said = exc.status, _message(exc)
        if status == 401:
            raise GitHubError(
                "github-token-refused",
                f"GitHub refused the token (HTTP 401: {said}) while {doing}.",
                "The {github-token} is wrong or expired. Leave it at its default "
                "(${{ github.token }}) or pass a valid token from a secret.",
            ) from None
        if status == 404 and not_found:
            raise GitHubError(*not_found) from None
        if status == 403 and "rate limit" not in said.lower():
            raise GitHubError(
                "github-permission-denied",
                f"The token lacks permission for {doing} in {repository} (HTTP 403: {said}).",
                PERMISSIONS_FIX,
            ) from None
        if status == 422:
            raise GitHubError(
                "github-validation-failed",
                f"GitHub refused {doing} (HTTP 422: {said}).",
                "Fix what GitHub names above, then re-run.",
            ) from None
        if status in (403, 429) or "rate limit" in said.lower():
            raise GitHubError(
                "github-rate-limited",
                f"GitHub's rate limit stopped {doing} (HTTP {status}: {said}).",
                "Re-run the workflow later; what is done is kept.",
            ) from None
        raise GitHubError(
            "github-http-error",
            f"GitHub answered HTTP {status} while {doing}: {said}.",
            "GitHub may be having trouble (https://www.githubstatus.com); re-run later, "
            "what is done is kept.",
            transient=status >= 500,
        ) from None
    except requests.RequestException as exc:
        raise GitHubError(
            "github-unreachable",
            f"GitHub did not answer while {doing} ({type(exc).__name__}), even after retries.",
            "GitHub may be having trouble (https://www.githubstatus.com); re-run later, "
            "what is done is kept.",
            transient=True,
        ) from None


def _releases_for(releases: Sequence[GitRelease], tag: str) -> list[GitRelease]:
    return [r for r in releases if r.tag_name == tag]


def _list_releases(repo: Repository) -> list[GitRelease]:
    # GET /releases/tags/{tag} does not show drafts; the list does.
    return list(repo.get_releases())


def _pick(releases: Sequence[GitRelease]) -> GitRelease | None:
    published = [r for r in releases if not r.draft]
    if published:
        return published[0]
    return max(releases, key=lambda r: r.id, default=None)


def _highest_released(releases: Sequence[GitRelease], prefix: str) -> Version | None:
    versions = []
    for r in releases:
        if r.draft or r.prerelease:
            continue
        try:
            versions.append(parse_tag(r.tag_name, prefix))
        except InputError:
            continue
    return max(versions, default=None)


def preflight(
    gh: Client,
    *,
    repository: str,
    tag: str,
    tag_prefix: str,
    built: str,
    started_for: str,
    version: Version,
    previous: Version | None,
    workdir: Path,
    notes_file: Path | None,
    root: Path,
) -> ReleasePlan:
    """Every check that can be made on GitHub before an upload; creates nothing.

    ``built``: the commit this run built (the checkout's HEAD; "" without a checkout).
    ``started_for``: GITHUB_SHA, when the tag is the one whose push (or release) started
    the run, so that GITHUB_SHA is the commit the tag named then; "" otherwise (a tag
    given as an input, where GITHUB_SHA is the head of some branch).
    """
    if not repository:
        raise InputError(
            "github-repository-missing",
            "GITHUB_REPOSITORY is not set, so there is no repository for the release.",
            "Run in GitHub Actions, or set {github-release=false}.",
        )
    with api_errors(
        f"reading {repository}",
        repository,
        (
            "github-repository-not-found",
            f"Repository {repository} was not found, or the token cannot see it (HTTP 404).",
            "Check GITHUB_REPOSITORY and that github-token belongs to this repository.",
        ),
    ):
        repo = gh.get_repo(repository)
    with api_errors(
        f"reading tag {tag}",
        repository,
        (
            "github-tag-missing",
            f"Tag '{tag}' is not in {repository} on GitHub (HTTP 404).",
            f"Push the tag first: git push origin {tag}",
        ),
    ):
        ref = repo.get_git_ref(f"tags/{tag}")
        target = ref.object.sha
        if ref.object.type == "tag":  # an annotated tag points at a tag object
            target = repo.get_git_tag(target).object.sha
    _check_tag_target(tag, target, built, started_for)
    body, source = find_notes(workdir, notes_file, version, root=root)
    # Asking GitHub for generated notes needs contents: write, so it also proves the
    # token may write releases, without creating anything.
    with api_errors("creating releases", repository):
        generated = repo.generate_release_notes(tag)
    if not body:
        body, source = clip(generated.body or ""), "generated by GitHub"
    with api_errors(f"listing the releases of {repository}", repository):
        releases = _list_releases(repo)
    existing = _pick(_releases_for(releases, tag))
    highest = _highest_released(releases, tag_prefix)
    ceiling = max((v for v in (previous, highest) if v is not None), default=None)
    return ReleasePlan(
        repository=repository,
        tag=tag,
        body=body,
        notes_source=source,
        prerelease=version.is_prerelease,
        make_latest=not version.is_prerelease and (ceiling is None or version >= ceiling),
        existing="" if existing is None else ("draft" if existing.draft else "published"),
    )


def _check_tag_target(tag: str, target: str, built: str, started_for: str) -> None:
    """The tag on GitHub names the commit that is released: the one built, else (no
    checkout) the one the run was started for."""
    commit = built or started_for
    if not commit or target == commit:
        return
    if commit == started_for:
        raise GitHubError(
            "github-tag-moved",
            f"Tag '{tag}' points at commit {target[:12]} on GitHub, but this workflow run "
            f"was started for commit {commit[:12]}"
            + (", which it built" if built else "")
            + ": the tag moved after the run started.",
            "Run the workflow again for the tag as it is now (or move the tag back, if it "
            "was moved by mistake).",
        )
    raise GitHubError(
        "github-tag-not-built",
        f"Tag '{tag}' points at commit {target[:12]} on GitHub, but this run built commit "
        f"{built[:12]} (the checked-out HEAD).",
        f"Check out the tag before releasing it (in a workflow, actions/checkout with "
        f"'ref: {tag}'; locally, git fetch --tags, then git checkout {tag}); if the tag is "
        "on the wrong commit, move it on GitHub to the commit to release.",
    )


def _asset_sha256(gh_asset: GitReleaseAsset, session: requests.Session, token: str) -> str:
    digest = gh_asset.raw_data.get("digest") or ""
    if digest.startswith("sha256:"):
        return str(digest.removeprefix("sha256:"))
    # Older servers give no digest: download the asset and hash it.
    response = session.get(
        gh_asset.url,
        headers={"Accept": "application/octet-stream", "Authorization": f"Bearer {token}"},
    )
    response.raise_for_status()
    return hashlib.sha256(response.content).hexdigest()  # small: dists and SHA256SUMS


def _retry_post(
    doing: str,
    repository: str,
    attempt: Callable[[], T],
    recover: Callable[[], T | None],
    tries: int = 3,
) -> T:
    """A POST that failed with 5xx may still have taken effect: look before retrying."""
    for n in range(tries):
        try:
            with api_errors(doing, repository):
                return attempt()
        except GitHubError as exc:
            if not exc.transient or n + 1 == tries:
                raise
            with api_errors(doing, repository):
                found = recover()
            if found is not None:
                return found
    raise AssertionError("unreachable")


def publish(
    gh: Client,
    plan: ReleasePlan,
    assets: Sequence[Asset],
    *,
    token: str,
    session: requests.Session,
    result: ReleaseResult,
) -> None:
    """Create or finish the release; attach what is missing; never replace an asset."""
    name = plan.repository
    with api_errors(f"reading {name}", name):
        repo = gh.get_repo(name)
        release = _pick(_releases_for(_list_releases(repo), plan.tag))

    if release is None:
        release = _retry_post(
            f"creating the release for {plan.tag}",
            name,
            lambda: repo.create_git_release(
                tag=plan.tag,
                name=plan.tag,
                message=plan.body,
                draft=True,
                prerelease=plan.prerelease,
                make_latest="false",
            ),
            lambda: _pick([r for r in _releases_for(_list_releases(repo), plan.tag) if r.draft]),
        )
    result.id, result.url = release.id, release.html_url

    with api_errors(f"listing the assets of release {plan.tag}", name):
        present = {a.name: a for a in release.get_assets()}
    immutable = bool(release.raw_data.get("immutable")) and not release.draft
    missing = []
    for asset in assets:
        there = present.get(asset.name)
        if there is None:
            missing.append(asset)
            continue
        if asset.kept:
            continue
        with api_errors(f"reading asset {asset.name}", name):
            same = _asset_sha256(there, session, token) == asset.sha256
        if not same:
            raise GitHubError(
                "github-asset-differs",
                f"Release {plan.tag} already has an asset {asset.name} with other "
                "content; it is not replaced.",
                "Delete that asset on GitHub if it is wrong, then re-run; or leave it, "
                "if it is the file that was published.",
            )
    if missing and immutable:
        raise GitHubError(
            "github-release-immutable",
            f"Release {plan.tag} is published and immutable, and lacks: "
            + ", ".join(a.name for a in missing)
            + ".",
            "Immutable releases take assets only while they are drafts. The index upload "
            "is done; attach the files some other way or release a new version.",
        )
    for asset in missing:
        _attach(release, asset, plan.tag, name)

    if release.draft:
        with api_errors(f"publishing release {plan.tag}", name):
            release = release.update_release(
                name=release.name or plan.tag,
                message=release.body or plan.body,
                draft=False,
                prerelease=plan.prerelease,
                make_latest="true" if plan.make_latest else "false",
            )
    result.id, result.url = release.id, release.html_url


def _attach(release: GitRelease, asset: Asset, tag: str, repository: str) -> None:
    def upload() -> GitReleaseAsset:
        # The upload endpoint is described for application/octet-stream only.
        return release.upload_asset(
            str(asset.path), name=asset.name, content_type="application/octet-stream"
        )

    def recover() -> GitReleaseAsset | None:
        # A half-finished upload is left in state "starter": remove it and retry.
        for there in release.get_assets():
            if there.name == asset.name:
                if there.state == "uploaded":
                    return there
                there.delete_asset()
        return None

    attached = _retry_post(f"attaching {asset.name} to release {tag}", repository, upload, recover)
    # Read back what GitHub stored: its digest must be the file's (where GitHub gives one).
    digest = str(attached.raw_data.get("digest") or "")
    if digest.startswith("sha256:") and digest.removeprefix("sha256:") != asset.sha256:
        raise GitHubError(
            "github-asset-digest-mismatch",
            f"GitHub stored {asset.name} on release {tag} with sha256 "
            f"{digest.removeprefix('sha256:')}, but the file's is {asset.sha256}.",
            "Something between this runner and GitHub altered the upload. Delete that "
            "asset on GitHub, then re-run.",
        )


def dist_asset(dist: Dist) -> Asset:
    return Asset(dist.filename, dist.sha256, dist.path)


@contextmanager
def assets_for(dists: Sequence[Asset], extra: Sequence[Asset] = ()) -> Iterator[list[Asset]]:
    """The files to attach: every distribution, any extra files (attestations), and a
    SHA256SUMS file of the distributions.

    SHA256SUMS lists the distributions only: they are the same in every run of a
    release, while an attestation is made only by the run that uploads its file, so a
    re-run's SHA256SUMS is the first run's, and the asset attached then is found equal.
    """
    with tempfile.TemporaryDirectory(prefix="release-sums-") as tmp:
        sums = Path(tmp) / "SHA256SUMS"
        sums.write_text(sha256sums([(a.name, a.sha256) for a in dists]), encoding="utf-8")
        yield [*dists, *extra, Asset("SHA256SUMS", sha256_of(sums), sums)]
