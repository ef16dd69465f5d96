"""Inputs: one table for action.yml, the CLI and the hints; read once, validated strictly."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.runner import action_spec

from release.errors import CredentialError, InputError
from release.inputs import INPUTS, build_parser, render
from release.settings import (
    TESTPYPI_UPLOAD,
    Settings,
    child_environment,
    derive_index_url,
)
from release.urls import sanitize_url


def test_the_table_is_action_yml() -> None:
    """action.yml declares exactly the table's inputs, defaults and descriptions."""
    declared = action_spec()["inputs"]
    assert list(declared) == [i.name for i in INPUTS]
    for spec in INPUTS:
        assert str(declared[spec.name].get("default", "")) == spec.default, spec.name
        assert declared[spec.name]["description"] == spec.help, spec.name
        assert declared[spec.name].get("required", False) is False, spec.name


def test_a_new_input_is_one_table_entry(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Adding an input: its entry in the table (and its copy in action.yml, which the test
    above checks). Both doors read it, with its default, and the code finds it in
    ``Settings.inputs``; secrets never appear there."""
    from release import inputs

    made_up = inputs.Input("made-up", "A made-up input.", default="plain", kind="str")
    flag = inputs.Input("made-up-flag", "A made-up switch.", default="false", kind="bool")
    monkeypatch.setattr(inputs, "INPUTS", (*inputs.INPUTS, made_up, flag))
    env = {
        "PATH": "/usr/bin",
        "INPUT_PASSWORD": "pypi-secret-value-0123456789",
        "TWINE_PASSWORD": "pypi-secret-value-0123456789",
        "GITHUB_REF": "refs/tags/v1.0.0",
        "INPUT_GITHUB-RELEASE": "false",
    }
    action = Settings.from_action_env(
        {**env, "INPUT_MADE-UP": "given", "INPUT_WORKING-DIRECTORY": str(tmp_path)}
    )
    assert (action.inputs["made_up"], action.inputs["made_up_flag"]) == ("given", False)
    assert "password" not in action.inputs
    cli = Settings.from_args(["-C", str(tmp_path), "--tag", "v1.0.0", "--made-up-flag"], env)
    assert (cli.inputs["made_up"], cli.inputs["made_up_flag"]) == ("plain", True)
    assert "pypi-secret-value-0123456789" not in repr(cli) + repr(dict(cli.inputs))


def test_every_input_has_a_flag_but_the_secrets() -> None:
    flags = {o for a in build_parser()._actions for o in a.option_strings}
    for spec in INPUTS:
        if spec.secret_env:
            assert spec.flag not in flags, "secrets come from the environment"
        else:
            assert spec.flag in flags
            if spec.kind in ("bool", "auto"):
                assert f"--no-{spec.name}" in flags


def test_abbreviations_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["--index", "https://example.invalid/simple/"])
    assert info.value.code == 2
    assert "unrecognized arguments: --index" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "action", "cli"),
    [
        ("set {build=false}", "set build: false", "set --no-build"),
        ("set {build=true}", "set build: true", "set --build"),
        ("check {index-url}", "check index-url", "check --index-url"),
        ("{working-directory=sub}", "working-directory: sub", "--working-directory sub"),
        ("check {password}", "check password", "check TWINE_PASSWORD"),
        (
            "${{ github.token }} {unknown}",
            "${{ github.token }} {unknown}",
            "${{ github.token }} {unknown}",
        ),
    ],
)
def test_hints_name_inputs_per_front_door(text: str, action: str, cli: str) -> None:
    assert render(text, "action") == action
    assert render(text, "cli") == cli


@pytest.mark.parametrize(
    ("repository", "index", "expected"),
    [
        ("https://upload.pypi.org/legacy/", "", "https://pypi.org/simple/"),
        ("https://upload.pypi.org/legacy", "", "https://pypi.org/simple/"),
        ("https://test.pypi.org/legacy/", "", "https://test.pypi.org/simple/"),
        (
            "https://pkgs.example/upload",
            "https://pkgs.example/simple",
            "https://pkgs.example/simple/",
        ),
    ],
)
def test_index_url(repository: str, index: str, expected: str) -> None:
    assert derive_index_url(repository, index) == expected


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://u:p4ss@host:8080/x", "https://***@host:8080/x"),
        ("https://tokenonly@host/x", "https://***@host/x"),
        ("https://host/x", "https://host/x"),
        ("https://u:p4ss@host:x/y", "<a malformed URL>"),
        ("https://u:p4ss@[host/x", "<a malformed URL>"),
        ("https://u\uff1ap4ss\uff20[host/x", "<a malformed URL>"),  # '@' under NFKC
        ("https://[host/x", "https://[host/x"),  # nothing to hide
    ],
)
def test_urls_are_scrubbed(url: str, shown: str) -> None:
    assert sanitize_url(url) == shown


def action_env(**inputs: str) -> dict[str, str]:
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REF": "refs/tags/v1.0",
        "INPUT_PASSWORD": "pypi-x",
        "INPUT_GITHUB-RELEASE": "false",
    }
    env.update({f"INPUT_{k.upper()}": v for k, v in inputs.items()})
    return env


@pytest.mark.parametrize("value", ["True", "yes", "1", "", "on"])
def test_booleans_are_strict(value: str) -> None:
    with pytest.raises(InputError) as info:
        Settings.from_action_env(action_env(**{"skip-existing": value}))
    assert info.value.code == "invalid-boolean"
    assert info.value.message == (
        f"Input 'skip-existing' must be 'true' or 'false', not '{value}'."
    )


def test_secrets_stay_out_of_child_env_and_repr() -> None:
    env = action_env(password="pypi-abc-1234567", **{"github-token": "ghs_abc"})
    env["TWINE_PASSWORD"] = "pypi-xyz"
    settings = Settings.from_action_env(env)
    assert settings.password == "pypi-abc-1234567"
    assert settings.github_token == "ghs_abc"
    assert "pypi-" not in repr(settings)
    assert "ghs_" not in repr(settings)
    assert not any(k.startswith("INPUT_") for k in settings.child_env)
    assert "TWINE_PASSWORD" not in settings.child_env


def test_child_environment_rules() -> None:
    secret = "pypi-very-secret-value"
    env = {
        "PATH": "/usr/bin",
        "HOME": "/github/home",
        "HTTPS_PROXY": "http://proxy:3128",
        "SSL_CERT_FILE": "/etc/ssl/cert.pem",
        "PIP_INDEX_URL": "https://mirror/simple",
        "UV_CACHE_DIR": "/cache",
        "CFLAGS": "-O2",
        "GIT_AUTHOR_NAME": "A",
        "MY_PYPI_TOKEN": "anything",
        "DEPLOY_PASSWORD": "x",
        "SOME_SECRET": "x",
        "INPUT_REPOSITORY-URL": "https://u:p@host/",
        "INNOCENT_NAME": secret,
        "EMBEDDED": f"https://user:{secret}@host/",
        "ACTIONS_ID_TOKEN_REQUEST_URL": "https://token",
        "ACTIONS_CACHE_URL": "https://cache",
        "GITHUB_ENV": "/github/file_commands/set_env",
        "GITHUB_STEP_SUMMARY": "/github/file_commands/step_summary",
        "GITHUB_REPOSITORY": "octo-org/sample",
    }
    kept = child_environment(env, [secret])
    assert sorted(kept) == [
        "CFLAGS",
        "GITHUB_REPOSITORY",
        "GIT_AUTHOR_NAME",
        "HOME",
        "HTTPS_PROXY",
        "PATH",
        "PIP_INDEX_URL",
        "SSL_CERT_FILE",
        "UV_CACHE_DIR",
    ]


def test_local_flags(tmp_path: Path) -> None:
    settings = Settings.from_args(
        [
            "--tag",
            "v2.0",
            "--dry-run",
            "--no-build",
            "-C",
            str(tmp_path),
            "--repository-url",
            "https://test.pypi.org/legacy/",
        ],
        {"TWINE_PASSWORD": "pypi-local"},
    )
    assert settings.tag == "v2.0"
    assert settings.dry_run
    assert not settings.build
    assert not settings.actions
    assert not settings.github_release  # locally only when asked for
    assert settings.password == "pypi-local"
    assert settings.index_url == "https://test.pypi.org/simple/"
    assert settings.packages_dir == tmp_path / "dist"


def test_working_directory_must_exist() -> None:
    with pytest.raises(InputError) as info:
        Settings.from_action_env(action_env(**{"working-directory": "nope"}))
    assert info.value.code == "working-directory-missing"
    assert info.value.message == "working-directory 'nope' is not a directory."


def test_github_token_required_for_a_release() -> None:
    with pytest.raises(InputError) as info:
        Settings.from_action_env(action_env(**{"github-release": "true", "github-token": ""}))
    assert info.value.code == "github-token-missing"


def test_no_password_and_no_id_token_fails_first() -> None:
    env = action_env(password="")
    with pytest.raises(CredentialError) as info:
        Settings.from_action_env(env)
    assert info.value.code == "id-token-permission-missing"
    assert info.value.message == (
        "Trusted publishing needs the job's OIDC token, but the job lacks the "
        "`id-token: write` permission (no password was given, so no API token is used)."
    )
    assert "permissions:\n  id-token: write" in info.value.hint


def test_forks_never_get_id_tokens() -> None:
    env = action_env(password="")
    env["GITHUB_EVENT_NAME"] = "pull_request"
    with pytest.raises(CredentialError) as info:
        Settings.from_action_env(env)
    assert info.value.code == "id-token-unavailable-for-pull-request"
    assert "forks" in info.value.message


def test_trusted_publishing_when_id_token_available() -> None:
    env = action_env(password="")
    env["ACTIONS_ID_TOKEN_REQUEST_URL"] = "http://127.0.0.1:1/token?api-version=2.0"
    env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = "req-token"
    settings = Settings.from_action_env(env)
    assert settings.trusted_publishing
    assert settings.credential_kind == "trusted publishing"
    assert "req-token" not in repr(settings)


def test_cli_without_password() -> None:
    with pytest.raises(CredentialError) as info:
        Settings.from_args(["--tag", "v1.0"], {})
    assert info.value.code == "trusted-publishing-outside-actions"
    assert info.value.message == "No password for the index: TWINE_PASSWORD is not set."


@pytest.mark.parametrize(
    ("name", "url", "shown", "why"),
    [
        (
            "repository-url",
            "https://[upload.pypi.org/legacy/",
            "https://[upload.pypi.org/legacy/",
            "it cannot be parsed (a '[' or ']' out of place, or a character that a host "
            "name cannot hold)",
        ),
        (
            "index-url",
            "https://pypi.org]/simple/",
            "https://pypi.org]/simple/",
            "it cannot be parsed (a '[' or ']' out of place, or a character that a host "
            "name cannot hold)",
        ),
        (
            "repository-url",
            "https://user:pw@[upload.pypi.org/legacy/",
            "<a malformed URL>",
            "it cannot be parsed (a '[' or ']' out of place, or a character that a host "
            "name cannot hold)",
        ),
        (
            "repository-url",
            "https://upload.pypi.org:99999/legacy/",
            "https://upload.pypi.org:99999/legacy/",
            "its port is not a number from 0 to 65535",
        ),
        (
            "index-url",
            "https://pypi.org:http/simple/",
            "https://pypi.org:http/simple/",
            "its port is not a number from 0 to 65535",
        ),
        ("repository-url", "https:///legacy/", "https:///legacy/", "it names no host"),
    ],
)
def test_malformed_urls_are_refused(name: str, url: str, shown: str, why: str) -> None:
    urls = {"repository-url": "https://upload.pypi.org/legacy/", name: url}
    with pytest.raises(InputError) as info:
        Settings.from_action_env(action_env(**urls))
    assert info.value.code == f"{name}-invalid"
    assert render(info.value.message, "action") == f"{name} '{shown}' is not a valid URL: {why}."
    example = (
        "https://pypi.org/simple/" if name == "index-url" else "https://upload.pypi.org/legacy/"
    )
    assert render(info.value.hint, "action") == (
        f"Set {name} to a URL such as {example} (an IPv6 address goes in brackets, with "
        "its port after them: https://[2001:db8::1]:8080/)."
    )


@pytest.mark.parametrize(
    ("name", "url", "hint"),
    [
        (
            "repository-url",
            "ftp://upload.example.org/",
            "Use the index's upload URL, for example https://upload.pypi.org/legacy/",
        ),
        (
            "index-url",
            "upload.example.org/simple/",
            "Use the index's simple API URL, for example https://pypi.org/simple/",
        ),
    ],
)
def test_urls_that_are_not_http_are_refused(name: str, url: str, hint: str) -> None:
    with pytest.raises(InputError) as info:
        derive_index_url(
            url if name == "repository-url" else "https://upload.pypi.org/legacy/",
            url if name == "index-url" else "",
        )
    assert info.value.code == f"{name}-not-http"
    assert render(info.value.message, "action") == f"{name} '{url}' is not an http(s) URL."
    assert info.value.hint == hint


@pytest.mark.parametrize("debug", ["0", "1"])
def test_a_malformed_url_ends_in_one_clean_error(
    debug: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found before any build, as one annotation (no traceback unless debugging), and a
    password in the URL is masked first and never shown, even when it cannot be parsed."""
    from release.__main__ import main

    password = "url-pa55word-in-a-broken-url"
    env = action_env(
        **{"repository-url": f"https://uploader:{password}@[upload.pypi.org/legacy/"},
        **{"index-url": f"https://{password}@pypi.org]/simple/"},
    )
    env.update(RUNNER_DEBUG=debug, GITHUB_STEP_SUMMARY=str(tmp_path / "summary"))
    assert main([], env) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "::add-mask::pypi-x"
    assert lines[1] == f"::add-mask::{password}"
    assert out.count(password) == 1
    assert password not in (tmp_path / "summary").read_text()
    assert lines[-1] == (
        "::error title=Invalid input [repository-url-invalid]::repository-url "
        "'<a malformed URL>' is not a valid URL: it cannot be parsed (a '[' or ']' out of "
        "place, or a character that a host name cannot hold).%0ASet repository-url to a URL "
        "such as https://upload.pypi.org/legacy/ (an IPv6 address goes in brackets, with "
        "its port after them: https://[2001:db8::1]:8080/)."
    )
    assert ("Traceback" in out) == (debug == "1")
    assert "ValueError" not in out


@pytest.mark.parametrize(
    ("repository", "given", "expected"),
    [
        ("https://upload.pypi.org/legacy/", "auto", True),
        ("https://test.pypi.org/legacy", "auto", True),
        ("https://pkgs.example/upload/", "auto", False),
        ("https://pkgs.example/upload/", "true", True),
        ("https://upload.pypi.org/legacy/", "false", False),
    ],
)
def test_pypi_rules_auto_means_pypi_and_testpypi(
    repository: str, given: str, expected: bool
) -> None:
    env = action_env(**{"repository-url": repository, "pypi-rules": given})
    if "pkgs.example" in repository:
        env["INPUT_INDEX-URL"] = "https://pkgs.example/simple/"
    assert Settings.from_action_env(env).targets[0].pypi_policy is expected


@pytest.mark.parametrize("value", ["True", "yes", "", "on", "pypi"])
def test_pypi_rules_takes_three_values(value: str) -> None:
    with pytest.raises(InputError) as info:
        Settings.from_action_env(action_env(**{"pypi-rules": value}))
    assert (info.value.code, info.value.message, info.value.hint) == (
        "invalid-switch",
        f"Input 'pypi-rules' must be 'auto', 'true' or 'false', not '{value}'.",
        "Write 'pypi-rules: auto', 'pypi-rules: true' or 'pypi-rules: false' in the "
        "step's 'with:' block.",
    )


@pytest.mark.parametrize(
    ("flags", "expected"),
    [([], "auto"), (["--pypi-rules"], "true"), (["--no-pypi-rules"], "false")],
)
def test_pypi_rules_on_the_command_line(tmp_path: Path, flags: list[str], expected: str) -> None:
    settings = Settings.from_args(
        ["-C", str(tmp_path), "--tag", "v1.0", *flags], {"TWINE_PASSWORD": "pypi-local"}
    )
    assert settings.inputs["pypi_rules"] == expected
    assert settings.targets[0].pypi_policy is (expected != "false")  # the default URL is PyPI's
    assert render("{pypi-rules=false}", "cli") == "--no-pypi-rules"
    assert render("{pypi-rules=false}", "action") == "pypi-rules: false"


@pytest.mark.parametrize(
    ("value", "size"),
    [("", None), ("104857600", 104857600), ("200MiB", 200 << 20), ("1 GiB", 1 << 30),
     ("512KiB", 512 << 10), ("300B", 300)],
)  # fmt: skip
def test_max_file_size(value: str, size: int | None) -> None:
    assert (
        Settings.from_action_env(action_env(**{"max-file-size": value})).targets[0].max_file_size
        == size
    )


@pytest.mark.parametrize("value", ["0", "-1", "2.5MiB", "200MB", "200 mib", "lots"])
def test_max_file_size_is_refused_when_not_a_size(value: str) -> None:
    with pytest.raises(InputError) as info:
        Settings.from_action_env(action_env(**{"max-file-size": value}))
    assert (info.value.code, render(info.value.message, "action"), info.value.hint) == (
        "max-file-size-invalid",
        f"max-file-size '{value}' is not a file size.",
        "Give a whole number of bytes (209715200) or of KiB, MiB or GiB (200MiB), as the "
        "index states the project's limit; leave it empty for PyPI's 100 MiB.",
    )


@pytest.mark.parametrize(
    ("env", "flags", "upload", "simple"),
    [
        # twine's own variables, honoured as twine honours them.
        (
            {"TWINE_REPOSITORY_URL": "https://pkgs.example.invalid/legacy/"},
            ["--index-url", "https://pkgs.example.invalid/simple/"],
            "https://pkgs.example.invalid/legacy/",
            "https://pkgs.example.invalid/simple/",
        ),
        ({"TWINE_REPOSITORY": "testpypi"}, [], TESTPYPI_UPLOAD, "https://test.pypi.org/simple/"),
        # The flag wins over the variable.
        (
            {"TWINE_REPOSITORY_URL": "https://pkgs.example.invalid/legacy/"},
            ["--repository-url=https://test.pypi.org/legacy/"],
            TESTPYPI_UPLOAD,
            "https://test.pypi.org/simple/",
        ),
    ],
)
def test_twines_repository_variables_are_honoured(
    tmp_path: Path, env: dict[str, str], flags: list[str], upload: str, simple: str
) -> None:
    settings = Settings.from_args(
        ["--dry-run", "--tag", "v1.0", "-C", str(tmp_path), *flags],
        {"TWINE_PASSWORD": "pypi-local", **env},
    )
    assert (settings.repository_url, settings.index_url) == (upload, simple)


def test_a_repository_named_in_a_pypirc_is_refused(tmp_path: Path) -> None:
    """Never silently PyPI instead: the .pypirc is not read, so the name means nothing."""
    with pytest.raises(InputError) as info:
        Settings.from_args(
            ["--dry-run", "--tag", "v1.0", "-C", str(tmp_path)],
            {"TWINE_PASSWORD": "pypi-local", "TWINE_REPOSITORY": "private"},
        )
    assert (info.value.code, info.value.message, render(info.value.hint, "cli")) == (
        "twine-repository-unsupported",
        "TWINE_REPOSITORY is 'private': a repository named in a .pypirc, which this tool "
        "does not read (it never reads or writes one).",
        "Set TWINE_REPOSITORY_URL, or --repository-url, to that index's upload URL (and "
        "--index-url to its simple API), or unset TWINE_REPOSITORY.",
    )


def test_credentials_in_twines_repository_url_are_secrets() -> None:
    from release.settings import secret_values

    env = {"TWINE_REPOSITORY_URL": "https://deploy:s3cr3t-pass@pkgs.example.invalid/legacy/"}
    assert "s3cr3t-pass" in secret_values(env)
