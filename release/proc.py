"""Child processes: list form, output streamed live into the log and kept for failures."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from .gha import Console

# Tools print colour when they think a terminal is there; the log wants plain text.
PLAIN = {"NO_COLOR": "1", "TERM": "dumb", "PY_COLORS": "0"}


def run(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    title: str,
    console: Console,
) -> subprocess.CompletedProcess[str]:
    """Run a tool. Its output streams live (in Actions inside a collapsed group, locally
    only when verbose); on failure it is shown again in full, outside any group."""
    child_env = {k: v for k, v in env.items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE")}
    lines: list[str] = []
    live = console.actions or console.verbose
    with console.group(title), console.raw() as write:
        proc = subprocess.Popen(
            list(args),
            cwd=cwd,
            env={**child_env, **PLAIN},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
        )
        assert proc.stdout is not None
        with proc.stdout:
            for line in proc.stdout:
                lines.append(line)
                if live:
                    write(line)
        code = proc.wait()
    output = "".join(lines)
    if code != 0:
        console.line(f"-- {title} failed (exit {code}); its output:")
        with console.raw() as write:
            write(output)
    elif not console.actions and not console.verbose:
        console.line(f"-- {title}: ok")
    return subprocess.CompletedProcess(list(args), code, output, None)
