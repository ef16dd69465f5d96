"""Release notes from the project's changelog: pure text handling, no I/O."""

from __future__ import annotations

import re

from packaging.version import Version

CHANGELOG_NAMES = tuple(
    f"{stem}{ext}"
    for stem in ("CHANGELOG", "CHANGES", "HISTORY", "NEWS")
    for ext in (".md", ".rst", ".markdown", ".txt", "")
)
# GitHub refuses a release body longer than this.
BODY_LIMIT = 125_000
RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+.:_])\1{2,}\s*$")


def _mentions(line: str, version: Version) -> bool:
    """A heading names the version: '1.2.0', 'v1.2.0', '[1.2.0] - 2026-01-01', ..."""
    for token in re.findall(r"v?(\d[\w.!+-]*\w|\d)", line):
        try:
            if Version(token.rstrip(".")) == version:
                return True
        except ValueError:
            continue
    return False


def _markdown(lines: list[str], version: Version) -> str | None:
    start = level = None
    for i, line in enumerate(lines):
        m = re.match(r"^(#{1,6})\s+(.*)$", line)
        if not m:
            continue
        if start is None:
            if _mentions(m.group(2), version):
                start, level = i + 1, len(m.group(1))
        elif level is not None and len(m.group(1)) <= level:
            return "\n".join(lines[start:i])
    return "\n".join(lines[start:]) if start is not None else None


def _rst(lines: list[str], version: Version) -> str | None:
    start = char = None
    for i in range(len(lines) - 1):
        under = RST_UNDERLINE.match(lines[i + 1])
        if not under or not lines[i].strip() or RST_UNDERLINE.match(lines[i]):
            continue
        if start is None:
            if _mentions(lines[i], version):
                start, char = i + 2, under.group(1)
        elif under.group(1) == char:
            return "\n".join(lines[start:i])
    return "\n".join(lines[start:]) if start is not None else None


def changelog_section(text: str, version: Version, *, rst: bool) -> str | None:
    """The text under the heading that names ``version``, up to the next such heading."""
    lines = text.splitlines()
    section = _rst(lines, version) if rst else _markdown(lines, version)
    if section is None:
        return None
    section = section.strip("\n")
    return section if section.strip() else None


def clip(body: str) -> str:
    if len(body) <= BODY_LIMIT:
        return body
    note = "\n\n_(truncated: GitHub limits release notes to 125,000 characters)_"
    return body[: BODY_LIMIT - len(note)] + note
