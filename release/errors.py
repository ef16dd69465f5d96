"""The one error family: a message saying what went wrong and a hint saying what to do."""

from __future__ import annotations


class ReleaseError(Exception):
    """A failure the user can act on. ``title`` heads the ::error annotation."""

    title = "Release failed"

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InputError(ReleaseError):
    """An input (action input, flag, tag) is malformed or missing."""

    title = "Invalid input"


class VersionError(ReleaseError):
    """The tag's version cannot be released to this index."""

    title = "Version refused"


class DistributionError(ReleaseError):
    """The built or provided files do not match the tag or each other."""

    title = "Distribution check failed"


class PackageIndexError(ReleaseError):
    """The package index could not be read or refused an upload."""

    title = "Package index error"


class GitHubError(ReleaseError):
    """The GitHub API refused or failed a request."""

    title = "GitHub release failed"

    def __init__(self, message: str, hint: str = "", *, transient: bool = False) -> None:
        super().__init__(message, hint)
        # A server error or a lost connection: the request may be tried again.
        self.transient = transient
