"""Peak RSS of a whole process tree, sampled from /proc.

``ru_maxrss`` (getrusage, wait4) is the peak of the single biggest process; a release
runs several at once (the tool, `build`, the backend, `twine check`), so the tree's sum
is what a runner's memory has to hold. The sum counts shared pages (libraries) once per
process, as `ps` does.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType

PROC = Path("/proc")


def vm_rss_kib(pid: int) -> int:
    """VmRSS of one process in KiB; 0 when it is gone or a zombie (no VmRSS line)."""
    try:
        with open(PROC / str(pid) / "status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def children(pid: int) -> list[int]:
    """Direct children of every thread of a process (a child forked by another thread
    than the main one is listed under that thread only)."""
    found: list[int] = []
    try:
        tasks = os.listdir(PROC / str(pid) / "task")
    except (FileNotFoundError, ProcessLookupError):
        return found
    for tid in tasks:
        try:
            text = (PROC / str(pid) / "task" / tid / "children").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        found.extend(int(c) for c in text.split())
    return found


def tree_rss_kib(root: int) -> int:
    """Sum of VmRSS over a process and all its descendants, in KiB."""
    total = 0
    seen: set[int] = set()
    stack = [root]
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += vm_rss_kib(pid)
        stack.extend(children(pid))
    return total


class TreeSampler:
    """Samples a process tree's summed RSS every `interval` seconds in a thread::

    with TreeSampler(proc.pid) as sampler:
        proc.wait()
    sampler.peak_kib
    """

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kib = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        self.peak_kib = max(self.peak_kib, tree_rss_kib(self.pid))
        self.samples += 1

    def _loop(self) -> None:
        self._sample()
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
