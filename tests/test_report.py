"""The step summary's escaping: outside text stays inert and on its own line."""

from __future__ import annotations

import pytest

from release.report import code, md


@pytest.mark.parametrize("brk", ["\n", "\r\n", "\r", "\u2028", "\x0b", "\x85"])
def test_outside_text_cannot_start_a_line_of_its_own(brk: str) -> None:
    """A file name in packages-dir or a workflow_dispatch tag with a line break would
    otherwise add a heading, a list or a link to the summary."""
    hostile = f"v1.0{brk}# Pwned{brk}- [click](https://example.invalid)"
    for rendered in (md(hostile), code(hostile)):
        assert "\n" not in rendered
        assert "\r" not in rendered
        assert brk not in rendered
    assert md(hostile) == "v1.0 # Pwned - \\[click\\](https://example.invalid)"
    assert code(hostile) == "<code>v1.0 # Pwned - [click](https://example.invalid)</code>"
