"""The real-project tier: popular projects from their PyPI sdists, released as their
maintainers would (tests/support/realprojects.py has the list and why each is there).

Per project: a dry run, the release, a plain re-run in the same folder and one in a fresh
clone of the tag. Each must exit 0; after the release the index serves exactly the files
the run left in dist/ (names and sha256s); a re-run uploads nothing, changes nothing on
the index, and builds the same files holding the same members byte for byte (the
archives themselves may differ: setuptools stamps an sdist's gzip header and top folder
with the build's time). On pypiserver and devpi the command line drives the release (the
dry run checks HEAD before the tag exists, then the maintainer tags); through the
PyPI-like front (tests/support/oidc.py before devpi: warehouse's form rules, trusted
publishing) the action publishes for the pushed tag, as only the action can.
"""

from __future__ import annotations

import dataclasses
import email.parser
import email.policy
import hashlib
import re
import shutil
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest
from conftest import Index
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version
from support.oidc import (
    GitHubOIDC,
    TrustedPublishingIndex,
    pypi_like,
)
from support.projects import Project
from support.realprojects import (
    BY_ID,
    FEATURES,
    LONG_README,
    PROJECTS,
    RealProject,
    checkout,
    clone,
    tag,
)
from support.runner import Action, Cli

from release.dists import sha256_of

KINDS = ("pypiserver", "devpi", "pypi-like")
REQUIRED_BACKENDS = {
    "setuptools",
    "setuptools-scm",
    "flit-core",
    "hatchling",
    "hatch-vcs",
    "pdm-backend",
    "poetry-core",
    "uv_build",
    "scikit-build-core",
    "meson-python",
}


@dataclasses.dataclass
class Outcome:
    code: int
    out: str


class Driver(Protocol):
    index: Index

    def __call__(self, repo: Project, tag: str, *, dry_run: bool = False) -> Outcome: ...

    def uploads(self) -> int:
        """Upload requests the index has seen (-1 where nothing counts them)."""
        ...


@dataclasses.dataclass
class CliDriver:
    """``python -m release`` with an API token, as a maintainer runs it."""

    cli: Cli
    index: Index

    def __call__(self, repo: Project, tag: str, *, dry_run: bool = False) -> Outcome:
        flags = ["--tag", tag, *(["--dry-run"] if dry_run else [])]
        run = self.cli(repo.path, *flags, index=self.index)
        return Outcome(run.code, run.out + run.err)

    def uploads(self) -> int:
        return -1


@dataclasses.dataclass
class FrontDriver:
    """The action for a pushed tag, trusted publishing through the PyPI-like front."""

    action: Action
    index: Index
    oidc: GitHubOIDC
    front: TrustedPublishingIndex

    def __call__(self, repo: Project, tag: str, *, dry_run: bool = False) -> Outcome:
        self.oidc.ref = f"refs/tags/{tag}"
        self.oidc.sha = repo.head
        env = self.action.env(
            repo,
            tag,
            None,
            user="__token__",
            password="",
            repository_url=self.front.url_for(self.index.upload_url),
            index_url=self.front.url_for(self.index.simple_url),
            attestations="false",  # PEP 740 signing has its own tests and stand-in
            dry_run="true" if dry_run else "false",
        )
        env.update(self.oidc.request_env())
        run = self.action.run(env)
        return Outcome(run.code, run.out)

    def uploads(self) -> int:
        return len(self.front.uploads)


@pytest.fixture
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    kind = request.param
    if kind != "pypi-like":
        yield CliDriver(request.getfixturevalue("cli"), request.getfixturevalue(kind))
        return
    index: Index = request.getfixturevalue("devpi")
    oidc, front = pypi_like(index, warehouse_rules=False)  # set per project in the test
    try:
        yield FrontDriver(request.getfixturevalue("action"), index, oidc, front)
    finally:
        front.close()
        oidc.close()


# --- what a run left and what the index serves ------------------------------------------


def dist_files(folder: Path) -> dict[str, str]:
    return {p.name: sha256_of(p) for p in (folder / "dist").iterdir()}


def last_line(out: str) -> str:
    return out.rstrip().splitlines()[-1]


def headline(
    project: RealProject, n: int, *, dry: bool = False, uploaded: int | None = None
) -> re.Pattern[str]:
    """The run's last line, the project's name as its metadata spells it."""
    version = re.escape(str(Version(project.version)))
    if dry:
        return re.compile(rf"Dry run: \S+ {version} would publish {n} file\(s\)")
    tail = "" if uploaded is None else f", {uploaded} uploaded now"
    return re.compile(rf"Published \S+ {version}: {n} file\(s\){re.escape(tail)}")


def assert_files_are_the_project(project: RealProject, files: dict[str, str]) -> None:
    """One sdist and at least one wheel, of this project at this version."""
    sdists = [f for f in files if f.endswith(".tar.gz")]
    wheels = [f for f in files if f.endswith(".whl")]
    assert len(sdists) == 1, files
    assert wheels, files
    assert len(files) == len(sdists) + len(wheels), files
    name, version = parse_sdist_filename(sdists[0])
    assert (name, version) == (canonicalize_name(project.name), Version(project.version))
    for wheel in wheels:
        name, version, _build, tags = parse_wheel_filename(wheel)
        assert (name, version) == (canonicalize_name(project.name), Version(project.version))
        compiled = any(t.abi != "none" or t.platform != "any" for t in tags)
        assert compiled == project.compiled, wheel


def sdist_members(path: Path) -> list[str]:
    with tarfile.open(path) as tar:
        return [m.name for m in tar.getmembers()]


def assert_no_dist_folder(sdist: Path) -> None:
    """No ``<top>/dist/`` in the sdist: a previous run's files never ship inside it."""
    shipped = [m for m in sdist_members(sdist) if m.split("/")[1:2] == ["dist"]]
    assert shipped == [], f"{sdist.name} holds packages-dir files: {shipped[:5]}"


def archive_contents(path: Path) -> dict[str, str]:
    """Each file member of an sdist or wheel and the sha256 of its bytes."""
    out: dict[str, str] = {}
    if path.name.endswith(".whl"):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.is_dir():
                    out[info.filename] = hashlib.sha256(zf.read(info)).hexdigest()
        return out
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            f = tar.extractfile(member) if member.isfile() else None
            if f is not None:
                out[member.name] = hashlib.sha256(f.read()).hexdigest()
    return out


def wheel_features(wheel: Path) -> set[str]:
    """Which of FEATURES the wheel's metadata shows."""
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        [meta] = [n for n in names if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        info = meta.rsplit("/", 1)[0]
        msg = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(zf.read(meta))
    description = msg.get_payload() or msg.get("Description", "")
    assert isinstance(description, str)
    found = {
        "long-readme": len(description) > LONG_README,
        "urls": bool(msg.get_all("Project-URL") or msg.get("Home-page")),
        "keywords": bool(msg.get("Keywords")),
        "entry-points": f"{info}/entry_points.txt" in names,
        "license-files": bool(msg.get_all("License-File")),
        "extras": bool(msg.get_all("Provides-Extra")),
    }
    return {f for f, shown in found.items() if shown}


# --- the tier ---------------------------------------------------------------------------


def slow_first(project: RealProject) -> bool:
    """Compiled and CMake/meson builds take longest: start them first, so that xdist's
    workers finish together."""
    return not (project.compiled or project.backend in ("scikit-build-core", "meson-python"))


CASES = [
    pytest.param(p, kind, id=p.id if len(p.indexes) == 1 else f"{p.id}@{kind}")
    for p in sorted(PROJECTS, key=slow_first)
    for kind in p.indexes
]


@pytest.mark.real
@pytest.mark.parametrize(("project", "driver"), CASES, indirect=["driver"])
def test_real_project_releases_and_reruns(
    project: RealProject, driver: Driver, tmp_path: Path
) -> None:
    index = driver.index
    repo = checkout(project, tmp_path / "checkout")
    action = isinstance(driver, FrontDriver)
    if action:
        # PyPI's own rules too, as warehouse applies them; not for a compiled project's
        # linux_x86_64 wheel, which PyPI refuses (real projects publish manylinux wheels
        # from cibuildwheel; this tier builds on the machine it runs on).
        driver.front.warehouse_rules = not project.compiled
        tag(project, repo)  # the action runs for a pushed tag

    dry = driver(repo, project.tag, dry_run=True)
    assert dry.code == 0, dry.out
    planned = dist_files(repo.path)
    assert_files_are_the_project(project, planned)
    assert headline(project, len(planned), dry=True).fullmatch(last_line(dry.out)), dry.out
    assert index.files() == {}

    if not action:
        tag(project, repo)  # the maintainer tags after the dry run
    run = driver(repo, project.tag)
    assert run.code == 0, run.out
    published = index.files()
    assert published == dist_files(repo.path), run.out
    assert sorted(published) == sorted(planned)
    assert headline(project, len(published)).fullmatch(last_line(run.out)), run.out
    [sdist] = [repo.path / "dist" / f for f in published if f.endswith(".tar.gz")]
    assert_no_dist_folder(sdist)
    wheels = [repo.path / "dist" / f for f in published if f.endswith(".whl")]
    for wheel in wheels:
        missing = set(project.features) - wheel_features(wheel)
        assert not missing, f"{wheel.name} does not show {sorted(missing)}"
    uploads = driver.uploads()
    kept = tmp_path / "published"
    shutil.copytree(repo.path / "dist", kept)

    again = driver(repo, project.tag)
    assert_rerun_changed_nothing(project, driver, again, repo.path, kept, uploads)

    fresh = clone(repo, project.tag, tmp_path / "clone")
    again = driver(fresh, project.tag)
    assert_rerun_changed_nothing(project, driver, again, fresh.path, kept, uploads)


def assert_rerun_changed_nothing(
    project: RealProject, driver: Driver, run: Outcome, folder: Path, kept: Path, uploads: int
) -> None:
    """A re-run exits 0, uploads nothing, leaves the index as it was, and built what the
    index has: the same files, each holding the same members with the same bytes (the
    archives themselves may differ in their own timestamps)."""
    assert run.code == 0, run.out
    published = {p.name: sha256_of(p) for p in kept.iterdir()}
    assert driver.index.files() == published, run.out
    assert headline(project, len(published), uploaded=0).fullmatch(last_line(run.out)), run.out
    assert driver.uploads() == uploads
    built = dist_files(folder)
    assert sorted(built) == sorted(published), run.out
    for name in built:
        assert without_build_records(archive_contents(folder / "dist" / name)) == (
            without_build_records(archive_contents(kept / name))
        ), name


def without_build_records(contents: dict[str, str]) -> dict[str, str]:
    """setuptools-scm 9 writes the branch the build ran on into the sdist
    (egg-info/scm_version.json): "main" from the maintainer's branch, "HEAD" from a
    tag's clone. It says how the build ran, not what installs; the rest must match."""
    return {k: v for k, v in contents.items() if not k.endswith(".egg-info/scm_version.json")}


@pytest.mark.real
@pytest.mark.parametrize("driver", ["devpi"], indirect=True)
def test_dry_run_files_stay_out_of_the_released_sdist(driver: Driver, tmp_path: Path) -> None:
    """pybind11 (scikit-build-core) ships no .gitignore, and scikit-build-core puts every
    file that .gitignore does not exclude into the sdist: the dry run's dist/ must still
    not be published inside the release's sdist."""
    project = BY_ID["pybind11-3.0.1"]
    repo = checkout(project, tmp_path / "checkout")
    assert not (repo.path / ".gitignore").exists()
    tag(project, repo)
    dry = driver(repo, project.tag, dry_run=True)
    assert dry.code == 0, dry.out
    [dry_sdist] = (repo.path / "dist").glob("*.tar.gz")
    planned = sdist_members(dry_sdist)
    assert_no_dist_folder(dry_sdist)  # nothing was there to take yet

    run = driver(repo, project.tag)
    assert run.code == 0, run.out
    published = driver.index.files()
    assert published == dist_files(repo.path)
    [sdist] = [repo.path / "dist" / f for f in published if f.endswith(".tar.gz")]
    assert_no_dist_folder(sdist)
    assert sdist_members(sdist) == planned


def test_the_tier_covers_what_real_projects_use() -> None:
    """At least 20 projects; every common backend, each on two kinds of index; both tag
    styles; VCS versions and compiled code; every metadata feature claimed by some."""
    assert len(PROJECTS) >= 20
    assert len(BY_ID) == len(PROJECTS)
    assert {p.backend for p in PROJECTS} == REQUIRED_BACKENDS
    for backend in REQUIRED_BACKENDS:
        kinds = {k for p in PROJECTS if p.backend == backend for k in p.indexes}
        assert len(kinds) >= 2, (backend, kinds)
    assert {k for p in PROJECTS for k in p.indexes} == set(KINDS)
    assert {p.tag_prefix for p in PROJECTS} == {"", "v"}
    assert {p.backend for p in PROJECTS if p.vcs_version} == {"setuptools-scm", "hatch-vcs"}
    assert len([p for p in PROJECTS if p.compiled]) >= 2
    assert {f for p in PROJECTS for f in p.features} == set(FEATURES)
    for p in PROJECTS:
        assert set(p.features) <= set(FEATURES), p.id
        assert re.fullmatch(r"[0-9a-f]{64}", p.sha256), p.id
