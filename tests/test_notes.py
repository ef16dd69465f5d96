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
