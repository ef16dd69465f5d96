"""The install trial: real broken projects (tests/projects/trial-*), built for real, each
refused with its exact error; passing ones; and wheels crafted by hand for what no
backend makes (PEP 794 metadata, other platforms, a crash, a hang)."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.tags import Tag, sys_tags
from support.projects import PROJECTS

from release.build import build, uv_binary
from release.dists import Dist, find_files, read_dists, read_metadata, sha256_of
from release.errors import DistributionError, InputError
from release.gha import Console
from release.proc import Cancel, Cancelled
from release.trial import (
    Prepared,
    TrialReport,
    declared_dependencies,
    import_names,
    parse_command,
    prepare,
    trial,
    trial_environment,
    why_not,
)

PY = f"{sys.version_info.major}.{sys.version_info.minor}"
CP = f"cp{sys.version_info.major}{sys.version_info.minor}"
SITE = f"<env>/lib/python{PY}/site-packages"


# Building the projects: once per test run, whichever worker asks first.


@dataclass(frozen=True)
class Built:
    project: Path  # the copy that was built: the trial's project folder
    dists: list[Dist]

    def only(self, kind: str) -> list[Dist]:
        return [d for d in self.dists if d.kind == kind]


@pytest.fixture(scope="session")
def builds(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A folder all xdist workers of this run share, so each project is built once."""
    base = tmp_path_factory.getbasetemp()
    folder = (base if worker_id == "master" else base.parent) / "trial-builds"
    folder.mkdir(exist_ok=True)
    return folder


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def environment(uv_cache: Path, **more: str) -> dict[str, str]:
    # The machine's own (proxy and certificate settings reach PyPI), as a run gets it.
    return {**os.environ, "UV_CACHE_DIR": str(uv_cache), **more}


@pytest.fixture(scope="session")
def built(builds: Path, uv_cache: Path) -> Callable[..., Built]:
    def get(name: str, *, sdist_only: bool = False) -> Built:
        folder = builds / name
        with locked(builds / f"{name}.lock"):
            if not (folder / "done").exists():
                shutil.rmtree(folder, ignore_errors=True)
                shutil.copytree(PROJECTS / name, folder / "project")
                if sdist_only:  # its wheel does not build: the sdist is what is given
                    subprocess.run(
                        [uv_binary() or "uv", "build", "--sdist", "--out-dir", "out", "project"],
                        cwd=folder,
                        env=environment(uv_cache),
                        check=True,
                        capture_output=True,
                    )
                else:  # as the action builds: the sdist, then the wheel from it
                    build(
                        folder / "project",
                        folder / "out",
                        source_date_epoch="1700000000",
                        env=environment(uv_cache),
                        console=Console(actions=False, stream=io.StringIO()),
                    )
                (folder / "done").touch()
        return Built(folder / "project", read_dists(find_files(folder / "out")[0]))

    return get


def run_trial(
    dists: list[Dist],
    project: Path,
    uv_cache: Path,
    *,
    log: io.StringIO | None = None,
    env: dict[str, str] | None = None,
    **more: Any,
) -> TrialReport:
    return trial(
        dists,
        project_dir=project,
        env=env or environment(uv_cache),
        # verbose: the tools' output is kept in ``log`` even when all goes well
        console=Console(
            actions=False, verbose=True, stream=log if log is not None else io.StringIO()
        ),
        **more,
    )


def refused(built: Built, uv_cache: Path, **more: Any) -> DistributionError:
    with pytest.raises(DistributionError) as info:
        run_trial(built.dists, built.project, uv_cache, **more)
    return info.value


# Wheels made by hand.


def craft_wheel(
    folder: Path,
    name: str,
    files: dict[str, str],
    *,
    version: str = "1.0",
    tag: str = "py3-none-any",
    metadata: str = "",
    metadata_version: str = "2.4",
    entry_points: str = "",
) -> Dist:
    """A wheel with a RECORD, as installers want it, and its Dist."""
    folder.mkdir(parents=True, exist_ok=True)
    info = f"{name}-{version}.dist-info"
    contents = {
        **files,
        f"{info}/METADATA": f"Metadata-Version: {metadata_version}\nName: {name}\n"
        f"Version: {version}\n{metadata}\n",
        f"{info}/WHEEL": (
            f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tag}\n"
        ),
    }
    if entry_points:
        contents[f"{info}/entry_points.txt"] = entry_points
    record = []
    path = folder / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for member, text in contents.items():
            data = text.encode()
            zf.writestr(member, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{member},sha256={digest.decode()},{len(data)}")
        zf.writestr(f"{info}/RECORD", "\n".join([*record, f"{info}/RECORD,,"]) + "\n")
    return Dist(path, "wheel", name, version, sha256_of(path), path.stat().st_size)


# Refused: a real broken project each, with its exact error.


def test_a_subpackage_setuptools_leaves_out(
    built: Callable[..., Built], uv_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = built("trial-setuptools-subpackage")
    # The checkout on the path, and as the current folder, must not hide the mistake.
    monkeypatch.chdir(b.project / "src")
    env = environment(uv_cache, PYTHONPATH=str(b.project / "src"))
    error = refused(b, uv_cache, env=env)
    assert error.code == "trial-import-failed"
    assert error.message == (
        "trial_st_sub-1.0.0 installs but `import trial_st_sub` fails: ModuleNotFoundError: "
        "No module named 'trial_st_sub.helpers'\n"
        f'  File "{SITE}/trial_st_sub/__init__.py", line 3, in <module>\n'
        "    from trial_st_sub.helpers import greet"
    )
    assert error.hint == (
        "`trial_st_sub.helpers` is in the source tree (src/trial_st_sub/helpers/__init__.py) "
        "but not in the wheel: the build leaves it out (setuptools `packages`, hatchling "
        "`packages` or `only-include`, the sdist's MANIFEST.in when the wheel is built from "
        "it). Compare the wheel's files (python -m zipfile -l "
        "trial_st_sub-1.0.0-py3-none-any.whl) with the source tree."
    )


def test_a_package_missing_from_hatchlings_packages_list(
    built: Callable[..., Built], uv_cache: Path
) -> None:
    error = refused(built("trial-hatch-packages"), uv_cache)
    assert error.code == "trial-import-failed"
    assert error.message == (
        "trial_hatch-1.0.0 installs but `import trial_hatch` fails: ModuleNotFoundError: "
        "No module named 'trial_hatch_core'\n"
        f'  File "{SITE}/trial_hatch/__init__.py", line 1, in <module>\n'
        "    from trial_hatch_core import VALUE"
    )
    assert error.hint.startswith(
        "`trial_hatch_core` is in the source tree (src/trial_hatch_core/__init__.py) but not "
        "in the wheel: "
    )


def test_package_data_left_out(built: Callable[..., Built], uv_cache: Path) -> None:
    error = refused(built("trial-package-data"), uv_cache)
    assert error.code == "trial-import-failed"
    first, *trace = error.message.splitlines()
    assert first == (
        "trial_data-1.0.0 installs but `import trial_data` fails: FileNotFoundError: "
        f"[Errno 2] No such file or directory: '{SITE}/trial_data/words.txt'"
    )
    # The project's own line, not the standard library's below it.
    assert trace == [
        f'  File "{SITE}/trial_data/__init__.py", line 3, in <module>',
        '    WORDS = files(__name__).joinpath("words.txt").read_text(encoding="utf-8").split()',
    ]
    assert error.hint == (
        "`trial_data/words.txt` is in the source tree (src/trial_data/words.txt) but not in "
        "the wheel: package data left out. Include it (setuptools `package-data` or "
        "MANIFEST.in with include-package-data, hatchling `artifacts` or `force-include`) "
        "and compare the wheel's files (python -m zipfile -l "
        "trial_data-1.0.0-py3-none-any.whl) with the source tree."
    )


def test_an_undeclared_dependency(built: Callable[..., Built], uv_cache: Path) -> None:
    b = built("trial-undeclared")
    # flit_core writes PEP 794's Import-Name (Metadata-Version 2.5): what is imported.
    (wheel,) = b.only("wheel")
    assert read_metadata(wheel.path)["import_names"] == ["trial_undeclared"]
    error = refused(b, uv_cache)
    assert error.code == "trial-import-failed"
    assert error.message == (
        "trial_undeclared-1.0.0 installs but `import trial_undeclared` fails: "
        "ModuleNotFoundError: No module named 'yaml'\n"
        f'  File "{SITE}/trial_undeclared/__init__.py", line 1, in <module>\n'
        "    import yaml"
    )
    assert error.hint == (
        "`yaml` is neither in the wheel nor installed with it: a dependency imported but not "
        "declared. Add the distribution that provides it (probably `PyYAML`) to [project] "
        "dependencies."
    )


def test_a_console_script_naming_a_missing_function(
    built: Callable[..., Built], uv_cache: Path
) -> None:
    error = refused(built("trial-bad-script"), uv_cache)
    assert error.code == "trial-entry-point-missing"
    assert error.message == (
        "trial_cli-1.0.0 installs but its console script `trial-cli` (trial_cli.cli:main) "
        "does not resolve: AttributeError: module 'trial_cli.cli' has no attribute 'main'"
    )
    assert error.hint == (
        "[project.scripts] or [project.gui-scripts] `trial-cli` must name a function that "
        "is in the wheel: `main` in `trial_cli.cli`."
    )


def test_an_sdist_that_does_not_build_into_a_wheel(
    built: Callable[..., Built], uv_cache: Path
) -> None:
    b = built("trial-sdist-broken", sdist_only=True)
    assert [d.filename for d in b.dists] == ["trial_sdist_broken-1.0.0.tar.gz"]
    error = refused(b, uv_cache)
    assert error.code == "trial-sdist-build-failed"
    assert error.message == (
        "trial_sdist_broken-1.0.0.tar.gz does not build into a wheel: the build backend "
        "exited 1 in get_requires_for_build_wheel: FileNotFoundError: [Errno 2] No such "
        "file or directory: 'VERSION.txt'."
    )
    assert error.hint.startswith(
        "`VERSION.txt` is in the checkout but not in the sdist. An installer builds the "
        "same wheel from it wherever no wheel fits."
    )


def test_a_failing_test_command(built: Callable[..., Built], uv_cache: Path) -> None:
    b = built("trial-tested")
    log = io.StringIO()
    error = refused(
        b,
        uv_cache,
        log=log,
        env=environment(uv_cache, TRIAL_EXPECTED="41"),
        test_command="python -m unittest discover -s {project}/tests",
    )
    assert error.code == "trial-command-failed"
    assert error.message == (
        "The test command `python -m unittest discover -s {project}/tests` failed against "
        "trial_tested-1.0.0-py3-none-any.whl (exit status 1)."
    )
    assert "AssertionError: 42 != 41" in log.getvalue()  # its output is shown


def test_a_test_command_that_cannot_start(built: Callable[..., Built], uv_cache: Path) -> None:
    error = refused(built("trial-tested"), uv_cache, test_command="trial-no-such-tool -q")
    assert error.code == "trial-command-not-found"
    assert error.message == (
        "The test command `trial-no-such-tool -q` cannot start: No such file or directory "
        "(trial-no-such-tool)."
    )


def test_a_command_line_that_cannot_be_split() -> None:
    with pytest.raises(InputError) as info:
        parse_command("pytest 'tests")
    assert info.value.code == "test-command-invalid"
    assert info.value.message == (
        "{test-command} cannot be split into words: No closing quotation (pytest 'tests)."
    )


def test_an_empty_command_line() -> None:
    with pytest.raises(InputError) as info:
        parse_command("  ")
    assert (info.value.code, info.value.message) == (
        "test-command-empty",
        "{test-command} holds no command.",
    )


# Passing.


def test_a_test_command_runs_against_the_installed_wheel(
    built: Callable[..., Built], uv_cache: Path
) -> None:
    b = built("trial-tested")
    log = io.StringIO()
    report = run_trial(
        b.dists,
        b.project,
        uv_cache,
        log=log,
        test_command="python -m unittest discover -v -s {project}/tests",
    )
    (tried,) = report.tried
    assert tried.filename == "trial_tested-1.0.0-py3-none-any.whl"
    assert tried.imports == ("trial_tested",)
    assert tried.entry_points == ("trial-tested (trial_tested:main)",)
    assert tried.command == "python -m unittest discover -v -s {project}/tests"
    assert report.covered == ("trial_tested-1.0.0.tar.gz",)
    assert report.lines() == [
        "trial_tested-1.0.0-py3-none-any.whl: passed (import trial_tested; script "
        "trial-tested (trial_tested:main) resolves; test command `python -m unittest "
        "discover -v -s {project}/tests` passed)",
        "trial_tested-1.0.0.tar.gz: passed, as its wheel above",
    ]
    assert "test_imported_from_the_environment (test_answer.TestInstalled" in log.getvalue()
    assert "Ran 2 tests" in log.getvalue()


def test_the_test_command_runs_the_wheels_script(
    built: Callable[..., Built], uv_cache: Path
) -> None:
    """The script the wheel installs starts the environment's interpreter (installed by
    the interpreter the environment was made from, it is pointed at the environment's):
    this one cannot import trial_tested."""
    b = built("trial-tested")
    log = io.StringIO()
    report = run_trial(b.dists, b.project, uv_cache, log=log, test_command="trial-tested")
    assert report.tried[0].command == "trial-tested"
    assert "\n42\n" in log.getvalue()


def test_what_the_test_command_sees(
    built: Callable[..., Built], uv_cache: Path, tmp_path: Path
) -> None:
    """No runner file command, no ACTIONS_* variable, no PYTHONPATH; the environment's
    Python first on PATH; an empty folder to run in; the wheel's code, not the checkout's."""
    b = built("trial-tested")
    runner = {
        name: str(tmp_path / name.lower())
        for name in (
            "GITHUB_ENV",
            "GITHUB_PATH",
            "GITHUB_OUTPUT",
            "GITHUB_STATE",
            "GITHUB_STEP_SUMMARY",
        )
    }
    env = environment(
        uv_cache,
        **runner,
        ACTIONS_RUNTIME_URL="https://runtime.invalid/",
        ACTIONS_CACHE_URL="https://cache.invalid/",
        PYTHONPATH=str(b.project / "src"),
        GITHUB_REPOSITORY="octo/trial",
    )
    out = tmp_path / "seen.json"
    run_trial(
        b.dists,
        b.project,
        uv_cache,
        env=env,
        test_command=f"python {{project}}/tests/envdump.py {out}",
    )
    seen = json.loads(out.read_text())
    environ = seen["environ"]
    assert not set(runner) & set(environ)
    assert not [k for k in environ if k.startswith("ACTIONS_")]
    assert "PYTHONPATH" not in environ
    assert environ["GITHUB_REPOSITORY"] == "octo/trial"  # the rest is passed on
    assert environ["VIRTUAL_ENV"] == seen["prefix"]
    assert environ["PATH"].split(os.pathsep)[0] == str(Path(seen["prefix"]) / "bin")
    assert seen["cwd_entries"] == []
    assert seen["module"] == str(
        Path(seen["prefix"]) / "lib" / f"python{PY}" / "site-packages/trial_tested/__init__.py"
    )
    assert seen["script"] == str(Path(seen["prefix"]) / "bin" / "trial-tested")
    assert not Path(seen["prefix"]).exists()  # removed once tried


def test_a_namespace_package(built: Callable[..., Built], uv_cache: Path) -> None:
    b = built("trial-namespace")
    report = run_trial(b.dists, b.project, uv_cache)
    (tried,) = report.tried
    # trial_ns has no __init__: its package inside is what is imported.
    assert tried.imports == ("trial_ns.plugin_a",)
    assert tried.import_source == "files"


def test_optional_c_speedups(built: Callable[..., Built], uv_cache: Path) -> None:
    b = built("trial-speedups")
    (wheel,) = b.only("wheel")
    with zipfile.ZipFile(wheel.path) as zf:  # the extension was built, and is in it
        assert [n for n in zf.namelist() if n.startswith("trial_speedups/_speedups.")]
    assert f"-{CP}-{CP}-" in wheel.filename
    report = run_trial(b.dists, b.project, uv_cache)
    (tried,) = report.tried
    assert (tried.filename, tried.imports) == (wheel.filename, ("trial_speedups",))


def test_a_declared_dependency_comes_from_the_index(
    built: Callable[..., Built], uv_cache: Path
) -> None:
    b = built("trial-needs-dep")
    report = run_trial(b.dists, b.project, uv_cache)
    (tried,) = report.tried
    assert tried.imports == ("trial_needs_dep",)
    assert [d.split("==")[0] for d in tried.dependencies] == ["iniconfig"]
    assert report.index == "https://pypi.org/simple"


def test_an_sdist_given_alone_is_built_and_its_wheel_tried(
    built: Callable[..., Built], uv_cache: Path
) -> None:
    b = built("trial-tested")
    report = run_trial(b.only("sdist"), b.project, uv_cache)
    (tried,) = report.tried
    assert (tried.filename, tried.built_from) == (
        "trial_tested-1.0.0-py3-none-any.whl",
        "trial_tested-1.0.0.tar.gz",
    )
    assert tried.imports == ("trial_tested",)
    assert report.covered == ()
    assert report.rows() == [
        (
            "trial_tested-1.0.0.tar.gz",
            "passed, as trial_tested-1.0.0-py3-none-any.whl",
            "import trial_tested; script trial-tested (trial_tested:main) resolves",
        )
    ]


def test_import_name_metadata(tmp_path: Path, uv_cache: Path) -> None:
    """PEP 794's Import-Name/Import-Namespace (Metadata-Version 2.5) say what to import:
    here not the other top-level module, which fails, nor the private name."""
    wheel = craft_wheel(
        tmp_path,
        "trial_named",
        {
            "trial_named/__init__.py": "VALUE = 1\n",
            "trial_space/part/__init__.py": "",
            "trial_private/__init__.py": "raise RuntimeError('private: not imported')\n",
            "trial_unlisted.py": "raise RuntimeError('not an import name')\n",
        },
        metadata_version="2.5",
        metadata="Import-Name: trial_named\nImport-Name: trial_private; private\n"
        "Import-Namespace: trial_space\n",
    )
    report = run_trial([wheel], tmp_path, uv_cache)
    (tried,) = report.tried
    assert (tried.imports, tried.import_source) == (("trial_named", "trial_space"), "metadata")


def test_an_import_name_the_wheel_lacks(tmp_path: Path, uv_cache: Path) -> None:
    wheel = craft_wheel(
        tmp_path,
        "trial_named",
        {"trial_named/__init__.py": ""},
        metadata_version="2.5",
        metadata="Import-Name: trial_named\nImport-Name: trial_named.extra\n",
    )
    with pytest.raises(DistributionError) as info:
        run_trial([wheel], tmp_path, uv_cache)
    assert info.value.message == (
        "trial_named-1.0 installs but `import trial_named.extra` fails: ModuleNotFoundError: "
        "No module named 'trial_named.extra'"
    )
    assert info.value.hint == (
        "`trial_named.extra` is not in the wheel, though its package is: a module left out "
        "of it. Compare the wheel's files (python -m zipfile -l "
        "trial_named-1.0-py3-none-any.whl) with the source tree."
    )


def test_wheels_for_elsewhere_are_listed_not_tried(tmp_path: Path, uv_cache: Path) -> None:
    other = f"cp{sys.version_info.major}{sys.version_info.minor + 1}"
    here = next(iter(sys_tags())).platform  # linux_x86_64 on this machine
    files = {"trial_where/__init__.py": ""}
    wheels = [
        craft_wheel(tmp_path, "trial_where", files, tag=f"{other}-{other}-{here}"),
        craft_wheel(tmp_path, "trial_where", files, tag="py3-none-macosx_11_0_arm64"),
        craft_wheel(tmp_path, "trial_where", files, tag="py3-none-win_amd64"),
        craft_wheel(tmp_path, "trial_where", files),
    ]
    report = run_trial(wheels, tmp_path, uv_cache)
    assert [t.filename for t in report.tried] == ["trial_where-1.0-py3-none-any.whl"]
    assert [(n.filename, n.reason) for n in report.not_tried] == [
        (f"trial_where-1.0-{other}-{other}-{here}.whl", f"{other} wheel, this is {CP}"),
        ("trial_where-1.0-py3-none-macosx_11_0_arm64.whl", "macOS wheel on Linux"),
        ("trial_where-1.0-py3-none-win_amd64.whl", "Windows wheel on Linux"),
    ]
    assert report.lines() == [
        "trial_where-1.0-py3-none-any.whl: passed (import trial_where)",
        f"trial_where-1.0-{other}-{other}-{here}.whl: not tried ({other} wheel, this is {CP})",
        "trial_where-1.0-py3-none-macosx_11_0_arm64.whl: not tried (macOS wheel on Linux)",
        "trial_where-1.0-py3-none-win_amd64.whl: not tried (Windows wheel on Linux)",
    ]


HERE = [
    Tag("cp311", "cp311", "manylinux_2_36_x86_64"),
    Tag("cp311", "cp311", "manylinux_2_17_x86_64"),
    Tag("cp311", "cp311", "linux_x86_64"),
    Tag("cp311", "abi3", "manylinux_2_17_x86_64"),
    Tag("cp311", "none", "manylinux_2_17_x86_64"),
    Tag("py3", "none", "manylinux_2_17_x86_64"),
    Tag("py3", "none", "any"),
]


@pytest.mark.parametrize(
    ("tag", "reason"),
    [
        ("cp312-cp312-manylinux_2_17_x86_64", "cp312 wheel, this is cp311"),
        ("cp39-cp39-manylinux_2_17_x86_64", "cp39 wheel, this is cp311"),
        ("cp311-cp311-macosx_11_0_arm64", "macOS wheel on Linux"),
        ("cp311-cp311-win_amd64", "Windows wheel on Linux"),
        ("cp311-cp311-manylinux_2_17_aarch64", "Linux aarch64 wheel on Linux x86_64"),
        ("cp311-cp311-musllinux_1_2_x86_64", "musllinux wheel on a glibc Linux"),
        ("cp311-cp311t-manylinux_2_17_x86_64", "cp311t ABI wheel, this is cp311"),
        ("cp311-cp311-manylinux2014_aarch64", "Linux aarch64 wheel on Linux x86_64"),
        ("cp311-cp311-win32", "Windows wheel on Linux"),
        (
            "cp311-cp311-manylinux_2_39_x86_64",
            "manylinux_2_39_x86_64 wheel, not supported by this Linux",
        ),
    ],
)
def test_why_a_wheel_is_not_tried(tag: str, reason: str) -> None:
    interpreter, abi, platform = tag.split("-")
    assert why_not([Tag(interpreter, abi, platform)], HERE) == reason


def test_a_wheel_with_nothing_to_import_is_installed_with_a_warning(
    tmp_path: Path, uv_cache: Path
) -> None:
    wheel = craft_wheel(tmp_path, "trial_empty", {"trial_empty-1.0.data/data/share/x.txt": "x"})
    log = io.StringIO()
    report = run_trial([wheel], tmp_path, uv_cache, log=log)
    assert report.tried[0].imports == ()
    assert report.lines() == [
        "trial_empty-1.0-py3-none-any.whl: passed (installed; no module to import)"
    ]
    assert log.getvalue().endswith(
        "warning: trial_empty-1.0-py3-none-any.whl holds no module to import: only its "
        "installation was tried.\n"
    )


def test_a_crash_while_importing_is_named(tmp_path: Path, uv_cache: Path) -> None:
    wheel = craft_wheel(
        tmp_path,
        "trial_crash",
        # as a crashing extension module would
        {"trial_crash/__init__.py": "import ctypes\n\nctypes.string_at(0)\n"},
    )
    with pytest.raises(DistributionError) as info:
        run_trial([wheel], tmp_path, uv_cache)
    assert info.value.code == "trial-import-crashed"
    assert info.value.message == (
        "trial_crash-1.0 installs but `import trial_crash` ends the interpreter "
        "(exit status -11, SIGSEGV)."
    )


def test_an_entry_point_that_names_no_function(tmp_path: Path, uv_cache: Path) -> None:
    wheel = craft_wheel(
        tmp_path,
        "trial_ep",
        {"trial_ep/__init__.py": ""},
        entry_points="[console_scripts]\ntrial-ep = trial_ep\n",
    )
    with pytest.raises(DistributionError) as info:
        run_trial([wheel], tmp_path, uv_cache)
    assert info.value.code == "trial-entry-point-invalid"
    assert info.value.message == (
        "trial_ep-1.0's console script `trial-ep` names `trial_ep`, not a function "
        "(module:function)."
    )


def test_a_wheel_that_does_not_install(tmp_path: Path, uv_cache: Path) -> None:
    wheel = craft_wheel(
        tmp_path, "trial_future", {"trial_future/__init__.py": ""}, metadata="Requires-Python: >=4"
    )
    with pytest.raises(DistributionError) as info:
        run_trial([wheel], tmp_path, uv_cache)
    assert info.value.code == "trial-install-failed"
    first, *said = info.value.message.splitlines()
    assert first == (
        "trial_future-1.0-py3-none-any.whl does not install into a fresh environment (uv exited 1):"
    )
    assert said
    assert ">=4" in "\n".join(said)  # uv's own last lines say why
    assert info.value.hint == (
        "Its dependencies come from https://pypi.org/simple, as its users' would: check "
        f"[project] dependencies and requires-python against this Python ({PY}). uv's full "
        "output is above."
    )


def test_pip_index_url_is_the_index_dependencies_come_from(
    tmp_path: Path, uv_cache: Path, static_index: Any
) -> None:
    """A runner's PIP_INDEX_URL is honoured: here an index without iniconfig, which PyPI
    has, so the install fails."""
    url = static_index.url
    wheel = craft_wheel(
        tmp_path, "trial_dep", {"trial_dep/__init__.py": ""}, metadata="Requires-Dist: iniconfig"
    )
    with pytest.raises(DistributionError) as info:
        run_trial([wheel], tmp_path, uv_cache, env=environment(uv_cache, PIP_INDEX_URL=url))
    assert info.value.code == "trial-install-failed"
    assert "iniconfig" in info.value.message
    assert info.value.hint.startswith(f"Its dependencies come from {url}, as its users' would")


# The time limit, and calling it off.

HANG = (
    "import os, pathlib, threading\n"
    "pathlib.Path(os.environ['TRIAL_MARKER']).touch()\n"
    "threading.Event().wait()  # an import that never returns\n"
)


def test_the_time_limit(tmp_path: Path, uv_cache: Path) -> None:
    wheel = craft_wheel(tmp_path, "trial_hang", {"trial_hang/__init__.py": HANG})
    env = environment(uv_cache, TRIAL_MARKER=str(tmp_path / "started"))
    started = time.monotonic()
    with pytest.raises(DistributionError) as info:
        run_trial([wheel], tmp_path, uv_cache, env=env, timeout=8)
    assert time.monotonic() - started < 30  # stopped, not waited for
    assert info.value.code == "trial-timed-out"
    assert info.value.message == (
        "The install trial did not finish within 8 s; it was stopped while importing "
        "trial_hang-1.0's modules."
    )


def test_called_off(tmp_path: Path, uv_cache: Path) -> None:
    wheel = craft_wheel(tmp_path, "trial_hang", {"trial_hang/__init__.py": HANG})
    marker = tmp_path / "started"
    cancel = Cancel()

    def call_off_once_importing() -> None:
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)  # polling for the child's marker, bounded
        cancel.cancel()

    caller = threading.Thread(target=call_off_once_importing)
    caller.start()
    try:
        with pytest.raises(Cancelled):
            run_trial(
                [wheel],
                tmp_path,
                uv_cache,
                env=environment(uv_cache, TRIAL_MARKER=str(marker)),
                cancel=cancel,
            )
    finally:
        cancel.cancel()
        caller.join()
    assert marker.exists()


# The environment made while the build runs (prepare()).


def prepared_for(project: Path, uv_cache: Path, **more: str) -> Prepared:
    prepared = prepare(project, environment(uv_cache, **more), Console(actions=False))
    assert prepared is not None
    return prepared


def uv_calls(spawned: list[tuple[Any, ...]], what: str) -> list[list[str]]:
    """The uv commands started (``venv``, ``pip``...), as argument lists."""
    uv = uv_binary()
    return [list(args) for _exe, args, _cwd, _env in spawned if args[:2] == [uv, what]]


def pyproject(folder: Path, project: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
        f"[project]\n{project}"
    )
    return folder


def test_the_environment_made_beside_the_build_is_used(
    built: Callable[..., Built], uv_cache: Path, spawned: list[tuple[Any, ...]]
) -> None:
    """Declared in pyproject.toml, the dependencies are installed ahead; after the build
    only the wheel is installed, into that same environment, which is then removed."""
    b = built("trial-needs-dep")
    spawned.clear()
    prepared = prepared_for(b.project, uv_cache)
    assert prepared.requirements == ["iniconfig>=2"]
    log = io.StringIO()
    report = run_trial(b.dists, b.project, uv_cache, log=log, prepared=prepared)
    (tried,) = report.tried
    assert tried.imports == ("trial_needs_dep",)
    assert [d.split("==")[0] for d in tried.dependencies] == ["iniconfig"]
    (venv,) = uv_calls(spawned, "venv")  # one environment, made ahead
    ahead, wheel = uv_calls(spawned, "pip")
    assert ahead[-1] == "iniconfig>=2"
    assert wheel[-2:] == ["--no-deps", str(b.only("wheel")[0].path.resolve())]
    # Both into it, by the interpreter it was made from (uv asks nothing about a new one).
    for call in (ahead, wheel):
        assert call[call.index("--prefix") + 1] == venv[-1]
        assert call[call.index("--python") + 1] == venv[venv.index("--python") + 1]
    assert "Environment made while the build ran:\n" in log.getvalue()
    assert (
        "Trying trial_needs_dep-1.0.0-py3-none-any.whl in the fresh environment made while "
        "the build ran, which holds its dependencies\n"
    ) in log.getvalue()
    assert not prepared.folder.exists()


def test_dependencies_only_the_build_knows(
    tmp_path: Path, uv_cache: Path, spawned: list[tuple[Any, ...]]
) -> None:
    """Dynamic dependencies: nothing is installed ahead, and the wheel goes into the
    environment made ahead with its dependencies, as into a new one."""
    project = pyproject(tmp_path / "project", 'name = "trial-dyn"\ndynamic = ["dependencies"]\n')
    wheel = craft_wheel(
        tmp_path / "dist",
        "trial_dyn",
        {"trial_dyn/__init__.py": "import iniconfig\n"},
        metadata="Requires-Dist: iniconfig",
    )
    spawned.clear()
    prepared = prepared_for(project, uv_cache)
    assert prepared.requirements is None
    report = run_trial([wheel], project, uv_cache, prepared=prepared)
    assert [d.split("==")[0] for d in report.tried[0].dependencies] == ["iniconfig"]
    assert len(uv_calls(spawned, "venv")) == 1
    (install,) = uv_calls(spawned, "pip")  # nothing to install ahead, nothing else asked
    assert "--no-deps" not in install
    assert not prepared.folder.exists()


def test_an_undeclared_dependency_is_not_hidden_by_what_was_installed_ahead(
    tmp_path: Path, uv_cache: Path
) -> None:
    """pyproject.toml declares iniconfig, the wheel does not (a backend that drops it):
    the environment holding iniconfig is not used, and the import fails as it would
    for the wheel's users."""
    project = pyproject(
        tmp_path / "project", 'name = "trial-drop"\nversion = "1.0"\ndependencies = ["iniconfig"]\n'
    )
    wheel = craft_wheel(
        tmp_path / "dist", "trial_drop", {"trial_drop/__init__.py": "import iniconfig\n"}
    )
    log = io.StringIO()
    prepared = prepared_for(project, uv_cache)
    with pytest.raises(DistributionError) as info:
        run_trial([wheel], project, uv_cache, log=log, prepared=prepared)
    assert info.value.code == "trial-import-failed"
    assert info.value.message.startswith(
        "trial_drop-1.0 installs but `import trial_drop` fails: ModuleNotFoundError: "
        "No module named 'iniconfig'"
    )
    assert (
        "The environment made while the build ran does not fit "
        "trial_drop-1.0-py3-none-any.whl: it declares other dependencies than "
        "pyproject.toml's [project] dependencies.\n"
    ) in log.getvalue()
    assert not prepared.folder.exists()


def test_a_failure_ahead_leaves_the_trial_its_own_words(tmp_path: Path, uv_cache: Path) -> None:
    """Dependencies that do not install fail ahead too: the trial then tries the wheel
    in a fresh environment, and its error names the wheel as without the head start."""
    project = pyproject(
        tmp_path / "project",
        'name = "trial-unmet"\nversion = "1.0"\ndependencies = ["iniconfig>=999"]\n',
    )
    wheel = craft_wheel(
        tmp_path / "dist",
        "trial_unmet",
        {"trial_unmet/__init__.py": ""},
        metadata="Requires-Dist: iniconfig>=999",
    )
    log = io.StringIO()
    prepared = prepared_for(project, uv_cache)
    with pytest.raises(DistributionError) as info:
        run_trial([wheel], project, uv_cache, log=log, prepared=prepared)
    assert info.value.code == "trial-install-failed"
    assert info.value.message.startswith(
        "trial_unmet-1.0-py3-none-any.whl does not install into a fresh environment"
    )
    assert "iniconfig" in info.value.message
    assert (
        "The environment made while the build ran is not used: installing the declared "
        "dependencies failed (uv exited 1). Its log:\n"
    ) in log.getvalue()
    assert "Trying trial_unmet-1.0-py3-none-any.whl in a fresh environment\n" in log.getvalue()
    assert not prepared.folder.exists()


def hanging_uv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A uv that never ends; it writes its pid to the FIFO it returns as it starts."""
    fifo = tmp_path / "uv-started"
    os.mkfifo(fifo)
    script = tmp_path / "uv"
    script.write_text(
        f'#!/bin/sh\necho $$ > "{fifo}"\n'
        f"exec {sys.executable} -c 'import threading; threading.Event().wait()'\n"
    )
    script.chmod(0o755)
    monkeypatch.setattr("release.build.uv_binary", lambda: str(script))
    return fifo


def started_pid(fifo: Path) -> int:
    """The hanging uv's pid, once it runs (a bound on the wait, not a sleep)."""
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()), daemon=True)
    reader.start()
    reader.join(60)
    assert got, "the environment was never begun"
    return int(got[0])


def hanging_prepare(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uv_cache: Path
) -> tuple[Path, Prepared, int]:
    """A project's trial environment begun with a uv that never ends: the project, what
    prepare() made of it, and the hanging uv's pid once it runs."""
    fifo = hanging_uv(tmp_path, monkeypatch)
    project = pyproject(tmp_path / "project", 'name = "trial-x"\nversion = "1.0"\n')
    prepared = prepared_for(project, uv_cache)
    return project, prepared, started_pid(fifo)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_run_that_ends_before_the_trial_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, prepared, pid = hanging_prepare(tmp_path, monkeypatch, tmp_path / "cache")
    assert prepared.folder.is_dir()
    prepared.close()  # what the pipeline does when the run ends before the trial
    assert gone(pid)
    assert not prepared.folder.exists()
    prepared.close()  # again: nothing to do


def test_the_time_limit_covers_waiting_for_the_environment(
    tmp_path: Path, uv_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, prepared, pid = hanging_prepare(tmp_path, monkeypatch, uv_cache)
    wheel = craft_wheel(tmp_path / "dist", "trial_x", {"trial_x/__init__.py": ""})
    with pytest.raises(DistributionError) as info:
        run_trial([wheel], project, uv_cache, prepared=prepared, timeout=2)
    assert info.value.code == "trial-timed-out"
    assert info.value.message == (
        "The install trial did not finish within 2 s; it was stopped while waiting for "
        "the environment made while the build ran."
    )
    assert gone(pid)
    assert not prepared.folder.exists()


def test_called_off_while_the_environment_is_made(
    tmp_path: Path, uv_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, prepared, pid = hanging_prepare(tmp_path, monkeypatch, uv_cache)
    wheel = craft_wheel(tmp_path / "dist", "trial_x", {"trial_x/__init__.py": ""})
    cancel = Cancel()
    cancel.cancel()  # e.g. the GitHub preflight failed beside the trial
    with pytest.raises(Cancelled):
        run_trial([wheel], project, uv_cache, prepared=prepared, cancel=cancel)
    assert gone(pid)
    assert not prepared.folder.exists()


@pytest.mark.parametrize(
    ("project", "declared"),
    [
        ('name = "x"\nversion = "1"\n', []),
        (
            'name = "x"\nversion = "1"\ndependencies = ["a>=1", "b; python_version<\'3\'"]\n',
            ["a>=1", "b; python_version<'3'"],
        ),
        ('name = "x"\nversion = "1"\ndynamic = ["dependencies"]\n', None),
        ('name = "x"\nversion = "1"\ndependencies = ["not a requirement!"]\n', None),
        ('name = "x"\nversion = "1"\ndependencies = "a"\n', None),
    ],
)
def test_declared_dependencies(tmp_path: Path, project: str, declared: list[str] | None) -> None:
    assert declared_dependencies(pyproject(tmp_path, project)) == declared


def test_no_declared_dependencies_without_a_project_table(tmp_path: Path) -> None:
    assert declared_dependencies(tmp_path) is None  # no pyproject.toml: setup.py alone
    (tmp_path / "pyproject.toml").write_text("[build-system]\nrequires = []\n")
    assert declared_dependencies(tmp_path) is None
    (tmp_path / "pyproject.toml").write_text("[project\n")
    assert declared_dependencies(tmp_path) is None


# The pieces.


def test_the_trial_environment_has_no_runner_command_and_no_outside_path() -> None:
    env = {
        "PATH": "/usr/bin",
        "HOME": "/github/home",
        "UV_CACHE_DIR": "/cache",
        "GITHUB_ENV": "/f/env",
        "GITHUB_PATH": "/f/path",
        "GITHUB_OUTPUT": "/f/out",
        "GITHUB_STATE": "/f/state",
        "GITHUB_STEP_SUMMARY": "/f/summary",
        "ACTIONS_RUNTIME_URL": "https://x.invalid/",
        "ACTIONS_ID_TOKEN_REQUEST_URL": "https://x.invalid/",
        "PYTHONPATH": "/github/workspace/src",
        "PYTHONHOME": "/usr",
        "VIRTUAL_ENV": "/action/venv",
        "GITHUB_SHA": "abc",
    }
    assert trial_environment(env) == {
        "PATH": "/usr/bin",
        "HOME": "/github/home",
        "UV_CACHE_DIR": "/cache",
        "GITHUB_SHA": "abc",
    }


@pytest.mark.parametrize(
    ("files", "names"),
    [
        (["hello/__init__.py", "hello/cli.py", "hello-1.0.dist-info/METADATA"], ["hello"]),
        (["hello.py", "_hello_speedups.cpython-311-x86_64-linux-gnu.so"], ["hello"]),
        (["fast.abi3.so", "win.cp311-win_amd64.pyd"], ["fast", "win"]),
        (["tests/__init__.py", "test/__init__.py", "setup.py", "conftest.py"], []),
        (["_private/__init__.py", "hello/__init__.py", "my-pkg/__init__.py"], ["hello"]),
        (["hello-1.0.data/purelib/hello/__init__.py", "hello-1.0.data/scripts/x.py"], ["hello"]),
        (["hello-1.0.data/platlib/hi.py", "hello-1.0.data/data/share/x.py"], ["hi"]),
        (["ns/a/__init__.py", "ns/b.py", "ns/data.txt"], ["ns.a", "ns.b"]),
        (["ns/sub/deep/__init__.py"], ["ns.sub.deep"]),
        (["ns/only-data.txt", "class/__init__.py", "README.txt"], []),
        (["hello/__init__.py", "hello/__pycache__/x.cpython-311.pyc"], ["hello"]),
    ],
)
def test_import_names_from_a_wheels_files(files: list[str], names: list[str]) -> None:
    assert import_names(files) == names
