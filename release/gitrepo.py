"""The local git checkout: what is being released, checked before anything is built.

A release is made from the tagged commit as it is in git: uncommitted changes to
tracked files would publish code that no tag describes.
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Mapping
from pathlib import Path

from .errors import GitError
from .gha import Console

MAX_LISTED = 20


@dataclasses.dataclass(frozen=True)
class Checkout:
    """What git says about the project folder."""

    root: Path | None  # the repository's top level; None outside a git checkout
    head: str = ""
    tag_commit: str = ""  # "" when the tag does not exist locally
    commit_time: str = ""  # of the released commit, for SOURCE_DATE_EPOCH


def _git(args: list[str], cwd: Path, env: Mapping[str, str]) -> tuple[int, str]:
    try:
        proc = subprocess.run(
            ["git", "-c", "core.quotepath=off", *args],
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return 1, ""
    return proc.returncode, proc.stdout.strip()


def _listing(paths: list[str]) -> str:
    shown = ", ".join(paths[:MAX_LISTED])
    return shown + (f" and {len(paths) - MAX_LISTED} more" if len(paths) > MAX_LISTED else "")


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

    ``strict_tag``: the tag must exist locally (the command line). In Actions a tag
    that was not fetched is left to the GitHub check of the tag's commit.
    """
    code, root = _git(["rev-parse", "--show-toplevel"], workdir, env)
    if code != 0 or not root:
        console.warning(
            f"{workdir} is not in a git checkout: the tag and uncommitted changes cannot "
            "be checked, and the files may not be reproducible (no commit time)."
        )
        return Checkout(root=None)
    _, head = _git(["rev-parse", "HEAD"], workdir, env)
    _, status = _git(["status", "--porcelain=v1", "--untracked-files=all", "--", "."], workdir, env)
    changed = [line[3:] for line in status.splitlines() if line[:2] != "??"]
    ours = packages_dir.resolve()
    untracked = [
        line[3:]
        for line in status.splitlines()
        if line[:2] == "??" and not (Path(root) / line[3:]).resolve().is_relative_to(ours)
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
    code, tag_commit = _git(
        ["rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}"], workdir, env
    )
    if code != 0:
        tag_commit = ""
    if not tag_commit:
        if dry_run:
            console.notice(
                f"Tag '{tag}' does not exist yet: checked HEAD ({head[:12]}) as if it were tagged."
            )
        elif strict_tag:
            raise GitError(
                "tag-missing",
                f"Tag '{tag}' does not exist in this checkout.",
                f"Create it on the commit to release (git tag {tag}), or check the tag "
                "name; a dry run ({dry-run}) checks an untagged HEAD.",
            )
    elif tag_commit != head and not dry_run:
        raise GitError(
            "tag-not-on-head",
            f"Tag '{tag}' points at commit {tag_commit[:12]}, but the checkout is at {head[:12]}.",
            f"Check out the tag first (git checkout {tag}), or move the tag to this "
            "commit if it was made on the wrong one.",
        )
    released = tag_commit or head
    _, when = _git(["log", "-1", "--format=%ct", released, "--"], workdir, env)
    return Checkout(
        root=Path(root),
        head=head,
        tag_commit=tag_commit,
        commit_time=when if when.isdigit() else "",
    )
