"""A Docker engine and the Dockerfile's base image, made here when they are missing.

No container registry is reachable on these machines, so the official slim Python image
cannot be pulled. A stand-in that behaves like it (Debian with CPython, no Debian Python
libraries, pip in /usr/local) is made from Debian's packages with mmdebstrap and tagged
with the Dockerfile's FROM name. The Dockerfile itself knows nothing of this.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

STATE = Path(os.environ.get("RELEASE_TEST_DOCKER_STATE", "/var/tmp/release-action-docker"))
SOCKET = STATE / "docker.sock"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")

STANDIN_HOOK = r"""
set -e
rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED
ln -sf python3 "$1/usr/bin/python"
wheel=$(ls "$1"/usr/share/python-wheels/pip-*.whl | head -n1)
chroot "$1" python3 "/usr/share/python-wheels/$(basename "$wheel")/pip" install \
    --no-index "/usr/share/python-wheels/$(basename "$wheel")"
"""


def docker(
    *args: str, check: bool = True, capture: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], check=check, text=True, capture_output=capture, env=env or docker_env()
    )


def docker_env() -> dict[str, str]:
    env = dict(os.environ)
    if "DOCKER_HOST" not in env and SOCKET.exists():
        env["DOCKER_HOST"] = f"unix://{SOCKET}"
    return env


def engine_up(env: dict[str, str]) -> bool:
    if shutil.which("docker") is None:
        return False
    return (
        subprocess.run(["docker", "info"], env=env, capture_output=True, check=False).returncode
        == 0
    )


def ensure_engine() -> tuple[dict[str, str], subprocess.Popen[bytes] | None]:
    """A reachable engine: the one configured, or a dockerd started here (returned)."""
    env = dict(os.environ)
    if engine_up(env):
        return env, None
    if shutil.which("dockerd") is None:
        raise RuntimeError(
            "No Docker engine and no dockerd: install Debian's docker.io "
            "(scripts/test.sh does, as root)."
        )
    STATE.mkdir(parents=True, exist_ok=True)
    env["DOCKER_HOST"] = f"unix://{SOCKET}"
    if engine_up(env):
        return env, None  # started by an earlier run and still up
    log = (STATE / "dockerd.log").open("ab")
    proc = subprocess.Popen(
        [
            "dockerd",
            "--data-root",
            str(STATE / "data"),
            "--exec-root",
            str(STATE / "exec"),
            "--pidfile",
            str(STATE / "dockerd.pid"),
            "-H",
            f"unix://{SOCKET}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dockerd exited: see {STATE / 'dockerd.log'}")
        if engine_up(env):
            return env, proc
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("dockerd did not come up in 60 s")


def base_image(dockerfile: Path) -> str:
    match = re.search(r"(?m)^FROM\s+(\S+)", dockerfile.read_text())
    assert match, "Dockerfile has no FROM"
    return match.group(1)


def ensure_base_image(name: str, env: dict[str, str]) -> str:
    """The base image: present, pulled, or a stand-in built from Debian's packages."""
    if docker("image", "inspect", name, check=False, env=env).returncode == 0:
        return "present"
    if docker("pull", name, check=False, env=env).returncode == 0:
        return "pulled"
    if shutil.which("mmdebstrap") is None:
        raise RuntimeError(
            "Cannot pull the base image and mmdebstrap is missing: install Debian's mmdebstrap."
        )
    with tempfile.TemporaryDirectory(prefix="release-standin-") as tmp:
        root = Path(tmp)
        subprocess.run(
            [
                "mmdebstrap",
                "--variant=minbase",
                "--mode=root",
                "--include=python3,python3-venv,ca-certificates",
                f"--customize-hook={STANDIN_HOOK.strip()}",
                "trixie",
                str(root / "rootfs.tar"),
            ],
            check=True,
            capture_output=True,
        )
        docker("import", str(root / "rootfs.tar"), f"{name}-rootfs", env=env)
        shutil.copy(HOST_CA, root / "ca.crt")
        (root / "Dockerfile").write_text(
            f"FROM {name}-rootfs\n"
            # HTTPS here may go through a proxy the host trusts.
            "COPY ca.crt /usr/local/share/ca-certificates/host-proxy.crt\n"
            "RUN update-ca-certificates >/dev/null 2>&1 || cat "
            "/usr/local/share/ca-certificates/host-proxy.crt >> "
            "/etc/ssl/certs/ca-certificates.crt\n"
            'ENV LANG=C.UTF-8 PATH="/usr/local/bin:$PATH"\n'
            'CMD ["python3"]\n'
        )
        docker("build", "-q", "-t", name, str(root), env=env)
    return "stand-in"


if __name__ == "__main__":
    environment, _ = ensure_engine()
    repo = Path(__file__).resolve().parent.parent
    print(ensure_base_image(base_image(repo / "Dockerfile"), environment))
