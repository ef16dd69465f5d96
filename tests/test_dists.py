"""A distribution's own metadata: what this tool relies on is validated, the rest is
left to twine check and the index (real files carry fields newer than their
Metadata-Version)."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import tracemalloc
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import pytest

from release.dists import read_dist, same_contents, sha256_of
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


def test_read_dists_hashes_every_file_in_order(tmp_path: Path) -> None:
    """Files hashed beside the metadata reads: each Dist has its own file's sha256 (one
    of them larger than hashlib's buffer, so read in many pieces), in the given order."""
    import hashlib
    import os

    from release.dists import read_dists

    paths = []
    for n, size in enumerate([0, 3 * 1024 * 1024 + 12345, 10]):
        folder = tmp_path / str(n)
        folder.mkdir()
        path = wheel(folder, "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
        with zipfile.ZipFile(path, "a") as zf:
            zf.writestr("demo/payload.bin", os.urandom(size), zipfile.ZIP_STORED)
        paths.append(path)
    got = read_dists(paths)
    assert [d.path for d in got] == paths
    assert [d.sha256 for d in got] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]
    assert len({d.sha256 for d in got}) == 3
    assert read_dists([]) == []


def test_read_dists_raises_the_first_bad_files_error(tmp_path: Path) -> None:
    from release.dists import read_dists

    good = wheel(tmp_path, "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
    bad = tmp_path / "demo-1.0.tar.gz"
    bad.write_bytes(b"not a gzip file")
    with pytest.raises(DistributionError) as info:
        read_dists([good, bad, good])
    assert info.value.code == "dist-unreadable"
    assert info.value.message.startswith("demo-1.0.tar.gz cannot be opened as a distribution: ")


@pytest.mark.parametrize(
    "metadata",
    [
        "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nSummary: s\n"
        "Description-Content-Type: text/markdown\n\n# Demo\n",
        # setuptools writes License-File under 2.1: let through, as twine does
        "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nLicense-File: LICENSE\n",
        "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nFrobnicate: yes\n",
        "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Dist: demo[\n",
        "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Python: >=3.x\n",
        "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nLicense-Expression: MIT\n",
        "Metadata-Version: 9.9\nName: demo\nVersion: 1.0\n",
        "Metadata-Version: 2.4\nName: demo\nVersion: 1.0\nDynamic: Name\n",
    ],
    ids=["plain", "license-file", "unknown", "requirement", "python", "newer", "mv", "dynamic"],
)
def test_refused_as_twine_refuses_it(tmp_path: Path, metadata: str) -> None:
    """twine (the oracle, never imported by a run) and read_dist agree on every file:
    both take it, or both refuse it with the same words."""
    import twine.exceptions
    import twine.package

    path = wheel(tmp_path, metadata)
    try:
        twine.package.PackageFile.from_filename(str(path), comment=None)
        theirs = None
    except twine.exceptions.InvalidDistribution as exc:
        theirs = str(exc)
    if theirs is None:
        assert read_dist(path).metadata["name"] == "demo"
        return
    with pytest.raises(DistributionError) as info:
        read_dist(path)
    assert info.value.code == "dist-metadata-invalid"
    assert info.value.message == f"demo-1.0-py3-none-any.whl's metadata is not valid: {theirs}."


def test_a_run_does_not_import_twine(tmp_path: Path) -> None:
    """twine's modules (rich among them, ~4 MiB) are no part of a run's memory."""
    path = wheel(tmp_path, "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
    code = (
        "import sys; from pathlib import Path; from release.dists import read_dist; "
        f"read_dist(Path({str(path)!r})); "
        "import release.planning, release.upload, release.publishing; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('twine', 'rich')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- comparing archives: the index's copy against ours --------------------------------------


def sdist(path: Path, members: dict[str, bytes], *, fmt: int = tarfile.PAX_FORMAT, mtime=0) -> Path:
    with tarfile.open(path, "w:gz", format=fmt) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), mtime
            tf.addfile(info, io.BytesIO(data))
    return path


OURS = {f"demo-1.0/src/demo/m{i}.py": b"x = %d\n" % i for i in range(50)}
OURS["demo-1.0/PKG-INFO"] = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n"


def test_the_same_members_under_other_headers_are_the_same(tmp_path: Path) -> None:
    """A non-reproducible build: times, owners and header format differ (here a PAX
    header per member for its fractional time), the members do not."""
    ours = sdist(tmp_path / "ours.tar.gz", OURS, fmt=tarfile.USTAR_FORMAT)
    theirs = sdist(tmp_path / "theirs.tar.gz", OURS, mtime=1_700_000_000.5)
    assert sha256_of(ours) != sha256_of(theirs)
    assert same_contents(theirs, ours)
    changed = {**OURS, "demo-1.0/src/demo/m7.py": b"x = 8\n"}
    assert not same_contents(sdist(tmp_path / "changed.tar.gz", changed), ours)


def declaring(kind: bytes, size: int, then: Iterable[bytes] = ()) -> bytes:
    """A .tar.gz opening with a long-name (GNU) or extended (PAX) header that declares
    ``size`` bytes, followed by ``then`` (compressed as it comes: zeros cost nothing)."""
    info = tarfile.TarInfo("././@LongLink")
    info.type, info.size = kind, size
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)  # gzip framing
    out = [packer.compress(info.tobuf(format=tarfile.GNU_FORMAT))]
    out += [packer.compress(chunk) for chunk in then]
    return b"".join(out) + packer.flush()


@pytest.mark.parametrize("kind", [tarfile.GNUTYPE_LONGNAME, tarfile.XHDTYPE])
def test_a_header_declaring_a_terabyte_is_not_the_same(tmp_path: Path, kind: bytes) -> None:
    """tarfile reads such a header with one read of the declared size: a 1 KiB file on
    the index must not become a MemoryError."""
    theirs = tmp_path / "theirs.tar.gz"
    theirs.write_bytes(declaring(kind, 2**40, [bytes(4096)]))
    assert len(theirs.read_bytes()) < 1024
    assert not same_contents(theirs, sdist(tmp_path / "ours.tar.gz", OURS))


@pytest.mark.parametrize("kind", [tarfile.GNUTYPE_LONGNAME, tarfile.XHDTYPE])
def test_a_header_inflating_to_megabytes_costs_our_archives_worth(
    tmp_path: Path, kind: bytes
) -> None:
    """A header that declares (and holds) 128 MiB of zeros is read only as far as our own
    archive would be: every byte inflated, headers too, is charged to the budget."""
    mib = 128
    theirs = tmp_path / "theirs.tar.gz"
    theirs.write_bytes(declaring(kind, mib * 2**20, (bytes(2**20) for _ in range(mib))))
    ours = sdist(tmp_path / "ours.tar.gz", OURS)
    tracemalloc.start()
    try:
        assert not same_contents(theirs, ours)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_damaged_archives_are_not_the_same(tmp_path: Path) -> None:
    """Whatever the archive modules raise on a damaged file (a broken deflate stream, a
    compression method they do not know) means "not the same", never an internal error."""
    text = b"".join(b"line %d\n" % i for i in range(200_000))
    ours = sdist(tmp_path / "ours.tar.gz", {**OURS, "demo-1.0/data.txt": text})
    data = bytearray(ours.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 20] = b"\xff" * 20  # zlib.error, after the first members
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(bytes(data))
    assert not same_contents(broken, ours)

    whl = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("demo/__init__.py", "x = 1\n" * 100)
    unknown = tmp_path / "unknown.whl"
    # The compression method (99) in the local and the central header.
    unknown.write_bytes(whl.read_bytes().replace(b"\x08\x00", b"\x63\x00"))
    with zipfile.ZipFile(unknown) as zf, pytest.raises(NotImplementedError):
        zf.read("demo/__init__.py")
    assert not same_contents(unknown, whl)


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_a_metadata_bomb_is_refused_without_reading_it_whole(tmp_path: Path, kind: str) -> None:
    """200 MiB of METADATA inflated from a few hundred KB: refused after 16 MiB read."""
    from release.dists import read_metadata
    from release.errors import DistributionError

    head = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n\n"
    body = head + bytes(200 * 1024 * 1024)
    if kind == "wheel":
        path = tmp_path / "demo-1.0-py3-none-any.whl"
        member = "demo-1.0.dist-info/METADATA"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(member, body)
    else:
        path = tmp_path / "demo-1.0.tar.gz"
        member = "demo-1.0/PKG-INFO"
        with tarfile.open(path, "w:gz") as tf:
            info = tarfile.TarInfo(member)
            info.size = len(body)
            tf.addfile(info, io.BytesIO(body))
    del body
    assert path.stat().st_size < 1024 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(DistributionError) as err:
            read_metadata(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (err.value.code, err.value.message) == (
        "dist-metadata-too-large",
        f"{path.name}'s {member} is larger than 16 MiB.",
    )
    assert peak < 64 * 1024 * 1024


def test_a_build_record_alone_is_no_difference(tmp_path: Path) -> None:
    """setuptools-scm writes the branch it built on into the sdist: a release from a
    branch and its re-run from a tag's checkout install the same files."""
    from release.dists import differing_members

    base = {"demo-1.0/PKG-INFO": b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n"}
    ours = sdist(
        tmp_path / "ours.tar.gz", {**base, "demo-1.0/demo.egg-info/scm_version.json": b'"main"'}
    )
    theirs = sdist(
        tmp_path / "theirs.tar.gz", {**base, "demo-1.0/demo.egg-info/scm_version.json": b'"HEAD"'}
    )
    assert differing_members(theirs, ours) == []
    changed = sdist(tmp_path / "changed.tar.gz", {**base, "demo-1.0/demo.py": b"x = 1\n"})
    assert differing_members(changed, ours) == ["demo-1.0/demo.py"]
