"""Real, popular projects from their PyPI sdists, turned into the git checkouts their
maintainers release from.

Each sdist is pinned by version and sha256, fetched once with ``pip download`` into a
cache that survives runs (``$RELEASE_TEST_CACHE/sdists``, else
``~/.cache/pypi-release-action-tests/sdists``) and checked against its sha256 on every
use, so a second run needs no network for the sdists (the builds still fetch their
backends). An sdist is a snapshot of a repository plus what the backend generated:
``PKG-INFO`` and ``*.egg-info`` never live in git, so they are dropped (a VCS-versioned
project would otherwise read its version from them instead of from the tag); the
project's own ``.gitignore`` is kept as shipped, and none is added where it shipped none.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from packaging.utils import canonicalize_name

from .projects import GIT, Project

# What a wheel's metadata shows, checked against each project's claims.
FEATURES = ("long-readme", "urls", "keywords", "entry-points", "license-files", "extras")
LONG_README = 5000  # characters of description: "a long README"
FIRST_DATE = 1704067200  # 2024-01-01, the commit date where an sdist gives none


@dataclasses.dataclass(frozen=True)
class RealProject:
    """One pinned sdist, its build backend, how its maintainers tag, and where the tier
    publishes it."""

    name: str
    version: str
    filename: str
    sha256: str
    backend: str  # the build backend (a label: setuptools, hatch-vcs, ...)
    layout: str  # how the project uses it, in a few words
    tag_prefix: str  # "v" for v1.2.3, "" for 1.2.3
    indexes: tuple[str, ...]  # pypiserver, devpi, pypi-like (trusted publishing front)
    vcs_version: bool = False  # the version comes from the git tag
    compiled: bool = False  # the wheel holds compiled code
    features: tuple[str, ...] = ()  # from FEATURES, each checked on the built wheel
    tag_name: str = ""  # the tag where it is not tag_prefix + version (certifi's zeros)

    @property
    def id(self) -> str:
        return f"{self.name}-{self.version}"

    @property
    def tag(self) -> str:
        return self.tag_name or f"{self.tag_prefix}{self.version}"

    @property
    def dist_name(self) -> str:
        """The name's form in distribution file names."""
        return canonicalize_name(self.name).replace("-", "_")


def _p(
    name: str,
    version: str,
    sha256: str,
    backend: str,
    layout: str,
    tag_prefix: str,
    indexes: str,
    *,
    filename: str = "",
    vcs_version: bool = False,
    compiled: bool = False,
    features: str = "",
    tag: str = "",
) -> RealProject:
    return RealProject(
        name=name,
        version=version,
        filename=filename or f"{name}-{version}.tar.gz",
        sha256=sha256,
        backend=backend,
        layout=layout,
        tag_prefix=tag_prefix,
        indexes=tuple(indexes.split()),
        vcs_version=vcs_version,
        compiled=compiled,
        features=tuple(features.split()),
        tag_name=tag,
    )


# Tags as the maintainers push them (their GitHub tags). Each backend meets at least two
# index kinds. Picked for sdists that build in seconds with what this machine has.
PROJECTS: tuple[RealProject, ...] = (
    # setuptools, setup.py only (no pyproject.toml), no long_description_content_type
    _p(
        "six",
        "1.17.0",
        "ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81",
        "setuptools",
        "setup.py only",
        "",
        "pypiserver",
        features="urls license-files",
    ),
    _p(
        "certifi",
        "2025.1.31",
        "3d5da6925056f6f18f119200434a4780a94263f10d1c21d032a6f6b2baa20651",
        "setuptools",
        "setup.py only, zero-padded version in the code and tag",
        "",
        "devpi",
        tag="2025.01.31",
        features="urls license-files",
    ),
    # setup.py with a pyproject.toml that has no [build-system] (setuptools by default)
    _p(
        "requests",
        "2.32.3",
        "55365417734eb18255590a9ff9eb97e9e1da868d4ccd6402399eaf68af20a760",
        "setuptools",
        "setup.py, pyproject.toml without [build-system]",
        "v",
        "pypi-like",
        features="urls extras license-files",
    ),
    _p(
        "markdown",
        "3.7",
        "2ae2471477cfd02dbbf038d5d9bc226d40def84b4fe2986e49b59b6b472bbed2",
        "setuptools",
        "pyproject.toml [project], version from an attribute",
        "",
        "pypiserver",
        filename="markdown-3.7.tar.gz",
        features="urls keywords entry-points extras license-files",
    ),
    # C extensions through setuptools
    _p(
        "markupsafe",
        "3.0.2",
        "ee55d3edf80167e48ea11a923c7386f4669df67d7994554387f84e7d8b0a2bf0",
        "setuptools",
        "pyproject.toml + setup.py, C extension",
        "",
        "devpi",
        compiled=True,
        features="urls license-files",
    ),
    _p(
        "wrapt",
        "1.17.2",
        "41388e9d4d1522446fe79d3213196bd9e3b301a336965b9e27ca2788ebd122f3",
        "setuptools",
        "setup.py + setup.cfg, C extension",
        "",
        "pypi-like",
        compiled=True,
        features="urls keywords license-files",
    ),
    # setuptools-scm
    _p(
        "pluggy",
        "1.5.0",
        "2cffa88e94fdc978c4c574f15f9e59b7f4201d439195c3715ca9e2486f1d0cf1",
        "setuptools-scm",
        "pyproject.toml + setup.cfg + setup.py, src layout",
        "",
        "pypiserver",
        vcs_version=True,
        features="urls extras license-files",
    ),
    _p(
        "zipp",
        "3.21.0",
        "2c9958f6430a2040341a52eb608ed6dd93ef4392e02ffe219417c1b28b5dd1f4",
        "setuptools-scm",
        "pyproject.toml, jaraco skeleton",
        "v",
        "pypi-like",
        vcs_version=True,
        features="urls extras license-files",
    ),
    # flit-core
    _p(
        "click",
        "8.1.8",
        "ed53c9d8990d83c2a27deae68e4ee337473f6330c040a31d4225c9574d16096a",
        "flit-core",
        "pyproject.toml, version from the module",
        "",
        "devpi",
        features="urls license-files",
    ),
    _p(
        "idna",
        "3.10",
        "12f65c9b470abda6dc35cf8e63cc574b1c52b11df2c86030af0ac09b01b13ea9",
        "flit-core",
        "pyproject.toml, version from the module",
        "v",
        "pypiserver",
        features="urls extras license-files",
    ),
    _p(
        "packaging",
        "24.2",
        "c228a6dc5e932d346bc5739379109d49e8853dd8223571c7c5b55260edc0b97f",
        "flit-core",
        "pyproject.toml, src layout, three license files",
        "",
        "pypi-like",
        features="urls license-files",
    ),
    # hatchling
    _p(
        "httpx",
        "0.28.1",
        "75e98c5f16b0f35b567856f597f06ff2270a374470a5c2392242528e3e3e42fc",
        "hatchling",
        "hatch-fancy-pypi-readme, version from a file",
        "",
        "pypi-like",
        features="urls entry-points extras license-files",
    ),
    _p(
        "uvicorn",
        "0.34.0",
        "404051050cd7e905de2c9a7e61790943440b3416f49cb409f965d9dcd0fa73e9",
        "hatchling",
        "version from a file",
        "",
        "devpi",
        features="urls entry-points extras license-files",
    ),
    # hatch-vcs
    _p(
        "attrs",
        "24.3.0",
        "8f5c07333d543103541ba7be0e2ce16eeee8130cb0b3f9238ab904ce1e85baff",
        "hatch-vcs",
        "hatchling + hatch-vcs + hatch-fancy-pypi-readme",
        "",
        "devpi",
        vcs_version=True,
        features="urls keywords extras license-files",
    ),
    _p(
        "platformdirs",
        "4.3.6",
        "357fb2acbc885b0419afd3ce3ed34564c13c9b95c89360cd9563f73aa5e2b907",
        "hatch-vcs",
        "hatchling + hatch-vcs, version file written",
        "",
        "pypiserver",
        vcs_version=True,
        features="urls keywords extras license-files",
    ),
    # pdm-backend
    _p(
        "fastapi",
        "0.115.6",
        "9ec46f7addc14ea472958a96aae5b5de65f39721a46aaf5705c480d9a8b76654",
        "pdm-backend",
        "pdm_build.py hook, long README",
        "",
        "pypiserver",
        features="long-readme urls extras",
    ),
    _p(
        "typer",
        "0.15.1",
        "a0588c0a7fa68a1978a069818657778f86abe6ff5ea6abf472f940a08bfe4f0a",
        "pdm-backend",
        "pdm_build.py hook, entry point",
        "",
        "pypi-like",
        features="long-readme urls entry-points",
    ),
    # poetry-core
    _p(
        "rich",
        "13.9.4",
        "439594978a49a09530cff7ebc4b5c7103ef57baf48d5ea3184f21d9a2befa098",
        "poetry-core",
        "[tool.poetry], long README",
        "v",
        "pypi-like",
        features="long-readme urls extras license-files",
    ),
    _p(
        "tomlkit",
        "0.13.2",
        "fff5fe59a87295b278abd31bec92c15d9bc4a06885ab12bcea52c71119392e79",
        "poetry-core",
        "[tool.poetry]",
        "",
        "pypiserver",
        features="urls license-files",
    ),
    # uv_build
    _p(
        "model-bakery",
        "1.24.2",
        "de9ffb98acaaf558aa5522425db7f2a714358ef3d98d318b3a37c837a61932e3",
        "uv_build",
        "[project], flat layout (module-root '')",
        "",
        "pypiserver",
        filename="model_bakery-1.24.2.tar.gz",
        features="urls extras license-files",
    ),
    _p(
        "xdg-base-dirs",
        "6.0.3",
        "9e8274f6d2514b587d257bda21d7fcf758180343c4ad5a47be0b202548211ec2",
        "uv_build",
        "[project], src layout",
        "",
        "pypi-like",
        filename="xdg_base_dirs-6.0.3.tar.gz",
        features="urls keywords license-files",
    ),
    # scikit-build-core (CMake; installs headers and CMake files, nothing compiled)
    _p(
        "pybind11",
        "3.0.1",
        "9c0f40056a016da59bab516efb523089139fcc6f2ba7e4930854c61efb932051",
        "scikit-build-core",
        "CMake, version from a header by regex, no .gitignore shipped",
        "v",
        "devpi",
        features="urls keywords entry-points extras license-files",
    ),
    _p(
        "nanobind",
        "2.4.0",
        "a0392dee5f58881085b2ac8bfe8e53f74285aa4868b1472bfaf76cfb414e1c96",
        "scikit-build-core",
        "CMake, git submodule sources shipped",
        "v",
        "pypiserver",
        features="urls",
    ),
    # meson-python (builds itself with its in-tree backend); no second meson-python
    # project here builds offline in seconds, so this one meets two index kinds.
    _p(
        "meson-python",
        "0.17.1",
        "efb91f69f2e19eef7bc9a471ed2a4e730088cc6b39eacaf3e49fc4f930eb5f83",
        "meson-python",
        "mesonpy in-tree backend, meson.build",
        "",
        "pypiserver pypi-like",
        filename="meson_python-0.17.1.tar.gz",
        features="urls extras",
    ),
)

BY_ID = {p.id: p for p in PROJECTS}


def cache_dir() -> Path:
    """Where sdists are kept between runs."""
    root = os.environ.get("RELEASE_TEST_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "pypi-release-action-tests"
    return base / "sdists"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sdist(project: RealProject) -> Path:
    """The project's sdist from the cache, fetched with pip only when missing or wrong;
    its sha256 is checked every time."""
    folder = cache_dir()
    cached = folder / project.filename
    if cached.is_file() and sha256_file(cached) == project.sha256:
        return cached
    folder.mkdir(parents=True, exist_ok=True)
    # Download beside the cache, then rename: a parallel worker sees the whole file or
    # none (same bytes either way, so whichever rename lands last is as good).
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
        got = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                # The project from its sdist; its build requirements (pip prepares the
                # metadata) may come as wheels.
                "--no-binary",
                project.name,
                f"{project.name}=={project.version}",
                "--dest",
                tmp,
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        files = list(Path(tmp).iterdir())
        if got.returncode != 0 or len(files) != 1:
            raise RuntimeError(
                f"pip download {project.name}=={project.version} failed:\n"
                f"{got.stdout}\n{got.stderr}"
            )
        [fetched] = files
        digest = sha256_file(fetched)
        if fetched.name != project.filename or digest != project.sha256:
            raise RuntimeError(
                f"{project.id}: PyPI gave {fetched.name} sha256 {digest}, pinned "
                f"{project.filename} sha256 {project.sha256}"
            )
        os.replace(fetched, cached)
    return cached


def unpack(project: RealProject, dest: Path) -> Path:
    """The sdist's tree in ``dest``, less what a backend generated into it."""
    with tarfile.open(sdist(project)) as tar:
        tops = {m.name.split("/", 1)[0] for m in tar.getmembers()}
        if len(tops) != 1:
            raise RuntimeError(f"{project.filename} has no single top folder: {sorted(tops)}")
        with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
            tar.extractall(tmp, filter="data")
            shutil.move(Path(tmp) / tops.pop(), dest)
    (dest / "PKG-INFO").unlink()
    # A submodule's gitlink (tomlkit ships tests/toml-test/.git) is no file of the
    # repository: git never tracks it, and a clone has none.
    for link in [p for p in dest.rglob(".git") if p.is_file()]:
        link.unlink()
    for info in [p for p in dest.rglob("*.egg-info") if p.is_dir()]:
        shutil.rmtree(info)
    return dest


def release_date(project: RealProject) -> str:
    """When the sdist was made (its newest member's time), as the commit's date; some
    backends write every time as 0, and git (like zip) wants a later one."""
    with tarfile.open(sdist(project)) as tar:
        newest = max(m.mtime for m in tar.getmembers())
    return f"{newest if newest > FIRST_DATE else FIRST_DATE} +0000"


def checkout(project: RealProject, dest: Path) -> Project:
    """The project as its repository would have it: one commit, not yet tagged."""
    unpack(project, dest)
    when = release_date(project)
    env = {**os.environ, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["commit", "-q", "-m", f"Release {project.version}"],
        # What the repository ignores is not in it (packaging 24.2's sdist shipped a
        # .pytest_cache that git ignores): the checkout holds what a clone would.
        ["clean", "-q", "-f", "-d", "-X"],
    ):
        subprocess.run([*GIT, *args], cwd=dest, env=env, check=True, capture_output=True)
    return Project(dest)


def tag(project: RealProject, repo: Project) -> str:
    """Tag HEAD as the maintainers do (an annotated tag); returns the tag."""
    repo.git("tag", "-a", project.tag, "-m", f"{project.name} {project.version}")
    return project.tag


def clone(repo: Project, tag_name: str, dest: Path) -> Project:
    """A fresh checkout of one tag, as actions/checkout makes it for a pushed tag
    (shallow, detached HEAD)."""
    subprocess.run(
        [*GIT, "clone", "-q", "--depth", "1", "--branch", tag_name, repo.path.as_uri(), str(dest)],
        check=True,
        capture_output=True,
    )
    return Project(dest)
