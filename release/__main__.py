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
from .settings import (
    MIN_SECRET_LEN,
    RUNNER_SECRETS,
    SECRET_NAME,
    Settings,
    secret_values,
    wants_debug,
)


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
            f"({settings.working_directory}) to {', '.join(t.label for t in settings.targets)}"
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


# The variable that names the inherited file the held variables are read from.
HELD_FD = "RELEASE_HELD_FD"
HELD_PREFIXES = ("INPUT_", "ACTIONS_", "TWINE_")


def held(env: Mapping[str, str]) -> dict[str, str]:
    """The variables this process must not keep in its environment block: inputs (a
    password or a URL with one can be any of them), the runner's ACTIONS_* (the OIDC
    request token and URL, the runtime token), TWINE_*, any named like a credential,
    and any holding a secret's value."""
    secrets = secret_values(env)
    long = [s for s in secrets if len(s) >= MIN_SECRET_LEN]
    return {
        k: v
        for k, v in env.items()
        if k.startswith(HELD_PREFIXES)
        or k in RUNNER_SECRETS
        or SECRET_NAME.search(k)
        or v in secrets
        or any(s in v for s in long)
    }


def hide_secrets() -> dict[str, str]:
    """Take the secrets out of this process's environment block; returns them (the run
    keeps them in its memory only).

    /proc/<pid>/environ shows the environment as it was exec'd, whatever the process
    does to os.environ afterwards, and any process of the same user (and root) may read
    it: a build backend run as the same user, or a process it left behind. So the
    secrets leave os.environ (and libc's environ), and their entries in the block are
    overwritten with NUL bytes in place (blank_environment_block). Where that cannot be
    done and checked, the program starts itself again without them
    (reexec_without_secrets). Only in the real entry (cli): main(argv, env) is left as
    it is.
    """
    if HELD_FD in os.environ:
        return take_held()
    if not sys.platform.startswith("linux"):
        return {}
    secrets = held(os.environ)
    if not secrets:
        return {}
    for name in secrets:
        os.environ.pop(name, None)  # unsetenv: libc's environ lets go of the entry too
    if not blank_environment_block(secrets):
        reexec_without_secrets(secrets)
    return secrets


def blank_environment_block(secrets: Mapping[str, str]) -> bool:
    """Overwrite, with NUL bytes, every entry of this process's initial environment
    block (between the env_start and env_end addresses /proc/self/stat gives) whose
    name is one of `secrets`, then read /proc/self/environ back: True only when it
    holds none of those names and no secret value. Costs well under a millisecond,
    where starting again costs the interpreter's start-up and imports (~0.1 s)."""
    try:
        import ctypes

        stat = Path("/proc/self/stat").read_bytes()
        # Fields 50 and 51 (Linux 3.5+); the name in field 2 may hold spaces or ")".
        fields = stat[stat.rindex(b")") + 2 :].split()
        start, end = int(fields[47]), int(fields[48])
        if not 0 < start < end:
            return False
        names = {os.fsencode(name) for name in secrets}
        offset = 0
        for entry in ctypes.string_at(start, end - start).split(b"\0"):
            if entry.partition(b"=")[0] in names:
                ctypes.memset(start + offset, 0, len(entry))
            offset += len(entry) + 1
        shown = Path("/proc/self/environ").read_bytes()
    except (OSError, ValueError, IndexError, ImportError):
        return False
    values = [os.fsencode(v) for v in secret_values(secrets) if len(v) >= MIN_SECRET_LEN]
    left = {entry.partition(b"=")[0] for entry in shown.split(b"\0")}
    return not (left & names) and not any(value in shown for value in values)


def reexec_without_secrets(secrets: Mapping[str, str]) -> NoReturn:
    """Start this program again (execve: the same process, the same pid) without
    `secrets` in its environment block, handed over in an inherited file that the new
    image reads once and closes (never argv, never a variable)."""
    import json

    payload = json.dumps(dict(secrets)).encode()
    # A memory file: written whole before exec, whatever its size (a pipe's buffer is
    # 64 KiB), never on a disk. Closed on exec unless inherited: only this one is.
    fd = os.memfd_create("release-held", os.MFD_CLOEXEC)
    os.write(fd, payload)
    os.lseek(fd, 0, os.SEEK_SET)
    os.set_inheritable(fd, True)
    env = {k: v for k, v in os.environ.items() if k not in secrets}
    env[HELD_FD] = str(fd)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, sys.orig_argv, env)  # noqa: S606 - this program, list form


def take_held() -> dict[str, str]:
    """The variables the process before exec handed over (see reexec_without_secrets),
    read once; the file is closed and the variable naming it dropped."""
    number = os.environ.pop(HELD_FD, None)
    if number is None:
        return {}
    import json

    fd = int(number)
    try:
        with os.fdopen(fd, "rb") as fh:
            got = json.loads(fh.read())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in got.items()} if isinstance(got, dict) else {}


def cli() -> NoReturn:
    """Run from a command line (python -m release, the console script, the container):
    main(), then exit.

    First the secrets leave the environment block (hide_secrets): the run's
    environment is then os.environ plus those, in this process's memory only.

    The run's objects are frozen first, out of the garbage collector's reach: the
    interpreter's last collections would otherwise walk every one of them on the way out
    (~25 ms of a small release, freeing memory the operating system frees anyway).
    Exit handlers still run and the streams are still flushed.
    """
    handed = hide_secrets()
    code = main(None, {**os.environ, **handed} if handed else None)
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    cli()
