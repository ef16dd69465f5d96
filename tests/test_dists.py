"""A distribution's own metadata: what this tool relies on is validated, the rest is
left to twine check and the index (real files carry fields newer than their
Metadata-Version)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from release.dists import read_dist
from release.errors import DistributionError


def wheel(tmp_path: Path, metadata: str) -> Path:
    path = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("demo-1.0.dist-info/METADATA", metadata)
    return path


def test_newer_fields_under_an_older_version_pass(tmp_path: Path) -> None:
    meta = "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nLicense-File: LICENSE\n"
    dist = read_dist(wheel(tmp_path, meta))
    assert (dist.name, dist.version, dist.kind) == ("demo", "1.0", "wheel")


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        ("Metadata-Version: 2.1\nVersion: 1.0\n", "name"),
        ("Metadata-Version: 2.1\nName: demo\nVersion: not a version\n", "version"),
        ("Metadata-Version: 2.1\nName: -bad-\nVersion: 1.0\n", "name"),
    ],
)
def test_name_and_version_are_validated(tmp_path: Path, metadata: str, problem: str) -> None:
    with pytest.raises(DistributionError) as info:
        read_dist(wheel(tmp_path, metadata))
    assert info.value.code == "dist-metadata-invalid"
    assert info.value.message.startswith("demo-1.0-py3-none-any.whl's metadata is not valid: ")
    assert problem in info.value.message.lower()


def test_digests_match_hashlib_across_chunks(tmp_path: Path) -> None:
    import hashlib
    import os

    from release.dists import CHUNK, digests

    path = tmp_path / "big.bin"
    data = os.urandom(3 * CHUNK + 12345)
    path.write_bytes(data)
    assert digests(path) == (
        hashlib.sha256(data).hexdigest(),
        hashlib.blake2b(data, digest_size=32).hexdigest(),
    )


def test_the_package_is_twines_own_without_a_second_read(tmp_path: Path) -> None:
    """read_dist's PackageFile is what twine makes of the file itself (the same
    attributes, the same upload form), and twine is left as it was."""
    import twine.package

    meta = (
        "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nSummary: s\n"
        "Description-Content-Type: text/markdown\n\n# Demo\n"
    )
    path = wheel(tmp_path, meta)
    ours = read_dist(path).package
    assert ours is not None
    theirs = twine.package.PackageFile.from_filename(str(path), comment=None)
    assert twine.package.HashManager.__name__ == "HashManager"
    assert type(ours) is type(theirs)
    assert vars(ours) == vars(theirs)
    assert ours.metadata_dictionary() == theirs.metadata_dictionary()
