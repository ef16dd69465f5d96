"""Build the sdist, then the wheel from it, with `build`'s Python API, reproducibly where
the backend allows.

This is what ``python -m build --installer uv`` does, in this process: no second Python
start-up, and one isolated environment for both builds when the sdist's requirements
are the wheel's (build's command line makes two). The backend's hooks still run in
child processes, inside that environment, with the run's scrubbed environment; their
output streams into the log (see proc.ToolLog).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import tomllib
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from .errors import DistributionError
from .gha import Console
from .proc import Cancel, Cancelled, ToolLog

if TYPE_CHECKING:
    from build import ProjectBuilder

TITLE = "Build sdist and wheel"
Kind = Literal["sdist", "wheel"]
# A line that reads as an error: "ValueError: ...", "error: ...", "ERROR ...".
ERRORISH = re.compile(r"^\w+(?:\.\w+)*(?:Error|Exception|Exit)\b|^error\b", re.I)
REPRODUCE = (
    "The build log above shows why; reproduce it with 'python -m build' in the project folder."
)


def uv_binary() -> str | None:
    try:
        import uv

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def build(
    project_dir: Path,
    outdir: Path,
    *,
    source_date_epoch: str,
    env: Mapping[str, str],
    console: Console,
    cancel: Cancel | None = None,
    head: HeadStart | None = None,
) -> None:
    """Build the sdist, then the wheel from it, into ``outdir`` (a fresh folder); in
    ``head``'s environment when its requirements are the project's."""
    from build import BuildBackendException, BuildException

    child_env = dict(env)
    if source_date_epoch:
        # The released commit's time, whatever the environment says: the same tag then
        # builds the same bytes on any machine (https://reproducible-builds.org/specs/source-date-epoch/).
        child_env["SOURCE_DATE_EPOCH"] = source_date_epoch
    elif not child_env.get("SOURCE_DATE_EPOCH", "").isdigit():
        child_env.pop("SOURCE_DATE_EPOCH", None)  # a malformed value fails some backends
        console.warning(
            "No commit time for SOURCE_DATE_EPOCH: the files may not be byte-for-byte reproducible."
        )
    uv = uv_binary()
    if uv is None:
        raise DistributionError(
            "uv-missing",
            "uv, which installs the build's requirements, is not installed.",
            "Install this tool with its dependencies (pip install pypi-release-action).",
        )
    outdir = outdir.resolve()
    with (
        ToolLog(TITLE, console, cancel) as log,
        _backend_warnings(log, console),
        tempfile.TemporaryDirectory(prefix="release-build-") as scratch,
        contextlib.ExitStack() as stack,
    ):
        builder = _Builder(log, uv, child_env, Path(scratch))
        stage = "sdist"
        try:
            head = builder.adoptable(head, project_dir)
            with head.take(log) if head else builder.environment() as isolated:
                sdist_builder = builder.prepare(isolated, project_dir, "sdist")
                sdist = Path(sdist_builder.build("sdist", outdir))
                log.note(f"Built {sdist.name}")
                stage = "wheel (from the sdist)"
                source = _unpack(sdist, stack.enter_context(stable_folder(sdist, log)))
                wheel_builder = builder.project(isolated, source)
                if (
                    wheel_builder.build_system_requires == sdist_builder.build_system_requires
                    and not builder.extra
                ):
                    # The environment holds exactly build-system.requires: what a fresh
                    # one for the wheel would start with.
                    log.note("Building the wheel from the sdist, in the same environment")
                    builder.install(isolated, wheel_builder.get_requires_for_build("wheel"))
                    wheel = wheel_builder.build("wheel", outdir)
                else:
                    wheel = builder.separately(source, outdir)
                log.note(f"Built {Path(wheel).name}")
        except (BuildBackendException, BuildException, _InstallFailed) as exc:
            if log.cancel.cancelled:
                # build wraps whatever a hook's runner raised, Cancelled included.
                raise Cancelled from None
            raise _failed(stage, exc, builder.failure) from None


_WARNED: dict[int, tuple[ToolLog, Console, set[str]]] = {}  # thread -> its build's log


@contextlib.contextmanager
def _backend_warnings(log: ToolLog, console: Console) -> Iterator[None]:
    """The backend's warnings, once each: pyproject_hooks re-raises every warning of
    every hook in this process (``BuildBackendWarning``), so setuptools' deprecation
    notices came out once per hook, unasked, on standard error. Each distinct one goes
    into the build's log in full and is said once in a line."""
    import warnings

    from pyproject_hooks import BuildBackendWarning

    original = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], *args: object, **kw: object) -> None:
        found = _WARNED.get(threading.get_ident())
        if found is None or not issubclass(category, BuildBackendWarning):
            original(message, category, *args, **kw)  # type: ignore[arg-type]
            return
        wlog, wconsole, seen = found
        text = str(message).strip()
        if text in seen:
            return
        seen.add(text)
        wlog.note(f"The build backend warns: {text}")
        first = next((line.strip() for line in text.splitlines() if line.strip()), text)
        wconsole.warning(f"The build backend warns: {first}", title="Build backend warning")

    _WARNED[threading.get_ident()] = (log, console, set())
    warnings.showwarning = show
    try:
        yield
    finally:
        del _WARNED[threading.get_ident()]
        if not _WARNED:
            warnings.showwarning = original


class _InstallFailed(Exception):
    def __init__(self, code: int, what: str = "installing its requirements") -> None:
        super().__init__(code)
        self.code = code
        self.what = what


class _Environment:
    """An isolated build environment (build's IsolatedEnv protocol): a fresh virtual
    environment of this interpreter, made by ``uv venv``.

    build's own DefaultIsolatedEnv makes it with the venv module, in this process:
    ~40 ms of Python that competes for the GIL with the index read running beside the
    build. uv makes it in ~10 ms, in a child process the build can be called off in.
    """

    def __init__(self, builder: _Builder, *, owner_waits: bool = False) -> None:
        self.builder = builder
        self.path = ""
        self.installed: set[str] | None = None  # the requirements it was made with
        # Removed in the background on exit, its owner waiting for that later (a head
        # start's, at the end of the run); else removed before the build returns.
        self.owner_waits = owner_waits
        self._removal: threading.Thread | None = None

    def __enter__(self) -> _Environment:
        if not self.path:  # a head start's is made already
            self.make()
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove(wait=not self.owner_waits)

    def make(self) -> None:
        self.path = tempfile.mkdtemp(prefix="release-build-env-")
        try:
            self.builder.uv_run(
                "making the build environment",
                ["venv", "--quiet", "--no-project", "--python", sys.executable, self.path],
            )
        except BaseException:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = ""
            raise

    def remove(self, *, wait: bool = True) -> None:
        """Remove it, once; not waiting, in a thread: an environment is hundreds of
        files (~12 ms that would stand between the last hook and the upload). The
        thread is not a daemon: the interpreter waits for it before exiting."""
        if self._removal is None and self.path:
            self._removal = threading.Thread(
                target=shutil.rmtree, args=(self.path, True), name="remove-build-env"
            )
            self._removal.start()
        if wait and self._removal is not None:
            self._removal.join()

    @property
    def scripts_dir(self) -> str:
        return os.path.join(self.path, "Scripts" if os.name == "nt" else "bin")

    @property
    def python_executable(self) -> str:
        return os.path.join(self.scripts_dir, "python.exe" if os.name == "nt" else "python")

    def make_extra_environ(self) -> dict[str, str]:
        """What build's own environment adds for the hooks: its scripts first on PATH,
        and no PYTHONPATH from outside."""
        path = self.builder.env.get("PATH")
        return {
            "PATH": os.pathsep.join([self.scripts_dir, path]) if path else self.scripts_dir,
            "PYTHONPATH": "",
        }


class _Builder:
    """Makes ProjectBuilders whose hooks and installs run through the log."""

    def __init__(
        self, log: ToolLog, uv: str, env: Mapping[str, str], scratch: Path | None = None
    ) -> None:
        self.log = log
        self.uv = uv
        self.env = env
        self.scratch = scratch  # a private folder for the hook script's bytecode
        self._compiled: dict[str, str] = {}
        self.extra: set[str] = set()  # what the sdist's hook asked for beyond build-system
        self.failure = ""  # how the last hook failed, in words

    def runner(
        self,
        cmd: Sequence[str],
        cwd: str | None = None,
        extra_environ: Mapping[str, str] | None = None,
    ) -> None:
        """pyproject_hooks' runner: one hook call, in a child process."""
        start = len(self.log.lines)
        cmd = [*cmd[:1], *map(self.compiled, cmd[1:2]), *cmd[2:]]
        code = self.log.run(cmd, cwd=cwd or ".", env={**self.env, **(extra_environ or {})})
        if code != 0:
            from .gha import printable

            # [python, _in_process.py, hook, control dir]. The error's line is the last
            # that reads as one: a backend may print more after it (hatchling, an
            # example configuration).
            said = [line.strip() for line in self.log.lines[start:] if line.strip()]
            hook = cmd[2] if len(cmd) > 2 else "a hook"
            self.failure = f"the build backend exited {code} in {hook}"
            line = next((x for x in reversed(said) if ERRORISH.search(x)), said[-1] if said else "")
            self.failure += f": {printable(line, 300)}" if line else ""
            raise subprocess.CalledProcessError(code, list(cmd))

    def compiled(self, script: str) -> str:
        """pyproject_hooks' hook script (``_in_process.py``), compiled once: Python
        compiles a script it runs afresh at every start (it caches only what it imports),
        ~6 ms of each of the four hooks. The environment's interpreter is this one, so
        this one's bytecode runs there; the script itself when it cannot be compiled."""
        if self.scratch is None or not script.endswith(".py"):
            return script
        if script not in self._compiled:
            import py_compile

            folder = self.scratch / f"hook-{len(self._compiled)}"  # sys.path[0] of the hook
            target = folder / (Path(script).stem + ".pyc")
            try:
                py_compile.compile(script, cfile=str(target), doraise=True)
                self._compiled[script] = str(target)
            except (OSError, py_compile.PyCompileError):
                self._compiled[script] = script
        return self._compiled[script]

    def environment(self) -> _Environment:
        return _Environment(self)

    def adoptable(self, head: HeadStart | None, project_dir: Path) -> HeadStart | None:
        """``head`` when it installed what build reads as the project's
        build-system.requires; otherwise it is called off, and None."""
        if head is None:
            return None
        from build import ProjectBuilder

        if head.requires == ProjectBuilder(project_dir).build_system_requires:
            return head
        head.discard()
        return None

    def uv_run(self, what: str, args: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        """Run uv with the run's scrubbed environment (build's own calls would hand uv
        the whole process environment, ``INPUT_*`` secrets included)."""
        code = self.log.run([self.uv, *args], cwd=os.getcwd(), env=env or self.env)
        if code != 0:
            raise _InstallFailed(code, what)

    def project(self, isolated: _Environment, source: Path) -> ProjectBuilder:
        from build import ProjectBuilder

        return ProjectBuilder.from_isolated_env(isolated, source, runner=self.runner)

    def install(self, isolated: _Environment, requirements: Collection[str]) -> None:
        """uv pip install into the isolated environment."""
        if not requirements:
            return
        self.log.note("Installing " + ", ".join(sorted(requirements)))
        env = {k: v for k, v in self.env.items() if k != "PYTHONPATH"}
        env["VIRTUAL_ENV"] = isolated.path
        self.uv_run(
            "installing its requirements",
            ["pip", "install", "--python", isolated.python_executable, *sorted(requirements)],
            env,
        )

    def prepare(
        self, isolated: _Environment, source: Path, kind: Literal["sdist", "wheel"]
    ) -> ProjectBuilder:
        """A ProjectBuilder for ``source`` with its requirements for ``kind`` installed."""
        builder = self.project(isolated, source)
        if isolated.installed != builder.build_system_requires:
            self.install(isolated, builder.build_system_requires)
        self.extra = set(builder.get_requires_for_build(kind))
        self.install(isolated, self.extra)
        return builder

    def separately(self, source: Path, outdir: Path) -> str:
        """The wheel in an environment of its own: its requirements differ from the sdist's."""
        self.log.note("Building the wheel from the sdist, in a fresh environment")
        with self.environment() as isolated:
            builder = self.prepare(isolated, source, "wheel")
            return str(builder.build("wheel", outdir))


class HeadStart:
    """The build environment, made while the run starts up.

    A fresh environment with build-system.requires installed is most of what stands
    before the backend's first hook (~0.25 s for a small project: uv resolves against
    the index, then links from its cache). Made by build(), it would wait for the
    pipeline's imports, the checkout's checks and the build's own start; begun here, in
    a thread of its own as soon as the settings are read, it is ready, or nearly, when
    the build asks for it. Installing the backend runs none of the project's code, so
    nothing of the project runs before its checkout is checked.

    Its output is kept, and shown in the build's log when the build takes it; a build
    whose project declares other requirements (build reads them itself) calls it off.
    """

    def __init__(
        self, requires: set[str], uv: str, env: Mapping[str, str], console: Console
    ) -> None:
        self.requires = requires
        self.cancel = Cancel()
        self.log = ToolLog(TITLE, console, self.cancel)
        self.log.live = False  # kept; replayed into the build's log
        builder = _Builder(self.log, uv, env)
        self._environment = _Environment(builder, owner_waits=True)  # see close()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._make, name="build-env", daemon=True)
        self._thread.start()

    def _make(self) -> None:
        environment = self._environment
        try:
            environment.make()
            environment.builder.install(environment, self.requires)
            environment.installed = self.requires
        except BaseException as exc:  # raised where the build takes the environment
            self._error = exc

    def take(self, log: ToolLog) -> _Environment:
        """Wait for the environment (the build being called off calls it off too), and
        show in ``log`` how it was made."""
        log.cancel.link(self.cancel)
        self._thread.join()
        log.note("Build environment made while the run started:")
        log.replay(self.log.lines)
        if self._error is not None:
            raise self._error
        return self._environment

    def discard(self) -> None:
        """Not wanted: stop making it."""
        self.cancel.cancel()

    def close(self) -> None:
        """Stop it if it still runs, and remove it (once the build is done with it)."""
        self.cancel.cancel()
        self._thread.join()
        self._environment.remove()


def head_start(project_dir: Path, env: Mapping[str, str], console: Console) -> HeadStart | None:
    """Begin making the build environment, when pyproject.toml declares its
    build-system.requires (other projects get theirs from the build as before)."""
    try:
        with (project_dir / "pyproject.toml").open("rb") as fh:
            table = tomllib.load(fh).get("build-system")
    except (OSError, ValueError):  # the build, or the checks before it, say what is wrong
        return None
    requires = table.get("requires") if isinstance(table, dict) else None
    uv = uv_binary()
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires) or not uv:
        return None
    return HeadStart(set(requires), uv, env, console)


# The sdist is unpacked, and the wheel built, under this folder of the system's temporary
# folder, at a path named for the project and version: compilers embed the source path
# in what they make (debug information, __FILE__), so a re-run on the same image builds
# the same bytes instead of files that differ only by a random folder's name.
STABLE_ROOT = "pypi-release"


@contextlib.contextmanager
def stable_folder(sdist: Path, log: ToolLog) -> Iterator[Path]:
    """An empty folder at the same path on every run for this sdist (one run at a
    time holds it; another run at the same time gets a random one), removed after."""
    import fcntl

    stem = sdist.name.removesuffix(".tar.gz")
    base = Path(tempfile.gettempdir()) / f"{STABLE_ROOT}-{os.getuid()}"
    try:
        base.mkdir(mode=0o700, exist_ok=True)
        st = base.lstat()
        # Ours alone: a folder another user made (or a link) is never built in.
        private = stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077
        lock = open(base / f"{stem}.lock", "w") if private else None  # noqa: SIM115
    except OSError:
        private, lock = False, None
    if lock is not None:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            lock = None
    if lock is None:
        log.note(
            f"The wheel is built in a random folder ({base / stem} is "
            + ("in use by another build" if private else "not private to this user")
            + "): compiled files may embed its path and differ from another run's."
        )
        with tempfile.TemporaryDirectory(prefix="release-build-sdist-") as tmp:
            yield Path(tmp)
        return
    folder = base / stem
    try:
        shutil.rmtree(folder, ignore_errors=True)  # what a killed run left behind
        folder.mkdir()
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        lock.close()


def _unpack(sdist: Path, into: Path) -> Path:
    """The sdist's single top-level folder, unpacked with tarfile's safe 'data' filter."""
    import tarfile  # imported by then (dists), but not before the head start

    try:
        with tarfile.open(sdist) as tf:
            tops = {member.name.split("/", 1)[0] for member in tf.getmembers()}
            if len(tops) != 1:
                raise DistributionError(
                    "sdist-layout-invalid",
                    f"The built sdist {sdist.name} does not hold one top-level folder "
                    f"(it holds {', '.join(sorted(tops)) or 'nothing'}).",
                    "The build backend made a malformed sdist; check its configuration.",
                )
            tf.extractall(into, filter="data")
    except (OSError, tarfile.TarError) as exc:
        raise DistributionError(
            "build-failed",
            f"The built sdist {sdist.name} cannot be unpacked to build the wheel: {exc}.",
            REPRODUCE,
        ) from None
    return into / tops.pop()


def _failed(stage: str, exc: Exception, failure: str) -> DistributionError:
    from build import BuildBackendException

    from .gha import printable

    if isinstance(exc, _InstallFailed):
        said = f"{exc.what} failed (uv exited {exc.code})"
    elif isinstance(exc, BuildBackendException):
        cause = exc.exception
        if isinstance(cause, subprocess.CalledProcessError) and failure:
            said = failure
        else:
            said = printable(str(exc) or type(cause).__name__, 300)
    else:  # build's own checks: pyproject.toml's [build-system], the source folder
        said = printable(str(exc), 300)
    return DistributionError(
        "build-failed",
        f"Building the {stage} failed: {said.rstrip('.')}.",
        REPRODUCE,
    )


def copy_out(built: list[Path], packages_dir: Path) -> None:
    """Leave the built files in packages-dir too (for later steps such as
    upload-artifact), replacing same-named files; other files there are left alone."""
    packages_dir.mkdir(parents=True, exist_ok=True)
    for path in built:
        target = packages_dir / path.name
        if target.is_symlink() or target.exists():
            target.unlink()
        shutil.copy2(path, target)
