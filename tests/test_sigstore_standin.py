"""Sign for real through sigstore's client against the local stand-in, then verify.

Nothing here is stubbed on the signing side: sigstore-python requests a certificate from
the stand-in's Fulcio, checks its SCT, submits a DSSE entry to its Rekor v1 log, and
release.attest verifies the result with the stand-in's trusted root. The OIDC tokens come
from a minimal RS256 issuer below, with a JWKS the stand-in fetches; it can be swapped for
any GitHub OIDC stand-in that serves a JWKS.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from support.sigstore_local import GITHUB_ISSUER, SigstoreStandIn, refuse_remote_connections

from release import attest
from release.errors import AttestationError

REPOSITORY = "octo-org/octo-pkg"
REF = "refs/tags/v1.0.0"
SHA = "5f0c9a1e2b3d4c5e6f708192a3b4c5d6e7f80912"
RIGHT = attest.Publisher(REPOSITORY, "release.yml")


class TokenIssuer:
    """RS256 tokens with GitHub Actions' claim set, and the JWKS that verifies them."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def mint(
        self,
        *,
        workflow: str = "release.yml",
        job_workflow_ref: str | None = None,
        repository: str = REPOSITORY,
        **overrides: Any,
    ) -> str:
        now = int(time.time())
        workflow_ref = f"{repository}/.github/workflows/{workflow}@{REF}"
        claims: dict[str, Any] = {
            "iss": GITHUB_ISSUER,
            "aud": "sigstore",
            "sub": f"repo:{repository}:ref:{REF}",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": str(uuid.uuid4()),
            "repository": repository,
            "repository_id": "123456",
            "repository_owner": repository.split("/")[0],
            "repository_owner_id": "654321",
            "repository_visibility": "public",
            "workflow": "Release",
            "workflow_ref": workflow_ref,
            "workflow_sha": SHA,
            "job_workflow_ref": job_workflow_ref or workflow_ref,
            "job_workflow_sha": SHA,
            "ref": REF,
            "ref_type": "tag",
            "sha": SHA,
            "event_name": "push",
            "run_id": "42",
            "run_attempt": "1",
            "runner_environment": "github-hosted",
        }
        claims.update(overrides)
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture(scope="module")
def issuer() -> TokenIssuer:
    return TokenIssuer()


@pytest.fixture(scope="module")
def jwks_url(issuer: TokenIssuer) -> Iterator[str]:
    body = json.dumps(issuer.jwks).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def standin(jwks_url: str) -> Iterator[SigstoreStandIn]:
    with SigstoreStandIn(jwks_url=jwks_url) as s:
        yield s


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """No network beyond 127.0.0.1, and sigstore's caches in a fresh directory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return refuse_remote_connections(monkeypatch)


@pytest.fixture
def config(standin: SigstoreStandIn, tmp_path: Path, offline: list[str]) -> Any:
    """The product's view of the stand-in: its trust config file, loaded by release.attest."""
    return attest.trust_config(standin.write_trust_config(tmp_path / "trust_config.json"))


def make_dists(where: Path, *names: str) -> list[Path]:
    where.mkdir(parents=True, exist_ok=True)
    files = []
    for name in names:
        (where / name).write_bytes(f"contents of {name}\n".encode())
        files.append(where / name)
    return files


def sign_one(tmp_path: Path, config: Any, token: str) -> tuple[Path, Path]:
    [dist] = make_dists(tmp_path / "dist", "octo_pkg-1.0.0.tar.gz")
    [attestation] = attest.sign(
        [dist], lambda: token, outdir=tmp_path / "attestations", config=config
    )
    return attestation, dist


def test_sign_then_verify(
    tmp_path: Path, config: Any, issuer: TokenIssuer, standin: SigstoreStandIn, offline: list[str]
) -> None:
    files = make_dists(
        tmp_path / "dist", "octo_pkg-1.0.0.tar.gz", "octo_pkg-1.0.0-py3-none-any.whl"
    )
    entries_before = len(standin.entries)
    written = attest.sign(files, issuer.mint, outdir=tmp_path / "attestations", config=config)

    assert [p.name for p in written] == [
        "octo_pkg-1.0.0.tar.gz.publish.attestation",
        "octo_pkg-1.0.0-py3-none-any.whl.publish.attestation",
    ]
    assert all(p.parent == tmp_path / "attestations" for p in written)
    assert sorted(p.name for p in (tmp_path / "dist").iterdir()) == sorted(f.name for f in files)
    # One transparency-log entry per file, each a DSSE entry over its statement.
    assert len(standin.entries) == entries_before + 2
    for entry in standin.entries[-2:]:
        assert json.loads(base64.b64decode(entry["body"]))["kind"] == "dsse"
    for attestation, dist in zip(written, files, strict=True):
        attest.verify(attestation, dist, RIGHT, config=config)
        statement = json.loads(
            base64.b64decode(json.loads(attestation.read_text())["envelope"]["statement"])
        )
        assert statement["subject"][0]["name"] == dist.name
        assert statement["predicateType"] == attest.PUBLISH_PREDICATE
    assert offline == []


def test_the_certificate_names_the_token_identity(
    tmp_path: Path, config: Any, issuer: TokenIssuer, standin: SigstoreStandIn
) -> None:
    attestation, _ = sign_one(tmp_path, config, issuer.mint())
    material = json.loads(attestation.read_text())["verification_material"]
    cert = x509.load_der_x509_certificate(base64.b64decode(material["certificate"]))
    assert cert == standin.certificates[-1]
    workflow_uri = f"https://github.com/{REPOSITORY}/.github/workflows/release.yml@{REF}"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical
    assert san.value.get_values_for_type(x509.UniformResourceIdentifier) == [workflow_uri]

    def claim(n: int) -> bytes:
        oid = x509.ObjectIdentifier(f"1.3.6.1.4.1.57264.1.{n}")
        value = cert.extensions.get_extension_for_oid(oid).value
        assert isinstance(value, x509.UnrecognizedExtension)
        return value.value

    def utf8(text: str) -> bytes:
        return b"\x0c" + bytes([len(text)]) + text.encode()

    assert claim(1) == GITHUB_ISSUER.encode()  # the deprecated raw form
    assert claim(8) == utf8(GITHUB_ISSUER)
    assert claim(9) == utf8(workflow_uri)
    assert claim(12) == utf8(f"https://github.com/{REPOSITORY}")
    assert claim(13) == utf8(SHA)
    assert claim(14) == utf8(REF)
    assert claim(18) == utf8(workflow_uri)
    assert claim(21) == utf8(f"https://github.com/{REPOSITORY}/actions/runs/42/attempts/1")
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(minutes=10)


def test_wrong_workflow(tmp_path: Path, config: Any, issuer: TokenIssuer) -> None:
    attestation, dist = sign_one(tmp_path, config, issuer.mint())
    with pytest.raises(AttestationError) as err:
        attest.verify(attestation, dist, attest.Publisher(REPOSITORY, "publish.yml"), config=config)
    assert err.value.code == "attestation-wrong-workflow"
    assert err.value.message == (
        "The attestation octo_pkg-1.0.0.tar.gz.publish.attestation was signed by the workflow "
        f"release.yml ({REPOSITORY}/.github/workflows/release.yml@{REF}), but the expected "
        "workflow is publish.yml."
    )
    assert err.value.hint == (
        "Release from publish.yml, or expect release.yml (and register it as the trusted "
        "publisher's workflow on the index)."
    )


def test_wrong_repository(tmp_path: Path, config: Any, issuer: TokenIssuer) -> None:
    attestation, dist = sign_one(tmp_path, config, issuer.mint(repository="fork/octo-pkg"))
    with pytest.raises(AttestationError) as err:
        attest.verify(attestation, dist, RIGHT, config=config)
    assert err.value.code == "attestation-wrong-repository"
    assert err.value.message == (
        "The attestation octo_pkg-1.0.0.tar.gz.publish.attestation was signed in "
        f"fork/octo-pkg, but the expected repository is {REPOSITORY}."
    )


def test_reusable_workflow(tmp_path: Path, config: Any, issuer: TokenIssuer) -> None:
    # release.yml calls a reusable workflow in another repository, whose job signs.
    reusable = "octo-org/shared-workflows/.github/workflows/pypi-publish.yml@refs/heads/main"
    token = issuer.mint(workflow="release.yml", job_workflow_ref=reusable)
    attestation, dist = sign_one(tmp_path, config, token)

    with pytest.raises(AttestationError) as err:
        attest.verify(
            attestation, dist, attest.Publisher(REPOSITORY, "pypi-publish.yml"), config=config
        )
    assert err.value.code == "attestation-reusable-workflow"
    assert err.value.message == (
        "The attestation octo_pkg-1.0.0.tar.gz.publish.attestation was signed by a job of the "
        f"reusable workflow {reusable}, called from "
        f"{REPOSITORY}/.github/workflows/release.yml@{REF}. The certificate names the calling "
        "workflow release.yml, which is what the index checks, but the expected workflow is "
        "pypi-publish.yml."
    )
    assert err.value.hint == (
        "Expect the top-level workflow release.yml, not the reusable workflow "
        "pypi-publish.yml, and register release.yml as the trusted publisher's workflow on "
        "the index."
    )
    # PyPI's rule: the calling workflow is the publisher.
    attest.verify(attestation, dist, RIGHT, config=config)


def test_another_file(tmp_path: Path, config: Any, issuer: TokenIssuer) -> None:
    attestation, dist = sign_one(tmp_path, config, issuer.mint())
    dist.write_bytes(b"rebuilt\n")
    with pytest.raises(AttestationError) as err:
        attest.verify(attestation, dist, RIGHT, config=config)
    assert err.value.code == "attestation-wrong-digest"
    assert err.value.message.startswith(
        "The attestation octo_pkg-1.0.0.tar.gz.publish.attestation is for "
        "octo_pkg-1.0.0.tar.gz with sha256 "
    )


def test_altered_statement_fails(tmp_path: Path, config: Any, issuer: TokenIssuer) -> None:
    attestation, dist = sign_one(tmp_path, config, issuer.mint())
    doc = json.loads(attestation.read_text())
    statement = json.loads(base64.b64decode(doc["envelope"]["statement"]))
    statement["subject"][0]["digest"]["sha256"] = "0" * 64
    doc["envelope"]["statement"] = base64.b64encode(json.dumps(statement).encode()).decode()
    attestation.write_text(json.dumps(doc))
    with pytest.raises(AttestationError) as err:
        attest.verify(attestation, dist, RIGHT, config=config)
    assert err.value.code == "attestation-invalid"
    assert err.value.message.startswith(
        "The attestation octo_pkg-1.0.0.tar.gz.publish.attestation does not verify against "
        "the Sigstore trust root: "
    )


def test_trust_roots_do_not_mix(tmp_path: Path, config: Any, issuer: TokenIssuer) -> None:
    """The stand-in's attestations fail against the public root, and the other way round."""
    attestation, dist = sign_one(tmp_path, config, issuer.mint())
    public = attest.trust_config(None, offline=True)
    with pytest.raises(AttestationError) as err:
        attest.verify(attestation, dist, RIGHT, config=public)
    assert err.value.code == "attestation-invalid"

    recorded = Path(__file__).resolve().parent / "data" / "attestations"
    with pytest.raises(AttestationError) as err:
        attest.verify(
            recorded / "pypi_attestations-0.0.19.tar.gz.publish.attestation",
            recorded / "pypi_attestations-0.0.19.tar.gz",
            attest.Publisher("trailofbits/pypi-attestations", "release.yml"),
            config=config,
        )
    assert err.value.code == "attestation-invalid"


def test_many_entries_each_carry_a_valid_proof(
    tmp_path: Path, config: Any, issuer: TokenIssuer
) -> None:
    # Trees of several sizes: the inclusion proofs have inner and border parts.
    names = [f"octo_pkg-1.0.{i}.tar.gz" for i in range(7)]
    files = make_dists(tmp_path / "dist", *names)
    written = attest.sign(files, issuer.mint, outdir=tmp_path / "out", config=config)
    for attestation, dist in zip(written, files, strict=True):
        attest.verify(attestation, dist, RIGHT, config=config)


def test_token_for_another_audience(tmp_path: Path, config: Any, issuer: TokenIssuer) -> None:
    [dist] = make_dists(tmp_path / "dist", "octo_pkg-1.0.0.tar.gz")
    with pytest.raises(AttestationError) as err:
        attest.sign([dist], lambda: issuer.mint(aud="pypi"), outdir=tmp_path / "out", config=config)
    assert err.value.code == "attestation-identity-token"
    assert err.value.message == (
        "The OIDC token for Sigstore cannot be used: IdentityError: Identity token is "
        "malformed or missing claims (InvalidAudienceError: Audience doesn't match)"
    )
    assert err.value.hint == (
        "Request the token for Sigstore with the audience 'sigstore' (the job needs "
        "`permissions: id-token: write`)."
    )
    assert not (tmp_path / "out").exists()


def test_token_from_an_unknown_key(tmp_path: Path, config: Any, standin: SigstoreStandIn) -> None:
    """The stand-in's Fulcio verifies the token's signature, as Fulcio does."""
    [dist] = make_dists(tmp_path / "dist", "octo_pkg-1.0.0.tar.gz")
    stranger = TokenIssuer()
    issued = len(standin.certificates)
    with pytest.raises(AttestationError) as err:
        attest.sign([dist], stranger.mint, outdir=tmp_path / "out", config=config)
    assert err.value.code == "attestation-certificate-failed"
    assert err.value.message.startswith(
        "Requesting a signing certificate from Sigstore failed: FulcioClientError"
    )
    assert "401 Client Error" in err.value.message
    assert len(standin.certificates) == issued


def test_public_key_instead_of_jwks(
    tmp_path: Path, issuer: TokenIssuer, offline: list[str]
) -> None:
    with SigstoreStandIn(public_key=issuer.key.public_key()) as s:
        config = attest.trust_config(s.write_trust_config(tmp_path / "trust.json"))
        attestation, dist = sign_one(tmp_path, config, issuer.mint())
        attest.verify(attestation, dist, RIGHT, config=config)
    assert offline == []


def test_trust_config_errors(tmp_path: Path) -> None:
    with pytest.raises(AttestationError) as err:
        attest.trust_config(tmp_path / "missing.json")
    assert err.value.code == "attestation-trust-config-unreadable"
    assert err.value.message == (
        f"The Sigstore trust config {tmp_path / 'missing.json'} cannot be read: "
        "No such file or directory."
    )
    (tmp_path / "bad.json").write_text('{"mediaType": "nonsense"}')
    with pytest.raises(AttestationError) as err:
        attest.trust_config(tmp_path / "bad.json")
    assert err.value.code == "attestation-trust-config-invalid"
    assert err.value.message.startswith(
        f"The Sigstore trust config {tmp_path / 'bad.json'} is not valid: "
    )
