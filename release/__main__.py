"""Command line and action entry: the only place that reads os.environ and argv."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn

from .errors import InternalError, ReleaseError
from .gha import Console, append_summary
from .settings import Settings, sanitize_url, secret_values, wants_debug


def program_name(argv0: str) -> str:
    """How the user invoked us, for usage lines and hints."""
    name = Path(argv0).name
    return "python -m release" if name in ("__main__.py", "") else name


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run one release; returns the exit code."""
    env = dict(os.environ if env is None else env)
    argv = list(sys.argv[1:] if argv is None else argv)
    in_actions = env.get("GITHUB_ACTIONS") == "true"
    console = Console(actions=in_actions)
    # Masks go out before anything else is printed.
    for secret in secret_values(env):
        console.mask(secret)
    debug = wants_debug(env, argv)
    summary = env.get("GITHUB_STEP_SUMMARY", "")
    settings: Settings | None = None
    try:
        if in_actions and not argv:
            settings = Settings.from_action_env(env)
        else:
            settings = Settings.from_args(argv, env, program_name(sys.argv[0]))
        debug = settings.debug
        console.verbose = settings.verbose
        # A first line at once (before the pipeline's imports): what this run is about.
        console.line(
            f"{'Dry run' if settings.dry_run else 'Release'} of tag {settings.tag} "
            f"({settings.working_directory}) to {sanitize_url(settings.repository_url)}"
        )
        # The build's environment is made while the rest of the run starts up.
        from .build import head_start

        head = (
            head_start(settings.working_directory, settings.child_env, console)
            if settings.build
            else None
        )
        try:
            from . import pipeline

            return pipeline.run(settings, console, head)
        finally:
            if head is not None:
                head.close()
    except ReleaseError as exc:
        return fail(exc, console, summary, exc if debug else None)
    except KeyboardInterrupt:
        console.error("Interrupted.", title="Release interrupted")
        return 130
    except Exception as exc:  # the last line of defence: still one clean ::error::
        internal = InternalError(
            "internal-error",
            f"Unexpected error: {type(exc).__name__}: {exc}",
            (
                "Re-run with debug logging enabled for the traceback."
                if in_actions
                else "Re-run with --debug for the traceback."
            )
            if not debug
            else "Please report this with the traceback above.",
        )
        return fail(internal, console, summary, exc if debug else None)


def fail(exc: ReleaseError, console: Console, summary: str, trace: BaseException | None) -> int:
    """One error line (and the summary's copy); the traceback only in debug mode."""
    from .report import error_markdown

    if trace is not None:
        import traceback

        console.line("".join(traceback.format_exception(trace)))
    console.error(f"{exc.message}\n{exc.hint}".strip(), title=exc.heading)
    if summary:
        append_summary(Path(summary), error_markdown(exc, console.front))
    return 1


def cli() -> NoReturn:
    """Run from a command line (python -m release, the console script, the container):
    main(), then exit.

    The run's objects are frozen first, out of the garbage collector's reach: the
    interpreter's last collections would otherwise walk every one of them on the way out
    (~25 ms of a small release, freeing memory the operating system frees anyway).
    Exit handlers still run and the streams are still flushed.
    """
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    cli()
