"""PEP 740 attestations: sign each distribution with Sigstore, verify before upload.

Signing and verifying take a Sigstore client trust config (``trust_config``): Sigstore's
public-good instance through its TUF repository, or a file naming other services and
trust anchors (a private instance, or the local stand-in the tests run).

pypi-attestations' ``Attestation.verify`` only knows Sigstore's production and staging
roots, so verification here builds the ``Verifier`` from the given trusted root and
applies the rule PyPI applies to a GitHub trusted publisher (pypi-attestations'
``_GitHubTrustedPublisherPolicy``): issuer GitHub Actions, source repository
``owner/name``, and a Build Config URI of ``.github/workflows/<workflow>@<sha or ref>``.
The policy here reports which identity the certificate names, so a mismatch says what
to change. https://peps.python.org/pep-0740/ https://docs.pypi.org/attestations/

sigstore and pypi-attestations are imported inside the functions: they are slow to
import, and most runs of the action only need them after the plan is complete.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release.errors import AttestationError

if TYPE_CHECKING:
    from cryptography.x509 import Certificate
    from pypi_attestations import Attestation
    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import IdentityToken
    from sigstore.sign import Signer, SigningContext
    from sigstore.verify import Verifier

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
PUBLISH_PREDICATE = "https://docs.pypi.org/attestations/publish/v1"
SLSA_PREDICATE = "https://slsa.dev/provenance/v1"
SUFFIX = ".publish.attestation"
_IN_TOTO = "application/vnd.in-toto+json"
_GITHUB = "https://github.com/"
_WORKFLOWS = "/.github/workflows/"

# Fulcio's certificate extensions (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md)
_ISSUER = "1.3.6.1.4.1.57264.1.8"
_BUILD_SIGNER_URI = "1.3.6.1.4.1.57264.1.9"  # the workflow the job ran (maybe reusable)
_SOURCE_REPOSITORY_URI = "1.3.6.1.4.1.57264.1.12"
_SOURCE_REPOSITORY_DIGEST = "1.3.6.1.4.1.57264.1.13"
_SOURCE_REPOSITORY_REF = "1.3.6.1.4.1.57264.1.14"
_BUILD_CONFIG_URI = "1.3.6.1.4.1.57264.1.18"  # the top-level workflow of the run

_TOKEN_HINT = (
    "Request the token for Sigstore with the audience 'sigstore' "
    "(the job needs `permissions: id-token: write`)."
)
_SIGN_HINT = (
    "Nothing was uploaded. Run the release again; if it keeps failing, "
    "check https://status.sigstore.dev."
)


@dataclasses.dataclass(frozen=True)
class Publisher:
    """The GitHub identity the index expects (its trusted publisher).

    ``environment`` is not in the signing certificate: the index checks it when it
    mints the upload token, and ``verify_provenance`` compares it with the index's record.
    """

    repository: str  # owner/name
    workflow: str  # the workflow's file name, e.g. release.yml
    environment: str | None = None

    def describe(self) -> str:
        where = f"workflow {self.workflow} in {self.repository}"
        return f"{where} (environment {self.environment})" if self.environment else where


def trust_config(path: Path | None, *, offline: bool = False) -> ClientTrustConfig:
    """The Sigstore instance to use: a client trust config file, or None for the public one.

    For the public instance, ``offline`` uses the trust root sigstore ships (or has
    cached) instead of refreshing it from Sigstore's TUF repository.
    """
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import ClientTrustConfig

    if path is None:
        try:
            return ClientTrustConfig.production(offline=offline)
        except (SigstoreError, OSError) as exc:
            raise AttestationError(
                "attestation-trust-root",
                f"Sigstore's trust root could not be loaded: {_describe(exc)}",
                "Check that the runner can reach https://tuf-repo-cdn.sigstore.dev.",
            ) from exc
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AttestationError(
            "attestation-trust-config-unreadable",
            f"The Sigstore trust config {path} cannot be read: {exc.strerror or exc}.",
            "Give the path of a client trust config JSON file (trustedRoot + signingConfig).",
        ) from exc
    try:
        config = ClientTrustConfig.from_json(text)
        _ = config.trusted_root  # parsed on first use: fail here, not mid-release
    except (SigstoreError, ValueError) as exc:
        raise AttestationError(
            "attestation-trust-config-invalid",
            f"The Sigstore trust config {path} is not valid: {_describe(exc)}",
            "Give a client trust config JSON file "
            "(application/vnd.dev.sigstore.clienttrustconfig.v0.1+json).",
        ) from exc
    return config


def sign(
    files: Sequence[Path],
    identity: Callable[[], str],
    *,
    outdir: Path,
    config: ClientTrustConfig,
    renew_before: float = 60.0,
    workers: int = 4,
) -> list[Path]:
    """Sign a publish attestation for each file; write ``<name>.publish.attestation``.

    ``identity()`` returns a fresh OIDC token for the audience "sigstore" on each call:
    every signing certificate gets its own, and a certificate with less than
    ``renew_before`` seconds left is replaced before the next file (GitHub's tokens and
    Fulcio's certificates last minutes; a large matrix signs for longer). A new
    certificate signs at least one file, whatever its time left, so renewing never
    loops. Up to ``workers`` files are signed side by side, each worker with its own
    certificate; the first failure stops the rest. The result is in the order of ``files``.

    The attestations go into ``outdir``, never next to the files, so that nothing that
    globs the distribution directory picks them up as distributions.
    """
    from pydantic import ValidationError
    from pypi_attestations import Distribution
    from sigstore.errors import Error as SigstoreError
    from sigstore.sign import SigningContext

    if workers < 1 or renew_before < 0:
        raise ValueError(f"workers must be >= 1 and renew_before >= 0: {workers}, {renew_before}")
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        raise ValueError(f"two files share a name: {sorted(names)}")
    if any(f.resolve().parent == outdir.resolve() for f in files):
        raise ValueError(f"attestations must not be written next to the files: {outdir}")

    dists = []
    for path in files:
        try:
            dists.append((path, Distribution.from_file(path)))
        except ValidationError as exc:
            raise AttestationError(
                "attestation-bad-filename",
                f"{path.name} is not a distribution file name, so it cannot be attested.",
                "Only sdists (.tar.gz) and wheels (.whl) with standard names can be attested.",
            ) from exc
        except OSError as exc:
            raise AttestationError(
                "attestation-dist-unreadable",
                f"{path} cannot be read to sign it: {exc.strerror or exc}.",
            ) from exc
    if not dists:
        return []

    first = _identity_token(identity())  # a token that cannot be used fails before any work

    # PyPI takes attestations whose log entry is Rekor v1's dsse/0.0.1, as
    # pypi-attestations' own signing CLI does; Rekor v2 entries are not accepted yet.
    config.force_tlog_version = 1
    try:
        contexts = [
            SigningContext.from_trust_config(config) for _ in range(min(workers, len(dists)))
        ]
    except (SigstoreError, ValueError) as exc:
        raise AttestationError(
            "attestation-signing-config",
            f"The Sigstore signing config cannot be used: {_describe(exc)}",
            "The trust config must name a Fulcio CA and a Rekor v1 log.",
        ) from exc

    outdir.mkdir(parents=True, exist_ok=True)
    return _Batch(dists, identity, first, outdir, renew_before).run(contexts)


def verify(
    attestation: Path, dist: Path, publisher: Publisher, *, config: ClientTrustConfig
) -> None:
    """Check that ``attestation`` is a valid publish attestation of ``dist`` by ``publisher``."""
    from pydantic import ValidationError
    from pypi_attestations import Attestation

    what = f"The attestation {attestation.name}"
    try:
        parsed = Attestation.model_validate_json(attestation.read_bytes())
    except OSError as exc:
        raise AttestationError(
            "attestation-unreadable", f"{attestation} cannot be read: {exc.strerror or exc}."
        ) from exc
    except ValidationError as exc:
        raise AttestationError(
            "attestation-malformed",
            f"{what} is not a PEP 740 attestation object: {_first_error(exc)}",
        ) from exc
    predicate = _check(parsed, dist, publisher, _verifier(config), what)
    if predicate != PUBLISH_PREDICATE:
        raise AttestationError(
            "attestation-not-publish",
            f"{what} is a {predicate} attestation, not a publish attestation.",
        )


def verify_provenance(
    provenance_json: bytes, dist: Path, publisher: Publisher, *, config: ClientTrustConfig
) -> None:
    """Check the PEP 740 provenance an index serves for ``dist`` against it and ``publisher``.

    Every attestation bundle must name ``publisher`` and every attestation must verify;
    at least one must be a publish attestation of this very file.
    """
    from pydantic import ValidationError
    from pypi_attestations import GitHubPublisher, Provenance

    try:
        provenance = Provenance.model_validate_json(provenance_json)
    except ValidationError as exc:
        raise AttestationError(
            "provenance-malformed",
            f"The index's provenance for {dist.name} is not a PEP 740 provenance object: "
            f"{_first_error(exc)}",
        ) from exc
    verifier = _verifier(config)
    what = f"The index's attestation for {dist.name}"
    predicates = []
    for bundle in provenance.attestation_bundles:
        named = bundle.publisher
        if not isinstance(named, GitHubPublisher) or not _same_publisher(named, publisher):
            raise AttestationError(
                "provenance-wrong-publisher",
                f"The index says {dist.name} was published by {_describe_publisher(named)}, "
                f"but the expected publisher is {publisher.describe()}.",
                "Expect the publisher registered on the index, or check the project's "
                "trusted publishers there: another identity uploaded this file.",
            )
        predicates += [_check(a, dist, publisher, verifier, what) for a in bundle.attestations]
    if PUBLISH_PREDICATE not in predicates:
        raise AttestationError(
            "provenance-no-attestation",
            f"The index's provenance for {dist.name} holds no publish attestation.",
            "Upload the file with its attestation (trusted publishing, attestations: true).",
        )


# --- internals ----------------------------------------------------------------------------


# --- signing side by side ---------------------------------------------------------------
#
# Who owns what. sigstore 4.5 promises no thread safety for a Signer or a SigningContext
# (its Rekor and TSA clients keep an HTTP session per thread; its Fulcio client shares
# one), so nothing of sigstore's is shared between threads:
# - each worker thread owns one SigningContext (its Fulcio and Rekor clients and their
#   sessions) and each Signer it makes with it (ephemeral key, certificate), with that
#   certificate's expiry;
# - shared and only read: the files and their digests, outdir, renew_before, the trust
#   config's parsed documents (under each context's own TrustedRoot);
# - shared under _Batch._lock: which file is next, the first failure;
# - shared under _Batch._identity_lock: identity() (the caller's HTTP session and console
#   are not promised thread-safe) and the first token, validated before the threads start;
# - each result slot is written by the worker that signed its file, read after all ended.


@dataclasses.dataclass
class _Current:
    """A worker's signer, and its certificate's end once an attestation showed it."""

    signer: Signer
    expires: datetime | None = None


class _Batch:
    """Sign files with up to one worker thread per SigningContext; see the comment above."""

    def __init__(
        self,
        dists: Sequence[tuple[Path, Any]],
        identity: Callable[[], str],
        first: IdentityToken,
        outdir: Path,
        renew_before: float,
    ) -> None:
        self._dists = dists
        self._identity = identity
        self._spare: IdentityToken | None = first
        self._outdir = outdir
        self._renew_before = renew_before
        self._lock = threading.Lock()
        self._identity_lock = threading.Lock()
        self._next = 0
        self._failure: BaseException | None = None
        self._written: list[Path | None] = [None] * len(dists)

    def run(self, contexts: Sequence[SigningContext]) -> list[Path]:
        if len(contexts) == 1:
            self._work(contexts[0])
        else:
            threads = [
                threading.Thread(target=self._work, args=(c,), name=f"sign-{n}")
                for n, c in enumerate(contexts)
            ]
            for thread in threads:
                thread.start()
            try:
                for thread in threads:
                    thread.join()
            except BaseException as exc:  # an interrupt: no more files are started
                self._fail(exc)
                raise
        if self._failure is not None:
            raise self._failure
        written = [p for p in self._written if p is not None]
        if len(written) != len(self._dists):
            raise AssertionError("a file was left unsigned without a failure")
        return written

    def _take(self) -> int | None:
        with self._lock:
            if self._failure is not None or self._next == len(self._dists):
                return None
            self._next += 1
            return self._next - 1

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            if self._failure is None:
                self._failure = exc

    def _work(self, context: SigningContext) -> None:
        current: _Current | None = None
        try:
            while (index := self._take()) is not None:
                path, dist = self._dists[index]
                current, self._written[index] = self._sign(context, current, path, dist)
        except BaseException as exc:
            self._fail(exc)

    def _sign(
        self, context: SigningContext, current: _Current | None, path: Path, dist: Any
    ) -> tuple[_Current, Path]:
        if current is None or (
            current.expires is not None
            and (current.expires - datetime.now(UTC)).total_seconds() < self._renew_before
        ):
            current = self._new_signer(context)
        doing = f"Signing {path.name} with Sigstore"
        try:
            attestation = _attest(current.signer, dist, doing)
        except AttestationError as err:
            if current.expires is None or not _expired_certificate(err):
                raise
            # It expired between the check above and sigstore's own (renew_before near
            # 0). sigstore checks before it signs, so nothing was logged: once more.
            current = self._new_signer(context)
            attestation = _attest(current.signer, dist, doing)
        if current.expires is None:
            from cryptography.x509 import load_der_x509_certificate

            certificate = attestation.verification_material.certificate
            current.expires = load_der_x509_certificate(certificate).not_valid_after_utc
        return current, _write(self._outdir / f"{path.name}{SUFFIX}", attestation)

    def _new_signer(self, context: SigningContext) -> _Current:
        """A new key and certificate, from a new token.

        A token serves the one certificate request made right after it is fetched, so
        only the certificate's time left counts; sigstore refuses an expired token.
        """
        from sigstore.sign import Signer

        with self._identity_lock:
            token, self._spare = self._spare or _identity_token(self._identity()), None
        try:
            # cache=True: the key and certificate are made now, and reused until this
            # worker replaces the signer; sigstore raises ExpiredCertificate rather than
            # renew it itself.
            return _Current(Signer(token, context, cache=True))
        except Exception as exc:  # sigstore's service clients raise private types
            raise AttestationError(
                "attestation-certificate-failed",
                f"Requesting a signing certificate from Sigstore failed: {_describe(exc)}",
                _SIGN_HINT,
            ) from exc


def _identity_token(raw: str) -> IdentityToken:
    from sigstore.oidc import IdentityError, IdentityToken

    try:
        return IdentityToken(raw)
    except IdentityError as exc:
        raise AttestationError(
            "attestation-identity-token",
            f"The OIDC token for Sigstore cannot be used: {_describe(exc)}",
            _TOKEN_HINT,
        ) from exc


def _attest(signer: Signer, dist: Any, doing: str) -> Attestation:
    from pypi_attestations import Attestation

    try:
        return Attestation.sign(signer, dist)
    # sigstore's service clients raise their own private exception types (and requests'
    # and pydantic's), so every failure here is reported by its type and message.
    except Exception as exc:
        if _expired_certificate(exc):
            raise AttestationError(
                "attestation-certificate-expired",
                f"{doing} failed: ExpiredCertificate: the signing certificate had expired "
                "before it was used.",
                "Nothing was uploaded. Check the runner's clock: one ahead of Sigstore's "
                "makes a new certificate look expired. Then run the release again.",
            ) from exc
        raise AttestationError(
            "attestation-sign-failed", f"{doing} failed: {_describe(exc)}", _SIGN_HINT
        ) from exc


def _expired_certificate(exc: BaseException | None) -> bool:
    """Whether sigstore's ExpiredCertificate is in the chain (pypi-attestations wraps it)."""
    # sigstore 4.5 raises it from Signer.sign_dsse but exports it only from this private
    # module (pypi-attestations imports it through sigstore.sign, which does not export it).
    from sigstore._internal.fulcio import ExpiredCertificate

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, ExpiredCertificate):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _write(path: Path, attestation: Attestation) -> Path:
    # Written aside and renamed, so a failed run never leaves half an attestation.
    partial = path.with_name(path.name + ".partial")
    partial.write_text(attestation.model_dump_json(), encoding="utf-8")
    os.replace(partial, path)
    return path


def _verifier(config: ClientTrustConfig) -> Verifier:
    from sigstore.errors import Error as SigstoreError
    from sigstore.verify import Verifier

    try:
        return Verifier(trusted_root=config.trusted_root)
    except (SigstoreError, ValueError) as exc:
        raise AttestationError(
            "attestation-trust-root-unusable",
            f"The Sigstore trusted root cannot be used to verify: {_describe(exc)}",
        ) from exc


def _check(
    attestation: Attestation, dist: Path, publisher: Publisher, verifier: Verifier, what: str
) -> str:
    """Verify one attestation of ``dist`` by ``publisher``; return its predicate type."""
    from cryptography.x509 import ExtensionNotFound
    from pypi_attestations import ConversionError
    from sigstore.errors import Error as SigstoreError

    try:
        bundle = attestation.to_bundle()
    except (ConversionError, SigstoreError, ValueError) as exc:
        raise AttestationError(
            "attestation-not-bundle", f"{what} cannot be read as a Sigstore bundle: {exc}"
        ) from exc
    try:
        # The policy raises AttestationError itself, naming the certificate's identity.
        payload_type, payload = verifier.verify_dsse(bundle, _PublisherPolicy(publisher, what))
    except (SigstoreError, ValueError, ExtensionNotFound) as exc:
        raise AttestationError(
            "attestation-invalid",
            f"{what} does not verify against the Sigstore trust root: {exc}",
            "It was not made by this Sigstore instance, or it was altered after signing.",
        ) from exc
    if payload_type != _IN_TOTO:
        raise AttestationError(
            "attestation-not-in-toto", f"{what} holds {payload_type}, not an in-toto statement."
        )
    name, digest, predicate = _statement(payload, what)
    if _dist_key(name) != _dist_key(dist.name):
        raise AttestationError(
            "attestation-wrong-file",
            f"{what} is for {name}, not for {dist.name}.",
            f"Pair each distribution with its own <file>{SUFFIX}.",
        )
    with dist.open("rb") as f:
        actual = hashlib.file_digest(f, "sha256").hexdigest()
    if digest != actual:
        raise AttestationError(
            "attestation-wrong-digest",
            f"{what} is for {name} with sha256 {digest}, but {dist.name} has sha256 {actual}.",
            "The file is not the one that was signed: it changed after signing, "
            "or it was built again. Sign the file that will be uploaded.",
        )
    if predicate not in (PUBLISH_PREDICATE, SLSA_PREDICATE):
        raise AttestationError(
            "attestation-unknown-predicate", f"{what} has an unknown predicate type {predicate}."
        )
    return predicate


def _statement(payload: bytes, what: str) -> tuple[str, str, str]:
    """(subject name, subject sha256, predicate type) of a one-subject in-toto statement."""
    try:
        statement: Any = json.loads(payload)
        subjects = statement["subject"]
        if not isinstance(subjects, list) or len(subjects) != 1:
            raise ValueError("the statement must have exactly one subject")
        name, digest = subjects[0]["name"], subjects[0]["digest"]["sha256"]
        predicate = statement["predicateType"]
        if not all(isinstance(v, str) for v in (name, digest, predicate)):
            raise ValueError("subject name, digest and predicate type must be strings")
    except (ValueError, KeyError, TypeError) as exc:
        raise AttestationError(
            "attestation-statement-malformed", f"{what} holds a malformed statement: {exc}"
        ) from exc
    return name, digest, predicate


def _dist_key(filename: str) -> tuple[object, ...]:
    """A distribution's identity from its file name, as pypi-attestations compares them."""
    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        parse_sdist_filename,
        parse_wheel_filename,
    )

    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)
        if filename.endswith((".tar.gz", ".zip")):
            return parse_sdist_filename(filename)
    except (InvalidSdistFilename, InvalidWheelFilename):
        pass
    return (filename,)


def _same_publisher(named: Any, publisher: Publisher) -> bool:
    env, expected_env = named.environment, publisher.environment
    return bool(
        named.repository == publisher.repository
        and named.workflow == publisher.workflow
        # Unset on either side means unconstrained; GitHub environment names ignore case.
        and (not env or not expected_env or env.casefold() == expected_env.casefold())
    )


def _describe_publisher(named: Any) -> str:
    if getattr(named, "kind", None) == "GitHub":
        return Publisher(named.repository, named.workflow, named.environment).describe()
    return f"a {getattr(named, 'kind', 'unknown')} publisher"


class _PublisherPolicy:
    """sigstore verification policy: PyPI's GitHub trusted publisher rule, with diagnostics."""

    def __init__(self, publisher: Publisher, what: str) -> None:
        self._publisher = publisher
        self._what = what

    def verify(self, cert: Certificate) -> None:
        claims = _claims(cert)
        what, expected = self._what, self._publisher
        issuer = claims.get(_ISSUER)
        if issuer != GITHUB_ISSUER:
            raise AttestationError(
                "attestation-wrong-issuer",
                f"{what} was signed by an identity from {issuer or 'an unnamed issuer'}, "
                f"not by GitHub Actions ({GITHUB_ISSUER}).",
                "Sign from a GitHub Actions workflow with `permissions: id-token: write`.",
            )
        repository = claims.get(_SOURCE_REPOSITORY_URI, "")
        if repository != _GITHUB + expected.repository:
            actual = repository.removeprefix(_GITHUB) or "no repository"
            raise AttestationError(
                "attestation-wrong-repository",
                f"{what} was signed in {actual}, but the expected repository is "
                f"{expected.repository}.",
                f"Release from {expected.repository}, or expect {actual} (and register it "
                "as the trusted publisher on the index).",
            )
        config_uri = claims.get(_BUILD_CONFIG_URI, "")
        suffixes = [
            claims[oid]
            for oid in (_SOURCE_REPOSITORY_DIGEST, _SOURCE_REPOSITORY_REF)
            if oid in claims
        ]
        prefix = f"{_GITHUB}{expected.repository}{_WORKFLOWS}{expected.workflow}@"
        if any(config_uri == prefix + suffix for suffix in suffixes):
            return
        caller = _workflow_file(config_uri)
        signer_uri = claims.get(_BUILD_SIGNER_URI, "")
        if signer_uri and signer_uri != config_uri:
            # A reusable workflow ran the job: the certificate's Build Config URI (and
            # so PyPI's check) names the top-level workflow that called it.
            raise AttestationError(
                "attestation-reusable-workflow",
                f"{what} was signed by a job of the reusable workflow "
                f"{signer_uri.removeprefix(_GITHUB)}, called from "
                f"{config_uri.removeprefix(_GITHUB)}. The certificate names the calling "
                f"workflow {caller}, which is what the index checks, but the expected "
                f"workflow is {expected.workflow}.",
                f"Expect the top-level workflow {caller}, not the reusable workflow "
                f"{_workflow_file(signer_uri)}, and register {caller} as the trusted "
                "publisher's workflow on the index.",
            )
        raise AttestationError(
            "attestation-wrong-workflow",
            f"{what} was signed by the workflow {caller} "
            f"({config_uri.removeprefix(_GITHUB) or 'no Build Config URI'}), but the "
            f"expected workflow is {expected.workflow}.",
            f"Release from {expected.workflow}, or expect {caller} (and register it as "
            "the trusted publisher's workflow on the index).",
        )


def _claims(cert: Certificate) -> dict[str, str]:
    """The Fulcio claims this module reads, decoded (DER UTF8String values)."""
    from cryptography.x509 import ExtensionNotFound, ObjectIdentifier, UnrecognizedExtension

    claims: dict[str, str] = {}
    for oid in (
        _ISSUER,
        _BUILD_SIGNER_URI,
        _SOURCE_REPOSITORY_URI,
        _SOURCE_REPOSITORY_DIGEST,
        _SOURCE_REPOSITORY_REF,
        _BUILD_CONFIG_URI,
    ):
        try:
            ext = cert.extensions.get_extension_for_oid(ObjectIdentifier(oid)).value
        except ExtensionNotFound:
            continue
        if isinstance(ext, UnrecognizedExtension) and (value := _utf8string(ext.value)):
            claims[oid] = value
    return claims


def _utf8string(der: bytes) -> str | None:
    """Decode one DER UTF8String (tag 0x0C); None if it is anything else."""
    if len(der) < 2 or der[0] != 0x0C:
        return None
    length, start = der[1], 2
    if length & 0x80:
        width = length & 0x7F
        if not 0 < width <= 4 or len(der) < 2 + width:
            return None
        length, start = int.from_bytes(der[2 : 2 + width], "big"), 2 + width
    if start + length != len(der):
        return None
    try:
        return der[start:].decode("utf-8")
    except UnicodeDecodeError:
        return None


def _workflow_file(uri: str) -> str:
    """release.yml from https://github.com/o/r/.github/workflows/release.yml@refs/tags/v1."""
    _, found, rest = uri.partition(_WORKFLOWS)
    return rest.partition("@")[0] if found else uri or "an unnamed workflow"


def _describe(exc: BaseException) -> str:
    """The exception's type and message, and its cause's (sigstore often leaves it empty)."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    cause = exc.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text += f" ({type(cause).__name__}: {cause})"
    return text


def _first_error(exc: Any) -> str:
    """The first of pydantic's validation errors, briefly."""
    errors = exc.errors()
    if not errors:
        return str(exc)
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "top level"
    return f"{where}: {first.get('msg', 'invalid')}"


def publish_attestation(provenance: bytes) -> str:
    """The publish attestation in a provenance object verify_provenance passed (it
    holds one, of this very file), as sign() writes one."""
    from pypi_attestations import Provenance

    parsed = Provenance.model_validate_json(provenance)
    for bundle in parsed.attestation_bundles:
        for attestation in bundle.attestations:
            if json.loads(attestation.envelope.statement).get("predicateType") == (
                PUBLISH_PREDICATE
            ):
                return attestation.model_dump_json()
    raise AssertionError("verify_provenance passed a provenance without a publish attestation")
