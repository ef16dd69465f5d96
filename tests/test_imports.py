"""The rooms' imports: urls.py is pure, and no release module imports itself around a
circle at module level."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

RELEASE = Path(__file__).resolve().parent.parent / "release"


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(node: ast.ImportFrom | ast.Import, modules: set[str]) -> set[str]:
    """The release modules an import statement names."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif node.level == 1:
        names = [f"release.{node.module}"] if node.module else []
        names += [f"release.{a.name}" for a in node.names] if not node.module else []
    else:
        names = [node.module or ""]
        names += [f"{node.module}.{a.name}" for a in node.names]
    return {n.split(".")[1] for n in names if n.startswith("release.")} & modules


def imports(lazy: bool) -> dict[str, set[str]]:
    """Each release module -> the release modules it imports: at module level (run when
    it is imported; ``if TYPE_CHECKING:`` blocks left out), or also inside functions."""
    modules = {p.stem for p in RELEASE.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for name in modules:
        tree = ast.parse((RELEASE / f"{name}.py").read_text(encoding="utf-8"))
        found: set[str] = set()

        def visit(body: list[ast.stmt], found: set[str] = found) -> None:
            for node in body:
                if isinstance(node, ast.Import | ast.ImportFrom):
                    found |= _imported(node, modules)
                elif isinstance(node, ast.If) and _type_checking(node):
                    visit(node.orelse)
                elif lazy or isinstance(node, ast.If | ast.Try | ast.With):
                    # Statements run at import time; with ``lazy``, every body.
                    for child in ast.iter_child_nodes(node):
                        if isinstance(child, ast.stmt):
                            visit([child])
                        elif isinstance(child, ast.ExceptHandler):
                            visit(child.body)

        visit(tree.body)
        graph[name] = found - {name}
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle in ``graph`` (as a path that ends where it began), or []."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := walk(nxt)):
                return found
        path.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (found := walk(start)):
            return found
    return []


def reach(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_no_import_cycle_at_module_level() -> None:
    assert cycle(imports(lazy=False)) == []


def test_the_cycle_finder_finds_one() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("room", ["urls", "http", "credentials"])
def test_the_transport_rooms_never_reach_settings(room: str) -> None:
    """Not even through an import inside a function: settings -> credentials -> http ->
    settings was such a circle."""
    assert "settings" not in reach(imports(lazy=True), room)


def test_urls_imports_nothing_of_the_project_but_errors() -> None:
    assert imports(lazy=True)["urls"] == {"errors"}
    code = (
        "import sys, release.urls; "
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('release'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=RELEASE.parent,
    ).stdout.split()
    assert loaded == ["release", "release.errors", "release.urls"]
