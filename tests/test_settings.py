"""Inputs: read once, validated strictly, the same defaults as action.yml."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import action_defaults

from release.errors import InputError
from release.settings import INPUT_DEFAULTS, Settings, build_parser, derive_index_url


def test_defaults_match_action_yml() -> None:
    declared = action_defaults()
    declared["github-token"] = ""  # ${{ github.token }}: the runner fills it in
    assert declared == INPUT_DEFAULTS


def test_every_input_has_a_flag_but_the_secrets() -> None:
    flags = {a.dest for a in build_parser()._actions}
    for name in INPUT_DEFAULTS:
        if name in ("password", "github-token"):
            assert name.replace("-", "_") not in flags, "secrets come from the environment"
        else:
            assert name.replace("-", "_") in flags


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


def action_env(tmp_path: Path, **inputs: str) -> dict[str, str]:
    env = {"GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/tags/v1.0"}
    env.update({f"INPUT_{k.upper()}": v for k, v in inputs.items()})
    return env


@pytest.mark.parametrize("value", ["True", "yes", "1", "", "on"])
def test_booleans_are_strict(tmp_path: Path, value: str) -> None:
    with pytest.raises(InputError) as info:
        Settings.from_action_env(action_env(tmp_path, **{"skip-existing": value}))
    assert info.value.message == (
        f"Input 'skip-existing' must be 'true' or 'false', not '{value}'."
    )


def test_secrets_stay_out_of_child_env_and_repr(tmp_path: Path) -> None:
    env = action_env(tmp_path, password="pypi-abc", **{"github-token": "ghs_abc"})
    env["TWINE_PASSWORD"] = "pypi-xyz"
    settings = Settings.from_action_env(env)
    assert settings.password == "pypi-abc"
    assert settings.github_token == "ghs_abc"
    assert "pypi-" not in repr(settings)
    assert "ghs_" not in repr(settings)
    assert not {"INPUT_PASSWORD", "INPUT_GITHUB-TOKEN", "TWINE_PASSWORD"} & set(settings.child_env)


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
    assert settings.password == "pypi-local"
    assert settings.index_url == "https://test.pypi.org/simple/"
    assert settings.packages_dir == tmp_path / "dist"


def test_working_directory_must_exist(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        Settings.from_action_env(action_env(tmp_path, **{"working-directory": "nope"}))
    assert info.value.message == "working-directory 'nope' is not a directory."
