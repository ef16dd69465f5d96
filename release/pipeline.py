"""plan() checks everything it can; publish() changes the world; run() does both and
has report() tell what happened."""

from __future__ import annotations

import dataclasses
import tempfile
import tomllib
from pathlib import Path

import requests
from packaging.version import Version

from . import github
from . import index as idx
from .build import build
from .errors import DistributionError, InputError
from .gha import Console
from .http import make_session
from .report import report
from .settings import Settings
from .upload import UPLOAD, Step, confirm, decide, twine_settings, upload_one
from .verify import check, find_files, read_dist, twine_check
from .versions import Gate, gate, parse_tag


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything checked: what would be published, and where."""

    project: str
    version: Version
    tag: str
    previous: Version | None
    resume: bool
    steps: list[Step]
    release: github.ReleasePlan | None


@dataclasses.dataclass
class Result:
    """What a run did, filled in as it goes so a failure still reports the progress."""

    plan: Plan | None = None
    uploaded: list[str] = dataclasses.field(default_factory=list)
    confirmed: bool = False
    release: github.ReleaseResult = dataclasses.field(default_factory=github.ReleaseResult)
    error: BaseException | None = None


def project_name(workdir: Path) -> str | None:
    """The project's name from pyproject.toml, or None when only the build knows it."""
    path = workdir / "pyproject.toml"
    if not path.is_file():
        if (workdir / "setup.py").is_file():
            return None
        raise InputError(
            f"No pyproject.toml in working-directory '{workdir}'.",
            "Set working-directory to the folder of the project to release.",
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path} is not valid TOML: {exc}.", "Fix the file.") from None
    name = data.get("project", {}).get("name")
    return name if isinstance(name, str) and name else None


def _gate(
    session: requests.Session, settings: Settings, name: str, version: Version
) -> tuple[idx.IndexProject, Gate]:
    project = idx.read_project(session, settings.index_url, name)
    return project, gate(version, project.known(), settings.tag)


def plan(settings: Settings, console: Console, session: requests.Session) -> Plan:
    """Every check that can be made before an upload; nothing irreversible."""
    version = parse_tag(settings.tag, settings.tag_prefix)
    if not settings.dry_run and not settings.password:
        raise InputError(
            "No password for the index: the password input is empty.",
            "Create an API token on the index, store it as a repository secret and "
            "pass it: 'password: ${{ secrets.PYPI_API_TOKEN }}' (locally: set "
            "TWINE_PASSWORD).",
        )
    name = project_name(settings.working_directory)
    checked = _gate(session, settings, name, version) if name else None

    if settings.build:
        present, others = find_files(settings.packages_dir)
        if present or others:
            raise DistributionError(
                f"packages-dir '{settings.packages_dir}' already holds files: "
                + ", ".join(p.name for p in [*present, *others])
                + ".",
                "With build: true the action builds into an empty folder so that "
                "nothing stale is published: delete them, or set build: false to "
                "publish them as they are.",
            )
        build(
            settings.working_directory,
            settings.packages_dir,
            commit=settings.github_sha,
            env=settings.child_env,
            console=console,
        )
    paths, others = find_files(settings.packages_dir)
    dists = [read_dist(p) for p in paths]
    if name is None:
        names = sorted({d.name for d in dists})
        if len(names) != 1:
            raise DistributionError(
                "Cannot tell the project's name: pyproject.toml has no [project] name "
                f"and the files name {names or 'nothing'}.",
                "Add a [project] table with the name to pyproject.toml.",
            )
        name = names[0]
    check(
        dists,
        others,
        project=name,
        version=version,
        tag=settings.tag,
        built=settings.build,
        packages_dir=settings.packages_dir,
        console=console,
    )
    if settings.verify_metadata:
        twine_check(dists, cwd=settings.working_directory, env=settings.child_env, console=console)
    project, verdict = checked or _gate(session, settings, name, version)
    steps = decide(
        dists,
        project,
        version,
        skip_existing=settings.skip_existing,
        session=session,
        console=console,
    )
    release = None
    if settings.github_release:
        with console.group(f"Check GitHub: {settings.github_repository}, tag {settings.tag}"):
            release = github.preflight(
                github_client(settings),
                repository=settings.github_repository,
                tag=settings.tag,
                tag_prefix=settings.tag_prefix,
                sha=settings.github_sha,
                version=version,
                previous=verdict.previous,
                workdir=settings.working_directory,
                notes_file=settings.release_notes,
            )
    return Plan(
        project=name,
        version=version,
        tag=settings.tag,
        previous=verdict.previous,
        resume=verdict.resume,
        steps=steps,
        release=release,
    )


def github_client(settings: Settings) -> github.Client:
    if not settings.github_token:
        raise InputError(
            "github-release is true, but github-token is empty.",
            "Leave github-token at its default (${{ github.token }}) and give the job "
            "'permissions: contents: write', or set github-release: false.",
        )
    return github.client(
        settings.github_token, settings.github_api_url, settings.github_write_interval
    )


def publish(
    plan: Plan,
    result: Result,
    settings: Settings,
    console: Console,
    session: requests.Session,
) -> None:
    """Upload what is missing, then confirm the index serves it all. Safe to re-run."""
    to_upload = [s for s in plan.steps if s.action == UPLOAD]
    with (
        tempfile.TemporaryDirectory(prefix="release-twine-") as tmp,
        console.group(
            f"Upload {len(to_upload)} file(s) to {idx.sanitize_url(settings.repository_url)}"
        ),
    ):
        for step in plan.steps:
            if step.action != UPLOAD:
                console.line(f"{step.dist.filename}: already on the index, not uploaded")
        tw = twine_settings(
            user=settings.user,
            password=settings.password,
            repository_url=settings.repository_url,
            config_dir=Path(tmp),
        )
        for step in to_upload:
            upload_one(step.dist, tw, settings.repository_url)
            result.uploaded.append(step.dist.filename)
    confirm(
        plan.steps,
        lambda: idx.read_project(session, settings.index_url, plan.project, fresh=True),
        session,
    )
    result.confirmed = True
    if plan.release is not None:
        dists = [s.dist for s in plan.steps]
        with console.group(f"GitHub Release {plan.tag}"), github.assets_for(dists) as assets:
            github.publish(
                github_client(settings),
                plan.release,
                assets,
                token=settings.github_token,
                session=session,
                result=result.release,
            )
            console.line(f"Release: {result.release.url}")


def run(settings: Settings, console: Console) -> int:
    """The whole release: plan, publish unless a dry run, and always report."""
    result = Result()
    session = make_session()
    try:
        result.plan = plan(settings, console, session)
        if not settings.dry_run:
            publish(result.plan, result, settings, console, session)
    except BaseException as exc:
        result.error = exc
        raise
    finally:
        session.close()
        if result.plan is not None:
            report(result, settings, console)
    return 0
