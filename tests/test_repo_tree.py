"""Nothing the tests, scripts, benchmarks, CI or workflows run names a path outside the
repository (issue 24).

A plain ``git clone`` has only its own tree: a test that reads a file beside the clone
passes on a machine that happens to have that file and fails on a user's. So this scans
the tree for the ways a path leaves it: ``Path(__file__)`` chains (``.parent``,
``.parents[N]``, ``/ ".."``, ``os.path.dirname``/``join``) that climb above the root,
literal ``..`` segments that climb above where they start (scripts and tests run from the
root), ``$(dirname "$0")/..`` in shell, and absolute paths into the machine around the
clone. Comments, docstrings and Markdown are prose and are not read.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("tests", "scripts", "benchmarks", ".ci", ".github")
NOT_SOURCE = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".venv"}
PROSE = {".md", ".rst"}
HASH_COMMENTS = {".sh", ".yml", ".yaml", ".toml", ".cfg", ".ini", ".txt"}

# Relative paths that climb out of where they start on purpose, by file and the first name
# reached once outside. These are relative to a project in tmp_path, not to the repository.
DELIBERATE = {
    # path-traversal inputs the action must refuse (release-notes, packages-dir, a symlink)
    "tests/test_security.py": {"outside", "elsewhere"},
}

# Absolute paths into the machine around the clone (this workplace's folders, where the
# recorded attestations used to be read from).
OUTSIDE = re.compile(r"""(?:^|(?<=[\s"'=:(,\[]))/work(?=/|$|[\s"'),\]])""")
UP = "." * 2  # written so, this file names no ".." path itself
# A path-like run of characters, and a ".." segment in it.
TOKEN = re.compile(r"""[^\s"'`=:,;()<>\[\]{}|&*]+""")
DOTDOT = re.compile(r"(?:^|[/\\])\.\.(?:[/\\]|$)")
# A relative link in an HTML or JSON index page is a URL, not a file path.
URL_BEFORE = re.compile(r"""(?:href=|["']url["']\s*:\s*)["']$""")
# reStructuredText's ".. directive::" and ".. _target:" are markup, not paths.
RST_AFTER = re.compile(r"\s+_?[\w-]+::?(?:\s|$)")
# The folder of the running shell script, and the ".." steps taken from it.
SCRIPT_DIR = re.compile(
    r"""\$\(\s*dirname\s+(?:--\s+)?"?\$(?:0|\{BASH_SOURCE(?:\[0\])?\}|BASH_SOURCE)"?\s*\)"""
    r"""((?:/\.\.)*)"""
)
PATH_CALLS = {
    "Path",
    "pathlib.Path",
    "PurePath",
    "PurePosixPath",
    "str",
    "os.fspath",
    "os.path.abspath",
    "os.path.realpath",
    "os.path.normpath",
}
CWD_CALLS = {"Path.cwd", "pathlib.Path.cwd", "os.getcwd"}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def escapes(token: str) -> str | None:
    """The first name reached above the token's start ("" if none), or None if it stays."""
    if token.startswith(("/", "\\")):
        return None  # absolute: only OUTSIDE says which of those leave the tree
    parts = re.split(r"[/\\]+", token)
    level = 0
    for i, part in enumerate(parts):
        if part in ("", "."):
            continue
        level += -1 if part == UP else 1
        if level < 0:
            return next((p for p in parts[i + 1 :] if p not in ("", ".", UP)), "")
    return None


def scan_string(text: str) -> Iterator[tuple[int, str, str | None]]:
    """(offset, what, name reached outside) for each path in ``text`` leaving the tree."""
    for match in OUTSIDE.finditer(text):
        yield match.start(), f"absolute path outside the repository: {match.group()}", None
    for match in TOKEN.finditer(text):
        token = match.group()
        if not DOTDOT.search(token) or URL_BEFORE.search(text[: match.start()]):
            continue
        if token == UP and RST_AFTER.match(text, match.end()):
            continue
        name = escapes(token)
        if name is not None:
            yield match.start(), f"'{UP}' climbs out of the tree: {token}", name


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


class _PythonScan:
    """Where each ``__file__``-based path expression points, in path segments below the
    repository root (the file itself is at its depth, the root at 0)."""

    def __init__(self, rel: str, tree: ast.Module) -> None:
        self.rel = rel
        self.depth = len(PurePosixPath(rel).parts)
        self.names: dict[str, int] = {}
        self.memo: dict[int, int | None] = {}
        self.consumed: set[int] = set()  # string constants counted as path steps
        self.findings: list[Finding] = []
        assigns = [n for n in ast.walk(tree) if isinstance(n, ast.Assign | ast.AnnAssign)]
        for node in sorted(assigns, key=lambda n: (n.lineno, n.col_offset)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            level = self.level(node.value) if node.value is not None else None
            for target in targets:
                if isinstance(target, ast.Name) and level is not None:
                    self.names[target.id] = level
        for expr in ast.walk(tree):
            if isinstance(expr, ast.expr):
                self.level(expr)

    def level(self, node: ast.expr) -> int | None:
        key = id(node)
        if key not in self.memo:
            self.memo[key] = None
            self.memo[key] = self._level(node)
        return self.memo[key]

    def _level(self, node: ast.expr) -> int | None:
        match node:
            case ast.Name(id="__file__"):
                return self.depth
            case ast.Name(id=name):
                return self.names.get(name)
            case ast.Call(func=func, args=[]) if _dotted(func) in CWD_CALLS:
                return 0  # scripts and tests run from the root
            case ast.Call(func=func, args=[arg]) if _dotted(func) in PATH_CALLS:
                return self.level(arg)
            case ast.Call(func=ast.Attribute(value=inner, attr="resolve" | "absolute")):
                return self.level(inner)
            case ast.Call(func=func, args=[arg]) if _dotted(func) == "os.path.dirname":
                return self.step(node, self.level(arg), 1)
            case ast.Call(func=func, args=[first, *rest]) if _dotted(func) == "os.path.join":
                return self.join(node, self.level(first), rest)
            case ast.Call(func=ast.Attribute(value=inner, attr="joinpath"), args=parts):
                return self.join(node, self.level(inner), parts)
            case ast.Attribute(value=inner, attr="parent"):
                return self.step(node, self.level(inner), 1)
            case ast.Subscript(
                value=ast.Attribute(value=inner, attr="parents"), slice=ast.Constant(value=n)
            ) if isinstance(n, int):
                return self.step(node, self.level(inner), n + 1)
            case ast.BinOp(left=left, op=ast.Div(), right=right):
                return self.join(node, self.level(left), [right])
        return None

    def step(self, node: ast.expr, level: int | None, up: int) -> int | None:
        if level is None:
            return None
        if level - up < 0:
            self.findings.append(
                Finding(
                    self.rel,
                    node.lineno,
                    f"climbs {up - level} level(s) above the repository root: {ast.unparse(node)}",
                )
            )
            return None
        return level - up

    def join(self, node: ast.expr, level: int | None, parts: list[ast.expr]) -> int | None:
        for part in parts:
            if level is None:
                return None
            if not (isinstance(part, ast.Constant) and isinstance(part.value, str)):
                return None  # not known here: stop following
            self.consumed.add(id(part))
            if part.value.startswith("/"):
                return None
            for segment in re.split(r"[/\\]+", part.value):
                if segment == UP:
                    level = self.step(node, level, 1)
                elif segment not in ("", ".") and level is not None:
                    level += 1
        return level


def _docstrings(tree: ast.Module) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _url_values(tree: ast.Module) -> set[int]:
    """Strings given as a "url" (a dict key or a keyword): links, not file paths."""
    found: set[int] = set()
    for node in ast.walk(tree):
        values: list[ast.expr] = []
        if isinstance(node, ast.Dict):
            values = [
                v
                for k, v in zip(node.keys, node.values, strict=True)
                if isinstance(k, ast.Constant) and k.value in ("url", "href")
            ]
        elif isinstance(node, ast.keyword) and node.arg in ("url", "href"):
            values = [node.value]
        for value in values:
            found.update(id(n) for n in ast.walk(value))
    return found


def _line(node: ast.Constant, text: str, offset: int) -> int:
    """The source line of ``text[offset]``, exact for one-line and triple-quoted strings."""
    if node.end_lineno is None or node.end_lineno == node.lineno:
        return node.lineno
    return min(node.lineno + text[:offset].count("\n"), node.end_lineno)


def scan_python(rel: str, source: str) -> list[Finding]:
    tree = ast.parse(source)
    scan = _PythonScan(rel, tree)
    skip = scan.consumed | _docstrings(tree) | _url_values(tree)
    findings = list(scan.findings)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or id(node) in skip:
            continue
        if isinstance(node.value, bytes):
            text = node.value.decode("latin-1")
        elif isinstance(node.value, str):
            text = node.value
        else:
            continue
        for offset, what, name in scan_string(text):
            if name is None or name not in DELIBERATE.get(rel, ()):
                findings.append(Finding(rel, _line(node, text, offset), what))
    return findings


def _shell_like(rel: str, text: str) -> bool:
    return rel.endswith(".sh") or (PurePosixPath(rel).suffix == "" and text.startswith("#!"))


def scan_text(rel: str, text: str) -> list[Finding]:
    suffix = PurePosixPath(rel).suffix
    if suffix in PROSE:
        return []
    shell = _shell_like(rel, text)
    script_dir = len(PurePosixPath(rel).parts) - 1  # the script's folder, below the root
    findings = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw
        if shell or suffix in HASH_COMMENTS:
            line = re.sub(r"(?:^|\s)#.*$", "", line)
        for match in SCRIPT_DIR.finditer(line):
            up = match.group(1).count(UP)
            if up > script_dir:
                findings.append(
                    Finding(rel, number, f"climbs above the repository root: {match.group()}")
                )
        line = SCRIPT_DIR.sub("SCRIPT_DIR", line)
        for _, what, name in scan_string(line):
            if name is None or name not in DELIBERATE.get(rel, ()):
                findings.append(Finding(rel, number, what))
    return findings


def scan_file(rel: str, data: bytes) -> list[Finding]:
    if b"\0" in data:
        return []  # binary: an archive or an image
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return []
    if rel.endswith(".py"):
        return scan_python(rel, text)
    return scan_text(rel, text)


def tree_files() -> Iterator[str]:
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*")):
            rel = path.relative_to(ROOT)
            if path.is_file() and not NOT_SOURCE.intersection(rel.parts):
                yield rel.as_posix()


def test_nothing_names_a_path_outside_the_repository() -> None:
    files = list(tree_files())
    # The scan reaches every kind of file it is for (it cannot pass by reading nothing).
    for expected in (
        "tests/support/recorded.py",
        "tests/test_sigstore_standin.py",
        "scripts/test.sh",
        "benchmarks/common.py",
        ".ci/run",
    ):
        assert expected in files
    findings = [f for rel in files for f in scan_file(rel, (ROOT / rel).read_bytes())]
    assert not findings, "paths outside the repository:\n" + "\n".join(map(str, findings))


def test_the_recorded_data_is_in_the_repository() -> None:
    from support.recorded import RECORDED, SDIST

    assert RECORDED.is_relative_to(ROOT)
    assert SDIST.is_file()
    names = {p.name for p in RECORDED.iterdir()}
    assert {
        "README.md",
        "pypi_attestations-0.0.19.tar.gz",
        "pypi_attestations-0.0.19.tar.gz.publish.attestation",
        "pypi_attestations-0.0.19.tar.gz.provenance",
        "pypi_attestation_models-0.0.4a2.tar.gz",
        "pypi_attestation_models-0.0.4a2.tar.gz.sigstore",
    } <= names


def sample(text: str) -> str:
    """A sample source; ``<up>`` is "..", ``<work>`` this workplace's root (written so that
    this file itself does not name them)."""
    return text.replace("<up>", "." * 2).replace("<work>", "/" + "work")


BAD = [
    # The line that caused issue 24, and its neighbour in another test file.
    (
        "tests/support/recorded.py",
        'RECORDED = Path(__file__).resolve().parents[3] / "shared" / "testdata"\n',
        "climbs 1 level(s) above the repository root",
    ),
    (
        "tests/test_x.py",
        'recorded = Path(__file__).resolve().parents[2] / "data"\n',
        "climbs 1 level(s)",
    ),
    ("tests/test_x.py", "HERE = Path(__file__).parent.parent.parent\n", "climbs 1 level(s)"),
    ("scripts/x.py", "ROOT = Path(__file__).parent\nOUT = ROOT.parents[1]\n", "climbs"),
    ("tests/test_x.py", 'DATA = Path(__file__).parent / "<up>" / "<up>" / "shared"\n', "climbs"),
    ("tests/test_x.py", 'DATA = Path(__file__).parent / "<up>/<up>/shared"\n', "climbs"),
    (
        "benchmarks/x.py",
        'DATA = os.path.join(os.path.dirname(__file__), "<up>", "<up>")\n',
        "climbs 1 level(s)",
    ),
    ("tests/test_x.py", "UP = Path.cwd().parent\n", "climbs 1 level(s)"),
    ("tests/test_x.py", 'data = open("<up>/shared/testdata/x").read()\n', "climbs out"),
    ("tests/test_x.py", 'DATA = Path("<up>") / "shared"\n', "climbs out"),
    ("tests/test_x.py", 'DATA = Path("<work>/shared/testdata/attestations")\n', "absolute"),
    ("tests/test_x.py", 'run(["ls", f"<work>/{name}"])\n', "absolute"),
    ("scripts/x.sh", '#!/bin/sh\ncd "$(dirname "$0")/<up>/<up>"\n', "above the repository"),
    ("scripts/x.sh", "#!/bin/sh\ncat <up>/shared/README.md\n", "climbs out"),
    ("scripts/x.sh", "#!/bin/sh\ncd <up>\n", "climbs out"),
    (".ci/run", "#!/usr/bin/env bash\nls <work>/shared\n", "absolute"),
    (".github/workflows/ci.yml", "    - run: cp -r <up>/shared/testdata tests/\n", "climbs out"),
    ("tests/requirements.txt", "-r <up>/other/requirements.txt\n", "climbs out"),
    # A deliberate exception is for its own file and name only.
    ("tests/test_security.py", 'notes = "<up>/shared/notes.md"\n', "climbs out"),
    ("tests/test_x.py", 'notes = "<up>/outside/notes.md"\n', "climbs out"),
]

GOOD = [
    ("tests/support/recorded.py", 'RECORDED = Path(__file__).resolve().parents[1] / "data"\n'),
    ("tests/support/runner.py", "REPO = Path(__file__).resolve().parent.parent.parent\n"),
    ("tests/test_x.py", "REPO = Path(__file__).parents[1]\nSRC = REPO / 'release'\n"),
    ("tests/test_x.py", 'DATA = Path(__file__).parent / "<up>" / "release"\n'),
    ("benchmarks/x.py", "DATA = os.path.join(os.path.dirname(__file__), '<up>')\n"),
    ("tests/test_x.py", 'DATA = Path("tests/data/<up>/projects")\n'),
    ("tests/test_x.py", "run([sys.executable, '-c', 'pass'], cwd=Path.cwd())\n"),
    ("tests/test_x.py", "page = f'<a href=\"<up>/<up>/files/{name}\">{name}</a>'\n"),
    ("tests/test_x.py", 'entry = {"filename": name, "url": f"<up>/<up>/files/{name}"}\n'),
    ("tests/test_x.py", 'body = f\'{{"url": "<up>/<up>/packages/{name}"}}\'\n'),
    ("tests/test_x.py", 'TEMP = "/home/runner/work/_temp"\nWS = "/github/workspace"\n'),
    ("tests/test_x.py", 'print("Setting up... done.")\nx = a[1:..., 2]\n'),
    ("tests/test_x.py", 'README = "Title\\n===\\n\\n<up> note:: hi\\n<up> _target:\\n"\n'),
    ("tests/test_x.py", 'def f():\n    """Read from <up>/shared, once."""\n'),
    ("tests/test_x.py", "# the data used to live in <up>/shared\nx = 1\n"),
    ("tests/test_security.py", 'notes = "<up>/outside/notes.md"\npkgs = "<up>/elsewhere"\n'),
    ("scripts/x.sh", '#!/bin/sh\ncd "$(dirname "$0")/<up>"\n'),
    ("scripts/x.sh", '#!/bin/sh\n# not <up>/shared any more\nprintf "%s\\n" "${#a[@]}"\n'),
    (".ci/run", '#!/usr/bin/env bash\ncd "$(dirname "$0")/<up>"\nalone=$(mktemp -d)\n'),
    ("tests/data/attestations/README.md", "Copied from <up>/shared/testdata.\n"),
]


@pytest.mark.parametrize(("rel", "source", "expected"), BAD)
def test_flags_paths_leaving_the_tree(rel: str, source: str, expected: str) -> None:
    findings = scan_file(rel, sample(source).encode())
    assert findings, f"not flagged: {sample(source)!r}"
    assert any(expected in f.what and f.path == rel for f in findings), findings


@pytest.mark.parametrize(("rel", "source"), GOOD)
def test_leaves_paths_inside_the_tree_alone(rel: str, source: str) -> None:
    assert scan_file(rel, sample(source).encode()) == []


def test_findings_name_the_line() -> None:
    source = sample('"""Doc."""\n\nX = 1\nY = Path("<up>/shared")\n')
    assert [str(f) for f in scan_file("tests/test_x.py", source.encode())] == [
        sample("tests/test_x.py:4: '<up>' climbs out of the tree: <up>/shared")
    ]
