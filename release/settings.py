"""Every input, read and validated once into a frozen Settings.

Two front doors: ``from_action_env`` for the Docker action (inputs arrive as
``INPUT_<NAME>`` with hyphens kept) and ``from_args`` for ``python -m release``.
Nothing below this module reads ``os.environ``.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import __version__
from .errors import InputError
from .versions import tag_from_ref

PYPI_UPLOAD = "https://upload.pypi.org/legacy/"
TESTPYPI_UPLOAD = "https://test.pypi.org/legacy/"
# Where the simple API lives for the indexes whose upload URL we know.
KNOWN_INDEXES = {
    PYPI_UPLOAD: "https://pypi.org/simple/",
    TESTPYPI_UPLOAD: "https://test.pypi.org/simple/",
}

# The action's inputs and their defaults, as action.yml declares them (a test keeps the
# two in step). github-token defaults to ${{ github.token }} there.
INPUT_DEFAULTS: dict[str, str] = {
    "password": "",
    "user": "__token__",
    "repository-url": PYPI_UPLOAD,
    "index-url": "",
    "tag": "",
    "tag-prefix": "",
    "working-directory": ".",
    "packages-dir": "dist",
    "build": "true",
    "verify-metadata": "true",
    "skip-existing": "false",
    "dry-run": "false",
    "print-hash": "true",
    "verbose": "false",
    "github-release": "true",
    "github-token": "",
    "release-notes": "",
}

# Variables a build backend or other child process must never see.
SECRET_VARIABLES = (
    "INPUT_PASSWORD",
    "INPUT_GITHUB-TOKEN",
    "TWINE_PASSWORD",
    "GITHUB_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """What one run was asked to do."""

    password: str = dataclasses.field(repr=False)
    user: str
    repository_url: str
    index_url: str
    tag: str
    tag_prefix: str
    working_directory: Path
    packages_dir: Path
    build: bool
    verify_metadata: bool
    skip_existing: bool
    dry_run: bool
    print_hash: bool
    verbose: bool
    debug: bool
    actions: bool
    github_output: Path | None
    step_summary: Path | None
    github_release: bool
    github_token: str = dataclasses.field(repr=False)
    github_api_url: str
    github_repository: str
    github_sha: str
    release_notes: Path | None
    # PyGithub's pause between writes (GitHub asks for one second); tests set 0.
    github_write_interval: float
    # The environment for child processes, with every secret removed.
    child_env: Mapping[str, str] = dataclasses.field(repr=False)

    @classmethod
    def from_action_env(cls, env: Mapping[str, str]) -> Settings:
        """Read the inputs the runner passes to a Docker action."""

        def raw(name: str) -> str:
            # The runner upper-cases the name, turns spaces into "_" and keeps hyphens.
            key = "INPUT_" + name.replace(" ", "_").upper()
            return env.get(key, INPUT_DEFAULTS[name]).strip()

        def flag(name: str) -> bool:
            return parse_bool(name, raw(name))

        return cls._make(
            env,
            password=env.get("INPUT_PASSWORD", "").strip(),
            user=raw("user"),
            repository_url=raw("repository-url"),
            index_url=raw("index-url"),
            tag=raw("tag"),
            tag_prefix=raw("tag-prefix"),
            working_directory=raw("working-directory"),
            packages_dir=raw("packages-dir"),
            build=flag("build"),
            verify_metadata=flag("verify-metadata"),
            skip_existing=flag("skip-existing"),
            dry_run=flag("dry-run"),
            print_hash=flag("print-hash"),
            verbose=flag("verbose"),
            debug=env.get("RUNNER_DEBUG") == "1",
            actions=True,
            github_release=flag("github-release"),
            github_token=env.get("INPUT_GITHUB-TOKEN", "").strip(),
            release_notes=raw("release-notes"),
        )

    @classmethod
    def from_args(cls, argv: Sequence[str], env: Mapping[str, str]) -> Settings:
        """Read ``python -m release`` flags; secrets come only from the environment."""
        args = build_parser().parse_args(list(argv))
        return cls._make(
            env,
            password=env.get("TWINE_PASSWORD", ""),
            user=args.user or env.get("TWINE_USERNAME", "") or INPUT_DEFAULTS["user"],
            repository_url=args.repository_url,
            index_url=args.index_url,
            tag=args.tag,
            tag_prefix=args.tag_prefix,
            working_directory=args.working_directory,
            packages_dir=args.packages_dir,
            build=args.build,
            verify_metadata=args.verify_metadata,
            skip_existing=args.skip_existing,
            dry_run=args.dry_run,
            print_hash=args.print_hash,
            verbose=args.verbose,
            debug=args.debug or env.get("RUNNER_DEBUG") == "1",
            actions=env.get("GITHUB_ACTIONS") == "true",
            # Locally a release is made only when asked for.
            github_release=args.github_release,
            github_token=env.get("GITHUB_TOKEN", ""),
            release_notes=args.release_notes,
        )

    @classmethod
    def _make(
        cls,
        env: Mapping[str, str],
        *,
        working_directory: str,
        packages_dir: str,
        repository_url: str,
        index_url: str,
        tag: str,
        release_notes: str,
        **values: object,
    ) -> Settings:
        workdir = Path(working_directory or ".")
        if not workdir.is_dir():
            raise InputError(
                f"working-directory '{working_directory}' is not a directory.",
                "Set working-directory to the folder that holds pyproject.toml, "
                "relative to the repository root.",
            )
        output = env.get("GITHUB_OUTPUT", "")
        summary = env.get("GITHUB_STEP_SUMMARY", "")
        return cls(
            working_directory=workdir,
            packages_dir=workdir / (packages_dir or "dist"),
            repository_url=repository_url,
            index_url=derive_index_url(repository_url, index_url),
            tag=tag_from_ref(tag, env.get("GITHUB_REF", "")),
            release_notes=workdir / release_notes if release_notes else None,
            github_output=Path(output) if output else None,
            step_summary=Path(summary) if summary else None,
            github_api_url=env.get("GITHUB_API_URL", "") or "https://api.github.com",
            github_repository=env.get("GITHUB_REPOSITORY", ""),
            github_sha=env.get("GITHUB_SHA", ""),
            github_write_interval=float(env.get("RELEASE_GITHUB_WRITE_INTERVAL", "1") or 0),
            child_env={k: v for k, v in env.items() if k not in SECRET_VARIABLES},
            **values,  # type: ignore[arg-type]
        )


def parse_bool(name: str, value: str) -> bool:
    """Booleans are exactly ``true`` or ``false``: a typo must not flip a safety switch."""
    if value == "true":
        return True
    if value == "false":
        return False
    raise InputError(
        f"Input '{name}' must be 'true' or 'false', not '{value}'.",
        f"Write '{name}: true' or '{name}: false' in the step's 'with:' block.",
    )


def derive_index_url(repository_url: str, index_url: str) -> str:
    """The simple API to read: given, or known for PyPI and TestPyPI."""
    if not repository_url.startswith(("https://", "http://")):
        raise InputError(
            f"repository-url '{repository_url}' is not an http(s) URL.",
            f"Use the index's upload URL, for example {PYPI_UPLOAD}",
        )
    if index_url:
        if not index_url.startswith(("https://", "http://")):
            raise InputError(
                f"index-url '{index_url}' is not an http(s) URL.",
                "Use the index's simple API URL, for example https://pypi.org/simple/",
            )
        return index_url.rstrip("/") + "/"
    known = KNOWN_INDEXES.get(repository_url.rstrip("/") + "/")
    if known is None:
        raise InputError(
            f"index-url is required for the custom repository-url '{repository_url}'.",
            "Set index-url to that index's simple API (for a pypiserver "
            "'https://HOST/simple/', for devpi 'https://HOST/USER/INDEX/+simple/'): "
            "the action reads it to check versions before uploading.",
        )
    return known


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m release",
        description=(
            "Check, build and publish the Python project in this directory for a tag. "
            "The index password (token) is read from TWINE_PASSWORD, never a flag."
        ),
    )
    add = parser.add_argument
    on_off = argparse.BooleanOptionalAction
    add("--version", action="version", version=f"%(prog)s {__version__}")
    add("--tag", default="", help="the tag to release (default: from GITHUB_REF)")
    add(
        "--tag-prefix",
        default="",
        help="text before the version in the tag (default: an optional 'v')",
    )
    add("--user", default="", help="index user name (default: TWINE_USERNAME or __token__)")
    add("--repository-url", default=PYPI_UPLOAD, help="upload URL (default: PyPI)")
    add("--index-url", default="", help="simple API URL (derived for PyPI and TestPyPI)")
    add("-C", "--working-directory", default=".", help="the project folder (default: .)")
    add(
        "--packages-dir",
        default="dist",
        help="where the files go, relative to the project folder (default: dist)",
    )
    add(
        "--build",
        action=on_off,
        default=True,
        help="build the sdist and wheel (--no-build publishes the files already in --packages-dir)",
    )
    add("--verify-metadata", action=on_off, default=True, help="run twine check --strict")
    add(
        "--skip-existing",
        action=on_off,
        default=False,
        help="skip a file whose name the index already has, even if its content differs",
    )
    add("--dry-run", action=on_off, default=False, help="check everything, upload nothing")
    add("--print-hash", action=on_off, default=True, help="show sha256 of each file")
    add("--verbose", action=on_off, default=False, help="show the tools' full output")
    add(
        "--github-release",
        action=on_off,
        default=False,
        help="create the GitHub Release "
        "(token from GITHUB_TOKEN, repository from GITHUB_REPOSITORY)",
    )
    add("--release-notes", default="", help="a file with the release notes")
    add("--debug", action="store_true", help="show tracebacks for unexpected errors")
    return parser
