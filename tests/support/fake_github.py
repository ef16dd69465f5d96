"""A fake GitHub REST API on 127.0.0.1 that keeps state and validates every request it
receives against GitHub's published OpenAPI description (@octokit/openapi).

It serves the API under /api/v3 and uploads under /api/uploads, the way GitHub
Enterprise Server lays them out, so the GITHUB_API_URL path works too.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import http.server
import itertools
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import requests
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest

UPLOAD_PATH = "/repos/{owner}/{repo}/releases/{release_id}/assets"
OCTOKIT_OPENAPI = "23.0.2"  # @octokit/openapi, pinned
CACHE = Path(os.environ.get("RELEASE_TEST_CACHE", Path.home() / ".cache" / "release-action-tests"))


def load_github_spec() -> dict[str, Any]:
    """GitHub's OpenAPI description, fetched once with npm into a cache.

    Test workers start at once: the fetch holds a file lock and lands by atomic rename,
    so no worker ever reads a half-written or vanishing file.
    """
    target = CACHE / f"octokit-openapi-{OCTOKIT_OPENAPI}" / "api.github.com.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            _fetch_spec(target)
    return json.loads(target.read_text())  # type: ignore[no-any-return]


def _fetch_spec(target: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to fetch @octokit/openapi (apt-get install npm)")
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        subprocess.run(
            [
                npm,
                "pack",
                f"@octokit/openapi@{OCTOKIT_OPENAPI}",
                "--silent",
                "--pack-destination",
                tmp,
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
        tgz = next(Path(tmp).glob("*.tgz"))
        with tarfile.open(tgz) as tf:
            member = tf.extractfile("package/generated/api.github.com.json")
            if member is None:
                raise RuntimeError(f"{tgz.name} has no generated/api.github.com.json")
            partial = Path(tmp) / "api.github.com.json"
            partial.write_bytes(member.read())
        partial.replace(target)


NOW = "2026-11-21T00:00:00Z"


def openapi_for(spec: dict[str, Any], api: str, uploads: str) -> OpenAPI:
    """The spec with its servers pointed at the fake."""
    spec = dict(spec)
    spec["servers"] = [{"url": api}]
    paths = dict(spec["paths"])
    item = dict(paths[UPLOAD_PATH])
    item["post"] = dict(item["post"], servers=[{"url": uploads}])
    paths[UPLOAD_PATH] = item
    spec["paths"] = paths
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


@dataclasses.dataclass
class Repo:
    owner: str
    name: str
    id: int
    tags: dict[str, str] = dataclasses.field(default_factory=dict)  # tag -> commit sha
    annotated: set[str] = dataclasses.field(default_factory=set)
    releases: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    assets: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    contents: dict[int, bytes] = dataclasses.field(default_factory=dict)
    # GitHub's "immutable releases" setting: a release published while it is on is
    # immutable; its assets and tag can no longer change (uploads, deletions, a tag or
    # draft change are refused), only its title and notes. Each asset has a ``digest``.
    immutable: bool = False


Fault = Callable[[str, str], tuple[int, dict[str, str], dict[str, Any]] | None]
# (status, headers, payload): a payload that is not bytes is sent as JSON.
Response = tuple[int, dict[str, str], Any]


@dataclasses.dataclass(frozen=True)
class Call:
    """One request, as a handler sees it: its repository is already found."""

    repo: Repo
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    data: Any  # the JSON body (API host only), or {}


class Route(NamedTuple):
    method: str
    pattern: re.Pattern[str]
    handler: Callable[..., Response]  # FakeGitHub.handler(self, call, **path_params)


def endpoint(method: str, path: str | re.Pattern[str], handler: Callable[..., Response]) -> Route:
    """A route from a path template such as ``/repos/{owner}/{repo}/releases/{id}``:
    each ``{name}`` matches one path segment, ``{name:regex}`` what the regex does.
    A compiled pattern is taken as it is (named groups are the handler's arguments)."""
    if isinstance(path, re.Pattern):
        return Route(method, path, handler)
    pattern, pos = "", 0
    for m in re.finditer(r"\{(\w+)(?::([^{}]+))?\}", path):
        pattern += re.escape(path[pos : m.start()]) + f"(?P<{m.group(1)}>{m.group(2) or '[^/]+'})"
        pos = m.end()
    return Route(method, re.compile(pattern + re.escape(path[pos:])), handler)


class FakeGitHub:
    def __init__(self, spec: dict[str, Any]) -> None:
        fake = self
        self.lock = threading.Lock()
        self.repos: dict[str, Repo] = {}
        self.tokens: dict[str, str] = {}  # token -> "write" or "read"
        self.log: list[tuple[str, str]] = []
        self.invalid: list[str] = []
        self.faults: list[Fault] = []
        self.digests = True
        # Asset names GitHub stores altered (as if changed on the way): a wrong digest.
        self.tampered: set[str] = set()
        self.on_publish: Callable[[dict[str, Any]], None] | None = None
        self.ids = itertools.count(1000)

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, payload = fake.handle(
                    self.command, self.path, dict(self.headers), body
                )
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                headers.setdefault("Content-Type", "application/json; charset=utf-8")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = handle_any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.api = f"{self.base}/api/v3"
        self.uploads = f"{self.base}/api/uploads"
        self.openapi = openapi_for(spec, self.api, self.uploads)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- state set-up ----------------------------------------------------------------

    def add_repo(self, full_name: str, *, immutable: bool = False) -> Repo:
        owner, name = full_name.split("/")
        repo = Repo(owner, name, next(self.ids), immutable=immutable)
        self.repos[full_name] = repo
        return repo

    def add_release(
        self,
        full_name: str,
        tag: str,
        *,
        draft: bool = False,
        prerelease: bool = False,
        body: str = "",
    ) -> dict[str, Any]:
        repo = self.repos[full_name]
        rel = self._release(
            repo,
            {"tag_name": tag, "name": tag, "body": body, "draft": draft, "prerelease": prerelease},
        )
        return rel

    def add_asset(
        self, full_name: str, release_id: int, name: str, content: bytes
    ) -> dict[str, Any]:
        """An asset, as if attached while the release was a draft (so an immutable
        release set up here can have its assets)."""
        repo = self.repos[full_name]
        return self._asset(repo, release_id, name, content)

    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.log if m != "GET"]

    # --- request handling --------------------------------------------------------------

    def validate(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        # OpenAPI path parameters cannot hold "/", but GitHub's git ref {ref} does
        # ("tags/v1.0"): encode it so the path matches the one parameter it is.
        checked = re.sub(
            r"(/git/ref/)(.+?)(\?|$)",
            lambda m: m.group(1) + urllib.parse.quote(m.group(2), safe="") + m.group(3),
            path,
        )
        request = requests.Request(
            method, self.base + checked, headers=headers, data=body or None
        ).prepare()
        try:
            self.openapi.validate_request(RequestsOpenAPIRequest(request))
        except Exception as exc:
            detail = getattr(exc, "__cause__", None) or exc
            self.invalid.append(f"{method} {path}: {type(exc).__name__}: {exc} {detail}")

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Response:
        with self.lock:
            path = urllib.parse.urlsplit(raw_path).path
            self.log.append((method, path))
            self.validate(method, raw_path, headers, body)
            for fault in self.faults:
                hit = fault(method, path)
                if hit is not None:
                    return hit
            auth = headers.get("Authorization", "")
            token = auth.split(" ", 1)[1] if " " in auth else ""
            if token not in self.tokens:
                return (
                    401,
                    {},
                    {
                        "message": "Bad credentials",
                        "documentation_url": "https://docs.github.com/rest",
                    },
                )
            try:
                return self.route(method, raw_path, headers, body, self.tokens[token])
            except KeyError:  # no such route, repository, tag, release or asset
                return (
                    404,
                    {},
                    {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"},
                )

    def route(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes, access: str
    ) -> Response:
        """Find the repository, check the token may write, then the first entry of
        ``ROUTES`` with this method whose template matches the path.

        Both hosts (/api/v3, /api/uploads) serve every route: ``validate`` is what
        flags a request sent to the wrong one.
        """
        split = urllib.parse.urlsplit(raw_path)
        m = re.match(r"^/api/(v3|uploads)(/repos/([^/]+)/([^/]+)(?:/.*)?)$", split.path)
        if not m:
            raise KeyError(raw_path)
        host, path = m.group(1), m.group(2)
        repo = self.repos[f"{m.group(3)}/{m.group(4)}"]  # an unknown repository: 404
        call = Call(
            repo=repo,
            query=dict(urllib.parse.parse_qsl(split.query)),
            headers=headers,
            body=body,
            data=json.loads(body) if body and host == "v3" else {},
        )
        # Every non-GET needs contents: write, generate-notes included, matched or not.
        if method != "GET" and access != "write":
            return (
                403,
                {"X-Accepted-GitHub-Permissions": "contents=write"},
                {
                    "message": "Resource not accessible by integration",
                    "documentation_url": "https://docs.github.com/rest",
                    "status": "403",
                },
            )
        for entry in ROUTES:
            if entry.method == method and (found := entry.pattern.fullmatch(path)):
                params = found.groupdict()
                params.pop("owner", None)  # the repository is call.repo
                params.pop("repo", None)
                return entry.handler(self, call, **params)
        raise KeyError(path)

    # --- one handler per endpoint; a KeyError in any of them answers 404 ---------------

    def get_repo(self, call: Call) -> Response:
        return 200, {}, self._repo_json(call.repo)

    def get_tag_ref(self, call: Call, tag: str) -> Response:
        repo = call.repo
        tag = urllib.parse.unquote(tag)
        sha = repo.tags[tag]
        if tag in repo.annotated:
            tag_sha = hashlib.sha1(tag.encode()).hexdigest()  # noqa: S324 - an id
            obj = {
                "sha": tag_sha,
                "type": "tag",
                "url": f"{self._repo_url(repo)}/git/tags/{tag_sha}",
            }
        else:
            obj = {
                "sha": sha,
                "type": "commit",
                "url": f"{self._repo_url(repo)}/git/commits/{sha}",
            }
        return (
            200,
            {},
            {
                "ref": f"refs/tags/{tag}",
                "node_id": "REF",
                "url": f"{self._repo_url(repo)}/git/refs/tags/{tag}",
                "object": obj,
            },
        )

    def get_tag_object(self, call: Call, tag_sha: str) -> Response:
        repo = call.repo
        for tag in repo.annotated:
            if hashlib.sha1(tag.encode()).hexdigest() == tag_sha:  # noqa: S324
                sha = repo.tags[tag]
                return (
                    200,
                    {},
                    {
                        "sha": tag_sha,
                        "tag": tag,
                        "message": tag,
                        "node_id": "TAG",
                        "url": f"{self._repo_url(repo)}/git/tags/{tag_sha}",
                        "object": {
                            "sha": sha,
                            "type": "commit",
                            "url": f"{self._repo_url(repo)}/git/commits/{sha}",
                        },
                        "tagger": {"name": "t", "email": "t@example.invalid", "date": NOW},
                        "verification": {
                            "verified": False,
                            "reason": "unsigned",
                            "signature": None,
                            "payload": None,
                            "verified_at": None,
                        },
                    },
                )
        raise KeyError(tag_sha)

    def generate_notes(self, call: Call) -> Response:
        tag = call.data["tag_name"]
        return 200, {}, {"name": tag, "body": f"## What's Changed\n* Generated notes for {tag}"}

    def list_releases(self, call: Call) -> Response:
        page = int(call.query.get("page", "1"))
        items = sorted(call.repo.releases.values(), key=lambda r: -r["id"])
        return 200, {}, [self._release_json(call.repo, r) for r in items] if page == 1 else []

    def create_release(self, call: Call) -> Response:
        repo, data = call.repo, call.data
        published = [
            r
            for r in repo.releases.values()
            if r["tag_name"] == data["tag_name"] and not r["draft"]
        ]
        if published:
            return (
                422,
                {},
                {
                    "message": "Validation Failed",
                    "errors": [
                        {"resource": "Release", "code": "already_exists", "field": "tag_name"}
                    ],
                    "documentation_url": "https://docs.github.com/rest",
                },
            )
        rel = self._release(repo, data)
        return 201, {}, self._release_json(repo, rel)

    def get_release(self, call: Call, release_id: str) -> Response:
        return 200, {}, self._release_json(call.repo, call.repo.releases[int(release_id)])

    def update_release(self, call: Call, release_id: str) -> Response:
        repo, data = call.repo, call.data
        rel = repo.releases[int(release_id)]
        was_draft = rel["draft"]
        # A published immutable release: "Only release title and notes can be modified."
        locked = {"tag_name": rel["tag_name"], "draft": False}
        if rel.get("immutable") and any(k in data and data[k] != v for k, v in locked.items()):
            return _refused("Cannot modify the tag or draft state of an immutable release.")
        for key in ("tag_name", "name", "body", "draft", "prerelease", "make_latest"):
            if key in data:
                rel[key] = data[key]
        if was_draft and not rel["draft"]:
            rel["published_at"] = NOW
            if repo.immutable:
                rel["immutable"] = True
            if self.on_publish:
                self.on_publish(rel)
        return 200, {}, self._release_json(repo, rel)

    def list_assets(self, call: Call, release_id: str) -> Response:
        repo = call.repo
        rel = repo.releases[int(release_id)]
        return (
            200,
            {},
            [
                self._asset_json(repo, a)
                for a in repo.assets.values()
                if a["release_id"] == rel["id"]
            ],
        )

    def upload_asset(self, call: Call, release_id: str) -> Response:
        repo = call.repo
        rel = repo.releases[int(release_id)]
        if rel.get("immutable"):
            return _refused("Cannot upload assets to an immutable release.")
        name = call.query["name"]
        if any(a["name"] == name and a["release_id"] == rel["id"] for a in repo.assets.values()):
            return (
                422,
                {},
                {
                    "message": "Validation Failed",
                    "errors": [
                        {"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}
                    ],
                },
            )
        asset = self._asset(repo, rel["id"], name, call.body)
        return 201, {}, self._asset_json(repo, asset)

    def get_asset(self, call: Call, asset_id: str) -> Response:
        repo = call.repo
        asset = repo.assets[int(asset_id)]
        if "octet-stream" in call.headers.get("Accept", ""):
            return 200, {"Content-Type": "application/octet-stream"}, repo.contents[asset["id"]]
        return 200, {}, self._asset_json(repo, asset)

    def delete_asset(self, call: Call, asset_id: str) -> Response:
        asset = call.repo.assets[int(asset_id)]
        if call.repo.releases[asset["release_id"]].get("immutable"):
            return _refused("Cannot delete assets of an immutable release.")
        del call.repo.assets[int(asset_id)]
        del call.repo.contents[int(asset_id)]
        return 204, {}, b""

    # --- JSON shapes -------------------------------------------------------------------

    def _repo_url(self, repo: Repo) -> str:
        return f"{self.api}/repos/{repo.owner}/{repo.name}"

    def _repo_json(self, repo: Repo) -> dict[str, Any]:
        return {
            "id": repo.id,
            "node_id": "R",
            "name": repo.name,
            "full_name": f"{repo.owner}/{repo.name}",
            "private": False,
            "owner": {"login": repo.owner, "id": 1, "type": "Organization"},
            "html_url": f"https://github.example/{repo.owner}/{repo.name}",
            "url": self._repo_url(repo),
            "default_branch": "main",
        }

    def _release(self, repo: Repo, data: dict[str, Any]) -> dict[str, Any]:
        rid = next(self.ids)
        rel = {
            "id": rid,
            "tag_name": data["tag_name"],
            "name": data.get("name"),
            "body": data.get("body"),
            "draft": bool(data.get("draft")),
            "prerelease": bool(data.get("prerelease")),
            "make_latest": data.get("make_latest", "true"),
            "published_at": None if data.get("draft") else NOW,
            "immutable": bool(repo.immutable and not data.get("draft")),
        }
        repo.releases[rid] = rel
        return rel

    def _release_json(self, repo: Repo, rel: dict[str, Any]) -> dict[str, Any]:
        url = f"{self._repo_url(repo)}/releases/{rel['id']}"
        return {
            **{
                k: rel[k]
                for k in (
                    "id",
                    "tag_name",
                    "name",
                    "body",
                    "draft",
                    "prerelease",
                    "published_at",
                    "immutable",
                )
            },
            "url": url,
            "assets_url": f"{url}/assets",
            "node_id": "RE",
            "upload_url": f"{self.uploads}/repos/{repo.owner}/{repo.name}/releases/"
            f"{rel['id']}/assets{{?name,label}}",
            "html_url": f"https://github.example/{repo.owner}/{repo.name}/releases/tag/"
            f"{rel['tag_name']}",
            "tarball_url": None,
            "zipball_url": None,
            "created_at": NOW,
            "target_commitish": "main",
            "author": {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"},
            "assets": [
                self._asset_json(repo, a)
                for a in repo.assets.values()
                if a["release_id"] == rel["id"]
            ],
        }

    def _asset(self, repo: Repo, release_id: int, name: str, content: bytes) -> dict[str, Any]:
        aid = next(self.ids)
        asset = {
            "id": aid,
            "name": name,
            "release_id": release_id,
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
        }
        repo.assets[aid] = asset
        repo.contents[aid] = content
        return asset

    def _asset_json(self, repo: Repo, asset: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": asset["id"],
            "name": asset["name"],
            "node_id": "RA",
            "label": "",
            "state": "uploaded",
            "content_type": "application/octet-stream",
            "size": asset["size"],
            "download_count": 0,
            "digest": (
                f"sha256:{'0' * 64 if asset['name'] in self.tampered else asset['sha256']}"
                if self.digests
                else None
            ),
            "url": f"{self._repo_url(repo)}/releases/assets/{asset['id']}",
            "browser_download_url": f"https://github.example/{repo.owner}/"
            f"{repo.name}/releases/download/{asset['name']}",
            "created_at": NOW,
            "updated_at": NOW,
            "uploader": None,
        }

    def release_for(self, full_name: str, tag: str) -> dict[str, Any]:
        found = [r for r in self.repos[full_name].releases.values() if r["tag_name"] == tag]
        assert len(found) == 1, found
        return found[0]

    def assets_of(self, full_name: str, release_id: int) -> dict[str, bytes]:
        repo = self.repos[full_name]
        return {
            a["name"]: repo.contents[a["id"]]
            for a in repo.assets.values()
            if a["release_id"] == release_id
        }


def _refused(message: str) -> Response:
    """GitHub's answer to a change an immutable release does not take."""
    return 422, {}, {"message": message, "documentation_url": "https://docs.github.com/rest"}


# The endpoints the fake serves, GitHub's own path templates (@octokit/openapi); the
# first entry with the request's method whose template matches the whole path answers.
# Anything else under /repos/{owner}/{repo} is 404 (403 first for a non-GET without
# write access), like GitHub.
REPO_PATH = "/repos/{owner}/{repo}"
ROUTES: list[Route] = [
    endpoint("GET", REPO_PATH, FakeGitHub.get_repo),
    # A git ref holds "/" ("tags/v1.0"): the tag is the rest of the path.
    endpoint("GET", REPO_PATH + r"/git/ref/tags/{tag:.+}", FakeGitHub.get_tag_ref),
    endpoint("GET", REPO_PATH + r"/git/tags/{tag_sha:[0-9a-f]+}", FakeGitHub.get_tag_object),
    endpoint("POST", REPO_PATH + r"/releases/generate-notes", FakeGitHub.generate_notes),
    endpoint("GET", REPO_PATH + r"/releases", FakeGitHub.list_releases),
    endpoint("POST", REPO_PATH + r"/releases", FakeGitHub.create_release),
    endpoint("GET", REPO_PATH + r"/releases/{release_id:\d+}", FakeGitHub.get_release),
    endpoint("PATCH", REPO_PATH + r"/releases/{release_id:\d+}", FakeGitHub.update_release),
    endpoint("GET", REPO_PATH + r"/releases/{release_id:\d+}/assets", FakeGitHub.list_assets),
    # Served on the uploads host (UPLOAD_PATH); the body is the file, not JSON.
    endpoint("POST", REPO_PATH + r"/releases/{release_id:\d+}/assets", FakeGitHub.upload_asset),
    endpoint("GET", REPO_PATH + r"/releases/assets/{asset_id:\d+}", FakeGitHub.get_asset),
    endpoint("DELETE", REPO_PATH + r"/releases/assets/{asset_id:\d+}", FakeGitHub.delete_asset),
]
