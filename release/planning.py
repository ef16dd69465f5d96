"""plan(): every check that can be made before an upload, nothing irreversible: no
upload, no minted token, no signature, no GitHub write. Its Plan is all that publishing
(publishing.py) is given.

plan() is a list of named steps, each a function below it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import shutil
import threading
import tomllib
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from packaging.version import Version

from .build import HeadStart, build, copy_out
from .dists import Dist, find_files, read_dists
from .errors import DistributionError, InputError
from .gha import Console
from .gitrepo import Checkout, inspect
from .inputs import render
from .model import Attesting, Destination, Plan, ReleasePlan
from .paths import confine
from .proc import Cancel
from .services import Services
from .settings import Settings
from .simple import IndexProject
from .verify import check, twine_check
from .versions import Gate, parse_tag

_T = TypeVar("_T")
_R = TypeVar("_R")

if TYPE_CHECKING:
    import requests

    from . import github
    from .trial import Prepared, TrialReport


@dataclasses.dataclass
class Context:
    """What the steps of the plan share: the settings, the run's services, and the
    build environment begun at start-up."""

    settings: Settings
    services: Services
    head: HeadStart | None = None
    trial_env: Prepared | None = None  # the install trial's, begun beside the build
    # Set once the build's first hook runs (or the build is over): see beside_the_build.
    hooks_running: threading.Event = dataclasses.field(default_factory=threading.Event)

    def close(self) -> None:
        if self.trial_env is not None:  # the run ended before the trial took it
            self.trial_env.close()

    @property
    def console(self) -> Console:
        return self.services.console

    @property
    def workdir(self) -> Path:
        return self.services.workdir

    @property
    def session(self) -> requests.Session:
        return self.services.session

    def github(self) -> github.Client:
        return self.services.github()


# --- plan: every check, nothing irreversible ------------------------------------------


def plan(ctx: Context) -> Plan:
    """Every check that can be made before an upload."""
    s = ctx.settings
    version = parse_tag(s.tag, s.tag_prefix)
    name = project_name(s.working_directory)
    checkout = check_checkout(ctx)
    root = workspace_root(ctx, checkout)
    confine(s.packages_dir, root, "packages-dir")
    with ctx.services.timed("build" if s.build else "files"):
        dists, early = alongside(
            lambda cancel: make_dists(ctx, checkout, cancel, pretend(ctx, checkout, name, version)),
            lambda: beside_the_build(ctx, name, version),
        )
    with ctx.services.timed("checks"):
        name, destinations = check_files(ctx, dists, name, version, early)
    # The install trial runs while GitHub is asked what it has; its log waits for the
    # preflight's, so that the two groups do not interleave.
    beside = "install trial and GitHub check" if s.github_release else "install trial"
    with ctx.services.timed(beside), ctx.console.deferred() as held:
        tried, release = alongside(
            lambda cancel: try_install(ctx, destinations, held, cancel),
            lambda: (
                github_preflight(ctx, version, destinations[-1], root, checkout)
                if s.github_release
                else None
            ),
        )
    return Plan(
        project=name,
        version=version,
        tag=s.tag,
        destinations=destinations,
        release=release,
        attesting=Attesting(s.sigstore_trust_config, s.github_repository, s.workflow_ref)
        if s.attestations
        else None,
        trial=tried,
    )


def check_files(
    ctx: Context,
    dists: list[Dist],
    name: str | None,
    version: Version,
    early: list[tuple[IndexProject, Gate]] | None,
) -> tuple[str, list[Destination]]:
    """The files against the tag and the metadata rules, then at each target the
    index's upload rules and what the index has: the name, and each target's verdict
    and steps."""
    from . import rules  # ~0.1 s of imports: preloaded beside the build
    from .upload import decide  # here, not above: requests is imported by now

    s = ctx.settings
    name = name or name_from_files(dists)
    verify_dists(ctx, dists, name, version)
    found = early or read_indexes(ctx, name, version)
    destinations = []
    for target, (project, verdict) in zip(s.targets, found, strict=True):
        # The index's upload rules, on every file at once, before any credential: a
        # release the index would refuse in part is refused whole, before its first byte.
        closed = rules.check(
            dists,
            project,
            pypi_policy=target.pypi_policy,
            max_file_size=target.max_file_size,
            now=datetime.now(UTC),
            skip_existing=target.skip_existing,
        )
        at = f" at {target.label}" if len(s.targets) > 1 else ""
        for violation in closed:
            ctx.console.warning(
                f"{violation.filename}: {violation.reason} Left out{at} because "
                "skip-existing is true.",
                title="File skipped",
            )
        left_out = {v.filename for v in closed}
        steps = decide(
            [d for d in dists if d.filename not in left_out],
            project,
            version,
            skip_existing=target.skip_existing,
            session=ctx.session,
            console=ctx.console,
        )
        destinations.append(
            Destination(
                target,
                steps,
                previous=verdict.previous,
                resume=verdict.resume,
                backport=verdict.backport,
                rules_checked=len(dists),
            )
        )
    return name, destinations


def try_install(
    ctx: Context, destinations: list[Destination], console: Console, cancel: Cancel
) -> TrialReport | None:
    """The files to upload (to any target), installed and imported in a clean
    environment (trial.py); None when test-install is off or nothing is to be uploaded
    (a published file can no longer be mended)."""
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
    wanted = {step.dist.filename for d in destinations for step in d.to_upload}
    dists = [step.dist for step in destinations[0].steps if step.dist.filename in wanted]
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


def read_indexes(ctx: Context, name: str, version: Version) -> list[tuple[IndexProject, Gate]]:
    """What each target's index has, and the version gate's verdict on it."""
    from . import index as idx

    found = []
    for target in ctx.settings.targets:
        project = idx.read_project(ctx.session, target.simple_url, name)
        found.append((project, idx.judge(target, project, version, ctx.settings.tag)))
    return found


def beside_the_build(
    ctx: Context, name: str | None, version: Version
) -> list[tuple[IndexProject, Gate]] | None:
    """What this thread does while the build runs: read the indexes (when the name is
    known before the build), begin the install trial's environment, then import what
    the steps after the build will."""
    early = read_indexes(ctx, name, version) if name else None
    if ctx.settings.build:
        if ctx.settings.inputs.get("test_install", True):
            from .trial import prepare

            ctx.trial_env = prepare(
                ctx.settings.working_directory, ctx.settings.child_env, ctx.console
            )
        # Imports hold the interpreter's lock: made while the build's thread gets its
        # first hook going, they held that back by tens of milliseconds. A hook runs
        # for a tenth of a second and more, in a process of its own.
        ctx.hooks_running.wait()
        preload(ctx.settings)
    return early


def preload(s: Settings) -> None:
    """Import the modules the steps after the build import. This thread waits for the
    build anyway, and each import done here is one fewer between the last hook and the
    upload: Sigstore's client takes ~0.25 s, PyGithub up to ~0.2 s, the e-mail address
    checker of the upload rules ~35 ms (it compiles its patterns as it is imported), the
    publishing steps and the upload form's encoder ~15 ms, the metadata parser ~10 ms."""
    names = [
        "packaging.metadata",
        "release.upload",
        "release.rules",
        "email_validator",
        "release.publishing",
        "release.provenance",
        "release.assets",
        "release.credentials",
        "requests_toolbelt.multipart.encoder",
    ]
    if s.inputs.get("test_install", True):
        names.append("release.trial")
    if s.github_release:
        names.append("github")
    if s.attestations and not s.dry_run and any(t.trusted_publishing for t in s.targets):
        names += ["pypi_attestations", "sigstore.sign", "sigstore.verify"]
    for name in names:
        importlib.import_module(name)


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
        try:
            with set_aside(ctx, ctx.workdir / ".aside"):
                build(
                    s.working_directory,
                    ctx.workdir,
                    source_date_epoch=checkout.commit_time,
                    env={**s.child_env, **(pretended or {})},
                    console=ctx.console,
                    cancel=cancel,
                    head=ctx.head,
                    hooks_running=ctx.hooks_running,
                )
        finally:
            ctx.hooks_running.set()  # whatever happened: nothing waits for a hook now
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
    ctx: Context, version: Version, home: Destination, root: Path, checkout: Checkout
) -> ReleasePlan:
    """What GitHub has for the tag, and whether the release can be made from the files
    as the last target (``Plan.home``) will serve them."""
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
            previous=home.previous,
            workdir=s.working_directory,
            notes_file=s.release_notes,
            root=root,
            # What the release will carry (see assets.github_release): each file as the
            # index will serve it, and a new attestation for each file this run uploads.
            files=[(step.dist.filename, step.expected_sha256) for step in home.steps],
            signs=[step.dist.filename for step in home.to_upload]
            if s.attestations and home.target.trusted_publishing
            else [],
            replace_draft=bool(s.inputs["replace_draft"]),
            session=ctx.session,
            token=s.github_token,
        )
