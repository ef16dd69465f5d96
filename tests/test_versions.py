"""The pure version logic, by table."""

from __future__ import annotations

import pytest
from packaging.version import Version

from release.errors import InputError, VersionError
from release.inputs import render
from release.versions import Known, gate, parse_tag, same_version, tag_from_ref


@pytest.mark.parametrize(
    ("tag", "prefix", "version"),
    [
        ("v1.2.3", "", "1.2.3"),
        ("1.2.3", "", "1.2.3"),
        ("V1.2.3", "", "1.2.3"),
        ("v1.0", "", "1.0"),
        ("v1.0.0rc1", "", "1.0.0rc1"),
        ("v1.0.0-rc.1", "", "1.0.0rc1"),
        ("v2.0.post1", "", "2.0.post1"),
        ("v2.0.dev3", "", "2.0.dev3"),
        ("v1!2.0", "", "1!2.0"),
        ("mypkg-v0.4.0", "mypkg-v", "0.4.0"),
        ("release/3.0", "release/", "3.0"),
    ],
)
def test_parse_tag(tag: str, prefix: str, version: str) -> None:
    assert parse_tag(tag, prefix) == Version(version)


@pytest.mark.parametrize(
    ("tag", "prefix", "message"),
    [
        ("v1.x", "", "Tag 'v1.x' does not hold a PEP 440 version after the prefix: '1.x'."),
        ("vv1.0", "", "Tag 'vv1.0' does not hold a PEP 440 version after the prefix: 'v1.0'."),
        ("latest", "", "Tag 'latest' does not hold a PEP 440 version after the prefix: 'latest'."),
        (
            "mypkg-vv1.0",
            "mypkg-v",
            "Tag 'mypkg-vv1.0' does not hold a PEP 440 version after the prefix: 'v1.0'.",
        ),
        ("v1.0.0", "mypkg-v", "Tag 'v1.0.0' does not start with the tag-prefix 'mypkg-v'."),
        ("v1.0+local", "", "Tag 'v1.0+local' has a local version label '+local'."),
    ],
)
def test_parse_tag_refuses(tag: str, prefix: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_tag(tag, prefix)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("tag", "ref", "expected"),
    [
        ("", "refs/tags/v1.0", "v1.0"),
        ("v2.0", "refs/heads/main", "v2.0"),
        ("refs/tags/v2.0", "", "v2.0"),
    ],
)
def test_tag_from_ref(tag: str, ref: str, expected: str) -> None:
    assert tag_from_ref(tag, ref) == expected


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (
            "refs/heads/main",
            "GITHUB_REF is 'refs/heads/main', not a tag: a release is made from a pushed tag.",
        ),
        (
            "refs/pull/7/merge",
            "GITHUB_REF is 'refs/pull/7/merge', not a tag: a release is made from a pushed tag.",
        ),
        ("", "No tag to release: the tag input is empty and GITHUB_REF is not set."),
    ],
)
def test_tag_from_ref_refuses(ref: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        tag_from_ref("", ref)
    assert info.value.message == message


def known(*specs: str) -> list[Known]:
    return [Known(Version(s.rstrip("!")), yanked=s.endswith("!")) for s in specs]


@pytest.mark.parametrize(
    ("version", "index", "resume", "previous"),
    [
        ("1.0", [], False, None),
        ("1.1", ["1.0"], False, "1.0"),
        ("1.0.1", ["1.0", "0.9"], False, "1.0"),
        ("2.0", ["2.0rc1"], False, "2.0rc1"),  # final after its pre-release
        ("2.0.post1", ["2.0"], False, "2.0"),
        ("1!0.1", ["9.9"], False, "9.9"),  # epochs outrank everything
        ("1.0", ["1.0"], True, None),  # re-run of a first release
        ("1.0.0", ["1.0"], True, None),  # 1.0 and 1.0.0 are the same version
        ("1.1", ["1.0", "1.1"], True, "1.0"),
        ("1.0", ["1.0", "2.0"], True, "2.0"),  # re-run of an older release
    ],
)
def test_gate_passes(version: str, index: list[str], resume: bool, previous: str | None) -> None:
    verdict = gate(Version(version), known(*index), f"v{version}")
    assert verdict.resume is resume
    assert verdict.previous == (Version(previous) if previous else None)


@pytest.mark.parametrize(
    ("version", "index", "highest"),
    [
        ("1.0", ["1.1"], "1.1"),
        ("1.0", ["1.1!"], "1.1 (yanked)"),  # yanked numbers stay taken
        ("1.9", ["2.0rc1"], "2.0rc1"),  # so do pre-releases
        ("2.0rc1", ["2.0"], "2.0"),
        ("2.0.dev1", ["2.0a1"], "2.0a1"),
        ("2.0", ["2.0.post1"], "2.0.post1"),
        ("1.0", ["0.1", "3.0!", "2.0"], "3.0 (yanked)"),
    ],
)
def test_gate_refuses_versions_not_higher(version: str, index: list[str], highest: str) -> None:
    with pytest.raises(VersionError) as info:
        gate(Version(version), known(*index), f"v{version}")
    assert info.value.message == (
        f"Tag 'v{version}' is version {Version(version)}, which is not higher than "
        f"{highest}, the highest version the index has."
    )


@pytest.mark.parametrize(
    ("version", "index", "previous"),
    [
        ("1.2.5", ["1.2.4", "2.0.0"], "2.0.0"),  # a fix to the 1.2 series
        ("1.2.5", ["1.2.4", "1.3.0", "2.0.0"], "2.0.0"),  # 1.3 is another series
        ("1.1.0", ["1.0.0", "2.0.0"], "2.0.0"),  # a new series below the highest
        ("1.2.5rc1", ["1.2.4", "2.0.0"], "2.0.0"),
    ],
)
def test_backport_allowed(version: str, index: list[str], previous: str) -> None:
    verdict = gate(Version(version), known(*index), "t", allow_backport=True)
    assert verdict.backport
    assert not verdict.resume
    assert verdict.previous == Version(previous)


@pytest.mark.parametrize(
    ("version", "index", "code", "message"),
    [
        (
            "1.2.3",
            ["1.2.4", "2.0.0"],
            "backport-not-higher",
            "Tag 't' is version 1.2.3, a backport to the 1.2 series, but it is not higher "
            "than 1.2.4, that series' highest version on the index.",
        ),
        (
            "1.2.3",
            ["1.2.4", "2.0.0"],
            "version-not-higher",
            "Tag 't' is version 1.2.3, which is not higher than 2.0.0, the highest version "
            "the index has.",
        ),
    ],
)
def test_backport_refused(version: str, index: list[str], code: str, message: str) -> None:
    with pytest.raises(VersionError) as info:
        gate(Version(version), known(*index), "t", allow_backport=code == "backport-not-higher")
    assert info.value.code == code
    assert info.value.message == message


def test_backport_equal_is_a_resume_not_a_backport() -> None:
    verdict = gate(Version("1.2.4"), known("1.2.4", "2.0.0"), "t", allow_backport=True)
    assert verdict.resume
    assert not verdict.backport


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("1.0", "1.0.0", True),
        ("1.0", Version("1.0.0"), True),
        ("1.0.post1", "1.0", False),
        ("not a version", "not a version", True),
        ("not a version", "1.0", False),
        ("1.0", "not a version", False),
        ("", Version("1.0"), False),
    ],
)
def test_same_version(a: str, b: str | Version, same: bool) -> None:
    assert same_version(a, b) is same


@pytest.mark.parametrize(
    ("tag", "hint_end"),
    [
        (
            "mypkg-v1.2.0",
            " If 'mypkg-v' is this project's tag prefix, set tag-prefix: mypkg-v.",
        ),
        (
            "tools/cli@2.0",
            " If 'tools/cli@' is this project's tag prefix, set tag-prefix: tools/cli@.",
        ),
        ("release", ""),
    ],
)
def test_a_prefixed_tag_without_its_prefix_suggests_one(tag: str, hint_end: str) -> None:
    """A monorepo's tag released without tag-prefix: the hint names the prefix to set."""
    with pytest.raises(InputError) as err:
        parse_tag(tag, "")
    assert err.value.code == "tag-not-pep440"
    hint = render(err.value.hint, "action")
    assert hint.startswith("Tags must look like [v]<version>, for example v1.2.3 (see ")
    assert hint.endswith("version-specifiers/)." + hint_end)
