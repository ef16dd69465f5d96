"""The GitHub Release for the tag, through PyGithub.

preflight() runs in the plan, before anything is uploaded, and changes nothing:
the token reaches the repository, the tag is there on the commit this run built, the
token may write releases, and a release already there for the tag takes what this run
will attach (see check_existing). publish() runs after the index confirmed the files: it
creates the release as a draft (or reuses the one there), attaches the files, then
publishes it, so immutable releases work and a re-run finishes what is left.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import tempfile
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import requests
from packaging.version import Version

from .attest import SUFFIX as ATTESTATION
from .dists import Dist, sha256_of, sha256sums
from .errors import GitHubError, InputError
from .http import USER_AGENT, RetryPolicy, TransportError, budget_of, not_retried, transport
from .model import ReleasePlan, ReleaseResult
from .notes import BODY_LIMIT, clip, find_notes
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
# A POST is retried here, not by urllib3 (see client()): attempts in all, and the seconds
# before the second, doubled each time, with jitter.
POST_ATTEMPTS = 3
POST_BACKOFF = 0.5
SUMS = "SHA256SUMS"

# Whose notes a draft holds. A draft this action creates carries its notes followed by
# this HTML comment (GitHub does not render it), which holds the sha256 of the notes
# above it; publishing writes the notes without it. A draft's notes are the action's own
# when they end with the marker and still hash to it: nobody has edited them since, so a
# run may put its own notes in their place. Notes without the marker (a draft someone
# made by hand, or made by another tool) or edited since (the hash differs) were written
# by someone else, and are never published silently. Empty notes, and notes equal to
# this run's, hold nothing that could be lost.
DRAFT_MARKER = "<!-- tag-to-pypi-release draft: notes sha256:{} -->"
_MARKED = re.compile(r"<!-- tag-to-pypi-release draft: notes sha256:([0-9a-f]{64}) -->\s*\Z")


def _normal(text: str) -> str:
    # A body edited in GitHub's web page comes back with CRLF line ends.
    return text.replace("\r\n", "\n").rstrip()


def _notes_sha256(text: str) -> str:
    return hashlib.sha256(_normal(text).encode()).hexdigest()


def draft_body(body: str) -> str:
    """The notes of a draft this action creates: this run's notes and the marker."""
    marker = DRAFT_MARKER.format("0" * 64)
    text = _normal(body)[: BODY_LIMIT - len(marker) - 2].rstrip()
    return f"{text}\n\n{DRAFT_MARKER.format(_notes_sha256(text))}"


def notes_are_ours(found: str | None, body: str) -> bool:
    """Whether a draft's notes may be replaced by ``body``, this run's (see DRAFT_MARKER)."""
    text = _normal(found or "")
    if not text or text == _normal(body):
        return True
    marked = _MARKED.search(text)
    return marked is not None and _notes_sha256(text[: marked.start()]) == marked.group(1)


def _of_file(name: str, files: Collection[str]) -> bool:
    """An attestation of one of ``files`` (it may be carried from the index's
    provenance, as it is, not compared)."""
    return name.endswith(ATTESTATION) and name.removesuffix(ATTESTATION) in files


REPLACE_OR_NEW_VERSION = (
    "If it is wrong, delete it on GitHub and re-run (on a draft release, "
    "{replace-draft=true} replaces it); a published immutable release cannot change: "
    "release a new version instead."
)


def asset_differs(tag: str, name: str, theirs: str, ours: str) -> GitHubError:
    return GitHubError(
        "github-asset-differs",
        f"Release {tag} already has an asset {name} with sha256 {theirs}, but the file this "
        f"run attaches has sha256 {ours}; it is not replaced.",
        "GitHub's asset is not the file this release publishes. " + REPLACE_OR_NEW_VERSION,
    )


def attestation_present(tag: str, name: str) -> GitHubError:
    return GitHubError(
        "github-attestation-present",
        f"Release {tag} already has an asset {name}, but this run uploads "
        f"{name.removesuffix(ATTESTATION)} and signs a new attestation for it, which "
        "cannot be the same; it is not replaced.",
        "That asset is not the attestation of this run's upload. " + REPLACE_OR_NEW_VERSION,
    )


def release_immutable(tag: str, missing: Sequence[str]) -> GitHubError:
    return GitHubError(
        "github-release-immutable",
        f"Release {tag} is published and immutable, and lacks: {', '.join(missing)}.",
        "An immutable release takes no assets once it is published. Release a new version "
        "(a new tag); or, to publish this version to the index without its GitHub Release, "
        "set {github-release=false}.",
    )


def draft_foreign(tag: str, url: str, assets: Sequence[str], notes: bool) -> GitHubError:
    held = []
    if assets:
        held.append(f"assets this run does not make ({', '.join(assets)})")
    if notes:
        held.append("release notes this run did not write")
    return GitHubError(
        "github-draft-foreign",
        f"The draft release for {tag} holds {' and '.join(held)}; it is not published with them.",
        f"Review the draft ({url}): delete it, or what this run does not make, and re-run; "
        "or set {replace-draft=true} to replace its assets and notes with this run's.",
    )


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
def api_errors(doing: str, repository: str, not_found: GitHubError | None = None) -> Iterator[None]:
    """Turn what PyGithub raises into GitHubErrors that say what to do; ``not_found``
    is the error for a 404, when the caller knows what is missing."""
    from github import GithubException

    try:
        with transport():
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
            raise not_found from None
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
    except TransportError as exc:
        raise GitHubError(
            "github-unreachable",
            f"GitHub did not answer while {doing} ({exc}), even after retries.",
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
    files: Sequence[tuple[str, str]],
    signs: Collection[str] = (),
    replace_draft: bool = False,
    session: requests.Session,
    token: str,
) -> ReleasePlan:
    """Every check that can be made on GitHub before an upload; creates nothing.

    ``built``: the commit this run built (the checkout's HEAD; "" without a checkout).
    ``started_for``: GITHUB_SHA, when the tag is the one whose push (or release) started
    the run, so that GITHUB_SHA is the commit the tag named then; "" otherwise (a tag
    given as an input, where GITHUB_SHA is the head of some branch).
    ``files``: each distribution's name and the sha256 of the file the release will
    carry: the index's (``Step.expected_sha256``), which is this run's build unless the
    index has other bytes under that name.
    ``signs``: the distributions this run will upload with a new attestation.
    ``replace_draft``: a leftover draft's assets and notes that this run did not make
    are replaced when it publishes, instead of refused now.
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
        GitHubError(
            "github-repository-not-found",
            f"Repository {repository} was not found, or the token cannot see it (HTTP 404).",
            "Check GITHUB_REPOSITORY and that github-token belongs to this repository.",
        ),
    ):
        repo = gh.get_repo(repository)
    with api_errors(
        f"reading tag {tag}",
        repository,
        GitHubError(
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
    if existing is not None:
        check_existing(
            existing,
            files,
            signs,
            body,
            replace_draft=replace_draft,
            repository=repository,
            session=session,
            token=token,
        )
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
        replace_draft=replace_draft,
    )


def check_existing(
    release: GitRelease,
    files: Sequence[tuple[str, str]],
    signs: Collection[str],
    body: str,
    *,
    replace_draft: bool,
    repository: str,
    session: requests.Session,
    token: str,
) -> None:
    """Refuse now what publish() would refuse about the release already there for the
    tag, before anything is uploaded: publish() checks the same again with the files
    it attaches (its checks are the last word; these see the same state the same way).

    - An asset of a name this run attaches (a distribution, SHA256SUMS) with another
      digest is never replaced, nor an attestation of a file this run signs anew
      (a new signature cannot equal it): unless the release is a draft and
      ``replace_draft``.
    - A published immutable release takes no asset: it must have every distribution
      and SHA256SUMS already. Attestations it lacks are left out, not refused: each is
      on the index too, as the file's provenance.
    - A draft holding assets this run does not make, or notes it did not write
      (``notes_are_ours``), is not published with them: unless ``replace_draft``.
      An attestation of one of this run's files counts as the run's own: it may be
      carried from the index's provenance as it is.
    """
    tag = release.tag_name
    if release.draft and replace_draft:
        return  # everything on it that is not this run's is replaced when it publishes
    wanted = dict(files)
    wanted[SUMS] = hashlib.sha256(sha256sums(list(files)).encode()).hexdigest()
    with api_errors(f"listing the assets of release {tag}", repository):
        present = {a.name: a for a in release.get_assets()}
    for name, sha256 in wanted.items():
        there = present.get(name)
        if there is None:
            continue
        with api_errors(f"reading asset {name}", repository):
            theirs = _asset_sha256(there, session, token)
        if theirs != sha256:
            raise asset_differs(tag, name, theirs, sha256)
    for file in signs:
        if file + ATTESTATION in present:
            raise attestation_present(tag, file + ATTESTATION)
    if not release.draft:
        missing = [name for name in wanted if name not in present]
        if missing and release.raw_data.get("immutable"):
            raise release_immutable(tag, missing)
        return
    foreign = [n for n in present if n not in wanted and not _of_file(n, dict(files))]
    notes = not notes_are_ours(release.body, body)
    if foreign or notes:
        raise draft_foreign(tag, release.html_url, sorted(foreign), notes)


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
    """The asset's sha256: GitHub's ``digest`` ("sha256:<hex>")."""
    digest = gh_asset.raw_data.get("digest") or ""
    if digest.startswith("sha256:"):
        return str(digest.removeprefix("sha256:"))
    # Older servers (GitHub Enterprise Server) give no digest: download the asset and
    # hash it as it comes, in bounded memory (a wheel may be hundreds of MiB).
    with session.get(
        gh_asset.url,
        headers={"Accept": "application/octet-stream", "Authorization": f"Bearer {token}"},
        stream=True,
    ) as response:
        response.raise_for_status()
        sha = hashlib.sha256()
        for chunk in response.iter_content(1 << 16):
            sha.update(chunk)
    return sha.hexdigest()


def _retry_post(
    doing: str,
    repository: str,
    attempt: Callable[[], T],
    recover: Callable[[], T | None],
    policy: RetryPolicy,
) -> T:
    """A POST that failed with 5xx may still have taken effect: look before retrying."""
    failures = 0
    while True:
        try:
            with api_errors(doing, repository):
                return attempt()
        except GitHubError as exc:
            if not exc.transient:
                raise
            failures += 1
            decided = policy.pause(failures)
            if not decided.retry:
                if not decided.why:
                    raise
                message = exc.message.removesuffix(".") + not_retried(decided.why) + "."
                raise GitHubError(exc.code, message, exc.hint, transient=True) from None
        with api_errors(doing, repository):
            found = recover()
        if found is not None:
            return found


def post_policy(session: requests.Session) -> RetryPolicy:
    """A POST's (creating the release, attaching an asset): POST_ATTEMPTS, POST_BACKOFF
    doubling with jitter, every wait out of the run's budget."""
    return RetryPolicy(attempts=POST_ATTEMPTS, backoff=POST_BACKOFF, budget=budget_of(session))


def publish(
    gh: Client,
    plan: ReleasePlan,
    assets: Sequence[Asset],
    *,
    token: str,
    session: requests.Session,
    result: ReleaseResult,
) -> None:
    """Create or finish the release; attach what is missing; never replace an asset,
    except on a draft with ``plan.replace_draft``. Refuses what check_existing() does."""
    name = plan.repository
    with api_errors(f"reading {name}", name):
        repo = gh.get_repo(name)
        release = _pick(_releases_for(_list_releases(repo), plan.tag))

    policy = post_policy(session)
    if release is None:
        release = _retry_post(
            f"creating the release for {plan.tag}",
            name,
            lambda: repo.create_git_release(
                tag=plan.tag,
                name=plan.tag,
                message=draft_body(plan.body),
                draft=True,
                prerelease=plan.prerelease,
                make_latest="false",
            ),
            lambda: _pick([r for r in _releases_for(_list_releases(repo), plan.tag) if r.draft]),
            policy,
        )
    result.id, result.url = release.id, release.html_url

    with api_errors(f"listing the assets of release {plan.tag}", name):
        present = {a.name: a for a in release.get_assets()}
    replace = release.draft and plan.replace_draft
    ours = {a.name for a in assets}
    dists = {a.name for a in assets if a.name != SUMS and not a.name.endswith(ATTESTATION)}
    # Not this run's: on a draft, refused, or with replace-draft deleted (see
    # check_existing); an attestation of one of its files counts as its own unless replaced.
    stale = [n for n in present if n not in ours and (replace or not _of_file(n, dists))]
    missing = []
    for asset in assets:
        there = present.get(asset.name)
        if there is None:
            missing.append(asset)
            continue
        if asset.kept and not replace:
            continue
        with api_errors(f"reading asset {asset.name}", name):
            theirs = _asset_sha256(there, session, token)
        if theirs == asset.sha256:
            continue
        if replace:  # a kept attestation too: the draft's copy is not known to be it
            stale.append(asset.name)
            missing.append(asset)
        elif asset.name.endswith(ATTESTATION):
            raise attestation_present(plan.tag, asset.name)
        else:
            raise asset_differs(plan.tag, asset.name, theirs, asset.sha256)
    if release.draft and not replace:
        notes = not notes_are_ours(release.body, plan.body)
        if stale or notes:
            raise draft_foreign(plan.tag, release.html_url, sorted(stale), notes)
    if not release.draft and release.raw_data.get("immutable"):
        # Attestations it lacks are left out: each is on the index as provenance.
        missing = [a for a in missing if not a.name.endswith(ATTESTATION)]
        if missing:
            raise release_immutable(plan.tag, [a.name for a in missing])
    if replace:
        for stale_name in stale:
            with api_errors(f"deleting asset {stale_name} of draft release {plan.tag}", name):
                present[stale_name].delete_asset()
    for asset in missing:
        _attach(release, asset, plan.tag, name, policy)

    if release.draft:
        with api_errors(f"publishing release {plan.tag}", name):
            release = release.update_release(
                name=plan.tag if replace else release.name or plan.tag,
                # This run's notes: a draft's own were this action's (its marker goes),
                # or are replaced with replace-draft.
                message=plan.body,
                draft=False,
                prerelease=plan.prerelease,
                make_latest="true" if plan.make_latest else "false",
            )
    result.id, result.url = release.id, release.html_url


def _attach(
    release: GitRelease, asset: Asset, tag: str, repository: str, policy: RetryPolicy
) -> None:
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

    attached = _retry_post(
        f"attaching {asset.name} to release {tag}", repository, upload, recover, policy
    )
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
