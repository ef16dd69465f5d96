"""Fixtures: real package indexes on 127.0.0.1, sample projects, the runner's environment.

The machinery lives in tests/support/ (shared with scripts/demo.py and benchmarks/);
this file only turns it into fixtures.
"""

from __future__ import annotations

import http.server
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.fake_github import FakeGitHub, load_github_spec
from support.faults import FaultProxy
from support.indexes import TOKEN, Index, devpi_index, devpi_server, pypiserver
from support.projects import Project, make_project
from support.runner import GITHUB_TOKEN, REPO, Action, Cli

__all__ = ["GITHUB_TOKEN", "REPO", "TOKEN", "Action", "Index", "Project"]


@pytest.fixture(name="pypiserver")
def pypiserver_fixture(tmp_path: Path) -> Iterator[Index]:
    """A fresh pypiserver (PEP 503 HTML only) with htpasswd auth."""
    with pypiserver(tmp_path / "pypiserver") as index:
        yield index


@pytest.fixture(scope="session", name="devpi_server")
def devpi_server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with devpi_server(tmp_path_factory.mktemp("devpi")) as url:
        yield url


@pytest.fixture
def devpi(devpi_server: str) -> Index:
    """A fresh non-volatile devpi index (PEP 691 JSON), behaving like PyPI on re-upload."""
    return devpi_index(devpi_server)


@pytest.fixture(params=["pypiserver", "devpi"])
def index(request: pytest.FixtureRequest) -> Index:
    """Each test with this fixture runs against both index servers."""
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture(name="make_project")
def make_project_fixture(tmp_path: Path) -> Callable[..., Project]:
    def make(kind: str = "flit", folder: str = "workspace") -> Project:
        return make_project(kind, tmp_path / folder)

    return make


@pytest.fixture(scope="session")
def uv_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One download cache for build backends across the session."""
    return Path(os.environ.get("UV_CACHE_DIR") or tmp_path_factory.mktemp("uv-cache"))


@pytest.fixture
def action(
    tmp_path: Path,
    uv_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Action:
    return Action(tmp_path, uv_cache, monkeypatch, capsys)


@pytest.fixture
def cli(
    tmp_path: Path,
    uv_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Cli:
    """``python -m release`` in-process, the command line's front door."""
    return Cli(tmp_path, uv_cache, monkeypatch, capsys)


# Every child process the code under test starts, seen through the interpreter's own
# audit events (PEP 578), which cannot be bypassed by the code that starts them.
SPAWNED: list[tuple[Any, ...]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "subprocess.Popen":
        SPAWNED.append(args)


sys.addaudithook(_audit)


@pytest.fixture
def spawned() -> list[tuple[Any, ...]]:
    SPAWNED.clear()
    return SPAWNED


@pytest.fixture
def proxy(request: pytest.FixtureRequest) -> Iterator[FaultProxy]:
    """A fault proxy in front of the test's index (pypiserver unless the test asks for
    another through its own ``index`` or ``devpi`` fixture)."""
    names = request.fixturenames
    kind = "index" if "index" in names else "devpi" if "devpi" in names else "pypiserver"
    index: Index = request.getfixturevalue(kind)
    with FaultProxy(index.base) as p:
        yield p
        assert p.errors == [], p.errors  # the proxy's own bugs would void the test


class StaticIndex:
    """A read-only PEP 503 index served from files, for states no test server can make
    (yanked releases)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        handler = lambda *a, **k: _QuietFiles(*a, directory=str(root), **k)  # noqa: E731
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, project: str, filename: str, *, yanked: bool = False) -> None:
        page = self.root / "simple" / project / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        old = page.read_text() if page.exists() else f"<title>Links for {project}</title>\n"
        attr = ' data-yanked=""' if yanked else ""
        page.write_text(
            old + f'<a href="../../files/{filename}#sha256={"0" * 64}"{attr}>{filename}</a>\n'
        )


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def static_index(tmp_path: Path) -> Iterator[StaticIndex]:
    idx = StaticIndex(tmp_path / "static-index")
    (tmp_path / "static-index" / "simple").mkdir(parents=True)
    yield idx
    idx.server.shutdown()
    idx.server.server_close()


@pytest.fixture(scope="session")
def github_spec() -> dict[str, Any]:
    """GitHub's OpenAPI description, from the pinned npm package."""
    return load_github_spec()


@pytest.fixture
def github(github_spec: dict[str, Any]) -> Iterator[FakeGitHub]:
    """The fake GitHub with the sample repository and a token that may write."""
    fake = FakeGitHub(github_spec)
    fake.add_repo("octo-org/sample")
    fake.tokens[GITHUB_TOKEN] = "write"
    yield fake
    fake.close()
    assert not fake.invalid, "requests that GitHub's OpenAPI description refuses:\n" + "\n".join(
        fake.invalid
    )
