"""One definition per input: the action reader, the argparse parser, the hints and the
test against action.yml all come from ``INPUTS``.

Adding an input is one entry here plus its copy in action.yml (a test keeps the two
equal); the code reads it as ``settings.inputs["name"]``, or, where it is used in more
than one place, gets a typed field in ``Settings`` of the same name.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Literal

from . import __version__
from .errors import InputError

PYPI_UPLOAD = "https://upload.pypi.org/legacy/"
# The user for API tokens and trusted publishing; with no password it means the latter.
TOKEN_USER = "__token__"
# The two kinds of upload credential, as outputs and the summary name them.
TRUSTED_PUBLISHING = "trusted publishing"
API_TOKEN = "API token"

# "auto": true, false or auto (the code decides); --NAME / --no-NAME on the command line,
# auto when neither is given.
Kind = Literal["str", "bool", "auto"]
SWITCH_VALUES = ("auto", "true", "false")
# Which door the run came in by: hints name inputs in Actions and flags on the CLI.
Front = Literal["action", "cli"]


@dataclasses.dataclass(frozen=True)
class Input:
    """One input of the action, and its flag on the command line."""

    name: str
    help: str
    default: str = ""
    kind: Kind = "str"
    # Secrets have no flag (argv is visible to every process); locally they come from
    # this environment variable.
    secret_env: str = ""
    # The CLI's default where it differs from the action's (e.g. no GitHub Release).
    cli_default: str | None = None
    short: str = ""  # a one-letter alias, e.g. -C
    metavar: str = ""
    # Takes several values: lines in a workflow, the flag given again on the CLI.
    many: bool = False

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    @property
    def flag(self) -> str:
        return f"--{self.name}"

    @property
    def local_default(self) -> str:
        return self.default if self.cli_default is None else self.cli_default


INPUTS: tuple[Input, ...] = (
    Input(
        "password",
        "API token for the index, from a repository secret (e.g. secrets.PYPI_API_TOKEN). "
        "Masked; never written to disk. Leave empty for trusted publishing. Several "
        "indexes: one token per line, in the order of repository-url.",
        secret_env="TWINE_PASSWORD",
    ),
    Input(
        "user",
        "User name for the index. PyPI API tokens and trusted publishing use __token__. "
        "Several indexes: one for all, or one per line in the order of repository-url.",
        default=TOKEN_USER,
        metavar="NAME",
        many=True,
    ),
    Input(
        "repository-url",
        "The index's upload URL. Several indexes: one URL per line (on the command line, "
        "the flag again), published to in that order, e.g. TestPyPI, then PyPI; the "
        "GitHub Release takes its files from the last.",
        default=PYPI_UPLOAD,
        metavar="URL",
        many=True,
    ),
    Input(
        "index-url",
        "The index's simple API URL, read to check versions. Derived for PyPI and "
        "TestPyPI; required for any other index. Several indexes: one line each, in the "
        "order of repository-url.",
        metavar="URL",
        many=True,
    ),
    Input(
        "tag",
        "The tag to release. Default: the pushed tag from GITHUB_REF.",
        metavar="TAG",
    ),
    Input(
        "tag-prefix",
        "Text before the version in the tag, e.g. mypkg-v in a monorepo. Default: an "
        "optional v (v1.2.3 or 1.2.3).",
        metavar="TEXT",
    ),
    Input(
        "working-directory",
        "The folder of the project to release, relative to the repository root (on the "
        "command line: to the current folder).",
        default=".",
        short="-C",
        metavar="DIR",
    ),
    Input(
        "packages-dir",
        "Where the distributions are built (or found, with build false), relative to "
        "working-directory.",
        default="dist",
        metavar="DIR",
    ),
    Input(
        "build",
        "Build the sdist and wheel. false publishes the files already in packages-dir "
        "(build matrices).",
        default="true",
        kind="bool",
    ),
    Input(
        "verify-metadata",
        "Run twine check on the files before uploading: refuse a long description the "
        "index would refuse to render, warn about the rest.",
        default="true",
        kind="bool",
    ),
    Input(
        "strict-metadata",
        "Refuse what twine check --strict refuses, warnings included (a missing "
        "long_description_content_type or long_description), though the index takes it.",
        default="false",
        kind="bool",
    ),
    Input(
        "test-install",
        "Before uploading, install each wheel this runner can install (with its "
        "dependencies, from the public index) in a fresh environment, import its modules "
        "and resolve its scripts; an sdist given alone is built into a wheel and tried.",
        default="true",
        kind="bool",
    ),
    Input(
        "test-command",
        "A command run in the install trial's environment after the imports (no shell; "
        "{project} stands for the project folder), e.g. 'python -m unittest discover -s "
        "{project}/tests'.",
        metavar="COMMAND",
    ),
    Input(
        "test-timeout",
        "Seconds the whole install trial may take.",
        default="300",
        metavar="SECONDS",
    ),
    Input(
        "skip-existing",
        "Skip a file whose name the index already has, even when its content differs "
        "(for builds that cannot be reproduced).",
        default="false",
        kind="bool",
    ),
    Input(
        "pypi-rules",
        "Refuse before any upload what PyPI would refuse under its own policy (classifiers, "
        "platform tags, file size, releases older than 14 days, names of standard-library "
        "modules): auto applies it when repository-url is PyPI's or TestPyPI's. The rules "
        "of the packaging specifications apply to every index.",
        default="auto",
        kind="auto",
    ),
    Input(
        "max-file-size",
        "The largest file the index takes, in bytes or with a unit (200MiB), when PyPI "
        "has raised the project's limit. Default: PyPI's 100 MiB.",
        metavar="SIZE",
    ),
    Input(
        "allow-backport",
        "Allow a version lower than the index's highest when it is higher than every "
        "version of its own release series (same major.minor); the GitHub Release is "
        "then not marked latest.",
        default="false",
        kind="bool",
    ),
    Input(
        "allow-dirty",
        "Release even when tracked files have uncommitted changes.",
        default="false",
        kind="bool",
    ),
    Input(
        "attestations",
        "With trusted publishing, sign a PEP 740 attestation for each file with Sigstore, "
        "verify it, and upload it with the file (skipped with a notice for API tokens).",
        default="true",
        kind="bool",
    ),
    Input(
        "dry-run",
        "Check everything and report the plan; upload nothing, create no release.",
        default="false",
        kind="bool",
    ),
    Input("print-hash", "Show each file's sha256 in the summary.", default="true", kind="bool"),
    Input("verbose", "Show the tools' full output.", default="false", kind="bool"),
    Input(
        "github-release",
        "Create (or finish) the GitHub Release for the tag, with the files attached.",
        default="true",
        kind="bool",
        cli_default="false",
    ),
    Input(
        "github-token",
        "Token for the GitHub API; needs contents: write to create the release.",
        default="${{ github.token }}",
        secret_env="GITHUB_TOKEN",
    ),
    Input(
        "release-notes",
        "A file, relative to working-directory, whose text becomes the release notes. "
        "Default: the changelog's section for the version, else GitHub's generated notes.",
        metavar="FILE",
    ),
    Input(
        "replace-draft",
        "Replace what a draft release already there for the tag holds that this run did "
        "not make (assets, notes written by hand) with this run's, instead of refusing it.",
        default="false",
        kind="bool",
    ),
)

BY_NAME = {i.name: i for i in INPUTS}
# Values of these inputs never reach a child process or the log.
SECRET_INPUTS = tuple(i for i in INPUTS if i.secret_env)


def action_key(name: str) -> str:
    """The variable the runner sets for an input: upper-cased, hyphens kept."""
    return "INPUT_" + name.replace(" ", "_").upper()


def parse_bool(name: str, value: str) -> bool:
    """Booleans are exactly ``true`` or ``false``: a typo must not flip a safety switch."""
    if value == "true":
        return True
    if value == "false":
        return False
    raise InputError(
        "invalid-boolean",
        f"Input '{name}' must be 'true' or 'false', not '{value}'.",
        f"Write '{name}: true' or '{name}: false' in the step's 'with:' block.",
    )


def parse_switch(name: str, value: str) -> str:
    """A three-way input: exactly ``auto``, ``true`` or ``false``."""
    if value in SWITCH_VALUES:
        return value
    raise InputError(
        "invalid-switch",
        f"Input '{name}' must be 'auto', 'true' or 'false', not '{value}'.",
        f"Write '{name}: auto', '{name}: true' or '{name}: false' in the step's 'with:' block.",
    )


def from_action_env(env: Mapping[str, str]) -> dict[str, object]:
    """Every input as the runner passes it to a Docker action, typed."""
    values: dict[str, object] = {}
    for spec in INPUTS:
        raw = env.get(action_key(spec.name), "")
        # The runner fills in defaults; an absent variable (a local run of the image)
        # falls back to action.yml's default, except for expressions it would evaluate.
        if action_key(spec.name) not in env and not spec.default.startswith("${{"):
            raw = spec.default
        raw = raw.strip()
        if spec.kind == "bool":
            values[spec.dest] = parse_bool(spec.name, raw)
        elif spec.kind == "auto":
            values[spec.dest] = parse_switch(spec.name, raw)
        else:
            values[spec.dest] = raw
    return values


def build_parser(prog: str = "python -m release") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        allow_abbrev=False,  # "--index" must not silently become --index-url
        description=(
            "Check, build and publish the Python project in this directory for a tag. "
            "Secrets come from the environment, never a flag: "
            + ", ".join(f"{i.name} from {i.secret_env}" for i in SECRET_INPUTS)
            + "."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    for spec in INPUTS:
        if spec.secret_env:
            continue
        names = [spec.short, spec.flag] if spec.short else [spec.flag]
        default = spec.local_default
        if spec.kind == "bool":
            parser.add_argument(
                *names,
                dest=spec.dest,
                action=argparse.BooleanOptionalAction,
                default=default == "true",
                help=f"{spec.help} (default: {default})",
            )
        elif spec.kind == "auto":
            parser.add_argument(
                *names,
                dest=spec.dest,
                action=argparse.BooleanOptionalAction,
                default=None,  # neither flag: the table's default (auto)
                help=f"{spec.help} (default: {default})",
            )
        else:
            parser.add_argument(
                *names,
                dest=spec.dest,
                # Given again, a many-valued flag adds a line; not given, the default.
                action="append" if spec.many else "store",
                default=None if spec.many else default,
                metavar=spec.metavar or None,
                help=spec.help + (f" (default: {default})" if default else ""),
            )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    return parser


def from_args(argv: Sequence[str], env: Mapping[str, str], prog: str) -> dict[str, object]:
    """Every input from ``python -m release`` flags, secrets from the environment."""
    args = build_parser(prog).parse_args(list(argv))
    values = vars(args)
    for spec in SECRET_INPUTS:
        values[spec.dest] = env.get(spec.secret_env, "").strip()
    for spec in INPUTS:
        if spec.many and not spec.secret_env:
            given = values[spec.dest]
            values[spec.dest] = spec.local_default if given is None else "\n".join(given)
        if spec.kind == "auto":
            flag = values[spec.dest]
            values[spec.dest] = spec.local_default if flag is None else str(flag).lower()
    if not values["user"] or values["user"] == BY_NAME["user"].default:
        values["user"] = env.get("TWINE_USERNAME", "") or BY_NAME["user"].default
    values["repository_url"] = _twine_repository(argv, env, str(values["repository_url"]))
    return values


# The repositories twine knows by name without a .pypirc.
TWINE_NAMED = {"pypi": PYPI_UPLOAD, "testpypi": "https://test.pypi.org/legacy/"}


def _twine_repository(argv: Sequence[str], env: Mapping[str, str], flag: str) -> str:
    """The upload URL: --repository-url, else twine's own variables, honoured as twine
    honours them. A twine user's TWINE_REPOSITORY_URL silently ignored would send a
    private index's credentials to PyPI, and look the private project up there."""
    given = any(a == "--repository-url" or a.startswith("--repository-url=") for a in argv)
    if given:
        return flag
    if url := env.get("TWINE_REPOSITORY_URL", "").strip():
        return url
    if name := env.get("TWINE_REPOSITORY", "").strip():
        if name in TWINE_NAMED:
            return TWINE_NAMED[name]
        raise InputError(
            "twine-repository-unsupported",
            f"TWINE_REPOSITORY is '{name}': a repository named in a .pypirc, which this "
            "tool does not read (it never reads or writes one).",
            "Set TWINE_REPOSITORY_URL, or --repository-url, to that index's upload URL "
            "(and --index-url to its simple API), or unset TWINE_REPOSITORY.",
        )
    return flag


# {name} or {name=value} in a message or hint names an input; rendered per front door.
PLACEHOLDER = re.compile(r"\{([a-z][a-z-]*)(?:=([^{}]*))?\}")


def render(text: str, front: Front) -> str:
    """Name inputs the way this front door knows them: ``build: false`` in a workflow,
    ``--no-build`` on the command line, ``TWINE_PASSWORD`` for a secret."""

    def one(m: re.Match[str]) -> str:
        spec = BY_NAME.get(m.group(1))
        if spec is None:
            return m.group(0)
        value = m.group(2)
        if front == "action":
            return spec.name if value is None else f"{spec.name}: {value}"
        if spec.secret_env:
            return spec.secret_env
        if spec.kind in ("bool", "auto") and value in ("true", "false"):
            return spec.flag if value == "true" else f"--no-{spec.name}"
        return spec.flag if value is None else f"{spec.flag} {value}"

    return PLACEHOLDER.sub(one, text)
