"""A Sigstore stand-in on 127.0.0.1: a Fulcio-like CA and a Rekor-v1-like transparency log.

sigstore-python takes every service URL and trust anchor from a client trust config
(``trustedRoot`` + ``signingConfig``), so pointing it here needs no patching:
``write_trust_config(path)`` writes one that names this server and its keys.

What sigstore-python checks, and so what this serves (read from sigstore 4.x,
``sign.py``, ``verify/verifier.py``, ``models.py``, ``_internal/sct.py``):

- Fulcio ``POST /api/v2/signingCert``: a leaf certificate chaining to a CA in the trusted
  root, with key usage digitalSignature, EKU codeSigning, the identity as a critical URI
  SAN, GitHub's Fulcio claim extensions (1.3.6.1.4.1.57264.1.*), and exactly one embedded
  precertificate SCT signed by a CT log key in the trusted root (checked when signing and
  when verifying).
- Rekor v1 ``POST /api/v1/log/entries``: the integrated entry with an RFC 6962 inclusion
  proof, a checkpoint (signed note) over the root hash, and a signed entry timestamp over
  the canonical entry; the integrated time is the verifier's only signed time here, so
  no timestamp authority is needed.

The OIDC token sent to Fulcio is verified like Fulcio does: RS256 signature against a
JWKS URL or a public key, issuer, audience ``sigstore``, validity period.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.server
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jwt
import rfc8785
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
SIGSTORE_AUDIENCE = "sigstore"
MAX_BODY = 1 << 20  # requests larger than this are refused, not read
MAX_ENTRIES = 10_000  # the log refuses entries beyond this: bounds proof building
_DER = serialization.Encoding.DER
_REQUIRED_CLAIMS = ("repository", "workflow_ref", "job_workflow_ref", "ref", "sha")
_SCT_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")


def _oid(n: int) -> x509.ObjectIdentifier:
    return x509.ObjectIdentifier(f"1.3.6.1.4.1.57264.1.{n}")


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _der_utf8(value: str) -> bytes:
    data = value.encode()
    return b"\x0c" + _der_length(len(data)) + data


def _spki(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _key_id(key: PublicKeyTypes) -> bytes:
    """RFC 6962 key ID, as sigstore computes it: sha256 over the DER SubjectPublicKeyInfo."""
    return hashlib.sha256(_spki(key)).digest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- RFC 6962 Merkle tree ---------------------------------------------------------------


def _leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (RFC 6962 section 2.1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _root(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return _node_hash(_root(leaves[:k]), _root(leaves[k:]))


def _audit_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """The inclusion proof for leaves[index], lowest level first (RFC 6962 2.1.1)."""
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*_audit_path(index, leaves[:k]), _root(leaves[k:])]
    return [*_audit_path(index - k, leaves[k:]), _root(leaves[:k])]


class StandInError(Exception):
    """A request the stand-in refuses: answered with this status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SigstoreStandIn:
    """Fulcio + Rekor v1 on one local port; keys are made fresh for each instance.

    ``jwks_url`` or ``public_key`` verifies the OIDC tokens sent to Fulcio (exactly one).
    ``issuer`` is the ``iss`` a token must carry; ``certificate_issuer`` is what the
    certificates then name as the OIDC issuer (default: the token's ``iss``), so that a
    local OIDC stand-in with its own URL can still produce GitHub-shaped certificates.
    ``certificate_lifetimes``, when set, gives the lifetime of the n-th certificate
    (from 0) instead of ``certificate_lifetime``; both may be changed between requests.
    A lifetime of 0 makes a certificate that has expired when it arrives.
    """

    def __init__(
        self,
        *,
        jwks_url: str | None = None,
        public_key: PublicKeyTypes | None = None,
        issuer: str = GITHUB_ISSUER,
        certificate_issuer: str | None = None,
        certificate_lifetime: dt.timedelta = dt.timedelta(minutes=10),
        certificate_lifetimes: Callable[[int], dt.timedelta] | None = None,
    ) -> None:
        if (jwks_url is None) == (public_key is None):
            raise ValueError("give exactly one of jwks_url and public_key")
        self._jwks = jwt.PyJWKClient(jwks_url, timeout=10) if jwks_url else None
        self._public_key = public_key
        self.issuer = issuer
        self.certificate_issuer = certificate_issuer
        self.certificate_lifetime = certificate_lifetime
        self.certificate_lifetimes = certificate_lifetimes

        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        # Everything is valid from a day ago, so clock skew and second rounding never
        # put a fresh certificate or log entry before its trust anchor's start.
        self.valid_from = now - dt.timedelta(days=1)
        self._ca_key = ec.generate_private_key(ec.SECP256R1())
        self._ct_key = ec.generate_private_key(ec.SECP256R1())
        self._log_key = ec.generate_private_key(ec.SECP256R1())
        self.ca_certificate = self._make_root()
        self.log_id = _key_id(self._log_key.public_key())
        self.tree_id = int.from_bytes(self.log_id[:8], "big") >> 1

        self._lock = threading.Lock()
        self._leaves: list[bytes] = []
        self.entries: list[dict[str, Any]] = []  # the integrated entries, in log order
        self.certificates: list[x509.Certificate] = []  # every certificate issued
        self._issued = 0  # certificate requests that got as far as being issued
        # Each log entry's certificate (its verifier), and when (time.time()) it was logged.
        self.signed_with: list[tuple[x509.Certificate, float]] = []
        # Called before each log entry is made: a test can hold the log back with it.
        self.entry_gate: Callable[[], None] | None = None

        standin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep pytest output clean

            def do_POST(self) -> None:
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                    if not 0 <= length <= MAX_BODY:
                        raise StandInError(413, "request body missing or too large")
                    body = self.rfile.read(length)
                    if self.path == "/api/v2/signingCert":
                        status, payload = standin._signing_cert(
                            self.headers.get("Authorization", ""), body
                        )
                    elif self.path == "/api/v1/log/entries":
                        status, payload = standin._create_entry(body)
                    else:
                        raise StandInError(404, f"no such endpoint: {self.path}")
                except StandInError as exc:
                    status, payload = exc.status, {"code": exc.status, "message": exc.message}
                except Exception as exc:
                    # A bug in the stand-in: answer it, so the client fails with a reason.
                    status, payload = 500, {"code": 500, "message": f"{type(exc).__name__}: {exc}"}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    # --- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> SigstoreStandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- trust config -------------------------------------------------------------------

    def _tlog(self, url: str, key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
        return {
            "baseUrl": url,
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": _b64(_spki(key.public_key())),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": {"start": _rfc3339(self.valid_from)},
            },
            "logId": {"keyId": _b64(_key_id(key.public_key()))},
        }

    def trusted_root(self) -> dict[str, Any]:
        """The trusted root (protobuf-specs JSON) naming this CA, CT log and log."""
        return {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [self._tlog(self.url, self._log_key)],
            "certificateAuthorities": [
                {
                    "subject": {"organization": "local", "commonName": "sigstore-local"},
                    "uri": self.url,
                    "certChain": {
                        "certificates": [{"rawBytes": _b64(self.ca_certificate.public_bytes(_DER))}]
                    },
                    "validFor": {"start": _rfc3339(self.valid_from)},
                }
            ],
            "ctlogs": [self._tlog(self.url + "/ct", self._ct_key)],
            "timestampAuthorities": [],
        }

    def signing_config(self) -> dict[str, Any]:
        """The signing config: this server as Fulcio and Rekor v1, no TSA, no OIDC."""
        service = {
            "url": self.url,
            "majorApiVersion": 1,
            "validFor": {"start": _rfc3339(self.valid_from)},
            "operator": "local",
        }
        return {
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": [service],
            "oidcUrls": [],
            "rekorTlogUrls": [service],
            "tsaUrls": [],
            "rekorTlogConfig": {"selector": "ANY"},
            "tsaConfig": {"selector": "ANY"},
        }

    def trust_config(self) -> dict[str, Any]:
        return {
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": self.trusted_root(),
            "signingConfig": self.signing_config(),
        }

    def write_trust_config(self, path: Path) -> Path:
        """Write the client trust config (for signing and verifying) to ``path``."""
        path.write_text(json.dumps(self.trust_config(), indent=2))
        return path

    # --- Fulcio -------------------------------------------------------------------------

    def _make_root(self) -> x509.Certificate:
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "local"),
                x509.NameAttribute(NameOID.COMMON_NAME, "sigstore-local"),
            ]
        )
        public = self._ca_key.public_key()
        return (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.valid_from)
            .not_valid_after(self.valid_from + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False
            )
            .sign(self._ca_key, hashes.SHA256())
        )

    def _verify_token(self, authorization: str) -> dict[str, Any]:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise StandInError(401, "missing bearer token")
        try:
            key: Any = (
                self._jwks.get_signing_key_from_jwt(token).key
                if self._jwks is not None
                else self._public_key
            )
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=SIGSTORE_AUDIENCE,
                issuer=self.issuer,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.PyJWTError as exc:
            raise StandInError(401, f"invalid identity token: {exc}") from exc
        # Fulcio's GitHub issuer type needs these to fill the certificate.
        missing = [c for c in _REQUIRED_CLAIMS if not claims.get(c)]
        if missing:
            raise StandInError(400, f"token lacks GitHub claims: {', '.join(missing)}")
        return claims

    def _claim_extensions(self, claims: Mapping[str, Any]) -> list[x509.Extension[Any]]:
        """GitHub's Fulcio extensions, as Fulcio derives them from the token's claims.

        See https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md; 1.1 to 1.6 are
        the deprecated raw-string forms, 1.8 on are DER UTF8Strings.
        """
        server = "https://github.com"
        repository = str(claims["repository"])
        issuer = self.certificate_issuer or str(claims["iss"])
        raw: dict[int, str | None] = {
            1: issuer,
            2: claims.get("event_name"),
            3: claims["sha"],
            4: claims.get("workflow"),
            5: repository,
            6: claims["ref"],
        }
        run_id, attempt = claims.get("run_id"), claims.get("run_attempt")
        der: dict[int, str | None] = {
            8: issuer,
            9: f"{server}/{claims['job_workflow_ref']}",
            10: claims.get("job_workflow_sha"),
            11: claims.get("runner_environment"),
            12: f"{server}/{repository}",
            13: claims["sha"],
            14: claims["ref"],
            15: claims.get("repository_id"),
            16: f"{server}/{claims.get('repository_owner') or repository.split('/')[0]}",
            17: claims.get("repository_owner_id"),
            18: f"{server}/{claims['workflow_ref']}",
            19: claims.get("workflow_sha"),
            20: claims.get("event_name"),
            21: (
                f"{server}/{repository}/actions/runs/{run_id}/attempts/{attempt}"
                if run_id and attempt
                else None
            ),
            22: claims.get("repository_visibility"),
        }
        extensions = [
            x509.Extension(_oid(n), False, x509.UnrecognizedExtension(_oid(n), str(v).encode()))
            for n, v in raw.items()
            if v is not None
        ]
        extensions += [
            x509.Extension(_oid(n), False, x509.UnrecognizedExtension(_oid(n), _der_utf8(str(v))))
            for n, v in der.items()
            if v is not None
        ]
        return extensions

    def _sct_extension(self, precert_tbs: bytes, when: dt.datetime) -> x509.UnrecognizedExtension:
        """An embedded precertificate SCT (RFC 6962 3.2), signed by the local CT key."""
        timestamp = int(when.timestamp() * 1000)
        issuer_key_hash = _key_id(self._ca_key.public_key())
        signed = (
            struct.pack("!BBQH", 0, 0, timestamp, 1)  # v1, certificate_timestamp, precert
            + issuer_key_hash
            + len(precert_tbs).to_bytes(3, "big")
            + precert_tbs
            + struct.pack("!H", 0)  # no extensions
        )
        signature = self._ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        sct = (
            struct.pack("!B", 0)
            + _key_id(self._ct_key.public_key())
            + struct.pack("!QH", timestamp, 0)
            + struct.pack("!BBH", 4, 3, len(signature))  # sha256, ecdsa
            + signature
        )
        sct_list = struct.pack("!HH", len(sct) + 2, len(sct)) + sct
        # The extension's value is an OCTET STRING wrapping the TLS-encoded list.
        return x509.UnrecognizedExtension(_SCT_OID, b"\x04" + _der_length(len(sct_list)) + sct_list)

    def _issue(
        self, csr: x509.CertificateSigningRequest, claims: Mapping[str, Any]
    ) -> x509.Certificate:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        with self._lock:
            number, self._issued = self._issued, self._issued + 1
        lifetimes = self.certificate_lifetimes
        lifetime = lifetimes(number) if lifetimes is not None else self.certificate_lifetime
        ca_public = self._ca_key.public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.ca_certificate.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + lifetime)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public), False)
            .add_extension(
                # No subject, so the SAN is critical (RFC 5280 4.2.1.6), as Fulcio does.
                x509.SubjectAlternativeName(
                    [
                        x509.UniformResourceIdentifier(
                            f"https://github.com/{claims['job_workflow_ref']}"
                        )
                    ]
                ),
                critical=True,
            )
        )
        for extension in self._claim_extensions(claims):
            builder = builder.add_extension(extension.value, extension.critical)
        # The SCT signs the certificate without its SCT list; adding the list last keeps
        # the TBS otherwise identical, which is what verifiers reconstruct.
        precert = builder.sign(self._ca_key, hashes.SHA256())
        builder = builder.add_extension(
            self._sct_extension(precert.tbs_certificate_bytes, now), critical=False
        )
        cert = builder.sign(self._ca_key, hashes.SHA256())
        if cert.tbs_precertificate_bytes != precert.tbs_certificate_bytes:
            raise AssertionError("SCT would not verify: precertificate TBS differs")
        return cert

    def _signing_cert(self, authorization: str, body: bytes) -> tuple[int, dict[str, Any]]:
        claims = self._verify_token(authorization)
        try:
            request = json.loads(body)
            csr = x509.load_pem_x509_csr(base64.b64decode(request["certificateSigningRequest"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise StandInError(400, f"bad certificate signing request: {exc}") from exc
        if not csr.is_signature_valid:
            # The CSR's signature is the proof of possession of the private key.
            raise StandInError(400, "certificate signing request signature is invalid")
        cert = self._issue(csr, claims)
        with self._lock:
            self.certificates.append(cert)
        chain = [
            c.public_bytes(serialization.Encoding.PEM).decode() for c in (cert, self.ca_certificate)
        ]
        return 201, {"signedCertificateEmbeddedSct": {"chain": {"certificates": chain}}}

    # --- Rekor v1 -----------------------------------------------------------------------

    @staticmethod
    def _certificate(b64_pem: str) -> x509.Certificate:
        try:
            return x509.load_pem_x509_certificate(base64.b64decode(b64_pem))
        except ValueError as exc:
            raise StandInError(400, f"bad verifier certificate: {exc}") from exc

    def _integrate_dsse(self, spec: Mapping[str, Any]) -> tuple[dict[str, Any], x509.Certificate]:
        """A dsse/0.0.1 proposal becomes the stored form: hashes plus signatures."""
        content = spec["proposedContent"]
        raw_envelope: str = content["envelope"]
        envelope = json.loads(raw_envelope)
        verifiers: list[str] = content["verifiers"]
        payload = base64.b64decode(envelope["payload"])
        payload_type: str = envelope["payloadType"]
        pae = b"DSSEv1 %d %b %d %b" % (
            len(payload_type),
            payload_type.encode(),
            len(payload),
            payload,
        )
        signatures = []
        certificate = self._certificate(verifiers[0])
        for sig in envelope["signatures"]:
            key = certificate.public_key()
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise StandInError(400, "only ECDSA verifiers are supported")
            try:
                key.verify(base64.b64decode(sig["sig"]), pae, ec.ECDSA(hashes.SHA256()))
            except InvalidSignature as exc:
                raise StandInError(400, "DSSE signature does not verify") from exc
            signatures.append({"signature": sig["sig"], "verifier": verifiers[0]})
        stored = {
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {
                    "algorithm": "sha256",
                    "value": hashlib.sha256(raw_envelope.encode()).hexdigest(),
                },
                "payloadHash": {
                    "algorithm": "sha256",
                    "value": hashlib.sha256(payload).hexdigest(),
                },
                "signatures": signatures,
            },
        }
        return stored, certificate

    def _integrate_hashedrekord(
        self, proposed: Mapping[str, Any]
    ) -> tuple[Mapping[str, Any], x509.Certificate]:
        spec = proposed["spec"]
        certificate = self._certificate(spec["signature"]["publicKey"]["content"])
        key = certificate.public_key()
        digest = bytes.fromhex(spec["data"]["hash"]["value"])
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise StandInError(400, "only ECDSA verifiers are supported")
        try:
            key.verify(
                base64.b64decode(spec["signature"]["content"]),
                digest,
                ec.ECDSA(Prehashed(hashes.SHA256())),
            )
        except InvalidSignature as exc:
            raise StandInError(400, "hashedrekord signature does not verify") from exc
        return proposed, certificate

    def _create_entry(self, body: bytes) -> tuple[int, dict[str, Any]]:
        if self.entry_gate is not None:
            self.entry_gate()
        try:
            proposed = json.loads(body)
            kind = (proposed["kind"], proposed["apiVersion"])
            stored: Mapping[str, Any]
            if kind == ("dsse", "0.0.1"):
                stored, certificate = self._integrate_dsse(proposed["spec"])
            elif kind == ("hashedrekord", "0.0.1"):
                stored, certificate = self._integrate_hashedrekord(proposed)
            else:
                raise StandInError(400, f"unsupported entry kind: {kind}")
        except (ValueError, KeyError, TypeError) as exc:
            raise StandInError(400, f"malformed entry: {exc}") from exc
        canonical = json.dumps(stored, sort_keys=True, separators=(",", ":")).encode()
        body_b64 = _b64(canonical)
        leaf = _leaf_hash(canonical)
        with self._lock:
            if len(self._leaves) >= MAX_ENTRIES:
                raise StandInError(507, "log is full")
            self._leaves.append(leaf)
            index = len(self._leaves) - 1
            size = len(self._leaves)
            root = _root(self._leaves)
            path = _audit_path(index, self._leaves)
            logged = time.time()
            integrated = int(logged)
            entry = {
                "body": body_b64,
                "integratedTime": integrated,
                "logID": self.log_id.hex(),
                "logIndex": index,
                "verification": {
                    "inclusionProof": {
                        "checkpoint": self._checkpoint(size, root),
                        "hashes": [h.hex() for h in path],
                        "logIndex": index,
                        "rootHash": root.hex(),
                        "treeSize": size,
                    },
                    "signedEntryTimestamp": _b64(self._set(body_b64, integrated, index)),
                },
            }
            self.entries.append(entry)
            self.signed_with.append((certificate, logged))
        return 201, {leaf.hex(): entry}

    def _checkpoint(self, size: int, root: bytes) -> str:
        """A signed note (transparency-dev checkpoint format) over the tree head."""
        note = f"127.0.0.1 - {self.tree_id}\n{size}\n{_b64(root)}\n"
        signature = self._log_key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
        return f"{note}\n\u2014 127.0.0.1 {_b64(self.log_id[:4] + signature)}\n"

    def _set(self, body_b64: str, integrated: int, index: int) -> bytes:
        """The signed entry timestamp: the log's signature over the canonical entry."""
        payload: dict[str, int | str] = {
            "body": body_b64,
            "integratedTime": integrated,
            "logID": self.log_id.hex(),
            "logIndex": index,
        }
        return self._log_key.sign(rfc8785.dumps(payload), ec.ECDSA(hashes.SHA256()))


def refuse_remote_connections(monkeypatch: Any) -> list[str]:
    """Make any name lookup or connection beyond the loopback fail, and record it.

    Proves that signing and verifying with explicit trust roots never reach for
    Sigstore's public services or its TUF repository.
    """
    attempts: list[str] = []
    local = {"127.0.0.1", "::1", "localhost"}
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and str(host) not in local:
            attempts.append(str(host))
            raise OSError(f"network access refused in this test: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and str(address[0]) not in local:
            attempts.append(str(address[0]))
            raise OSError(f"network access refused in this test: {address[0]}")
        real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    # A proxy from the environment would otherwise carry requests to 127.0.0.1 away.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return attempts
