"""PEP 740 attestations end to end: trusted publishing, signed for real by sigstore's
client against the local Sigstore stand-in, verified before the upload, uploaded with
the files, attached to the GitHub Release."""

from __future__ import annotations

import http.server
import json
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Index
from support.faults import ALWAYS, FaultProxy, delay, rewrite
from support.oidc import GitHubOIDC, Publisher, TrustedPublishingIndex
from support.output import the_error
from support.sigstore_local import GITHUB_ISSUER, SigstoreStandIn

from release import attest
from release.settings import TRUST_CONFIG_VAR

ATTESTATIONS_FIELD = b'name="attestations"'


class Stack:
    """GitHub's token service, a PyPI-like front (trusted publishing) before a fault
    proxy that counts uploads carrying attestations, before a real index; and Sigstore."""

    def __init__(self, index: Index, tmp_path: Path, **oidc: str) -> None:
        self.index = index
        self.oidc = GitHubOIDC(repository="octo-org/sample", **oidc)  # type: ignore[arg-type]
        self.counter = FaultProxy(index.base)
        self.with_attestations = self.counter.add(
            delay(0), method="POST", body=ATTESTATIONS_FIELD, times=ALWAYS
        )
        self.front = TrustedPublishingIndex(
            self.counter.url,
            upstream_user=index.user,
            upstream_password=index.password,
            issuer=self.oidc.issuer,
            publisher=Publisher("octo-org/sample", self.oidc.repository_owner_id, "release.yml"),
        )
        self.sigstore = SigstoreStandIn(
            jwks_url=self.oidc.jwks_url,
            issuer=self.oidc.issuer,
            certificate_issuer=GITHUB_ISSUER,
        )
        self.trust_config = self.sigstore.write_trust_config(tmp_path / "trust_config.json")

    def env(self, action, project, tag: str, github=None, **inputs: str) -> dict[str, str]:
        env = action.env(
            project,
            tag,
            None,
            github,
            repository_url=self.front.url_for(self.index.upload_url),
            index_url=self.front.url_for(self.index.simple_url),
            user="__token__",
            password="",
            **inputs,
        )
        env.update(self.oidc.request_env())
        env[TRUST_CONFIG_VAR] = str(self.trust_config)
        return env

    def close(self) -> None:
        self.sigstore.close()
        self.front.close()
        self.counter.close()
        self.oidc.close()


@pytest.fixture
def stack(pypiserver: Index, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(pypiserver, tmp_path)
    yield s
    s.close()


def test_signed_verified_uploaded_and_attached(
    make_project, stack: Stack, action, github, tmp_path: Path
) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action.run(stack.env(action, project, tag, github))
    assert run.code == 0, run.out
    files = json.loads(run.outputs["files"])
    assert sorted(stack.index.files()) == sorted(files)
    assert run.outputs["credential"] == "trusted publishing"
    # One transparency-log entry per file, and every upload carried its attestation.
    assert len(stack.sigstore.entries) == 2
    assert stack.with_attestations.fired == 2
    for name in files:
        assert f"{name}.publish.attestation: signed, verified for workflow release.yml" in run.out
    assert run.summary.count("signed and verified; the index serves no provenance") == 2
    # Attached to the release, and they verify against the stand-in's trust root.
    release = github.release_for("octo-org/sample", tag)
    assets = github.assets_of("octo-org/sample", release["id"])
    assert sorted(assets) == sorted(
        [*files, *(f"{n}.publish.attestation" for n in files), "SHA256SUMS"]
    )
    config = attest.trust_config(stack.trust_config)
    for name in files:
        path = tmp_path / f"{name}.publish.attestation"
        path.write_bytes(assets[f"{name}.publish.attestation"])
        attest.verify(
            path,
            project.path / "dist" / name,
            attest.Publisher("octo-org/sample", "release.yml"),
            config=config,
        )
    # Nothing but distributions in packages-dir.
    assert sorted(p.name for p in (project.path / "dist").iterdir()) == sorted(files)


def test_second_publish_step_in_the_same_job(
    make_project, stack: Stack, devpi: Index, action, tmp_path: Path
) -> None:
    """TestPyPI then PyPI in one job: the attestations of the first step are not in
    packages-dir, so the second step (build: false) publishes the same files again."""
    project = make_project("flit")
    tag = project.release("1.0.0")
    assert action.run(stack.env(action, project, tag)).code == 0
    (tmp_path / "second").mkdir()
    second = Stack(devpi, tmp_path / "second")
    try:
        run = action.run(second.env(action, project, tag, build="false"))
        assert run.code == 0, run.out
        assert sorted(devpi.files()) == sorted(stack.index.files())
        assert second.with_attestations.fired == 2
    finally:
        second.close()


def test_reusable_workflow_caught_before_upload(
    make_project, pypiserver: Index, action, tmp_path: Path
) -> None:
    # The job runs a reusable workflow: PyPI's trusted publisher names it (the mint
    # passes) but the certificate names the calling workflow, so PyPI would refuse the
    # attestation. Caught here, before any upload.
    stack = Stack(
        pypiserver,
        tmp_path,
        workflow_filename="release.yml",
        job_workflow_ref="octo-org/sample/.github/workflows/publish.yml@refs/tags/v1.0.0",
    )
    stack.front.publisher = Publisher(
        "octo-org/sample", stack.oidc.repository_owner_id, "publish.yml"
    )
    try:
        project = make_project("flit")
        tag = project.release("1.0.0")
        run = action.run(stack.env(action, project, tag))
        assert run.code == 1
        _title, message, hint = the_error(run.out, "attestation-reusable-workflow")
        assert "reusable workflow" in message
        assert "release.yml" in hint
        assert pypiserver.files() == {}
    finally:
        stack.close()


def test_api_token_skips_signing_with_a_notice(make_project, pypiserver: Index, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action(project, tag, pypiserver)
    assert run.code == 0, run.out
    assert (
        "::notice title=No attestations::Attestations are signed only with trusted "
        "publishing (an index refuses them with an API token): skipped."
    ) in run.out
    assert run.summary.count("not signed (API token)") == 2


def test_attestations_false(make_project, stack: Stack, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action.run(stack.env(action, project, tag, attestations="false"))
    assert run.code == 0, run.out
    assert stack.sigstore.entries == []
    assert stack.with_attestations.fired == 0


# --- re-runs: a release whose files are all on the index already --------------------------

REPO = "octo-org/sample"


def sums(files: dict[str, str]) -> str:
    return "".join(f"{sha}  {name}\n" for name, sha in sorted(files.items()))


def test_rerun_after_the_release_was_not_published(
    make_project, stack: Stack, action, github
) -> None:
    """The first run attached everything, then GitHub refused to publish the release.
    The re-run has no attestation of its own (nothing to upload, nothing signed): the
    release is finished as it is, and SHA256SUMS is the same in both runs."""
    project = make_project("flit")
    tag = project.release("1.0.0")

    def refuse_publish(method: str, path: str) -> Any:
        if method == "PATCH" and re.search(r"/releases/\d+$", path):
            return 422, {}, {"message": "Validation Failed"}
        return None

    github.faults.append(refuse_publish)
    first = action.run(stack.env(action, project, tag, github))
    assert first.code == 1
    assert the_error(first.out, "github-validation-failed")
    assert first.outputs["published"] == "true"
    files = stack.index.files()
    release = github.release_for(REPO, tag)
    assert release["draft"] is True
    attached = github.assets_of(REPO, release["id"])
    assert sorted(attached) == sorted(
        [*files, *(f"{n}.publish.attestation" for n in files), "SHA256SUMS"]
    )
    assert attached["SHA256SUMS"].decode() == sums(files)

    github.faults.remove(refuse_publish)
    shutil.rmtree(project.path / "dist")
    second = action.run(stack.env(action, project, tag, github))
    assert second.code == 0, second.out
    assert "Upload 0 file(s)" in second.out
    assert len(stack.sigstore.entries) == 2  # nothing signed again
    release = github.release_for(REPO, tag)
    assert release["draft"] is False
    assert github.assets_of(REPO, release["id"]) == attached


class ProvenanceServer:
    """PEP 740 provenance for the index's files, as PyPI serves it: the test's proxy
    in front of the index adds ``data-provenance`` to each file's link."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        objects = self.objects

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = objects.get(self.path.lstrip("/"))
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/vnd.pypi.integrity.v1+json")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, filename: str, attestation: Path) -> None:
        self.objects[filename] = json.dumps(
            {
                "version": 1,
                "attestation_bundles": [
                    {
                        "publisher": {
                            "kind": "GitHub",
                            "repository": REPO,
                            "workflow": "release.yml",
                            "environment": None,
                        },
                        "attestations": [json.loads(attestation.read_text())],
                    }
                ],
            }
        ).encode()

    def link(self, page: bytes) -> bytes:
        """The index's project page with a provenance URL on each file's link."""

        def one(m: re.Match[bytes]) -> bytes:
            name = m.group(2)
            return m.group(0) + b' data-provenance="' + self.url.encode() + name + b'"'

        return re.sub(rb'<a href="([^"]*/)?([^/"#]+)(#[^"]*)?"', one, page)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_rerun_after_attaching_an_attestation_failed(
    make_project, stack: Stack, action, github, tmp_path: Path
) -> None:
    """The first run uploaded the files with their attestations, then GitHub failed
    while attaching the first attestation. The re-run signs nothing (every file is on
    the index): it takes the attestations from the index's provenance, verifies them,
    and the release carries them."""
    project = make_project("flit")
    tag = project.release("1.0.0")
    posts = {"n": 0}

    def break_from_third_asset(method: str, path: str) -> Any:
        if method == "POST" and path.endswith("/assets"):
            posts["n"] += 1
            if posts["n"] >= 3:  # the distributions go first, then the attestations
                return 500, {}, {"message": "Server Error"}
        return None

    github.faults.append(break_from_third_asset)
    first = action.run(stack.env(action, project, tag, github))
    assert first.code == 1
    assert first.outputs["published"] == "true"
    files = stack.index.files()
    release = github.release_for(REPO, tag)
    assert sorted(github.assets_of(REPO, release["id"])) == sorted(files)
    github.faults.remove(break_from_third_asset)

    # The index serves each file's provenance, holding an attestation of the file by
    # this repository's release.yml (as the first run's upload made it on PyPI).
    provenance = ProvenanceServer()
    try:
        config = attest.trust_config(stack.trust_config)
        signed = attest.sign(
            [project.path / "dist" / name for name in files],
            lambda: stack.oidc.token("sigstore"),
            outdir=tmp_path / "on-the-index",
            config=config,
        )
        for name, path in zip(files, signed, strict=True):
            provenance.add(name, path)
        stack.counter.add(
            rewrite(provenance.link), method="GET", path=r"/simple/flit-sample/", times=ALWAYS
        )
        shutil.rmtree(project.path / "dist")
        entries = len(stack.sigstore.entries)
        second = action.run(stack.env(action, project, tag, github))
    finally:
        provenance.close()
    assert second.code == 0, second.out
    assert len(stack.sigstore.entries) == entries  # nothing signed again
    release = github.release_for(REPO, tag)
    assert release["draft"] is False
    assets = github.assets_of(REPO, release["id"])
    assert sorted(assets) == sorted(
        [*files, *(f"{n}.publish.attestation" for n in files), "SHA256SUMS"]
    )
    assert assets["SHA256SUMS"].decode() == sums(files)
    for name, path in zip(files, signed, strict=True):
        carried = tmp_path / f"{name}.publish.attestation"
        carried.write_bytes(assets[carried.name])
        assert json.loads(carried.read_bytes()) == json.loads(path.read_bytes())
        assert f"{carried.name}: taken from the index's provenance, verified" in second.out
    assert second.summary.count("| from the index's provenance, verified |") == 2
