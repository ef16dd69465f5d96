"""Signing a large matrix (issue 21): certificates renewed before they run out, a fresh
OIDC token for each, files signed side by side.

Everything is real but the services: sigstore's client signs against the local Sigstore
stand-in, whose Fulcio takes tokens from the GitHub OIDC stand-in, fetched through the
product's own ``TrustedPublishing.oidc_token("sigstore")``.

No timing is left to luck. Renewal is decided by the time a certificate has left, so the
stand-in issues the first certificate with less than ``RENEW_BEFORE`` left (it signs one
file, then must be replaced) and the others with a window of 2 to 3 s before they reach
``RENEW_BEFORE`` (a signature takes milliseconds; a slower run only renews more often).
Every certificate still has seconds left when it signs, so none can expire under a slow
signature. Where threads must meet, the log's ``entry_gate`` waits on an event.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from support.oidc import GitHubOIDC
from support.sigstore_local import GITHUB_ISSUER, SigstoreStandIn, refuse_remote_connections

from release import attest
from release.credentials import TrustedPublishing
from release.errors import AttestationError, CredentialError
from release.gha import Console
from release.http import make_session

REPOSITORY = "octo-org/octo-pkg"
PUBLISHER = attest.Publisher(REPOSITORY, "release.yml")
RENEW_BEFORE = 6.0
SHORT = dt.timedelta(seconds=RENEW_BEFORE - 1)  # arrives with 4 to 5 s left: below RENEW_BEFORE
WINDOW = dt.timedelta(seconds=RENEW_BEFORE + 3)  # 2 to 3 s of use before RENEW_BEFORE
EXPIRED = dt.timedelta(0)  # expired when it arrives (second-granular validity)
PYTHONS = ["cp39", "cp310", "cp311", "cp312", "cp313"]
PLATFORMS = [
    "manylinux_2_17_x86_64",
    "manylinux_2_17_aarch64",
    "manylinux_2_17_i686",
    "manylinux_2_17_ppc64le",
    "manylinux_2_17_s390x",
    "manylinux_2_17_armv7l",
    "manylinux_2_28_x86_64",
    "manylinux_2_28_aarch64",
    "musllinux_1_1_x86_64",
    "musllinux_1_1_aarch64",
    "musllinux_1_2_x86_64",
    "musllinux_1_2_aarch64",
    "musllinux_1_2_i686",
    "musllinux_1_2_armv7l",
    "macosx_10_9_x86_64",
    "macosx_11_0_arm64",
    "macosx_10_9_universal2",
    "win_amd64",
    "win32",
    "win_arm64",
]


def short_then_windows(n: int) -> dt.timedelta:
    return SHORT if n == 0 else WINDOW


class Identity:
    """identity() as the pipeline passes it: TrustedPublishing.oidc_token("sigstore"),
    counted. From call ``refuse_from`` on, GitHub's refusal is raised instead."""

    def __init__(self, oidc: GitHubOIDC) -> None:
        self.source = TrustedPublishing(
            repository_url="https://upload.pypi.org/legacy/",
            request_url=oidc.request_url,
            request_token=oidc.request_token,
            project="octo-pkg",
            session=make_session(),
            console=Console(actions=False, stream=io.StringIO()),
        )
        self.calls = 0
        self.refuse_from: int | None = None
        self.refused: list[threading.Thread] = []
        self.first_refusal = threading.Event()
        self.second_call = threading.Event()

    def __call__(self) -> str:
        self.calls += 1  # sign() calls identity() from one thread at a time
        if self.calls == 2:
            self.second_call.set()
        if self.refuse_from is not None and self.calls >= self.refuse_from:
            self.refused.append(threading.current_thread())
            self.first_refusal.set()
            raise CredentialError(
                "oidc-token-refused",
                "GitHub refused the request for the job's OIDC token: 500 Internal Server Error.",
            )
        return self.source.oidc_token("sigstore")


@pytest.fixture
def oidc() -> Iterator[GitHubOIDC]:
    # Tokens as short-lived as a certificate here: each serves one certificate, at once.
    with GitHubOIDC(repository=REPOSITORY, workflow_filename="release.yml", lifetime=20) as s:
        yield s


@pytest.fixture
def standin(oidc: GitHubOIDC) -> Iterator[SigstoreStandIn]:
    with SigstoreStandIn(
        jwks_url=oidc.jwks_url, issuer=oidc.issuer, certificate_issuer=GITHUB_ISSUER
    ) as s:
        yield s


@pytest.fixture
def config(standin: SigstoreStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    attempts = refuse_remote_connections(monkeypatch)
    yield attest.trust_config(standin.write_trust_config(tmp_path / "trust_config.json"))
    assert attempts == []


@pytest.fixture
def identity(oidc: GitHubOIDC) -> Identity:
    return Identity(oidc)


def write_wheel(path: Path, tag: str) -> None:
    """A small wheel as a build backend writes one (its module differs by tag)."""
    info = "octo_pkg-1.0.0.dist-info"
    members = {
        "octo_pkg/__init__.py": f'"""octo-pkg, built for {tag}."""\n__version__ = "1.0.0"\n',
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: octo-pkg\nVersion: 1.0.0\n",
        f"{info}/WHEEL": (
            f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: {tag}\n"
        ),
    }
    record = ""
    for name, text in members.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{name},sha256={digest},{len(data)}\n"
    members[f"{info}/RECORD"] = record + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, text in members.items():
            wheel.writestr(name, text)


def make_wheels(where: Path) -> list[Path]:
    """100 wheels of one release: 5 Pythons x 20 platforms, each with its own bytes."""
    where.mkdir(parents=True)
    files = []
    for python in PYTHONS:
        for platform in PLATFORMS:
            tag = f"{python}-{python}-{platform}"
            path = where / f"octo_pkg-1.0.0-{tag}.whl"
            write_wheel(path, tag)
            files.append(path)
    return files


def certificate_of(attestation: Path) -> x509.Certificate:
    material = json.loads(attestation.read_text())["verification_material"]
    return x509.load_der_x509_certificate(base64.b64decode(material["certificate"]))


def statement_of(attestation: Path) -> Any:
    envelope = json.loads(attestation.read_text())["envelope"]
    return json.loads(base64.b64decode(envelope["statement"]))


def assert_signed_while_valid(standin: SigstoreStandIn) -> None:
    """Each log entry was made while its certificate was valid, to the microsecond."""
    for cert, logged in standin.signed_with:
        assert (
            cert.not_valid_before_utc.timestamp() <= logged < cert.not_valid_after_utc.timestamp()
        )


def test_certificates_are_renewed_mid_way(
    tmp_path: Path,
    config: Any,
    standin: SigstoreStandIn,
    oidc: GitHubOIDC,
    identity: Identity,
) -> None:
    files = make_wheels(tmp_path / "dist")
    standin.certificate_lifetimes = short_then_windows
    outdir = tmp_path / "attestations"

    written = attest.sign(
        files, identity, outdir=outdir, config=config, renew_before=RENEW_BEFORE, workers=1
    )

    assert written == [outdir / f"{f.name}.publish.attestation" for f in files]
    for attestation, dist in zip(written, files, strict=True):
        attest.verify(attestation, dist, PUBLISHER, config=config)
    assert len(standin.entries) == len(files)
    assert_signed_while_valid(standin)

    issued = standin.certificates
    assert len(issued) > 1
    # Each certificate had a token of its own, fetched for it.
    assert identity.calls == len(issued) == len(oidc.issued)
    assert oidc.audiences == ["sigstore"] * len(issued)
    used = [certificate_of(a) for a in written]
    # The first arrived below RENEW_BEFORE: it signed one file and was replaced; the
    # next had a window of seconds, so it signed more than one.
    assert used[0] == issued[0]
    assert used[1] == issued[1] != issued[0]
    assert used.count(issued[0]) == 1
    assert used.count(issued[1]) > 1
    # One after the other: a replaced certificate never comes back.
    runs = [c for i, c in enumerate(used) if i == 0 or c != used[i - 1]]
    assert runs == issued


def test_side_by_side_signs_the_same_files(
    tmp_path: Path, config: Any, standin: SigstoreStandIn, oidc: GitHubOIDC
) -> None:
    files = make_wheels(tmp_path / "dist")
    standin.certificate_lifetimes = short_then_windows
    one = attest.sign(
        files,
        Identity(oidc),
        outdir=tmp_path / "one",
        config=config,
        renew_before=RENEW_BEFORE,
        workers=1,
    )
    # Four workers; the first certificate they get is short-lived again, so one of them
    # renews while the others sign. The log holds the first entry back until a second
    # worker has asked for a token: it has taken a file then, and signs it with its own
    # certificate.
    before = len(standin.certificates)
    standin.certificate_lifetimes = lambda n: SHORT if n == before else WINDOW
    identity = Identity(oidc)
    standin.entry_gate = lambda: assert_set(identity.second_call)
    four = attest.sign(
        files,
        identity,
        outdir=tmp_path / "four",
        config=config,
        renew_before=RENEW_BEFORE,
        workers=4,
    )

    names = [f"{f.name}.publish.attestation" for f in files]
    assert [p.name for p in one] == [p.name for p in four] == names
    for attestation, dist in zip(one + four, files + files, strict=True):
        attest.verify(attestation, dist, PUBLISHER, config=config)
    # The same statement about the same bytes; only the signatures differ.
    assert [statement_of(p) for p in four] == [statement_of(p) for p in one]
    assert len(standin.entries) == 2 * len(files)
    assert_signed_while_valid(standin)
    used = {certificate_of(p) for p in four}
    assert len(used) >= 2
    assert used <= set(standin.certificates[before:])
    assert identity.calls == len(standin.certificates) - before


def assert_set(event: threading.Event) -> None:
    assert event.wait(30)


def test_a_certificate_expired_on_arrival_is_not_used(
    tmp_path: Path, config: Any, standin: SigstoreStandIn, identity: Identity
) -> None:
    """Without renewal (renew_before 0): a certificate that is expired when it arrives
    (a runner clock ahead of Fulcio's) stops the signing with a clear error; it signs
    nothing, and no new certificate is asked for in a loop."""
    files = make_wheels(tmp_path / "dist")[:3]
    standin.certificate_lifetime = EXPIRED
    outdir = tmp_path / "attestations"
    with pytest.raises(AttestationError) as err:
        attest.sign(files, identity, outdir=outdir, config=config, renew_before=0, workers=1)
    assert err.value.code == "attestation-certificate-expired"
    assert err.value.message == (
        f"Signing {files[0].name} with Sigstore failed: ExpiredCertificate: the signing "
        "certificate had expired before it was used."
    )
    assert err.value.hint.startswith("Nothing was uploaded. Check the runner's clock")
    assert standin.entries == []
    assert len(standin.certificates) == identity.calls == 1
    assert list(outdir.iterdir()) == []


def test_a_renewal_that_brings_an_expired_certificate_stops_there(
    tmp_path: Path, config: Any, standin: SigstoreStandIn, identity: Identity
) -> None:
    files = make_wheels(tmp_path / "dist")[:5]
    standin.certificate_lifetimes = lambda n: SHORT if n == 0 else EXPIRED
    outdir = tmp_path / "attestations"
    with pytest.raises(AttestationError) as err:
        attest.sign(
            files, identity, outdir=outdir, config=config, renew_before=RENEW_BEFORE, workers=1
        )
    assert err.value.message == (
        f"Signing {files[1].name} with Sigstore failed: ExpiredCertificate: the signing "
        "certificate had expired before it was used."
    )
    # The first file was signed with the first certificate; the expired one signed
    # nothing, and nothing was started after it.
    assert len(standin.entries) == 1
    assert_signed_while_valid(standin)
    assert [p.name for p in outdir.iterdir()] == [f"{files[0].name}.publish.attestation"]
    attest.verify(
        outdir / f"{files[0].name}.publish.attestation", files[0], PUBLISHER, config=config
    )
    assert len(standin.certificates) == identity.calls == 2


def test_the_first_failure_stops_the_rest_and_is_raised(
    tmp_path: Path, config: Any, standin: SigstoreStandIn, identity: Identity
) -> None:
    """Four workers: the first call of identity() (before the workers start) passes, every
    later one is refused. The worker that got the first token signs one file; the log
    holds its entry back until a refused worker has ended, so its failure is recorded
    before that worker could take another file."""
    files = make_wheels(tmp_path / "dist")
    identity.refuse_from = 2

    def gate() -> None:
        assert identity.first_refusal.wait(30)
        identity.refused[0].join(30)

    standin.entry_gate = gate
    outdir = tmp_path / "attestations"
    with pytest.raises(CredentialError) as err:
        attest.sign(
            files, identity, outdir=outdir, config=config, renew_before=RENEW_BEFORE, workers=4
        )
    assert err.value.code == "oidc-token-refused"
    assert err.value.message == (
        "GitHub refused the request for the job's OIDC token: 500 Internal Server Error."
    )
    assert len(standin.entries) == 1
    [attestation] = outdir.iterdir()
    dist = next(f for f in files if f"{f.name}.publish.attestation" == attestation.name)
    attest.verify(attestation, dist, PUBLISHER, config=config)
    assert len(standin.certificates) == 1
    # sign() returned once every worker had ended.
    assert not [t for t in threading.enumerate() if t.name.startswith("sign-")]
