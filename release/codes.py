"""Every error code this tool can raise: its error class and what it means.

A code is a stable reference: shown in the annotation (``Invalid input [no-tag]``) and the
step summary, searched for by a maintainer, asserted by the tests. Each is raised for one
reason, from one place, with one text (tests/test_error_codes.py holds the package to it).

Why a table and not a class per code, as pip's ``DiagnosticPipError`` subclasses each
declare a ``reference``: here a code is the whole of what such a class would add. The
message and hint are made at the raise site from what it knows (a path, a status, the
index's answer), and the title comes from one of nine kinds (``InputError``,
``PackageIndexError``...). Some 150 classes holding a string each would put a name
between the reader and the code, and every raise site would change for nothing: the
test binds each literal code to its class and this entry instead. The module is plain
data (it imports only ``errors``), and nothing imports it at start: the tests read it,
and keep README's table of codes in step with it.

``FAMILIES`` declares the codes made from a template at the raise site, with every
value; each value is also an entry of ``CODES``.
"""

from __future__ import annotations

from typing import NamedTuple

from .errors import (
    AttestationError,
    CredentialError,
    DistributionError,
    GitError,
    GitHubError,
    InputError,
    InternalError,
    PackageIndexError,
    ReleaseError,
    VersionError,
)


class Code(NamedTuple):
    """What one code is raised as, and what failed, in a line."""

    kind: type[ReleaseError]
    meaning: str


CODES: dict[str, Code] = {
    # -- inputs: action inputs, flags, the tag -------------------------------------------
    "invalid-boolean": Code(InputError, "A true/false input holds something else."),
    "invalid-switch": Code(InputError, "An auto/true/false input holds something else."),
    "twine-repository-unsupported": Code(
        InputError, "TWINE_REPOSITORY names a .pypirc repository, which is never read."
    ),
    "working-directory-missing": Code(InputError, "working-directory is not a directory."),
    "test-timeout-invalid": Code(InputError, "test-timeout is not a number of seconds."),
    "max-file-size-invalid": Code(InputError, "max-file-size is not a file size."),
    "github-token-missing": Code(InputError, "A GitHub release is asked for without a token."),
    "repository-url-not-http": Code(InputError, "repository-url is not an http(s) URL."),
    "repository-url-invalid": Code(
        InputError, "repository-url does not parse, or names no host or a bad port."
    ),
    "index-url-not-http": Code(InputError, "index-url is not an http(s) URL."),
    "index-url-invalid": Code(
        InputError, "index-url does not parse, or names no host or a bad port."
    ),
    "index-url-missing": Code(
        InputError, "A custom repository-url is given without the index-url to read it by."
    ),
    "index-url-count": Code(
        InputError, "index-url has another number of lines than repository-url."
    ),
    "repository-url-repeated": Code(InputError, "repository-url names one index twice."),
    "user-count": Code(InputError, "user has another number of lines than repository-url."),
    "password-count": Code(
        InputError, "password has another number of tokens than repository-url has lines."
    ),
    "test-command-invalid": Code(
        InputError, "test-command cannot be split into words (an unclosed quote)."
    ),
    "test-command-empty": Code(InputError, "test-command holds no command."),
    "no-pyproject": Code(InputError, "working-directory has no pyproject.toml."),
    "pyproject-invalid": Code(InputError, "pyproject.toml is not valid TOML."),
    "path-outside-workspace": Code(InputError, "A path input resolves outside the workspace."),
    "file-missing": Code(InputError, "A file input names a file that does not exist."),
    "file-not-regular": Code(InputError, "A file input names something not a regular file."),
    "file-too-large": Code(InputError, "A file input names a file over its size limit."),
    "no-tag": Code(InputError, "No tag to release: no tag input, and GITHUB_REF is not set."),
    "ref-not-a-tag": Code(InputError, "GITHUB_REF is a branch or other ref, not a tag."),
    "tag-prefix-mismatch": Code(InputError, "The tag does not start with tag-prefix."),
    "tag-not-pep440": Code(InputError, "The tag holds no PEP 440 version after its prefix."),
    "tag-local-version": Code(
        InputError, "The tag's version has a local label (+...), which indexes refuse."
    ),
    "github-repository-missing": Code(
        InputError, "GITHUB_REPOSITORY is not set, so no repository for the GitHub release."
    ),
    # -- the git checkout ----------------------------------------------------------------
    "checkout-unreadable": Code(
        GitError, "git refuses to read the checkout (another user's: dubious ownership)."
    ),
    "no-commit": Code(GitError, "The repository has no commit yet."),
    "git-status-failed": Code(GitError, "git status failed in the project folder."),
    "uncommitted-changes": Code(GitError, "Tracked files in the project folder have changes."),
    "tag-missing": Code(GitError, "The tag does not exist in the local checkout."),
    "tag-not-on-head": Code(GitError, "The tag points at another commit than HEAD."),
    # -- the version against the index -------------------------------------------------
    "version-not-higher": Code(
        VersionError, "The tag's version is not higher than the index's highest."
    ),
    "backport-not-higher": Code(
        VersionError, "A backport's version is not higher than its series' highest."
    ),
    "version-exists-different-files": Code(
        VersionError, "The index has this version already, with other files than these."
    ),
    # -- the distributions: building, reading, checking, the install trial ----------------
    "uv-missing": Code(DistributionError, "uv, which the build installs with, is missing."),
    "build-failed": Code(
        DistributionError, "Building the sdist or wheel failed (a hook or its requirements)."
    ),
    "build-output-misplaced": Code(
        DistributionError, "The build backend returned a file outside its output folder."
    ),
    "build-output-unreadable": Code(DistributionError, "A built file cannot be opened."),
    "build-output-not-file": Code(DistributionError, "A built file is not a regular file."),
    "sdist-layout-invalid": Code(
        DistributionError, "The built sdist does not hold exactly one top-level folder."
    ),
    "sdist-unpack-failed": Code(
        DistributionError, "The built sdist cannot be unpacked to build a wheel from it."
    ),
    "stray-files": Code(DistributionError, "packages-dir holds files that are not dists."),
    "project-name-unknown": Code(
        DistributionError, "No project name: not in pyproject.toml, not one in the files."
    ),
    "dist-unreadable": Code(DistributionError, "A file cannot be opened as a distribution."),
    "dist-metadata-missing": Code(DistributionError, "A distribution has no metadata file."),
    "dist-metadata-too-large": Code(
        DistributionError, "A distribution's metadata is over the size limit."
    ),
    "dist-metadata-invalid": Code(
        DistributionError, "A distribution's metadata is not valid (packaging or twine)."
    ),
    "no-distributions": Code(DistributionError, "packages-dir holds no distributions."),
    "dist-name-mismatch": Code(DistributionError, "A file is another project's than this one."),
    "dist-filename-mismatch": Code(
        DistributionError, "A file's name names another project than its metadata."
    ),
    "build-version-mismatch": Code(
        DistributionError, "The build made another version than the tag's."
    ),
    "dist-version-mismatch": Code(
        DistributionError, "packages-dir holds files of another version than the tag's."
    ),
    "multiple-sdists": Code(DistributionError, "packages-dir holds more than one sdist."),
    "twine-check-failed": Code(DistributionError, "twine check finds the metadata wanting."),
    "upload-rules": Code(DistributionError, "The files break rules the index would refuse."),
    "dist-changed-while-uploading": Code(
        DistributionError, "A file changed on disk while it was being uploaded."
    ),
    "trial-uv-missing": Code(DistributionError, "uv, which the install trial needs, is missing."),
    "trial-timed-out": Code(DistributionError, "The install trial ran past test-timeout."),
    "trial-sdist-build-failed": Code(
        DistributionError, "The sdist does not build into a wheel in the install trial."
    ),
    "trial-env-failed": Code(DistributionError, "No fresh environment for the install trial."),
    "trial-install-failed": Code(
        DistributionError, "A wheel does not install into a fresh environment."
    ),
    "trial-probe-failed": Code(
        DistributionError, "The trial environment's Python fails before trying the wheel."
    ),
    "trial-import-crashed": Code(
        DistributionError, "Importing the installed package ends the interpreter."
    ),
    "trial-import-failed": Code(
        DistributionError, "A module of the installed wheel does not import."
    ),
    "trial-entry-point-missing": Code(
        DistributionError, "An installed entry point does not resolve to its function."
    ),
    "trial-entry-points-unreadable": Code(
        DistributionError, "A wheel's entry_points.txt cannot be read."
    ),
    "trial-entry-point-invalid": Code(
        DistributionError, "An entry point names no module:function."
    ),
    "trial-command-not-found": Code(DistributionError, "The test command cannot start."),
    "trial-command-failed": Code(
        DistributionError, "The test command failed against the installed wheel."
    ),
    # -- the package index ---------------------------------------------------------------
    "index-page-unusable": Code(PackageIndexError, "The index's project page cannot be read."),
    "index-unreachable": Code(PackageIndexError, "The index does not answer."),
    "index-http-error": Code(
        PackageIndexError, "The index answers its project page with an error."
    ),
    "index-answer-invalid": Code(
        PackageIndexError, "The index's answer is not a simple API project page."
    ),
    "index-filename-invalid": Code(
        PackageIndexError, "The index lists a file whose name is no plain file name."
    ),
    "project-archived": Code(PackageIndexError, "The index marks the project archived."),
    "project-quarantined": Code(PackageIndexError, "The index marks the project quarantined."),
    "project-deprecated": Code(PackageIndexError, "The index marks the project deprecated."),
    "index-download-failed": Code(PackageIndexError, "A file the index lists cannot be fetched."),
    "index-digest-mismatch": Code(
        PackageIndexError, "A file the index serves differs from its listed digest."
    ),
    "provenance-unreadable": Code(
        PackageIndexError, "The index's answer for a file's listed provenance cannot be read."
    ),
    "provenance-unreachable": Code(
        PackageIndexError, "The index does not answer for a file's listed provenance."
    ),
    "provenance-http-error": Code(
        PackageIndexError, "The index answers a file's listed provenance with an HTTP error."
    ),
    "upload-refused": Code(PackageIndexError, "The index refused a file's upload."),
    "upload-failed": Code(
        PackageIndexError, "An upload failed, and the index does not show the file either."
    ),
    "upload-redirected": Code(PackageIndexError, "The index answered an upload with a redirect."),
    "upload-credentials-refused": Code(PackageIndexError, "The index refused the credentials."),
    "upload-conflict": Code(
        PackageIndexError, "Meanwhile something else uploaded a file of this name."
    ),
    "confirm-missing": Code(
        PackageIndexError, "After the upload, the index does not list every file."
    ),
    "confirm-sha256-mismatch": Code(
        PackageIndexError, "After the upload, the index serves a file with another sha256."
    ),
    "confirm-project-archived": Code(
        PackageIndexError, "After the upload, the index marks the project archived."
    ),
    "confirm-project-quarantined": Code(
        PackageIndexError, "After the upload, the index marks the project quarantined."
    ),
    "confirm-project-deprecated": Code(
        PackageIndexError, "After the upload, the index marks the project deprecated."
    ),
    "index-file-changed": Code(
        PackageIndexError, "A file confirmed on the index changed or left before it was attached."
    ),
    # -- the upload credential -----------------------------------------------------------
    "password-missing": Code(
        CredentialError, "No password (API token), and a user other than __token__."
    ),
    "trusted-publishing-outside-actions": Code(
        CredentialError, "No password on the command line, where trusted publishing is not."
    ),
    "exchange-url-invalid": Code(
        CredentialError, "Trusted publishing for an upload URL that is no http(s) URL with a host."
    ),
    "id-token-unavailable-for-pull-request": Code(
        CredentialError, "Trusted publishing in a run for a fork's pull request (no OIDC)."
    ),
    "id-token-permission-missing": Code(
        CredentialError, "Trusted publishing without the job's id-token: write permission."
    ),
    "trusted-publishing-audience-unreachable": Code(
        CredentialError, "The index does not answer the trusted publishing audience request."
    ),
    "trusted-publishing-audience-unreadable": Code(
        CredentialError, "The index's answer to the audience request cannot be read."
    ),
    "trusted-publishing-audience-missing": Code(
        CredentialError, "The index answers the audience request without an audience."
    ),
    "trusted-publishing-unsupported": Code(
        CredentialError, "The index has no trusted publishing (audience answers 404)."
    ),
    "trusted-publishing-disabled": Code(
        CredentialError, "The index has trusted publishing turned off (audience answers 403)."
    ),
    "oidc-token-request-failed": Code(
        CredentialError, "The request for the job's OIDC token got no answer from GitHub."
    ),
    "oidc-token-unreadable": Code(
        CredentialError, "GitHub's answer to the OIDC token request cannot be read."
    ),
    "oidc-token-refused": Code(
        CredentialError, "GitHub refused the request for the job's OIDC token."
    ),
    "oidc-token-missing": Code(
        CredentialError, "GitHub answered the OIDC token request without a token."
    ),
    "trusted-publishing-redirected": Code(
        CredentialError, "The index answered the token exchange with a redirect."
    ),
    "trusted-publishing-mint-failed": Code(
        CredentialError, "The index did not mint an upload token (an outage or odd answer)."
    ),
    "trusted-publishing-invalid-publisher": Code(
        CredentialError, "No trusted publisher on the index matches this job."
    ),
    "trusted-publishing-invalid-token": Code(
        CredentialError, "The index could not verify the job's OIDC token."
    ),
    "trusted-publishing-invalid-reuse-token": Code(
        CredentialError, "The job's OIDC token was already exchanged once."
    ),
    "trusted-publishing-invalid-payload": Code(
        CredentialError, "The index could not take the token exchange request."
    ),
    "trusted-publishing-invalid-pending-publisher": Code(
        CredentialError, "A pending publisher matched a project that already exists."
    ),
    "trusted-publishing-not-enabled": Code(
        CredentialError, "The index refused the exchange: trusted publishing is off."
    ),
    "trusted-publishing-refused": Code(
        CredentialError, "The index refused the token exchange for a reason not known here."
    ),
    # -- attestations and provenance -------------------------------------------------------
    "attestation-trust-root": Code(
        AttestationError, "Sigstore's public trust root cannot be loaded."
    ),
    "attestation-trust-config-unreadable": Code(
        AttestationError, "The Sigstore trust config file cannot be read."
    ),
    "attestation-trust-config-invalid": Code(
        AttestationError, "The Sigstore trust config file is not valid."
    ),
    "attestation-bad-filename": Code(
        AttestationError, "A file to sign has no distribution file name."
    ),
    "attestation-dist-unreadable": Code(AttestationError, "A file to sign cannot be read."),
    "attestation-identity-token": Code(
        AttestationError, "The OIDC token for Sigstore cannot be used."
    ),
    "attestation-signing-config": Code(
        AttestationError, "The Sigstore signing config cannot be used."
    ),
    "attestation-sign-failed": Code(AttestationError, "Signing with Sigstore failed."),
    "attestation-certificate-failed": Code(
        AttestationError, "Sigstore's CA did not issue a signing certificate."
    ),
    "attestation-certificate-expired": Code(
        AttestationError, "A signing certificate had expired before it was used."
    ),
    "attestation-unreadable": Code(AttestationError, "An attestation file cannot be read."),
    "attestation-malformed": Code(
        AttestationError, "An attestation file is not a PEP 740 attestation object."
    ),
    "attestation-not-publish": Code(
        AttestationError, "An attestation is of another kind than a publish attestation."
    ),
    "provenance-malformed": Code(
        AttestationError, "The index's provenance is not a PEP 740 provenance object."
    ),
    "provenance-wrong-publisher": Code(
        AttestationError, "The index's provenance names another publisher than expected."
    ),
    "provenance-no-attestation": Code(
        AttestationError, "The index's provenance holds no publish attestation."
    ),
    "attestation-trust-root-unusable": Code(
        AttestationError, "The Sigstore trusted root cannot make a verifier."
    ),
    "attestation-not-bundle": Code(
        AttestationError, "An attestation cannot be read as a Sigstore bundle."
    ),
    "attestation-invalid": Code(
        AttestationError, "An attestation does not verify against the Sigstore trust root."
    ),
    "attestation-not-in-toto": Code(
        AttestationError, "An attestation's signed payload is not an in-toto statement."
    ),
    "attestation-wrong-file": Code(AttestationError, "An attestation is for another file."),
    "attestation-wrong-digest": Code(
        AttestationError, "An attestation is for another sha256 of this file."
    ),
    "attestation-unknown-predicate": Code(
        AttestationError, "An attestation has a predicate type not known here."
    ),
    "attestation-statement-malformed": Code(
        AttestationError, "An attestation's in-toto statement is malformed."
    ),
    "attestation-wrong-issuer": Code(
        AttestationError, "An attestation was signed by an identity not from GitHub Actions."
    ),
    "attestation-wrong-repository": Code(
        AttestationError, "An attestation was signed in another repository than expected."
    ),
    "attestation-reusable-workflow": Code(
        AttestationError, "An attestation was signed by a reusable workflow's job."
    ),
    "attestation-wrong-workflow": Code(
        AttestationError, "An attestation was signed by another workflow than expected."
    ),
    # -- the GitHub release --------------------------------------------------------------
    "github-token-refused": Code(GitHubError, "GitHub refused the token (HTTP 401)."),
    "github-repository-not-found": Code(
        GitHubError, "The repository is not on GitHub, or the token cannot see it (HTTP 404)."
    ),
    "github-tag-missing": Code(GitHubError, "The tag is not on GitHub (HTTP 404)."),
    "github-permission-denied": Code(
        GitHubError, "The token lacks a permission for the request (HTTP 403)."
    ),
    "github-validation-failed": Code(GitHubError, "GitHub refused the request (HTTP 422)."),
    "github-rate-limited": Code(GitHubError, "GitHub's rate limit stopped the request."),
    "github-http-error": Code(GitHubError, "GitHub answered with another HTTP error."),
    "github-unreachable": Code(GitHubError, "GitHub did not answer, even after retries."),
    "github-asset-differs": Code(
        GitHubError, "The release has an asset of this name with other content."
    ),
    "github-attestation-present": Code(
        GitHubError, "The release has an attestation asset a new signature cannot match."
    ),
    "github-release-immutable": Code(
        GitHubError, "The release is published and immutable, and lacks files."
    ),
    "github-draft-foreign": Code(
        GitHubError, "The draft release holds assets or notes not of this run."
    ),
    "github-tag-moved": Code(GitHubError, "The tag on GitHub moved after the run started."),
    "github-tag-not-built": Code(
        GitHubError, "The tag on GitHub points at another commit than the one built."
    ),
    "github-asset-digest-mismatch": Code(
        GitHubError, "GitHub stored an asset with another sha256 than the file's."
    ),
    # -- anything else -------------------------------------------------------------------
    "internal-error": Code(InternalError, "An unexpected exception: a bug in this tool."),
}

# Codes made from a template at their raise site: the template (as the raise site
# spells it, up to the placeholder's name) and every code it can make.
FAMILIES: dict[str, tuple[str, ...]] = {
    # urls.check_url(name, ...), called from settings: the URL inputs
    "{name}-invalid": ("repository-url-invalid", "index-url-invalid"),
    # index.check_status and upload's confirm: PEP 792's statuses, simple.REFUSED_STATUS
    "project-{status}": ("project-archived", "project-quarantined", "project-deprecated"),
    "confirm-project-{status}": (
        "confirm-project-archived",
        "confirm-project-quarantined",
        "confirm-project-deprecated",
    ),
    # warehouse's mint-token error codes that credentials.REFUSALS explains
    "trusted-publishing-{first}": (
        "trusted-publishing-invalid-publisher",
        "trusted-publishing-invalid-token",
        "trusted-publishing-invalid-reuse-token",
        "trusted-publishing-invalid-payload",
        "trusted-publishing-invalid-pending-publisher",
        "trusted-publishing-not-enabled",
    ),
}
