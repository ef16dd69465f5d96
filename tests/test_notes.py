"""Changelog sections for the release notes, by table."""

from __future__ import annotations

import pytest
from packaging.version import Version

from release.notes import BODY_LIMIT, changelog_section, clip

MARKDOWN = """# Changelog

## Unreleased
- next

## [1.2.0] - 2026-11-01
### Fixed
- a bug

## v1.1.0
- older

## 1.0.0rc1
- preview
"""

RST = """Changes
=======

1.2.0 (2026-11-01)
------------------

* a bug fixed

Details
~~~~~~~

more text

1.1.0
-----

* older
"""


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.2.0", "### Fixed\n- a bug"),
        ("1.2", "### Fixed\n- a bug"),  # the same version, spelled shorter
        ("1.1.0", "- older"),
        ("1.0.0rc1", "- preview"),
        ("1.0.0", None),
        ("2.0", None),
        ("1.2.0.post1", None),
    ],
)
def test_markdown(version: str, expected: str | None) -> None:
    assert changelog_section(MARKDOWN, Version(version), rst=False) == expected


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.2.0", "* a bug fixed\n\nDetails\n~~~~~~~\n\nmore text"),
        ("1.1.0", "* older"),
        ("0.1", None),
    ],
)
def test_rst(version: str, expected: str | None) -> None:
    assert changelog_section(RST, Version(version), rst=True) == expected


def test_empty_section_is_none() -> None:
    assert changelog_section("## 1.0\n\n## 0.9\n- x\n", Version("1.0"), rst=False) is None


def test_clip() -> None:
    assert clip("short") == "short"
    long = clip("x" * (BODY_LIMIT + 10))
    assert len(long) == BODY_LIMIT
    assert long.endswith("_(truncated: GitHub limits release notes to 125,000 characters)_")


SETEXT = """Changelog
=========

1.2.0
-----
- setext section

```text
# 1.0.0 inside a fence is not a heading
```

still 1.2.0

1.1.0
-----
- older
"""

FENCED = """# Changelog

## 2.0.0
Example:

```
# 1.0.0
## not a heading either
```

end of 2.0.0

## 1.0.0
- first
"""

RST_OVERLINE = """=========
Changelog
=========

---------
v3.0.0
---------

* overlined

---------
3.0.0rc1
---------

* rc
"""


@pytest.mark.parametrize(
    ("text", "rst", "version", "expected"),
    [
        (
            SETEXT,
            False,
            "1.2.0",
            "- setext section\n\n```text\n# 1.0.0 inside a fence is not a heading\n```\n\n"
            "still 1.2.0",
        ),
        (SETEXT, False, "1.1.0", "- older"),
        (
            FENCED,
            False,
            "2.0.0",
            "Example:\n\n```\n# 1.0.0\n## not a heading either\n```\n\nend of 2.0.0",
        ),
        (FENCED, False, "1.0.0", "- first"),
        (RST_OVERLINE, True, "3.0.0", "* overlined"),
        (RST_OVERLINE, True, "3.0.0rc1", "* rc"),
    ],
)
def test_parsed_not_pattern_matched(text: str, rst: bool, version: str, expected: str) -> None:
    assert changelog_section(text, Version(version), rst=rst) == expected
