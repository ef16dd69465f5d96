"""Wheels and sdists made by hand with zipfile and tarfile, each good or broken in one
chosen way, for the upload-rule tests (the rules module and the warehouse stand-in).

``wheel(tmp_path)`` and ``sdist(tmp_path)`` make a clean file of project ``demo`` 1.0
that any index takes; each keyword breaks one thing::

    wheel(tmp_path, tags="py3-none-linux_x86_64")          # a platform tag PyPI refuses
    wheel(tmp_path, fields={"Classifier": ["Nope :: X"]})  # a metadata field added
    sdist(tmp_path, filename="Demo-1.0.tar.gz")             # a non-normalized name
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name

from release.dists import Dist, sha256_of

Fields = Mapping[str, str | Sequence[str] | None]
LICENSE = b"MIT License\n\nPermission is hereby granted...\n"


def metadata(name: str = "demo", version: str = "1.0", fields: Fields | None = None) -> bytes:
    """Core metadata (email header form); ``fields`` adds or replaces fields (a list for
    a multiple-use field, None to drop one)."""
    base: dict[str, str | Sequence[str] | None] = {
        "Metadata-Version": "2.4",
        "Name": name,
        "Version": version,
        "Summary": "A demo project",
        "Author-email": "Demo Dev <dev@example.org>",
        "License-Expression": "MIT",
        "License-File": ["LICENSE"],
        "Project-URL": ["Homepage, https://example.org/demo"],
        "Classifier": ["Programming Language :: Python :: 3"],
        "Requires-Python": ">=3.9",
        "Description-Content-Type": "text/markdown",
    }
    base.update(fields or {})
    lines = []
    for key, value in base.items():
        if value is None:
            continue
        for one in [value] if isinstance(value, str) else value:
            lines.append(f"{key}: {one}")
    return ("\n".join(lines) + "\n\n# Demo\n\nA demo.\n").encode()


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def wheel(
    directory: Path,
    name: str = "demo",
    version: str = "1.0",
    *,
    tags: str = "py3-none-any",
    filename: str | None = None,
    fields: Fields | None = None,
    members: Mapping[str, bytes] | None = None,
    omit: Sequence[str] = (),
    entry_points: str | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
    data_descriptor: bool = False,
    member_comment: bool = False,
    trailing: bytes = b"",
    info_stem: str | None = None,
) -> Path:
    """A wheel; ``omit`` leaves out dist-info files ("RECORD", "WHEEL", "METADATA",
    "LICENSE"); ``members`` adds files; the zip-level keywords break its framing."""
    stem = f"{canonicalize_name(name).replace('-', '_')}-{version}"
    info = f"{info_stem or stem}.dist-info"
    files: dict[str, bytes] = {f"{canonicalize_name(name).replace('-', '_')}/__init__.py": b""}
    files.update(members or {})
    files[f"{info}/METADATA"] = metadata(name, version, fields)
    files[f"{info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: crafted\nRoot-Is-Purelib: true\nTag: {tags}\n".encode()
    )
    files[f"{info}/licenses/LICENSE"] = LICENSE
    if entry_points is not None:
        files[f"{info}/entry_points.txt"] = entry_points.encode()
    for leave in omit:
        files.pop(f"{info}/licenses/LICENSE" if leave == "LICENSE" else f"{info}/{leave}", None)
    record = [_record_line(n, d) for n, d in files.items()] + [f"{info}/RECORD,,"]
    if "RECORD" not in omit:
        files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = directory / (filename or f"{info_stem or stem}-{tags}.whl")
    buffer = io.BytesIO()
    # A stream zipfile cannot seek back into gets data descriptors after each member.
    target: io.RawIOBase | io.BytesIO = _Unseekable(buffer) if data_descriptor else buffer
    with zipfile.ZipFile(target, "w", compression) as zf:  # type: ignore[arg-type]
        for member, data in files.items():
            info_ = zipfile.ZipInfo(member, date_time=(2024, 1, 1, 0, 0, 0))
            info_.compress_type = compression
            if member_comment:
                info_.comment = b"a comment"
            zf.writestr(info_, data)
    path.write_bytes(buffer.getvalue() + trailing)
    return path


class _Unseekable(io.RawIOBase):
    def __init__(self, sink: io.BytesIO) -> None:
        self.sink = sink

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        return self.sink.write(data)

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        raise OSError("not seekable")

    def flush(self) -> None:
        pass


def sdist(
    directory: Path,
    name: str = "demo",
    version: str = "1.0",
    *,
    filename: str | None = None,
    top: str | None = None,
    fields: Fields | None = None,
    members: Mapping[str, bytes] | None = None,
    omit: Sequence[str] = (),
    sparse: bool = False,
) -> Path:
    """An sdist (.tar.gz): PKG-INFO, pyproject.toml, LICENSE, the package, under one
    top-level directory; ``omit`` leaves out "PKG-INFO" or "LICENSE"; ``sparse`` adds a
    GNU sparse member."""
    stem = f"{canonicalize_name(name).replace('-', '_')}-{version}"
    top = top or stem
    files: dict[str, bytes] = {
        "PKG-INFO": metadata(name, version, fields),
        "pyproject.toml": f'[project]\nname = "{name}"\nversion = "{version}"\n'.encode(),
        "LICENSE": LICENSE,
        f"src/{canonicalize_name(name).replace('-', '_')}/__init__.py": b"",
    }
    files.update(members or {})
    for leave in omit:
        files.pop(leave, None)
    path = directory / (filename or f"{stem}.tar.gz")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tf:
        for member, data in files.items():
            info = tarfile.TarInfo(f"{top}/{member}")
            info.size = len(data)
            info.mtime = 1704067200
            tf.addfile(info, io.BytesIO(data))
    raw = gzip_decompress(buffer.getvalue())
    if sparse:
        raw = _with_sparse_member(raw, f"{top}/sparse.bin")
    path.write_bytes(gzip_compress(raw))
    return path


def gzip_decompress(data: bytes) -> bytes:
    import gzip

    return gzip.decompress(data)


def gzip_compress(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, mtime=0)


def _with_sparse_member(tar: bytes, name: str) -> bytes:
    """The tar stream with a GNU old-style sparse member ('S') put before its end."""
    block = tarfile.BLOCKSIZE
    end = len(tar)
    while end >= block and tar[end - block : end] == bytes(block):
        end -= block  # the end-of-archive zero blocks
    header = bytearray(block)
    header[0 : len(name)] = name.encode()
    header[100:108] = b"0000644\0"
    header[108:116] = header[116:124] = b"0000000\0"
    header[124:136] = b"00000000004\0"  # 4 bytes stored
    header[136:148] = b"00000000000\0"
    header[156:157] = b"S"
    header[257:265] = b"ustar  \0"  # GNU magic
    # One sparse map entry (offset 0, 4 bytes), then the real size (1 MiB).
    header[386:398] = b"00000000000\0"
    header[398:410] = b"00000000004\0"
    header[483:495] = b"00004000000\0"
    header[148:156] = b"        "
    header[148:156] = b"%06o\0 " % sum(header)
    data = b"data" + bytes(block - 4)
    return tar[:end] + bytes(header) + data + bytes(2 * block)


def dist_of(path: Path, name: str = "demo", version: str = "1.0") -> Dist:
    """The Dist the pipeline would hold for ``path`` (without twine's view)."""
    return Dist(
        path=path,
        kind="wheel" if path.name.endswith(".whl") else "sdist",
        name=name,
        version=version,
        sha256=sha256_of(path),
        size=path.stat().st_size,
    )
