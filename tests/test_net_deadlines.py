"""Every wait on the network ends, whatever the server does: a body dripped a byte at a
time (each byte well within any per-read timeout), a server that takes an upload one
block at a time, a header whose number is not ASCII.

Real servers on 127.0.0.1: a plain file server behind the fault proxy, and for the slow
reader a small threaded socket server. The deadlines are shortened through the module
constants the code reads at call time; wall-time bounds are generous upper bounds.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import os
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from support.faults import ALWAYS, Fault, FaultProxy, drip, status
from support.faults import _Handler as Handler

from release import http as rhttp
from release import index as idx
from release import upload
from release.dists import read_dist
from release.errors import PackageIndexError
from release.gha import Console
from release.http import get_capped, make_session
from release.simple import IndexFile

SDIST = "demo-1.0.tar.gz"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Files:
    root: Path
    url: str


@pytest.fixture
def files(tmp_path: Path) -> Iterator[Files]:
    """A plain HTTP file server over a folder."""
    root = tmp_path / "served"
    root.mkdir()
    handler = lambda *a, **k: _Quiet(*a, directory=str(root), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Files(root, f"http://127.0.0.1:{server.server_address[1]}/")
    server.shutdown()
    server.server_close()


# --- a download dripped one byte at a time ---------------------------------------------


def test_download_dripped_a_byte_at_a_time_stops_at_its_deadline(
    files: Files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real deadline is 90 s plus 1 s per MiB of the cap; each byte comes long before
    # any read timeout, so only a deadline checked between reads stops it.
    monkeypatch.setattr(idx, "READ_DEADLINE", 2.0)
    data = b"x" * 1000
    (files.root / SDIST).write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    out = tmp_path / "out"
    out.mkdir()
    with FaultProxy(files.url) as proxy:
        proxy.add(drip(0.2, limit=40), method="GET", times=ALWAYS)  # 1000 bytes: 200 s
        listed = IndexFile(SDIST, proxy.url_for(f"/{SDIST}"), sha, False, "1.0", {"sha256": sha})
        start = time.monotonic()
        with pytest.raises(PackageIndexError) as info:
            idx.download(make_session(), listed, out, limit=len(data))
        took = time.monotonic() - start
    assert info.value.code == "index-download-failed"
    assert info.value.message == (
        f"Cannot download {SDIST} from the index: it did not arrive within 2 s."
    )
    assert took < 20
    assert not (out / SDIST).exists()


def test_download_still_checks_size_and_digests(files: Files, tmp_path: Path) -> None:
    data = b"sdist bytes"
    (files.root / SDIST).write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    blake = hashlib.blake2b(data, digest_size=32).hexdigest()
    out = tmp_path / "out"
    out.mkdir()
    url = files.url + SDIST
    listed = IndexFile(SDIST, url, sha, False, "1.0", {"sha256": sha, "blake2b_256": blake})
    assert idx.download(make_session(), listed, out, limit=len(data)).read_bytes() == data

    # A digest of no fixed size (SHAKE) cannot be checked as listed: left to sha256.
    shake = IndexFile(SDIST, url, sha, False, "1.0", {"sha256": sha, "shake_128": "00"})
    assert idx.download(make_session(), shake, out, limit=len(data)).read_bytes() == data

    wrong = IndexFile(SDIST, url, sha, False, "1.0", {"sha256": sha, "md5": "0" * 32})
    with pytest.raises(PackageIndexError) as info:
        idx.download(make_session(), wrong, out, limit=len(data))
    assert info.value.code == "index-digest-mismatch"
    assert not (out / SDIST).exists()

    with pytest.raises(PackageIndexError) as info:
        idx.download(make_session(), listed, out, limit=len(data) - 1)
    assert info.value.message == (
        f"Cannot download {SDIST} from the index: it announces {len(data)} bytes, more "
        f"than {len(data) - 1} bytes."
    )

    missing = IndexFile("gone-1.0.tar.gz", files.url + "gone-1.0.tar.gz", None, False, "1.0")
    with pytest.raises(PackageIndexError) as info:
        idx.download(make_session(), missing, out, limit=100)
    assert info.value.message == "Cannot download gone-1.0.tar.gz from the index: HTTPError."


# --- header numbers: ASCII digits only -----------------------------------------------


@dataclass(frozen=True)
class _OddLength(Fault):
    """200 with a Content-Length of '²' (the Latin-1 byte 0xB2), the body up to close."""

    name: ClassVar[str] = "odd_length"

    def apply(self, h: Handler) -> None:
        h.body.drain()
        h.record(200)
        h.send_head(200, b"OK", [("Content-Type", "text/plain"), ("Content-Length", "\u00b2")])
        h.send_body([b"hello"])


def test_content_length_that_is_no_ascii_number(files: Files) -> None:
    (files.root / "page.txt").write_bytes(b"unused")
    with FaultProxy(files.url) as proxy:
        proxy.add(_OddLength(), method="GET")
        page = get_capped(make_session(), proxy.url_for("/page.txt"), max_bytes=100)
    assert page.status == 200
    assert page.body == b"hello"


def test_retry_after_that_is_no_ascii_number(files: Files) -> None:
    (files.root / "page.txt").write_bytes(b"the page")
    with FaultProxy(files.url) as proxy:
        rule = proxy.add(status(429, retry_after="\u00b2"), method="GET")
        page = get_capped(make_session(), proxy.url_for("/page.txt"), max_bytes=100)
    assert rule.fired == 1
    assert page.status == 200  # retried after the usual backoff
    assert page.body == b"the page"


@pytest.mark.parametrize(
    ("text", "value"),
    [("12", 12), (" 7 ", 7), ("\u00b2", None), ("\u0663", None), ("-1", None), ("", None),
     ("1e3", None), ("9" * 5000, 10**18)],
)  # fmt: skip
def test_header_numbers(text: str, value: int | None) -> None:
    assert rhttp.number(text) == value


# --- an upload taken one block at a time ----------------------------------------------


class SlowReader:
    """An HTTP server that takes a request body ``step`` bytes every ``interval`` seconds
    (each block well within any socket timeout) for at most ``limit`` seconds, then
    answers 200; a GET is answered 404 at once."""

    def __init__(self, step: int = 16 * 1024, interval: float = 0.1, limit: float = 40.0):
        self.step, self.interval, self.limit = step, interval, limit
        self.closed = threading.Event()
        self.listener = socket.socket()
        # A small receive window: the client's kernel buffers hold little of the body.
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/"
        self.posts_read: list[int] = []
        self.threads: list[threading.Thread] = []
        self.accepting = threading.Thread(target=self._accept, daemon=True)
        self.accepting.start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(self.limit)
        with conn:
            try:
                head = b""
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    got = conn.recv(1024)
                    if not got:
                        return
                    head += got
                if head.startswith(b"GET "):
                    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")  # fmt: skip
                    return
                read = len(head.partition(b"\r\n\r\n")[2])
                end = time.monotonic() + self.limit
                while time.monotonic() < end and not self.closed.wait(self.interval):
                    got = conn.recv(self.step)
                    if not got:
                        break
                    read += len(got)
                self.posts_read.append(read)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                return

    def close(self) -> None:
        self.closed.set()
        # Wakes the accept() blocked in the other thread: a close() alone would leave it
        # listening, and taking the next connection made to this port.
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.accepting.join(5)
        self.listener.close()
        for t in self.threads:
            t.join(5)


@pytest.fixture
def slow_reader() -> Iterator[SlowReader]:
    server = SlowReader()
    yield server
    server.close()


def big_wheel(folder: Path, size: int) -> Path:
    path = folder / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(
            "demo-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n"
        )
        zf.writestr("demo/payload.bin", os.urandom(size))
    return path


def test_upload_taken_a_block_at_a_time_stops_at_the_files_deadline(
    slow_reader: SlowReader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real deadline is 120 s plus the file's size at 256 KiB/s; here 3 s in all. The
    # server takes 160 KiB/s: the 16 MiB file would take well over a minute.
    monkeypatch.setattr(upload, "UPLOAD_DEADLINE", 3.0)
    monkeypatch.setattr(upload, "UPLOAD_RATE", 1 << 40)
    monkeypatch.setattr(upload, "MIN_ATTEMPT", 1.0)
    dist = read_dist(big_wheel(tmp_path, 16 * 1024 * 1024))
    session = make_session()
    uploader = upload.Uploader(
        repository_url=slow_reader.url + "legacy/",
        credential=lambda _valid_for: ("__token__", "pypi-secret"),
        session=session,
        read_index=lambda own: idx.read_project(own, slow_reader.url + "simple/", "demo"),
        console=Console(actions=False, stream=io.StringIO()),
    )
    start = time.monotonic()
    with pytest.raises(PackageIndexError) as info:
        uploader.upload(dist)
    took = time.monotonic() - start
    assert info.value.code == "upload-failed"
    assert info.value.message == (
        f"Uploading {dist.filename} to {slow_reader.url}legacy/ failed once (last: the "
        "request body was not sent within 3 s), and the index does not list it; not "
        "retried further: no time is left for another attempt within this file's deadline."
    )
    assert took < 20
