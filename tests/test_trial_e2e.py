"""The install trial inside a whole release: a broken project is refused before any
upload, a sound one is published with what was tried in the summary, and the trial
can be turned off."""

from __future__ import annotations

import shutil

import pytest
from conftest import Index
from support.output import the_error
from support.projects import PROJECTS, Project, make_project

import release.trial
from release.trial import Prepared


def trial_project(tmp_path, kind: str) -> Project:
    project = make_project(kind, tmp_path / "workspace")
    return project


@pytest.fixture
def prepared(monkeypatch: pytest.MonkeyPatch) -> list[Prepared]:
    """The trial environments the runs begin beside their builds."""
    made: list[Prepared] = []
    real = release.trial.prepare

    def recording(*args, **kwargs) -> Prepared | None:
        begun = real(*args, **kwargs)
        if begun is not None:
            made.append(begun)
        return begun

    monkeypatch.setattr(release.trial, "prepare", recording)
    return made


def test_a_package_left_out_of_the_wheel_is_refused_before_any_upload(
    tmp_path, pypiserver: Index, action
) -> None:
    project = trial_project(tmp_path, "trial-setuptools-subpackage")
    tag = project.release("1.0.0")
    run = action(project, tag, pypiserver)
    assert run.code == 1
    # The message holds the traceback's last lines: the annotation carries them all.
    (annotation,) = [line for line in run.out.splitlines() if line.startswith("::error ")]
    assert (
        "::trial_st_sub-1.0.0 installs but `import trial_st_sub` fails: ModuleNotFoundError: "
        "No module named 'trial_st_sub.helpers'%0A"
    ) in annotation
    assert (
        "`trial_st_sub.helpers` is in the source tree (src/trial_st_sub/helpers/__init__.py) "
        "but not in the wheel"
    ) in annotation
    assert pypiserver.files() == {}
    assert "trial-import-failed" in run.summary


def test_a_sound_project_shows_what_was_tried(
    tmp_path, pypiserver: Index, action, prepared: list[Prepared]
) -> None:
    project = trial_project(tmp_path, "trial-needs-dep")
    tag = project.release("1.0.0")
    run = action(project, tag, pypiserver, test_command="python -c 'import iniconfig'")
    assert run.code == 0, run.out
    # Its dependency was installed while the build ran; after it, the wheel alone.
    assert (
        "Trying trial_needs_dep-1.0.0-py3-none-any.whl in the fresh environment made while "
        "the build ran, which holds its dependencies"
    ) in run.out
    (begun,) = prepared
    assert not begun.folder.exists()
    assert len(pypiserver.files()) == 2
    assert "**Install trial**: " in run.summary
    (row,) = [
        line
        for line in run.summary.splitlines()
        if line.startswith("| <code>") and "| passed |" in line
    ]
    assert row.startswith(
        "| <code>trial_needs_dep-1.0.0-py3-none-any.whl</code> | passed | import "
        "trial\\_needs\\_dep; test command \\`python -c 'import iniconfig'\\` passed; with "
        "iniconfig=="
    )
    # The trial's log group comes whole, after the checks before it.
    assert run.out.index("::group::Install trial") > run.out.index("::group::twine check")


def test_the_trial_can_be_turned_off(tmp_path, pypiserver: Index, action) -> None:
    project = trial_project(tmp_path, "trial-setuptools-subpackage")
    tag = project.release("1.0.0")
    run = action(project, tag, pypiserver, test_install="false")
    assert run.code == 0, run.out
    assert (
        "::notice title=No install trial::The install trial is off (test-install: false): "
        "the files were not installed and imported before the upload."
    ) in run.out
    assert "Install trial" not in run.summary
    assert len(pypiserver.files()) == 2


def test_a_re_run_with_nothing_to_upload_tries_nothing(
    tmp_path, pypiserver: Index, action, prepared: list[Prepared]
) -> None:
    project = trial_project(tmp_path, "trial-needs-dep")
    tag = project.release("1.0.0")
    assert action(project, tag, pypiserver).code == 0
    shutil.rmtree(project.path / "dist")
    again = action(project, tag, pypiserver)
    assert again.code == 0, again.out
    assert "::group::Install trial" not in again.out
    # The environment begun beside the re-run's build, never taken, is gone with the run.
    assert len(prepared) == 2
    assert not prepared[1].folder.exists()


def test_a_run_that_fails_before_the_trial_leaves_no_trial_environment(
    tmp_path, pypiserver: Index, action, prepared: list[Prepared]
) -> None:
    project = trial_project(tmp_path, "trial-sdist-broken")
    tag = project.release("1.0.0")
    run = action(project, tag, pypiserver)
    assert run.code == 1
    assert the_error(run.out, "build-failed")
    (begun,) = prepared
    assert begun.cancel.cancelled  # stopped if it still ran,
    assert not begun.folder.exists()  # and removed
    assert "::group::Install trial" not in run.out
    assert pypiserver.files() == {}


def test_no_environment_is_begun_when_the_trial_is_off(
    tmp_path, pypiserver: Index, action, prepared: list[Prepared]
) -> None:
    project = trial_project(tmp_path, "trial-needs-dep")
    tag = project.release("1.0.0")
    assert action(project, tag, pypiserver, test_install="false").code == 0
    assert prepared == []


def test_a_bad_test_command_is_an_input_error(tmp_path, pypiserver: Index, action) -> None:
    project = trial_project(tmp_path, "trial-needs-dep")
    tag = project.release("1.0.0")
    run = action(project, tag, pypiserver, test_command="python -c 'unclosed")
    assert run.code == 1
    assert the_error(run.out, "test-command-invalid")[1] == (
        "test-command cannot be split into words: No closing quotation (python -c 'unclosed)."
    )
    timeout = action(project, tag, pypiserver, test_timeout="soon")
    assert the_error(timeout.out, "test-timeout-invalid")[1:] == (
        "test-timeout 'soon' is not a number of seconds.",
        "Give the seconds the install trial may take, e.g. test-timeout: 600.",
    )
    assert pypiserver.files() == {}
    assert PROJECTS.is_dir()
