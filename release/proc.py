"""Child processes: list form, output streamed live into the log and kept for failures."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from .gha import Console
from .progress import Watchdog

# Tools print colour when they think a terminal is there; the log wants plain text.
# NO_COLOR (https://no-color.org), PY_COLORS (pytest, tox), PYTHON_COLORS (Python 3.13),
# CLICOLOR (https://bixense.com/clicolors/).
PLAIN = {"NO_COLOR": "1", "TERM": "dumb", "PY_COLORS": "0", "PYTHON_COLORS": "0", "CLICOLOR": "0"}
# Variables that force colour even without a terminal, winning over NO_COLOR in some tools
# (TTY_COMPATIBLE: rich).
FORCING = ("FORCE_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE")


class Cancelled(Exception):
    """The work was called off from another thread (e.g. the index refused the version)."""


@dataclasses.dataclass(frozen=True)
class Identity:
    """Whom an untrusted child (a build backend, uv installing its requirements) runs
    as: a uid and gid of its own, no supplementary group, its own home folder."""

    uid: int
    gid: int
    home: Path

    def popen(self) -> dict[str, Any]:
        """subprocess.Popen's arguments that drop to this identity (set in the child
        between fork and exec, by _posixsubprocess: safe beside this process's threads)."""
        return {"user": self.uid, "group": self.gid, "extra_groups": [], "umask": 0o022}


def kill(proc: subprocess.Popen[str]) -> None:
    """Kill a child and whatever it started: each tool runs in a process group of its
    own, so a compiler or a build tool the backend started dies with it (and no longer
    holds the output pipe open)."""
    if os.name == "posix":
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.kill()


class Cancel:
    """Calls off a tool run from another thread: the child running now is killed with
    its process group, and no other is started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[str]] = set()
        self._linked: list[Cancel] = []
        self.cancelled = False

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            for proc in self._running:
                kill(proc)
            linked = list(self._linked)
        for other in linked:
            other.cancel()

    def link(self, other: Cancel) -> None:
        """Call ``other`` off too when this is called off (at once if it already is):
        work this one waits for, running elsewhere."""
        with self._lock:
            self._linked.append(other)
            now = self.cancelled
        if now:
            other.cancel()

    def start(self, start: Callable[[], subprocess.Popen[str]]) -> subprocess.Popen[str]:
        with self._lock:
            if self.cancelled:
                raise Cancelled
            proc = start()
            self._running.add(proc)
            return proc

    def done(self, proc: subprocess.Popen[str]) -> None:
        with self._lock:
            self._running.discard(proc)


class ToolLog:
    """One titled step of the log into which one or more child processes stream.

    Their output streams live (in Actions inside a collapsed group, locally only when
    verbose) and is kept; when the step fails it is shown again in full, outside any
    group, so the reason is never hidden in a collapsed group. While the step is open, a
    watchdog says what runs, and for how long, whenever it has been silent for a while
    (``progress.SILENCE``), shown or not: a hung tool and a slow one are told apart.
    """

    def __init__(self, title: str, console: Console, cancel: Cancel | None = None) -> None:
        self.title = title
        self.console = console
        self.cancel = cancel or Cancel()
        self.lines: list[str] = []
        self.live = console.actions or console.verbose
        self.identity: Identity | None = None  # the children's, when not this process's
        self._write: Callable[[str], None] = console.line
        self._watch: Watchdog | None = None

    def __enter__(self) -> ToolLog:
        self._open = contextlib.ExitStack()  # the group, then the fence inside it
        self._open.enter_context(self.console.group(self.title))
        self._write = self._open.enter_context(self.console.raw())
        # Stopped first on the way out: no line of it after the step's end.
        self._watch = self._open.enter_context(Watchdog(self.console, self.title))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._open.__exit__(kind, exc, tb)
        self._watch = None
        if kind is not None and issubclass(kind, Cancelled):
            self.console.line(f"-- {self.title}: called off")
        elif kind is not None and not issubclass(kind, KeyboardInterrupt):
            self.show_failure()
        elif kind is None and not self.live:
            self.console.line(f"-- {self.title}: ok")

    def show_failure(self) -> None:
        if self.live and not self.console.actions:
            self.console.line(f"-- {self.title} failed; its output is above.")
        else:  # in Actions the group is collapsed, and locally nothing was shown yet
            self.console.line(f"-- {self.title} failed; its output:")
            with self.console.raw() as write:
                write("".join(self.lines))

    def replay(self, lines: Sequence[str]) -> None:
        """Lines another (silent) log kept, as if they had been written here."""
        self._heard()
        self.lines.extend(lines)
        if self.live:
            for line in lines:
                self._write(line)

    def note(self, text: str) -> None:
        """A line of our own, kept with the tools' output."""
        self._heard()
        self.lines.append(text + "\n")
        if self.live:
            self._write(text)

    def _heard(self) -> None:
        if self._watch is not None:
            self._watch.heard()

    def run(
        self, args: Sequence[str], *, cwd: Path | str, env: Mapping[str, str], doing: str = ""
    ) -> int:
        """Run a tool to its end; its exit code. ``doing``: what it does, in words, for
        the line said when it is silent (the step's title otherwise)."""
        if doing and self._watch is not None:
            with self._watch.doing(doing):
                return self._run(args, cwd=cwd, env=env)
        return self._run(args, cwd=cwd, env=env)

    def _run(self, args: Sequence[str], *, cwd: Path | str, env: Mapping[str, str]) -> int:
        child_env = {k: v for k, v in env.items() if k not in FORCING}
        proc = self.cancel.start(
            lambda: subprocess.Popen(
                list(args),
                cwd=cwd,
                env={**child_env, **PLAIN},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Python tools write UTF-8 whatever the locale (a container's may be POSIX).
                encoding="utf-8",
                errors="replace",
                process_group=0 if os.name == "posix" else None,
                **(self.identity.popen() if self.identity is not None else {}),
            )
        )
        assert proc.stdout is not None
        try:
            with proc.stdout:
                for line in proc.stdout:
                    self._heard()
                    self.lines.append(line)
                    if self.live:
                        self._write(line)
            code = proc.wait()
        except BaseException:  # Ctrl-C, or the log could not be written: no orphan tool
            kill(proc)
            proc.wait()
            raise
        finally:
            self.cancel.done(proc)
        if self.cancel.cancelled:
            raise Cancelled
        return code


# --- what a build leaves behind ------------------------------------------------------------

PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>
SWEEPS = 200  # rounds of killing, at most: each round kills every process found


def become_subreaper() -> bool:
    """Make this process the one that inherits orphans of its descendants
    (PR_SET_CHILD_SUBREAPER): a daemon that double-forks and calls setsid leaves its
    process group and session, but not this process's care, so it can still be found
    (its parent is us) and killed. Process-wide and lasting; False where unavailable."""
    if not os.path.exists("/proc/self/stat"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


@dataclasses.dataclass(frozen=True)
class _Seen:
    pid: int
    ppid: int
    uids: frozenset[int]
    start: int  # clock ticks after boot
    zombie: bool


def _processes() -> Iterator[_Seen]:
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
            with open(f"/proc/{entry.name}/status", "rb") as fh:
                status = fh.read()
        except OSError:  # gone meanwhile
            continue
        # pid (comm) state ppid ...: comm may hold anything, so split after its last ')'.
        fields = stat[stat.rindex(b")") + 2 :].split()
        uids: frozenset[int] = frozenset()
        for line in status.splitlines():
            if line.startswith(b"Uid:"):  # real, effective, saved, filesystem
                uids = frozenset(int(x) for x in line.split()[1:])
        yield _Seen(int(entry.name), int(fields[1]), uids, int(fields[19]), fields[0] == b"Z")


def _ticks_now() -> int:
    with open("/proc/uptime", "rb") as fh:
        uptime = float(fh.read().split()[0])
    return int(uptime * os.sysconf("SC_CLK_TCK"))


class Leftovers:
    """Finds and kills what a build started and left running.

    With a uid of the build's own (the action run as root): every process with that uid
    (real, effective, saved or filesystem), wherever it went. Otherwise (the command
    line, run as a normal user: no other uid to drop to, no cgroup to move into): every
    process this one inherited as a subreaper since the build began, and their
    descendants. Zombies among them that are this process's children are reaped.
    """

    def __init__(self, uid: int | None) -> None:
        self.uid = uid
        self.available = os.path.isdir("/proc")
        if self.available and uid is None:
            self.available = become_subreaper()
        self.since = _ticks_now() if self.available else 0
        self.killed: set[int] = set()

    def found(self) -> list[_Seen]:
        if not self.available:
            return []
        me = os.getpid()
        every = [p for p in _processes() if p.pid != me]
        if self.uid is not None:
            return [p for p in every if self.uid in p.uids]
        ours = {p.pid for p in every if p.ppid == me and p.start >= self.since}
        while True:  # and their descendants
            more = {p.pid for p in every if p.ppid in ours} - ours
            if not more:
                break
            ours |= more
        return [p for p in every if p.pid in ours]

    def sweep(self, running: Sequence[int] = ()) -> int:
        """Kill every leftover (``running``: children still waited for by their owner,
        left alone) and wait until each is gone; how many were killed this time."""
        before = len(self.killed)
        me = os.getpid()
        for _ in range(SWEEPS):
            found = [p for p in self.found() if p.pid not in running]
            alive = [p for p in found if not p.zombie]
            for p in found:
                if p.zombie and p.ppid == me:
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(p.pid, os.WNOHANG)
            if not alive:
                break
            for p in alive:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(p.pid, signal.SIGKILL)
                    self.killed.add(p.pid)
            _wait_gone([p.pid for p in alive])
        return len(self.killed) - before


def _wait_gone(pids: Sequence[int], timeout: float = 2.0) -> None:
    """Wait (bounded) until each killed process has exited: a pidfd becomes readable
    then, without polling the clock."""
    fds = []
    for pid in pids:
        try:
            fds.append(os.pidfd_open(pid))
        except (OSError, AttributeError):  # gone already, or no pidfd here
            continue
    try:
        end = time.monotonic() + timeout
        waiting = list(fds)
        while waiting:
            left = end - time.monotonic()
            if left <= 0:
                return
            ready, _, _ = select.select(waiting, [], [], left)
            waiting = [fd for fd in waiting if fd not in ready]
    finally:
        for fd in fds:
            os.close(fd)
