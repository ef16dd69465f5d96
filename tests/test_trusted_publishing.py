"""Trusted publishing end to end: the action in-process, through the whole pipeline.

The GitHub OIDC token service and a PyPI-like trusted publishing front (tests/support/
oidc.py) stand before real pypiserver and devpi indexes; the action sees only what a
runner gives a job with ``id-token: write``: ``ACTIONS_ID_TOKEN_REQUEST_URL`` and
``ACTIONS_ID_TOKEN_REQUEST_TOKEN``, user ``__token__`` and no password.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import GITHUB_TOKEN, Index, Project
from support.oidc import (
    OWNER_ID,
    REPOSITORY,
    WORKFLOW,
    GitHubOIDC,
    Publisher,
    TrustedPublishingIndex,
    pypi_like,
)
from support.output import the_error
from support.runner import Action, Run

import release.credentials

FILES = ["flit_sample-1.0.0-py3-none-any.whl", "flit_sample-1.0.0.tar.gz"]
TROUBLESHOOTING = "See https://docs.pypi.org/trusted-publishers/troubleshooting/"


@dataclasses.dataclass
class Standins:
    """The token service and the front before one index, and the action's view of them."""

    oidc: GitHubOIDC
    front: TrustedPublishingIndex
    index: Index

    @property
    def host(self) -> str:
        return self.front.url.removeprefix("http://")

    def env(
        self, action: Action, project: Project, tag: str, *, id_token: bool = True, **inputs: str
    ) -> dict[str, str]:
        """The action's environment for trusted publishing through the front."""
        # The job runs for this tag at this commit, as GitHub's token would say.
        self.oidc.ref = f"refs/tags/{tag}"
        self.oidc.sha = project.head
        given = {
            "user": "__token__",
            "password": "",
            "repository_url": self.front.url_for(self.index.upload_url),
            "index_url": self.front.url_for(self.index.simple_url),
            # PEP 740 signing has its own tests and Sigstore stand-in; not this file's.
            "attestations": "false",
            "verbose": "true",  # the most output, for the leak checks
            **inputs,
        }
        env = action.env(project, tag, None, **given)
        if id_token:
            env.update(self.oidc.request_env())
        return env

    def secrets(self) -> list[str]:
        """Every secret of the exchange: the request token, each JWT, each minted token."""
        return [self.oidc.request_token, *self.oidc.issued, *(m.token for m in self.front.minted)]

    def counters(self) -> tuple[int, int]:
        return self.oidc.requests, self.front.mint_calls


@pytest.fixture
def make_standins() -> Iterator[Any]:
    made: list[Standins] = []

    def make(index: Index) -> Standins:
        # Uploads are held to PyPI's own rules, as warehouse applies them.
        oidc, front = pypi_like(index)
        made.append(Standins(oidc, front, index))
        return made[-1]

    yield make
    for s in made:
        s.front.close()
        s.oidc.close()


@pytest.fixture
def tp(make_standins: Any, pypiserver: Index) -> Standins:
    """The stand-ins before pypiserver (the failure cases need only one index)."""
    return make_standins(pypiserver)  # type: ignore[no-any-return]


@pytest.fixture
def tp_both(make_standins: Any, index: Index) -> Standins:
    """The stand-ins before pypiserver, then devpi."""
    return make_standins(index)  # type: ignore[no-any-return]


def assert_hidden(run: Run, st: Standins, tmp_path: Path, spawned: list[tuple[Any, ...]]) -> None:
    """No secret of the exchange shows anywhere but in its own ::add-mask:: line."""
    lines = run.out.splitlines()
    outputs = json.dumps(run.outputs)
    secrets = st.secrets()
    assert all(secrets), secrets
    # What the action surely received is masked (a minted token only if the mint answered).
    for secret in [st.oidc.request_token, *st.oidc.issued]:
        assert f"::add-mask::{secret}" in lines
    for secret in secrets:
        assert [line for line in lines if secret in line] in ([], [f"::add-mask::{secret}"])
        assert secret not in run.summary
        assert secret not in outputs
    # Nothing the run left on disk (project, dist/, HOME, file commands, the index).
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, path
    # No child process saw one, in its arguments or its environment.
    for _executable, args, _cwd, env in spawned:
        assert env is not None, f"{args} inherited the whole environment"
        shown = " ".join([*map(str, args), *(f"{k}={v}" for k, v in env.items())])
        for secret in secrets:
            assert secret not in shown, args


def claims_block(
    st: Standins,
    *,
    workflow: str = WORKFLOW,
    environment: str | None = None,
    owner_id: str = OWNER_ID,
) -> str:
    """The end of a refusal's hint: the claims of the job's token, then the docs."""
    ref = f"{REPOSITORY}/.github/workflows/{workflow}@{st.oidc.ref}"
    return (
        "This job's OIDC token claims (decoded without verification, to compare with the "
        "trusted publisher):\n"
        f"  repository: {REPOSITORY}\n"
        f"  repository_owner_id: {owner_id}\n"
        f"  workflow_ref: {ref}\n"
        f"  job_workflow_ref: {ref}\n"
        f"  ref: {st.oidc.ref}\n"
        f"  environment: {environment or '(not set)'}\n"
        "  event_name: push\n"
        f"{TROUBLESHOOTING}"
    )


def assert_nothing_uploaded(st: Standins) -> None:
    assert st.index.files() == {}
    assert st.front.uploads == []  # not even a refused attempt


# -- success ----------------------------------------------------------------------------


def test_publishes_with_trusted_publishing(
    make_project, tp_both: Standins, action, spawned, tmp_path: Path
) -> None:
    st = tp_both
    project = make_project("flit")
    tag = project.release("1.0.0")
    env = st.env(action, project, tag)
    spawned.clear()  # only what the action starts
    run = action.run(env)
    assert run.code == 0, run.out
    built = {p.name: p for p in (project.path / "dist").iterdir()}
    assert sorted(st.index.files()) == sorted(built) == FILES
    assert run.outputs["credential"] == "trusted publishing"
    assert run.outputs["published"] == "true"
    assert "| Credential | trusted publishing |" in run.summary
    assert "## ✅ Published flit-sample 1.0.0" in run.summary
    # One exchange, with the index's audience; its token served both uploads.
    assert st.oidc.audiences == ["pypi"]
    assert st.counters() == (1, 1)
    assert st.front.refusals == []
    [minted] = st.front.minted
    # Both forms passed warehouse's digest rules with the sha256 alone (as uv sends it).
    assert [(u.method, u.user, u.token, u.status, u.digests) for u in st.front.uploads] == [
        ("POST", "__token__", minted.token, 200, ("sha256_digest",))
    ] * 2
    assert f"Trusted publishing: {st.host} minted an upload token, valid until " in run.out
    # The runner's request token first, with the input secrets; each JWT and token as
    # soon as it arrives; then each shows nowhere else.
    masks = [f"::add-mask::{s}" for s in [GITHUB_TOKEN, *st.secrets()]]
    assert [line for line in run.out.splitlines() if line.startswith("::add-mask::")] == masks
    assert run.out.splitlines()[:2] == masks[:2]
    assert spawned, "the run started no processes?"
    assert_hidden(run, st, tmp_path, spawned)


def test_a_token_is_minted_again_for_each_long_upload(
    make_project, tp: Standins, action, spawned, tmp_path: Path
) -> None:
    # Tokens live 5 s and each upload takes 2.5 s; the token is checked when an upload
    # has arrived. A token that lives less than the refresh margin is never reused, so
    # each upload starts with one minted just before it, still live at the upload's end.
    tp.front.token_lifetime = 5
    tp.front.upload_time = 2.5
    assert tp.front.token_lifetime < release.credentials.REFRESH_MARGIN
    project = make_project("flit")
    tag = project.release("1.0.0")
    env = tp.env(action, project, tag)
    spawned.clear()
    run = action.run(env)
    assert run.code == 0, run.out
    assert sorted(tp.index.files()) == FILES
    uploads = tp.front.uploads
    assert [(u.user, u.status) for u in uploads] == [("__token__", 200)] * 2
    # The check before any upload, then one for each upload, each with a fresh JWT.
    assert len(tp.front.minted) == 1 + len(uploads) == 3
    assert tp.oidc.requests == 3
    assert len(set(tp.oidc.issued)) == 3
    assert tp.front.refusals == []  # no JWT was offered twice
    # Each upload carried the newest token, live when the upload had arrived.
    minted = {m.token: m for m in tp.front.minted}
    assert [u.token for u in uploads] == [m.token for m in tp.front.minted[1:]]
    for upload in uploads:
        assert upload.token is not None
        assert upload.at < minted[upload.token].expires
    assert run.out.count(f"Trusted publishing: {tp.host} minted an upload token") == 3
    assert_hidden(run, tp, tmp_path, spawned)


def test_without_minting_again_a_long_upload_is_refused(
    make_project, tp: Standins, action, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The control for the test above: a client that keeps each token while it lives,
    # whatever the upload, sends the second upload with a token that expires on the way.
    keep = release.credentials.TrustedPublishing.credential
    monkeypatch.setattr(
        release.credentials.TrustedPublishing, "credential", lambda self, *_: keep(self)
    )
    monkeypatch.setattr(release.credentials, "REFRESH_MARGIN", 0.0)
    tp.front.token_lifetime = 5
    tp.front.upload_time = 2.5
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action.run(tp.env(action, project, tag))
    assert run.code == 1
    assert the_error(run.out, "upload-credentials-refused")
    assert len(tp.front.minted) == 1
    assert [u.status for u in tp.front.uploads] == [200, 403]
    assert tp.front.uploads[1].at >= tp.front.minted[0].expires


# -- refusals by the index ----------------------------------------------------------------


@pytest.mark.parametrize("mismatch", ["workflow", "environment", "owner-id"])
def test_publisher_mismatch(
    make_project, tp: Standins, action, spawned, tmp_path: Path, mismatch: str
) -> None:
    workflow, environment, owner_id = WORKFLOW, None, OWNER_ID
    if mismatch == "workflow":
        workflow = tp.oidc.workflow_filename = "ci.yml"
    elif mismatch == "environment":
        tp.front.publisher = Publisher(REPOSITORY, OWNER_ID, WORKFLOW, environment="pypi")
        environment = tp.oidc.environment = "staging"
    else:  # the owner account was deleted and re-created under the same name
        owner_id = tp.oidc.repository_owner_id = "7654321"
    project = make_project("flit")
    tag = project.release("1.0.0")
    env = tp.env(action, project, tag)
    spawned.clear()
    run = action.run(env)
    assert run.code == 1
    title, message, hint = the_error(run.out, "trusted-publishing-invalid-publisher")
    assert title == "Credential error"
    assert message == (
        f"{tp.host} refused to mint an upload token by trusted publishing: "
        "invalid-publisher: valid token, but no corresponding publisher "
        "(All lookup strategies exhausted)"
    )
    env_text = f"this environment ('{environment}')" if environment else "no environment"
    assert hint == (
        "invalid-publisher: the token is valid, but no trusted publisher on the index "
        "matches this job.\n"
        f"The trusted publisher for 'flit-sample' on {tp.host} must name this repository "
        f"('{REPOSITORY}'), this workflow file ('{workflow}') and {env_text}. It is also "
        "bound to the owner's numeric id (repository_owner_id): if the owner account was "
        "renamed or re-created, register the publisher again.\n"
        + claims_block(tp, workflow=workflow, environment=environment, owner_id=owner_id)
    )
    assert "`error: trusted-publishing-invalid-publisher`" in run.summary
    assert [code for code, _ in tp.front.refusals] == ["invalid-publisher"]
    assert tp.counters() == (1, 1)  # a refusal is final: not retried
    assert run.outputs["published"] == "false"
    assert run.outputs["credential"] == ""
    assert_nothing_uploaded(tp)
    assert_hidden(run, tp, tmp_path, spawned)


def test_expired_oidc_token(make_project, tp: Standins, action, spawned, tmp_path: Path) -> None:
    tp.oidc.fault = "expired"
    project = make_project("flit")
    tag = project.release("1.0.0")
    env = tp.env(action, project, tag)
    spawned.clear()
    run = action.run(env)
    assert run.code == 1
    _, message, hint = the_error(run.out, "trusted-publishing-invalid-token")
    assert message == (
        f"{tp.host} refused to mint an upload token by trusted publishing: "
        "invalid-token: malformed or invalid token"
    )
    assert hint == (
        "invalid-token: the index could not verify the job's OIDC token (signature, issuer, "
        "audience or validity period). Re-run the job; if it persists, the index does not "
        "accept GitHub's tokens or the clocks disagree.\n" + claims_block(tp)
    )
    assert tp.front.refusals[0][1].startswith("ExpiredSignatureError")
    assert tp.counters() == (1, 1)
    assert_nothing_uploaded(tp)
    assert_hidden(run, tp, tmp_path, spawned)


def test_reused_oidc_token(make_project, tp: Standins, action, spawned, tmp_path: Path) -> None:
    # A token service that serves the same jti again: the index has seen it.
    tp.oidc.claim_overrides = {"jti": "served-twice"}
    burnt = requests.post(
        f"{tp.front.url}/_/oidc/mint-token", json={"token": tp.oidc.token()}, timeout=10
    )
    assert burnt.status_code == 200, burnt.text
    before = len(tp.front.minted)
    project = make_project("flit")
    tag = project.release("1.0.0")
    env = tp.env(action, project, tag)
    spawned.clear()
    run = action.run(env)
    assert run.code == 1
    _, message, hint = the_error(run.out, "trusted-publishing-invalid-reuse-token")
    assert message == (
        f"{tp.host} refused to mint an upload token by trusted publishing: "
        "invalid-reuse-token: invalid token: already used"
    )
    assert hint == (
        "invalid-reuse-token: this OIDC token was already exchanged once. Re-run the job: "
        "each exchange needs a fresh token.\n" + claims_block(tp)
    )
    assert len(tp.front.minted) == before
    assert tp.front.uploads == []
    assert tp.index.files() == {}
    assert_hidden(run, tp, tmp_path, spawned)


@pytest.mark.parametrize(
    ("mode", "code", "message", "hint"),
    [
        (
            "not-found",
            "trusted-publishing-unsupported",
            "The index at {host} does not support trusted publishing "
            "(GET {url}/_/oidc/audience answered 404).",
            "Pass an API token for this index in the password input, or set repository-url "
            "to an index with trusted publishing (PyPI, TestPyPI).",
        ),
        (
            "disabled",
            "trusted-publishing-disabled",
            "The index at {host} has trusted publishing disabled "
            "(GET {url}/_/oidc/audience answered 403).",
            "The index's administrators have turned trusted publishing off, usually for a "
            "while: re-run the job later, or pass an API token in the password input.",
        ),
    ],
    ids=["404", "403"],
)
def test_audience_refused(
    make_project, tp: Standins, action, mode: str, code: str, message: str, hint: str
) -> None:
    tp.front.audience_mode = mode
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action.run(tp.env(action, project, tag))
    assert run.code == 1
    assert the_error(run.out, code)[1:] == (message.format(host=tp.host, url=tp.front.url), hint)
    assert tp.counters() == (0, 0)  # GitHub was never asked for a token
    assert_nothing_uploaded(tp)


# -- the exchange fails: retried, then a clear error ---------------------------------------


@pytest.fixture
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    # 1 + 2 + 4 s of waiting in production; the schedule itself is test_credentials'.
    monkeypatch.setattr(release.credentials, "BACKOFF", 0.01)


@pytest.mark.usefixtures("quick_backoff")
@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("server-error", "it answered 503 Service Unavailable"),
        ("non-json", "it answered 200 with a body that is not JSON"),
    ],
    ids=["5xx", "not-json"],
)
def test_mint_keeps_failing(
    make_project, tp: Standins, action, spawned, tmp_path: Path, fault: str, said: str
) -> None:
    tp.front.fail_mint(fault, 10)
    project = make_project("flit")
    tag = project.release("1.0.0")
    env = tp.env(action, project, tag)
    spawned.clear()
    run = action.run(env)
    assert run.code == 1
    assert the_error(run.out, "trusted-publishing-mint-failed")[1:] == (
        f"{tp.host} did not mint an upload token by trusted publishing: {said} (after 4 attempts).",
        "This points to an outage or maintenance of the index, not to your configuration: "
        "re-run the job in a few minutes.",
    )
    # Four attempts, each with a fresh OIDC token.
    assert tp.counters() == (4, 4)
    assert len(set(tp.oidc.issued)) == 4
    assert_nothing_uploaded(tp)
    assert_hidden(run, tp, tmp_path, spawned)


@pytest.mark.usefixtures("quick_backoff")
def test_mint_recovers_after_failures(make_project, tp: Standins, action) -> None:
    tp.front.fail_mint("server-error", 2)
    tp.front.fail_mint("non-json")
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action.run(tp.env(action, project, tag))
    assert run.code == 0, run.out
    assert sorted(tp.index.files()) == FILES
    assert tp.counters() == (4, 4)
    assert len(tp.front.minted) == 1
    assert {u.token for u in tp.front.uploads} == {tp.front.minted[0].token}
    assert run.outputs["credential"] == "trusted publishing"


# -- no OIDC request at all ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "code", "message", "hint"),
    [
        (
            "push",
            "id-token-permission-missing",
            "Trusted publishing needs the job's OIDC token, but the job lacks the "
            "`id-token: write` permission (no password was given, so no API token is used).",
            "Add these lines to the publishing job:\n"
            "permissions:\n"
            "  id-token: write\n"
            "and register this repository and workflow as a trusted publisher on the index; "
            "or pass an API token in the password input.",
        ),
        (
            "pull_request",
            "id-token-unavailable-for-pull-request",
            "Trusted publishing needs the job's OIDC token, and this run is for a pull "
            "request from a fork: GitHub never gives OIDC tokens to workflows run for pull "
            "requests from forks, even with `id-token: write`.",
            "Publish from an event that forks cannot trigger: a pushed tag (on: push: tags), "
            "a published release or a manual workflow_dispatch.",
        ),
    ],
    ids=["no-permission", "fork-pull-request"],
)
def test_no_id_token_fails_before_building(
    make_project, tp: Standins, action, event: str, code: str, message: str, hint: str
) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    env = tp.env(action, project, tag, id_token=False)
    env["GITHUB_EVENT_NAME"] = event
    run = action.run(env)
    assert run.code == 1
    assert the_error(run.out, code) == ("Credential error", message, hint)
    assert "Build sdist and wheel" not in run.out
    assert not (project.path / "dist").exists()
    assert tp.counters() == (0, 0)
    assert_nothing_uploaded(tp)


def test_api_token_makes_no_oidc_request(
    make_project, tp: Standins, pypiserver: Index, action
) -> None:
    # The job may request tokens, but a password is given: it is used, and nothing else.
    project = make_project("flit")
    tag = project.release("1.0.0")
    env = action.env(project, tag, pypiserver, attestations="false")
    env["ACTIONS_ID_TOKEN_REQUEST_URL"] = tp.oidc.request_url
    env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = tp.oidc.request_token
    run = action.run(env)
    assert run.code == 0, run.out
    assert sorted(pypiserver.files()) == FILES
    assert run.outputs["credential"] == "API token"
    assert "| Credential | API token |" in run.summary
    assert tp.counters() == (0, 0)
    assert tp.front.uploads == []


def test_dry_run_makes_no_oidc_request(make_project, tp: Standins, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action.run(tp.env(action, project, tag, dry_run="true"))
    assert run.code == 0, run.out
    assert "| Credential | none needed |" in run.summary
    assert run.outputs["credential"] == ""
    assert tp.counters() == (0, 0)
    assert_nothing_uploaded(tp)


def test_refused_version_makes_no_oidc_request(
    make_project, tp: Standins, pypiserver: Index, action
) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    assert action(project, tag, pypiserver, attestations="false").code == 0  # an API token
    project.git("checkout", "-q", "-b", "old", "HEAD~1")
    low = project.release("0.9.0")
    run = action.run(tp.env(action, project, low))
    assert run.code == 1
    assert the_error(run.out, "version-not-higher")[1] == (
        "Tag 'v0.9.0' is version 0.9.0, which is not higher than "
        "1.0.0, the highest version the index has."
    )
    assert tp.counters() == (0, 0)
    assert tp.front.uploads == []


def test_nothing_to_upload_makes_no_oidc_request(make_project, tp: Standins, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    assert action.run(tp.env(action, project, tag)).code == 0
    assert tp.counters() == (1, 1)
    # A re-run finds every file on the index: no credential is needed.
    run = action.run(tp.env(action, project, tag))
    assert run.code == 0, run.out
    assert tp.counters() == (1, 1)
    assert run.outputs["credential"] == ""
    assert run.outputs["published"] == "true"
    assert "| Credential | none used |" in run.summary
