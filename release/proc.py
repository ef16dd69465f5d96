"""Child processes: list form, output streamed live into the log and kept for failures."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from .gha import Console

# Tools print colour when they think a terminal is there; the log wants plain text.
# NO_COLOR (https://no-color.org), PY_COLORS (pytest, tox), PYTHON_COLORS (Python 3.13),
# CLICOLOR (https://bixense.com/clicolors/).
PLAIN = {"NO_COLOR": "1", "TERM": "dumb", "PY_COLORS": "0", "PYTHON_COLORS": "0", "CLICOLOR": "0"}
# Variables that force colour even without a terminal, winning over NO_COLOR in some tools
# (TTY_COMPATIBLE: rich).
FORCING = ("FORCE_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE")


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
    child_env = {k: v for k, v in env.items() if k not in FORCING}
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
            # Python tools write UTF-8 whatever the locale (a container's may be POSIX).
            encoding="utf-8",
            errors="replace",
        )
        assert proc.stdout is not None
        try:
            with proc.stdout:
                for line in proc.stdout:
                    lines.append(line)
                    if live:
                        write(line)
            code = proc.wait()
        except BaseException:  # Ctrl-C, or the log could not be written: no orphan build
            proc.kill()
            proc.wait()
            raise
    output = "".join(lines)
    if code != 0:
        if live and not console.actions:
            console.line(f"-- {title} failed (exit {code}); its output is above.")
        else:  # in Actions the group is collapsed, and locally nothing was shown yet
            console.line(f"-- {title} failed (exit {code}); its output:")
            with console.raw() as write:
                write(output)
    elif not live:
        console.line(f"-- {title}: ok")
    return subprocess.CompletedProcess(list(args), code, output, None)
