"""Progress on long work, so that a person never stares at a silent log.

Uploads: in a terminal, a bar per file drawn on standard error by rich (which twine
brings); anywhere else (Actions, a file, ``--verbose``) a plain line now and then,
through the Console like every other line. Builds and other long steps: a watchdog that
says what is running, and for how long, when nothing has been printed for a while, so
that a hung backend and a slow one are told apart.

Counting costs one addition per block the HTTP client reads from the file; the clock is
looked at only when the count passes a mark, and no thread is started for it.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING

from .gha import Console

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

# Module constants, not inputs: tests set them to fractions of a second.
INTERVAL = 10.0  # seconds between two progress lines of one upload, at least
SHARE = 0.25  # of the file between two progress lines, at least
SILENCE = 30.0  # seconds without output before the watchdog says what is running
BAR_STEP = 64 * 1024  # bytes between two updates of a bar, at least


def size(n: float) -> str:
    """A number of bytes as the summary shows it: ``512 B``, ``1.5 MiB``."""
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def duration(seconds: float) -> str:
    """``45 s``, ``1 min 30 s``, ``2 min``, ``1 h 5 min``: whole seconds, never a clock."""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m} min {s} s" if s else f"{m} min"
    h, m = divmod(m, 60)
    return f"{h} h {m} min" if m else f"{h} h"


class Transfer:
    """One attempt at sending one file: the bytes read from it so far. A retried attempt
    is a new Transfer, so its count starts again at 0."""

    def __init__(self, name: str, total: int) -> None:
        self.name = name
        self.total = total
        self.sent = 0
        self.start = time.monotonic()
        self.mark = total + 1  # the count at which passed() is called next

    def reader(self, raw: IO[bytes], sha256: str | None = None) -> Reader:
        """``raw`` (an open file of ``total`` bytes) read through this count; with
        ``sha256``, the bytes read must hash to it (see Reader)."""
        return Reader(raw, self, sha256)

    def passed(self) -> int:
        """Called when the count reaches ``mark``; the next mark."""
        return self.total + 1


class Changed(Exception):
    """The file read for an upload is not the file that was checked."""


class Reader:
    """A file as the multipart encoder reads it, each block counted, and hashed.

    requests_toolbelt takes an object with ``read`` and ``len`` as it is (no wrapper of
    its own) and reads ``len`` as what is left to read, as it does for a file.

    With ``sha256`` (the checked file's), the bytes handed to the encoder are hashed as
    they go, and the block holding the last byte is held back until the whole file
    hashes to it: a file changed since it was checked raises Changed instead, so the
    request's body never completes (the index gets a body cut short, which it cannot
    store) and the upload is not counted. A file that ends early or runs long is changed
    too.
    """

    def __init__(self, raw: IO[bytes], transfer: Transfer, sha256: str | None = None) -> None:
        self._raw = raw
        self._transfer = transfer
        self.len = transfer.total
        self._expected = sha256
        self._hash = hashlib.sha256() if sha256 is not None else None

    def read(self, n: int = -1) -> bytes:
        if self.len <= 0:
            return b""
        block = self._raw.read(self.len if n is None or n < 0 else min(n, self.len))
        if self._hash is not None:
            self._hash.update(block)
            if not block:
                raise Changed(f"it ends {self.len} byte(s) short of the size checked")
            if len(block) >= self.len:  # the last byte is in it: not sent unless it hashes
                self._check()
        self.len -= len(block)
        t = self._transfer
        t.sent += len(block)
        if t.sent >= t.mark:
            t.mark = t.passed()
        return block

    def _check(self) -> None:
        assert self._hash is not None
        if self._raw.read(1) != b"":
            raise Changed("it is longer than the file checked")
        got = self._hash.hexdigest()
        if got != self._expected:
            raise Changed(f"its sha256 is now {got}")


class _Said(Transfer):
    """An upload told in lines: one when both ``INTERVAL`` seconds and ``SHARE`` of the
    file have gone by since the last (so a short upload says nothing).

    "Sent" is what the HTTP client has handed to the system: on a slow link the first
    few MiB fill its socket buffers at once, and the first line's rate is the higher
    for it; the lines after it show the link's."""

    def __init__(self, console: Console, name: str, total: int) -> None:
        super().__init__(name, total)
        self.console = console
        self.step = max(int(total * SHARE), 1)
        self.said, self.said_at = 0, self.start
        self.mark = self.step if total else total + 1

    def passed(self) -> int:
        now = time.monotonic()
        if now - self.said_at < INTERVAL:
            # Enough bytes, too soon: look at the clock again a little further on.
            return self.sent + max(self.total // 100, 1)
        # The rate since the last line: an upload that slows down shows it.
        rate = (self.sent - self.said) / max(now - self.said_at, 1e-6)
        self.console.line(
            f"{self.name}: {size(self.sent)} of {size(self.total)} sent "
            f"({100 * self.sent // self.total} %), {size(rate)}/s"
        )
        self.said, self.said_at = self.sent, now
        return self.sent + self.step


class _Drawn(Transfer):
    """An upload shown as a bar: rich's task follows the count, in steps."""

    def __init__(self, progress: Progress, task: TaskID, name: str, total: int) -> None:
        super().__init__(name, total)
        self.progress = progress
        self.task = task
        self.step = max(total // 1000, BAR_STEP)
        self.mark = min(self.step, total)

    def passed(self) -> int:
        self.progress.update(self.task, completed=self.sent)
        return self.sent + self.step if self.sent < self.total else self.total + 1


class Lines:
    """Uploads under way, told in periodic lines (Actions, a file, a verbose run)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    @contextlib.contextmanager
    def showing(self) -> Iterator[None]:
        """While uploads run side by side (lines need nothing set up)."""
        yield

    @contextlib.contextmanager
    def sending(self, name: str, total: int) -> Iterator[Transfer]:
        """One attempt at sending a file of ``total`` bytes."""
        yield _Said(self.console, name, total)


class Bars(Lines):
    """Uploads under way as a bar each, drawn on the console's standard error while
    ``showing``: bytes sent, rate, time left. The bars go when the uploads end."""

    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self._progress: Progress | None = None

    @contextlib.contextmanager
    def showing(self) -> Iterator[None]:
        from rich.console import Console as Screen
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            ProgressColumn,
            Task,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class Rate(ProgressColumn):
            """The rate in the sizes' units (rich's own column shows MB/s beside MiB)."""

            def render(self, task: Task) -> Text:
                speed = task.finished_speed or task.speed
                shown = "?" if speed is None else f"{size(speed)}/s"
                return Text(shown, style="progress.data.speed")

        progress = Progress(
            TextColumn("{task.description}", markup=False),  # a file name is no markup
            BarColumn(),
            TaskProgressColumn(),
            DownloadColumn(binary_units=True),
            Rate(),
            TimeRemainingColumn(),
            console=Screen(file=self.console.err, highlight=False),
            transient=True,
            # Our lines are ours to route (below); nothing else's stream is swapped.
            redirect_stdout=False,
            redirect_stderr=False,
        )

        def above(line: str) -> None:
            progress.console.print(line, markup=False, highlight=False, emoji=False, soft_wrap=True)

        with contextlib.ExitStack() as stack:
            stack.enter_context(progress)
            if self.console.on_terminal:
                # The lines' terminal is the bars' one: a line written past rich would
                # be drawn over, so it goes above the bars instead.
                stack.enter_context(self.console.divert(above))
            self._progress = progress
            try:
                yield
            finally:
                self._progress = None

    @contextlib.contextmanager
    def sending(self, name: str, total: int) -> Iterator[Transfer]:
        progress = self._progress
        if progress is None:  # an upload outside ``showing``: counted, not shown
            yield Transfer(name, total)
            return
        task = progress.add_task(name, total=total)
        try:
            yield _Drawn(progress, task, name, total)
        finally:
            progress.remove_task(task)


Reporter = Lines  # Bars is one too


def reporter(console: Console) -> Reporter:
    """Bars on a terminal (not verbose, not Actions); periodic lines anywhere else."""
    return Bars(console) if console.draws else Lines(console)


class Watchdog:
    """Says what is running, and for how long, each time nothing was heard for
    ``SILENCE`` seconds: one thread, waiting on an event between looks at the clock.

    ``heard()`` is called for every line the work prints; ``doing()`` names a part of
    the work (its time counts from then).
    """

    def __init__(self, console: Console, label: str) -> None:
        self.console = console
        now = time.monotonic()
        self._doing = (label, now)  # replaced whole: read by the thread without a lock
        self._last = now
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="watchdog", daemon=True)

    def __enter__(self) -> Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def heard(self) -> None:
        self._last = time.monotonic()

    @contextlib.contextmanager
    def doing(self, label: str) -> Iterator[None]:
        before = self._doing
        now = time.monotonic()
        self._doing, self._last = (label, now), now
        try:
            yield
        finally:
            self._doing = before

    def _watch(self) -> None:
        wait = SILENCE
        while not self._stop.wait(wait):
            now = time.monotonic()
            quiet = now - self._last
            if quiet < SILENCE:
                wait = SILENCE - quiet
                continue
            label, since = self._doing
            self.console.line(f"{label}: {duration(now - since)} so far")
            self._last, wait = now, SILENCE
