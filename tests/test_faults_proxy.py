"""The fault-injecting proxy itself, against a tiny upstream started here."""

from __future__ import annotations

import gzip
import hashlib
import html.parser
import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from support.faults import (
    ALWAYS,
    JSON_TYPE,
    Fault,
    FaultProxy,
    body,
    delay,
    drip,
    forward_then,
    gzip_bomb,
    hang,
    oversized,
    reason,
    reset_after_body,
    status,
    transient_404,
)

PAGE = (
    b"<!DOCTYPE html><html><body>\n"
    b'<a href="../../packages/demo-1.0.tar.gz#sha256=00">demo-1.0.tar.gz</a>\n'
    b"</body></html>\n"
)
MiB = 1024 * 1024


class Upstream:
    """A stand-in index: serves one page, accepts any POST and remembers what came."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, int, str]] = []  # (path, size, sha256)
        self.gets = 0
        self.lock = threading.Lock()
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _send(self, code: int, content: bytes, **headers: str) -> None:
                self.send_response(code)
                for k, v in headers.items():
                    self.send_header(k.replace("_", "-"), v)
                self.send_header("Content-Length", str(len(content)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(content)
                self.close_connection = True

            def do_GET(self) -> None:
                with upstream.lock:
                    upstream.gets += 1
                if self.path == "/simple/demo/":
                    self._send(200, PAGE, Content_Type="text/html")
                elif self.path == "/redirect":
                    self._send(302, b"", Location=f"{upstream.url}simple/demo/")
                elif self.path == "/chunked":  # no Content-Length: the proxy must count
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    for part in (PAGE[:10], PAGE[10:]):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                    self.close_connection = True
                else:
                    self._send(404, b"no such page\n")

            def do_POST(self) -> None:
                digest, size = hashlib.sha256(), 0
                for chunk in self._body():
                    digest.update(chunk)
                    size += len(chunk)
                with upstream.lock:
                    upstream.posts.append((self.path, size, digest.hexdigest()))
                self._send(200, b"OK\n")

            def _body(self) -> Iterator[bytes]:
                if self.headers.get("Transfer-Encoding") == "chunked":
                    while size := int(self.rfile.readline(), 16):
                        yield self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                    return
                remaining = int(self.headers.get("Content-Length") or 0)
                while remaining:
                    chunk = self.rfile.read(min(remaining, MiB))
                    remaining -= len(chunk)
                    yield chunk

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    u = Upstream()
    yield u
    u.close()


@pytest.fixture
def proxy(upstream: Upstream) -> Iterator[FaultProxy]:
    with upstream.lock:
        upstream.posts.clear()
        upstream.gets = 0
    p = FaultProxy(upstream.url, upstream_timeout=10, client_timeout=10)
    yield p
    p.close()
    assert p.busy() == 0
    assert p.errors == []


@pytest.fixture
def session() -> Iterator[requests.Session]:
    s = requests.Session()
    s.trust_env = False  # never route 127.0.0.1 through an environment proxy
    yield s
    s.close()


def upload(size: int, filename: str) -> bytes:
    """A multipart-looking upload body with the file's name near the end."""
    return (
        b"x" * size
        + b'\r\nContent-Disposition: form-data; name="content"; filename="'
        + filename.encode()
        + b'"\r\n\r\ndata'
    )


def raw_request(proxy: FaultProxy, request: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    s.sendall(request)
    return s


def read_all(s: socket.socket) -> bytes:
    data = b""
    for _ in range(10_000):  # bounded; each recv is bounded by the socket timeout
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


GET_PAGE = b"GET /simple/demo/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


# ------------------------------------------------------------------ pass-through


def test_binds_loopback_and_maps_urls(proxy: FaultProxy) -> None:
    assert proxy._server.server_address[0] == "127.0.0.1"
    assert proxy.url == f"http://127.0.0.1:{proxy.port}/"
    assert proxy.url_for("http://127.0.0.1:3141/user/dev/") == proxy.url + "user/dev/"
    assert proxy.url_for("/simple/") == proxy.url + "simple/"


def test_forwards_transparently_and_streams_big_bodies(
    proxy: FaultProxy, upstream: Upstream, session: requests.Session
) -> None:
    r = session.get(proxy.url + "simple/demo/", timeout=10)
    assert (r.status_code, r.content) == (200, PAGE)

    data = upload(30 * MiB, "demo-1.0.tar.gz")
    r = session.post(proxy.url + "legacy/", data=data, timeout=30)
    assert r.status_code == 200
    # A generator body goes out chunked; the proxy re-frames it for the upstream.
    r = session.post(proxy.url + "chunked/", data=iter([b"ab", b"cd"]), timeout=10)
    assert r.status_code == 200
    assert upstream.posts == [
        ("/legacy/", len(data), hashlib.sha256(data).hexdigest()),
        ("/chunked/", 4, hashlib.sha256(b"abcd").hexdigest()),
    ]

    r = session.get(proxy.url + "redirect", allow_redirects=False, timeout=10)
    assert r.headers["Location"] == proxy.url + "simple/demo/"
    assert proxy.requests_matching(method="GET", path="^/simple/demo/$") == [
        ("GET", "/simple/demo/", 200, None, 200)
    ]


# ------------------------------------------------------------------------ faults


def test_status_with_retry_after_and_headers(
    proxy: FaultProxy, upstream: Upstream, session: requests.Session
) -> None:
    limited = proxy.add(status(429, retry_after=3), method="GET", path=r"/simple/demo/$")
    default = proxy.add(status(429), path=r"/simple/demo/$")
    down = proxy.add(
        status(503, "Down For Maintenance", {"X-Why": "injected"}), times=2, path="demo"
    )
    urls = [proxy.url + "simple/demo/"] * 5
    answers = [session.get(u, timeout=10) for u in urls]
    assert [r.status_code for r in answers] == [429, 429, 503, 503, 200]
    assert answers[0].headers["Retry-After"] == "3"
    assert answers[1].headers["Retry-After"] == "1"
    assert answers[2].reason == "Down For Maintenance"
    assert answers[2].headers["X-Why"] == "injected"
    assert "Retry-After" not in answers[2].headers
    assert (limited.fired, default.fired, down.fired) == (1, 1, 2)
    assert down.exhausted
    assert upstream.gets == 1
    assert [e.status for e in proxy.log] == [429, 429, 503, 503, 200]
    assert len(proxy.requests_matching(fault="status", status=503)) == 2


def test_body_substring_picks_the_sdist_upload(
    proxy: FaultProxy, upstream: Upstream, session: requests.Session
) -> None:
    rule = proxy.add(status(503), method="POST", body='.tar.gz"', times=ALWAYS)
    wheel = upload(12 * MiB, "demo-1.0-py3-none-any.whl")
    sdist = upload(12 * MiB, "demo-1.0.tar.gz")
    assert session.post(proxy.url, data=wheel, timeout=30).status_code == 200
    assert session.post(proxy.url, data=sdist, timeout=30).status_code == 503
    assert session.post(proxy.url, data=sdist, timeout=30).status_code == 503
    assert rule.fired == 2
    assert upstream.posts == [("/", len(wheel), hashlib.sha256(wheel).hexdigest())]
    assert [e.status for e in proxy.requests_matching(method="POST", path="^/$")] == [
        200,
        503,
        503,
    ]


def test_reset_after_body(proxy: FaultProxy, upstream: Upstream, session: requests.Session) -> None:
    proxy.add(reset_after_body(), method="POST", times=2)
    with pytest.raises(requests.ConnectionError):
        session.post(proxy.url, data=upload(5 * MiB, "demo-1.0.tar.gz"), timeout=10)
    # At the socket: a reset (RST), not a clean end of stream.
    s = raw_request(proxy, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
    with s, pytest.raises(ConnectionResetError):
        s.recv(1024)
    assert upstream.posts == []
    assert [e.status for e in proxy.log] == [None, None]


@pytest.mark.parametrize("then", [502, "reset"])
def test_forward_then_lands_upstream_then_fails(
    proxy: FaultProxy, upstream: Upstream, session: requests.Session, then: int | str
) -> None:
    proxy.add(forward_then(502 if then == 502 else "reset"), method="POST")
    data = upload(3 * MiB, "demo-1.0.tar.gz")
    if then == 502:
        assert session.post(proxy.url, data=data, timeout=10).status_code == 502
    else:
        with pytest.raises(requests.ConnectionError):
            session.post(proxy.url, data=data, timeout=10)
    assert upstream.posts == [("/", len(data), hashlib.sha256(data).hexdigest())]
    [entry] = proxy.log
    assert (entry.status, entry.upstream_status) == (502 if then == 502 else None, 200)


@pytest.mark.parametrize(
    "fault",
    [hang(), delay(300), drip(30, limit=300)],
    ids=["hang", "delay", "drip"],
)
def test_close_ends_a_waiting_request(proxy: FaultProxy, fault: Fault) -> None:
    rule = proxy.add(fault)
    with raw_request(proxy, GET_PAGE) as s:
        assert rule.wait(1, timeout=10)
        started = time.monotonic()
        proxy.close()
        assert time.monotonic() - started < 5
        assert proxy.busy() == 0
        try:
            received = read_all(s)  # ends: the proxy dropped the connection
        except ConnectionResetError:
            received = b""
    # At most the dripped head and a first byte; never the whole page.
    assert PAGE not in received


def test_hang_gives_up_at_its_limit(proxy: FaultProxy, session: requests.Session) -> None:
    proxy.add(hang(limit=0.2))
    with pytest.raises(requests.ConnectionError):
        session.get(proxy.url + "simple/demo/", timeout=10)
    assert proxy.log[0].status is None


def test_delay_then_forward(proxy: FaultProxy, session: requests.Session) -> None:
    proxy.add(delay(0.3))
    started = time.monotonic()
    r = session.get(proxy.url + "simple/demo/", timeout=10)
    assert (r.status_code, r.content) == (200, PAGE)
    assert 0.3 <= time.monotonic() - started < 10


@pytest.mark.parametrize("path", ["simple/demo/", "chunked"])
def test_drip_is_slow_but_complete(proxy: FaultProxy, session: requests.Session, path: str) -> None:
    proxy.add(drip(0.01, step=2))
    started = time.monotonic()
    r = session.get(proxy.url + path, stream=True, timeout=10)
    # The full length is announced at once, even when the upstream chunked its answer.
    assert r.headers["Content-Length"] == str(len(PAGE))
    assert r.content == PAGE
    expected = (len(PAGE) / 2 - 1) * 0.01
    assert expected / 2 <= time.monotonic() - started < 15


def test_drip_is_bounded(proxy: FaultProxy, session: requests.Session) -> None:
    proxy.add(drip(0.05, limit=0.3))
    r = session.get(proxy.url + "simple/demo/", stream=True, timeout=10)
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        r.content  # noqa: B018


def test_body_replaces_the_answer(
    proxy: FaultProxy, upstream: Upstream, session: requests.Session
) -> None:
    captcha = "<html><body><h1>Are you a robot?</h1></body></html>"
    proxy.add(body(200, captcha), path="demo")
    proxy.add(body(200, b"\x00\xff\xfe garbage", "application/octet-stream"), path="demo")
    proxy.add(
        body(200, json.dumps({"name": "demo", "files": []}), _json := "application/json"),
        path="demo",
    )
    first, second, third = (session.get(proxy.url + "simple/demo/", timeout=10) for _ in "123")
    assert (first.status_code, first.text, first.headers["Content-Type"]) == (
        200,
        captcha,
        "text/html; charset=utf-8",
    )
    assert second.content == b"\x00\xff\xfe garbage"
    assert "meta" not in third.json()
    assert third.headers["Content-Type"] == _json
    assert upstream.gets == 0


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += tag == "a"


def test_oversized_streams_a_huge_page(proxy: FaultProxy, session: requests.Session) -> None:
    proxy.add(oversized(50_000_000))
    with session.get(proxy.url + "simple/demo/", stream=True, timeout=10) as r:
        assert r.headers["Content-Length"] == "50000000"
        assert r.headers["Content-Type"].startswith("text/html")
        head = b""
        for chunk in r.iter_content(MiB):
            head += chunk
            if len(head) >= 2 * MiB:
                break
    assert head.startswith(b"<!DOCTYPE html>")
    assert head.count(b"<a href=") > 10_000

    # Smaller ones in full: exact size, valid HTML and JSON, with or without a length.
    proxy.add(oversized(100_000, announce_length=False))
    proxy.add(oversized(100_000, JSON_TYPE))
    page = session.get(proxy.url + "simple/demo/", timeout=10)
    assert "Content-Length" not in page.headers
    assert len(page.content) == 100_000
    assert page.content.endswith(b"</html>\n")
    parser = _Links()
    parser.feed(page.text)
    assert parser.links > 100
    doc = session.get(proxy.url + "simple/demo/", timeout=10)
    assert len(doc.content) == 100_000
    assert doc.json()["meta"] == {"api-version": "1.0"}
    assert len(doc.json()["files"]) > 100


def test_gzip_bomb(proxy: FaultProxy, session: requests.Session) -> None:
    proxy.add(gzip_bomb(4 * 1024 * MiB))
    with session.get(proxy.url + "simple/demo/", stream=True, timeout=10) as r:
        assert r.headers["Content-Encoding"] == "gzip"
        assert int(r.headers["Content-Length"]) < 4 * 1024 * MiB // 500
        decoded = b""
        for chunk in r.iter_content(MiB):
            decoded += chunk
            if len(decoded) >= 4 * MiB:
                break
    assert decoded.startswith(b"<!DOCTYPE html>")
    assert decoded[-1000:] == b" " * 1000

    # A small one read whole is a valid gzip stream (sizes and CRC checked by gzip).
    size = 3 * MiB + 17
    proxy.add(gzip_bomb(size, JSON_TYPE))
    with session.get(proxy.url + "simple/demo/", stream=True, timeout=10) as r:
        raw = r.raw.read(decode_content=False)
    assert json.loads(gzip.decompress(raw))["files"] == []
    assert len(gzip.decompress(raw)) == size


@pytest.mark.parametrize("text", ["OK\r::add-mask::x", "OK\r::warning::x"])
def test_reason_arrives_raw(proxy: FaultProxy, session: requests.Session, text: str) -> None:
    proxy.add(reason(text), times=2)
    with raw_request(proxy, GET_PAGE) as s:
        answer = read_all(s)
    assert answer.startswith(b"HTTP/1.1 200 " + text.encode() + b"\r\n")
    assert answer.endswith(PAGE)
    r = session.get(proxy.url + "simple/demo/", timeout=10)
    assert (r.status_code, r.reason) == (200, text)


def test_transient_404(proxy: FaultProxy, upstream: Upstream, session: requests.Session) -> None:
    rule = proxy.add(transient_404(2), method="GET", path=r"/simple/demo/$")
    codes = [session.get(proxy.url + "simple/demo/", timeout=10).status_code for _ in range(3)]
    assert codes == [404, 404, 200]
    assert rule.fired == 2
    assert upstream.gets == 1
    assert [(e.status, e.fault) for e in proxy.log] == [
        (404, "transient_404"),
        (404, "transient_404"),
        (200, None),
    ]
