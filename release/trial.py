"""The install trial: the exact files installed and imported in a clean environment,
before anything is uploaded (an upload cannot be taken back).

For each wheel this interpreter and platform can install: a fresh environment (``uv
venv`` of this interpreter), the wheel installed with its dependencies from the public
index the environment configures (never the target index, never the checkout), then,
in one fresh interpreter started in an empty folder with ``-I``, each import name
imported and each console/GUI script's object resolved (not run); then, if asked, the
maintainer's test command. An sdist no tried wheel stands for is built into a wheel
first, in an isolated environment, and that wheel is tried.

What needs no wheel can be done while the build runs (prepare()): the environment
made, uv told its interpreter, pyproject.toml's declared dependencies installed; the
trial then installs the first wheel into it alone, when the wheel declares exactly
those dependencies (see Prepared).

Children run through one ToolLog (their output in a log group, shown in full on
failure), with the run's scrubbed environment less the runner's file commands.
"""

from __future__ import annotations

import configparser
import dataclasses
import functools
import os
import re
import shlex
import shutil
import signal
import sys
import sysconfig
import tempfile
import threading
import time
import tomllib
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from . import launchers
from .dists import Dist, read_metadata
from .errors import DistributionError, InputError
from .gha import Console, printable
from .proc import Cancel, Cancelled, ToolLog

TITLE = "Install trial: the files installed and imported in a fresh environment"
TIMEOUT = 300.0  # seconds for the whole trial, builds and installs included
# Would put the checkout (PYTHONPATH) or another Python (PYTHONHOME) before the
# environment's own; VIRTUAL_ENV is set to the trial's environment instead.
DROPPED = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
# Top-level names that are not the project's API: importing them tests nothing, or runs
# something (a stray setup.py calls setup()).
NOT_IMPORTED = frozenset({"tests", "test", "setup", "conftest"})
TRACEBACK_FRAMES = 3  # the traceback's last frames shown in an import failure
UV_LINES = 6  # uv's last lines shown when an install fails
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
# Import names whose distribution is named otherwise, for the undeclared-dependency hint.
DISTRIBUTION_OF = {
    "attr": "attrs",
    "bs4": "beautifulsoup4",
    "cv2": "opencv-python",
    "dateutil": "python-dateutil",
    "dotenv": "python-dotenv",
    "git": "GitPython",
    "google.protobuf": "protobuf",
    "jwt": "PyJWT",
    "magic": "python-magic",
    "OpenSSL": "pyOpenSSL",
    "PIL": "Pillow",
    "serial": "pyserial",
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "yaml": "PyYAML",
    "Crypto": "pycryptodome",
    "win32api": "pywin32",
    "zmq": "pyzmq",
}
ENTRY_POINT = re.compile(
    r"^(?P<module>[\w.]+)\s*(?::\s*(?P<attr>[\w.]+))?\s*(?:\[[^\]]*\])?\s*$", re.ASCII
)

# The probe: run by the trial environment's interpreter (``python -I -c``), it does
# every check of one wheel in that one start and writes one line as each check starts
# and ends, so a check that kills the interpreter (a crashing extension, an os._exit) is
# still named. Imported modules may print: the results go to a file (argv[1]); the
# checks are the arguments after it, module and attribute in turn. It imports nothing
# before the checks that a bare start does not (json and traceback took as long as the
# interpreter's own start, ~20 ms): its lines are Python literals (ascii(), read with
# ast.literal_eval), and traceback is imported for a failure only.
PROBE = r"""
import importlib, os, sys

def describe(exc):
    import traceback

    try:
        text = str(exc)
    except BaseException:
        text = "(unprintable)"
    kind = type(exc)
    name = kind.__qualname__
    if kind.__module__ not in ("builtins", "__main__"):
        name = kind.__module__ + "." + name
    frames = [
        [f.filename, f.lineno, f.name, f.line or ""]
        for f in traceback.extract_tb(exc.__traceback__)
        if not f.filename.startswith("<") and f.filename != importlib.__file__
    ]
    return {
        "type": name,
        "text": text,
        "module": exc.name if isinstance(exc, ModuleNotFoundError) else None,
        "filename": exc.filename
        if isinstance(exc, OSError) and isinstance(exc.filename, str)
        else None,
        "frames": frames[-20:],
    }

def run(module, attr):
    obj = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    if attr and not callable(obj):
        raise TypeError(attr + " is a " + type(obj).__name__ + ", not a function")

out = open(sys.argv[1], "w", encoding="ascii")
def emit(**record):
    out.write(ascii(record) + "\n")
    out.flush()
emit(event="started")
checks = sys.argv[2:]
for i in range(len(checks) // 2):
    emit(event="start", index=i)
    try:
        run(checks[2 * i], checks[2 * i + 1])
    except BaseException as exc:
        emit(event="end", index=i, error=describe(exc))
    else:
        emit(event="end", index=i, error=None)
out.close()
sys.stdout.flush()
sys.stderr.flush()
# Not a normal exit: a thread or an exit handler an imported module left must not hold
# the trial up.
os._exit(0)
"""


@dataclasses.dataclass(frozen=True)
class Check:
    """One thing tried in the environment: an import, or an entry point resolved."""

    kind: Literal["import", "console_scripts", "gui_scripts"]
    name: str  # the import name, or the script's name
    module: str
    attr: str = ""  # the object path in ``module`` (entry points)

    @property
    def shown(self) -> str:
        """``import x``, or ``console script `hello` (hello.cli:main)``."""
        if self.kind == "import":
            return f"import {self.name}"
        return f"{self.what} `{self.name}` ({self.module}:{self.attr})"

    @property
    def what(self) -> str:
        return "console script" if self.kind == "console_scripts" else "GUI script"


@dataclasses.dataclass(frozen=True)
class WheelTrial:
    """One wheel tried, and what was tried with it (all of it passed)."""

    filename: str
    built_from: str  # the sdist it was built from by the trial, else ""
    imports: tuple[str, ...]
    import_source: str  # "metadata" (PEP 794 Import-Name) or "files" (the wheel's list)
    entry_points: tuple[str, ...]  # "hello (hello.cli:main)"
    command: str  # the test command as given, or ""
    dependencies: tuple[str, ...]  # what uv installed beside it: "iniconfig==2.1.0"
    seconds: float


@dataclasses.dataclass(frozen=True)
class NotTried:
    """A file the trial left alone, and why."""

    filename: str
    reason: str


@dataclasses.dataclass(frozen=True)
class TrialReport:
    """What the install trial did; every file it tried passed."""

    tried: tuple[WheelTrial, ...]
    not_tried: tuple[NotTried, ...]
    covered: tuple[str, ...]  # sdists whose wheel (same name and version) was tried
    index: str  # where dependencies came from, credentials hidden
    python: str  # "cp311 on manylinux_2_36_x86_64"
    seconds: float

    def rows(self) -> list[tuple[str, str, str]]:
        """(published file, result, what was tried) for each file: the summary's table."""
        rows = []
        for t in self.tried:
            what = [f"import {n}" for n in t.imports] or ["installed; no module to import"]
            what += [f"script {e} resolves" for e in t.entry_points]
            if t.command:
                what.append(f"test command `{t.command}` passed")
            if t.dependencies:
                what.append("with " + ", ".join(t.dependencies))
            if t.built_from:  # the wheel is the trial's own; the sdist is what is published
                rows.append((t.built_from, f"passed, as {t.filename}", "; ".join(what)))
            else:
                rows.append((t.filename, "passed", "; ".join(what)))
        rows += [(s, "passed, as its wheel above", "") for s in self.covered]
        rows += [(n.filename, "not tried", n.reason) for n in self.not_tried]
        return rows

    def lines(self) -> list[str]:
        """Plain lines for the log and a terminal summary."""
        return [f"{f}: {r}" + (f" ({w})" if w else "") for f, r, w in self.rows()]


def trial_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The run's scrubbed child environment without the runner's file commands, the
    runner's ``ACTIONS_*`` variables and anything that puts other code on the path."""
    from .settings import FILE_COMMANDS, RUNNER_PREFIXES

    return {
        k: v
        for k, v in env.items()
        if k not in FILE_COMMANDS and k not in DROPPED and not k.startswith(RUNNER_PREFIXES)
    }


def parse_command(command: str) -> list[str]:
    """A test command line as a list (no shell); an InputError when it cannot be split."""
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise InputError(
            "test-command-invalid",
            f"{{test-command}} cannot be split into words: {exc} ({printable(command, 200)}).",
            "Quote it as a shell would (it is split that way, then run without a shell).",
        ) from None
    if not words:
        raise InputError(
            "test-command-empty",
            "{test-command} holds no command.",
            "Give a command line, e.g. 'python -m unittest discover -s {project}/tests'.",
        )
    return words


def trial(
    dists: Sequence[Dist],
    *,
    project_dir: Path,
    env: Mapping[str, str],
    console: Console,
    cancel: Cancel | None = None,
    timeout: float = TIMEOUT,
    test_command: str | None = None,
    prepared: Prepared | None = None,
) -> TrialReport:
    """Install and import the files this interpreter can install, each in a fresh
    environment; a DistributionError naming the first thing that fails.

    ``prepared``: the environment prepare() began while the build ran, taken for the
    first wheel it fits, and removed when the trial ends, whatever happens."""
    try:
        return _trial(
            dists,
            project_dir=project_dir,
            env=env,
            console=console,
            cancel=cancel,
            timeout=timeout,
            test_command=test_command,
            prepared=prepared,
        )
    finally:
        if prepared is not None:
            prepared.close()


def _trial(
    dists: Sequence[Dist],
    *,
    project_dir: Path,
    env: Mapping[str, str],
    console: Console,
    cancel: Cancel | None,
    timeout: float,
    test_command: str | None,
    prepared: Prepared | None,
) -> TrialReport:
    started = time.monotonic()
    words = parse_command(test_command) if test_command else None
    uv = _uv()
    wheels, not_tried = _installable([d for d in dists if d.kind == "wheel"])
    own = Cancel()
    if cancel is not None:
        cancel.link(own)  # the caller calling it off kills the running child too
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        own.cancel()

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    with (
        ToolLog(TITLE, console, own) as log,
        tempfile.TemporaryDirectory(prefix="release-trial-", ignore_cleanup_errors=True) as tmp,
    ):
        runner = _Trial(log, uv, trial_environment(env), Path(tmp), project_dir.resolve())
        timer.start()
        try:
            tried, covered = [], []
            targets: list[tuple[Path, str]] = [(w.path, "") for w in wheels]
            for sdist in (d for d in dists if d.kind == "sdist"):
                if any(_same_release(w, sdist) for w in wheels):
                    covered.append(sdist.filename)
                else:  # what an installer on this platform would build from it
                    targets.append((runner.build_wheel(sdist), sdist.filename))
            ready = None
            if prepared is not None and targets:
                runner.stage = "waiting for the environment made while the build ran"
                ready = prepared.take(log)
            for path, source in targets:
                here = None
                if ready is not None:
                    here = ready.fitting(path, log)
                    ready = None if here is not None else ready
                tried.append(runner.try_wheel(path, source, words, test_command or "", here))
        except Cancelled:
            if cancel is not None and cancel.cancelled:
                raise
            if expired.is_set():
                raise _timed_out(timeout, runner.stage) from None
            raise
        finally:
            # Expiring after the last child ended stopped nothing: the trial is complete.
            timer.cancel()
        report = TrialReport(
            tried=tuple(tried),
            not_tried=tuple(not_tried),
            covered=tuple(covered),
            index=runner.index_shown,
            python=_this_python(),
            seconds=time.monotonic() - started,
        )
        for line in report.lines():
            log.note(line)
    for t in report.tried:
        if not t.imports and t.import_source == "files":
            console.warning(
                f"{t.filename} holds no module to import: only its installation was tried.",
                title="Install trial",
            )
    return report


def _uv() -> str:
    from .build import uv_binary

    uv = uv_binary()
    if uv is None:
        raise DistributionError(
            "trial-uv-missing",
            "uv, which makes the install trial's environment, is not installed.",
            "Install this tool with its dependencies (pip install pypi-release-action).",
        )
    return uv


def _timed_out(timeout: float, stage: str) -> DistributionError:
    return DistributionError(
        "trial-timed-out",
        f"The install trial did not finish within {timeout:g} s; it was stopped while {stage}.",
        "The log above shows what it was doing. Raise {test-timeout} (seconds) if it needs "
        "longer, or set {test-install=false} to publish without the trial.",
    )


def _same_release(wheel: Dist, sdist: Dist) -> bool:
    return canonicalize_name(wheel.name) == canonicalize_name(sdist.name) and Version(
        wheel.version
    ) == Version(sdist.version)


def release_of(filename: str) -> str:
    """``hello_release-1.0.0`` of a wheel's or an sdist's file name."""
    if filename.endswith(".whl"):
        return "-".join(filename.split("-")[:2])
    return filename.removesuffix(".tar.gz").removesuffix(".zip")


# Which wheels this interpreter installs, and why not the others.


@functools.cache
def _supported() -> tuple[Any, ...]:
    """This interpreter's tags, most specific first: some thousands, a few ms to list,
    so listed once (by prepare()'s thread, when the build runs)."""
    from packaging import tags

    return tuple(tags.sys_tags())


def _this_python() -> str:
    first = _supported()[0]
    return f"{first.interpreter} on {first.platform}"


def _installable(wheels: Sequence[Dist]) -> tuple[list[Dist], list[NotTried]]:
    ordered = _supported()  # most specific first: why_not reads the first
    supported = set(ordered)
    ok, not_tried = [], []
    for wheel in wheels:
        wheel_tags = parse_wheel_filename(wheel.filename)[3]
        if wheel_tags & supported:
            ok.append(wheel)
        else:
            not_tried.append(NotTried(wheel.filename, why_not(wheel_tags, ordered)))
    return ok, not_tried


def _os_of(platform_tag: str) -> str:
    for prefix, name in (
        ("macosx", "macOS"),
        ("win", "Windows"),
        ("manylinux", "Linux"),
        ("musllinux", "Linux"),
        ("linux", "Linux"),
        ("ios", "iOS"),
        ("android", "Android"),
        ("any", "any"),
    ):
        if platform_tag.startswith(prefix):
            return name
    return platform_tag


def _arch_of(platform_tag: str) -> str:
    """x86_64 of manylinux_2_17_x86_64, manylinux2014_x86_64, macosx_11_0_arm64, win_amd64."""
    if platform_tag == "win32":
        return "x86"
    m = re.match(
        r"(?:(?:many|musl)linux_\d+_\d+|manylinux\d+|macosx_\d+_\d+|ios_\d+_\d+|"
        r"android_\d+|linux|win)_(.+)$",
        platform_tag,
    )
    return m.group(1) if m else ""


def why_not(wheel_tags: Iterable[Any], supported: Iterable[Any]) -> str:
    """Why a wheel's tags do not install here, in words: "cp312 wheel, this is cp311",
    "macOS wheel on Linux"."""
    wheel_tags = list(wheel_tags)
    supported = list(supported)
    ours = supported[0]  # the most specific: this interpreter's own
    our_os, our_arch = _os_of(ours.platform), _arch_of(ours.platform)
    platforms = {t.platform for t in wheel_tags}
    fitting_platforms = platforms & {t.platform for t in supported}
    if not fitting_platforms:
        oses = sorted({_os_of(p) for p in platforms})
        if our_os not in oses:
            return f"{' and '.join(oses)} wheel on {our_os}"
        arches = sorted({_arch_of(p) for p in platforms if _os_of(p) == our_os})
        if our_arch not in arches:
            return f"{our_os} {'/'.join(arches)} wheel on {our_os} {our_arch}"
        if our_os == "Linux":
            libc = "musllinux" if ours.platform.startswith("musllinux") else "manylinux"
            other = {"manylinux": "musllinux", "musllinux": "manylinux"}[libc]
            if all(p.startswith(other) for p in platforms):
                mine = "musl" if libc == "musllinux" else "glibc"
                return f"{other} wheel on a {mine} Linux"
        return f"{', '.join(sorted(platforms))} wheel, not supported by this {our_os}"
    fitting = [t for t in wheel_tags if t.platform in fitting_platforms]
    ours_interpreters = {t.interpreter for t in supported}
    interpreters = sorted({t.interpreter for t in fitting})
    if not set(interpreters) & ours_interpreters:
        return f"{', '.join(interpreters)} wheel, this is {ours.interpreter}"
    abis = sorted({t.abi for t in fitting})
    return f"{', '.join(abis)} ABI wheel, this is {ours.abi}"


# The work.


class _Failed(Exception):
    """A uv call that failed: what it was doing and its exit code."""

    def __init__(self, code: int, what: str, lines: Sequence[str]) -> None:
        super().__init__(code)
        self.code = code
        self.what = what
        self.lines = list(lines)  # its output


@dataclasses.dataclass(frozen=True)
class _Env:
    """One trial environment's folder: the environment (``env``), an empty folder to
    run in (``cwd``), the probe's files; and the children's environment variables."""

    work: Path
    env: dict[str, str]

    @property
    def venv(self) -> Path:
        return self.work / "env"

    @property
    def cwd(self) -> Path:
        return self.work / "cwd"

    @property
    def python(self) -> Path:
        if os.name == "nt":
            return self.venv / "Scripts" / "python.exe"
        return self.venv / "bin" / "python"

    def site_packages(self) -> list[Path]:
        """Where it installs to (purelib and platlib)."""
        paths = sysconfig.get_paths(scheme="venv", vars={"base": self.venv, "platbase": self.venv})
        return [Path(p) for p in dict.fromkeys((paths["purelib"], paths["platlib"]))]

    def installed(self) -> dict[str, str]:
        """What is installed in it: canonical name -> version, from its .dist-info
        folders (uv writes ``name-version.dist-info``)."""
        found: dict[str, str] = {}
        for site in self.site_packages():
            try:
                entries = os.listdir(site)
            except OSError:
                continue
            for entry in entries:
                if entry.endswith(".dist-info"):
                    name, _, version = entry.removesuffix(".dist-info").rpartition("-")
                    found[canonicalize_name(name or version)] = version
        return found


@dataclasses.dataclass(frozen=True)
class _Fit:
    """The environment made while the build ran, and how a wheel goes into it: alone
    (its declared dependencies are there already), or with its dependencies (nothing
    is there yet)."""

    where: _Env
    alone: bool
    lines: list[str]  # uv's output when it was made: what it installed


class _Ready:
    """What prepare() made, once made: an environment holding the project's declared
    dependencies (or nothing, when they were not known before the build)."""

    def __init__(self, where: _Env, requirements: list[str], lines: list[str]) -> None:
        self.where = where
        self.requirements = requirements
        self.lines = lines
        # What its folders hold, and what uv said it installed: a layout read wrongly
        # must not pass for an empty environment (what it holds could hide a missing
        # dependency).
        said = (re.match(r"^ \+ (\S+)==(\S+)", line) for line in lines)
        self.installed: dict[str, str] = {canonicalize_name(m[1]): m[2] for m in said if m}
        self.installed.update(where.installed())

    def fitting(self, wheel: Path, log: ToolLog) -> _Fit | None:
        """How ``wheel`` goes into this environment, or None (said in ``log``) when the
        environment is not what a fresh install of it would make."""
        if not self.installed:  # fresh: the wheel is installed as into a new one
            return _Fit(self.where, False, self.lines)
        why = self._misfit(wheel)
        if why:
            log.note(f"The environment made while the build ran does not fit {wheel.name}: {why}.")
            return None
        return _Fit(self.where, True, self.lines)

    def _misfit(self, wheel: Path) -> str:
        raw = read_metadata(wheel)
        name = raw.get("name", "")
        if canonicalize_name(name) in self.installed:
            return f"{name} itself was installed with the dependencies"
        try:
            declared = _applicable(raw.get("requires_dist", []))
        except (InvalidRequirement, ValueError):
            return "its Requires-Dist cannot be read"
        if declared != _applicable(self.requirements):
            return "it declares other dependencies than pyproject.toml's [project] dependencies"
        for req in declared:
            version = self.installed.get(req.name)
            if version is None:
                return f"{req.name} is not installed"
            if req.specifier and not _satisfies(version, req.specifier):
                return f"{req.name} {version} is installed, not {req.specifier}"
        return ""


@dataclasses.dataclass(frozen=True)
class _Wanted:
    """A requirement as an installer acts on it here: name, extras, versions, URL."""

    name: str
    extras: frozenset[str]
    specifier: str
    url: str


def _applicable(requirements: Iterable[str]) -> frozenset[_Wanted]:
    """The requirements a plain install acts on with this interpreter: their markers
    true here, no extra asked for."""
    found = set()
    for text in requirements:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            found.add(
                _Wanted(
                    canonicalize_name(req.name),
                    frozenset(canonicalize_name(e) for e in req.extras),
                    str(req.specifier),
                    req.url or "",
                )
            )
    return frozenset(found)


def _satisfies(version: str, specifier: str) -> bool:
    try:
        return SpecifierSet(specifier).contains(Version(version), prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return False


def declared_dependencies(project_dir: Path) -> list[str] | None:
    """pyproject.toml's [project] dependencies, or None when only the build knows them
    (dynamic, no [project] table, a file that cannot be read)."""
    try:
        with (project_dir / "pyproject.toml").open("rb") as fh:
            project = tomllib.load(fh).get("project")
    except (OSError, ValueError):
        return None
    if not isinstance(project, dict):
        return None
    dynamic = project.get("dynamic", [])
    if not isinstance(dynamic, list) or "dependencies" in dynamic:
        return None
    requirements = project.get("dependencies", [])
    if not isinstance(requirements, list) or not all(isinstance(r, str) for r in requirements):
        return None
    try:
        _applicable(requirements)
    except InvalidRequirement:
        return None
    return requirements


class Prepared:
    """The install trial's environment, made while the build runs (see prepare()).

    Most of a small project's trial is not its wheel: the fresh environment (``uv
    venv``) and its dependencies resolved and installed from the index. None of that
    needs the wheel, so it is done while the build runs, by the trial's rules: its
    scrubbed environment, uv in an empty folder, the index the trial uses.

    The trial takes it for the first wheel it fits: a wheel that declares the same
    dependencies as pyproject.toml (markers evaluated here) is then installed alone
    (``--no-deps``) beside them; when they were not known before the build (dynamic),
    nothing was installed ahead and the wheel is installed with its dependencies as into
    a new environment. Otherwise (other dependencies in the wheel, a failure here) the
    trial makes a fresh environment as without it. Its output is kept and shown in the
    trial's log when the trial takes it.
    """

    def __init__(
        self,
        uv: str,
        env: Mapping[str, str],
        console: Console,
        project_dir: Path,
        requirements: list[str] | None,
    ) -> None:
        self.requirements = requirements
        self.cancel = Cancel()
        self.log = ToolLog(TITLE, console, self.cancel)
        self.log.live = False  # kept; replayed into the trial's log
        self.folder = Path(tempfile.mkdtemp(prefix="release-trial-"))
        self._runner = _Trial(self.log, uv, trial_environment(env), self.folder, project_dir)
        self._ready: _Ready | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._make, name="trial-env", daemon=True)
        self._thread.start()

    def _make(self) -> None:
        runner = self._runner
        try:
            where = runner.new_env("prepared")
            runner.make_venv(where)
            if self.requirements:
                self.log.note("Installing the dependencies pyproject.toml declares")
                runner.install(
                    "installing the declared dependencies",
                    where,
                    [*runner.index_args, *self.requirements],
                )
            self._ready = _Ready(where, self.requirements or [], list(self.log.lines))
            _supported()  # listed now, not after the build
        except BaseException as exc:  # told where the trial takes the environment
            self._error = exc

    def take(self, log: ToolLog) -> _Ready | None:
        """Wait for the environment (the trial being called off calls it off too) and
        show in ``log`` how it was made; None when it could not be made (the trial then
        makes a fresh one, and meets the same fault, if any, with its own words)."""
        log.cancel.link(self.cancel)
        self._thread.join()
        if log.cancel.cancelled:
            raise Cancelled
        error = self._error
        if error is None:
            log.note("Environment made while the build ran:")
        else:
            why = (
                f"{error.what} failed (uv exited {error.code})"
                if isinstance(error, _Failed)
                else printable(str(error) or type(error).__name__, 300)
            )
            log.note(f"The environment made while the build ran is not used: {why}. Its log:")
        log.replay(self.log.lines)
        return self._ready

    def close(self) -> None:
        """Stop making it if it still runs, and remove it (once the trial is done with
        it, or when the run ends before the trial)."""
        self.cancel.cancel()
        self._thread.join()
        shutil.rmtree(self.folder, ignore_errors=True)


def prepare(project_dir: Path, env: Mapping[str, str], console: Console) -> Prepared | None:
    """Begin making the install trial's environment, while the build runs; None when
    uv is missing (the trial says so)."""
    from .build import uv_binary

    uv = uv_binary()
    if uv is None:
        return None
    return Prepared(uv, env, console, project_dir.resolve(), declared_dependencies(project_dir))


class _Trial:
    def __init__(self, log: ToolLog, uv: str, env: dict[str, str], tmp: Path, project: Path):
        self.log = log
        self.uv = uv
        self.env = env
        self.tmp = tmp
        self.project = project
        self.stage = "starting"
        self.count = 0
        # uv reads UV_DEFAULT_INDEX / UV_INDEX_URL itself; PIP_INDEX_URL, which a runner
        # may set for pip, is what the maintainer's users' pip would use: honoured too.
        self.index_args: list[str] = []
        if not any(env.get(k) for k in ("UV_DEFAULT_INDEX", "UV_INDEX_URL")) and env.get(
            "PIP_INDEX_URL"
        ):
            self.index_args = ["--default-index", env["PIP_INDEX_URL"]]

    @property
    def index_shown(self) -> str:
        from .urls import sanitize_url

        for key in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"):
            if self.env.get(key):
                return sanitize_url(self.env[key])
        return "https://pypi.org/simple"

    def folder(self, name: str) -> Path:
        self.count += 1
        path = self.tmp / f"{self.count}-{name}"
        path.mkdir()
        return path

    def uv_run(self, what: str, args: Sequence[str], cwd: Path, env: Mapping[str, str]) -> int:
        """uv in an empty folder: no project's uv.toml or pyproject.toml is read."""
        start = len(self.log.lines)
        code = self.log.run([self.uv, *args], cwd=cwd, env=env)
        if code != 0:
            raise _Failed(code, what, self.log.lines[start:])
        return start

    def build_wheel(self, sdist: Dist) -> Path:
        """The wheel an installer would build from ``sdist``, in an isolated environment."""
        from build import BuildBackendException, BuildException

        from .build import _Builder, _InstallFailed, _unpack

        self.stage = f"building a wheel from {sdist.filename}"
        self.log.note(f"Building a wheel from {sdist.filename}, as an installer would")
        scratch = self.folder("sdist")
        builder = _Builder(self.log, self.uv, self.env, scratch)
        out = scratch / "wheel"
        source: Path | None = None
        try:
            source = _unpack(sdist.path, scratch / "source")
            wheel = Path(builder.separately(source, out))
        except (BuildBackendException, BuildException, _InstallFailed) as exc:
            if self.log.cancel.cancelled:
                raise Cancelled from None  # build wraps what a hook's runner raised
            if isinstance(exc, _InstallFailed):
                said = f"{exc.what} failed (uv exited {exc.code})"
            elif isinstance(exc, BuildBackendException) and builder.failure:
                said = builder.failure
            else:
                said = printable(str(exc), 300)
            raise DistributionError(
                "trial-sdist-build-failed",
                f"{sdist.filename} does not build into a wheel: {said.rstrip('.')}.",
                self._left_out_of(said, source)
                + "An installer builds the same wheel from it wherever no wheel fits. A "
                "file the build needs may be missing from the sdist (MANIFEST.in, the "
                "backend's sdist includes); the build log above shows why. Reproduce it "
                "with 'python -m build --wheel' in the unpacked sdist.",
            ) from None
        self.log.note(f"Built {wheel.name}")
        return wheel

    def _left_out_of(self, said: str, source: Path | None) -> str:
        """ "`x` is in the checkout but not in the sdist. ", when the build's last words
        are a missing file that is."""
        m = re.search(r"No such file or directory: '([^'/][^']*)'", said)
        if m is None or source is None:
            return ""
        rel = m.group(1)
        if (self.project / rel).is_file() and not (source / rel).exists():
            return f"`{rel}` is in the checkout but not in the sdist. "
        return ""

    def new_env(self, name: str) -> _Env:
        """A folder for one environment (not made yet) and an empty folder beside it,
        and the children's environment variables in it."""
        work = self.folder(name)
        where = _Env(work, {})
        where.cwd.mkdir()
        path = self.env.get("PATH")
        bindir = str(where.python.parent)
        where.env.update(
            self.env,
            VIRTUAL_ENV=str(where.venv),
            PATH=os.pathsep.join([bindir, path]) if path else bindir,
        )
        return where

    def make_venv(self, where: _Env) -> None:
        self.uv_run(
            "making the environment",
            ["venv", "--quiet", "--no-project", "--python", sys.executable, str(where.venv)],
            where.cwd,
            where.env,
        )

    def install(self, what: str, where: _Env, args: Sequence[str]) -> int:
        """uv pip install into ``where``'s environment, by the interpreter it was made
        from (launchers: uv asks no question about a fresh interpreter); its scripts
        start the environment's own, as a user's install writes them."""
        python = str(where.python)
        target = launchers.uv_target(sys.executable, str(where.venv), python)
        start = self.uv_run(what, ["pip", "install", *target, *args], where.cwd, where.env)
        launchers.settle(where.python.parent, sys.executable, python, os.geteuid())
        return start

    def try_wheel(
        self,
        wheel: Path,
        built_from: str,
        words: list[str] | None,
        command: str,
        ready: _Fit | None = None,
    ) -> WheelTrial:
        """``ready``: the environment made while the build ran, and how the wheel goes
        into it; else a fresh one is made now."""
        started = time.monotonic()
        release = release_of(wheel.name)
        checks, source = wheel_checks(wheel)
        alone = ready is not None and ready.alone
        try:
            if ready is None:
                where = self.new_env(release)
                self.stage = f"making an environment for {wheel.name}"
                self.log.note(f"Trying {wheel.name} in a fresh environment")
                self.make_venv(where)
            else:
                where = ready.where
                self.log.note(
                    f"Trying {wheel.name} in the fresh environment made while the build ran"
                    + (", which holds its dependencies" if alone else "")
                )
            self.stage = f"installing {wheel.name}" + ("" if alone else " with its dependencies")
            start = self.install(
                "installing it",
                where,
                # Its declared dependencies, and only they, are installed already.
                [*self.index_args, *(["--no-deps"] if alone else []), str(wheel.resolve())],
            )
        except _Failed as exc:
            raise self._install_failed(wheel.name, exc) from None
        lines = ready.lines if ready is not None and alone else self.log.lines[start:]
        deps = _installed(lines, wheel.name)
        self.stage = f"importing {release}'s modules"
        self.probe(wheel, release, checks, where)
        if words:
            self.stage = f"running the test command against {wheel.name}"
            self.run_command(words, command, wheel.name, str(where.python), where.cwd, where.env)
        return WheelTrial(
            filename=wheel.name,
            built_from=built_from,
            imports=tuple(c.name for c in checks if c.kind == "import"),
            import_source=source,
            entry_points=tuple(
                f"{c.name} ({c.module}:{c.attr})" for c in checks if c.kind != "import"
            ),
            command=command if words else "",
            dependencies=deps,
            seconds=time.monotonic() - started,
        )

    def _install_failed(self, filename: str, exc: _Failed) -> DistributionError:
        if exc.what == "making the environment":
            return DistributionError(
                "trial-env-failed",
                f"No fresh environment could be made to try {filename} in "
                f"(uv venv exited {exc.code}).",
                "uv's output is above; this is a fault of the machine, not of the files.",
            )
        said = [printable(line.rstrip(), 300) for line in exc.lines if line.strip()]
        shown = "\n".join("  " + line for line in said[-UV_LINES:])
        return DistributionError(
            "trial-install-failed",
            f"{filename} does not install into a fresh environment (uv exited {exc.code})"
            + (f":\n{shown}" if shown else "."),
            f"Its dependencies come from {self.index_shown}, as its users' would: check "
            f"[project] dependencies and requires-python against this Python ({PYTHON}). "
            "uv's full output is above.",
        )

    def probe(self, wheel: Path, release: str, checks: list[Check], where: _Env) -> None:
        """Every check in one interpreter start; the first failure raised."""
        if not checks:
            return
        result = where.work / "results.txt"
        self.log.note("Checking: " + ", ".join(c.shown for c in checks))
        # -I: no PYTHONPATH, no user site, neither the current folder nor the script's
        # on sys.path: only what the wheel installed is importable.
        args = [str(where.python), "-I", "-c", PROBE, str(result)]
        for check in checks:
            args += [check.module, check.attr]
        code = self.log.run(args, cwd=where.cwd, env=where.env)
        records = _records(result)
        if not any(r.get("event") == "started" for r in records):
            raise DistributionError(
                "trial-probe-failed",
                f"The fresh environment's Python exited {_exit_status(code)} before trying "
                f"{wheel.name}.",
                "Its output is above; this is a fault of the machine, not of the files.",
            )
        ended = {r["index"]: r.get("error") for r in records if r.get("event") == "end"}
        started = [r["index"] for r in records if r.get("event") == "start"]
        for i in started:
            if i not in ended:  # the interpreter died in this check
                check = checks[i]
                raise DistributionError(
                    "trial-import-crashed",
                    f"{release} installs but `{_statement(check)}` ends the interpreter "
                    f"(exit status {_exit_status(code)}).",
                    "A module of the wheel crashed or exited while being imported (an "
                    "extension module built against another Python or library, or a call "
                    "to os._exit or abort at import time); its output is above.",
                )
        failures = [(checks[i], e) for i, e in ended.items() if e is not None]
        if failures:
            raise self._check_failed(wheel, release, failures, where.site_packages(), where.work)
        for check in checks:
            self.log.note(f"ok: {check.shown}")

    def _check_failed(
        self,
        wheel: Path,
        release: str,
        failures: list[tuple[Check, dict[str, Any]]],
        site: list[Path],
        work: Path,
    ) -> DistributionError:
        check, error = failures[0]
        text = printable(error["text"], 300)
        said = f"{error['type']}: {text}" if text else error["type"]
        env = str(work / "env")
        said = said.replace(env, "<env>")
        frames = error["frames"]
        # The wheel's own code (and its dependencies') says most: the frames in the
        # environment, when there are any, not the standard library's under them.
        frames = [f for f in frames if f[0].startswith(env)] or frames
        lines = []
        for filename, lineno, func, line in frames[-TRACEBACK_FRAMES:]:
            filename = filename.replace(env, "<env>")
            lines.append(printable(f'  File "{filename}", line {lineno}, in {func}', 300))
            if line:
                lines.append("    " + printable(line, 300))
        more = [c.shown for c, _ in failures[1:]]
        tail = f"\n(also failing: {', '.join(more)})" if more else ""
        trace = ("\n" + "\n".join(lines)) if lines else ""
        if check.kind == "import":
            head = f"{release} installs but `import {check.name}` fails: {said}"
            code = "trial-import-failed"
        else:
            head = (
                f"{release} installs but its {check.what} `{check.name}` "
                f"({check.module}:{check.attr}) does not resolve: {said}"
            )
            code = "trial-entry-point-missing"
        hint = self._hint(wheel, check, error, site)
        return DistributionError(code, head + trace + tail, hint)

    def _hint(self, wheel: Path, check: Check, error: dict[str, Any], site: list[Path]) -> str:
        listing = f"python -m zipfile -l {wheel.name}"
        missing = error.get("module")
        tops = _top_names(wheel)
        if isinstance(missing, str) and missing:
            where = _in_source(self.project, _module_paths(missing))
            if where:
                return (
                    f"`{missing}` is in the source tree ({where}) but not in the wheel: the "
                    "build leaves it out (setuptools `packages`, hatchling `packages` or "
                    "`only-include`, the sdist's MANIFEST.in when the wheel is built from "
                    f"it). Compare the wheel's files ({listing}) with the source tree."
                )
            if missing.split(".")[0] in tops:
                return (
                    f"`{missing}` is not in the wheel, though its package is: a module left "
                    f"out of it. Compare the wheel's files ({listing}) with the source tree."
                )
            dist = _distribution_for(missing)
            return (
                f"`{missing}` is neither in the wheel nor installed with it: a dependency "
                f"imported but not declared. Add the distribution that provides it (probably "
                f"`{dist}`) to [project] dependencies."
            )
        filename = error.get("filename")
        if isinstance(filename, str) and filename:
            rel = _under(Path(filename), site)
            if rel is not None:
                where = _in_source(self.project, [rel])
                found = f"is in the source tree ({where}) but " if where else "is "
                return (
                    f"`{rel}` {found}not in the wheel: package data left out. Include it "
                    "(setuptools `package-data` or MANIFEST.in with include-package-data, "
                    "hatchling `artifacts` or `force-include`) and compare the wheel's files "
                    f"({listing}) with the source tree."
                )
        if check.kind != "import" and error["type"] in ("AttributeError", "TypeError"):
            return (
                f"[project.scripts] or [project.gui-scripts] `{check.name}` must name a "
                f"function that is in the wheel: `{check.attr}` in `{check.module}`."
            )
        return (
            "The traceback's last lines are above, and the whole output in the log. The usual "
            f"causes: a package or file missing from the wheel (compare its files, {listing}, "
            "with the source tree), or a dependency imported but not declared in [project] "
            "dependencies."
        )

    def run_command(
        self,
        words: list[str],
        command: str,
        filename: str,
        python: str,
        cwd: Path,
        env: Mapping[str, str],
    ) -> None:
        """The maintainer's command, ``{project}`` the project folder, in the environment."""
        args = [w.replace("{project}", str(self.project)) for w in words]
        self.log.note(f"Running the test command: {shlex.join(args)}")
        try:
            code = self.log.run(args, cwd=cwd, env=env)
        except OSError as exc:
            raise DistributionError(
                "trial-command-not-found",
                f"The test command `{printable(command, 200)}` cannot start: "
                f"{exc.strerror or exc} ({printable(args[0], 200)}).",
                "It runs with only the wheel and its dependencies installed, so name a "
                "program that is there (python -m unittest, a console script of the "
                "project) or on PATH.",
            ) from None
        if code != 0:
            raise DistributionError(
                "trial-command-failed",
                f"The test command `{printable(command, 200)}` failed against {filename} "
                f"(exit status {_exit_status(code)}).",
                "Its output is above. It ran in a fresh environment holding only the wheel "
                "and its dependencies, from an empty folder, with {project} the project "
                "folder.",
            )
        self.log.note(f"ok: the test command passed against {filename}")


def _exit_status(code: int) -> str:
    if code < 0:
        try:
            return f"{code}, {signal.Signals(-code).name}"
        except ValueError:
            return str(code)
    return str(code)


def _statement(check: Check) -> str:
    if check.kind == "import":
        return f"import {check.name}"
    return f"from {check.module} import {check.attr.split('.')[0]}"


def _records(path: Path) -> list[dict[str, Any]]:
    """The probe's lines: Python literals, read as data (never run)."""
    import ast

    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return []
    records = []
    for line in text.splitlines():
        try:
            record = ast.literal_eval(line)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            break  # the last line, cut off by a crash
        if isinstance(record, dict):
            records.append(record)
    return records


def _installed(lines: Sequence[str], wheel: str) -> tuple[str, ...]:
    """What uv installed beside the wheel, from its " + name==version" lines."""
    own = canonicalize_name(parse_wheel_filename(wheel)[0])
    found = []
    for line in lines:
        m = re.match(r"^ \+ (\S+)==(\S+)", line)
        if m and canonicalize_name(m.group(1)) != own:
            found.append(f"{m.group(1)}=={m.group(2)}")
    return tuple(found)


# What to try: the wheel's import names and entry points.


def wheel_checks(wheel: Path) -> tuple[list[Check], str]:
    """The checks for a wheel, and where its import names came from: the metadata's
    PEP 794 Import-Name/Import-Namespace when it has them, else its file list."""
    raw = read_metadata(wheel)
    if "import_names" in raw or "import_namespaces" in raw:
        names = []
        for value in [*raw.get("import_names", []), *raw.get("import_namespaces", [])]:
            name, _, flag = value.partition(";")
            # A private name is the project's own business (PEP 794), like a _module.
            if name.strip() and flag.strip() != "private":
                names.append(name.strip())
        source = "metadata"
    else:
        with zipfile.ZipFile(wheel) as zf:
            names = import_names(zf.namelist())
        source = "files"
    checks = [Check("import", n, n) for n in dict.fromkeys(names)]
    return checks + _entry_points(wheel), source


def _entry_points(wheel: Path) -> list[Check]:
    with zipfile.ZipFile(wheel) as zf:
        found = [
            n
            for n in zf.namelist()
            if n.count("/") == 1 and n.endswith(".dist-info/entry_points.txt")
        ]
        if len(found) != 1:
            return []
        text = zf.read(found[0]).decode("utf-8", errors="replace")
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise DistributionError(
            "trial-entry-points-unreadable",
            f"{wheel.name}'s entry_points.txt cannot be read: {printable(str(exc), 200)}.",
            "Rebuild the wheel with a current build backend.",
        ) from None
    checks = []
    for group in ("console_scripts", "gui_scripts"):
        if not parser.has_section(group):
            continue
        for name, value in parser.items(group):
            m = ENTRY_POINT.match(value)
            if m is None or not m.group("attr"):
                what = "console script" if group == "console_scripts" else "GUI script"
                raise DistributionError(
                    "trial-entry-point-invalid",
                    f"{release_of(wheel.name)}'s {what} `{name}` names "
                    f"`{printable(value, 200)}`, not a function (module:function).",
                    "Write it as 'module.path:function' in [project.scripts].",
                )
            kind: Literal["console_scripts", "gui_scripts"] = group
            checks.append(Check(kind, name, m.group("module"), m.group("attr")))
    return checks


def import_names(files: Iterable[str]) -> list[str]:
    """The public top-level packages and modules among a wheel's files; a namespace
    package (no ``__init__``) stands for the packages and modules inside it."""
    tree: dict[str, Any] = {}
    for name in files:
        parts = name.split("/")
        if not parts[-1] or parts[0].endswith(".dist-info"):
            continue
        if parts[0].endswith(".data"):
            # name.data/purelib/ and platlib/ are installed into site-packages too.
            if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                continue
            parts = parts[2:]
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node.setdefault(parts[-1], None)
    return _walk(tree, ())


def _module_of(filename: str) -> str | None:
    """``x`` for x.py, x.pyc, x.cpython-311-x86_64-linux-gnu.so, x.abi3.so, x.pyd."""
    stem, _, rest = filename.partition(".")
    if rest in ("py", "pyc") or rest.endswith(("so", "pyd")):
        return stem
    return None


def _public(name: str) -> bool:
    import keyword

    return (
        name.isidentifier()
        and not keyword.iskeyword(name)
        and not name.startswith("_")
        and name not in NOT_IMPORTED
    )


def _holds_modules(node: dict[str, Any]) -> bool:
    return any(
        (_module_of(k) is not None) if v is None else (k != "__pycache__" and _holds_modules(v))
        for k, v in node.items()
    )


def _walk(node: dict[str, Any], prefix: tuple[str, ...]) -> list[str]:
    names = []
    for key, child in sorted(node.items()):
        if child is None:
            module = _module_of(key)
            if module is not None and _public(module):
                names.append(".".join((*prefix, module)))
        elif _public(key):
            if any(v is None and _module_of(k) == "__init__" for k, v in child.items()):
                names.append(".".join((*prefix, key)))
            elif _holds_modules(child) and len(prefix) < 4:
                names += _walk(child, (*prefix, key))
    return list(dict.fromkeys(names))


def _top_names(wheel: Path) -> set[str]:
    """Every top-level name the wheel installs, private ones included."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            files = zf.namelist()
    except (OSError, zipfile.BadZipFile):
        return set()
    tops = set()
    for name in files:
        parts = name.split("/")
        if parts[0].endswith(".data") and len(parts) >= 3 and parts[1] in ("purelib", "platlib"):
            parts = parts[2:]
        if not parts[0].endswith((".dist-info", ".data")):
            # a module file (x.py, x.cpython-311-...so) by its name, a folder as it is
            tops.add((_module_of(parts[0]) or parts[0]) if len(parts) == 1 else parts[0])
    return tops


# Where a missing module or file is in the source tree: the hint then says so.

SKIPPED_DIRS = frozenset(
    {"build", "dist", "node_modules", "__pycache__", "site-packages", "venv", "env"}
)


def _module_paths(module: str) -> list[str]:
    rel = module.replace(".", "/")
    return [f"{rel}/__init__.py", f"{rel}.py", rel]


def _in_source(project: Path, candidates: Sequence[str], depth: int = 2) -> str:
    """The first of ``candidates`` (relative paths) found under the project folder or a
    folder up to ``depth`` levels below it (src/, python/, lib/...), as a relative path."""
    roots = [project]
    level = [project]
    for _ in range(depth):
        below = []
        for folder in level:
            try:
                entries = sorted(folder.iterdir())
            except OSError:
                continue
            below += [
                e
                for e in entries
                if e.is_dir()
                and not e.is_symlink()
                and not e.name.startswith(".")
                and e.name not in SKIPPED_DIRS
                and not e.name.endswith(".egg-info")
            ]
        level = below[:200]  # a bound: this is a hint, not a search
        roots += level
    for root in roots:
        for candidate in candidates:
            path = root / candidate
            if path.exists():
                return path.relative_to(project).as_posix()
    return ""


def _under(path: Path, site: Sequence[Path]) -> str | None:
    for folder in site:
        try:
            return path.relative_to(folder).as_posix()
        except ValueError:
            continue
    return None


def _distribution_for(module: str) -> str:
    for name in (module, module.split(".")[0]):
        if name in DISTRIBUTION_OF:
            return DISTRIBUTION_OF[name]
    return module.split(".")[0].replace("_", "-")


__all__ = [
    "TIMEOUT",
    "Check",
    "NotTried",
    "Prepared",
    "TrialReport",
    "WheelTrial",
    "declared_dependencies",
    "import_names",
    "parse_command",
    "prepare",
    "release_of",
    "trial",
    "trial_environment",
    "wheel_checks",
    "why_not",
]
