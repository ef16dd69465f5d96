"""The image built from our Dockerfile, run exactly the way the GitHub runner runs a
Docker action: workspace and file commands mounted, HOME=/github/home, inputs as
INPUT_<NAME> with hyphens kept and defaulted as action.yml says."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import GITHUB_TOKEN, REPO, Index, Project
from support.dockerhost import base_image, docker, ensure_base_image, ensure_engine
from support.fake_github import FakeGitHub
from support.oidc import GitHubOIDC, Publisher, TrustedPublishingIndex
from support.output import the_error
from support.runner import action_inputs, parse_outputs, runner_variables

pytestmark = pytest.mark.container

IMAGE = "pypi-release-action:test"
RUNNER_UID = 1001  # the runner's checkout belongs to the "runner" user, not root


@pytest.fixture(scope="session")
def engine() -> Iterator[dict[str, str]]:
    env, started = ensure_engine()
    ensure_base_image(base_image(REPO / "Dockerfile"), env)
    docker("build", "-q", "-t", IMAGE, str(REPO), env=env)
    yield env
    if started is not None:
        started.terminate()
        started.wait(30)


def runner_env(project: Project, tag: str, files: Path, **inputs: str) -> dict[str, str]:
    """What the runner gives a Docker action's container."""
    return {
        **runner_variables(
            project,
            tag,
            home="/github/home",
            workspace="/github/workspace",
            output=f"/github/file_commands/set_output_{files.name}",
            summary=f"/github/file_commands/step_summary_{files.name}",
            temp="/home/runner/work/_temp",
        ),
        **action_inputs(**inputs),
    }


def run_action(
    engine: dict[str, str],
    project: Project,
    tag: str,
    tmp_path: Path,
    github: FakeGitHub | None = None,
    *,
    runner: dict[str, str] | None = None,
    volumes: dict[Path, str] | None = None,
    **inputs: str,
) -> tuple[int, str, dict[str, str], str]:
    """``runner``: more variables the runner sets for the job (e.g. the OIDC request);
    ``volumes``: more folders mounted (host path: container path)."""
    files = tmp_path / f"file_commands_{len(list(tmp_path.glob('file_commands_*')))}"
    files.mkdir()
    home = tmp_path / "github_home"
    home.mkdir(exist_ok=True)
    env = {**runner_env(project, tag, files, **inputs), **(runner or {})}
    if github is not None:
        github.repos["octo-org/sample"].tags[tag] = env["GITHUB_SHA"]
        env["GITHUB_API_URL"] = github.api
        env["RELEASE_GITHUB_WRITE_INTERVAL"] = "0"
    (files / f"set_output_{files.name}").touch()
    (files / f"step_summary_{files.name}").touch()
    # The checkout belongs to another uid, as on a real runner.
    subprocess.run(["chown", "-R", f"{RUNNER_UID}:{RUNNER_UID}", str(project.path)], check=True)
    args = [
        "run",
        "--rm",
        "--network",
        "host",
        "--workdir",
        "/github/workspace",
        "-v",
        f"{project.path}:/github/workspace",
        "-v",
        f"{files}:/github/file_commands",
        "-v",
        f"{home}:/github/home",
    ]
    for host, inside in (volumes or {}).items():
        args += ["-v", f"{host}:{inside}"]
    # As the runner does: names on the command line, values in the environment, so
    # secrets never appear in a process's arguments.
    for name in env:
        args += ["-e", name]
    proc = subprocess.run(
        ["docker", *args, IMAGE], env={**engine, **env}, capture_output=True, text=True, check=False
    )
    outputs = parse_outputs((files / f"set_output_{files.name}").read_text())
    summary = (files / f"step_summary_{files.name}").read_text()
    return proc.returncode, proc.stdout + proc.stderr, outputs, summary


def index_inputs(index: Index) -> dict[str, str]:
    return {
        "repository_url": index.upload_url,
        "index_url": index.simple_url,
        "user": index.user,
        "password": index.password,
    }


def test_publish_then_refuse_a_lower_version(
    engine, make_project, pypiserver: Index, github: FakeGitHub, tmp_path: Path
) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    code, out, outputs, summary = run_action(
        engine, project, tag, tmp_path, github, **index_inputs(pypiserver)
    )
    assert code == 0, out
    files = pypiserver.files()
    assert sorted(files) == ["flit_sample-1.0.0-py3-none-any.whl", "flit_sample-1.0.0.tar.gz"]
    assert outputs["version"] == "1.0.0"
    assert outputs["published"] == "true"
    assert json.loads(outputs["files"]) == sorted(files)
    assert outputs["release-url"].endswith("/releases/tag/v1.0.0")
    assert "## ✅ Published flit-sample 1.0.0" in summary
    for name, sha in files.items():
        assert f"| <code>{name}</code> |" in summary
        assert sha in summary
    masks = [line for line in out.splitlines() if line.startswith("::add-mask::")]
    assert masks == [f"::add-mask::{pypiserver.password}", f"::add-mask::{GITHUB_TOKEN}"]
    shown = out.replace("\n".join(masks), "") + summary
    assert pypiserver.password not in shown
    assert GITHUB_TOKEN not in shown
    release = github.release_for("octo-org/sample", tag)
    assert release["draft"] is False
    assert len(github.assets_of("octo-org/sample", release["id"])) == 3

    # A version that is not higher is refused, and nothing more is uploaded.
    project.git("checkout", "-q", "-b", "old", "HEAD~1")
    low = project.release("0.9.0")
    code, out, outputs, summary = run_action(
        engine, project, low, tmp_path, github, **index_inputs(pypiserver)
    )
    assert code == 1
    assert the_error(out)[1] == (
        "Tag 'v0.9.0' is version 0.9.0, which is not higher than "
        "1.0.0, the highest version the index has."
    )
    assert "### ❌ Version refused" in summary
    assert pypiserver.files() == files


def test_setuptools_scm_in_a_checkout_of_another_uid(
    engine, make_project, devpi: Index, tmp_path: Path
) -> None:
    project = make_project("scm")
    # Named by no MANIFEST.in: only setuptools-scm's git file finder puts it in the sdist,
    # so it proves the image's git serves that too (git ls-files).
    (project.path / "docs").mkdir()
    (project.path / "docs" / "guide.txt").write_text("tracked by git only\n")
    project.commit("docs")
    tag = project.release("2.3.4")
    code, out, outputs, _ = run_action(
        engine, project, tag, tmp_path, None, github_release="false", **index_inputs(devpi)
    )
    assert code == 0, out
    assert sorted(devpi.files()) == ["scm_sample-2.3.4-py3-none-any.whl", "scm_sample-2.3.4.tar.gz"]
    assert outputs["version"] == "2.3.4"
    with tarfile.open(project.path / "dist" / "scm_sample-2.3.4.tar.gz") as sdist:
        assert "scm_sample-2.3.4/docs/guide.txt" in sdist.getnames()


def test_trusted_publishing(engine, make_project, devpi: Index, tmp_path: Path) -> None:
    # The job has `id-token: write`: the runner gives the container the OIDC request URL
    # and token, and the stand-ins on 127.0.0.1 are reachable through --network host.
    project = make_project("flit")
    tag = project.release("1.0.0")
    with (
        GitHubOIDC(repository="octo-org/sample", ref=f"refs/tags/{tag}", sha=project.head) as oidc,
        TrustedPublishingIndex(
            devpi.base,
            upstream_user=devpi.user,
            upstream_password=devpi.password,
            issuer=oidc.issuer,
            publisher=Publisher("octo-org/sample", oidc.repository_owner_id, "release.yml"),
        ) as front,
    ):
        code, out, outputs, summary = run_action(
            engine,
            project,
            tag,
            tmp_path,
            None,
            runner={
                "ACTIONS_ID_TOKEN_REQUEST_URL": oidc.request_url,
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN": oidc.request_token,
            },
            github_release="false",
            attestations="false",  # PEP 740 signing is tested on its own
            user="__token__",
            password="",
            repository_url=front.url_for(devpi.upload_url),
            index_url=front.url_for(devpi.simple_url),
        )
        assert code == 0, out
        assert sorted(devpi.files()) == [
            "flit_sample-1.0.0-py3-none-any.whl",
            "flit_sample-1.0.0.tar.gz",
        ]
        assert outputs["credential"] == "trusted publishing"
        assert "| Credential | trusted publishing |" in summary
        assert (oidc.requests, front.mint_calls) == (1, 1)
        [minted] = front.minted
        assert [(u.user, u.token, u.status) for u in front.uploads] == [
            ("__token__", minted.token, 200)
        ] * 2
        secrets = [oidc.request_token, *oidc.issued, minted.token]
    masks = [f"::add-mask::{s}" for s in [GITHUB_TOKEN, *secrets]]
    assert [line for line in out.splitlines() if line.startswith("::add-mask::")] == masks
    for secret in secrets:
        assert [line for line in out.splitlines() if secret in line] == [f"::add-mask::{secret}"]
        assert secret not in summary
        assert secret not in json.dumps(outputs)
        # Nothing the container wrote: the workspace, HOME, the file commands.
        for path in tmp_path.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path


def test_bytecode_is_written_by_the_hooks_not_by_the_action(engine) -> None:
    """The backend's hooks inherit the container's environment: with
    PYTHONDONTWRITEBYTECODE there, each of the four compiled the backend afresh (~0.2 s of
    a small release). The action itself runs with -B: it imports each module once."""
    env = docker("run", "--rm", "--entrypoint", "env", IMAGE, env=engine).stdout
    assert "PYTHONDONTWRITEBYTECODE" not in env
    name = "release-bytecode-check"
    docker("rm", "-f", name, env=engine)
    try:
        ran = docker("run", "--name", name, IMAGE, "--version", env=engine)
        assert ran.stdout.startswith("entrypoint.py ")  # the image's entry point ran
        changed = docker("diff", name, env=engine).stdout.splitlines()
        assert [line for line in changed if "__pycache__" in line] == []
    finally:
        docker("rm", "-f", name, env=engine)


def test_a_hostile_backend_gets_nothing_in_the_image(
    engine, pypiserver: Index, tmp_path: Path
) -> None:
    """The image as the runner runs it (root, the checkout of another uid) and a hostile
    in-tree backend (tests/test_build_isolation.py): it runs as the image's build user,
    reads no secret, mints nothing, writes no file command, and its daemon is killed."""
    from test_build_isolation import hostile_project

    project = hostile_project(tmp_path / "workspace")
    tag = project.release("1.0.0")
    report = tmp_path / "report"
    report.mkdir()
    report.chmod(0o777)
    runtime = "actions-runtime-token-0123456789"
    with GitHubOIDC(ref=f"refs/tags/{tag}", sha=project.head) as oidc:
        code, out, outputs, summary = run_action(
            engine,
            project,
            tag,
            tmp_path,
            None,
            github_release="false",
            verify_metadata="false",
            runner={
                "ACTIONS_ID_TOKEN_REQUEST_URL": oidc.request_url,
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN": oidc.request_token,
                "ACTIONS_RUNTIME_TOKEN": runtime,
                "GITHUB_ENV": "/github/file_commands/set_env",
                "GITHUB_PATH": "/github/file_commands/add_path",
                "HOSTILE_REPORT": "/report/report.json",
            },
            volumes={report: "/report"},
            **index_inputs(pypiserver),
        )
        assert code == 0, out
        assert oidc.requests == 0
        assert oidc.issued == []
    found = json.loads((report / "report.json").read_text())
    assert found["uid"] not in (0, RUNNER_UID)  # the image's build user
    assert found["action_pid"] == 1  # the action is the container's first process
    assert "1" in found["denied"]
    everything = json.dumps(found)
    for secret in (pypiserver.password, GITHUB_TOKEN, oidc.request_token, runtime):
        assert secret not in everything
    assert found["mint"] == "no request variables"
    assert found["file_commands"] == {}
    assert "HOSTILE" not in json.dumps(outputs) + summary
    assert (
        "::warning title=Build processes killed::The build left 1 process(es) running: killed."
        in out
    )
    assert "HOSTILE-DAEMON" not in out
    dist = project.path / "dist"
    for name, sha256 in pypiserver.files().items():
        assert hashlib.sha256((dist / name).read_bytes()).hexdigest() == sha256
