"""plan() checks everything it can; publish() changes the world; run() does both and
has report() tell what happened.

plan() is a list of named steps, each a function below it. Nothing in plan() is
irreversible: no upload, no minted token, no signature, no GitHub write.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import shutil
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from packaging.version import Version

from .build import HeadStart, build, copy_out
from .dists import Dist, find_files, read_dists, sha256_of
from .errors import DistributionError, InputError, PackageIndexError
from .gha import Console
from .gitrepo import Checkout, inspect
from .inputs import render
from .model import Action, Plan, ReleasePlan, Result, Step
from .paths import confine
from .proc import Cancel
from .progress import Watchdog
from .report import report
from .settings import Settings, sanitize_url
from .simple import IndexFile, IndexProject
from .verify import check, twine_check
from .versions import Gate, gate, parse_tag

_T = TypeVar("_T")
_R = TypeVar("_R")

if TYPE_CHECKING:
    import requests
    from sigstore.models import ClientTrustConfig

    from . import attest, github
    from .credentials import CredentialSource
    from .trial import Prepared, TrialReport


@dataclasses.dataclass
class Context:
    """What the steps of one run share: its settings, console, HTTP session, and the
    private folder the build writes into."""

    settings: Settings
    console: Console
    workdir: Path  # private: never packages-dir, so nothing stale is ever published
    _session: requests.Session | None = None
    _github: github.Client | None = None
    head: HeadStart | None = None  # the build environment, begun at start-up
    trial_env: Prepared | None = None  # the install trial's, begun beside the build
    # (step, seconds), in order: the summary shows where the time went.
    timings: list[tuple[str, float]] = dataclasses.field(default_factory=list)

    @property
    def session(self) -> requests.Session:
        """The run's one HTTP session, made on first use (by the index read, while the
        build already runs: importing requests takes a tenth of a second)."""
        if self._session is None:
            from .http import make_session

            self._session = make_session()
        return self._session

    def github(self) -> github.Client:
        """The one GitHub client of the run (made on first use: PyGithub is heavy)."""
        if self._github is None:
            from . import github

            s = self.settings
            self._github = github.client(s.github_token, s.github_api_url, s.github_write_interval)
        return self._github


# --- plan: every check, nothing irreversible ------------------------------------------


def plan(ctx: Context) -> Plan:
    """Every check that can be made before an upload."""
    s = ctx.settings
    version = parse_tag(s.tag, s.tag_prefix)
    name = project_name(s.working_directory)
    checkout = check_checkout(ctx)
    root = workspace_root(ctx, checkout)
    confine(s.packages_dir, root, "packages-dir")
    with timed(ctx, "build" if s.build else "files"):
        dists, early = alongside(
            lambda cancel: make_dists(ctx, checkout, cancel, pretend(ctx, checkout, name, version)),
            lambda: beside_the_build(ctx, name, version),
        )
    with timed(ctx, "checks"):
        name, verdict, steps, checked = check_files(ctx, dists, name, version, early)
    # The install trial runs while GitHub is asked what it has; its log waits for the
    # preflight's, so that the two groups do not interleave.
    beside = "install trial and GitHub check" if s.github_release else "install trial"
    with timed(ctx, beside), ctx.console.deferred() as held:
        tried, release = alongside(
            lambda cancel: try_install(ctx, steps, held, cancel),
            lambda: (
                github_preflight(ctx, version, verdict, root, checkout, steps)
                if s.github_release
                else None
            ),
        )
    return Plan(
        project=name,
        version=version,
        tag=s.tag,
        previous=verdict.previous,
        resume=verdict.resume,
        backport=verdict.backport,
        steps=steps,
        release=release,
        rules_checked=checked,
        pypi_policy=s.pypi_policy,
        trial=tried,
    )


def check_files(
    ctx: Context,
    dists: list[Dist],
    name: str | None,
    version: Version,
    early: tuple[IndexProject, Gate] | None,
) -> tuple[str, Gate, list[Step], int]:
    """The files against the tag, the metadata rules, the index's upload rules and what
    the index has: (name, the gate's verdict, the steps, how many files the upload
    rules checked)."""
    from . import rules  # ~0.1 s of imports: preloaded beside the build

    s = ctx.settings
    name = name or name_from_files(dists)
    verify_dists(ctx, dists, name, version)
    project, verdict = early or read_index(ctx, name, version)
    # The index's upload rules, on every file at once, before any credential: a release
    # the index would refuse in part is refused whole, before its first byte.
    closed = rules.check(
        dists,
        project,
        pypi_policy=s.pypi_policy,
        max_file_size=s.max_file_size,
        now=datetime.now(UTC),
        skip_existing=s.skip_existing,
    )
    for violation in closed:
        ctx.console.warning(
            f"{violation.filename}: {violation.reason} Left out because skip-existing is true.",
            title="File skipped",
        )
    checked = len(dists)
    dists = [d for d in dists if d.filename not in {v.filename for v in closed}]
    from .upload import decide  # here, not above: requests is imported by now

    steps = decide(
        dists,
        project,
        version,
        skip_existing=s.skip_existing,
        session=ctx.session,
        console=ctx.console,
    )
    return name, verdict, steps, checked


@contextlib.contextmanager
def timed(ctx: Context, step: str) -> Iterator[None]:
    """How long ``step`` took, kept for the summary (a failed step too)."""
    start = time.monotonic()
    try:
        yield
    finally:
        ctx.timings.append((step, time.monotonic() - start))


def try_install(
    ctx: Context, steps: list[Step], console: Console, cancel: Cancel
) -> TrialReport | None:
    """The files to upload, installed and imported in a clean environment (trial.py);
    None when test-install is off or nothing is to be uploaded (a published file can
    no longer be mended)."""
    s = ctx.settings
    if not s.inputs.get("test_install", True):
        console.notice(
            render(
                "The install trial is off ({test-install=false}): the files were not "
                "installed and imported before the upload.",
                s.front,
            ),
            title="No install trial",
        )
        return None
    dists = [step.dist for step in steps if step.action is Action.UPLOAD]
    if not dists:
        return None
    from .trial import trial

    return trial(
        dists,
        project_dir=s.working_directory,
        env=s.child_env,
        console=console,
        cancel=cancel,
        timeout=s.test_timeout,
        test_command=str(s.inputs.get("test_command", "")) or None,
        prepared=ctx.trial_env,
    )


def project_name(workdir: Path) -> str | None:
    """The project's name from pyproject.toml, or None when only the build knows it."""
    path = workdir / "pyproject.toml"
    if not path.is_file():
        if (workdir / "setup.py").is_file():
            return None
        raise InputError(
            "no-pyproject",
            f"No pyproject.toml in {{working-directory}} '{workdir}'.",
            "Set {working-directory} to the folder of the project to release.",
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(
            "pyproject-invalid", f"{path} is not valid TOML: {exc}.", "Fix the file."
        ) from None
    name = data.get("project", {}).get("name")
    return name if isinstance(name, str) and name else None


def check_checkout(ctx: Context) -> Checkout:
    s = ctx.settings
    return inspect(
        s.working_directory,
        s.tag,
        env=s.child_env,
        dry_run=s.dry_run,
        allow_dirty=s.allow_dirty,
        # In Actions a tag not fetched is checked against the commit built by the
        # GitHub preflight; without a GitHub Release, nothing would check it.
        strict_tag=not s.actions or not s.github_release,
        packages_dir=s.packages_dir,
        console=ctx.console,
    )


def workspace_root(ctx: Context, checkout: Checkout) -> Path:
    """The folder every file the run reads must stay in: the runner's workspace, else
    the repository, else the project folder."""
    s = ctx.settings
    return s.workspace or checkout.root or s.working_directory.resolve()


def read_index(ctx: Context, name: str, version: Version) -> tuple[IndexProject, Gate]:
    """What the index has, and the version gate's verdict on it."""
    from . import index as idx

    project = idx.read_project(ctx.session, ctx.settings.index_url, name)
    return project, judge(ctx, project, version)


def beside_the_build(
    ctx: Context, name: str | None, version: Version
) -> tuple[IndexProject, Gate] | None:
    """What this thread does while the build runs: read the index (when the name is
    known before the build), begin the install trial's environment, then import what
    the steps after the build will."""
    early = read_index(ctx, name, version) if name else None
    if ctx.settings.build:
        if ctx.settings.inputs.get("test_install", True):
            from .trial import prepare

            ctx.trial_env = prepare(
                ctx.settings.working_directory, ctx.settings.child_env, ctx.console
            )
        preload(ctx.settings)
    return early


def preload(s: Settings) -> None:
    """Import the modules the steps after the build import. This thread waits for the
    build anyway, and each import done here is one fewer between the last hook and the
    upload: Sigstore's client takes ~0.25 s, PyGithub up to ~0.2 s, the metadata parser
    and twine's file reader ~10 ms."""
    names = ["packaging.metadata", "twine.package", "release.upload", "release.rules"]
    if s.inputs.get("test_install", True):
        names.append("release.trial")
    if s.github_release:
        names.append("github")
    if s.attestations and s.trusted_publishing and not s.dry_run:
        names += ["pypi_attestations", "sigstore.sign", "sigstore.verify"]
    for name in names:
        importlib.import_module(name)


def judge(ctx: Context, project: IndexProject, version: Version) -> Gate:
    """Whether the index takes this version: the project's status (PEP 792), then the
    version gate."""
    from .index import check_status

    s = ctx.settings
    check_status(project, s.index_url)
    return gate(version, project.known(), s.tag, allow_backport=s.allow_backport)


def alongside(background: Callable[[Cancel], _T], foreground: Callable[[], _R]) -> tuple[_T, _R]:
    """Run ``background`` (the build) in a thread while ``foreground`` (the index read)
    runs here; both results.

    The index's answer decides whether the build is wanted at all: when the foreground
    fails, the background is called off at once (its running child killed), and the
    foreground's error is the one raised, whatever the build did meanwhile.
    """
    cancel = Cancel()
    with ThreadPoolExecutor(1, thread_name_prefix="build") as pool:
        work = pool.submit(background, cancel)
        try:
            got = foreground()
            # Waiting here too: a Ctrl-C while the build still runs calls it off at
            # once, instead of leaving the pool to wait for the whole build.
            return work.result(), got
        except BaseException:
            cancel.cancel()
            wait([work])  # stopped, its files never used; its error is not the story
            raise


def pretend(ctx: Context, checkout: Checkout, name: str | None, version: Version) -> dict[str, str]:
    """What tells a VCS-versioned build the tag's version, on one path only: a dry run of
    a tag not made yet, which checks HEAD "as if tagged" (a tag made on another commit
    is not pretended: HEAD is not what it names). setuptools-scm (and hatch-vcs, which uses it) read
    SETUPTOOLS_SCM_PRETEND_VERSION_FOR_<NAME>, pdm-backend PDM_BUILD_SCM_VERSION; a
    project whose version is written down ignores them. A release never gets them: its
    version comes from the tag on the commit built."""
    if not ctx.settings.dry_run or checkout.root is None or checkout.tag_commit:
        return {}
    from packaging.utils import canonicalize_name  # packaging.tags: imported after the start

    found = {}
    if name:
        key = canonicalize_name(name).replace("-", "_").upper()
        found[f"SETUPTOOLS_SCM_PRETEND_VERSION_FOR_{key}"] = str(version)
    # hatch-vcs asks setuptools-scm without the project's name, so only the unscoped
    # variable reaches it (a setup.py alone has no name before the build either).
    found["SETUPTOOLS_SCM_PRETEND_VERSION"] = str(version)
    found["PDM_BUILD_SCM_VERSION"] = str(version)
    ctx.console.line(
        f"The build is told version {version} for a VCS-versioned project "
        f"({', '.join(found)}): this dry run checks HEAD as if tagged {ctx.settings.tag}."
    )
    return found


def make_dists(
    ctx: Context,
    checkout: Checkout,
    cancel: Cancel | None = None,
    pretended: Mapping[str, str] | None = None,
) -> list[Dist]:
    """Build into the private folder, or take the files in packages-dir as they are."""
    s = ctx.settings
    if s.build:
        with set_aside(ctx, ctx.workdir / ".aside"):
            build(
                s.working_directory,
                ctx.workdir,
                source_date_epoch=checkout.commit_time,
                env={**s.child_env, **(pretended or {})},
                console=ctx.console,
                cancel=cancel,
                head=ctx.head,
            )
        paths, _ = find_files(ctx.workdir)
        copy_out(paths, s.packages_dir)
    else:
        paths, others = find_files(s.packages_dir)
        if others:
            raise DistributionError(
                "stray-files",
                f"{{packages-dir}} '{s.packages_dir}' holds files that are not "
                "distributions: " + ", ".join(p.name for p in others) + ".",
                "Only wheels (.whl) and sdists (.tar.gz) are published; remove the others.",
            )
    return read_dists(paths)


@contextlib.contextmanager
def set_aside(ctx: Context, aside: Path) -> Iterator[None]:
    """An earlier run's files in packages-dir (a dry run's, in the same folder), moved
    out of the project while it builds and put back after: a backend that puts in the
    sdist every file git does not ignore (hatchling, scikit-build-core, setuptools-scm)
    would otherwise publish them inside it when the project's .gitignore lacks dist/."""
    s = ctx.settings
    inside = s.packages_dir.resolve().is_relative_to(s.working_directory.resolve())
    paths = find_files(s.packages_dir)[0] if inside else []
    if not paths:
        yield
        return
    aside.mkdir(parents=True, exist_ok=True)
    moved: list[Path] = []
    try:
        for path in paths:
            shutil.move(path, aside / path.name)
            moved.append(path)
        ctx.console.line(
            f"Set aside while the project builds, so that no sdist takes them in: "
            f"{', '.join(p.name for p in moved)} (in {s.packages_dir})"
        )
        yield
    finally:
        for path in moved:
            shutil.move(aside / path.name, path)


def name_from_files(dists: list[Dist]) -> str:
    names = sorted({d.name for d in dists})
    if len(names) != 1:
        raise DistributionError(
            "project-name-unknown",
            "Cannot tell the project's name: pyproject.toml has no [project] name "
            f"and the files name {names or 'nothing'}.",
            "Add a [project] table with the name to pyproject.toml.",
        )
    return names[0]


def verify_dists(ctx: Context, dists: list[Dist], name: str, version: Version) -> None:
    s = ctx.settings
    check(
        dists,
        project=name,
        version=version,
        tag=s.tag,
        built=s.build,
        packages_dir=s.packages_dir,
        console=ctx.console,
    )
    if s.verify_metadata:
        twine_check(dists, console=ctx.console, strict=bool(s.inputs["strict_metadata"]))


def github_preflight(
    ctx: Context, version: Version, verdict: Gate, root: Path, checkout: Checkout, steps: list[Step]
) -> ReleasePlan:
    from . import github

    s = ctx.settings
    # GITHUB_SHA is the tag's commit only when the tag is the pushed one (GITHUB_REF);
    # with the tag input (workflow_dispatch) it is the head of whatever branch ran.
    started_for = "" if s.inputs.get("tag") else s.github_sha
    with ctx.console.group(f"Check GitHub: {s.github_repository}, tag {s.tag}"):
        return github.preflight(
            ctx.github(),
            repository=s.github_repository,
            tag=s.tag,
            tag_prefix=s.tag_prefix,
            built=checkout.head,
            started_for=started_for,
            version=version,
            previous=verdict.previous,
            workdir=s.working_directory,
            notes_file=s.release_notes,
            root=root,
            # What the release will carry (see github_release): each file as the index
            # will serve it, and a new attestation for each file this run uploads.
            files=[(step.dist.filename, step.expected_sha256) for step in steps],
            signs=[step.dist.filename for step in steps if step.action is Action.UPLOAD]
            if s.attestations and s.trusted_publishing
            else [],
            replace_draft=bool(s.inputs["replace_draft"]),
            session=ctx.session,
            token=s.github_token,
        )


# --- publish: the only code that changes the world; safe to run again ------------------


def publish(ctx: Context, plan: Plan, result: Result) -> None:
    """Upload what is missing, confirm the index serves it all, then the GitHub Release."""
    from . import index as idx
    from .upload import Uploader, confirm

    s = ctx.settings

    def fresh() -> IndexProject:
        return idx.read_project(ctx.session, s.index_url, plan.project, fresh=True)

    with timed(ctx, "credential"):
        plan = result.plan = regate(ctx, plan, fresh())
        to_upload = [step for step in plan.steps if step.action is Action.UPLOAD]
        source = upload_credential(ctx, plan) if to_upload else None
        result.credential = s.credential_kind if source is not None else ""
    with timed(ctx, "attestations"):
        signed = attest_files(ctx, [step.dist for step in to_upload], source, result)
    if signed is not None:
        # Signing took a while (Sigstore, the transparency log): the index may have
        # moved meanwhile, so gate again right before the first upload byte.
        plan = result.plan = regate(ctx, plan, fresh())
        to_upload = [step for step in plan.steps if step.action is Action.UPLOAD]

    minting = threading.Lock()  # uploads run side by side; a token is minted once

    def current(valid_for: float = 0.0) -> tuple[str, str]:
        if source is None:
            return "", ""
        # A minted token is minted again near its expiry, or when the upload may outlast it.
        with minting:
            cred = source.credential(valid_for)
        return cred.user, cred.password

    uploader = Uploader(
        repository_url=s.repository_url,
        credential=current,
        session=ctx.session,
        read_index=fresh,
        console=ctx.console,
    )
    with (
        timed(ctx, "upload"),
        ctx.console.group(f"Upload {len(to_upload)} file(s) to {sanitize_url(s.repository_url)}"),
    ):
        for step in plan.steps:
            if step.action is not Action.UPLOAD:
                ctx.console.line(f"{step.dist.filename}: already on the index, not uploaded")

        def uploaded(dist: Dist) -> None:
            ctx.console.line(f"{dist.filename}: uploaded")
            result.uploaded.append(dist.filename)

        files = []
        for step in to_upload:
            attestation = signed.files.get(step.dist.filename) if signed else None
            files.append((step.dist, [attestation] if attestation else []))
        uploader.upload_all(files, uploaded)
    with timed(ctx, "confirm"):
        confirm(plan.steps, fresh, ctx.session)
    result.confirmed = True
    served: list[IndexProject] = []

    def listing() -> IndexProject:
        """The index's page after the upload, read once when first needed."""
        if not served:
            with idx.after_upload():  # its errors must not say nothing was uploaded
                served.append(fresh())
        return served[0]

    if signed is not None:
        with timed(ctx, "provenance"):
            confirm_provenance(ctx, plan, listing(), signed, result)
    if plan.release is not None:
        with timed(ctx, "GitHub Release"):
            github_release(ctx, plan, result, listing, signed)


def regate(ctx: Context, plan: Plan, project: IndexProject) -> Plan:
    """The index may have moved since the plan read it (a concurrent run, a stale cached
    page): gate again on a fresh read, and decide again what to upload."""
    s = ctx.settings
    verdict = judge(ctx, project, plan.version)
    steps = plan.steps
    if not _still_decided(steps, project.files_for(plan.version), s.skip_existing):
        from .upload import decide

        steps = decide(
            [step.dist for step in steps],
            project,
            plan.version,
            skip_existing=s.skip_existing,
            session=ctx.session,
            console=ctx.console,
        )
    return dataclasses.replace(
        plan,
        steps=steps,
        resume=verdict.resume,
        previous=verdict.previous,
        backport=verdict.backport,
    )


def _still_decided(steps: list[Step], on_index: dict[str, IndexFile], skip_existing: bool) -> bool:
    """Whether decide() would make these steps again: the index lists this version's
    files as when they were decided (no file more, and each with the same sha256).
    Saves downloading again a file whose bytes differ from this run's."""
    ours = {step.dist.filename: step for step in steps}
    if not skip_existing and not on_index.keys() <= ours.keys():
        return False
    for name, step in ours.items():
        entry = on_index.get(name)
        if step.action is Action.UPLOAD:
            if entry is not None:
                return False
        elif entry is None or entry.sha256 is None or entry.sha256 != step.expected_sha256:
            return False
    return True


def upload_credential(ctx: Context, plan: Plan) -> CredentialSource:
    """The upload credential, asked for only now that the plan is complete; a minted
    token is minted now, so a refusal stops the run before anything is signed or sent."""
    from .credentials import upload_credentials

    s = ctx.settings
    source = upload_credentials(
        user=s.user,
        password=s.password,
        repository_url=s.repository_url,
        request_url=s.oidc_request_url,
        request_token=s.oidc_request_token,
        project=plan.project,
        event_name=s.event_name,
        fork_pr=s.event_name == "pull_request",
        session=ctx.session,
        console=ctx.console,
    )
    source.credential()
    return source


@dataclasses.dataclass(frozen=True)
class Signed:
    """Attestations made by this run, and what they were verified against."""

    files: dict[str, Path]  # distribution file name -> its attestation
    publisher: attest.Publisher
    config: ClientTrustConfig


def attest_files(
    ctx: Context, dists: list[Dist], source: CredentialSource | None, result: Result
) -> Signed | None:
    """Sign a PEP 740 publish attestation for each file to upload, and verify it against
    the identity the index will expect, before anything is uploaded.

    Only with trusted publishing: an index refuses attestations sent with an API token.
    The attestations go to the run's private folder, never to packages-dir.
    """
    from .credentials import TrustedPublishing, unverified_claims, workflow_file

    s = ctx.settings
    if not dists or not s.attestations:
        return None
    if not isinstance(source, TrustedPublishing):
        ctx.console.notice(
            "Attestations are signed only with trusted publishing (an index refuses them "
            "with an API token): skipped.",
            title="No attestations",
        )
        result.attestations = {d.filename: "not signed (API token)" for d in dists}
        return None
    from . import attest

    with ctx.console.group(f"Sign and verify {len(dists)} attestation(s) with Sigstore"):
        token = source.oidc_token("sigstore")
        ctx.console.mask(token)
        claims = unverified_claims(token)
        publisher = attest.Publisher(
            repository=str(claims.get("repository", s.github_repository)),
            workflow=workflow_file(str(claims.get("job_workflow_ref") or s.workflow_ref)),
            environment=str(claims["environment"]) if claims.get("environment") else None,
        )
        config = attest.trust_config(s.sigstore_trust_config)
        outdir = ctx.workdir / ".attestations"  # private, and never taken for a dist
        # Sigstore's certificate and transparency log can be slow to answer: a line
        # every SILENCE seconds says signing still runs.
        with Watchdog(ctx.console, f"Signing {len(dists)} attestation(s) with Sigstore"):
            paths = attest.sign([d.path for d in dists], token, outdir=outdir, config=config)
        for dist, path in zip(dists, paths, strict=True):
            attest.verify(path, dist.path, publisher, config=config)
            ctx.console.line(f"{path.name}: signed, verified for {publisher.describe()}")
            result.attestations[dist.filename] = "signed and verified"
    files = {d.filename: p for d, p in zip(dists, paths, strict=True)}
    return Signed(files, publisher, config)


def confirm_provenance(
    ctx: Context,
    plan: Plan,
    project: IndexProject,
    signed: Signed,
    result: Result,
) -> None:
    """Where the index serves PEP 740 provenance, it must verify for this file and
    publisher."""
    from . import attest
    from . import index as idx

    listed = {f.filename: f for f in project.files}
    for step in plan.steps:
        name = step.dist.filename
        entry = listed.get(name)
        url = entry.provenance_url if entry else None
        if name not in signed.files:
            continue
        if not url:
            result.attestations[name] = "signed and verified; the index serves no provenance"
            continue
        body = idx.read_provenance(ctx.session, name, url)
        attest.verify_provenance(body, step.dist.path, signed.publisher, config=signed.config)
        result.attestations[name] = "signed, verified, and the index's provenance verified"


def github_release(
    ctx: Context,
    plan: Plan,
    result: Result,
    listing: Callable[[], IndexProject],
    signed: Signed | None,
) -> None:
    """The release with the bytes the index serves, SHA256SUMS of them, and each file's
    attestation: this run's for the files it uploaded, the index's for the others."""
    from . import github

    s = ctx.settings
    assert plan.release is not None
    with ctx.console.group(f"GitHub Release {plan.tag}"):
        files = release_files(ctx, plan, listing)
        ours = signed.files if signed else {}
        attestations = [
            github.Asset(path.name, sha256_of(path), path)
            for step in plan.steps
            if step.dist.filename in result.uploaded
            and (path := ours.get(step.dist.filename)) is not None
        ]
        if s.attestations and s.trusted_publishing:
            carried = carry_attestations(ctx, plan, files, listing, signed, result)
            attestations += [github.Asset(p.name, sha256_of(p), p, kept=True) for p in carried]
        with github.assets_for(files, attestations) as assets:
            github.publish(
                ctx.github(),
                plan.release,
                assets,
                token=s.github_token,
                session=ctx.session,
                result=result.release,
            )
        ctx.console.line(f"Release: {result.release.url}")


def release_files(
    ctx: Context, plan: Plan, listing: Callable[[], IndexProject]
) -> list[github.Asset]:
    """The distributions as the index serves them. A file the index had before with
    other bytes (a backend that does not build reproducibly, or skip-existing) is
    downloaded from the index and attached in place of this run's build."""
    from . import github
    from .index import download
    from .upload import copy_limit

    files = []
    for step in plan.steps:
        dist = step.dist
        if step.expected_sha256 == dist.sha256:
            files.append(github.dist_asset(dist))
            continue
        entry = listing().files_for(plan.version).get(dist.filename)
        outdir = ctx.workdir / ".index-copies"  # private, and never taken for a dist
        outdir.mkdir(exist_ok=True)
        copy = (
            download(ctx.session, entry, outdir, limit=copy_limit(dist))
            if entry is not None
            else None
        )
        sha256 = sha256_of(copy) if copy is not None else ""
        if copy is None or sha256 != step.expected_sha256:
            raise PackageIndexError(
                "index-file-changed",
                f"The index no longer serves {dist.filename} with the sha256 confirmed "
                f"a moment ago ({step.expected_sha256})"
                + (f", but with {sha256}." if sha256 else "; it does not list it now."),
                "The files are on the index, but something changed one since: "
                "investigate before re-running to finish the GitHub Release.",
            )
        ctx.console.line(
            f"{dist.filename}: the index's copy is attached (this run built other bytes)"
        )
        files.append(github.Asset(dist.filename, sha256, copy))
    return files


def carry_attestations(
    ctx: Context,
    plan: Plan,
    files: list[github.Asset],
    listing: Callable[[], IndexProject],
    signed: Signed | None,
    result: Result,
) -> list[Path]:
    """The attestations of files an earlier run uploaded (this run signed none for
    them), taken from the index's PEP 740 provenance and verified against the file and
    the publisher, so that a re-run's release carries them as the first run's would."""
    uploaded_here = set(result.uploaded) & set(signed.files if signed else ())
    wanted = []
    for step, asset in zip(plan.steps, files, strict=True):
        name = step.dist.filename
        if name in uploaded_here:
            continue
        entry = listing().files_for(plan.version).get(name)
        if entry is not None and entry.provenance_url:
            wanted.append((name, asset.path, entry.provenance_url))
    if not wanted:
        return []
    from . import attest
    from . import index as idx
    from .credentials import workflow_file

    s = ctx.settings
    if signed is not None:
        publisher, config = signed.publisher, signed.config
    else:
        publisher = attest.Publisher(s.github_repository, workflow_file(s.workflow_ref))
        config = attest.trust_config(s.sigstore_trust_config)
    outdir = ctx.workdir / ".attestations"  # private, and never taken for a dist
    outdir.mkdir(exist_ok=True)
    carried = []
    for name, path, url in wanted:
        body = idx.read_provenance(ctx.session, name, url)
        attest.verify_provenance(body, path, publisher, config=config)
        out = outdir / f"{name}{attest.SUFFIX}"
        out.write_text(attest.publish_attestation(body), encoding="utf-8")
        ctx.console.line(
            f"{out.name}: taken from the index's provenance, verified for {publisher.describe()}"
        )
        result.attestations[name] = "from the index's provenance, verified"
        carried.append(out)
    return carried


# --- run ---------------------------------------------------------------------------------


@contextlib.contextmanager
def context(
    settings: Settings, console: Console, head: HeadStart | None = None
) -> Iterator[Context]:
    with tempfile.TemporaryDirectory(prefix="release-build-") as tmp:
        ctx = Context(settings, console, Path(tmp), head=head)
        try:
            yield ctx
        finally:
            if ctx.trial_env is not None:  # the run ended before the trial took it
                ctx.trial_env.close()
            if ctx._session is not None:
                ctx._session.close()


def run(settings: Settings, console: Console, head: HeadStart | None = None) -> int:
    """The whole release: plan, publish unless a dry run, and always report. ``head``:
    the build environment, when __main__ began it."""
    result = Result()
    with context(settings, console, head) as ctx:
        result.timings = ctx.timings  # filled in as the steps end
        try:
            result.plan = plan(ctx)
            if not settings.dry_run:
                publish(ctx, result.plan, result)
        except BaseException as exc:
            result.error = exc
            raise
        finally:
            if result.plan is not None:
                report(result, settings, console)
    return 0
