"""Pure version logic: tag -> Version, and the version gate. No I/O here."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from packaging.version import InvalidVersion, Version

from .errors import InputError, VersionError

TAG_REF = "refs/tags/"
TAG_WORKFLOW = "on:\n  push:\n    tags: ['v*']"


def tag_from_ref(tag: str, ref: str) -> str:
    """The tag to release: the explicit ``tag`` input, else the pushed tag in GITHUB_REF."""
    if tag:
        return tag.removeprefix(TAG_REF)
    if ref.startswith(TAG_REF):
        return ref.removeprefix(TAG_REF)
    if not ref:
        raise InputError(
            "no-tag",
            "No tag to release: the tag input is empty and GITHUB_REF is not set.",
            "Run the action in a workflow triggered by a tag push, or pass the tag ({tag}).",
        )
    raise InputError(
        "ref-not-a-tag",
        f"GITHUB_REF is '{ref}', not a tag: a release is made from a pushed tag.",
        f"Trigger the workflow on tag pushes:\n{TAG_WORKFLOW}\n"
        "or pass the tag explicitly with {tag}.",
    )


# Text, then a version: the prefix is the text up to and including a separator and an
# optional v.
_PREFIXED = re.compile(r"(.*?[-_/@](?:[vV])?)(\d+(?:\.\d+)*\S*)")


def parse_tag(tag: str, prefix: str) -> Version:
    """``<prefix><PEP 440 version>``; with no prefix, an optional ``v`` is accepted."""
    expected = f"{prefix or '[v]'}<version>, for example {prefix or 'v'}1.2.3"
    if prefix:
        if not tag.startswith(prefix):
            raise InputError(
                "tag-prefix-mismatch",
                f"Tag '{tag}' does not start with the tag-prefix '{prefix}'.",
                f"Tags must look like {expected}.",
            )
        rest = tag.removeprefix(prefix)
    else:
        rest = tag[1:] if tag[:1] in ("v", "V") else tag
    try:
        # packaging accepts surrounding spaces and a leading "v"; a tag must be exact.
        if not rest[:1].isdigit() or rest != rest.strip():
            raise InvalidVersion(rest)
        version = Version(rest)
    except InvalidVersion:
        hint = (
            f"Tags must look like {expected} (see "
            "https://packaging.python.org/en/latest/specifications/version-specifiers/)."
        )
        # A monorepo's tag ("mypkg-v1.2.0") released without its prefix.
        if not prefix and (found := _PREFIXED.fullmatch(tag)):
            hint += f" If '{found[1]}' is this project's tag prefix, set {{tag-prefix={found[1]}}}."
        raise InputError(
            "tag-not-pep440",
            f"Tag '{tag}' does not hold a PEP 440 version after the prefix: '{rest}'.",
            hint,
        ) from None
    if version.local is not None:
        raise InputError(
            "tag-local-version",
            f"Tag '{tag}' has a local version label '+{version.local}'.",
            "Package indexes such as PyPI refuse local versions; tag a public version.",
        )
    return version


@dataclasses.dataclass(frozen=True)
class Known:
    """A version the index already has."""

    version: Version
    yanked: bool = False

    def describe(self) -> str:
        return f"{self.version}{' (yanked)' if self.yanked else ''}"


@dataclasses.dataclass(frozen=True)
class Gate:
    """The version gate's verdict: a new release, or a resume of one the index has."""

    resume: bool
    previous: Version | None
    # Lower than the index's highest, allowed as a backport: never the latest release.
    backport: bool = False


def parse_known(text: str) -> Version | None:
    """A version string from the index; legacy non-PEP 440 versions are ignored."""
    try:
        return Version(text)
    except InvalidVersion:
        return None


def same_version(a: str, b: str | Version) -> bool:
    """Equal as PEP 440 versions (``1.0`` is ``1.0.0``); text that is no version is
    equal only to the same text."""
    left, right = parse_known(a), b if isinstance(b, Version) else parse_known(b)
    if left is None or right is None:
        return a == str(b)
    return left == right


def series(version: Version) -> tuple[int, int]:
    """A release series: the same major.minor, as maintenance branches (1.2.x) are cut."""
    release = (*version.release, 0)
    return release[0], release[1]


def gate(
    version: Version, known: Iterable[Known], tag: str, *, allow_backport: bool = False
) -> Gate:
    """The tag's version must be higher than everything the index has, or already there.

    Yanked releases and pre-releases count: their numbers are taken for good. With
    ``allow_backport``, a version lower than the highest passes when it is higher than
    every version of its own series (1.2.5 after 2.0.0 when 1.2.4 is 1.2's highest).
    """
    known = list(known)
    others = [k for k in known if k.version != version]
    highest = max(others, key=lambda k: (k.version, not k.yanked), default=None)
    previous = highest.version if highest else None
    if len(others) < len(known):
        # Existing version: the caller decides whether the files make it a resume.
        return Gate(resume=True, previous=previous)
    if highest is None or version > highest.version:
        return Gate(resume=False, previous=previous)
    if not allow_backport:
        raise VersionError(
            "version-not-higher",
            f"Tag '{tag}' is version {version}, which is not higher than "
            f"{highest.describe()}, the highest version the index has.",
            "Versions on an index only go up. Tag a version higher than "
            f"{highest.version} (yanked and pre-release versions count); or, for a fix "
            "to an older release series, set {allow-backport=true}.",
        )
    major, minor = series(version)
    same = [k for k in others if series(k.version) == (major, minor)]
    top = max(same, key=lambda k: (k.version, not k.yanked), default=None)
    if top is not None and version < top.version:
        raise VersionError(
            "backport-not-higher",
            f"Tag '{tag}' is version {version}, a backport to the {major}.{minor} series, "
            f"but it is not higher than {top.describe()}, that series' highest version "
            "on the index.",
            f"Tag a version higher than {top.version}.",
        )
    return Gate(resume=False, previous=previous, backport=True)
