"""Release notes: the changelog's section for the version, found through real Markdown
and reStructuredText parsers (setext headings, code fences and RST sections handled as
their readers see them), or a given file."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.version import InvalidVersion, Version

from .paths import read_confined

CHANGELOG_NAMES = tuple(
    f"{stem}{ext}"
    for stem in ("CHANGELOG", "CHANGES", "HISTORY", "NEWS")
    for ext in (".md", ".rst", ".markdown", ".txt", "")
)
# GitHub refuses a release body longer than this.
BODY_LIMIT = 125_000
# A changelog or notes file larger than this is not read.
MAX_NOTES_FILE = 5 * 1024 * 1024
OVERLINE = re.compile(r"^([=\-~^\"'`#*+.:_])\1{2,}\s*$")


def _mentions(heading: str, version: Version) -> bool:
    """A heading names the version: '1.2.0', 'v1.2.0', '[1.2.0] - 2026-01-01', ..."""
    for token in re.findall(r"v?(\d[\w.!+-]*\w|\d)", heading):
        try:
            if Version(token.rstrip(".")) == version:
                return True
        except InvalidVersion:
            continue
    return False


# (level, first line of the heading, first line after it, heading text), 0-based lines.
Heading = tuple[int, int, int, str]


def _markdown_headings(text: str) -> list[Heading]:
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(text)
    found = []
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open" and tok.map is not None:
            found.append((int(tok.tag[1:]), tok.map[0], tok.map[1], tokens[i + 1].content))
    return found


def _rst_headings(text: str) -> list[Heading]:
    from docutils import nodes
    from docutils.core import publish_doctree

    doc = publish_doctree(
        text,
        settings_overrides={
            "report_level": 5,
            "halt_level": 5,
            "file_insertion_enabled": False,  # never read other files
            "raw_enabled": False,
            "doctitle_xform": False,  # keep the first title a section like the others
        },
    )
    lines = text.splitlines()
    found = []
    for section in doc.findall(nodes.section):
        title = section[0]
        if not isinstance(title, nodes.title) or title.line is None:
            continue
        depth, parent = 0, section.parent
        while parent is not None:
            depth += isinstance(parent, nodes.section)
            parent = parent.parent
        # docutils gives the underline's line (1-based); the title is the line above it,
        # and an overline, when there is one, the line above that.
        start = title.line - 2
        if start > 0 and OVERLINE.match(lines[start - 1]):
            start -= 1
        found.append((depth + 1, start, title.line, title.astext()))
    return found


def changelog_section(text: str, version: Version, *, rst: bool) -> str | None:
    """The text under the heading that names ``version``, up to the next heading of the
    same or a higher level."""
    headings = _rst_headings(text) if rst else _markdown_headings(text)
    lines = text.splitlines()
    for n, (level, _start, body, heading) in enumerate(headings):
        if not _mentions(heading, version):
            continue
        end = next((h[1] for h in headings[n + 1 :] if h[0] <= level), len(lines))
        section = "\n".join(lines[body:end]).strip("\n")
        return section if section.strip() else None
    return None


def clip(body: str) -> str:
    if len(body) <= BODY_LIMIT:
        return body
    note = "\n\n_(truncated: GitHub limits release notes to 125,000 characters)_"
    return body[: BODY_LIMIT - len(note)] + note


def find_notes(
    workdir: Path, notes_file: Path | None, version: Version, *, root: Path
) -> tuple[str, str]:
    """(body, where it came from); an empty body means: let GitHub generate notes.

    Every file read must resolve inside ``root`` (the workspace): a notes path or a
    committed symlink must not publish /etc/passwd or /proc/self/environ.
    """
    if notes_file is not None:
        text = read_confined(notes_file, root, "release-notes", MAX_NOTES_FILE)
        return clip(text), notes_file.name
    for name in CHANGELOG_NAMES:
        path = workdir / name
        if path.is_file() or path.is_symlink():
            text = read_confined(path, root, "the changelog", MAX_NOTES_FILE)
            section = changelog_section(text, version, rst=name.endswith(".rst"))
            if section:
                return clip(section), name
    return "", ""
