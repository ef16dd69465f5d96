"""Progress on long work: periodic lines for uploads outside a terminal, rich's bars in
one, and the watchdog's "so far" line for a step that has gone silent.

Uploads go through a throttling proxy (a slow uplink) to a real pypiserver; builds run
an in-tree PEP 517 backend of the test's own project, which needs nothing from PyPI.
The thresholds are the module's constants, set to fractions of a second here.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import itertools
import os
import pty
import re
import runpy
import select
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.faults import FaultProxy, reset_after_body
from support.indexes import Index
from support.projects import Project, git
from support.runner import PASSTHROUGH, action_inputs, runner_variables

from release import progress
from release.__main__ import main
from release.build import build
from release.dists import Dist, read_dist
from release.gha import Console
from release.http import make_session
from release.index import read_project
from release.proc import ToolLog
from release.upload import Uploader

MiB = 1024 * 1024
RATE = 8 * MiB  # the throttled uplink, bytes a second
WHEEL = "progress_sample-1.0.0-py3-none-any.whl"
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
SIZE = r"\d+(?:\.\d)? (?:B|KiB|MiB|GiB)"
LINE = re.compile(
    rf"(?P<name>\S+): (?P<sent>{SIZE}) of (?P<total>{SIZE}) sent \((?P<pct>\d+) %\), "
    rf"(?P<rate>{SIZE})/s"
)
UNITS = {"B": 1, "KiB": 1024, "MiB": MiB, "GiB": 1024 * MiB}


def in_bytes(shown: str) -> float:
    """A size as progress.size() shows it, in bytes (to the precision shown)."""
    number, unit = shown.split()
    return float(number) * UNITS[unit]


# A PEP 517 backend: an sdist of the project's few files, and a wheel whose payload is
# PAYLOAD pseudo-random bytes (stored, not compressed: the upload's size is known).
# When WAIT_FOR names a file, build_wheel first waits for it, silently: a hung backend.
BACKEND = """\
import hashlib, io, os, random, tarfile, time, zipfile
from base64 import urlsafe_b64encode

PAYLOAD = {payload}
WAIT_FOR = {wait_for!r}
NAME, VERSION = "progress_sample", "1.0.0"
METADATA = (
    "Metadata-Version: 2.1\\nName: progress-sample\\nVersion: 1.0.0\\n"
    "Summary: A sample with a large wheel.\\nDescription-Content-Type: text/plain\\n\\n"
    "A sample with a large wheel.\\n"
)


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_sdist(sdist_directory, config_settings=None):
    top = f"{{NAME}}-{{VERSION}}"
    with tarfile.open(os.path.join(sdist_directory, top + ".tar.gz"), "w:gz") as tf:
        for rel in ("pyproject.toml", "_backend/slowbackend.py"):
            tf.add(rel, f"{{top}}/{{rel}}")
        info = tarfile.TarInfo(f"{{top}}/PKG-INFO")
        info.size = len(METADATA)
        tf.addfile(info, io.BytesIO(METADATA.encode()))
    return top + ".tar.gz"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    if WAIT_FOR:
        deadline = time.monotonic() + 120
        while not os.path.exists(WAIT_FOR) and time.monotonic() < deadline:
            time.sleep(0.02)
    info = f"{{NAME}}-{{VERSION}}.dist-info"
    files = {{
        f"{{NAME}}/__init__.py": b"",
        f"{{NAME}}/payload.bin": random.Random(0).randbytes(PAYLOAD),
        f"{{info}}/METADATA": METADATA.encode(),
        f"{{info}}/WHEEL": b"Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\n"
        b"Tag: py3-none-any\\n",
    }}
    record = "".join(
        f"{{name}},sha256={{urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()}},"
        f"{{len(data)}}\\n"
        for name, data in files.items()
    ) + f"{{info}}/RECORD,,\\n"
    files[f"{{info}}/RECORD"] = record.encode()
    filename = f"{{NAME}}-{{VERSION}}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w", zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            zf.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data)
    return filename
"""

PYPROJECT = """\
[build-system]
requires = []
build-backend = "slowbackend"
backend-path = ["_backend"]

[project]
name = "progress-sample"
version = "1.0.0"
"""


def sample(path: Path, payload: int, wait_for: Path | None = None) -> Project:
    """The project with the in-tree backend, committed and tagged v1.0.0."""
    (path / "_backend").mkdir(parents=True)
    (path / "pyproject.toml").write_text(PYPROJECT)
    source = BACKEND.format(payload=payload, wait_for=str(wait_for or ""))
    (path / "_backend" / "slowbackend.py").write_text(source)
    (path / ".gitignore").write_text("dist/\n__pycache__/\n")
    git(path, "init", "-q")
    project = Project(path)
    project.commit("initial")
    project.tag("v1.0.0")
    return project


def wheel(project: Project, outdir: Path) -> Dist:
    """The project's wheel, made by its backend in this process."""
    outdir.mkdir(exist_ok=True)
    hooks = runpy.run_path(str(project.path / "_backend" / "slowbackend.py"))
    return read_dist(outdir / hooks["build_wheel"](str(outdir)))


class Recorder(io.StringIO):
    """A console's stream: each line with the moment it was written, and what the
    throttle had passed on by then; ``on_line`` sees each line as it comes."""

    def __init__(
        self,
        throttle: Throttle | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__()
        self.throttle = throttle
        self.on_line = on_line
        self.lines: list[tuple[float, str, int]] = []
        self.text: list[str] = []
        self._changed = threading.Condition()

    def write(self, text: str) -> int:
        now = time.monotonic()
        passed = self.throttle.forwarded if self.throttle else 0
        with self._changed:
            self.text.append(text)
            for line in text.splitlines():
                self.lines.append((now, line, passed))
            self._changed.notify_all()
        if self.on_line:
            for line in text.splitlines():
                self.on_line(line)
        return len(text)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(
                lambda: any(predicate(line) for _, line, _ in self.lines), timeout
            )


def buffering() -> int:
    """How many bytes a client's socket takes at once on this machine when the other
    side (with the throttle's receive buffer) reads nothing: what an upload counts as
    sent ahead of what has passed the throttle."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()) as client:
            accepted, _ = listener.accept()
            with accepted:
                client.setblocking(False)
                taken = 0
                with contextlib.suppress(BlockingIOError):
                    while True:
                        taken += client.send(bytes(MiB))
                return taken


RCVBUF = 32 * 1024


class Throttle:
    """A TCP proxy on 127.0.0.1 that passes on what a client sends at ``rate`` bytes a
    second (a slow uplink, as an upload meets it) and the answers as they come.

    Its socket's receive buffer is small; still, the client's socket takes a few MiB
    before the throttle holds it back (``buffering()``).
    """

    def __init__(self, upstream: str, rate: int) -> None:
        host, port = upstream.split("//", 1)[1].split("/", 1)[0].split(":")
        self.upstream = (host, int(port))
        self.rate = rate
        self.forwarded = 0
        self.errors: list[str] = []
        self._sockets: list[socket.socket] = []
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen()
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/"
        threading.Thread(target=self._accept, name="throttle", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(self.upstream)
            self._sockets += [client, upstream]
            for src, dst, paced in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._relay, args=(src, dst, paced), daemon=True).start()

    def _relay(self, src: socket.socket, dst: socket.socket, paced: bool) -> None:
        block = self.rate // 20
        due = time.monotonic()
        try:
            while data := src.recv(block):
                dst.sendall(data)
                if paced:
                    self.forwarded += len(data)
                    due += len(data) / self.rate
                    # The throttle itself: the next block waits for its slot.
                    time.sleep(max(0.0, due - time.monotonic()))
        except OSError:
            pass  # either side closed: the other is told below
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            sock.close()


@pytest.fixture
def throttle(pypiserver: Index) -> Iterator[Throttle]:
    t = Throttle(pypiserver.base, RATE)
    yield t
    t.close()


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Progress lines and the watchdog in fractions of a second."""
    monkeypatch.setattr(progress, "INTERVAL", 0.4)
    monkeypatch.setattr(progress, "SILENCE", 0.5)


def uploader(index: Index, url: str, console: Console) -> Uploader:
    s = make_session()
    return Uploader(
        repository_url=url,
        credential=lambda _valid_for: (index.user, index.password),
        session=s,
        read_index=lambda own: read_project(own, index.simple_url, "progress-sample", fresh=True),
        console=console,
        sleep=lambda _seconds: None,
    )


def said(recorder: Recorder) -> list[tuple[float, re.Match[str], int]]:
    return [(t, m, passed) for t, line, passed in recorder.lines if (m := LINE.fullmatch(line))]


# --- the figures -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (6 * MiB, "6.0 MiB"),
        (300 * MiB + 512 * 1024, "300.5 MiB"),
        (3 * 1024 * MiB, "3.0 GiB"),
    ],
)
def test_size(n: int, text: str) -> None:
    assert progress.size(n) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.4, "0 s"),
        (30, "30 s"),
        (59.9, "59 s"),
        (60, "1 min"),
        (90, "1 min 30 s"),
        (3599, "59 min 59 s"),
        (3600, "1 h"),
        (3900, "1 h 5 min"),
    ],
)
def test_duration(seconds: float, text: str) -> None:
    assert progress.duration(seconds) == text


class Clock:
    """time.monotonic for the progress module, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


class Zeros:
    """A file of zeros, as long as it is read."""

    def read(self, n: int) -> bytes:
        return bytes(n)


def test_a_line_when_both_the_interval_and_the_share_have_passed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    monkeypatch.setattr(progress, "time", clock)
    out = io.StringIO()
    lines = progress.Lines(Console(actions=True, stream=out))
    total = 80 * MiB
    with lines.sending("demo.whl", total) as transfer:
        reader = transfer.reader(Zeros())  # type: ignore[arg-type]
        assert reader.len == total
        clock.now += 2
        reader.read(20 * MiB)  # 25 % within 2 s: too soon, nothing said
        assert out.getvalue() == ""
        clock.now += 8
        reader.read(MiB)  # 10 s in: the clock is looked at again, and it is said
        clock.now += 10
        reader.read(10 * MiB)  # 10 s more, but 12.5 % more: nothing
        clock.now += 10
        reader.read(9 * MiB)  # 20 s more, 24 % more: nothing
        reader.read(MiB)  # 25 % more: said
        assert (transfer.sent, reader.len) == (41 * MiB, 39 * MiB)
    assert out.getvalue() == (
        "demo.whl: 21.0 MiB of 80.0 MiB sent (26 %), 2.1 MiB/s\n"
        "demo.whl: 41.0 MiB of 80.0 MiB sent (51 %), 1.0 MiB/s\n"
    )


def test_a_retry_counts_from_zero() -> None:
    lines = progress.Lines(Console(actions=True, stream=io.StringIO()))
    for _attempt in range(2):
        with lines.sending("demo.whl", 100) as transfer:
            reader = transfer.reader(io.BytesIO(bytes(100)))
            assert transfer.sent == 0
            assert reader.read(60) == bytes(60)
            assert (transfer.sent, reader.len) == (60, 40)


# --- which kind of progress --------------------------------------------------------------


@contextlib.contextmanager
def terminal() -> Iterator[io.TextIOWrapper]:
    """The writing side of a pseudo-terminal, as a text stream."""
    master, slave = pty.openpty()
    with open(slave, "w", encoding="utf-8") as tty:
        try:
            yield tty
        finally:
            os.close(master)


def test_lines_go_above_a_display_while_it_is_drawn() -> None:
    out = io.StringIO()
    console = Console(actions=False, stream=out)
    above: list[str] = []
    with console.divert(above.append):
        console.line("::warning::demo.whl: 1.0 MiB of 2.0 MiB sent")
    console.line("after")
    # Neutralised as ever, whichever way it went.
    assert above == [":\u200b:warning::demo.whl: 1.0 MiB of 2.0 MiB sent"]
    assert out.getvalue() == "after\n"


def test_bars_only_on_a_terminal_outside_actions_and_not_verbose() -> None:
    with terminal() as tty:
        assert isinstance(progress.reporter(Console(actions=False, err=tty)), progress.Bars)
        verbose = Console(actions=False, verbose=True, err=tty)
        assert type(progress.reporter(verbose)) is progress.Lines
        actions = Console(actions=True, err=tty)
        assert type(progress.reporter(actions)) is progress.Lines
    assert type(progress.reporter(Console(actions=False, err=io.StringIO()))) is progress.Lines


# --- uploads through a slow uplink ---------------------------------------------------------


def check_lines(recorder: Recorder, dist: Dist, begun: float) -> list[int]:
    """The progress lines' figures against the file and the throttle; their percents."""
    lines = said(recorder)
    assert len(lines) >= 3, recorder.text
    ahead = buffering() + RATE // 20  # the sockets' buffers, and the throttle's block
    percents, at = [], begun
    for n, (when, m, passed) in enumerate(lines):
        assert m["name"] == dist.filename
        assert m["total"] == progress.size(dist.size)
        sent = in_bytes(m["sent"])
        pct = int(m["pct"])
        # The percent is of the bytes shown (rounded to 0.1 MiB).
        assert abs(pct / 100 * dist.size - sent) <= 0.06 * MiB + dist.size / 100
        # What was counted is what left for the index: what has passed the throttle
        # (less the form's fields before the file), and no more than the sockets hold
        # beyond it.
        assert passed - 64 * 1024 <= sent <= passed + ahead, (sent, passed, ahead)
        if n:  # the first line's rate counts the buffers' first fill too
            assert RATE / 2 <= in_bytes(m["rate"]) <= RATE * 2, m["rate"]
        assert when - at >= progress.INTERVAL  # never more often than the interval
        percents.append(pct)
        at = when
    assert percents[0] >= 25
    assert all(b - a >= 25 for a, b in itertools.pairwise(percents))
    return percents


def test_upload_lines_in_actions(
    tmp_path: Path,
    pypiserver: Index,
    throttle: Throttle,
    quick: None,
    monkeypatch: pytest.MonkeyPatch,
    uv_cache: Path,
) -> None:
    project = sample(tmp_path / "workspace", 32 * MiB)
    recorder, err = Recorder(throttle), io.StringIO()
    monkeypatch.chdir(project.path)
    files = tmp_path / "files"
    files.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "UV_CACHE_DIR": str(uv_cache),
        **runner_variables(
            project,
            "v1.0.0",
            home=str(tmp_path),
            workspace=str(project.path),
            output=str(files / "output"),
            summary=str(files / "summary"),
            temp=str(tmp_path),
        ),
        **action_inputs(),
        "INPUT_GITHUB-RELEASE": "false",
        "INPUT_REPOSITORY-URL": throttle.url,
        "INPUT_INDEX-URL": pypiserver.simple_url,
        "INPUT_USER": pypiserver.user,
        "INPUT_PASSWORD": pypiserver.password,
    }
    env.update({k: os.environ[k] for k in PASSTHROUGH if k in os.environ})
    # The Console main() makes writes to the standard streams of the moment.
    with contextlib.redirect_stdout(recorder), contextlib.redirect_stderr(err):
        code = main([], env)
    assert code == 0, "".join(recorder.text)
    out = "".join(recorder.text)
    assert sorted(pypiserver.files()) == [WHEEL, "progress_sample-1.0.0.tar.gz"]
    begun = next(t for t, line, _ in recorder.lines if line.startswith("::group::Upload 2"))
    dist = read_dist(project.path / "dist" / WHEEL)
    check_lines(recorder, dist, begun)
    # Inside the upload's group, in plain text: no carriage return, no ANSI code.
    body = out.split("::group::Upload 2 file(s)", 1)[1].split("::endgroup::", 1)[0]
    assert len(said(recorder)) == len(LINE.findall(body))
    assert not CONTROL.search(out.replace("\n", "")), out
    assert err.getvalue() == ""  # no bar


def test_a_retried_upload_counts_again_from_zero(
    tmp_path: Path, pypiserver: Index, quick: None
) -> None:
    dist = wheel(sample(tmp_path / "workspace", 24 * MiB), tmp_path / "dist")
    with FaultProxy(pypiserver.base) as faults:
        # The first attempt is cut off once it has all been sent, and not answered.
        faults.add(reset_after_body(), method="POST")
        slow = Throttle(faults.url, RATE)
        recorder = Recorder(slow)
        console = Console(actions=True, stream=recorder)
        done: list[Dist] = []
        try:
            uploader(pypiserver, slow.url, console).upload_all([(dist, [])], done.append)
        finally:
            slow.close()
        assert faults.errors == []
    assert done == [dist]
    text = [line for _, line, _ in recorder.lines]
    retry = next(n for n, line in enumerate(text) if "upload failed" in line)
    assert text[retry] == (f"{dist.filename}: upload failed (ConnectionError, no answer); retrying")
    first = [int(m["pct"]) for line in text[:retry] if (m := LINE.fullmatch(line))]
    second = [int(m["pct"]) for line in text[retry:] if (m := LINE.fullmatch(line))]
    assert first, text
    assert second, text
    assert second[0] < first[-1]  # counted from 0 again
    assert second[0] < 50


def test_upload_bars_on_a_terminal(tmp_path: Path, pypiserver: Index, throttle: Throttle) -> None:
    """The command line, on a pseudo-terminal: rich's bars on standard error."""
    project = sample(tmp_path / "workspace", 24 * MiB)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "TERM": "xterm-256color",
        "TWINE_USERNAME": pypiserver.user,
        "TWINE_PASSWORD": pypiserver.password,
        **{k: os.environ[k] for k in (*PASSTHROUGH, "UV_CACHE_DIR") if k in os.environ},
    }
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    args = ["--tag", "v1.0.0", "--repository-url", throttle.url]
    proc = subprocess.Popen(
        [sys.executable, "-m", "release", *args, "--index-url", pypiserver.simple_url],
        cwd=project.path,
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not data:
                break
            chunks.append(data)
        code = proc.wait(30)
    finally:
        proc.kill()
        os.close(master)
    out = b"".join(chunks).decode("utf-8", "replace")
    assert code == 0, out
    assert sorted(pypiserver.files()) == [WHEEL, "progress_sample-1.0.0.tar.gz"]
    # rich's bar: the file, the bar, how much of the 4 MiB, the rate, the time left.
    frame = re.compile(
        re.escape(WHEEL)
        + r" +(?:\x1b\[[0-9;]*m)*━.*?\d+\.\d/24\.0 MiB.*?\d+\.\d MiB/s.*?\d+:\d\d:\d\d"
    )
    assert frame.search(out), out
    assert "\x1b[?25l" in out  # the cursor hidden while it is drawn
    assert f"{WHEEL}: uploaded" in out
    assert not LINE.search(out)  # no periodic line where a bar is drawn


# --- silence ---------------------------------------------------------------------------------


def test_a_silent_tool_is_said_to_run(tmp_path: Path, quick: None) -> None:
    go = tmp_path / "go"
    recorder = Recorder(on_line=lambda line: go.touch() if "so far" in line else None)
    console = Console(actions=True, stream=recorder)
    wait = (
        "import os, time\n"
        "print('waiting', flush=True)\n"
        "deadline = time.monotonic() + 60\n"
        f"while not os.path.exists({str(go)!r}) and time.monotonic() < deadline:\n"
        "    time.sleep(0.02)\n"
    )
    begun = time.monotonic()
    with ToolLog("Test step", console) as log:
        code = log.run(
            [sys.executable, "-c", wait], cwd=tmp_path, env=dict(os.environ), doing="Waiting"
        )
    assert code == 0
    lines = [(t, line) for t, line, _ in recorder.lines]
    texts = [line for _, line in lines]
    found = [(t, line) for t, line in lines if "so far" in line]
    assert len(found) >= 1, texts
    assert re.fullmatch(r"Waiting: \d+ s so far", found[0][1])
    assert found[0][0] - begun >= progress.SILENCE
    # In the step's group and its fence, after the tool's line; not kept as its output
    # (a failure's reason is the tool's last line, never ours).
    assert texts.index("waiting") < texts.index(found[0][1]) < texts.index("::endgroup::")
    assert texts[0] == "::group::Test step"
    assert log.lines == ["waiting\n"]


def test_a_talking_tool_is_not_said_to_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "SILENCE", 1.5)
    recorder = Recorder()
    talk = "import time\nfor n in range(25):\n    print(n, flush=True)\n    time.sleep(0.1)\n"
    with ToolLog("Test step", Console(actions=False, stream=recorder)) as log:
        assert log.run([sys.executable, "-c", talk], cwd=tmp_path, env=dict(os.environ)) == 0
    assert [line for _, line, _ in recorder.lines] == ["-- Test step", "-- Test step: ok"]


def test_a_silent_build_backend_is_said_to_run(tmp_path: Path, quick: None, uv_cache: Path) -> None:
    go = tmp_path / "go"
    project = sample(tmp_path / "workspace", 1024, wait_for=go)
    recorder = Recorder(on_line=lambda line: go.touch() if "so far" in line else None)
    console = Console(actions=False, stream=recorder)  # a terminal's run: the output hidden
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "UV_CACHE_DIR": str(uv_cache)}
    build(
        project.path,
        tmp_path / "out",
        source_date_epoch="1700000000",
        env=env,
        console=console,
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        WHEEL,
        "progress_sample-1.0.0.tar.gz",
    ]
    texts = [line for _, line, _ in recorder.lines]
    assert texts[0] == "-- Build sdist and wheel"
    assert texts[-1] == "-- Build sdist and wheel: ok"
    found = [line for line in texts if "so far" in line]
    assert found, texts
    # The hook that went silent, and its backend, by name.
    assert all(
        re.fullmatch(r"Building the (sdist|wheel) \(slowbackend\): \d+ s so far", line)
        for line in found
    ), found
