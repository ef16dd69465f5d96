"""A PEP 517 build backend, standard library only, for tests.

Each hook appends the environment it was given, as one JSON line, to the file that
``ENVDUMP_FILE`` names (so a test can see what a build backend sees), then builds a
minimal but valid sdist and wheel, reproducibly under ``SOURCE_DATE_EPOCH``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import tarfile
import tomllib
import zipfile
from pathlib import Path

SOURCES = ("pyproject.toml", "backend.py", "README.md", "envdump_sample/__init__.py")


def _record(hook: str) -> None:
    target = os.environ.get("ENVDUMP_FILE")
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"hook": hook, "env": dict(os.environ)}) + "\n")


def _project() -> tuple[str, str, str]:
    project = tomllib.loads(Path("pyproject.toml").read_text(encoding="utf-8"))["project"]
    name, version = project["name"], project["version"]
    return name, version, f"{name.replace('-', '_')}-{version}"


def _metadata(name: str, version: str) -> bytes:
    readme = Path("README.md").read_text(encoding="utf-8")
    return (
        "Metadata-Version: 2.1\n"
        f"Name: {name}\n"
        f"Version: {version}\n"
        "Summary: An in-tree build backend that records the environment it is given.\n"
        "Requires-Python: >=3.11\n"
        "Description-Content-Type: text/markdown\n"
        f"\n{readme}"
    ).encode()


def _epoch() -> int:
    return int(os.environ.get("SOURCE_DATE_EPOCH") or 315532800)


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_sdist(sdist_directory, config_settings=None):
    _record("build_sdist")
    name, version, stem = _project()
    files = {path: Path(path).read_bytes() for path in SOURCES}
    files["PKG-INFO"] = _metadata(name, version)
    target = Path(sdist_directory) / f"{stem}.tar.gz"
    with (
        open(target, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=_epoch()) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(f"{stem}/{path}")
            info.size, info.mtime, info.mode = len(data), _epoch(), 0o644
            tar.addfile(info, io.BytesIO(data))
    return target.name


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}\n"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _record("build_wheel")
    name, version, stem = _project()
    info = f"{stem}.dist-info"
    files = {
        "envdump_sample/__init__.py": Path("envdump_sample/__init__.py").read_bytes(),
        f"{info}/METADATA": _metadata(name, version),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: envdump-backend\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = "".join(_record_line(p, d) for p, d in files.items()) + f"{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = record.encode()
    target = Path(wheel_directory) / f"{stem}-py3-none-any.whl"
    stamp = (1980, 1, 1, 0, 0, 0)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(zipfile.ZipInfo(path, stamp), data, zipfile.ZIP_DEFLATED)
    return target.name
