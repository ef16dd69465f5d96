"""Reading what the action printed: annotations, their codes, the final line."""

from __future__ import annotations

import re

from .indexes import TOKEN
from .runner import GITHUB_TOKEN


def unescape(text: str) -> str:
    return (
        text.replace("%0A", "\n")
        .replace("%0D", "\r")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
    )


def errors(out: str) -> list[tuple[str, str, str]]:
    """(title, code, message) of every ::error:: annotation in the output."""
    found = []
    for m in re.finditer(r"^::error(?: title=([^:]*))?::(.*)$", out, re.M):
        title = unescape(m.group(1) or "")
        code = re.search(r" \[([a-z0-9-]+)\]$", title)
        found.append(
            (
                title[: code.start()] if code else title,
                code.group(1) if code else "",
                unescape(m.group(2)),
            )
        )
    return found


def the_error(out: str, code: str | None = None) -> tuple[str, str, str]:
    """The one error: (title, message, hint); asserts its code when one is given."""
    found = errors(out)
    assert len(found) == 1, out
    title, got, text = found[0]
    if code is not None:
        assert got == code, f"error code {got!r}, expected {code!r}:\n{text}"
    message, _, hint = text.partition("\n")
    return title, message, hint


def error_code(out: str) -> str:
    found = errors(out)
    assert len(found) == 1, out
    return found[0][1]


def commands(out: str) -> list[str]:
    """Every line the runner would read as a workflow command (a bare CR ends a line)."""
    return [line for line in re.split(r"\r\n|\r|\n", out) if line.lstrip().startswith("::")]


def assert_only_our_commands(out: str, secrets: tuple[str, ...] = (TOKEN, GITHUB_TOKEN)) -> None:
    tokens: set[str] = set()
    for line in commands(out):
        if m := re.fullmatch(r"::stop-commands::([0-9a-f]{32})", line):
            tokens.add(m.group(1))
        elif m := re.fullmatch(r"::([0-9a-f]{32})::", line):
            assert m.group(1) in tokens, line
        elif line.startswith("::add-mask::"):
            assert line.removeprefix("::add-mask::") in secrets, line
        else:
            assert re.match(r"::(group|endgroup|error|warning|notice)( title=[^:]*)?::", line), line
