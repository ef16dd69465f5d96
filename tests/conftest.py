"""Fixtures: real package indexes on 127.0.0.1, sample projects, the runner's environment."""

from __future__ import annotations

import dataclasses
import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from fake_github import FakeGitHub

from release.__main__ import main

REPO = Path(__file__).resolve().parent.parent
PROJECTS = Path(__file__).resolve().parent / "projects"
# Looks like a PyPI token so that any leak is easy to spot.
TOKEN = "pypi-AgEIcHlwaS5vcmc-TEST-SECRET-9f8e7d6c5b4a"
GITHUB_TOKEN = "ghs_test-github-token-0123456789"
OCTOKIT_OPENAPI = "23.0.2"  # @octokit/openapi, pinned
CACHE = Path(os.environ.get("RELEASE_TEST_CACHE", Path.home() / ".cache" / "release-action-tests"))
GIT = [
    "git",
    "-c",
    "safe.directory=*",
    "-c",
    "user.name=Test",
    "-c",
    "user.email=test@example.invalid",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Poll the server until it answers (readiness by polling, not by sleeping)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def start(args: list[str], url: str, log: Path) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_up(url, proc)
    except RuntimeError:
        proc.kill()
        raise RuntimeError(log.read_text(errors="replace")) from None
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@dataclasses.dataclass
class Index:
    """A running index and how to reach it."""

    kind: str
    upload_url: str
    simple_url: str
    user: str
    password: str
    files: Callable[[], dict[str, str]]  # filename -> sha256, read independently


def bin_path(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


@pytest.fixture
def pypiserver(tmp_path: Path) -> Iterator[Index]:
    """A fresh pypiserver (PEP 503 HTML only) with htpasswd auth."""
    from passlib.apache import HtpasswdFile

    root = tmp_path / "pypiserver"
    pkgs = root / "packages"
    pkgs.mkdir(parents=True)
    htpasswd = HtpasswdFile(str(root / "htpasswd"), new=True)
    htpasswd.set_password("uploader", TOKEN)
    htpasswd.save()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start(
        [
            bin_path("pypi-server"),
            "run",
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-P",
            str(root / "htpasswd"),
            "-a",
            "update",
            "--disable-fallback",
            str(pkgs),
        ],
        f"{url}/simple/",
        root / "server.log",
    )

    def files() -> dict[str, str]:
        import hashlib

        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in pkgs.iterdir()}

    yield Index("pypiserver", f"{url}/", f"{url}/simple/", "uploader", TOKEN, files)
    stop(proc)


@dataclasses.dataclass
class DevpiServer:
    url: str


@pytest.fixture(scope="session")
def devpi_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevpiServer]:
    root = tmp_path_factory.mktemp("devpi")
    subprocess.run(
        [bin_path("devpi-init"), "--serverdir", str(root / "srv"), "--root-passwd", "rootpw"],
        check=True,
        capture_output=True,
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start(
        [
            bin_path("devpi-server"),
            "--serverdir",
            str(root / "srv"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--offline-mode",
        ],
        f"{url}/+api",
        root / "server.log",
    )
    yield DevpiServer(url)
    stop(proc)


@pytest.fixture
def devpi(devpi_server: DevpiServer) -> Index:
    """A fresh non-volatile devpi index (PEP 691 JSON), behaving like PyPI on re-upload."""
    user = "u" + uuid.uuid4().hex[:10]
    base = devpi_server.url
    json_headers = {"Content-Type": "application/json", "Accept": "application/json"}
    r = requests.put(
        f"{base}/{user}",
        json={"password": TOKEN},
        headers=json_headers,
        auth=("root", "rootpw"),
        timeout=10,
    )
    r.raise_for_status()
    r = requests.put(
        f"{base}/{user}/dev",
        json={"type": "stage", "bases": "", "volatile": False},
        headers=json_headers,
        auth=(user, TOKEN),
        timeout=10,
    )
    r.raise_for_status()

    def files() -> dict[str, str]:
        out: dict[str, str] = {}
        r = requests.get(
            f"{base}/{user}/dev/+simple/",
            timeout=10,
            headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        )
        for project in r.json()["projects"]:
            page = requests.get(
                f"{base}/{user}/dev/+simple/{project['name']}/",
                timeout=10,
                headers={"Accept": "application/vnd.pypi.simple.v1+json"},
            ).json()
            for f in page["files"]:
                out[f["filename"]] = f["hashes"]["sha256"]
        return out

    return Index("devpi", f"{base}/{user}/dev/", f"{base}/{user}/dev/+simple/", user, TOKEN, files)


@pytest.fixture(params=["pypiserver", "devpi"])
def index(request: pytest.FixtureRequest) -> Index:
    """Each test with this fixture runs against both index servers."""
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


class Project:
    """A sample project in a git checkout, as a workflow's checkout would have it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def git(self, *args: str) -> str:
        return subprocess.run(
            [*GIT, *args], cwd=self.path, check=True, capture_output=True, text=True
        ).stdout.strip()

    def set_version(self, version: str) -> None:
        py = self.path / "pyproject.toml"
        py.write_text(re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', py.read_text()))

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def tag(self, tag: str) -> str:
        self.git("tag", tag)
        return self.git("rev-parse", "HEAD")

    def release(self, version: str, tag: str | None = None) -> str:
        """Set the version, commit, tag; returns the tag."""
        if (self.path / "pyproject.toml").read_text().count('version = "'):
            self.set_version(version)
        self.commit(f"release {version}")
        tag = tag or f"v{version}"
        self.tag(tag)
        shutil.rmtree(self.path / "dist", ignore_errors=True)
        return tag


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Project]:
    def make(kind: str = "flit", folder: str = "workspace") -> Project:
        dest = tmp_path / folder
        shutil.copytree(PROJECTS / kind, dest)
        project = Project(dest)
        project.git("init", "-q", "-b", "main")
        project.commit("initial")
        return project

    return make


@pytest.fixture(scope="session")
def uv_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One download cache for build backends across the session."""
    return Path(os.environ.get("UV_CACHE_DIR") or tmp_path_factory.mktemp("uv-cache"))


def action_defaults() -> dict[str, str]:
    spec = yaml.safe_load((REPO / "action.yml").read_text())
    return {name: str(i.get("default", "")) for name, i in spec["inputs"].items()}


def action_inputs(**overrides: str) -> dict[str, str]:
    """INPUT_<NAME> for every input, defaulted as action.yml says (the runner fills in
    ${{ github.token }})."""
    env = {}
    for name, default in action_defaults().items():
        value = overrides.get(name.replace("-", "_"), default)
        env[f"INPUT_{name.upper()}"] = value.replace("${{ github.token }}", GITHUB_TOKEN)
    return env


def runner_variables(
    project: Project, tag: str, *, home: str, workspace: str, output: str, summary: str, temp: str
) -> dict[str, str]:
    """The variables the runner sets for a step on a pushed tag."""
    return {
        "HOME": home,
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_REF": f"refs/tags/{tag}",
        "GITHUB_REF_NAME": tag,
        "GITHUB_REF_TYPE": "tag",
        "GITHUB_SHA": project.git("rev-parse", "HEAD"),
        "GITHUB_REPOSITORY": "octo-org/sample",
        "GITHUB_WORKSPACE": workspace,
        "GITHUB_OUTPUT": output,
        "GITHUB_STEP_SUMMARY": summary,
        "RUNNER_OS": "Linux",
        "RUNNER_TEMP": temp,
    }


@dataclasses.dataclass
class Run:
    code: int
    out: str
    outputs: dict[str, str]
    summary: str


def parse_outputs(text: str) -> dict[str, str]:
    """Read GITHUB_OUTPUT as the runner does: name=value, or name<<DELIMITER ... DELIMITER."""
    out: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line:
            i += 1
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i + 1)
            out[name] = "\n".join(lines[i + 1 : end])
            i = end + 1
        else:
            name, value = line.split("=", 1)
            out[name] = value
            i += 1
    return out


class Action:
    """Runs the action in-process with exactly the environment a Docker action gets."""

    def __init__(
        self,
        tmp_path: Path,
        uv_cache: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        self.tmp_path = tmp_path
        self.uv_cache = uv_cache
        self.monkeypatch = monkeypatch
        self.capsys = capsys
        self.runs = 0

    def env(
        self,
        project: Project,
        tag: str,
        index: Index | None,
        github: FakeGitHub | None = None,
        **inputs: str,
    ) -> dict[str, str]:
        self.runs += 1
        files = self.tmp_path / f"file_commands_{self.runs}"
        files.mkdir()
        (files / "output").touch()
        (files / "summary").touch()
        home = self.tmp_path / "home"
        home.mkdir(exist_ok=True)
        env = {
            "PATH": os.environ["PATH"],
            "UV_CACHE_DIR": str(self.uv_cache),
            **runner_variables(
                project,
                tag,
                home=str(home),
                workspace=str(project.path),
                output=str(files / "output"),
                summary=str(files / "summary"),
                temp=str(self.tmp_path),
            ),
            **action_inputs(),
        }
        for passthrough in ("SSL_CERT_FILE", "PIP_CERT", "PIP_FIND_LINKS", "PIP_INDEX_URL"):
            if passthrough in os.environ:
                env[passthrough] = os.environ[passthrough]
        env["INPUT_GITHUB-RELEASE"] = "false"
        if github is not None:
            env["INPUT_GITHUB-RELEASE"] = "true"
            env["GITHUB_API_URL"] = github.api
            env["RELEASE_GITHUB_WRITE_INTERVAL"] = "0"  # PyGithub's write throttle
            repo = github.repos.get(env["GITHUB_REPOSITORY"])
            if repo is not None and tag not in repo.tags:
                repo.tags[tag] = env["GITHUB_SHA"]
        if index is not None:
            env["INPUT_REPOSITORY-URL"] = index.upload_url
            env["INPUT_INDEX-URL"] = index.simple_url
            env["INPUT_USER"] = index.user
            env["INPUT_PASSWORD"] = index.password
        for key, value in inputs.items():
            env[f"INPUT_{key.replace('_', '-').upper()}"] = value
        return env

    def run(self, env: dict[str, str], cwd: Path | None = None) -> Run:
        self.monkeypatch.chdir(cwd or Path(env["GITHUB_WORKSPACE"]))
        self.capsys.readouterr()
        code = main([], env)
        out = self.capsys.readouterr()
        return Run(
            code,
            out.out + out.err,
            parse_outputs(Path(env["GITHUB_OUTPUT"]).read_text()),
            Path(env["GITHUB_STEP_SUMMARY"]).read_text(),
        )

    def __call__(
        self,
        project: Project,
        tag: str,
        index: Index | None,
        github: FakeGitHub | None = None,
        **inputs: str,
    ) -> Run:
        return self.run(self.env(project, tag, index, github, **inputs))


@pytest.fixture
def action(
    tmp_path: Path,
    uv_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Action:
    return Action(tmp_path, uv_cache, monkeypatch, capsys)


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


class FaultyProxy:
    """An HTTP proxy in front of an index that fails the uploads a test chooses, and may
    alter what the index answers."""

    def __init__(
        self,
        target: str,
        fail: Callable[[bytes], bool],
        rewrite: Callable[[bytes], bytes] | None = None,
    ) -> None:
        proxy = self
        self.target = target.rstrip("/")
        self.fail = fail
        self.rewrite = rewrite or (lambda content: content)
        self.failed = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.command == "POST" and proxy.fail(body):
                    proxy.failed += 1
                    self.send_response(503, "Service Unavailable (injected)")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                r = requests.request(
                    self.command,
                    proxy.target + self.path,
                    data=body,
                    headers=headers,
                    timeout=30,
                    allow_redirects=False,
                )
                self.send_response(r.status_code, r.reason)
                for k, v in r.headers.items():
                    if k.lower() not in (
                        "transfer-encoding",
                        "content-encoding",
                        "content-length",
                        "connection",
                    ):
                        self.send_header(k, v)
                content = proxy.rewrite(r.content)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = _forward

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def faulty_proxy() -> Iterator[Callable[..., FaultyProxy]]:
    made: list[FaultyProxy] = []

    def make(
        target: str,
        fail: Callable[[bytes], bool],
        rewrite: Callable[[bytes], bytes] | None = None,
    ) -> FaultyProxy:
        made.append(FaultyProxy(target, fail, rewrite))
        return made[-1]

    yield make
    for p in made:
        p.close()


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
        old = page.read_text() if page.exists() else ""
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
    """GitHub's OpenAPI description, from the pinned npm package (fetched once)."""
    import json
    import tarfile

    target = CACHE / f"octokit-openapi-{OCTOKIT_OPENAPI}" / "api.github.com.json"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is needed to fetch @octokit/openapi (apt-get install npm)")
        subprocess.run(
            [
                npm,
                "pack",
                f"@octokit/openapi@{OCTOKIT_OPENAPI}",
                "--silent",
                "--pack-destination",
                str(target.parent),
            ],
            check=True,
            capture_output=True,
        )
        tgz = next(target.parent.glob("*.tgz"))
        with tarfile.open(tgz) as tf:
            member = tf.extractfile("package/generated/api.github.com.json")
            assert member is not None
            target.write_bytes(member.read())
        tgz.unlink()
    return json.loads(target.read_text())  # type: ignore[no-any-return]


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
