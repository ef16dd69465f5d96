"""Child processes: list form, captured output, shown in a log group."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from .gha import Console


def run(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    title: str,
    console: Console,
) -> subprocess.CompletedProcess[str]:
    """Run a tool; its output goes to a collapsed group, or in full when it fails."""
    proc = subprocess.run(
        list(args),
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        check=False,
    )
    console.log(title, proc.stdout, failed=proc.returncode != 0)
    return proc
