"""A fault-injecting reverse proxy for tests.

It listens on 127.0.0.1 (its own port), forwards every request path-transparently to a
real index (pypiserver, devpi-server) and misbehaves where a test installs a rule::

    with FaultProxy("http://127.0.0.1:8080") as proxy:
        rule = proxy.add(status(503), method="POST", body='.tar.gz"')
        upload_to(proxy.url_for("http://127.0.0.1:8080/user/dev/"))
        assert rule.fired == 1

Rules are tried in the order they were added; the first that matches and has uses left
fires. Requests no rule claims are forwarded unchanged. Every response ends its
connection (``Connection: close``): a fault then never leaves a half-read stream in a
client's connection pool, and the body framing stays trivially correct.

The client's ``Host`` header is forwarded unchanged, so an index that builds absolute
URLs from it (devpi) points the client back at the proxy, not around it.
"""

from __future__ import annotations

import contextlib
import email.message
import enum
import functools
import http.client
import io
import re
import socket
import socketserver
import struct
import tempfile
import threading
import time
import traceback
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from types import EllipsisType
from typing import IO, ClassVar, Final, Literal, NamedTuple
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "ALWAYS",
    "HTML_TYPE",
    "JSON_TYPE",
    "Exchange",
    "Fault",
    "FaultProxy",
    "Rule",
    "body",
    "delay",
    "drip",
    "forward_then",
    "gzip_bomb",
    "hang",
    "oversized",
    "reason",
    "reset_after_body",
    "rewrite",
    "status",
    "transient_404",
]

ALWAYS: Final = None  # `times=ALWAYS`: the rule never runs out
CHUNK: Final = 256 * 1024
_SPOOL_IN_MEMORY: Final = 8 * 1024 * 1024  # bigger request bodies spool to disk
_DRIP_BUFFER_CAP: Final = 64 * 1024 * 1024  # drip must announce a length; buffer at most this
_MAX_CHUNK_LINES: Final = 64  # trailer lines accepted after a chunked request body
HTML_TYPE: Final = "text/html; charset=utf-8"
JSON_TYPE: Final = "application/vnd.pypi.simple.v1+json"  # PEP 691
_FAKE_SHA256: Final = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

# RFC 9110 section 7.6.1; Expect too, since the proxy answers 100-continue itself.
_HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


class Exchange(NamedTuple):
    """One request as the proxy handled it."""

    method: str
    path: str
    status: int | None  # what the client was sent; None: no answer (reset, hang, close)
    fault: str | None  # name of the fault that fired; None: passed through
    upstream_status: int | None  # what the index answered; None: not forwarded


# ---------------------------------------------------------------------------- faults


class Fault:
    """What to do with a request a rule claimed. Build one with the functions below."""

    name: ClassVar[str] = "fault"

    @property
    def default_times(self) -> int | None:
        return 1

    def apply(self, h: _Handler) -> None:
        raise NotImplementedError


class _Default(enum.Enum):
    TOKEN = 0


_DEFAULT: Final = _Default.TOKEN


@dataclass(frozen=True)
class _Status(Fault):
    name: ClassVar[str] = "status"
    code: int
    reason: str | None
    headers: tuple[tuple[str, str], ...]
    content: bytes

    def apply(self, h: _Handler) -> None:
        # Read the body first: closing on an unread upload makes the client see a broken
        # pipe instead of this status.
        h.body.drain()
        h.respond(self.code, self.reason, self.headers, self.content)


def status(
    code: int,
    reason: str | None = None,
    headers: dict[str, str] | None = None,
    *,
    retry_after: int | str | _Default | None = _DEFAULT,
    content: bytes | None = None,
) -> Fault:
    """Answer `code` without forwarding. 429 carries `Retry-After: 1` unless told otherwise
    (`retry_after=None` leaves it out; a value adds it to any status)."""
    hdrs = dict(headers or {})
    if retry_after is _DEFAULT:
        retry_after = 1 if code == 429 else None
    if retry_after is not None and "retry-after" not in {k.lower() for k in hdrs}:
        hdrs["Retry-After"] = str(retry_after)
    if content is None:
        content = f"{code} {_phrase(code)} (injected by the faults proxy)\n".encode()
    return _Status(code, reason, tuple(hdrs.items()), content)


@dataclass(frozen=True)
class _Transient404(_Status):
    name: ClassVar[str] = "transient_404"
    count: int = 1

    @property
    def default_times(self) -> int | None:
        return self.count


def transient_404(times: int) -> Fault:
    """404 for the first `times` requests the rule matches (the rule's default `times`),
    like an index whose project page lags behind an upload; add it with the page's path."""
    return _Transient404(404, None, (), b"Not Found (injected by the faults proxy)\n", times)


@dataclass(frozen=True)
class _ResetAfterBody(Fault):
    name: ClassVar[str] = "reset_after_body"

    def apply(self, h: _Handler) -> None:
        h.body.drain()
        h.record(None)
        h.reset()


def reset_after_body() -> Fault:
    """Read the whole request body, then reset the connection without an answer."""
    return _ResetAfterBody()


@dataclass(frozen=True)
class _ForwardThen(Fault):
    name: ClassVar[str] = "forward_then"
    then: int | Literal["reset"]

    def apply(self, h: _Handler) -> None:
        resp = h.forward()
        if resp is None:
            return
        # Let the upstream finish its answer, so the upload has surely landed.
        for _ in h.upstream_chunks(resp):
            pass
        if self.then == "reset":
            h.record(None, resp.status)
            h.reset()
        else:
            text = f"{self.then} {_phrase(self.then)} (injected after the index answered "
            text += f"{resp.status})\n"
            h.respond(self.then, None, (), text.encode(), upstream_status=resp.status)


def forward_then(then: int | Literal["reset"] = 502) -> Fault:
    """Forward (the request lands upstream), then answer `then` (a status) or reset."""
    if then != "reset" and not isinstance(then, int):
        raise ValueError(f"forward_then takes a status code or 'reset', not {then!r}")
    return _ForwardThen(then)


@dataclass(frozen=True)
class _Hang(Fault):
    name: ClassVar[str] = "hang"
    limit: float

    def apply(self, h: _Handler) -> None:
        h.body.drain()
        h.record(None)
        h.wait(self.limit)  # ends early when the proxy closes; then the connection drops


def hang(limit: float = 300.0) -> Fault:
    """Read the request, never answer; give up after `limit` seconds or on close()."""
    return _Hang(limit)


@dataclass(frozen=True)
class _Delay(Fault):
    name: ClassVar[str] = "delay"
    seconds: float

    def apply(self, h: _Handler) -> None:
        if h.wait(self.seconds):
            h.record(None)
            return
        resp = h.forward()
        if resp is not None:
            h.relay(resp)


def delay(seconds: float) -> Fault:
    """Wait `seconds` (close() cuts it short), then forward as usual."""
    return _Delay(seconds)


class _Gathering:
    """Requests held by one gather() fault, shared by its handler threads."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.arrived = 0
        self.changed = threading.Condition()


@dataclass(frozen=True)
class _Gather(Fault):
    name: ClassVar[str] = "gather"
    gathering: _Gathering
    timeout: float
    then: Fault | None

    @property
    def default_times(self) -> int | None:
        return self.gathering.count

    def apply(self, h: _Handler) -> None:
        g = self.gathering
        with g.changed:
            g.arrived += 1
            g.changed.notify_all()
            met = g.changed.wait_for(lambda: g.arrived >= g.count, timeout=self.timeout)
        if not met:
            text = f"only {g.arrived} of {g.count} requests were in flight together\n"
            h.respond(504, "Not Gathered", (), text.encode())
        elif self.then is not None:
            self.then.apply(h)
        elif (resp := h.forward()) is not None:
            h.relay(resp)


def gather(count: int, timeout: float = 30.0, *, then: Fault | None = None) -> Fault:
    """Hold each request until `count` have arrived, then forward them all (or apply
    `then` to each); a client that never has `count` in flight at once gets 504 after
    `timeout` seconds. One gather() added under several rules gathers across them."""
    return _Gather(_Gathering(count), timeout, then)


@dataclass(frozen=True)
class _Drip(Fault):
    name: ClassVar[str] = "drip"
    interval: float
    limit: float
    step: int

    def apply(self, h: _Handler) -> None:
        resp = h.forward()
        if resp is not None:
            h.relay(resp, drip=self)


def drip(interval: float, *, limit: float = 60.0, step: int = 1) -> Fault:
    """Forward, then send the answer `step` bytes every `interval` seconds under its full
    Content-Length. After `limit` seconds, or on close(), the connection is dropped with
    the body incomplete."""
    if interval < 0 or limit <= 0 or step < 1:
        raise ValueError("drip needs interval >= 0, limit > 0 and step >= 1")
    return _Drip(interval, limit, step)


@dataclass(frozen=True)
class _Body(Fault):
    name: ClassVar[str] = "body"
    code: int
    content: bytes
    headers: tuple[tuple[str, str], ...]

    def apply(self, h: _Handler) -> None:
        h.body.drain()
        h.respond(self.code, None, self.headers, self.content)


def body(
    code: int = 200,
    content: bytes | str = b"",
    content_type: str = HTML_TYPE,
    headers: dict[str, str] | None = None,
) -> Fault:
    """Serve `content` instead of the index's answer (an error page, junk, odd JSON)."""
    data = content.encode() if isinstance(content, str) else content
    hdrs = {"Content-Type": content_type, **(headers or {})}
    return _Body(code, data, tuple(hdrs.items()))


@dataclass(frozen=True)
class _Oversized(Fault):
    name: ClassVar[str] = "oversized"
    n_bytes: int
    content_type: str
    project: str
    announce_length: bool

    def apply(self, h: _Handler) -> None:
        h.body.drain()
        h.respond(
            200,
            None,
            (("Content-Type", self.content_type),),
            stream=_simple_page(self.n_bytes, self.content_type, self.project),
            length=self.n_bytes if self.announce_length else None,
        )


def oversized(
    n_bytes: int,
    content_type: str = HTML_TYPE,
    *,
    project: str = "demo",
    announce_length: bool = True,
) -> Fault:
    """Stream a valid-looking simple page (HTML, or JSON if the type says so) of exactly
    `n_bytes`, generated on the fly. Without `announce_length` it has no Content-Length
    and ends when the connection closes."""
    head, tail = _page_frame(content_type, project)
    if n_bytes < len(head) + len(tail):
        raise ValueError(f"{n_bytes} bytes is too small for a page")
    return _Oversized(n_bytes, content_type, project, announce_length)


@dataclass(frozen=True)
class _GzipBomb(Fault):
    name: ClassVar[str] = "gzip_bomb"
    decoded_bytes: int
    content_type: str
    project: str

    def apply(self, h: _Handler) -> None:
        h.body.drain()
        bomb = _bomb(self.decoded_bytes, self.content_type, self.project)
        headers = (("Content-Type", self.content_type), ("Content-Encoding", "gzip"))
        h.respond(200, None, headers, stream=bomb.stream(), length=bomb.length)


def gzip_bomb(decoded_bytes: int, content_type: str = HTML_TYPE, *, project: str = "demo") -> Fault:
    """A `Content-Encoding: gzip` simple page that inflates to `decoded_bytes` (of which
    nearly all is whitespace); about 1000 times smaller on the wire."""
    _bomb(decoded_bytes, content_type, project)  # precompute now: fail early, serve fast
    return _GzipBomb(decoded_bytes, content_type, project)


@dataclass(frozen=True)
class _Reason(Fault):
    name: ClassVar[str] = "reason"
    text: bytes

    def apply(self, h: _Handler) -> None:
        resp = h.forward()
        if resp is not None:
            h.relay(resp, reason=self.text)


def reason(text: str | bytes) -> Fault:
    """Forward, but send `text` as the reason phrase, raw (str as UTF-8). Nothing is
    escaped: a CR, `::add-mask::`, even a LF (which ends the status line) go as given."""
    return _Reason(text.encode() if isinstance(text, str) else text)


@dataclass(frozen=True)
class _Rewrite(Fault):
    name: ClassVar[str] = "rewrite"
    change: Callable[[bytes], bytes]

    def apply(self, h: _Handler) -> None:
        resp = h.forward()
        if resp is None:
            return
        content = self.change(b"".join(h.upstream_chunks(resp)))
        headers = [
            (k, v)
            for k, v in resp.msg.items()
            if k.lower() not in _HOP_BY_HOP
            and k.lower() not in ("content-length", "content-encoding")
        ]
        h.respond(
            resp.status,
            resp.reason.encode("latin-1"),
            headers,
            content,
            upstream_status=resp.status,
        )


def rewrite(change: Callable[[bytes], bytes]) -> Fault:
    """Forward, then answer with the upstream's body passed through `change` (an index
    that alters what it lists, or a proxy in between that does)."""
    return _Rewrite(change)


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


# ----------------------------------------------------------------- generated pages


def _page_frame(content_type: str, project: str) -> tuple[bytes, bytes]:
    if "json" in content_type:
        head = f'{{"meta": {{"api-version": "1.0"}}, "name": "{project}", "files": [\n'
        return head.encode(), b"\n]}\n"
    head = (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        '    <meta name="pypi:repository-version" content="1.0">\n'
        f"    <title>Links for {project}</title>\n  </head>\n  <body>\n"
        f"    <h1>Links for {project}</h1>\n"
    )
    return head.encode(), b"  </body>\n</html>\n"


def _simple_page(n_bytes: int, content_type: str, project: str) -> Iterator[bytes]:
    """Exactly `n_bytes` of simple page, one block of links at a time."""
    json = "json" in content_type
    head, tail = _page_frame(content_type, project)
    budget = n_bytes - len(head) - len(tail)
    dist = project.replace("-", "_")
    yield head
    block = 0
    while budget > 0:  # every pass spends a block or ends: bounded by n_bytes
        lines = []
        for i in range(512):
            name = f"{dist}-{block}.{i}.tar.gz"
            if json:
                sep = "" if block == i == 0 else ",\n"
                lines.append(
                    f'{sep}{{"filename": "{name}", "url": "../../packages/{name}", '
                    f'"hashes": {{"sha256": "{_FAKE_SHA256}"}}}}'.encode()
                )
            else:
                lines.append(
                    f'    <a href="../../packages/{name}#sha256={_FAKE_SHA256}">{name}</a>'
                    "<br/>\n".encode()
                )
        data = b"".join(lines)
        if len(data) <= budget:
            yield data
            budget -= len(data)
            block += 1
            continue
        for line in lines:
            if len(line) > budget:
                break
            yield line
            budget -= len(line)
        break
    if budget > 0:
        yield b" " * budget  # whitespace keeps both formats valid at the exact size
    yield tail


_SPACES: Final = b" " * (1024 * 1024)
_GZIP_HEADER: Final = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # RFC 1952, no name, mtime 0


def _deflate(data: bytes, *, final: bool) -> bytes:
    # A raw deflate segment from a fresh compressor, ended by a full flush, refers to
    # nothing before it and ends on a byte boundary; such segments can be concatenated
    # (and one repeated) into a single valid stream, as pigz does.
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH)


@dataclass(frozen=True)
class _Bomb:
    head: bytes  # gzip header + deflated page head
    block: bytes  # 1 MiB of spaces, deflated; repeated `repeats` times
    repeats: int
    rest: int  # spaces after the repeated blocks
    tail: bytes  # deflated rest + page tail, final block
    page_head: bytes
    page_tail: bytes
    decoded: int

    @property
    def length(self) -> int:
        return len(self.head) + self.repeats * len(self.block) + len(self.tail) + 8

    def stream(self) -> Iterator[bytes]:
        yield self.head
        crc = zlib.crc32(self.page_head)
        group = 64  # blocks per write: 64 KiB on the wire, 64 MiB inflated
        for start in range(0, self.repeats, group):
            n = min(group, self.repeats - start)
            yield self.block * n
            # The CRC is only needed at the very end; computed lazily, after each write,
            # so a client that gives up early costs nothing more.
            for _ in range(n):
                crc = zlib.crc32(_SPACES, crc)
        crc = zlib.crc32(self.page_tail, zlib.crc32(b" " * self.rest, crc))
        yield self.tail + struct.pack("<II", crc, self.decoded & 0xFFFFFFFF)


@functools.lru_cache(maxsize=8)
def _bomb(decoded_bytes: int, content_type: str, project: str) -> _Bomb:
    page_head, page_tail = _page_frame(content_type, project)
    filler = decoded_bytes - len(page_head) - len(page_tail)
    if filler < 0:
        raise ValueError(f"{decoded_bytes} bytes is too small for a page")
    repeats, rest = divmod(filler, len(_SPACES))
    return _Bomb(
        head=_GZIP_HEADER + _deflate(page_head, final=False),
        block=_deflate(_SPACES, final=False),
        repeats=repeats,
        rest=rest,
        tail=_deflate(b" " * rest, final=False) + _deflate(page_tail, final=True),
        page_head=page_head,
        page_tail=page_tail,
        decoded=decoded_bytes,
    )


# ------------------------------------------------------------------- request bodies


class _RequestBody:
    """The request body, read once from the client: streamed straight through, or
    spooled first (to memory, then disk) when a rule needs to look inside it."""

    def __init__(self, rfile: io.BufferedIOBase, headers: email.message.Message) -> None:
        self._rfile = rfile
        self.chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        length = headers.get("Content-Length")
        self._length = 0 if self.chunked or not length else int(length)
        self._spool: IO[bytes] | None = None
        self._read = False

    def _from_client(self) -> Iterator[bytes]:
        if self._read:
            return
        self._read = True
        if self.chunked:
            yield from self._dechunk()
            return
        remaining = self._length
        while remaining > 0:
            chunk = self._rfile.read(min(CHUNK, remaining))
            if not chunk:
                raise ConnectionResetError("client closed the connection mid-body")
            remaining -= len(chunk)
            yield chunk

    def _dechunk(self) -> Iterator[bytes]:
        while True:  # ends at the zero-size chunk, or raises on EOF/garbage
            line = self._rfile.readline(1024)
            if not line.endswith(b"\n"):
                raise ConnectionResetError("bad chunked request body")
            size = int(line.split(b";")[0].strip() or b"x", 16)
            if size == 0:
                break
            remaining = size
            while remaining > 0:
                chunk = self._rfile.read(min(CHUNK, remaining))
                if not chunk:
                    raise ConnectionResetError("client closed the connection mid-body")
                remaining -= len(chunk)
                yield chunk
            self._rfile.readline(1024)  # the CRLF after the chunk
        for _ in range(_MAX_CHUNK_LINES):  # trailers, up to the empty line
            if self._rfile.readline(1024) in (b"\r\n", b"\n", b""):
                return
        raise ConnectionResetError("too many trailer lines")

    def spool(self, needles: set[bytes]) -> set[bytes]:
        """Read the body into a spool; return which `needles` it contains."""
        found: set[bytes] = set()
        keep = max(map(len, needles)) - 1  # a needle may straddle two chunks
        tail = b""
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
        self._spool = spool
        for chunk in self._from_client():
            spool.write(chunk)
            window = tail + chunk
            found.update(n for n in needles - found if n in window)
            tail = window[-keep:] if keep else b""
        spool.seek(0)
        return found

    def chunks(self) -> Iterator[bytes]:
        if self._spool is None:
            yield from self._from_client()
            return
        while chunk := self._spool.read(CHUNK):
            yield chunk

    def drain(self) -> None:
        for _ in self.chunks():
            pass

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()


# ------------------------------------------------------------------------- handler


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    body: _RequestBody
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # a dripped byte must leave now, not after an ACK

    def setup(self) -> None:
        self.proxy = self.server.proxy
        super().setup()
        self.connection.settimeout(self.proxy.client_timeout)  # bounds every client read
        self.proxy._track(self.connection)
        self.upstream: http.client.HTTPConnection | None = None
        self.fault_name: str | None = None
        self.target = "/"

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._close_upstream()
            self.proxy._untrack(self.connection)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the proxy keeps its own log

    def handle(self) -> None:
        self.close_connection = True
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline or len(self.raw_requestline) > 65536:
                return
            if not self.parse_request():
                return  # parse_request has answered 400 itself
            self._serve()
        except OSError:
            pass  # the client went away, or close() shut the socket to wake us up
        except Exception:
            self.proxy._error(traceback.format_exc())

    def _serve(self) -> None:
        target = self.path
        if target.startswith(("http://", "https://")):  # absolute form: keep the path
            parts = urlsplit(target)
            target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        self.target = target
        self.body = _RequestBody(self.rfile, self.headers)
        try:
            rule = self.proxy._select(self.command, target, self.body)
            if rule is None:
                resp = self.forward()
                if resp is not None:
                    self.relay(resp)
            else:
                self.fault_name = rule.fault.name
                rule.fault.apply(self)
        finally:
            self.body.close()

    # ---- building blocks for faults

    def wait(self, seconds: float) -> bool:
        """Wait up to `seconds`; True if the proxy closed meanwhile."""
        return self.proxy._closed.wait(max(0.0, seconds))

    def record(self, status: int | None, upstream_status: int | None = None) -> None:
        # Recorded before the client can see the outcome, so a test that has its answer
        # also finds it in the log.
        self.proxy._record(
            Exchange(self.command, self.target, status, self.fault_name, upstream_status)
        )

    def reset(self) -> None:
        """Drop the connection with a TCP RST (SO_LINGER 0), not a clean FIN."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        finally:
            # The rfile holds a reference that would keep the descriptor open until the
            # server's own shutdown(SHUT_WR) had sent a FIN; close both now.
            self.rfile.close()
            self.connection.close()

    def forward(self) -> http.client.HTTPResponse | None:
        """Send the request upstream, body streamed; on failure answer 502, return None."""
        p = self.proxy
        conn_class = (
            http.client.HTTPSConnection if p._scheme == "https" else http.client.HTTPConnection
        )
        conn = conn_class(p._host, p._port, timeout=p.upstream_timeout)
        self.upstream = conn
        try:
            conn.connect()
            if conn.sock is not None:
                p._track(conn.sock)
            conn.putrequest(
                self.command, p._prefix + self.target, skip_host=True, skip_accept_encoding=True
            )
            listed = {h.strip().lower() for h in self.headers.get("Connection", "").split(",")}
            if "host" not in {k.lower() for k in self.headers}:
                conn.putheader("Host", p._netloc)
            for k, v in self.headers.items():
                lower = k.lower()
                if lower in _HOP_BY_HOP or lower in listed:
                    continue
                if lower == "content-length" and self.body.chunked:
                    continue
                conn.putheader(k, v)
            conn.putheader("Connection", "close")
            if self.body.chunked:
                conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            for chunk in self.body.chunks():
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk) if self.body.chunked else chunk)
            if self.body.chunked:
                conn.send(b"0\r\n\r\n")
            return conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            if p._closed.is_set():
                raise ConnectionAbortedError("proxy closed") from e
            text = f"502 Bad Gateway (faults proxy: the index failed: {e!r})\n"
            self.respond(502, None, (), text.encode())
            return None

    def upstream_chunks(self, resp: http.client.HTTPResponse) -> Iterator[bytes]:
        """The upstream's body; a broken upstream ends it early (the client then sees a
        body shorter than announced, as it would without the proxy)."""
        try:
            while chunk := resp.read(CHUNK):
                yield chunk
        except (OSError, http.client.HTTPException):
            return

    def relay(
        self,
        resp: http.client.HTTPResponse,
        *,
        reason: bytes | None = None,
        drip: _Drip | None = None,
    ) -> None:
        """Pass the upstream's answer on, optionally with another reason or dripping."""
        headers = [
            (k, self.proxy._rewrite_location(v) if k.lower() == "location" else v)
            for k, v in resp.msg.items()
            if k.lower() not in _HOP_BY_HOP
        ]
        chunks: Iterable[bytes] = self.upstream_chunks(resp)
        if drip is not None and resp.length is None and self.command != "HEAD":
            # Dripping needs the full Content-Length up front, so the client keeps waiting.
            data = bytearray()
            for chunk in chunks:
                data += chunk
                if len(data) > _DRIP_BUFFER_CAP:
                    raise ValueError("drip: upstream answer too big to buffer")
            headers.append(("Content-Length", str(len(data))))
            chunks = (bytes(data),)
        self.record(resp.status, resp.status)
        # http.client decoded the reason as latin-1; encode it back the same way.
        raw_reason = resp.reason.encode("latin-1") if reason is None else reason
        self.send_head(resp.status, raw_reason, headers)
        if self.command == "HEAD":
            return
        if drip is None:
            self.send_body(chunks)
        else:
            self._send_dripping(chunks, drip)

    def _send_dripping(self, chunks: Iterable[bytes], drip: _Drip) -> None:
        deadline = time.monotonic() + drip.limit
        first = True
        for chunk in chunks:
            for i in range(0, len(chunk), drip.step):
                if not first and self.wait(drip.interval):
                    return
                if time.monotonic() > deadline:
                    return  # give up: the client is left with a short body
                first = False
                self.wfile.write(chunk[i : i + drip.step])

    def respond(
        self,
        code: int,
        reason: str | bytes | None = None,
        headers: Iterable[tuple[str, str]] = (),
        content: bytes = b"",
        *,
        stream: Iterable[bytes] | None = None,
        length: int | None = None,
        upstream_status: int | None = None,
    ) -> None:
        """Answer the client: `content`, or `stream` under `length` (None: no length)."""
        hdrs = list(headers)
        if stream is None:
            stream, length = (content,), len(content)
            if content and "content-type" not in {k.lower() for k, _ in hdrs}:
                hdrs.append(("Content-Type", "text/plain; charset=utf-8"))
        if length is not None:
            hdrs.append(("Content-Length", str(length)))
        self.record(code, upstream_status)
        self.send_head(code, _phrase(code) if reason is None else reason, hdrs)
        if self.command != "HEAD":
            self.send_body(stream)

    def send_head(self, code: int, reason: str | bytes, headers: Iterable[tuple[str, str]]) -> None:
        # Written by hand: send_response() would not let a reason carry raw control bytes.
        raw = reason.encode("utf-8") if isinstance(reason, str) else reason
        lines = [b"HTTP/1.1 %d %s\r\n" % (code, raw)]
        # Header text is latin-1 on the wire (http.client decoded it that way, too).
        lines += [f"{k}: {v}\r\n".encode("latin-1") for k, v in headers]
        lines.append(b"Connection: close\r\n\r\n")
        self.wfile.write(b"".join(lines))

    def send_body(self, stream: Iterable[bytes]) -> None:
        for piece in stream:
            if self.proxy._closed.is_set():
                return
            if piece:
                self.wfile.write(piece)

    def _close_upstream(self) -> None:
        conn, self.upstream = self.upstream, None
        if conn is not None:
            if conn.sock is not None:
                self.proxy._untrack(conn.sock)
            conn.close()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: object
    ) -> None:
        # As ThreadingMixIn does, but keeping the threads so close() can join them.
        t = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="faults-proxy-request",
            daemon=True,
        )
        self.proxy._adopt(t)
        t.start()

    def handle_error(self, request: object, client_address: object) -> None:
        self.proxy._error(traceback.format_exc())


# --------------------------------------------------------------------------- rules


class Rule:
    """A fault, where it applies, and how often it has fired."""

    def __init__(
        self,
        proxy: FaultProxy,
        fault: Fault,
        method: str | None,
        path: re.Pattern[str],
        body: bytes | None,
        times: int | None,
    ) -> None:
        self._proxy = proxy
        self.fault = fault
        self.method = method
        self.path = path
        self.body = body
        self.times = times
        self._fired = 0  # guarded by the proxy's lock

    def __repr__(self) -> str:
        return (
            f"Rule({self.fault!r}, method={self.method!r}, path={self.path.pattern!r}, "
            f"body={self.body!r}, times={self.times!r}, fired={self.fired})"
        )

    @property
    def fired(self) -> int:
        with self._proxy._lock:
            return self._fired

    @property
    def exhausted(self) -> bool:
        with self._proxy._lock:
            return self._exhausted()

    def _exhausted(self) -> bool:
        return self.times is not None and self._fired >= self.times

    def wait(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Block until the rule has fired `count` times; False on timeout."""
        return self._proxy.wait_for(lambda: self._fired >= count, timeout)


# --------------------------------------------------------------------------- proxy


class FaultProxy:
    """The proxy; starts serving on construction, stops on close()."""

    def __init__(
        self,
        upstream: str,
        *,
        upstream_timeout: float = 60.0,
        client_timeout: float = 60.0,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream must be http(s)://host:port, not {upstream!r}")
        self.upstream = upstream
        self.upstream_timeout = upstream_timeout
        self.client_timeout = client_timeout
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._netloc = parts.netloc
        self._prefix = parts.path.rstrip("/")
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # a rule fired or a log entry came
        self._closed = threading.Event()
        self._rules: list[Rule] = []
        self._log: list[Exchange] = []
        self._errors: list[str] = []
        self._sockets: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._server = _Server(self)
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self._serving = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="faults-proxy",
            daemon=True,
        )
        self._serving.start()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- rules

    def add(
        self,
        fault: Fault,
        *,
        method: str | None = None,
        path: str | re.Pattern[str] = "",
        body: str | bytes | None = None,
        times: int | _Default | None = _DEFAULT,
    ) -> Rule:
        """Install `fault` for requests with this method (None: any), a target matching
        `path` (re.search, query included) and, if given, a body containing `body`.
        `times`: how often it fires (ALWAYS: no limit; default 1, or the fault's own)."""
        if times is _DEFAULT:
            times = fault.default_times
        rule = Rule(
            self,
            fault,
            method.upper() if method else None,
            re.compile(path),
            body.encode() if isinstance(body, str) else body,
            times,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule: Rule) -> None:
        with self._lock:
            self._rules.remove(rule)

    def clear(self) -> None:
        """Remove every rule (the log stays)."""
        with self._lock:
            self._rules.clear()

    # ---- what happened

    @property
    def log(self) -> list[Exchange]:
        with self._lock:
            return list(self._log)

    def requests_matching(
        self,
        method: str | None = None,
        path: str | re.Pattern[str] | None = None,
        status: int | EllipsisType | None = ...,
        fault: str | EllipsisType | None = ...,
    ) -> list[Exchange]:
        """Logged exchanges by method, path (re.search), status sent (None: no answer)
        and fault name (None: passed through); `...` (the default) matches anything."""
        pattern = re.compile(path) if path is not None else None
        return [
            e
            for e in self.log
            if (method is None or e.method == method.upper())
            and (pattern is None or pattern.search(e.path))
            and (status is ... or e.status == status)
            and (fault is ... or e.fault == fault)
        ]

    @property
    def errors(self) -> list[str]:
        """Tracebacks of unexpected exceptions inside the proxy (its own bugs)."""
        with self._lock:
            return list(self._errors)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Block until `predicate()` holds (checked whenever a rule fires or an exchange is
        logged, under the proxy's lock); False on timeout."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def busy(self) -> int:
        """How many request threads are still running."""
        with self._lock:
            return sum(t.is_alive() for t in self._threads)

    # ---- addresses

    def url_for(self, url: str = "/") -> str:
        """The proxy's URL for an upstream URL or a path, e.g. a devpi index
        `http://127.0.0.1:P/user/dev/` -> `http://127.0.0.1:<proxy>/user/dev/`."""
        parts = urlsplit(url)
        path = parts.path or "/"
        if self._prefix and (path == self._prefix or path.startswith(self._prefix + "/")):
            path = path[len(self._prefix) :] or "/"
        return urlunsplit(("http", f"127.0.0.1:{self.port}", path, parts.query, parts.fragment))

    def _rewrite_location(self, value: str) -> str:
        origin = f"{self._scheme}://{self._netloc}{self._prefix}"
        if value.startswith(origin):
            return f"http://127.0.0.1:{self.port}" + (value[len(origin) :] or "/")
        return value

    # ---- shutting down

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving and end every request thread: waits are on an Event, blocked
        socket calls are woken by shutting their sockets down."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._server.shutdown()  # returns within one poll_interval
        self._server.server_close()
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for s in sockets:
            _shutdown(s)
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))

    # ---- internals, called from request threads

    def _select(self, method: str, target: str, body: _RequestBody) -> Rule | None:
        with self._lock:
            candidates = [
                r
                for r in self._rules
                if not r._exhausted()
                and (r.method is None or r.method == method)
                and r.path.search(target)
            ]
        needles = {r.body for r in candidates if r.body is not None}
        found = body.spool(needles) if needles else set()
        with self._changed:
            for r in candidates:
                # Checked again under the lock: another thread may have used it up.
                if (r.body is None or r.body in found) and not r._exhausted():
                    r._fired += 1
                    self._changed.notify_all()
                    return r
        return None

    def _record(self, exchange: Exchange) -> None:
        with self._changed:
            self._log.append(exchange)
            self._changed.notify_all()

    def _error(self, text: str) -> None:
        with self._lock:
            self._errors.append(text)

    def _adopt(self, thread: threading.Thread) -> None:
        with self._lock:
            self._threads = {t for t in self._threads if t.is_alive()}
            self._threads.add(thread)

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
            closed = self._closed.is_set()
        if closed:  # raced with close(): wake ourselves up at once
            _shutdown(sock)

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)
