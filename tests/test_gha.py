"""Workflow commands, outputs and the summary, in the formats the runner reads."""

from __future__ import annotations

import io
from pathlib import Path

from support.runner import parse_outputs

from release.gha import (
    SUMMARY_LIMIT,
    Console,
    append_summary,
    escape_data,
    escape_property,
    write_outputs,
)


def test_escaping() -> None:
    assert escape_data("50%\r\nnext") == "50%25%0D%0Anext"
    assert escape_property("a: b, c%") == "a%3A b%2C c%25"


def test_annotations_and_masks() -> None:
    out = io.StringIO()
    console = Console(actions=True, stream=out)
    console.mask("s3cr3t-value")
    console.error("bad s3cr3t-value\nsecond line", title="Title: x, y")
    console.warning("w")
    assert out.getvalue().splitlines() == [
        "::add-mask::s3cr3t-value",
        "::error title=Title%3A x%2C y::bad ***%0Asecond line",
        "::warning::w",
    ]


def test_local_console_is_plain() -> None:
    out = io.StringIO()
    console = Console(actions=False, stream=out)
    console.mask("s3cr3t-value")
    console.error("bad s3cr3t-value")
    with console.group("Build"):
        console.line("x")
    assert out.getvalue() == "error: bad ***\n-- Build\nx\n"


def test_outputs_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "out"
    values = {"files": '["a.whl"]', "multi": "line1\nline2", "empty": ""}
    write_outputs(path, values)
    assert parse_outputs(path.read_text()) == values
    assert path.read_text().startswith("files<<ghadelimiter_")


def test_summary_is_capped(tmp_path: Path) -> None:
    path = tmp_path / "summary"
    append_summary(path, "x" * (SUMMARY_LIMIT - 10))
    append_summary(path, "y" * 1000)
    assert path.stat().st_size <= SUMMARY_LIMIT
    append_summary(path, "z")
    assert path.stat().st_size <= SUMMARY_LIMIT


def test_outside_text_cannot_start_a_workflow_command() -> None:
    out = io.StringIO()
    console = Console(actions=True, stream=out)
    console.line("reason\r::add-mask::x\n  ::warning::y\x1b[31mred\x1b[0m")
    console.error("bad\r::stop-commands::z")
    lines = out.getvalue().splitlines()
    assert lines[:3] == ["reason", ":\u200b:add-mask::x", "  :\u200b:warning::yred"]
    assert lines[3] == "::error::bad%0D::stop-commands::z"
    assert not any(line.startswith("::") and "add-mask" in line for line in lines)


def test_tool_output_is_fenced_by_stop_commands() -> None:
    out = io.StringIO()
    console = Console(actions=True, stream=out)
    with console.raw() as write:
        write("::add-mask::from-a-build-backend\n\x1b[1mbold\x1b[0m")
    lines = out.getvalue().splitlines()
    token = lines[0].removeprefix("::stop-commands::")
    assert len(token) == 32
    assert lines[1:] == ["::add-mask::from-a-build-backend", "bold", f"::{token}::"]
