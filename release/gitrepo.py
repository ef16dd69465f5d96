"""The local git checkout: what is being released, checked before anything is built.

A release is made from the tagged commit as it is in git: uncommitted changes to
tracked files would publish code that no tag describes.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

from .errors import GitError
from .gha import Console

MAX_LISTED = 20
# Read-only: no index refresh that takes .git/index.lock (a checkout may be read-only, or
# another git may be running); English messages, which are parsed below.
GIT = ["git", "--no-optional-locks", "-c", "core.quotepath=off"]
GIT_ENV = {"LC_ALL": "C", "LANGUAGE": "C", "GIT_TERMINAL_PROMPT": "0"}


@dataclasses.dataclass(frozen=True)
class Checkout:
    """What git says about the project folder."""

    root: Path | None  # the repository's top level; None outside a git checkout
    head: str = ""
    tag_commit: str = ""  # "" when the tag does not exist locally
    commit_time: str = ""  # of the released commit, for SOURCE_DATE_EPOCH


@dataclasses.dataclass(frozen=True)
class _Git:
    code: int
    out: str  # stdout as git wrote it (not stripped: porcelain output starts with a space)
    err: str


def _git(args: list[str], cwd: Path, env: Mapping[str, str]) -> _Git:
    try:
        proc = subprocess.run(
            [*GIT, *args],
            cwd=cwd,
            env={**env, **GIT_ENV},
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return _Git(-1, "", f"{type(exc).__name__}: {exc}")
    return _Git(proc.returncode, proc.stdout, proc.stderr.strip())


def _first_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), "").removeprefix("fatal: ")


def _listing(paths: list[str]) -> str:
    shown = ", ".join(paths[:MAX_LISTED])
    return shown + (f" and {len(paths) - MAX_LISTED} more" if len(paths) > MAX_LISTED else "")


def parse_status(out: str) -> list[tuple[str, str]]:
    """``git status --porcelain=v1 -z``: (XY, path) pairs, paths relative to the top level.

    ``-z`` leaves paths unquoted (a space or a quote would otherwise be quoted), and a
    rename's entry is followed by its old path, which is skipped.
    """
    entries = out.split("\0")
    found: list[tuple[str, str]] = []
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        xy, path = entry[:2], entry[3:]
        found.append((xy, path))
        if "R" in xy or "C" in xy:
            i += 1  # the source path of a rename or copy
    return found


def _toplevel(workdir: Path, env: Mapping[str, str], console: Console) -> Path | None:
    """The repository's top level; None (with a warning) when there is no checkout."""
    got = _git(["rev-parse", "--show-toplevel"], workdir, env)
    if got.code == 0 and got.out.strip():
        return Path(got.out.strip())
    if got.code < 0 or "not a git repository" in got.err:
        where = workdir.resolve()
        why = "git is not available" if got.code < 0 else f"{where} is not in a git checkout"
        console.warning(
            f"{why}: the tag and uncommitted changes cannot be checked, and the files may "
            "not be reproducible (no commit time)."
        )
        return None
    # A repository git refuses to read (most often another user's: "dubious ownership")
    # must not pass as "no repository": every check below would be skipped silently.
    message = _first_line(got.err) or f"git exited {got.code}"
    hint = "Fix what git says, or run from a checkout that git can read."
    if "dubious ownership" in got.err:
        at = re.search(r"repository at '([^']+)'", got.err)
        hint = (
            "The checkout belongs to another user. If you trust it, mark it safe: "
            f"git config --global --add safe.directory {at[1] if at else workdir.resolve()}"
        )
    raise GitError("checkout-unreadable", f"git cannot read the checkout: {message}.", hint)


def inspect(
    workdir: Path,
    tag: str,
    *,
    env: Mapping[str, str],
    dry_run: bool,
    allow_dirty: bool,
    strict_tag: bool,
    packages_dir: Path,
    console: Console,
) -> Checkout:
    """Check the checkout: clean, and (outside a dry run) the tag on HEAD.

    Only the project folder (``workdir`` and below) is looked at: in a monorepo, work in
    progress on another project does not block this one. Paths in messages are relative
    to the repository's top level.

    ``strict_tag``: the tag must exist locally (the command line). In Actions a tag
    that was not fetched is left to the GitHub check of the tag's commit.
    """
    root = _toplevel(workdir, env, console)
    if root is None:
        return Checkout(root=None)
    got = _git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], workdir, env)
    head = got.out.strip() if got.code == 0 else ""
    if not head:
        raise GitError(
            "no-commit",
            f"The repository at {root} has no commit yet.",
            "Commit the project, tag that commit, and release the tag.",
        )
    # "-- ." is the project folder: git runs in it (cwd), and the porcelain format gives
    # paths relative to the top level whatever the cwd.
    got = _git(["status", "--porcelain=v1", "-z", "--untracked-files=all", "--", "."], workdir, env)
    if got.code != 0:
        raise GitError(
            "git-status-failed",
            f"git status failed in {workdir}: {_first_line(got.err) or f'exit {got.code}'}.",
            "Fix what git says; the checkout must be readable to check for uncommitted changes.",
        )
    status = parse_status(got.out)
    changed = [path for xy, path in status if xy != "??"]
    # packages-dir is this action's output: files an earlier run left there (when it is
    # not in .gitignore) are no news. The resolved paths compare whatever the cwd.
    ours = packages_dir.resolve()
    untracked = [
        path
        for xy, path in status
        if xy == "??" and not (root / path).resolve().is_relative_to(ours)
    ]
    if changed and not allow_dirty:
        raise GitError(
            "uncommitted-changes",
            f"The checkout has uncommitted changes to tracked files: {_listing(changed)}.",
            "Commit or stash them, so that what is published is what the tag names; "
            "or set {allow-dirty=true} to release anyway.",
        )
    if changed:
        console.warning(f"Releasing with uncommitted changes: {_listing(changed)}.")
    if untracked:
        console.warning(
            f"Untracked files the build may pick up: {_listing(untracked)}. Commit them, "
            "remove them or add them to .gitignore."
        )
    got = _git(["rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}"], workdir, env)
    tag_commit = got.out.strip() if got.code == 0 else ""
    if not tag_commit:
        if dry_run:
            console.notice(
                f"Tag '{tag}' does not exist yet: checked HEAD ({head[:12]}) as if it were tagged."
            )
        elif strict_tag:
            raise GitError(
                "tag-missing",
                f"Tag '{tag}' does not exist in this checkout.",
                (
                    "Fetch it (actions/checkout with fetch-depth: 0, or fetch-tags: true): "
                    "with {github-release=false} nothing else checks that the tag names the "
                    "commit built."
                )
                if console.actions
                else f"Create it on the commit to release (git tag {tag}), or check the tag "
                "name; a dry run ({dry-run}) checks an untagged HEAD.",
            )
        else:
            console.notice(
                f"Tag '{tag}' is not in this checkout, so HEAD ({head[:12]}) is released as "
                "that tag. To have it checked here, fetch the tag (actions/checkout with "
                "fetch-depth: 0, or fetch-tags: true)."
            )
    elif tag_commit != head:
        if not dry_run:
            raise GitError(
                "tag-not-on-head",
                f"Tag '{tag}' points at commit {tag_commit[:12]}, but the checkout is at "
                f"{head[:12]}.",
                (
                    f"Check out the tag (actions/checkout with 'ref: {tag}')"
                    if console.actions
                    else f"Check out the tag first (git checkout {tag})"
                )
                + ", or move the tag to this commit if it was made on the wrong one.",
            )
        console.notice(
            f"Tag '{tag}' points at commit {tag_commit[:12]}, not at HEAD ({head[:12]}): "
            "this dry run checked HEAD, with the tagged commit's time for "
            "SOURCE_DATE_EPOCH. A release must run on the tagged commit."
        )
    released = tag_commit or head
    got = _git(["log", "-1", "--format=%ct", released, "--"], workdir, env)
    when = got.out.strip()
    return Checkout(
        root=root,
        head=head,
        tag_commit=tag_commit,
        commit_time=when if got.code == 0 and when.isdigit() else "",
    )
