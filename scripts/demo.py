"""Run the release pipeline end to end on examples/hello-release against a throwaway
pypiserver on 127.0.0.1, then show what the action would show."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from passlib.apache import HtpasswdFile

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "demo-token-not-a-secret"  # noqa: S105 - a throwaway local index


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("pypiserver did not start")
        try:
            urllib.request.urlopen(url, timeout=1).close()  # noqa: S310 - our own server
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("pypiserver did not answer in time")


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=Demo", "-c", "user.email=demo@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@contextmanager
def throwaway_index(root: Path, user: str, password: str) -> Iterator[str]:
    """A pypiserver on 127.0.0.1 that takes uploads from ``user``; yields its URL."""
    (root / "packages").mkdir(parents=True)
    htpasswd = HtpasswdFile(str(root / "htpasswd"), new=True)
    htpasswd.set_password(user, password)
    htpasswd.save()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "pypi-server"),
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
            str(root / "packages"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_up(f"{url}/simple/", server)
        yield url
    finally:
        server.terminate()
        server.wait(10)


def tagged_copy(source: Path, dest: Path, tag: str) -> Path:
    """The project in a fresh git repository, tagged."""
    shutil.copytree(source, dest)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", f"release {tag}")
    git(dest, "tag", tag)
    return dest


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="release-demo-") as tmp:
        root = Path(tmp)
        project = tagged_copy(REPO / "examples" / "hello-release", root / "hello-release", "v1.0.0")
        with throwaway_index(root / "index", "demo", PASSWORD) as url:
            print(f"Throwaway index: {url}/simple/  (project in {project})\n")
            env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
            env.update(TWINE_USERNAME="demo", TWINE_PASSWORD=PASSWORD)
            args = [
                sys.executable,
                "-m",
                "release",
                "--tag",
                "v1.0.0",
                "--repository-url",
                f"{url}/",
                "--index-url",
                f"{url}/simple/",
                *sys.argv[1:],
            ]
            code = subprocess.run(args, cwd=project, env=env, check=False).returncode
            if code == 0:
                print("Running it again shows a safe re-run (nothing is uploaded twice):\n")
                shutil.rmtree(project / "dist")
                code = subprocess.run(args, cwd=project, env=env, check=False).returncode
            print(
                "The index now holds:",
                ", ".join(sorted(p.name for p in (root / "index" / "packages").iterdir())),
            )
            return code


if __name__ == "__main__":
    sys.exit(main())
