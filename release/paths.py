"""Paths that come from inputs or from the repository stay inside the workspace."""

from __future__ import annotations

import stat
from pathlib import Path

from .errors import InputError


def confine(path: Path, root: Path, what: str) -> Path:
    """``path`` resolved (symlinks followed); refused unless it lies inside ``root``."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise InputError(
            "path-outside-workspace",
            f"{what} '{path}' resolves outside the workspace ({root}).",
            "Point it at a file inside the repository; symlinks out of the repository "
            "are refused so that no file from the runner can be published.",
        )
    return resolved


def read_confined(path: Path, root: Path, what: str, limit: int) -> str:
    """The text of a regular file inside ``root``, at most ``limit`` bytes.

    A refused file is never echoed: only its name and why appear in the error.
    """
    resolved = confine(path, root, what)
    try:
        info = resolved.stat()
    except FileNotFoundError:
        raise InputError(
            "file-missing",
            f"{what} '{path}' does not exist.",
            "Set {release-notes} to a file relative to {working-directory}, or leave it "
            "empty to use the changelog."
            if what == "release-notes"
            else "Commit the file, or remove the link to it.",
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError(
            "file-not-regular",
            f"{what} '{path}' is not a regular file.",
            "Point it at a text file in the repository.",
        )
    if info.st_size > limit:
        raise InputError(
            "file-too-large",
            f"{what} '{path}' is {info.st_size} bytes, more than {limit}.",
            "Point it at a smaller text file.",
        )
    with resolved.open("rb") as fh:
        return fh.read(limit).decode("utf-8", "replace")
