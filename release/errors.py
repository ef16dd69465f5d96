"""The one error family.

Every error carries a stable ``code`` (shown in the annotation and the summary, so a
maintainer can search for it and tests can assert it), a ``message`` saying what went
wrong, and a ``hint`` saying what to do. The subclass decides the annotation's title.
"""

from __future__ import annotations


class ReleaseError(Exception):
    """A failure the user can act on. ``title`` heads the ::error annotation."""

    title = "Release failed"

    def __init__(self, code: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    @property
    def heading(self) -> str:
        """The annotation's title: the kind of failure and its code."""
        return f"{self.title} [{self.code}]"


class InputError(ReleaseError):
    """An input (action input, flag, tag) is malformed or missing."""

    title = "Invalid input"


class GitError(ReleaseError):
    """The local git checkout does not match what is being released."""

    title = "Checkout not ready"


class VersionError(ReleaseError):
    """The tag's version cannot be released to this index."""

    title = "Version refused"


class DistributionError(ReleaseError):
    """The built or provided files do not match the tag or each other."""

    title = "Distribution check failed"


class PackageIndexError(ReleaseError):
    """The package index could not be read or refused an upload."""

    title = "Package index error"


class CredentialError(ReleaseError):
    """No upload credential could be had (trusted publishing, API token)."""

    title = "Credential error"


class AttestationError(ReleaseError):
    """An attestation could not be made or does not verify."""

    title = "Attestation failed"


class GitHubError(ReleaseError):
    """The GitHub API refused or failed a request."""

    title = "GitHub release failed"

    def __init__(self, code: str, message: str, hint: str = "", *, transient: bool = False) -> None:
        super().__init__(code, message, hint)
        # A server error or a lost connection: the request may be tried again.
        self.transient = transient


class InternalError(ReleaseError):
    """Anything unexpected: still one clean error line, the traceback only in debug."""

    title = "Internal error"
