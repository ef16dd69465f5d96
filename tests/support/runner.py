"""The runner's side of a Docker action: its variables, the inputs as INPUT_<NAME>
(defaulted as action.yml says), the file commands, and reading them back."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from release.__main__ import main

from .indexes import Index
from .projects import Project

if TYPE_CHECKING:
    import pytest

    from .fake_github import FakeGitHub

REPO = Path(__file__).resolve().parent.parent.parent
GITHUB_TOKEN = "ghs_test-github-token-0123456789"
PASSTHROUGH = ("SSL_CERT_FILE", "PIP_CERT", "PIP_FIND_LINKS", "PIP_INDEX_URL", "UV_INDEX_URL")


def action_spec() -> dict[str, Any]:
    return yaml.safe_load((REPO / "action.yml").read_text())  # type: ignore[no-any-return]


def action_defaults() -> dict[str, str]:
    return {name: str(i.get("default", "")) for name, i in action_spec()["inputs"].items()}


def action_inputs(**overrides: str) -> dict[str, str]:
    """INPUT_<NAME> for every input, defaulted as action.yml says (the runner fills in
    ${{ github.token }})."""
    env = {}
    for name, default in action_defaults().items():
        value = overrides.get(name.replace("-", "_"), default)
        env[f"INPUT_{name.upper()}"] = value.replace("${{ github.token }}", GITHUB_TOKEN)
    return env


def runner_variables(
    project: Project, tag: str, *, home: str, workspace: str, output: str, summary: str, temp: str
) -> dict[str, str]:
    """The variables the runner sets for a step on a pushed tag."""
    return {
        "HOME": home,
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_REF": f"refs/tags/{tag}",
        "GITHUB_REF_NAME": tag,
        "GITHUB_REF_TYPE": "tag",
        "GITHUB_SHA": project.head,
        "GITHUB_REPOSITORY": "octo-org/sample",
        "GITHUB_REPOSITORY_OWNER": "octo-org",
        "GITHUB_WORKFLOW_REF": "octo-org/sample/.github/workflows/release.yml@refs/tags/" + tag,
        "GITHUB_WORKSPACE": workspace,
        "GITHUB_OUTPUT": output,
        "GITHUB_STEP_SUMMARY": summary,
        "RUNNER_OS": "Linux",
        "RUNNER_TEMP": temp,
    }


@dataclasses.dataclass
class Run:
    code: int
    out: str
    outputs: dict[str, str]
    summary: str


def parse_outputs(text: str) -> dict[str, str]:
    """Read GITHUB_OUTPUT as the runner does: name=value, or name<<DELIMITER ... DELIMITER."""
    out: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line:
            i += 1
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i + 1)
            out[name] = "\n".join(lines[i + 1 : end])
            i = end + 1
        else:
            name, value = line.split("=", 1)
            out[name] = value
            i += 1
    return out


class _InProcess:
    """Runs ``release.__main__.main`` in this process, in a test's folders."""

    def __init__(
        self,
        tmp_path: Path,
        uv_cache: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        self.tmp_path = tmp_path
        self.uv_cache = uv_cache
        self.monkeypatch = monkeypatch
        self.capsys = capsys
        self.runs = 0


class Action(_InProcess):
    """Runs the action in-process with exactly the environment a Docker action gets."""

    def env(
        self,
        project: Project,
        tag: str,
        index: Index | None,
        github: FakeGitHub | None = None,
        **inputs: str,
    ) -> dict[str, str]:
        self.runs += 1
        files = self.tmp_path / f"file_commands_{self.runs}"
        files.mkdir()
        (files / "output").touch()
        (files / "summary").touch()
        home = self.tmp_path / "home"
        home.mkdir(exist_ok=True)
        env = {
            "PATH": os.environ["PATH"],
            "UV_CACHE_DIR": str(self.uv_cache),
            **runner_variables(
                project,
                tag,
                home=str(home),
                workspace=str(project.path),
                output=str(files / "output"),
                summary=str(files / "summary"),
                temp=str(self.tmp_path),
            ),
            **action_inputs(),
        }
        for name in PASSTHROUGH:
            if name in os.environ:
                env[name] = os.environ[name]
        env["INPUT_GITHUB-RELEASE"] = "false"
        if github is not None:
            env["INPUT_GITHUB-RELEASE"] = "true"
            env["GITHUB_API_URL"] = github.api
            env["RELEASE_GITHUB_WRITE_INTERVAL"] = "0"  # PyGithub's write throttle
            repo = github.repos.get(env["GITHUB_REPOSITORY"])
            if repo is not None and tag not in repo.tags:
                repo.tags[tag] = env["GITHUB_SHA"]
        if index is not None:
            env["INPUT_REPOSITORY-URL"] = index.upload_url
            env["INPUT_INDEX-URL"] = index.simple_url
            env["INPUT_USER"] = index.user
            env["INPUT_PASSWORD"] = index.password
        for key, value in inputs.items():
            env[f"INPUT_{key.replace('_', '-').upper()}"] = value
        return env

    def run(self, env: dict[str, str], cwd: Path | None = None) -> Run:
        self.monkeypatch.chdir(cwd or Path(env["GITHUB_WORKSPACE"]))
        self.capsys.readouterr()
        code = main([], env)
        out = self.capsys.readouterr()
        return Run(
            code,
            out.out + out.err,
            parse_outputs(Path(env["GITHUB_OUTPUT"]).read_text()),
            Path(env["GITHUB_STEP_SUMMARY"]).read_text(),
        )

    def __call__(
        self,
        project: Project,
        tag: str,
        index: Index | None,
        github: FakeGitHub | None = None,
        **inputs: str,
    ) -> Run:
        return self.run(self.env(project, tag, index, github, **inputs))


@dataclasses.dataclass
class CliRun:
    code: int
    out: str
    err: str


class Cli(_InProcess):
    """``python -m release`` in-process: flags, an environment, the current folder."""

    def env(self, index: Index | None, **extra: str) -> dict[str, str]:
        home = self.tmp_path / "cli-home"
        home.mkdir(exist_ok=True)
        env = {"PATH": os.environ["PATH"], "HOME": str(home), "UV_CACHE_DIR": str(self.uv_cache)}
        env.update({k: os.environ[k] for k in PASSTHROUGH if k in os.environ})
        if index is not None:
            env["TWINE_USERNAME"] = index.user
            env["TWINE_PASSWORD"] = index.password
        env.update(extra)
        return env

    def __call__(
        self,
        cwd: Path,
        *argv: str,
        index: Index | None = None,
        env: dict[str, str] | None = None,
    ) -> CliRun:
        flags = list(argv)
        if index is not None:
            flags += ["--repository-url", index.upload_url, "--index-url", index.simple_url]
        self.monkeypatch.chdir(cwd)
        self.capsys.readouterr()
        try:
            code = main(flags, self.env(index) if env is None else env)
        except SystemExit as exc:  # argparse: usage errors exit 2
            code = exc.code if isinstance(exc.code, int) else 1
        out = self.capsys.readouterr()
        return CliRun(code, out.out, out.err)
