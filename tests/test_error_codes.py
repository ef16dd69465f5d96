"""Error codes are data (GUIDE 2.17): every code the package raises is in release.codes,
with its class; each is raised from one place, for one reason, with one text.

The raise sites are found in the source, not at run time: every call of a ReleaseError
class in release/ (a raise, or a helper that returns the error), with its code resolved
from a literal, an f-string (a family the registry declares), or a local variable
assigned either. A code taken from another error (``exc.code``) re-raises that error's
code, and is no new site.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import release
from release import credentials, errors, simple
from release.codes import CODES, FAMILIES

RELEASE = Path(release.__file__).parent
CLASSES = {
    name
    for name, value in vars(errors).items()
    if isinstance(value, type) and issubclass(value, errors.ReleaseError)
}
KEBAB = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


@dataclass
class Site:
    """One construction of a ReleaseError class, and the codes it can make."""

    module: str
    function: str
    line: int
    cls: str  # "" when the class is taken from another error: type(exc)(...)
    codes: set[str] = field(default_factory=set)
    templates: set[str] = field(default_factory=set)
    passthrough: bool = False
    unresolved: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"release/{self.module}:{self.line} in {self.function or '<module>'}"


def _shape(template: str) -> str:
    """A template with its placeholders' names left out: "project-{}"."""
    return re.sub(r"\{[^{}]*\}", "{}", template)


def _fstring(node: ast.JoinedStr) -> str:
    """An f-string's shape: its text, with "{}" for each value put in."""
    return "".join(str(v.value) if isinstance(v, ast.Constant) else "{}" for v in node.values)


def _assigned(name: str, scope: ast.AST) -> list[ast.expr]:
    """What ``name`` is assigned in ``scope`` (a function), every branch's."""
    found: list[ast.expr] = []
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                found.append(node.value)
        elif (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == name
            and node.value is not None
        ):
            found.append(node.value)
    return found


def _resolve(expr: ast.expr, scope: ast.AST, site: Site) -> None:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        site.codes.add(expr.value)
    elif isinstance(expr, ast.JoinedStr):
        site.templates.add(_fstring(expr))
    elif isinstance(expr, ast.IfExp):
        _resolve(expr.body, scope, site)
        _resolve(expr.orelse, scope, site)
    elif isinstance(expr, ast.Attribute) and expr.attr == "code":
        site.passthrough = True
    elif isinstance(expr, ast.Name) and (values := _assigned(expr.id, scope)):
        for value in values:
            _resolve(value, scope, site)
    else:
        site.unresolved.append(ast.unparse(expr))


class _Finder(ast.NodeVisitor):
    def __init__(self, module: str, aliases: dict[str, str]) -> None:
        self.module = module
        self.aliases = aliases  # local name -> class name, from "from .errors import"
        self.scopes: list[ast.AST] = []
        self.names: list[str] = []
        self.sites: list[Site] = []

    def _enter(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.names.append(node.name)
        if not isinstance(node, ast.ClassDef):
            self.scopes.append(node)
        self.generic_visit(node)
        if not isinstance(node, ast.ClassDef):
            self.scopes.pop()
        self.names.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _enter

    def _class(self, func: ast.expr) -> str | None:
        if isinstance(func, ast.Name):
            return self.aliases.get(func.id)
        if isinstance(func, ast.Attribute) and func.attr in CLASSES:
            return func.attr  # errors.InputError(...)
        if (
            isinstance(func, ast.Call)
            and isinstance(func.func, ast.Name)
            and func.func.id == "type"
        ):
            return ""  # type(exc)(...): another error's class
        return None

    def visit_Call(self, node: ast.Call) -> None:
        cls = self._class(node.func)
        if cls is not None:
            site = Site(self.module, ".".join(self.names), node.lineno, cls)
            code = node.args[0] if node.args else None
            for keyword in node.keywords:
                if keyword.arg == "code":
                    code = keyword.value
            scope = self.scopes[-1] if self.scopes else ast.Module(body=[], type_ignores=[])
            if code is None:
                site.unresolved.append("(no code)")
            else:
                _resolve(code, scope, site)
            self.sites.append(site)
        self.generic_visit(node)


def _aliases(tree: ast.Module) -> dict[str, str]:
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("errors", "release.errors"):
            for alias in node.names:
                if alias.name in CLASSES:
                    found[alias.asname or alias.name] = alias.name
    return found


def find_sites() -> list[Site]:
    sites = []
    for path in sorted(RELEASE.rglob("*.py")):
        if path.name in ("errors.py", "codes.py"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        finder = _Finder(path.relative_to(RELEASE).as_posix(), _aliases(tree))
        finder.visit(tree)
        sites += finder.sites
    return sites


SITES = find_sites()


def _family(template: str) -> str | None:
    shapes = {_shape(t): t for t in FAMILIES}
    return shapes.get(_shape(template))


def made_by(site: Site) -> set[str]:
    """Every code a site can make: its literals and its families' values."""
    codes = set(site.codes)
    for template in site.templates:
        family = _family(template)
        codes |= set(FAMILIES[family]) if family else set()
    return codes


def sites_of() -> dict[str, list[Site]]:
    found: dict[str, list[Site]] = defaultdict(list)
    for site in SITES:
        for code in made_by(site):
            found[code].append(site)
    return found


def _none(problems: Iterable[str]) -> None:
    """Fail with every problem, one a line, and no diff of the lists."""
    found = list(problems)
    if found:
        pytest.fail("\n".join(found), pytrace=False)


def _listing(sites: list[Site]) -> str:
    return "; ".join(f"{s} ({s.cls or 'its class'})" for s in sites)


# --- the finder finds what it should -------------------------------------------------------


def test_the_finder_sees_every_kind_of_site() -> None:
    assert len(SITES) > 140
    kinds = {
        "literal": any(s.codes and not s.templates for s in SITES),
        "f-string": any(s.templates for s in SITES),
        "variable": any(s.module == "trial.py" and len(s.codes) == 2 for s in SITES),
        "passthrough": any(s.passthrough for s in SITES),
        "type(exc)(...)": any(s.cls == "" for s in SITES),
    }
    assert all(kinds.values()), kinds


# --- the registry ---------------------------------------------------------------------------


def test_codes_are_kebab_case() -> None:
    _none(
        f"{code!r} is not kebab-case (a-z, 0-9, single hyphens)"
        for code in CODES
        if not KEBAB.fullmatch(code)
    )


def test_each_code_has_a_one_line_meaning() -> None:
    _none(
        f"{code}: {entry.meaning!r} is not one sentence on one line, or {entry.kind} no "
        "ReleaseError class"
        for code, entry in CODES.items()
        if not (
            issubclass(entry.kind, errors.ReleaseError)
            and entry.meaning.strip()
            and entry.meaning.endswith(".")
            and "\n" not in entry.meaning
        )
    )


def test_every_family_value_is_registered_and_fits_its_template() -> None:
    problems = []
    for template, values in FAMILIES.items():
        pattern = re.compile(re.escape(_shape(template)).replace(r"\{\}", ".+"))
        for value in values:
            if value not in CODES:
                problems.append(f"{value} (family {template}) is not in CODES")
            if not pattern.fullmatch(value):
                problems.append(f"{value} is not made by the template {template}")
    _none(problems)


def test_families_are_what_the_code_can_make() -> None:
    """The families' values follow the tables and calls that make them."""
    statuses = sorted(simple.REFUSED_STATUS)
    assert sorted(FAMILIES["project-{status}"]) == [f"project-{s}" for s in statuses]
    assert sorted(FAMILIES["confirm-project-{status}"]) == [
        f"confirm-project-{s}" for s in statuses
    ]
    assert sorted(FAMILIES["trusted-publishing-{first}"]) == sorted(
        f"trusted-publishing-{c}" for c in credentials.REFUSALS
    )
    # settings.check_url's first argument names the input: every call passes a literal.
    tree = ast.parse((RELEASE / "settings.py").read_text(encoding="utf-8"))
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "check_url"
    ]
    names = [ast.literal_eval(call.args[0]) for call in calls]
    assert sorted(FAMILIES["{name}-invalid"]) == sorted(f"{n}-invalid" for n in names)


# --- the raise sites against the registry ------------------------------------------------


def test_every_code_raised_is_registered_as_its_class() -> None:
    problems = []
    for site in SITES:
        for code in sorted(made_by(site)):
            entry = CODES.get(code)
            if entry is None:
                problems.append(
                    f"{site} raises {code!r}, which release/codes.py does not register: add "
                    f"it to CODES as Code({site.cls}, '<what failed, in a line>')"
                )
            elif site.cls and entry.kind.__name__ != site.cls:
                problems.append(
                    f"{site} raises {code!r} as {site.cls}, but CODES registers it as "
                    f"{entry.kind.__name__}: one code, one class"
                )
    _none(problems)


def test_dynamic_codes_only_where_a_family_is_declared() -> None:
    problems = []
    for site in SITES:
        for template in sorted(site.templates):
            if _family(template) is None:
                problems.append(
                    f"{site} makes its code from the template {template!r}, which "
                    "release/codes.py does not declare: add it to FAMILIES with every code it "
                    "can make (or raise literal codes)"
                )
        if site.unresolved:
            problems.append(
                f"{site} takes its code from {', '.join(site.unresolved)}: give it a literal "
                "code, or a template declared in FAMILIES"
            )
    _none(problems)


def test_no_code_is_registered_but_never_raised() -> None:
    raised = sites_of()
    _none(
        f"{code} is registered in release/codes.py but raised nowhere: remove it"
        for code in CODES
        if code not in raised
    )


def test_each_code_is_raised_from_one_place() -> None:
    several = {code: sites for code, sites in sorted(sites_of().items()) if len(sites) > 1}
    _none(
        f"{code} is raised from {len(sites)} places: {_listing(sites)}. If they are one "
        "reason, make one helper that raises it; if not, give each its own code."
        for code, sites in several.items()
    )
