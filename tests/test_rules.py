"""The index's upload rules (release/rules.py): one crafted file set per rule, each
breaking exactly that rule, with warehouse's own words; a clean set passes; every
broken rule of every file comes back in one error."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support import crafted

from release import rules
from release.errors import DistributionError
from release.simple import IndexFile, IndexProject

NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
WHEEL = "demo-1.0-py3-none-any.whl"
SDIST = "demo-1.0.tar.gz"
MIB = 1024 * 1024


def index_file(filename: str, age: timedelta | None = None) -> IndexFile:
    return IndexFile(
        filename=filename,
        url=f"https://files.example/{filename}",
        sha256="0" * 64,
        yanked=False,
        version="1.0",
        upload_time=None if age is None else NOW - age,
    )


def on_index(*files: IndexFile) -> IndexProject:
    return IndexProject(name="demo", files=files, versions=("1.0",))


Make = Callable[[Path], list[Path]]
Expected = list[tuple[str | None, str]]
# id -> (files, index page, PyPI policy, max file size, [(file, reason)])
CASES: dict[str, tuple[Make, IndexProject | None, bool, int | None, Expected]] = {
    "wheel-name": (
        lambda d: [crafted.wheel(d, "my.pkg", info_stem="my.pkg-1.0")],
        None, False, None,
        [("my.pkg-1.0-py3-none-any.whl", "Filename 'my.pkg-1.0-py3-none-any.whl' should "
          "contain the normalized project name 'my_pkg', not 'my.pkg'.")],
    ),
    "sdist-name": (
        lambda d: [crafted.sdist(d, "my.pkg", filename="my.pkg-1.0.tar.gz", top="my.pkg-1.0")],
        None, False, None,
        [("my.pkg-1.0.tar.gz", "Filename 'my.pkg-1.0.tar.gz' is invalid, should be "
          "'my_pkg-1.0.tar.gz'.")],
    ),
    "filename-length": (
        lambda d: [crafted.wheel(d, tags=".".join(f"cp3{i:02}" for i in range(38)) + "-none-any")],
        None, False, None,
        [(None, "Filename is too long: '{name}'")],
    ),
    "metadata-version": (
        lambda d: [crafted.wheel(d, fields={"Metadata-Version": "2.6"})],
        None, False, None, [(WHEEL, "'2.6' is not a valid metadata version")],
    ),
    "license-expression": (
        lambda d: [crafted.wheel(d, fields={"License-Expression": "Not-A-License"})],
        None, False, None, [(WHEEL, "'Not-A-License' is invalid for 'license-expression'")],
    ),
    "license-and-expression": (
        lambda d: [crafted.sdist(d, fields={"License": "MIT License"})],
        None, False, None,
        [(SDIST, "License is deprecated when License-Expression is present. Only "
          "License-Expression should be present.")],
    ),
    "requires-dist-url": (
        lambda d: [crafted.wheel(d, fields={"Requires-Dist": ["foo @ https://example.org/f.whl"]})],
        None, False, None, [(WHEEL, "Can't have direct dependency: foo @ https://example.org/f.whl")],
    ),
    "provides-dist-url": (
        lambda d: [crafted.wheel(d, fields={"Provides-Dist": ["foo @ https://example.org/f.whl"]})],
        None, False, None,
        [(WHEEL, "Can't have direct dependency: 'foo @ https://example.org/f.whl'")],
    ),
    "obsoletes-dist-invalid": (
        lambda d: [crafted.wheel(d, fields={"Obsoletes-Dist": ["foo (<"]})],
        None, False, None,
        [(WHEEL, "'foo (<' is invalid: Expected matching RIGHT_PARENTHESIS for "
          "LEFT_PARENTHESIS, after version specifier\n    foo (<\n        ~^")],
    ),
    "dynamic": (
        lambda d: [crafted.sdist(d, fields={"Dynamic": ["Dynamic"]})],
        None, False, None, [(SDIST, "Dynamic field 'dynamic' is not a valid dynamic field.")],
    ),
    "summary-length": (
        lambda d: [crafted.wheel(d, fields={"Summary": "x" * 513})],
        None, False, None, [(WHEEL, "'summary' field must be 512 characters or less.")],
    ),
    "author-email": (
        lambda d: [crafted.wheel(d, fields={"Author-email": "Dev <dev@localhost>"})],
        None, False, None,
        [(WHEEL, "'dev@localhost' is not a valid email address: The part after the @-sign "
          "is not valid. It should have a period.")],
    ),
    "home-page": (
        lambda d: [crafted.wheel(d, fields={"Home-page": "ftp://example.org/demo"})],
        None, False, None, [(WHEEL, "'ftp://example.org/demo' is not a valid url.")],
    ),
    "project-url-label": (
        lambda d: [crafted.wheel(d, fields={"Project-URL": ["A" * 33 + ", https://example.org"]})],
        None, False, None, [(WHEEL, f"'{'A' * 33}' must be 32 characters or less.")],
    ),
    "record-missing": (
        lambda d: [crafted.wheel(d, omit=["RECORD"])],
        None, False, None,
        [(WHEEL, f"Wheel '{WHEEL}' does not contain the required RECORD file: "
          "demo-1.0.dist-info/RECORD")],
    ),
    "wheel-missing": (
        lambda d: [crafted.wheel(d, omit=["WHEEL"])],
        None, False, None,
        [(WHEEL, "Invalid distribution file. WHEEL not found at demo-1.0.dist-info/WHEEL")],
    ),
    "zip-compression": (
        lambda d: [crafted.wheel(d, compression=zipfile.ZIP_BZIP2)],
        None, False, None,
        [(WHEEL, "Invalid distribution file. File does not use a supported compression type")],
    ),
    "zip-data-descriptor": (
        lambda d: [crafted.wheel(d, data_descriptor=True)],
        None, False, None,
        [(WHEEL, "Invalid distribution file. ZIP archive not accepted: ZIP contains a data "
          "descriptor. See https://docs.pypi.org/archives for more information")],
    ),
    "zip-member-comment": (
        lambda d: [crafted.wheel(d, member_comment=True)],
        None, False, None,
        [(WHEEL, "Invalid distribution file. ZIP archive not accepted: Comment in central "
          "directory. See https://docs.pypi.org/archives for more information")],
    ),
    "zip-trailing-data": (
        lambda d: [crafted.wheel(d, trailing=b"appended")],
        None, False, None,
        [(WHEEL, "Invalid distribution file. ZIP archive not accepted: Trailing data. "
          "See https://docs.pypi.org/archives for more information")],
    ),
    "tar-sparse": (
        lambda d: [crafted.sdist(d, sparse=True)],
        None, False, None,
        [(SDIST, "Invalid distribution file. tar archive not accepted: Sparse members are not "
          "allowed. See https://docs.pypi.org/archives for more information")],
    ),
    "wheel-license-file": (
        lambda d: [crafted.wheel(d, omit=["LICENSE"])],
        None, False, None,
        [(WHEEL, f"License-File LICENSE does not exist in distribution file {WHEEL} at "
          "demo-1.0.dist-info/licenses/LICENSE")],
    ),
    "sdist-license-file": (
        lambda d: [crafted.sdist(d, omit=["LICENSE"])],
        None, False, None,
        [(SDIST, f"License-File LICENSE does not exist in distribution file {SDIST} at "
          "demo-1.0/LICENSE")],
    ),
    "entry-points": (
        lambda d: [crafted.wheel(d, entry_points="[console_scripts]\nbad/name = demo:main\n")],
        None, False, None,
        [(WHEEL, f"Wheel '{WHEEL}' has invalid entry points defined in the entry_points.txt "
          "file")],
    ),
    "one-sdist": (
        lambda d: [crafted.sdist(d)],
        on_index(index_file("Demo-1.0.tar.gz")), False, None,
        [(SDIST, "Only one sdist may be uploaded per release.")],
    ),
    # PyPI's policy
    "classifier": (
        lambda d: [crafted.wheel(d, fields={"Classifier": ["Programming Language :: Cobol 2"]})],
        None, True, None,
        [(WHEEL, "'Programming Language :: Cobol 2' is not a valid classifier.")],
    ),
    "classifier-deprecated": (
        lambda d: [crafted.wheel(d, fields={"Classifier": ["Framework :: Django CMS :: 4.2"]})],
        None, True, None,
        [(WHEEL, "The classifier 'Framework :: Django CMS :: 4.2' has been deprecated, use "
          "one of ['Framework :: Django CMS :: 5.0'] instead.")],
    ),
    "platform-tag": (
        lambda d: [crafted.wheel(d, tags="cp312-cp312-linux_x86_64")],
        None, True, None,
        [("demo-1.0-cp312-cp312-linux_x86_64.whl", "Binary wheel "
          "'demo-1.0-cp312-cp312-linux_x86_64.whl' has an unsupported platform tag "
          "'linux_x86_64'.")],
    ),
    "file-size": (
        lambda d: [crafted.wheel(d, members={"demo/blob.bin": os.urandom(MIB + 1)})],
        None, True, MIB,
        [(WHEEL, "File too large. Limit for project 'demo' is 1 MB. See https://docs.pypi.org/"
          "project-management/storage-limits#requesting-a-file-size-limit-increase for "
          "more information.")],
    ),
    "compression-ratio": (
        lambda d: [crafted.wheel(d, members={"demo/zeros.bin": bytes(65 * MIB)})],
        None, True, None,
        [(WHEEL, "Invalid distribution file. File exceeds compression ratio of 50")],
    ),
    "stdlib-name": (
        lambda d: [crafted.wheel(d, "asyncio")],
        IndexProject(name="asyncio"), True, None,
        [(None, "The name 'asyncio' isn't allowed (conflict with Python Standard Library "
          "module name). See https://pypi.org/help/#project-name for more information.")],
    ),
    "release-age": (
        lambda d: [crafted.wheel(d), crafted.sdist(d)],
        on_index(index_file(SDIST, timedelta(days=15))), True, None,
        [(WHEEL, "Uploading new files to releases older than 14 days is not allowed.")],
    ),
}  # fmt: skip


def dists_of(paths: list[Path]) -> list[rules.Dist]:
    from release.dists import read_metadata

    return [crafted.dist_of(p, read_metadata(p)["name"]) for p in paths]


@pytest.mark.parametrize("case", CASES, ids=CASES)
def test_each_rule_is_refused_in_warehouses_words(tmp_path: Path, case: str) -> None:
    make, project, policy, limit, expected = CASES[case]
    paths = make(tmp_path)
    found = rules.violations(
        dists_of(paths), project, pypi_policy=policy, max_file_size=limit, now=NOW
    )
    name = paths[0].name
    assert [(v.filename, v.reason) for v in found] == [
        (f if f or case == "stdlib-name" else name, r.format(name=name)) for f, r in expected
    ]
    assert all(v.fix for v in found)


@pytest.mark.parametrize("case", [c for c in CASES if CASES[c][2]])
def test_pypi_policy_applies_only_when_asked(tmp_path: Path, case: str) -> None:
    make, project, _policy, limit, _expected = CASES[case]
    found = rules.violations(
        dists_of(make(tmp_path)), project, pypi_policy=False, max_file_size=limit, now=NOW
    )
    assert found == []


def test_a_clean_release_passes_every_rule(tmp_path: Path) -> None:
    paths = [crafted.wheel(tmp_path), crafted.sdist(tmp_path)]
    rules.check(dists_of(paths), None, pypi_policy=True, max_file_size=None, now=NOW)
    assert rules.violations(dists_of(paths), None, pypi_policy=True, now=NOW) == []


def test_every_broken_rule_of_every_file_in_one_error(tmp_path: Path) -> None:
    paths = [
        crafted.wheel(tmp_path, tags="py3-none-linux_x86_64", omit=["RECORD"]),
        crafted.sdist(tmp_path, fields={"Classifier": ["Nope :: Nope"]}),
    ]
    with pytest.raises(DistributionError) as caught:
        rules.check(dists_of(paths), None, pypi_policy=True, max_file_size=None, now=NOW)
    wheel = "demo-1.0-py3-none-linux_x86_64.whl"
    assert caught.value.code == "upload-rules"
    assert caught.value.message == (
        "The index would refuse this release (3 broken upload rules); nothing was uploaded:\n"
        f"- {wheel}: Wheel '{wheel}' does not contain the required RECORD file: "
        "demo-1.0.dist-info/RECORD Fix: Rebuild the wheel with a standard build backend; do "
        "not rename it by hand.\n"
        f"- {wheel}: Binary wheel '{wheel}' has an unsupported platform tag 'linux_x86_64'. "
        "Fix: Repair the wheel for a portable platform (auditwheel repair gives "
        "manylinux/musllinux wheels; cibuildwheel does it for you), or publish the sdist "
        "only.\n"
        f"- {SDIST}: 'Nope :: Nope' is not a valid classifier. Fix: Use classifiers from "
        "https://pypi.org/classifiers/ only."
    )
    assert caught.value.hint == (
        "Each line gives the index's own answer and what to change in the project. Fix them "
        "all and release again; an index that does not apply PyPI's policy (classifiers, "
        "platform tags, sizes, release age) can be told so with {pypi-rules=false}."
    )


@pytest.mark.parametrize(
    ("age", "listed", "refused"),
    [
        (timedelta(days=15), [SDIST], [WHEEL]),  # old, a file missing: refused
        (timedelta(days=14, seconds=1), [SDIST], [WHEEL]),
        (timedelta(days=15), [SDIST, WHEEL], []),  # old, nothing to add: a re-run
        (timedelta(days=13), [SDIST], []),  # young enough to take more files
        (None, [SDIST], []),  # no upload-time (an HTML page): not known here
    ],
    ids=["old-missing", "just-over", "old-complete", "young", "unknown-time"],
)
def test_the_14_day_rule(
    tmp_path: Path, age: timedelta | None, listed: list[str], refused: list[str]
) -> None:
    paths = [crafted.wheel(tmp_path), crafted.sdist(tmp_path)]
    project = on_index(*(index_file(f, age) for f in listed))
    found = rules.violations(dists_of(paths), project, pypi_policy=True, now=NOW)
    assert [(v.filename, v.rule) for v in found] == [(f, "release-age") for f in refused]


def test_the_release_age_counts_from_the_versions_first_upload(tmp_path: Path) -> None:
    paths = [crafted.wheel(tmp_path), crafted.sdist(tmp_path)]
    project = on_index(
        index_file(SDIST, timedelta(days=20)), index_file("demo-1.0-py2-none-any.whl", None)
    )
    (found,) = rules.violations(dists_of(paths), project, pypi_policy=True, now=NOW)
    assert found.fix == (
        "The index made this release on 2026-08-12: publish these files under a new version "
        "(a post-release, e.g. .post1), or leave them out."
    )
