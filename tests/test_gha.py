"""Workflow commands, outputs and the summary, in the formats the runner reads."""

from __future__ import annotations

import io
import re
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


# The commands the runner acts on (actions/runner src/Runner.Worker/ActionCommandManager.cs).
RUNNER_COMMANDS = {
    "set-env", "set-output", "save-state", "add-mask", "add-path", "add-matcher",
    "remove-matcher", "debug", "warning", "error", "notice", "group", "endgroup", "echo",
    "stop-commands",
}  # fmt: skip


def runner_commands(out: str) -> list[tuple[str, str]]:
    """(command, data) of every line the runner would act on: a port of its parsers,
    ActionCommand.TryParseV2 (``::name::`` at the start, after leading white space) and
    the legacy ActionCommand.TryParse (``##[name]`` anywhere in the line), with
    ActionCommandManager's ``stop-commands`` state (while stopped, only the token acts)."""
    registered = {c.lower() for c in RUNNER_COMMANDS}
    stop_token: str | None = None
    acted = []
    for line in re.split(r"\r\n|\r|\n", out):
        parsed = None
        message = line.lstrip()
        if message.startswith("::") and (end := message.find("::", 2)) >= 0:
            info = message[2:end]
            parsed = (info.partition(" ")[0], message[end + 2 :])
        if parsed is None or parsed[0].lower() not in registered:
            parsed = None
            if (start := line.find("##[")) >= 0 and (end := line.find("]", start)) >= 0:
                info = line[start + 3 : end]
                parsed = (info.partition(" ")[0], line[end + 1 :])
        if parsed is None or parsed[0].lower() not in registered:
            continue
        name, data = parsed
        if stop_token is not None:
            if name.lower() == stop_token.lower():
                registered.discard(stop_token.lower())
                stop_token = None
                acted.append((name, data))
            continue
        if name.lower() == "stop-commands":
            stop_token = data
            registered.add(data.lower())
        acted.append((name, data))
    return acted


def test_the_runner_model_reads_both_command_forms() -> None:
    assert runner_commands("x ##[error]a\n  ::warning::b\n##[unknown]c\n::nope::d") == [
        ("error", "a"),
        ("warning", "b"),
    ]
    assert runner_commands("::stop-commands::t\n::error::a\n##[t]\n::error::b") == [
        ("stop-commands", "t"),
        ("t", ""),
        ("error", "b"),
    ]


def test_outside_text_cannot_use_the_legacy_command_form() -> None:
    """The runner also reads ``##[command]data`` anywhere in a line: a reason phrase or a
    docutils message quoting a README could forge an error, set an output, or stop the
    runner from reading our own error line."""
    out = io.StringIO()
    console = Console(actions=True, stream=out)
    console.line("upload failed (HTTP 503 ##[stop-commands]t0ken); retrying")
    console.line("##[error]forged\r  x ##[set-output name=x;]y ###[add-mask]z")
    console.line("##\x1b[0m[warning]joined by an ANSI code")
    console.error("bad ##[add-mask]q")
    assert runner_commands(out.getvalue()) == [("error", "bad ##[add-mask]q")]
    lines = out.getvalue().splitlines()
    assert lines[:4] == [
        "upload failed (HTTP 503 ##\u200b[stop-commands]t0ken); retrying",
        "##\u200b[error]forged",
        "  x ##\u200b[set-output name=x;]y ###\u200b[add-mask]z",
        "##\u200b[warning]joined by an ANSI code",
    ]
    # On the command line, the same text is shown the same way.
    local = io.StringIO()
    Console(actions=False, stream=local).line("a ##[error]b")
    assert local.getvalue() == "a ##\u200b[error]b\n"


def test_tool_output_with_the_legacy_form_stays_inside_the_fence() -> None:
    """Inside ``raw()`` the runner has stopped reading commands: ``##[...]`` is inert
    there and shown as it is; after the fence our own commands act again."""
    out = io.StringIO()
    console = Console(actions=True, stream=out)
    with console.raw() as write:
        write("##[error]from a tool\n##[stop-commands]other\n::error::also inert")
    console.error("ours")
    lines = out.getvalue().splitlines()
    assert lines[1:4] == ["##[error]from a tool", "##[stop-commands]other", "::error::also inert"]
    token = lines[0].removeprefix("::stop-commands::")
    assert runner_commands(out.getvalue()) == [
        ("stop-commands", token),
        (token, ""),
        ("error", "ours"),
    ]


def test_a_value_too_short_to_be_a_secret_is_not_masked() -> None:
    """A one-letter "secret" would blank out that letter everywhere in the log."""
    out = io.StringIO()
    console = Console(actions=True, stream=out)
    console.mask("x")
    console.mask("ab ")
    console.mask("abcd")
    console.line("x marks ab and abcd")
    assert out.getvalue().splitlines() == ["::add-mask::abcd", "x marks ab and ***"]
