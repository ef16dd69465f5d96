"""Command line and action entry: the only place that reads os.environ and argv."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import pipeline, report
from .errors import ReleaseError
from .gha import Console, append_summary
from .settings import SECRET_VARIABLES, Settings


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run one release; returns the exit code."""
    env = dict(os.environ if env is None else env)
    argv = list(sys.argv[1:] if argv is None else argv)
    in_actions = env.get("GITHUB_ACTIONS") == "true"
    console = Console(actions=in_actions)
    # Masks go out before anything else is printed.
    for name in SECRET_VARIABLES:
        console.mask(env.get(name, "").strip())
    debug = env.get("RUNNER_DEBUG") == "1" or "--debug" in argv
    summary = env.get("GITHUB_STEP_SUMMARY", "")
    try:
        if in_actions and not argv:
            settings = Settings.from_action_env(env)
        else:
            settings = Settings.from_args(argv, env)
        console.verbose = settings.verbose
        return pipeline.run(settings, console)
    except ReleaseError as exc:
        console.error(f"{exc.message}\n{exc.hint}".strip(), title=exc.title)
        if summary:
            append_summary(Path(summary), report.error_markdown(exc))
        return 1
    except KeyboardInterrupt:
        console.error("Interrupted.", title="Release interrupted")
        return 130
    except Exception as exc:  # the last line of defence: still one clean ::error::
        if debug:
            console.line(traceback.format_exc())
        console.error(
            f"Unexpected error: {type(exc).__name__}: {exc}\n"
            + ("" if debug else "Re-run with debug logging enabled for the traceback."),
            title="Internal error",
        )
        if summary:
            internal = ReleaseError(f"Unexpected error: {type(exc).__name__}: {exc}")
            internal.title = "Internal error"
            append_summary(Path(summary), report.error_markdown(internal))
        return 1


if __name__ == "__main__":
    sys.exit(main())
