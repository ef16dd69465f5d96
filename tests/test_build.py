"""The build with `build`'s Python API: sdist, then the wheel from it, in one isolated
environment when their requirements agree; and the index read that runs alongside it,
whose refusal calls the build off."""

from __future__ import annotations

import io
import os
import re
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from support.projects import Project

from release.build import HeadStart, _Builder, build, head_start
from release.dists import read_dist
from release.errors import DistributionError, PackageIndexError
from release.gha import Console
from release.planning import alongside
from release.proc import Cancel, Cancelled, ToolLog

SLEEPER = "import time; print('started', flush=True); time.sleep(60)"

WHEEL_NEEDS_A_FILE = """
import os

from flit_core.buildapi import *  # noqa: F403
from flit_core.buildapi import build_wheel as flit_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    if not os.path.exists("local-only.txt"):
        raise SystemExit("local-only.txt is missing")
    return flit_build_wheel(wheel_directory, config_settings, metadata_directory)
"""

# An in-tree backend: flit_core's, asking for one more package to make the sdist only.
SDIST_EXTRA = """
from flit_core.buildapi import *  # noqa: F403


def get_requires_for_build_sdist(config_settings=None):
    return ["packaging"]
"""


# An sdist hook that starts a helper sharing its output (as a compiler started by a
# backend does), then waits: the helper keeps the log's pipe open after the hook dies.
SDIST_WITH_A_HELPER = f"""
import subprocess
import sys
import time

from flit_core.buildapi import *  # noqa: F403


def build_sdist(sdist_directory, config_settings=None):
    subprocess.Popen([sys.executable, "-c", {SLEEPER!r}])
    time.sleep(60)
"""


def env(uv_cache: Path) -> dict[str, str]:
    # The machine's own (proxy and certificate settings reach PyPI), as a run gets it.
    return {**os.environ, "UV_CACHE_DIR": str(uv_cache)}


def run_build(
    project: Project, outdir: Path, uv_cache: Path, console: Console, **more: Any
) -> None:
    build(
        project.path,
        outdir,
        source_date_epoch="1700000000",
        env=env(uv_cache),
        console=console,
        **more,
    )


def built(project: Project, outdir: Path, uv_cache: Path) -> str:
    log = io.StringIO()
    run_build(project, outdir, uv_cache, Console(actions=False, verbose=True, stream=log))
    return log.getvalue()


def test_sdist_and_wheel_in_one_environment(make_project, uv_cache: Path, tmp_path: Path) -> None:
    project = make_project("hatchling")
    log = built(project, tmp_path / "out", uv_cache)
    assert log.count("\nInstalling hatchling") == 1
    assert "Building the wheel from the sdist, in the same environment\n" in log
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert [f.rsplit(".", 1)[-1] for f in files] == ["whl", "gz"]
    wheel, sdist = (read_dist(tmp_path / "out" / f) for f in files)
    assert (wheel.name, wheel.version) == (sdist.name, sdist.version)


def in_tree_backend(project: Project, code: str) -> Project:
    """The project built by ``code`` (in _build/backend.py, shipped in the sdist)."""
    (project.path / "_build").mkdir()
    (project.path / "_build" / "backend.py").write_text(code)
    pyproject = project.path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            'build-backend = "flit_core.buildapi"',
            'build-backend = "backend"\nbackend-path = ["_build"]',
        )
        + '\n[tool.flit.sdist]\ninclude = ["_build/"]\n'
    )
    project.commit("an in-tree backend")
    return project


# A wheel hook that records where it runs, as a compiler embeds its source path.
WHEEL_RECORDS_ITS_FOLDER = """
import os
from pathlib import Path

from flit_core.buildapi import *  # noqa: F403
from flit_core.buildapi import build_wheel as flit_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    Path("flit_sample/_where.py").write_text(f"WHERE = {os.getcwd()!r}\\n")
    return flit_build_wheel(wheel_directory, config_settings, metadata_directory)
"""


def test_the_wheel_is_built_at_the_same_path_on_every_run(
    make_project, uv_cache: Path, tmp_path: Path
) -> None:
    """Two builds of one tag give the same wheel, though the wheel embeds the folder it
    was built in: a re-run of a compiled project matches the files it uploaded."""
    # A version of its own: a build of the same project and version in another test at
    # the same time would hold the folder, and this one would rightly build elsewhere.
    project = in_tree_backend(make_project("flit"), WHEEL_RECORDS_ITS_FOLDER)
    project.set_version("8.8.8")
    project.commit("a version no other test builds")
    built(project, tmp_path / "one", uv_cache)
    built(project, tmp_path / "two", uv_cache)
    (one,) = (tmp_path / "one").glob("*.whl")
    (two,) = (tmp_path / "two").glob("*.whl")
    assert one.read_bytes() == two.read_bytes()
    where = Path(tempfile.gettempdir()) / f"pypi-release-{os.getuid()}" / "flit_sample-8.8.8"
    with zipfile.ZipFile(one) as zf:
        assert (
            zf.read("flit_sample/_where.py").decode()
            == f"WHERE = {str(where / 'flit_sample-8.8.8')!r}\n"
        )
    assert not where.exists()  # removed after the build


def test_a_second_build_at_the_same_time_builds_elsewhere(
    make_project, uv_cache: Path, tmp_path: Path
) -> None:
    """The stable folder is held by one build at a time: another gets a random one, and
    says so, rather than waiting or building in the first one's files."""
    import fcntl

    project = in_tree_backend(make_project("flit"), WHEEL_RECORDS_ITS_FOLDER)
    project.set_version("7.7.7")
    project.commit("a version no other test builds")
    base = Path(tempfile.gettempdir()) / f"pypi-release-{os.getuid()}"
    base.mkdir(mode=0o700, exist_ok=True)
    with open(base / "flit_sample-7.7.7.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        log = built(project, tmp_path / "out", uv_cache)
    assert (
        f"The wheel is built in a random folder ({base / 'flit_sample-7.7.7'} is in use by "
        "another build): compiled files may embed its path and differ from another run's."
    ) in log
    (wheel,) = (tmp_path / "out").glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        assert "release-build-sdist-" in zf.read("flit_sample/_where.py").decode()


def test_the_wheel_gets_its_own_environment_when_the_sdist_asked_for_more(
    make_project, uv_cache: Path, tmp_path: Path
) -> None:
    project = in_tree_backend(make_project("flit"), SDIST_EXTRA)
    log = built(project, tmp_path / "out", uv_cache)
    assert "Installing packaging\n" in log  # for the sdist only
    assert "Building the wheel from the sdist, in a fresh environment\n" in log
    assert log.count("\nInstalling flit_core") == 2
    assert len(list((tmp_path / "out").iterdir())) == 2


def test_the_wheel_failing_after_the_sdist_is_named(
    make_project, uv_cache: Path, tmp_path: Path
) -> None:
    """The sdist lacks a file the wheel needs: the error says which build failed."""
    project = in_tree_backend(make_project("flit"), WHEEL_NEEDS_A_FILE)
    (project.path / "local-only.txt").write_text("left out of the sdist\n")
    pyproject = project.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'exclude = ["local-only.txt"]\n')
    project.commit("a wheel that cannot be built from the sdist")
    with pytest.raises(DistributionError) as info:
        built(project, tmp_path / "out", uv_cache)
    assert (info.value.code, info.value.message) == (
        "build-failed",
        "Building the wheel (from the sdist) failed: the build backend exited 1 in "
        "build_wheel: local-only.txt is missing.",
    )


class CallsOffOn(io.StringIO):
    """A log that calls the build off when a line it waits for is written."""

    def __init__(self, cancel: Cancel, line: str) -> None:
        super().__init__()
        self.cancel, self.line = cancel, line

    def write(self, text: str) -> int:
        if self.line in text:
            self.cancel.cancel()
        return super().write(text)


def test_a_called_off_build_stops_with_what_its_backend_started(
    make_project, uv_cache: Path, tmp_path: Path
) -> None:
    """Called off mid-hook: the hook and the helper it started die together (the helper
    no longer holds the log open), and it is reported called off, not failed."""
    project = in_tree_backend(make_project("flit"), SDIST_WITH_A_HELPER)
    cancel = Cancel()
    log = CallsOffOn(cancel, "started")
    console = Console(actions=False, verbose=True, stream=log)
    started = time.monotonic()
    with pytest.raises(Cancelled):
        run_build(project, tmp_path / "out", uv_cache, console, cancel=cancel)
    assert time.monotonic() - started < 30  # not the helper's 60 s
    assert log.getvalue().endswith("started\n-- Build sdist and wheel: called off\n")


# --- the build environment begun at start-up ----------------------------------------------


@pytest.fixture
def temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder the run's own folders go in, to see what is left there."""
    folder = tmp_path / "temp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def environments(temp: Path) -> list[str]:
    return sorted(p.name for p in temp.glob("release-build-env-*"))


def built_with(head: HeadStart | None, project: Project, outdir: Path, uv_cache: Path) -> str:
    log = io.StringIO()
    try:
        console = Console(actions=False, verbose=True, stream=log)
        run_build(project, outdir, uv_cache, console, head=head)
    finally:
        if head is not None:
            head.close()
    return log.getvalue()


def test_the_build_takes_the_environment_begun_at_start_up(
    make_project, uv_cache: Path, tmp_path: Path, temp: Path
) -> None:
    project = make_project("hatchling")
    head = head_start(project.path, env(uv_cache), Console(actions=False, stream=io.StringIO()))
    assert head is not None
    assert head.requires == {"hatchling>=1.26"}
    log = built_with(head, project, tmp_path / "out", uv_cache)
    assert "Build environment made while the run started:\nInstalling hatchling>=1.26\n" in log
    assert log.count("\nInstalling hatchling") == 1  # not installed again
    assert "Building the wheel from the sdist, in the same environment\n" in log
    assert len(list((tmp_path / "out").iterdir())) == 2
    assert environments(temp) == []  # removed once the run is done with it


def test_other_requirements_than_at_start_up_get_a_fresh_environment(
    make_project, uv_cache: Path, tmp_path: Path, temp: Path
) -> None:
    """build reads build-system.requires itself: when they are not what the head start
    installed, its environment is called off and never used."""
    project = make_project("flit")
    head = head_start(project.path, env(uv_cache), Console(actions=False, stream=io.StringIO()))
    assert head is not None
    assert head.requires == {"flit_core>=3.9,<5"}
    pyproject = project.path / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace('"flit_core>=3.9,<5"', '"flit_core>=3.10,<5"'))
    log = built_with(head, project, tmp_path / "out", uv_cache)
    assert "made while the run started" not in log
    assert "Installing flit_core>=3.10,<5\n" in log
    assert len(list((tmp_path / "out").iterdir())) == 2
    assert environments(temp) == []


# An sdist hook that runs a script a build requirement installed (as meson-python runs
# ninja, scikit-build-core cmake): found on PATH, in the environment's bin folder.
SDIST_RUNS_A_SCRIPT = """
import subprocess

from flit_core.buildapi import *  # noqa: F403
from flit_core.buildapi import build_sdist as flit_build_sdist


def build_sdist(sdist_directory, config_settings=None):
    subprocess.run(["wheel", "version"], check=True)
    return flit_build_sdist(sdist_directory, config_settings)
"""


@pytest.mark.parametrize("begun", [True, False], ids=["head-start", "build"])
def test_scripts_of_the_build_requirements_run_in_the_environment(
    begun: bool, make_project, uv_cache: Path, tmp_path: Path
) -> None:
    """Installed by the interpreter the environment was made from (no second question
    to uv about a fresh interpreter), the scripts still start the environment's own:
    this one cannot import wheel, which the environment has."""
    project = in_tree_backend(make_project("flit"), SDIST_RUNS_A_SCRIPT)
    pyproject = project.path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('"flit_core>=3.9,<5"', '"flit_core>=3.9,<5", "wheel"')
    )
    project.commit("wheel's script in the build")
    console = Console(actions=False, stream=io.StringIO())
    head = head_start(project.path, env(uv_cache), console) if begun else None
    log = built_with(head, project, tmp_path / "out", uv_cache)
    assert re.search(r"^wheel \d+\.\d+", log, re.M), log
    assert len(list((tmp_path / "out").iterdir())) == 2


def test_no_head_start_without_declared_requirements(tmp_path: Path) -> None:
    console = Console(actions=False, stream=io.StringIO())
    assert head_start(tmp_path, {}, console) is None  # no pyproject.toml: setup.py only
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert head_start(tmp_path, {}, console) is None  # build's default: build decides
    (tmp_path / "pyproject.toml").write_text("[build-system]\nrequires = [1]\n")
    assert head_start(tmp_path, {}, console) is None  # build says what is wrong
    (tmp_path / "pyproject.toml").write_text("[build-system\n")
    assert head_start(tmp_path, {}, console) is None


def test_a_head_start_that_failed_fails_the_build_with_its_output(
    make_project, uv_cache: Path, tmp_path: Path, temp: Path
) -> None:
    project = make_project("flit")
    pyproject = project.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"flit_core>=3.9,<5"', '"flit_core>>3"'))
    project.commit("a malformed requirement")
    head = head_start(project.path, env(uv_cache), Console(actions=False, stream=io.StringIO()))
    assert head is not None
    with pytest.raises(DistributionError) as info:
        built_with(head, project, tmp_path / "out", uv_cache)
    assert (info.value.code, info.value.message) == (
        "build-failed",
        "Building the sdist failed: installing its requirements failed (uv exited 2).",
    )
    assert environments(temp) == []


def fake_uv(where: Path) -> str:
    """A "uv" that starts and then hangs for a minute."""
    path = where / "uv"
    path.write_text(f"#!/bin/sh\nexec {sys.executable} -c {SLEEPER!r}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_calling_the_build_off_calls_off_the_head_start(
    make_project, uv_cache: Path, tmp_path: Path, temp: Path
) -> None:
    """Called off while it waits for the environment (the index refused the version):
    the install under way is stopped, not waited for."""
    project = make_project("flit")
    console = Console(actions=False, stream=io.StringIO())
    head = HeadStart({"flit_core>=3.9,<5"}, fake_uv(tmp_path), env(uv_cache), console)
    cancel = Cancel()
    cancel.cancel()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        run_build(project, tmp_path / "out", uv_cache, console, cancel=cancel, head=head)
    head.close()
    assert time.monotonic() - started < 30  # not the fake uv's 60 s
    assert environments(temp) == []


def test_a_refused_version_leaves_no_build_environment(
    make_project, pypiserver, action, temp: Path
) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    assert action(project, tag, pypiserver).code == 0
    refused = action(project, project.release("0.9.0"), pypiserver)
    assert refused.code == 1
    assert "Tag 'v0.9.0' is version 0.9.0, which is not higher than 1.0.0" in refused.out
    assert environments(temp) == []


def test_the_hook_script_runs_compiled(tmp_path: Path) -> None:
    """The hook script, compiled once, runs as the script does; one that cannot be
    compiled is run as it is."""
    builder = _Builder(None, "uv", {}, tmp_path / "scratch")  # type: ignore[arg-type]
    script = tmp_path / "hook.py"
    script.write_text("import sys\nprint(sys.argv[1:], __file__.endswith('.pyc'))\n")
    compiled = builder.compiled(str(script))
    assert compiled.endswith("hook.pyc")
    assert builder.compiled(str(script)) == compiled
    ran = subprocess.run([sys.executable, compiled, "a", "b"], capture_output=True, text=True)
    assert ran.stdout == "['a', 'b'] True\n"
    broken = tmp_path / "broken.py"
    broken.write_text("def (:\n")
    assert builder.compiled(str(broken)) == str(broken)


# --- the index read alongside the build ---------------------------------------------------


def refuse() -> None:
    raise PackageIndexError("index-refused", "the index refuses demo", "")


def sleeper(console: Console):  # type: ignore[no-untyped-def]
    """A build that takes 60 s unless called off."""

    def build(cancel: Cancel) -> str:
        with ToolLog("Build", console, cancel) as log:
            log.run(
                [sys.executable, "-c", SLEEPER], cwd=Path.cwd(), env={"PATH": os.environ["PATH"]}
            )
        return "built"

    return build


def failed_build(cancel: Cancel) -> None:
    raise DistributionError("build-failed", "the build failed", "")


def test_the_index_refusing_calls_the_build_off() -> None:
    out = io.StringIO()
    console = Console(actions=False, verbose=True, stream=out)
    started = time.monotonic()
    with pytest.raises(PackageIndexError) as info:
        alongside(sleeper(console), refuse)
    assert info.value.message == "the index refuses demo"
    assert time.monotonic() - started < 30  # not the sleeper's 60 s
    assert out.getvalue() in ("", "-- Build\n-- Build: called off\n")  # stopped, or never started


def test_both_results_when_both_succeed() -> None:
    console = Console(actions=False, stream=io.StringIO())

    def quick(cancel: Cancel) -> str:
        with ToolLog("Build", console, cancel) as log:
            assert log.run([sys.executable, "-c", "pass"], cwd=Path.cwd(), env={}) == 0
        return "built"

    assert alongside(quick, lambda: "read") == ("built", "read")


def test_a_build_error_stands_when_the_index_answers() -> None:
    with pytest.raises(DistributionError):
        alongside(failed_build, lambda: "read")


def test_the_index_error_wins_over_a_build_error() -> None:
    """Both failed: the version is refused whatever the build did, so that is said."""
    with pytest.raises(PackageIndexError):
        alongside(failed_build, refuse)


def test_the_backends_warnings_are_said_once(
    make_project, uv_cache: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """setuptools warns in each of its hooks; pyproject_hooks re-raises each in this
    process, which printed the same notice once per hook on standard error."""
    project = make_project("setuptools")
    pyproject = project.path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text() + 'classifiers = ["License :: OSI Approved :: MIT License"]\n'
    )
    project.commit("a license classifier, which setuptools deprecates")
    out = io.StringIO()
    run_build(project, tmp_path / "out", uv_cache, Console(actions=False, stream=out))
    said = out.getvalue()
    assert (
        said.count("warning: The build backend warns: License classifiers are deprecated.\n") == 1
    )
    assert "BuildBackendWarning" not in capfd.readouterr().err


# A wheel hook that fails, then prints advice after its error (as hatchling prints an
# example configuration).
WHEEL_FAILS_THEN_ADVISES = """
from flit_core.buildapi import *  # noqa: F403


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    print("ValueError: Unable to determine which files to ship inside the wheel")
    print("")
    print("[tool.hatch.build.targets.wheel]")
    print('packages = ["src/foo"]')
    raise SystemExit(1)
"""


def test_a_failed_builds_reason_is_its_error_line_not_the_last(
    make_project, uv_cache: Path, tmp_path: Path
) -> None:
    project = in_tree_backend(make_project("flit"), WHEEL_FAILS_THEN_ADVISES)
    with pytest.raises(DistributionError) as err:
        built(project, tmp_path / "out", uv_cache)
    assert err.value.message == (
        "Building the wheel (from the sdist) failed: the build backend exited 1 in "
        "build_wheel: ValueError: Unable to determine which files to ship inside the wheel."
    )
