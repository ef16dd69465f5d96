"""Distribution files made on the spot: valid wheels and an sdist of one project and one
version, with incompressible (random) payloads, that `twine check --strict` passes.

Wheels are written with ZIP_STORED and the payload streamed in chunks, so a 300 MiB
wheel takes about as long as writing 300 MiB of os.urandom to disk.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
import zipfile
from pathlib import Path

from packaging.utils import canonicalize_name

CHUNK = 4 * 1024 * 1024
MIB = 1024 * 1024

# 19 distinct, valid wheel tags of one version (one wheel per tag), then one sdist.
PLATFORMS = [
    "manylinux_2_17_x86_64.manylinux2014_x86_64",
    "manylinux_2_17_aarch64.manylinux2014_aarch64",
    "musllinux_1_2_x86_64",
    "musllinux_1_2_aarch64",
    "win_amd64",
    "win_arm64",
    "macosx_11_0_arm64",
]
PYTHONS = ["cp311", "cp312", "cp313"]
WHEEL_TAGS = [f"{py}-{py}-{plat}" for py in PYTHONS for plat in PLATFORMS][:19]


def dist_name(name: str) -> str:
    """The name as file names spell it (PEP 427/625)."""
    return canonicalize_name(name).replace("-", "_")


def metadata(name: str, version: str) -> str:
    return (
        "Metadata-Version: 2.1\n"
        f"Name: {name}\n"
        f"Version: {version}\n"
        "Summary: Files made up by the release benchmark.\n"
        "Requires-Python: >=3.9\n"
        "Description-Content-Type: text/markdown\n"
        "\n"
        f"# {name}\n\nA random payload, made up by benchmarks/distfiles.py.\n"
    )


def _record_hash(digest: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def write_wheel(folder: Path, name: str, version: str, tag: str, payload: int) -> Path:
    """A wheel with a module and `payload` random bytes (stored, not deflated)."""
    base = f"{dist_name(name)}-{version}"
    info = f"{base}.dist-info"
    pkg = dist_name(name)
    path = folder / f"{base}-{tag}.whl"
    records: list[str] = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:

        def add(arcname: str, data: bytes) -> None:
            zf.writestr(arcname, data)
            records.append(f"{arcname},{_record_hash(hashlib.sha256(data).digest())},{len(data)}")

        add(f"{pkg}/__init__.py", b'"""Made up by the release benchmark."""\n')
        digest = hashlib.sha256()
        with zf.open(f"{pkg}/payload.bin", "w", force_zip64=payload >= 2**31) as fh:
            left = payload
            while left > 0:
                chunk = os.urandom(min(CHUNK, left))
                digest.update(chunk)
                fh.write(chunk)
                left -= len(chunk)
        records.append(f"{pkg}/payload.bin,{_record_hash(digest.digest())},{payload}")
        pure = "true" if tag.endswith("-none-any") else "false"
        add(f"{info}/METADATA", metadata(name, version).encode())
        wheel = f"Wheel-Version: 1.0\nGenerator: benchmark\nRoot-Is-Purelib: {pure}\n"
        add(f"{info}/WHEEL", f"{wheel}Tag: {tag}\n".encode())
        records.append(f"{info}/RECORD,,")
        zf.writestr(f"{info}/RECORD", "\n".join(records) + "\n")
    return path


def write_sdist(folder: Path, name: str, version: str, payload: int) -> Path:
    """An sdist: PKG-INFO, pyproject.toml and `payload` random bytes."""
    base = f"{dist_name(name)}-{version}"
    path = folder / f"{base}.tar.gz"
    pyproject = (
        '[build-system]\nrequires = ["setuptools>=77"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\n'
    )
    members = {
        "PKG-INFO": metadata(name, version).encode(),
        "pyproject.toml": pyproject.encode(),
        "payload.bin": os.urandom(payload),
    }
    # Random bytes do not compress: level 1 spends the least time finding that out.
    with tarfile.open(path, "w:gz", compresslevel=1) as tf:
        for member, data in members.items():
            entry = tarfile.TarInfo(f"{base}/{member}")
            entry.size = len(data)
            entry.mtime = 0
            tf.addfile(entry, io.BytesIO(data))
    return path


def prebuilt_set(folder: Path, name: str, version: str) -> list[Path]:
    """19 wheels (distinct platform tags) and one sdist, 1-2 MiB each, all different
    sizes, the same for every version."""
    folder.mkdir(parents=True, exist_ok=True)
    files = [
        write_wheel(folder, name, version, tag, MIB + i * 50 * 1024)
        for i, tag in enumerate(WHEEL_TAGS)
    ]
    files.append(write_sdist(folder, name, version, MIB + 19 * 50 * 1024))
    return files


def big_wheel(folder: Path, name: str, version: str, size: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_wheel(folder, name, version, "py3-none-any", size)
