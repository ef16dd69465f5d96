"""Real package index servers on 127.0.0.1: pypiserver (PEP 503 HTML) and devpi-server
(PEP 691 JSON). Used by the tests, scripts/demo.py and benchmarks/."""

from __future__ import annotations

import dataclasses
import hashlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# Looks like a PyPI token so that any leak is easy to spot.
TOKEN = "pypi-AgEIcHlwaS5vcmc-TEST-SECRET-9f8e7d6c5b4a"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bin_path(name: str) -> str:
    """A console script of the running interpreter's environment."""
    return str(Path(sys.executable).with_name(name))


def wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Poll the server until it answers (readiness by polling, not by sleeping)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status < 500:
                    return
        except urllib.error.HTTPError as e:
            if e.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def start(args: list[str], url: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
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
        proc.wait(10)


@dataclasses.dataclass
class Index:
    """A running index and how to reach it."""

    kind: str
    upload_url: str
    simple_url: str
    user: str
    password: str
    files: Callable[[], dict[str, str]]  # filename -> sha256, read independently

    @property
    def base(self) -> str:
        """scheme://host:port"""
        return "/".join(self.upload_url.split("/")[:3])


@contextmanager
def pypiserver(root: Path, user: str = "uploader", password: str = TOKEN) -> Iterator[Index]:
    """A fresh pypiserver with htpasswd auth, serving ``root/packages``."""
    from passlib.apache import HtpasswdFile

    pkgs = root / "packages"
    pkgs.mkdir(parents=True)
    htpasswd = HtpasswdFile(str(root / "htpasswd"), new=True)
    htpasswd.set_password(user, password)
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
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in pkgs.iterdir()}

    try:
        yield Index("pypiserver", f"{url}/", f"{url}/simple/", user, password, files)
    finally:
        stop(proc)


@contextmanager
def devpi_server(root: Path) -> Iterator[str]:
    """A devpi-server (offline mode); yields its base URL. Takes ~5 s to start."""
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
    try:
        yield url
    finally:
        stop(proc)


def devpi_index(base: str, password: str = TOKEN) -> Index:
    """A fresh non-volatile devpi index (PEP 691 JSON), behaving like PyPI on re-upload."""
    import requests

    user = "u" + uuid.uuid4().hex[:10]
    json_headers = {"Content-Type": "application/json", "Accept": "application/json"}
    r = requests.put(
        f"{base}/{user}",
        json={"password": password},
        headers=json_headers,
        auth=("root", "rootpw"),
        timeout=10,
    )
    r.raise_for_status()
    r = requests.put(
        f"{base}/{user}/dev",
        json={"type": "stage", "bases": "", "volatile": False},
        headers=json_headers,
        auth=(user, password),
        timeout=10,
    )
    r.raise_for_status()
    accept = {"Accept": "application/vnd.pypi.simple.v1+json"}

    def files() -> dict[str, str]:
        out: dict[str, str] = {}
        r = requests.get(f"{base}/{user}/dev/+simple/", timeout=10, headers=accept)
        for project in r.json()["projects"]:
            page = requests.get(
                f"{base}/{user}/dev/+simple/{project['name']}/", timeout=10, headers=accept
            ).json()
            for f in page["files"]:
                out[f["filename"]] = f["hashes"]["sha256"]
        return out

    return Index(
        "devpi", f"{base}/{user}/dev/", f"{base}/{user}/dev/+simple/", user, password, files
    )
