"""Installing into a fresh environment by the interpreter it was made from.

uv asks an interpreter it has not met what it is (a Python start-up, ~70 ms) and keeps
the answer per path: a fresh environment's interpreter costs that on every run, where
the interpreter it was made from was asked already (by ``uv venv``). So the build's and
the install trial's environments get their packages from ``uv pip install --python
<base> --prefix <env>`` (``uv_target``): the files land where ``--python <env>/bin/python``
would put them, but the scripts uv writes into ``<env>/bin`` start the installing
interpreter, which cannot import what was installed. ``settle`` then gives them the
environment's interpreter, in the form uv itself writes: a plain ``#!`` line, or, for a
path the kernel cannot take there (too long, or with a space), ``/bin/sh`` exec'ing it.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Collection
from pathlib import Path

# What the kernel reads of a #! line (BINPRM_BUF_SIZE, less "#!" and the newline).
SHEBANG_MAX = 125
SCRIPT_MAX = 1 << 20  # a launcher is small: a larger file is not one
PLAIN = re.compile(rb"#!([^ \t\n]+)([ \t][^\n]*)?\n")
SH = re.compile(rb"#!/bin/sh\n'''exec' '([^'\n]*)' \"\$0\" \"\$@\"\n' '''\n")


def shebang(python: bytes) -> bytes:
    """The lines that start `python`, as uv writes them."""
    if len(python) <= SHEBANG_MAX and not re.search(rb"\s", python):
        return b"#!" + python + b"\n"
    return b"#!/bin/sh\n'''exec' '" + python + b"' \"$0\" \"$@\"\n' '''\n"


def usable(python: bytes) -> bool:
    """Whether a script can name `python` in one of those forms."""
    return b"'" not in python and b"\n" not in python


def repointed(script: bytes, olds: Collection[bytes], new: bytes) -> bytes | None:
    """`script` starting `new` instead of one of `olds`; None when it starts none of
    them (or is no script)."""
    plain, sh = PLAIN.match(script), SH.match(script)
    if sh is not None and sh.group(1) in olds:
        return shebang(new) + script[sh.end() :]
    if plain is not None and plain.group(1) in olds:
        args = plain.group(2) or b""
        if args:  # arguments to the interpreter go on the #! line only
            return b"#!" + new + args + b"\n" + script[plain.end() :]
        return shebang(new) + script[plain.end() :]
    return None


def repoint(folder: Path, olds: Collection[bytes], new: bytes, owner: int) -> int:
    """Point every script in `folder` that starts one of `olds` at `new`; returns how
    many. Only regular files of `owner` with one link are written, never through a
    symbolic link: what else the folder holds (the environment's own ``python``
    links) is left alone."""
    count = 0
    for entry in os.scandir(folder):
        try:
            fd = os.open(entry.path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:  # a link, or not ours to write
            continue
        with open(fd, "r+b") as fh:
            st = os.fstat(fd)
            if (
                not stat.S_ISREG(st.st_mode)
                or st.st_nlink != 1
                or st.st_uid != owner
                or st.st_size > SCRIPT_MAX
                or fh.read(2) != b"#!"
            ):
                continue
            fh.seek(0)
            changed = repointed(fh.read(), olds, new)
            if changed is None:
                continue
            fh.seek(0)
            fh.write(changed)
            fh.truncate()
            count += 1
    return count


def by_base(base: str, python: str) -> bool:
    """Whether an environment made from `base`, whose interpreter is `python`, is
    installed into by `base` (its scripts can then be pointed at `python`)."""
    return os.name == "posix" and bool(base) and usable(os.fsencode(base + python))


def uv_target(base: str, prefix: str, python: str) -> list[str]:
    """``uv pip``'s arguments naming the environment at `prefix` (interpreter `python`,
    made from `base`): by `base` into its folder, else by its own interpreter."""
    return ["--python", base, "--prefix", prefix] if by_base(base, python) else ["--python", python]


def settle(scripts: Path, base: str, python: str, owner: int) -> int:
    """After an install with uv_target's arguments: the scripts in `scripts` that
    start `base` (as given, or the file it links to) start `python`; returns how many.
    `owner`: the user uv ran as."""
    if not by_base(base, python):
        return 0
    olds = {os.fsencode(base), os.fsencode(os.path.realpath(base))}
    return repoint(scripts, olds, os.fsencode(python), owner)
