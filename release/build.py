"""Build the sdist, then the wheel from it, with `build`'s Python API, reproducibly where
the backend allows.

This is what ``python -m build --installer uv`` does, in this process: no second Python
start-up, and one isolated environment for both builds when the sdist's requirements
are the wheel's (build's command line makes two). The backend's hooks still run in
child processes, inside that environment, with the run's scrubbed environment; their
output streams into the log (see proc.ToolLog).

The build is untrusted code (the backend, its requirements, a setup.py), so it runs in a
``Sandbox``. Run as root (always in the container), every install and hook runs as an
unprivileged user of its own, which cannot read this process's /proc/<pid>/environ or
memory, nor write the run's private folders or the runner's files; the project is
copied for it. Run as a normal user, the build runs as that user (nothing to drop to),
and what protects the run is that its secrets are not in its environment block
(__main__). Either way the build gets none of the runner's file commands or ACTIONS_*
variables, whatever it left running is killed when it ends (and between the sdist and
the wheel), and its files are delivered into ``outdir`` by this process, copied out of
its reach once nothing of it runs any more.
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
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

from . import launchers
from .errors import DistributionError
from .gha import Console
from .proc import Cancel, Cancelled, Identity, Leftovers, ToolLog

if TYPE_CHECKING:
    from build import ProjectBuilder

TITLE = "Build sdist and wheel"
Kind = Literal["sdist", "wheel"]
# A line that reads as an error: "ValueError: ...", "error: ...", "ERROR ...".
ERRORISH = re.compile(r"^\w+(?:\.\w+)*(?:Error|Exception|Exit)\b|^error\b", re.I)
REPRODUCE = (
    "The build log above shows why; reproduce it with 'python -m build' in the project folder."
)
# The image's user for the build (Dockerfile). Elsewhere (a root shell, the tests) one of
# SPARE_UIDS is used: uids no account has, each held by one build at a time (a lock
# file), since whatever runs under the build's uid is killed when that build ends.
BUILD_USER = "release-build"
SPARE_UIDS = range(2_000_000_000, 2_000_000_000 + 64)
# Where the action's user keeps its own files: not the build user's.
USER_FOLDERS = (
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
    "XDG_RUNTIME_DIR",
    "TMPDIR",
    "TEMP",
    "TMP",
)
LEFT_RUNNING = "The build left {n} process(es) running: killed."
HOOK_ANSWER = 16 << 20  # bytes of a hook's output.json, at most


def for_the_build(env: Mapping[str, str]) -> dict[str, str]:
    """The environment the build gets: the run's scrubbed one (settings.child_env, which
    has none of these already) less the runner's file commands and ACTIONS_* variables,
    again, for a caller that hands the build another environment."""
    from .settings import FILE_COMMANDS, RUNNER_PREFIXES

    return {
        k: v for k, v in env.items() if k not in FILE_COMMANDS and not k.startswith(RUNNER_PREFIXES)
    }


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
    hooks_running: threading.Event | None = None,
) -> None:
    """Build the sdist, then the wheel from it, into ``outdir`` (a fresh folder); in
    ``head``'s environment when its requirements are the project's. ``hooks_running``
    is set as the first hook starts."""
    from build import BuildBackendException, BuildException

    child_env = for_the_build(env)
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
    killed = 0
    with (
        ToolLog(TITLE, console, cancel) as log,
        _backend_warnings(log, console),
        contextlib.ExitStack() as stack,
    ):
        # The head start's sandbox when there is one (its environment is in it), else
        # one of the build's own, removed when the build ends.
        sandbox = head.sandbox if head is not None else stack.enter_context(Sandbox.make())
        log.identity = sandbox.identity
        builder = _Builder(log, uv, sandbox.environ(child_env), sandbox=sandbox)
        builder.hooks_running = hooks_running
        stage = "sdist"
        try:
            try:
                head = builder.adoptable(head, project_dir)
                source_dir = sandbox.project(project_dir)
                with head.take(log) if head else builder.environment() as isolated:
                    sdist_builder = builder.prepare(isolated, source_dir, "sdist")
                    built = Path(sdist_builder.build("sdist", sandbox.out))
                    log.note(f"Built {built.name}")
                    # Nothing of the sdist's build runs on (a process left behind could
                    # change the sdist while it is unpacked, or the folder it goes in).
                    killed += sandbox.sweep()
                    sdist = deliver(built, sandbox.out, outdir)
                    stage = "wheel (from the sdist)"
                    folder = stack.enter_context(stable_folder(sdist, log, sandbox))
                    source = _unpack(sdist, folder)
                    sandbox.give(folder)
                    wheel_builder = builder.project(isolated, source)
                    if (
                        wheel_builder.build_system_requires == sdist_builder.build_system_requires
                        and not builder.extra
                    ):
                        # The environment holds exactly build-system.requires: what a
                        # fresh one for the wheel would start with.
                        log.note("Building the wheel from the sdist, in the same environment")
                        builder.install(isolated, wheel_builder.get_requires_for_build("wheel"))
                        wheel = wheel_builder.build("wheel", sandbox.out)
                    else:
                        wheel = builder.separately(source, sandbox.out)
                    log.note(f"Built {Path(wheel).name}")
                    if sandbox.why:
                        log.note(sandbox.why)
            finally:
                # Whatever the end (built, failed, called off): nothing of it runs on.
                killed += sandbox.sweep()
                if killed:
                    log.note(LEFT_RUNNING.format(n=killed))
                    console.warning(LEFT_RUNNING.format(n=killed), title="Build processes killed")
            deliver(Path(wheel), sandbox.out, outdir)
        except (BuildBackendException, BuildException, _InstallFailed) as exc:
            if log.cancel.cancelled:
                # build wraps whatever a hook's runner raised, Cancelled included.
                raise Cancelled from None
            raise _failed(stage, exc, builder.failure) from None


def deliver(built: Path, folder: Path, outdir: Path) -> Path:
    """A built file copied from the build's folder into ``outdir`` (this process's own,
    out of the build's reach), once nothing of the build runs: what is checked, hashed
    and uploaded is this copy. Only a regular file directly in ``folder`` is taken,
    never through a link."""
    name = built.name
    if built.parent.resolve() != folder.resolve() or name in ("", ".", ".."):
        raise DistributionError(
            "build-output-misplaced",
            f"The build backend returned {printable_path(built)}, which is not a file in "
            "the folder it was asked to build into.",
            REPRODUCE,
        )
    target = outdir / name
    try:
        fd = os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise DistributionError(
            "build-output-unreadable",
            f"The built file {name} cannot be read ({exc.strerror}).",
            REPRODUCE,
        ) from None
    with open(fd, "rb") as src:
        st = os.fstat(src.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise DistributionError(
                "build-output-not-file", f"The built {name} is not a regular file.", REPRODUCE
            )
        outdir.mkdir(parents=True, exist_ok=True)
        with open(target, "xb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    return target


def printable_path(path: Path) -> str:
    from .gha import printable

    return printable(str(path), 300)


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


# What each hook does, in the words of the line said when a hook is silent for a while
# ("Building the wheel (setuptools): 1 min 30 s so far").
HOOKS = {
    "build_sdist": "Building the sdist ({})",
    "build_wheel": "Building the wheel ({})",
    "get_requires_for_build_sdist": "Asking the build backend ({}) what the sdist needs",
    "get_requires_for_build_wheel": "Asking the build backend ({}) what the wheel needs",
    "prepare_metadata_for_build_wheel": "Preparing the wheel's metadata ({})",
}


def _backend_of(source: str | None) -> str:
    """The build backend's name as a person knows it: build-backend's first part
    (setuptools, hatchling, flit_core, mesonpy, ...)."""
    try:
        with open(os.path.join(source or ".", "pyproject.toml"), "rb") as fh:
            table = tomllib.load(fh).get("build-system", {})
        backend = table.get("build-backend") if isinstance(table, dict) else None
    except (OSError, ValueError):
        backend = None
    return backend.split(".")[0].split(":")[0] if isinstance(backend, str) else "setuptools"


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
        self.base = ""  # the interpreter it was made from
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

    def make(self, requirements: Collection[str] = ()) -> None:
        """Make it, with ``requirements`` installed. They are installed into its folder
        by the interpreter it is made from (launchers), which needs nothing of the
        environment itself: ``uv venv`` runs beside that install, not before it."""
        sandbox = self.builder.sandbox
        python = sys.executable
        if sandbox is not None and sandbox.identity is not None:
            # The interpreter itself: the folder of a venv this process runs in (the
            # image's /opt/release, or a private one) need not be open to the build's user.
            python = os.path.realpath(python)
        self.path = (
            str(sandbox.new_folder("env"))
            if sandbox
            else tempfile.mkdtemp(prefix="release-build-env-")
        )
        self.base = python
        venv = ["venv", "--quiet", "--no-project", "--allow-existing", "--python", python]
        try:
            if not requirements or not launchers.by_base(python, self.python_executable):
                self.builder.uv_run("making the build environment", [*venv, self.path])
                self.builder.install(self, requirements)
                return
            # The install, the longer of the two, first; leaving the block waits for it.
            with ThreadPoolExecutor(1, thread_name_prefix="build-install") as pool:
                installing = pool.submit(self.builder.install, self, requirements)
                self.builder.uv_run("making the build environment", [*venv, self.path])
                installing.result()
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
        self,
        log: ToolLog,
        uv: str,
        env: Mapping[str, str],
        scratch: Path | None = None,
        *,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.log = log
        self.uv = uv
        self.env = env
        self.sandbox = sandbox
        # A folder for the hook script's bytecode: the build may read it, not write it.
        self.scratch = scratch if sandbox is None else sandbox.hooks
        self._compiled: dict[str, str] = {}
        self.extra: set[str] = set()  # what the sdist's hook asked for beyond build-system
        self.failure = ""  # how the last hook failed, in words
        self.hooks_running: threading.Event | None = None  # set as a hook starts

    def runner(
        self,
        cmd: Sequence[str],
        cwd: str | None = None,
        extra_environ: Mapping[str, str] | None = None,
    ) -> None:
        """pyproject_hooks' runner: one hook call, in a child process."""
        start = len(self.log.lines)
        cmd = [*cmd[:1], *map(self.compiled, cmd[1:2]), *cmd[2:]]
        env = {**self.env, **(extra_environ or {})}
        doing = HOOKS.get(cmd[2] if len(cmd) > 2 else "", "").format(_backend_of(cwd))
        if self.hooks_running is not None:
            self.hooks_running.set()
        if self.sandbox is not None and self.sandbox.identity is not None and len(cmd) > 3:
            code = self._run_as_the_build(cmd, cwd or ".", env, doing)
        else:
            code = self.log.run(cmd, cwd=cwd or ".", env=env, doing=doing)
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

    def _run_as_the_build(
        self, cmd: Sequence[str], cwd: str, env: Mapping[str, str], doing: str = ""
    ) -> int:
        """One hook as the build's user. pyproject_hooks' control folder (the hook's
        input.json, its output.json) is this process's and closed to that user: the hook
        gets a folder of its own with the input, and its answer is copied back (a
        regular file, never through a link, of bounded size) once the hook has ended."""
        assert self.sandbox is not None
        control = Path(cmd[3])
        own = self.sandbox.new_folder("hook")
        shutil.copyfile(control / "input.json", own / "input.json")
        self.sandbox.give(own)
        code = self.log.run([*cmd[:3], str(own), *cmd[4:]], cwd=cwd, env=env, doing=doing)
        with contextlib.suppress(OSError):
            fd = os.open(own / "output.json", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with open(fd, "rb") as fh:
                if stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                    answer = fh.read(HOOK_ANSWER + 1)
                    if len(answer) <= HOOK_ANSWER:
                        (control / "output.json").write_bytes(answer)
        shutil.rmtree(own, ignore_errors=True)
        return code

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
                folder.mkdir(parents=True, exist_ok=True)
                py_compile.compile(script, cfile=str(target), doraise=True)
                if self.sandbox is not None and self.sandbox.identity is not None:
                    folder.chmod(0o755)  # readable by the build's user, whatever the umask
                    target.chmod(0o644)
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
        cwd = self.sandbox.home if self.sandbox is not None else Path.cwd()
        code = self.log.run([self.uv, *args], cwd=cwd, env=env or self.env)
        if code != 0:
            raise _InstallFailed(code, what)

    def project(self, isolated: _Environment, source: Path) -> ProjectBuilder:
        from build import ProjectBuilder

        return ProjectBuilder.from_isolated_env(isolated, source, runner=self.runner)

    def install(self, isolated: _Environment, requirements: Collection[str]) -> None:
        """uv pip install into the isolated environment, by the interpreter it was made
        from (launchers: uv asks no question about a fresh interpreter)."""
        if not requirements:
            return
        self.log.note("Installing " + ", ".join(sorted(requirements)))
        env = {k: v for k, v in self.env.items() if k != "PYTHONPATH"}
        env["VIRTUAL_ENV"] = isolated.path
        python = isolated.python_executable
        target = launchers.uv_target(isolated.base, isolated.path, python)
        self.uv_run(
            "installing its requirements", ["pip", "install", *target, *sorted(requirements)], env
        )
        sandbox = self.sandbox
        owner = sandbox.identity.uid if sandbox and sandbox.identity else os.geteuid()
        launchers.settle(Path(isolated.scripts_dir), isolated.base, python, owner)

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
        # The build's sandbox, made now: the environment is made in it, as its user.
        self.sandbox = Sandbox.make()
        self.log.identity = self.sandbox.identity
        builder = _Builder(
            self.log, uv, self.sandbox.environ(for_the_build(env)), sandbox=self.sandbox
        )
        self._environment = _Environment(builder, owner_waits=True)  # see close()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._make, name="build-env", daemon=True)
        self._thread.start()

    def _make(self) -> None:
        environment = self._environment
        try:
            environment.make(self.requires)
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
        self.sandbox.close()


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
def stable_folder(sdist: Path, log: ToolLog, sandbox: Sandbox | None = None) -> Iterator[Path]:
    """An empty folder at the same path on every run for this sdist (one run at a
    time holds it; another run at the same time gets a random one), removed after."""
    import fcntl

    stem = sdist.name.removesuffix(".tar.gz")
    shared = sandbox is not None and sandbox.identity is not None
    found = private_base(shared)
    base = found or _base_path(shared)
    private = found is not None
    try:
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
        if sandbox is not None and sandbox.identity is not None:
            yield sandbox.new_folder("sdist")  # the build user's; removed with the sandbox
            return
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


def _base_path(shared: bool) -> Path:
    return _reachable_temp(shared) / f"{STABLE_ROOT}-{os.getuid()}"


def private_base(shared: bool) -> Path | None:
    """This user's folder for stable build paths, locks and the build user's cache:
    made if need be, and only if it is this user's alone (a folder another user made, or
    a link, is never used). ``shared``: the build's user may pass through it (0711), to
    its own folders in it, but not list it."""
    base = _base_path(shared)
    # Root's is passable (never listable) whether this build drops to another user or
    # not: another build on the machine may, at the same time (its cache is in it).
    mode = 0o711 if shared or os.geteuid() == 0 else 0o700
    try:
        base.mkdir(mode=mode, exist_ok=True)
        st = base.lstat()
        if not (stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()):
            return None
        if stat.S_IMODE(st.st_mode) != mode:
            os.chmod(base, mode, follow_symlinks=False)
        return base
    except OSError:
        return None


def _reachable_temp(shared: bool) -> Path:
    """The system's temporary folder; for a sandbox of another user, one that user can
    reach (a TMPDIR inside a private folder cannot be)."""
    temp = Path(tempfile.gettempdir())
    if shared and not _open_to_others(temp, 0o001):
        return Path("/tmp")  # noqa: S108 - only folders of our own (mkdtemp) go in it
    return temp


def _open_to_others(path: Path, bits: int) -> bool:
    """Whether any user may reach ``path`` (every folder on its way passable by others)
    and use it as ``bits`` (of the permission bits for others) says."""
    try:
        path = Path(os.path.realpath(path))
        for folder in reversed(path.parents):
            if not os.stat(folder).st_mode & 0o001:
                return False
        return bool(os.stat(path).st_mode & bits == bits)
    except OSError:
        return False


class Sandbox:
    """Where, and as whom, one build runs.

    A private folder (``root``) holds every folder the build writes: its home (HOME,
    TMPDIR), its environments, ``out`` (where the hooks put the files), and, when it runs
    as a user of its own, a copy of the project. Run as root, the build's user owns those
    folders, and ``root`` (root's, 0711) lets it pass to them without listing anything;
    the run's own folders (the pipeline's workdir, where the files are delivered) are
    elsewhere and closed to it.
    """

    def __init__(self, identity: Identity | None, root: Path, lock: IO[str] | None) -> None:
        self.identity = identity
        self.root = root
        self._lock = lock
        self.why = ""  # why the build runs as this process's user although it is root
        self._count = 0
        self.leftovers = Leftovers(identity.uid if identity else None)
        self.home = self.folder("home")
        self.tmp = self.folder("tmp")
        self.out = self.folder("out")
        self.hooks = root / "hooks"  # this process's: compiled hook scripts
        self.hooks.mkdir(mode=0o755)
        if identity is not None:
            self.hooks.chmod(0o755)
        self.cache = self._cache()
        self.sweep()  # a build that ran under this uid before and was itself killed

    @classmethod
    def make(cls) -> Sandbox:
        identity, lock, why = (None, None, "")
        if os.name == "posix" and os.geteuid() == 0:
            identity, lock, why = _build_identity()
        shared = identity is not None
        root = Path(tempfile.mkdtemp(prefix="release-build-", dir=_reachable_temp(shared)))
        if shared:
            root.chmod(0o711)
        try:
            made = cls(identity, root, lock)
            # Said in the build's log when it ends. Never so in the image (its Python is
            # /usr/local's, open to all).
            made.why = why
            return made
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            if lock is not None:
                lock.close()
            raise

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Kill what is left, remove the folders, free the uid."""
        self.sweep()
        shutil.rmtree(self.root, ignore_errors=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def sweep(self) -> int:
        """Kill whatever the build left running; how many."""
        return self.leftovers.sweep()

    def folder(self, name: str) -> Path:
        """A new folder of the build's in ``root``."""
        path = self.root / name
        path.mkdir(mode=0o700)
        self.give(path)
        return path

    def new_folder(self, kind: str) -> Path:
        self._count += 1
        return self.folder(f"{kind}-{self._count}")

    def give(self, path: Path) -> None:
        """Make ``path`` and all in it the build's (made by this process for it)."""
        if self.identity is None:
            return
        uid, gid = self.identity.uid, self.identity.gid
        os.chown(path, uid, gid, follow_symlinks=False)
        for top, dirs, files in os.walk(path):
            for name in (*dirs, *files):
                os.chown(os.path.join(top, name), uid, gid, follow_symlinks=False)

    def _cache(self) -> Path | None:
        """uv's cache for the build's user: the run's cache (UV_CACHE_DIR, HOME's) is
        the action's and not writable by it. A persistent one of its own, beside the
        stable build paths, so that later builds on this machine find the backends
        downloaded (in the container, each run starts empty anyway); else one in its
        home, for this build."""
        if self.identity is None:
            return None
        base = private_base(True)
        if base is None:
            return self.home / ".cache" / "uv"
        cache = base / f"uv-cache-{self.identity.uid}"
        try:
            cache.mkdir(mode=0o700, exist_ok=True)
            st = cache.lstat()
            if not stat.S_ISDIR(st.st_mode):
                raise OSError
            if st.st_uid != self.identity.uid:
                self.give(cache)
        except OSError:
            return self.home / ".cache" / "uv"
        return cache

    def environ(self, env: Mapping[str, str]) -> dict[str, str]:
        """The environment of the build's children."""
        if self.identity is None:
            return dict(env)
        out = {k: v for k, v in env.items() if k not in USER_FOLDERS}
        out["HOME"] = str(self.home)
        out["TMPDIR"] = str(self.tmp)
        assert self.cache is not None
        out["UV_CACHE_DIR"] = str(self.cache)
        return out

    def project(self, project_dir: Path) -> Path:
        """The folder the sdist is built from: the project itself when the build runs as
        this user; else a copy of it that the build's user owns.

        The checkout is not the build's to write (on a runner it is the runner user's,
        who also owns the file commands and HOME, so building as the checkout's owner
        would hand those over; and files the build changed there would be read by this
        process afterwards), yet backends write into it (setuptools: *.egg-info,
        build/). So the repository is copied as it is (untracked, ignored and changed
        files too: the sdist holds what it would have held), with a .git of its own for
        setuptools-scm / hatch-vcs: the same objects, refs, index and shallow list, but
        not the checkout's config (which may hold the checkout's credentials) and no
        hooks."""
        if self.identity is None:
            return project_dir
        project_dir = project_dir.resolve()
        top = next((p for p in (project_dir, *project_dir.parents) if (p / ".git").exists()), None)
        top = top or project_dir
        dest = self.new_folder("src") / (top.name or "project")
        shutil.copytree(top, dest, symlinks=True, ignore=_not_git(top))
        git = top / ".git"
        if git.is_dir() and not git.is_symlink():
            shutil.copytree(git, dest / ".git", symlinks=True, ignore=_git_skipped(git))
            (dest / ".git" / "config").write_text(_git_config(git / "config"), encoding="utf-8")
            _detach(top, dest / ".git")
        elif git.exists() or git.is_symlink():  # a worktree's or submodule's pointer
            shutil.copy2(git, dest / ".git", follow_symlinks=False)
        self.give(dest.parent)
        return dest / project_dir.relative_to(top)


def _detach(top: Path, git: Path) -> None:
    """The copy's HEAD at the commit, not at a branch: what actions/checkout of a tag
    gives. setuptools-scm writes the branch into the sdist (egg-info/scm_version.json),
    so a release from a branch and its re-run from a tag's checkout would otherwise make
    sdists that differ."""
    from .gitrepo import GIT, GIT_ENV

    try:
        got = subprocess.run(
            [*GIT, "-c", "safe.directory=*", "rev-parse", "--verify", "--quiet", "HEAD^{commit}"],
            cwd=top,
            env={**os.environ, **GIT_ENV},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return
    commit = got.stdout.strip()
    if got.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", commit):
        (git / "HEAD").write_text(commit + "\n", encoding="ascii")


def _not_git(top: Path) -> Callable[[str, list[str]], list[str]]:
    def ignore(folder: str, names: list[str]) -> list[str]:
        return [".git"] if Path(folder) == top and ".git" in names else []

    return ignore


def _git_skipped(git: Path) -> Callable[[str, list[str]], list[str]]:
    # hooks: never run by the build's git commands; lfs: large objects no backend
    # reads; config: written anew below; locks: another git's.
    def ignore(folder: str, names: list[str]) -> list[str]:
        skipped = [n for n in names if n.endswith(".lock")]
        if Path(folder) == git:
            skipped += [n for n in names if n in ("hooks", "lfs", "config")]
        return skipped

    return ignore


def _git_config(config: Path) -> str:
    """The repository's format settings (core.repositoryformatversion,
    [extensions]) and nothing else of its config."""
    try:
        text = config.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    version, extensions = "0", []
    section = ""
    for line in text.splitlines():
        head = re.match(r"^\s*\[\s*([^\]\s]+)\s*(\S[^\]]*)?\]", line)
        if head:
            section = head.group(1).lower() if head.group(2) is None else ""
            continue
        kv = re.match(r"^\s*([A-Za-z][A-Za-z0-9-]*)\s*=\s*([^;#]*?)\s*(?:[;#].*)?$", line)
        if not kv:
            continue
        key, value = kv.group(1).lower(), kv.group(2)
        if section == "core" and key == "repositoryformatversion" and value.isdigit():
            version = value
        elif section == "extensions" and re.fullmatch(r"[\w.-]+", value):
            extensions.append(f"\t{key} = {value}\n")
    out = f"[core]\n\trepositoryformatversion = {version}\n\tbare = false\n"
    return out + ("[extensions]\n" + "".join(extensions) if extensions else "")


def _build_identity() -> tuple[Identity | None, IO[str] | None, str]:
    """The build's uid and gid when this process is root: the image's BUILD_USER, else
    a spare uid; each held by this build alone (a lock). With a reason instead when
    none can be used (the build then runs as root, warned)."""
    import fcntl
    import grp
    import pwd

    unreachable = _unreachable()
    if unreachable:
        return (
            None,
            None,
            f"The build runs as root: {unreachable} cannot be run by another user (a "
            "folder on its path is closed to others), so the build cannot be given a user "
            "of its own. Install Python where every user can run it (as in the image) to "
            "separate the build from the run's secrets.",
        )
    base = private_base(True)
    candidates: list[tuple[int, int]] = []
    with contextlib.suppress(KeyError):
        user = pwd.getpwnam(BUILD_USER)
        candidates.append((user.pw_uid, user.pw_gid))
    for uid in SPARE_UIDS:
        try:
            pwd.getpwuid(uid)
            continue
        except KeyError:
            pass
        try:
            grp.getgrgid(uid)
            continue
        except KeyError:
            candidates.append((uid, uid))
    for uid, gid in candidates:
        if uid == 0 or gid == 0:
            continue
        lock: IO[str] | None = None
        if base is not None:
            try:
                lock = open(base / f"uid-{uid}.lock", "w")  # noqa: SIM115
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                if lock is not None:
                    lock.close()
                continue
        home = Path("/nonexistent")  # replaced by the sandbox's
        return Identity(uid, gid, home), lock, ""
    return None, None, "The build runs as root: no free uid is left for it."


def _unreachable() -> str:
    """What the build's user could not run: this interpreter, its standard library,
    uv; '' when all are open to others."""
    import sysconfig

    wanted = [
        (Path(os.path.realpath(sys.executable)), 0o001),
        (Path(sysconfig.get_paths()["stdlib"]), 0o005),
    ]
    uv = uv_binary()
    if uv:
        wanted.append((Path(uv), 0o001))
    for path, bits in wanted:
        if not _open_to_others(path, bits):
            return str(path)
    return ""


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
            "sdist-unpack-failed",
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
