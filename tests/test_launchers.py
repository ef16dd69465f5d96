"""Scripts written by the interpreter that installed them, pointed at the environment's."""

from __future__ import annotations

import os
from pathlib import Path

from release.launchers import repoint, repointed, shebang

BASE = b"/usr/local/bin/python3.11"
ENV = b"/tmp/release-build-x/env-1/bin/python"
BODY = b"# -*- coding: utf-8 -*-\nimport sys\nfrom hatchling.cli import hatchling\n"
LONG = b"/tmp/" + b"x" * 130 + b"/env/bin/python"


def sh_form(python: bytes) -> bytes:
    return b"#!/bin/sh\n'''exec' '" + python + b"' \"$0\" \"$@\"\n' '''\n"


def test_a_plain_shebang_is_pointed_at_the_environment() -> None:
    assert repointed(b"#!" + BASE + b"\n" + BODY, {BASE}, ENV) == b"#!" + ENV + b"\n" + BODY


def test_the_sh_form_is_pointed_at_the_environment() -> None:
    assert repointed(sh_form(b"/opt/a b/python") + BODY, {b"/opt/a b/python"}, ENV) == (
        b"#!" + ENV + b"\n" + BODY
    )


def test_a_path_the_kernel_cannot_take_gets_the_sh_form() -> None:
    assert shebang(LONG) == sh_form(LONG)
    assert shebang(b"/tmp/a b/python") == sh_form(b"/tmp/a b/python")
    assert repointed(b"#!" + BASE + b"\n" + BODY, {BASE}, LONG) == sh_form(LONG) + BODY


def test_interpreter_arguments_stay() -> None:
    assert repointed(b"#!" + BASE + b" -E\n" + BODY, {BASE}, ENV) == b"#!" + ENV + b" -E\n" + BODY


def test_other_interpreters_and_files_are_left_alone() -> None:
    assert repointed(b"#!/bin/bash\necho hi\n", {BASE}, ENV) is None
    assert repointed(b"#!" + BASE + b"3\n" + BODY, {BASE}, ENV) is None  # another path
    assert repointed(b"\x7fELF\x02\x01", {BASE}, ENV) is None
    assert repointed(sh_form(b"/other/python") + BODY, {BASE}, ENV) is None


def test_only_the_owners_regular_files_are_written(tmp_path: Path) -> None:
    script = b"#!" + BASE + b"\n" + BODY
    (tmp_path / "tool").write_bytes(script)
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.write_bytes(script)
    (tmp_path / "link").symlink_to(outside)  # never written through
    os.link(outside, tmp_path / "hardlink")  # a second name of another file: left
    (tmp_path / "python").symlink_to("/usr/bin/python3")
    (tmp_path / "binary").write_bytes(b"\x7fELF" + BASE)
    assert repoint(tmp_path, {BASE}, ENV, os.geteuid()) == 1
    assert (tmp_path / "tool").read_bytes() == b"#!" + ENV + b"\n" + BODY
    assert outside.read_bytes() == script
    assert (tmp_path / "binary").read_bytes() == b"\x7fELF" + BASE
    # Another owner's script: not this run's to change.
    (tmp_path / "tool").write_bytes(script)
    assert repoint(tmp_path, {BASE}, ENV, os.geteuid() + 1) == 0
    assert (tmp_path / "tool").read_bytes() == script
