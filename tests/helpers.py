"""Small helpers for reading what the action printed."""

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


def errors(out: str) -> list[tuple[str, str]]:
    """(title, message) of every ::error:: annotation in the output."""
    found = []
    for m in re.finditer(r"^::error(?: title=([^:]*))?::(.*)$", out, re.M):
        found.append((unescape(m.group(1) or ""), unescape(m.group(2))))
    return found


def the_error(out: str) -> tuple[str, str, str]:
    """The one error: (title, message, hint)."""
    found = errors(out)
    assert len(found) == 1, out
    title, text = found[0]
    message, _, hint = text.partition("\n")
    return title, message, hint
