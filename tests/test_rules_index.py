"""PEP 700's upload-time and size on the JSON simple API's files (release/simple.py),
which the 14-day rule and the size limits read: parsed strictly, a malformed value
refuses the page as any other malformed field does."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from release import simple
from release.errors import PackageIndexError
from release.http import Page

URL = "https://idx.example/simple/demo/"
SDIST = "demo-1.0.tar.gz"


def page_of(**extra: Any) -> Page:
    entry = {"filename": SDIST, "url": f"../../files/{SDIST}", "hashes": {"sha256": "a" * 64}}
    body = {"meta": {"api-version": "1.1"}, "name": "demo", "files": [entry | extra]}
    return Page(URL, 200, "OK", {"Content-Type": simple.JSON_TYPE}, json.dumps(body).encode())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-02T03:04:05.123456Z", datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
        ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02T03:04:05.5Z", datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)),
    ],
)
def test_upload_time_is_read_as_an_aware_utc_datetime(value: str, expected: datetime) -> None:
    (f,) = simple.parse_page(page_of(**{"upload-time": value, "size": 1234}), "demo").files
    assert (f.upload_time, f.size) == (expected, 1234)
    assert f.upload_time is not None
    assert f.upload_time.utcoffset() is not None


def test_a_page_without_them_gives_none() -> None:
    (f,) = simple.parse_page(page_of(), "demo").files
    assert (f.upload_time, f.size) == (None, None)


@pytest.mark.parametrize(
    "extra",
    [
        {"upload-time": "2024-01-02 03:04:05"},  # not ISO 8601's T form
        {"upload-time": "2024-01-02T03:04:05"},  # no Z: a local time is not a time
        {"upload-time": "2024-01-02T03:04:05+01:00"},  # PEP 700 says UTC, with Z
        {"upload-time": "2024-13-02T03:04:05Z"},  # no 13th month
        {"upload-time": 1704164645},
        {"upload-time": "yesterday"},
        {"size": "1234"},
        {"size": -1},
        {"size": True},
        {"size": 1.5},
    ],
    ids=lambda e: f"{next(iter(e))}={next(iter(e.values()))!r}",
)
def test_a_malformed_value_refuses_the_page(extra: dict[str, Any]) -> None:
    with pytest.raises(PackageIndexError) as caught:
        simple.parse_page(page_of(**extra), "demo")
    assert caught.value.code == "index-answer-invalid"
    assert caught.value.message == (
        f"{URL} did not answer as a simple API project page: it could not be parsed "
        f"(got {simple.JSON_TYPE}, {len(page_of(**extra).body)} bytes)."
    )


def test_html_pages_have_no_upload_time() -> None:
    body = b"<html><title>Links for demo</title><a href='/f/demo-1.0.tar.gz'>demo-1.0.tar.gz</a>"
    page = Page(URL, 200, "OK", {"Content-Type": "text/html"}, body)
    (f,) = simple.parse_page(page, "demo").files
    assert (f.upload_time, f.size) == (None, None)
