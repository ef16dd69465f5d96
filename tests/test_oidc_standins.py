"""The OIDC and trusted publishing stand-ins refuse what GitHub and PyPI refuse.

Plain ``requests`` (and twine) against the stand-ins, with a real pypiserver (and for
the twine upload also devpi) behind the front: a stand-in that accepted anything would
make every trusted publishing test meaningless.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from support.indexes import Index
from support.oidc import TOKEN_USER, GitHubOIDC, Publisher, TrustedPublishingIndex

REPOSITORY = "octo-org/sample"
OWNER_ID = "1234567"
FORBIDDEN = "Invalid or non-existent authentication information."
CLAIMS = {
    "iss", "aud", "sub", "jti", "iat", "nbf", "exp", "repository", "repository_id",
    "repository_owner", "repository_owner_id", "workflow", "workflow_ref",
    "job_workflow_ref", "ref", "ref_type", "sha", "environment", "event_name", "run_id",
    "run_attempt", "runner_environment",
}  # fmt: skip


class Clock:
    """The front's clock for minted-token expiry, moved by the test."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def oidc() -> Iterator[GitHubOIDC]:
    with GitHubOIDC(
        repository=REPOSITORY,
        repository_owner_id=OWNER_ID,
        workflow_filename="release.yml",
        environment="pypi",
    ) as service:
        yield service


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_front(index: Index, oidc: GitHubOIDC, clock: Clock) -> TrustedPublishingIndex:
    return TrustedPublishingIndex(
        index.base,
        upstream_user=index.user,
        upstream_password=index.password,
        issuer=oidc.issuer,
        publisher=Publisher(REPOSITORY, OWNER_ID, "release.yml", environment="pypi"),
        clock=clock,
    )


@pytest.fixture
def front(pypiserver: Index, oidc: GitHubOIDC, clock: Clock) -> Iterator[TrustedPublishingIndex]:
    with make_front(pypiserver, oidc, clock) as index:
        yield index


def github_token(oidc: GitHubOIDC, audience: str = "pypi") -> str:
    """Ask the token service as a runner's client does."""
    r = requests.get(
        f"{oidc.request_url}&audience={audience}",
        headers={"Authorization": f"bearer {oidc.request_token}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["value"])


def mint(front: TrustedPublishingIndex, token: str) -> requests.Response:
    return requests.post(f"{front.url}/_/oidc/mint-token", json={"token": token}, timeout=10)


def wheel(tmp_path: Path, name: str = "oidcdemo", version: str = "1.0") -> Path:
    """A minimal valid wheel, so that twine uploads it without building anything."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": b"",
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: demo\n"
        ).encode(),
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = ""
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{path},sha256={digest},{len(data)}\n"
    record += f"{dist_info}/RECORD,,\n"
    files[f"{dist_info}/RECORD"] = record.encode()
    out = tmp_path / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(out, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return out


def raw_upload(
    url: str,
    auth: tuple[str, str] | None,
    filename: str,
    content: bytes,
    digests: dict[str, str] | None = None,
) -> requests.Response:
    """The legacy upload form, as twine posts it (``digests`` replaces its digests)."""
    fields = {":action": "file_upload", "protocol_version": "1", "name": "big", "version": "1.0"}
    if digests is None:
        digests = {"sha256_digest": hashlib.sha256(content).hexdigest()}
    return requests.post(
        url,
        data=fields | digests,
        files={"content": (filename, io.BytesIO(content), "application/octet-stream")},
        auth=auth,
        timeout=60,
    )


# -- the GitHub token service -----------------------------------------------------------


def test_token_service_serves_github_claims_signed_by_its_jwks(oidc: GitHubOIDC) -> None:
    assert "?api-version=2.0" in oidc.request_url
    value = github_token(oidc)
    key = jwt.PyJWKClient(
        requests.get(oidc.discovery_url, timeout=10).json()["jwks_uri"]
    ).get_signing_key_from_jwt(value)
    claims = jwt.decode(value, key.key, algorithms=["RS256"], audience="pypi", issuer=oidc.issuer)
    assert set(claims) >= CLAIMS
    assert claims["repository"] == REPOSITORY
    assert claims["repository_owner"] == "octo-org"
    assert claims["repository_owner_id"] == OWNER_ID
    assert claims["environment"] == "pypi"
    assert claims["sub"] == f"repo:{REPOSITORY}:environment:pypi"
    assert claims["job_workflow_ref"] == claims["workflow_ref"]
    assert claims["workflow_ref"] == f"{REPOSITORY}/.github/workflows/release.yml@refs/tags/v1.0.0"
    assert claims["ref_type"] == "tag"
    assert claims["exp"] > claims["iat"] >= claims["nbf"]
    assert (
        jwt.decode(github_token(oidc), options={"verify_signature": False})["jti"]
        != (claims["jti"])
    )
    assert oidc.audiences == ["pypi", "pypi"]
    assert oidc.requests == 2


def test_token_service_needs_the_request_token_and_the_runners_query(oidc: GitHubOIDC) -> None:
    url = f"{oidc.request_url}&audience=pypi"
    assert requests.get(url, timeout=10).status_code == 401
    bad = {"Authorization": "bearer not-the-request-token"}
    assert requests.get(url, headers=bad, timeout=10).status_code == 401
    # A client that replaced the query instead of appending to it.
    replaced = oidc.request_url.split("?")[0] + "?audience=pypi"
    good = {"Authorization": f"Bearer {oidc.request_token}"}
    assert requests.get(replaced, headers=good, timeout=10).status_code == 400
    assert oidc.requests == 3
    assert oidc.issued == []


# -- minting ----------------------------------------------------------------------------


def test_good_token_mints_and_twine_uploads(
    index: Index, oidc: GitHubOIDC, clock: Clock, tmp_path: Path
) -> None:
    front = make_front(index, oidc, clock)
    try:
        audience = requests.get(f"{front.url}/_/oidc/audience", timeout=10)
        assert audience.json() == {"audience": "pypi"}
        r = mint(front, github_token(oidc))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["success"] is True
        assert body["token"].startswith("pypi-")
        assert body["expires"] == int(clock()) + 900
        assert [m.token for m in front.minted] == [body["token"]]
        assert front.mint_calls == 1
        assert front.jwks_fetches == 1

        dist = wheel(tmp_path)
        env = {**os.environ, "TWINE_USERNAME": TOKEN_USER, "TWINE_PASSWORD": body["token"]}
        twine = [sys.executable, "-m", "twine", "upload", "--non-interactive"]
        twine += ["--disable-progress-bar", "--repository-url", front.url_for(index.upload_url)]
        done = subprocess.run(
            [*twine, str(dist)], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert index.files() == {dist.name: hashlib.sha256(dist.read_bytes()).hexdigest()}
        assert [(u.method, u.user, u.token, u.status) for u in front.uploads] == [
            ("POST", TOKEN_USER, body["token"], 200)
        ]
        # Reads go through the front unchanged, and the page's links lead back to it.
        page = requests.get(front.url_for(index.simple_url) + "oidcdemo/", timeout=10)
        assert page.status_code == 200
        href = re.search(r'href="([^"]+)"', page.text)
        assert href is not None, page.text
        link = urllib.parse.urljoin(page.url, href.group(1))
        assert link.startswith(front.url)
        assert requests.get(link, timeout=10).content == dist.read_bytes()
    finally:
        front.close()


def tamper(token: str) -> str:
    head, _payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["repository_owner_id"] = "1"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    return f"{head}.{forged.decode()}.{signature}"


@pytest.mark.parametrize(
    ("setup", "code", "why"),
    [
        ({"fault": "wrong-key"}, "invalid-token", "InvalidSignatureError"),
        ({"fault": "unknown-kid"}, "invalid-token", "not found"),
        ({"tamper": True}, "invalid-token", "InvalidSignatureError"),
        ({"audience": "sigstore"}, "invalid-token", "InvalidAudienceError"),
        ({"fault": "expired"}, "invalid-token", "ExpiredSignatureError"),
        ({"fault": "not-yet-valid"}, "invalid-token", "ImmatureSignatureError"),
        ({"fault": "wrong-issuer"}, "invalid-payload", "issuer"),
        ({"workflow_filename": "ci.yml"}, "invalid-publisher", "job_workflow_ref"),
        ({"environment": "staging"}, "invalid-publisher", "environment"),
        ({"environment": None}, "invalid-publisher", "environment"),
        ({"repository_owner_id": "7654321"}, "invalid-publisher", "repository_owner_id"),
        ({"repository": "octo-org/other"}, "invalid-publisher", "repository"),
        (
            {"job_workflow_ref": "octo-org/tools/.github/workflows/release.yml@refs/heads/main"},
            "invalid-publisher",
            "job_workflow_ref",
        ),
    ],
    ids=lambda v: "-".join(f"{k}={v}" for k, v in v.items()) if isinstance(v, dict) else None,
)
def test_bad_token_gets_422_with_warehouses_code(
    front: TrustedPublishingIndex, oidc: GitHubOIDC, setup: dict[str, Any], code: str, why: str
) -> None:
    audience = setup.pop("audience", "pypi")
    tampered = setup.pop("tamper", False)
    for name, value in setup.items():
        setattr(oidc, name, value)
    token = github_token(oidc, audience)
    r = mint(front, tamper(token) if tampered else token)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["message"] == "Token request failed"
    assert [e["code"] for e in body["errors"]] == [code]
    assert body["errors"][0]["description"]
    assert len(front.refusals) == 1
    assert front.refusals[0][0] == code
    assert why in front.refusals[0][1]
    assert front.minted == []


def test_refusal_descriptions_are_warehouses(
    front: TrustedPublishingIndex, oidc: GitHubOIDC
) -> None:
    oidc.fault = "expired"
    assert mint(front, github_token(oidc)).json()["errors"] == [
        {"code": "invalid-token", "description": "malformed or invalid token"}
    ]
    oidc.fault = None
    oidc.workflow_filename = "ci.yml"
    assert mint(front, github_token(oidc)).json()["errors"] == [
        {
            "code": "invalid-publisher",
            "description": "valid token, but no corresponding publisher "
            "(All lookup strategies exhausted)",
        }
    ]
    assert mint(front, "not.a.jwt").json()["errors"] == [
        {"code": "invalid-payload", "description": "malformed JWT"}
    ]
    r = requests.post(f"{front.url}/_/oidc/mint-token", data=b"token=x", timeout=10)
    assert r.status_code == 422
    assert r.json()["errors"][0]["code"] == "invalid-payload"


def test_a_jti_is_good_for_one_token(front: TrustedPublishingIndex, oidc: GitHubOIDC) -> None:
    token = github_token(oidc)
    assert mint(front, token).status_code == 200
    again = mint(front, token)
    assert again.status_code == 422
    assert again.json()["errors"] == [
        {"code": "invalid-reuse-token", "description": "invalid token: already used"}
    ]
    assert mint(front, github_token(oidc)).status_code == 200  # a new JWT, a new jti
    assert len(front.minted) == 2


def test_publisher_without_environment_accepts_any_and_environment_case_is_ignored(
    front: TrustedPublishingIndex, oidc: GitHubOIDC
) -> None:
    front.publisher = Publisher(REPOSITORY, OWNER_ID, "release.yml")
    assert mint(front, github_token(oidc)).status_code == 200
    oidc.environment = None
    assert mint(front, github_token(oidc)).status_code == 200
    front.publisher = Publisher(REPOSITORY, OWNER_ID, "release.yml", environment="PyPI")
    oidc.environment = "pypi"
    assert mint(front, github_token(oidc)).status_code == 200


def test_chunked_mint_request_is_read(front: TrustedPublishingIndex, oidc: GitHubOIDC) -> None:
    body = b'{"token": "%s"}' % github_token(oidc).encode()
    parts = (body[i : i + 100] for i in range(0, len(body), 100))  # a generator: chunked
    r = requests.post(f"{front.url}/_/oidc/mint-token", data=parts, timeout=10)
    assert r.status_code == 200, r.text


# -- uploads at the front ---------------------------------------------------------------


def test_uploads_without_a_live_minted_token_get_403(
    front: TrustedPublishingIndex, oidc: GitHubOIDC, pypiserver: Index, clock: Clock
) -> None:
    token = mint(front, github_token(oidc)).json()["token"]
    tries: list[tuple[str, str] | None] = [
        None,
        (TOKEN_USER, "pypi-made-up-token"),
        ("someone", token),  # a minted token, but not as __token__
        (pypiserver.user, pypiserver.password),  # the index's own credentials do not pass
    ]
    for auth in tries:
        r = raw_upload(f"{front.url}/", auth, "big-1.0.tar.gz", b"x" * 1000)
        assert r.status_code == 403, auth
        assert r.reason.startswith(FORBIDDEN), r.reason
    clock.now += 901  # the minted token has expired
    r = raw_upload(f"{front.url}/", (TOKEN_USER, token), "big-1.0.tar.gz", b"x" * 1000)
    assert r.status_code == 403
    assert r.reason == f"{FORBIDDEN} See {front.url}/help/#invalid-auth for more information."
    assert pypiserver.files() == {}
    assert [u.status for u in front.uploads] == [403] * 5
    assert [u.token for u in front.uploads] == [
        None, "pypi-made-up-token", token, pypiserver.password, token,
    ]  # fmt: skip


def test_large_upload_passes_with_the_index_credentials(
    front: TrustedPublishingIndex, oidc: GitHubOIDC, pypiserver: Index
) -> None:
    token = mint(front, github_token(oidc)).json()["token"]
    content = os.urandom(24 * 1024 * 1024)
    r = raw_upload(f"{front.url}/", (TOKEN_USER, token), "big-1.0.tar.gz", content)
    assert r.status_code == 200, r.text
    assert pypiserver.files() == {"big-1.0.tar.gz": hashlib.sha256(content).hexdigest()}
    # The index itself refuses the minted token: only the front's swap lets it in.
    direct = raw_upload(f"{pypiserver.base}/", (TOKEN_USER, token), "big-2.0.tar.gz", b"y")
    assert direct.status_code in (401, 403)


SHA256_OF_X = hashlib.sha256(b"x" * 1000).hexdigest()
BLAKE2_OF_X = hashlib.blake2b(b"x" * 1000, digest_size=32).hexdigest()


@pytest.mark.parametrize(
    ("digests", "reason"),
    [
        ({}, "Error: Include at least one message digest."),
        (
            {"sha256_digest": "an invalid sha256 digest"},
            "Invalid value for sha256_digest. Error: Use a valid, hex-encoded, SHA256 message "
            "digest.",
        ),
        (
            {"sha256_digest": hashlib.sha256(b"y").hexdigest()},
            "The digest supplied does not match a digest calculated from the uploaded file.",
        ),
        (
            # Each digest sent is checked, not only the first.
            {"sha256_digest": SHA256_OF_X, "blake2_256_digest": "0" * 64},
            "The digest supplied does not match a digest calculated from the uploaded file.",
        ),
    ],
    ids=["none", "malformed", "wrong-sha256", "wrong-blake2"],
)
def test_upload_forms_are_held_to_warehouses_digest_rules(
    front: TrustedPublishingIndex,
    oidc: GitHubOIDC,
    pypiserver: Index,
    digests: dict[str, str],
    reason: str,
) -> None:
    token = mint(front, github_token(oidc)).json()["token"]
    url = f"{front.url}/"
    r = raw_upload(url, (TOKEN_USER, token), "big-1.0.tar.gz", b"x" * 1000, digests)
    assert (r.status_code, r.reason) == (400, reason)
    assert pypiserver.files() == {}
    # The sha256 alone passes, as do both digests (twine's form), upper case too.
    for n, good in enumerate(
        [
            {"sha256_digest": SHA256_OF_X},
            {"sha256_digest": SHA256_OF_X.upper(), "blake2_256_digest": BLAKE2_OF_X},
        ]
    ):
        r = raw_upload(url, (TOKEN_USER, token), f"big-1.{n}.tar.gz", b"x" * 1000, good)
        assert r.status_code == 200, r.reason
    assert sorted(pypiserver.files()) == ["big-1.0.tar.gz", "big-1.1.tar.gz"]
    assert [(u.status, u.digests) for u in front.uploads] == [
        (400, tuple(d for d in ("sha256_digest", "blake2_256_digest") if d in digests)),
        (200, ("sha256_digest",)),
        (200, ("sha256_digest", "blake2_256_digest")),
    ]


# -- the audience endpoint and mint faults ----------------------------------------------


def test_audience_modes(front: TrustedPublishingIndex, oidc: GitHubOIDC) -> None:
    audience = f"{front.url}/_/oidc/audience"
    front.audience_mode = "not-found"
    assert requests.get(audience, timeout=10).status_code == 404
    assert mint(front, github_token(oidc)).status_code == 404
    front.audience_mode = "disabled"
    r = requests.get(audience, timeout=10)
    assert r.status_code == 403
    assert r.json() == {"message": "Trusted publishing functionality not enabled"}
    r = mint(front, github_token(oidc))
    assert r.status_code == 422
    assert r.json()["errors"][0]["code"] == "not-enabled"
    front.audience_mode = "normal"
    assert requests.get(audience, timeout=10).json() == {"audience": "pypi"}
    assert front.minted == []


def test_mint_faults_then_success(front: TrustedPublishingIndex, oidc: GitHubOIDC) -> None:
    front.fail_mint("server-error", 2)
    front.fail_mint("non-json")
    front.fail_mint("lost-response")
    assert mint(front, github_token(oidc)).status_code == 503
    assert mint(front, github_token(oidc)).status_code == 503
    r = mint(front, github_token(oidc))
    assert r.status_code == 200
    with pytest.raises(ValueError):  # noqa: PT011 - requests' JSONDecodeError
        r.json()
    lost = github_token(oidc)
    assert mint(front, lost).status_code == 502
    assert len(front.minted) == 1  # minted, but the answer was "lost"
    assert mint(front, lost).json()["errors"][0]["code"] == "invalid-reuse-token"
    assert mint(front, github_token(oidc)).status_code == 200
    assert front.mint_calls == 6
