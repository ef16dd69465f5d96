"""Stand-ins for GitHub's OIDC token service and PyPI's trusted publishing, on 127.0.0.1.

``GitHubOIDC`` plays the runner's token service: it serves RS256 JWTs with GitHub's
claim set at ``request_url`` (what the runner puts in ``ACTIONS_ID_TOKEN_REQUEST_URL``;
it already has ``?api-version=2.0``, so a client must append ``&audience=...``), behind
``Authorization: bearer <request_token>``, plus the OIDC discovery document and JWKS.

``TrustedPublishingIndex`` plays PyPI's front door: a threaded reverse proxy before a real
index (pypiserver, devpi) that answers ``/_/oidc/audience`` and ``/_/oidc/mint-token``
as warehouse does (``warehouse/oidc/views.py``, ``services.py``, ``models/github.py``):
the JWT's signature is checked against the JWKS fetched over HTTP, then ``iss``, ``aud``
(and only that audience), ``exp``/``iat``/``nbf`` with 30 s leeway, the publisher
(repository, repository_owner_id, workflow file from ``job_workflow_ref``, environment
when the publisher names one), and a ``jti`` that was not used before. Refusals are 422
``{"message": "Token request failed", "errors": [{"code", "description"}]}`` with
warehouse's codes and descriptions. Writes (uploads) pass only with user ``__token__``
and a live minted token, then only with an upload form whose digests hold as warehouse
holds them (``forklift/legacy.py``: a file, at least one digest, each digest sent well
formed and equal to the file's), and reach the index with the index's own credentials.

Example fixture (``pypiserver`` and ``devpi`` are conftest's ``support.indexes.Index``)::

    @pytest.fixture
    def trusted_publishing(pypiserver):
        oidc = GitHubOIDC(repository="octo-org/sample", workflow_filename="release.yml")
        front = TrustedPublishingIndex(
            pypiserver.base,
            upstream_user=pypiserver.user,
            upstream_password=pypiserver.password,
            issuer=oidc.issuer,
            publisher=Publisher("octo-org/sample", oidc.repository_owner_id, "release.yml"),
        )
        yield oidc, front
        front.close()
        oidc.close()

    # The action's environment:
    #   ACTIONS_ID_TOKEN_REQUEST_URL=oidc.request_url
    #   ACTIONS_ID_TOKEN_REQUEST_TOKEN=oidc.request_token
    #   INPUT_REPOSITORY-URL=front.url_for(pypiserver.upload_url)   # http://front/
    #   INPUT_INDEX-URL=front.url_for(pypiserver.simple_url)        # http://front/simple/
    #   INPUT_USER=__token__, INPUT_PASSWORD= (empty)
    # For devpi the same with devpi.upload_url (/USER/dev/) and devpi.simple_url.
"""

from __future__ import annotations

import base64
import dataclasses
import email.parser
import email.policy
import hashlib
import http.client
import http.server
import json
import re
import secrets
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from . import warehouse

TOKEN_USER = "__token__"
DEFAULT_REQUEST_TOKEN = "ghs-oidc-request-token-0123456789abcdef"
LEEWAY = 30  # warehouse's leeway for exp/iat/nbf
MAX_JSON_BODY = 1 << 20  # a mint request is a few KiB; refuse more instead of reading it
CHUNK = 1 << 16
# Headers that belong to one connection, not to the request (RFC 9110 7.6.1).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
TOKEN_FAULTS = frozenset({"expired", "not-yet-valid", "wrong-key", "unknown-kid", "wrong-issuer"})
HTTP_FAULTS = frozenset({"unauthorized", "server-error", "no-value", "not-json"})
MINT_FAULTS = frozenset({"server-error", "non-json", "lost-response", "not-found"})
AUDIENCE_MODES = frozenset({"normal", "not-found", "disabled"})


@dataclasses.dataclass
class Publisher:
    """A trusted publisher as registered on PyPI for a GitHub workflow."""

    repository: str  # "owner/name"
    repository_owner_id: str
    workflow_filename: str  # "release.yml"
    environment: str | None = None


@dataclasses.dataclass(frozen=True)
class Minted:
    token: str
    expires: int
    jti: str


@dataclasses.dataclass(frozen=True)
class Upload:
    """One write request at the front: the token it carried and what came of it."""

    method: str
    path: str
    user: str | None
    token: str | None
    status: int  # 403 or 400 when the front refused it, else the index's answer
    at: float = 0.0  # when its token was checked (once it arrived), on the front's clock
    digests: tuple[str, ...] = ()  # the digest fields its form carried


class _Server:
    """A threaded http.server on 127.0.0.1 in a daemon thread."""

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


class _Handler(http.server.BaseHTTPRequestHandler):
    """Shared helpers; HTTP/1.0, so every answer ends its connection."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_body(
        self,
        status: int,
        body: bytes,
        content_type: str,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status, reason)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, payload: Any, reason: str | None = None) -> None:
        self.send_body(status, json.dumps(payload).encode(), "application/json", reason)

    def body_chunks(self) -> Iterator[bytes]:
        """The request body as it arrives (Content-Length or chunked), never all at once."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size_line = self.rfile.readline(1024)
                if not size_line:
                    return
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers end with an empty line; bounded by the 64 lines allowed.
                    for _ in range(64):
                        if self.rfile.readline(1024) in (b"\r\n", b"\n", b""):
                            break
                    return
                remaining = size
                while remaining > 0:
                    data = self.rfile.read(min(CHUNK, remaining))
                    if not data:
                        return
                    remaining -= len(data)
                    yield data
                self.rfile.readline(1024)  # the CRLF after each chunk
            return
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining > 0:
            data = self.rfile.read(min(CHUNK, remaining))
            if not data:
                return
            remaining -= len(data)
            yield data

    def read_small_body(self, limit: int) -> bytes | None:
        """The whole body if it is at most ``limit`` bytes, else None (rest drained)."""
        parts: list[bytes] = []
        size = 0
        for chunk in self.body_chunks():
            size += len(chunk)
            if size <= limit:
                parts.append(chunk)
        return b"".join(parts) if size <= limit else None

    def drain(self) -> None:
        """Read and drop the body, so a refused client sees the answer, not a reset."""
        for _ in self.body_chunks():
            pass


class GitHubOIDC:
    """A GitHub-like OIDC token service: one RSA key, RS256 JWTs, JWKS, discovery.

    The identity (repository, owner id, workflow file, environment, event, ref, sha) is
    plain attributes, changeable between requests. ``claim_overrides`` is merged last
    into every token's claims (a value of None removes the claim). ``fault`` makes the
    next answers wrong on purpose:

    - token faults (still served with 200): ``expired``, ``not-yet-valid``,
      ``wrong-key`` (signed by a key the JWKS does not have, under the JWKS's kid),
      ``unknown-kid``, ``wrong-issuer``;
    - HTTP faults: ``unauthorized`` (401), ``server-error`` (500), ``no-value`` (200
      without a ``value``), ``not-json`` (200 with HTML).
    """

    def __init__(
        self,
        *,
        repository: str = "octo-org/sample",
        repository_owner_id: str = "1234567",
        repository_id: str = "87654321",
        workflow_filename: str = "release.yml",
        environment: str | None = None,
        event_name: str = "push",
        ref: str = "refs/tags/v1.0.0",
        sha: str = "5f3c9d0e1a2b3c4d5e6f708192a3b4c5d6e7f809",
        job_workflow_ref: str | None = None,
        request_token: str = DEFAULT_REQUEST_TOKEN,
        lifetime: int = 300,
        issuer: str | None = None,
    ) -> None:
        self.repository = repository
        self.repository_owner_id = repository_owner_id
        self.repository_id = repository_id
        self.workflow_filename = workflow_filename
        self.environment = environment
        self.event_name = event_name
        self.ref = ref
        self.sha = sha
        # Set for a reusable workflow: the called workflow, "owner/repo/.github/workflows/
        # x.yml@ref"; workflow_ref stays the caller's.
        self.job_workflow_ref = job_workflow_ref
        self.request_token = request_token
        self.lifetime = lifetime
        self.claim_overrides: dict[str, Any] = {}
        self._fault: str | None = None
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(20)
        self._other_key: rsa.RSAPrivateKey | None = None
        self._lock = threading.Lock()
        self.requests = 0  # token requests received, refused or not
        self.audiences: list[str] = []  # the audience of each token served
        self.issued: list[str] = []  # every JWT served over HTTP
        self._run_id = 9_000_000_000 + secrets.randbelow(1_000_000)

        owner = self

        class Handler(_Handler):
            def do_GET(self) -> None:
                owner._handle(self)

        self._server = _Server(Handler)
        self.url = self._server.url
        # The issuer is our own URL, so that discovery at {iss}/.well-known/... works; a
        # test may pretend to be token.actions.githubusercontent.com and point verifiers
        # at discovery_url / jwks_url instead.
        self.issuer = issuer or self.url
        self.discovery_url = f"{self.url}/.well-known/openid-configuration"
        self.jwks_url = f"{self.url}/.well-known/jwks"
        # Shaped like the runner's: a long path ending in /idtoken, a query already there.
        self._token_path = (
            f"/{secrets.token_hex(8)}/00000000-0000-0000-0000-000000000000/_apis/"
            f"distributedtask/hubs/Actions/plans/{uuid.uuid4()}/jobs/{uuid.uuid4()}/idtoken"
        )
        self.request_url = f"{self.url}{self._token_path}?api-version=2.0"

    def request_env(self) -> dict[str, str]:
        """What the runner gives a job with ``id-token: write``: where to ask for its
        token, and the bearer token to ask with."""
        return {
            "ACTIONS_ID_TOKEN_REQUEST_URL": self.request_url,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.request_token,
        }

    @property
    def fault(self) -> str | None:
        return self._fault

    @fault.setter
    def fault(self, value: str | None) -> None:
        if value is not None and value not in TOKEN_FAULTS | HTTP_FAULTS:
            raise ValueError(f"unknown fault {value!r}")
        self._fault = value

    @property
    def repository_owner(self) -> str:
        return self.repository.split("/", 1)[0]

    @property
    def workflow_ref(self) -> str:
        return f"{self.repository}/.github/workflows/{self.workflow_filename}@{self.ref}"

    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return {"keys": [jwk]}

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_url,
            "subject_types_supported": ["public", "pairwise"],
            "response_types_supported": ["id_token"],
            "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid"],
        }

    def claims(self, audience: str) -> dict[str, Any]:
        """GitHub's claim set for the current identity, as of now."""
        now = int(time.time())
        if self.environment:
            sub = f"repo:{self.repository}:environment:{self.environment}"
        elif self.event_name.startswith("pull_request"):
            sub = f"repo:{self.repository}:pull_request"
        else:
            sub = f"repo:{self.repository}:ref:{self.ref}"
        with self._lock:
            self._run_id += 1
            run_id = self._run_id
        claims: dict[str, Any] = {
            "jti": str(uuid.uuid4()),
            "sub": sub,
            "aud": audience,
            "ref": self.ref,
            "sha": self.sha,
            "repository": self.repository,
            "repository_owner": self.repository_owner,
            "repository_owner_id": self.repository_owner_id,
            "repository_id": self.repository_id,
            "repository_visibility": "public",
            "actor": "octocat",
            "actor_id": "583231",
            "run_id": str(run_id),
            "run_number": "42",
            "run_attempt": "1",
            "runner_environment": "github-hosted",
            "head_ref": "",
            "base_ref": "",
            "event_name": self.event_name,
            "ref_type": "tag" if self.ref.startswith("refs/tags/") else "branch",
            "ref_protected": "false",
            "workflow": "Release",
            "workflow_ref": self.workflow_ref,
            "workflow_sha": self.sha,
            "job_workflow_ref": self.job_workflow_ref or self.workflow_ref,
            "job_workflow_sha": self.sha,
            "iss": self.issuer,
            # GitHub's own example: nbf before iat, exp a few minutes after.
            "nbf": now - 5,
            "iat": now,
            "exp": now + self.lifetime,
        }
        if self.environment:
            claims["environment"] = self.environment
            claims["environment_node_id"] = "EN_" + secrets.token_hex(8)
        return claims

    def token(self, audience: str = "pypi", **overrides: Any) -> str:
        """A JWT as the service would serve now (token faults applied), plus overrides."""
        claims = self.claims(audience)
        key: rsa.RSAPrivateKey = self.key
        kid = self.kid
        now = int(claims["iat"])
        fault = self._fault
        if fault == "expired":
            claims.update(iat=now - 3600, nbf=now - 3600, exp=now - 10 * LEEWAY)
        elif fault == "not-yet-valid":
            claims.update(iat=now + 600, nbf=now + 600, exp=now + 900)
        elif fault == "wrong-key":
            key = self._wrong_key()
        elif fault == "unknown-kid":
            kid = secrets.token_hex(20)
        elif fault == "wrong-issuer":
            claims["iss"] = "https://token.actions.example.invalid"
        for name, value in {**self.claim_overrides, **overrides}.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid, "typ": "JWT"})

    def _wrong_key(self) -> rsa.RSAPrivateKey:
        if self._other_key is None:
            self._other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self._other_key

    def _handle(self, h: _Handler) -> None:
        parts = urllib.parse.urlsplit(h.path)
        if parts.path == "/.well-known/openid-configuration":
            h.send_json(200, self.discovery())
        elif parts.path == "/.well-known/jwks":
            h.send_json(200, self.jwks())
        elif parts.path == self._token_path:
            self._serve_token(h, urllib.parse.parse_qs(parts.query, keep_blank_values=True))
        else:
            h.send_json(404, {"message": "Not Found"})

    def _serve_token(self, h: _Handler, query: dict[str, list[str]]) -> None:
        with self._lock:
            self.requests += 1
        scheme, _, given = h.headers.get("Authorization", "").partition(" ")
        authorized = scheme.lower() == "bearer" and secrets.compare_digest(
            given.strip().encode(), self.request_token.encode()
        )
        if not authorized or self._fault == "unauthorized":
            h.send_json(401, {"message": "Unauthorized"}, "Unauthorized")
            return
        if query.get("api-version") != ["2.0"]:
            # The client replaced the runner's query instead of appending to it.
            h.send_json(400, {"message": "api-version 2.0 is required"}, "Bad Request")
            return
        if self._fault == "server-error":
            h.send_body(500, b"Internal Server Error", "text/plain", "Internal Server Error")
            return
        # Without an audience GitHub uses the owner's URL.
        audience = query.get("audience", [f"https://github.com/{self.repository_owner}"])[-1]
        value = self.token(audience)
        with self._lock:
            self.audiences.append(audience)
            self.issued.append(value)
        if self._fault == "no-value":
            h.send_json(200, {"message": "no token"})
        elif self._fault == "not-json":
            h.send_body(200, b"<html><body>Sign in</body></html>", "text/html")
        else:
            h.send_json(200, {"value": value})

    def close(self) -> None:
        self._server.close()

    def __enter__(self) -> GitHubOIDC:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Refused(Exception):
    def __init__(self, code: str, description: str, why: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.why = why  # what exactly failed, for tests (warehouse's text is vaguer)


class TrustedPublishingIndex:
    """A PyPI-like front: OIDC exchange endpoints, token-gated uploads, proxy to an index.

    ``upstream`` is the index's root URL (``http://127.0.0.1:PORT``; a path is ignored):
    requests are forwarded with their path unchanged and their Host header kept, so
    the index's own absolute links point at the front. ``upstream=None`` serves only the
    OIDC endpoints (502 for the rest). Use ``url_for(index_url)`` to turn an index URL
    (an upload URL, a simple URL) into the same URL through the front.

    Switches: ``audience_mode`` (``normal``, ``not-found``, ``disabled``), ``publisher``,
    ``token_lifetime``, ``clock`` (for expiry and the ``Date`` header: a server whose clock
    is off), ``rewrite_answer`` (edits a successful mint's JSON answer, e.g. its
    ``expires``), ``upload_time`` (seconds an upload takes; the token is checked when it
    has arrived, so it can expire on the way), and ``fail_mint(kind, times)`` with kinds
    ``server-error`` (503), ``non-json`` (200 with HTML), ``lost-response`` (mints, then
    answers 502 as if the answer was lost on the way), ``not-found`` (404 HTML).
    ``warehouse_rules=True`` also refuses, once the token and digests hold, every upload
    PyPI would refuse, with warehouse's status and message (``support.warehouse``); the
    front's ``ledger`` then holds what it let through (seed it for an old release).
    Records: ``mint_calls``, ``minted``, ``refusals`` (code, why), ``uploads``,
    ``jwks_fetches``.
    """

    def __init__(
        self,
        upstream: str | None,
        *,
        upstream_user: str = "",
        upstream_password: str = "",
        issuer: str,
        discovery_url: str | None = None,
        publisher: Publisher | None = None,
        audience: str = "pypi",
        token_lifetime: int = 900,
        clock: Callable[[], float] = time.time,
        warehouse_rules: bool = False,
    ) -> None:
        if upstream is not None:
            parts = urllib.parse.urlsplit(upstream)
            if parts.scheme != "http" or not parts.hostname:
                raise ValueError(f"upstream must be an http:// URL, not {upstream!r}")
        self.upstream = upstream
        self.upstream_user = upstream_user
        self.upstream_password = upstream_password
        self.issuer = issuer
        self.discovery_url = (
            discovery_url or f"{issuer.rstrip('/')}/.well-known/openid-configuration"
        )
        self.publisher = publisher
        self.audience = audience
        self.token_lifetime = token_lifetime
        self.clock = clock
        self.warehouse_rules = warehouse_rules
        self.ledger = warehouse.Ledger()
        self._audience_mode = "normal"
        # Seconds each upload takes to arrive; the token must still be live at its end.
        self.upload_time = 0.0
        # Changes a successful mint's JSON answer (odd expires values, older warehouse).
        self.rewrite_answer: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        self._lock = threading.Lock()
        self._mint_faults: list[str] = []
        self._keys: dict[str, jwt.PyJWK] = {}
        self._used_jtis: set[str] = set()
        self.mint_calls = 0
        self.jwks_fetches = 0
        self.minted: list[Minted] = []
        self.refusals: list[tuple[str, str]] = []
        self.uploads: list[Upload] = []

        owner = self

        class Handler(_Handler):
            def do_GET(self) -> None:
                owner._handle(self)

            do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

            def date_time_string(self, timestamp: float | None = None) -> str:
                # The Date header on the front's clock, as a server whose clock is off
                # sends it: consistent with the expires it computes.
                return super().date_time_string(owner.clock() if timestamp is None else timestamp)

        self._server = _Server(Handler)
        self.url = self._server.url

    # -- configuration -------------------------------------------------------------------

    @property
    def audience_mode(self) -> str:
        return self._audience_mode

    @audience_mode.setter
    def audience_mode(self, value: str) -> None:
        if value not in AUDIENCE_MODES:
            raise ValueError(f"unknown audience mode {value!r}")
        self._audience_mode = value

    def fail_mint(self, kind: str, times: int = 1) -> None:
        """Make the next ``times`` mint calls fail this way."""
        if kind not in MINT_FAULTS:
            raise ValueError(f"unknown mint fault {kind!r}")
        with self._lock:
            self._mint_faults.extend([kind] * times)

    def url_for(self, index_url: str) -> str:
        """The same URL (path, query) through this front."""
        parts = urllib.parse.urlsplit(index_url)
        return urllib.parse.urlunsplit(("http", self.url.removeprefix("http://"), *parts[2:]))

    def live_tokens(self) -> list[str]:
        now = self.clock()
        with self._lock:
            return [m.token for m in self.minted if now < m.expires]

    # -- dispatch ------------------------------------------------------------------------

    def _handle(self, h: _Handler) -> None:
        path = urllib.parse.urlsplit(h.path).path
        if path.startswith("/_/oidc/"):
            self._oidc(h, path)
        elif h.command in ("GET", "HEAD", "OPTIONS"):
            self._forward(h, swap_auth=False)
        else:
            self._write(h, path)

    def _oidc(self, h: _Handler, path: str) -> None:
        mode = self._audience_mode
        if mode == "not-found":
            # An index without trusted publishing has no such routes at all.
            h.drain()
            h.send_body(404, b"<h1>404 Not Found</h1>", "text/html", "Not Found")
        elif path == "/_/oidc/audience" and h.command == "GET":
            if mode == "disabled":
                h.send_json(403, {"message": "Trusted publishing functionality not enabled"})
            else:
                h.send_json(200, {"audience": self.audience})
        elif path in ("/_/oidc/mint-token", "/_/oidc/github/mint-token") and (h.command == "POST"):
            self._mint(h)
        else:
            h.drain()
            h.send_body(405 if path == "/_/oidc/audience" else 404, b"", "text/plain")

    # -- mint-token ----------------------------------------------------------------------

    def _mint(self, h: _Handler) -> None:
        body = h.read_small_body(MAX_JSON_BODY)
        with self._lock:
            self.mint_calls += 1
            fault = self._mint_faults.pop(0) if self._mint_faults else None
        if fault == "server-error":
            h.send_body(
                503, b"<h1>503 Service Unavailable</h1>", "text/html", "Service Unavailable"
            )
            return
        if fault == "non-json":
            h.send_body(200, b"<html><body>Maintenance</body></html>", "text/html")
            return
        if fault == "not-found":
            h.send_body(404, b"<h1>404 Not Found</h1>", "text/html", "Not Found")
            return
        try:
            if self._audience_mode == "disabled":
                raise _Refused(
                    "not-enabled",
                    "GitHub trusted publishing functionality not enabled",
                    "trusted publishing is disabled",
                )
            claims = self._verify(body)
            minted = self._issue(claims)
        except _Refused as refused:
            with self._lock:
                self.refusals.append((refused.code, refused.why))
            h.send_json(
                422,
                {
                    "message": "Token request failed",
                    "errors": [{"code": refused.code, "description": refused.description}],
                },
                "Unprocessable Entity",
            )
            return
        if fault == "lost-response":
            h.send_body(502, b"<h1>502 Bad Gateway</h1>", "text/html", "Bad Gateway")
            return
        answer: dict[str, Any] = {"success": True, "token": minted.token, "expires": minted.expires}
        if self.rewrite_answer is not None:
            answer = self.rewrite_answer(answer)
        h.send_json(200, answer)

    def _verify(self, body: bytes | None) -> dict[str, Any]:
        """Warehouse's checks, in warehouse's order; raises _Refused."""
        try:
            payload = json.loads(body or b"")
        except ValueError as exc:
            raise _Refused(
                "invalid-payload", f"1 validation error for TokenPayload: {exc}", "body is not JSON"
            ) from None
        if not isinstance(payload, dict) or not isinstance(payload.get("token"), str):
            raise _Refused(
                "invalid-payload",
                "1 validation error for TokenPayload\ntoken\n  Field required or not a string",
                "no token string in the body",
            )
        unverified = payload["token"]
        try:
            issuer = jwt.decode(unverified, options={"verify_signature": False})["iss"]
        except (jwt.PyJWTError, KeyError):
            raise _Refused("invalid-payload", "malformed JWT", "malformed JWT") from None
        if issuer != self.issuer:
            raise _Refused(
                "invalid-payload", "unknown trusted publishing issuer", f"issuer {issuer!r}"
            )
        try:
            key = self._key_for(jwt.get_unverified_header(unverified).get("kid", ""))
            claims: dict[str, Any] = jwt.decode(
                unverified,
                key=key,
                algorithms=["RS256"],
                options={
                    "verify_signature": True,
                    "require": ["iss", "iat", "exp", "aud"],
                    "verify_iss": True,
                    "verify_iat": True,
                    "verify_exp": True,
                    "verify_aud": True,
                    "verify_nbf": True,
                    "strict_aud": True,
                },
                issuer=self.issuer,
                audience=self.audience,
                leeway=LEEWAY,
            )
        except jwt.PyJWTError as exc:
            raise _Refused(
                "invalid-token", "malformed or invalid token", f"{type(exc).__name__}: {exc}"
            ) from None
        self._match_publisher(claims)
        jti = claims.get("jti")
        if isinstance(jti, str):
            with self._lock:
                if jti in self._used_jtis:
                    raise _Refused(
                        "invalid-reuse-token", "invalid token: already used", f"jti {jti}"
                    )
        return claims

    def _key_for(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            key = self._keys.get(kid)
        if key is None:
            # Unknown key id: refresh the keyset over HTTP, as warehouse does.
            conf = requests.get(self.discovery_url, timeout=10).json()
            keys = requests.get(conf["jwks_uri"], timeout=10).json()["keys"]
            with self._lock:
                self.jwks_fetches += 1
                self._keys = {k["kid"]: jwt.PyJWK(k) for k in keys}
                key = self._keys.get(kid)
        if key is None:
            raise jwt.PyJWTError(f"Key ID {kid!r} not found for issuer {self.issuer!r}")
        return key

    def _match_publisher(self, claims: dict[str, Any]) -> None:
        """The GitHub publisher lookup and claim checks (warehouse models/github.py)."""

        def refuse(why: str, reason: str = "All lookup strategies exhausted") -> _Refused:
            return _Refused(
                "invalid-publisher", f"valid token, but no corresponding publisher ({reason})", why
            )

        p = self.publisher
        if p is None:
            raise refuse("no publisher configured")
        for name in ("sub", "repository", "repository_owner", "repository_owner_id",
                     "job_workflow_ref", "ref", "sha", "jti"):  # fmt: skip
            if claims.get(name) is None:
                raise refuse(f"claim {name} missing", f"Missing claim {name!r}")
        repository = str(claims["repository"])
        if repository.lower() != p.repository.lower():
            raise refuse(f"repository {repository} != {p.repository}")
        if str(claims["repository_owner_id"]) != p.repository_owner_id:
            raise refuse(
                f"repository_owner_id {claims['repository_owner_id']} != {p.repository_owner_id}"
            )
        prefix = f"{repository}/.github/workflows/"
        job_workflow_ref = str(claims["job_workflow_ref"])
        if not job_workflow_ref.removeprefix(prefix).startswith(p.workflow_filename):
            raise refuse(f"job_workflow_ref {job_workflow_ref} is not {p.workflow_filename}")
        environment = claims.get("environment") or ""
        if p.environment and environment.lower() != p.environment.lower():
            raise refuse(f"environment {environment!r} != {p.environment!r}")
        owner, _, name = p.repository.partition("/")
        if str(claims["repository_owner"]) != owner:
            raise refuse("repository_owner", "Check failed for required claim 'repository_owner'")
        sub_org, _, rest = str(claims["sub"]).removeprefix("repo:").partition("/")
        if f"{sub_org}/{rest.split(':', 1)[0]}".lower() != p.repository.lower():
            raise refuse("sub", "Check failed for required claim 'sub'")
        expected = {
            f"{p.repository}/.github/workflows/{p.workflow_filename}@{r}"
            for r in (claims.get("ref"), claims.get("sha"))
            if r
        }
        if job_workflow_ref not in expected:
            raise refuse(
                f"job_workflow_ref {job_workflow_ref} not in {sorted(expected)}",
                "The job_workflow_ref claim does not match, expecting one of "
                f"{sorted(expected)!r}, got {job_workflow_ref!r}",
            )

    def _issue(self, claims: dict[str, Any]) -> Minted:
        jti = str(claims["jti"])
        with self._lock:
            # Checked again under the lock: two racing requests with one JWT get one token.
            if jti in self._used_jtis:
                raise _Refused("invalid-reuse-token", "invalid token: already used", f"jti {jti}")
            self._used_jtis.add(jti)
            minted = Minted(
                token="pypi-AgEI" + secrets.token_urlsafe(96),
                expires=int(self.clock()) + self.token_lifetime,
                jti=jti,
            )
            self.minted.append(minted)
        return minted

    # -- uploads and the proxy -----------------------------------------------------------

    def _write(self, h: _Handler, path: str) -> None:
        user, token = _basic_auth(h.headers.get("Authorization", ""))
        # The whole body first, as warehouse reads the form (behind a buffering proxy).
        body = list(h.body_chunks())
        if self.upload_time > 0:
            # A long upload: the body arrives, time passes, and only then is the token
            # checked.
            time.sleep(self.upload_time)
        now = self.clock()
        digests: tuple[str, ...] = ()

        def record(status: int) -> None:  # before the answer goes out: a client sees it
            with self._lock:
                self.uploads.append(Upload(h.command, path, user, token, status, now, digests))

        with self._lock:
            live = any(m.token == token and now < m.expires for m in self.minted)
        if user != TOKEN_USER or not live:
            record(403)
            reason = (
                "Invalid or non-existent authentication information. "
                f"See {self.url}/help/#invalid-auth for more information."
            )
            h.send_body(403, f"<h1>403 {reason}</h1>".encode(), "text/html", reason)
            return
        content_type = h.headers.get("Content-Type", "")
        problem, digests = upload_form_problem(content_type, b"".join(body))
        if problem:
            record(400)
            h.send_body(400, f"<h1>400 {problem}</h1>".encode(), "text/html", problem)
            return
        if not self.warehouse_rules:
            self._forward(h, swap_auth=True, body=body, answering=record)
            return
        form, content = warehouse.parse_form(content_type, b"".join(body))
        refused = warehouse.refusal(
            form, content, self.ledger, now=now, help_url=f"{self.url}/help/"
        )
        if refused is not None:
            status, message = refused
            record(status)
            # As warehouse's _exc_with_message: the message is the status line's reason.
            reason = message.encode("iso-8859-1", "replace").decode("iso-8859-1")
            h.send_body(
                status, f"<h1>{status} {reason}</h1>".encode("iso-8859-1"), "text/html", reason
            )
            return

        def taken(status: int) -> None:
            if 200 <= status < 300 and content is not None:
                with self.ledger.lock:
                    self.ledger.record(form, content, now)
            record(status)

        self._forward(h, swap_auth=True, body=body, answering=taken)

    def _forward(
        self,
        h: _Handler,
        *,
        swap_auth: bool,
        body: Iterable[bytes] | None = None,
        answering: Callable[[int], None] = lambda _status: None,
    ) -> None:
        """Pass the request to the index, bodies streamed both ways (or ``body``, the
        request's body already read); ``answering`` gets the status before the answer
        goes out."""
        chunks = h.body_chunks() if body is None else iter(body)
        if self.upstream is None:
            for _ in chunks:
                pass
            answering(502)
            h.send_body(502, b"no index behind this front", "text/plain", "Bad Gateway")
            return
        target = urllib.parse.urlsplit(self.upstream)
        conn = http.client.HTTPConnection(target.hostname or "", target.port or 80, timeout=120)
        try:
            conn.putrequest(h.command, h.path, skip_host=True, skip_accept_encoding=True)
            chunked = "chunked" in h.headers.get("Transfer-Encoding", "").lower()
            for name, value in h.headers.items():
                lower = name.lower()
                if lower in HOP_BY_HOP or (swap_auth and lower == "authorization"):
                    continue
                conn.putheader(name, value)
            if swap_auth:
                basic = base64.b64encode(
                    f"{self.upstream_user}:{self.upstream_password}".encode()
                ).decode()
                conn.putheader("Authorization", f"Basic {basic}")
            if chunked:
                conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            for chunk in chunks:
                conn.send(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
            if chunked:
                conn.send(b"0\r\n\r\n")
            resp = conn.getresponse()
        except OSError as exc:
            # The index is down or hung up: answer as a gateway would.
            conn.close()
            for _ in chunks:
                pass
            answering(502)
            h.send_body(502, f"index unreachable: {exc}".encode(), "text/plain", "Bad Gateway")
            return
        try:
            answering(resp.status)
            h.send_response(resp.status, resp.reason)
            origin = f"{target.scheme}://{target.netloc}"
            for name, value in resp.getheaders():
                lower = name.lower()
                if lower in HOP_BY_HOP or lower in ("server", "date"):
                    continue
                if lower == "location" and value.startswith(origin):
                    value = self.url + value[len(origin) :]
                h.send_header(name, value)
            h.end_headers()
            if h.command != "HEAD":
                while data := resp.read(CHUNK):
                    h.wfile.write(data)
        finally:
            conn.close()

    def close(self) -> None:
        self._server.close()

    def __enter__(self) -> TrustedPublishingIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


DIGESTS = {"md5_digest": "md5", "sha256_digest": "sha256", "blake2_256_digest": "blake2b"}
_HEX = re.compile(r"[0-9a-fA-F]{64}")


def _form_parts(content_type: str, body: bytes) -> Iterator[tuple[str, str | None, bytes]]:
    """(name, filename, value) of each part of a multipart/form-data body."""
    parser = email.parser.BytesHeaderParser(policy=email.policy.HTTP)
    boundary = parser.parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode())
    marker = (
        boundary.get_param("boundary")
        if boundary.get_content_type() == ("multipart/form-data")
        else None
    )
    if not isinstance(marker, str) or not marker:
        return
    for section in (b"\r\n" + body).split(b"\r\n--" + marker.encode())[1:]:
        if section.startswith(b"--"):
            return
        head, _, value = section.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = parser.parsebytes(head + b"\r\n\r\n")
        disposition = headers.get("Content-Disposition")
        params = getattr(disposition, "params", {})
        if "name" in params:
            yield params["name"], params.get("filename"), value


def upload_form_problem(content_type: str, body: bytes) -> tuple[str, tuple[str, ...]]:
    """What warehouse would refuse in a legacy upload form's file and digests ("" for
    nothing), and the digest fields it carries."""
    fields: dict[str, str] = {}
    content: bytes | None = None
    for name, filename, value in _form_parts(content_type, body):
        if name == "content" and filename:
            content = value
        elif filename is None:
            fields.setdefault(name, value.decode("utf-8", "replace"))
    digests = tuple(name for name in DIGESTS if fields.get(name))
    if content is None:
        return "Upload payload does not have a file.", digests
    if not digests:
        return "Error: Include at least one message digest.", digests
    for name in ("sha256_digest", "blake2_256_digest"):
        if fields.get(name) and not _HEX.fullmatch(fields[name]):
            algorithm = "SHA256" if name == "sha256_digest" else "blake2b"
            return (
                f"Invalid value for {name}. Error: Use a valid, hex-encoded, {algorithm} "
                "message digest.",
                digests,
            )
    for name in digests:
        hasher = (
            hashlib.blake2b(digest_size=32)
            if DIGESTS[name] == "blake2b"
            else hashlib.new(DIGESTS[name])
        )
        hasher.update(content)
        if hasher.hexdigest() != fields[name].lower():
            return (
                "The digest supplied does not match a digest calculated from the uploaded file.",
                digests,
            )
    return "", digests


def _basic_auth(header: str) -> tuple[str | None, str | None]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        user, _, password = base64.b64decode(encoded.strip()).decode().partition(":")
    except ValueError:
        return None, None
    return user, password


# The trusted publisher the tests' release workflow is (GITHUB_REPOSITORY and
# GITHUB_WORKFLOW_REF in support.runner).
REPOSITORY = "octo-org/sample"
OWNER_ID = "1234567"
WORKFLOW = "release.yml"


def pypi_like(
    index: Any, *, warehouse_rules: bool = True
) -> tuple[GitHubOIDC, TrustedPublishingIndex]:
    """A GitHub OIDC token service, and a PyPI-like front before ``index`` (an
    ``support.indexes.Index``) that trusts this repository's release workflow and,
    with ``warehouse_rules``, refuses what warehouse refuses. The caller closes both."""
    oidc = GitHubOIDC(
        repository=REPOSITORY, repository_owner_id=OWNER_ID, workflow_filename=WORKFLOW
    )
    front = TrustedPublishingIndex(
        index.base,
        upstream_user=index.user,
        upstream_password=index.password,
        issuer=oidc.issuer,
        publisher=Publisher(REPOSITORY, OWNER_ID, WORKFLOW),
        warehouse_rules=warehouse_rules,
    )
    return oidc, front
