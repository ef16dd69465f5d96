"""Pure version logic: tag -> Version, and the version gate. No I/O here."""

from __future__ import annotations

import dataclasses
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
            "No tag to release: the tag input is empty and GITHUB_REF is not set.",
            "Run the action in a workflow triggered by a tag push, or pass the tag "
            "(input 'tag', or --tag locally).",
        )
    raise InputError(
        f"GITHUB_REF is '{ref}', not a tag: a release is made from a pushed tag.",
        f"Trigger the workflow on tag pushes:\n{TAG_WORKFLOW}\n"
        "or pass the tag explicitly with the 'tag' input.",
    )


def parse_tag(tag: str, prefix: str) -> Version:
    """``<prefix><PEP 440 version>``; with no prefix, an optional ``v`` is accepted."""
    expected = f"{prefix or '[v]'}<version>, for example {prefix or 'v'}1.2.3"
    if prefix:
        if not tag.startswith(prefix):
            raise InputError(
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
        raise InputError(
            f"Tag '{tag}' does not hold a PEP 440 version after the prefix: '{rest}'.",
            f"Tags must look like {expected} (see "
            "https://packaging.python.org/en/latest/specifications/version-specifiers/).",
        ) from None
    if version.local is not None:
        raise InputError(
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


def parse_known(text: str) -> Version | None:
    """A version string from the index; legacy non-PEP 440 versions are ignored."""
    try:
        return Version(text)
    except InvalidVersion:
        return None


def gate(version: Version, known: Iterable[Known], tag: str) -> Gate:
    """The tag's version must be higher than everything the index has, or already there.

    Yanked releases and pre-releases count: their numbers are taken for good.
    """
    known = list(known)
    others = [k for k in known if k.version != version]
    highest = max(others, key=lambda k: (k.version, not k.yanked), default=None)
    previous = highest.version if highest else None
    if len(others) < len(known):
        # Existing version: the caller decides whether the files make it a resume.
        return Gate(resume=True, previous=previous)
    if highest is not None and version < highest.version:
        raise VersionError(
            f"Tag '{tag}' is version {version}, which is not higher than "
            f"{highest.describe()}, the highest version the index has.",
            "Versions on an index only go up. Tag a version higher than "
            f"{highest.version} (yanked and pre-release versions count).",
        )
    return Gate(resume=False, previous=previous)
