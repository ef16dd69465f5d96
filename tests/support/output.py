"""Reading what the action printed: annotations, their codes, the final line."""

from __future__ import annotations

import re


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
