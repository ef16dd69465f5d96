"""The build with `build`'s Python API: sdist, then the wheel from it, in one isolated
environment when their requirements agree; and the index read that runs alongside it,
whose refusal calls the build off."""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path

import pytest
from support.projects import Project

from release.build import build
from release.dists import read_dist
from release.errors import DistributionError, PackageIndexError
from release.gha import Console
from release.pipeline import alongside
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


def built(project: Project, outdir: Path, uv_cache: Path) -> str:
    log = io.StringIO()
    build(
        project.path,
        outdir,
        source_date_epoch="1700000000",
        env=env(uv_cache),
        console=Console(actions=False, verbose=True, stream=log),
    )
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
    started = time.monotonic()
    with pytest.raises(Cancelled):
        build(
            project.path,
            tmp_path / "out",
            source_date_epoch="1700000000",
            env=env(uv_cache),
            console=Console(actions=False, verbose=True, stream=log),
            cancel=cancel,
        )
    assert time.monotonic() - started < 30  # not the helper's 60 s
    assert log.getvalue().endswith("started\n-- Build sdist and wheel: called off\n")


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
