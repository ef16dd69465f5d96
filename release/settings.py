"""Every input, read and validated once into a frozen Settings.

Two front doors, one table (``inputs.INPUTS``): ``from_action_env`` for the Docker
action (inputs arrive as ``INPUT_<NAME>`` with hyphens kept) and ``from_args`` for
``python -m release``. Checks that need no network run here, so a wrong setup fails in
the first second, before any build. Nothing below this module reads ``os.environ``.
"""

from __future__ import annotations

import dataclasses
import re
import types
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import inputs
from .errors import CredentialError, InputError
from .inputs import API_TOKEN, PYPI_UPLOAD, TOKEN_USER, TRUSTED_PUBLISHING, Front
from .model import Target
from .urls import check_url, sanitize_url, url_credentials
from .versions import tag_from_ref

TESTPYPI_UPLOAD = "https://test.pypi.org/legacy/"
# Where the simple API lives for the indexes whose upload URL we know.
KNOWN_INDEXES = {
    PYPI_UPLOAD: "https://pypi.org/simple/",
    TESTPYPI_UPLOAD: "https://test.pypi.org/simple/",
}

# Variables that hold credentials of the runner itself.
RUNNER_SECRETS = ("GITHUB_TOKEN", "ACTIONS_RUNTIME_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN")
# A variable whose name looks like this holds a credential, whatever the workflow calls
# it (MY_PYPI_TOKEN, NPM_PASSWORD, ...): a build backend has no business seeing it.
SECRET_NAME = re.compile(r"TOKEN|PASSW|SECRET|CREDENTIAL|API_?KEY|PRIVATE_?KEY|AUTH(?!OR)", re.I)
TRUST_CONFIG_VAR = "RELEASE_SIGSTORE_TRUST_CONFIG"
# The runner's file commands and its own services' variables: a child (the build, the
# install trial's command) could set later steps' environment, PATH or outputs through
# them, or mint an upload token with the OIDC request URL and token
# (https://docs.github.com/en/actions/reference/workflow-commands-for-github-actions).
FILE_COMMANDS = (
    "GITHUB_ENV",
    "GITHUB_PATH",
    "GITHUB_OUTPUT",
    "GITHUB_STATE",
    "GITHUB_STEP_SUMMARY",
)
RUNNER_PREFIXES = ("ACTIONS_",)  # ACTIONS_ID_TOKEN_REQUEST_*, ACTIONS_RUNTIME_*, caches
# Values shorter than this are not looked for inside other variables (too common).
MIN_SECRET_LEN = 8
# max-file-size: bytes, or a whole number with a binary unit (PyPI's limits are MiB).
SIZE = re.compile(r"(\d+)\s*(B|KiB|MiB|GiB)?")
SIZE_UNITS = {None: 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


def wants_debug(env: Mapping[str, str], argv: Sequence[str]) -> bool:
    """Debug output (tracebacks): the runner's debug logging or ``--debug``."""
    return env.get("RUNNER_DEBUG") == "1" or "--debug" in argv


def secret_values(env: Mapping[str, str]) -> list[str]:
    """Every secret this run can see, to be masked before anything is printed."""
    names = [inputs.action_key(i.name) for i in inputs.SECRET_INPUTS]
    names += [i.secret_env for i in inputs.SECRET_INPUTS]
    names += list(RUNNER_SECRETS)
    found = [env.get(n, "").strip() for n in names]
    urls = [env.get(inputs.action_key(key), "") for key in ("repository-url", "index-url")]
    for url in [*urls, env.get("TWINE_REPOSITORY_URL", "")]:
        user, password = url_credentials(url.strip())
        # A user name alone is the credential (a token as user: Gemfury, GitLab).
        found.append(password or user)
    return [s for s in dict.fromkeys(found) if s]


def child_environment(env: Mapping[str, str], secrets: Sequence[str]) -> dict[str, str]:
    """The environment for build backends and tools: no input, no credential, none of
    the runner's file commands or services.

    Inputs (``INPUT_*``) go (a password can hide in any of them, e.g. a URL), and so
    does every variable named like a credential or holding a secret's value. What builds
    need stays: PATH, HOME, proxies, CA bundles, PIP_*/UV_* settings, compiler flags.
    """
    long_secrets = [s for s in secrets if len(s) >= MIN_SECRET_LEN]
    return {
        k: v
        for k, v in env.items()
        if not k.startswith("INPUT_")
        and k not in FILE_COMMANDS
        and not k.startswith(RUNNER_PREFIXES)
        and not SECRET_NAME.search(k)
        and v not in secrets
        and not any(s in v for s in long_secrets)
    }


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """What one run was asked to do."""

    front: Front
    prog: str
    password: str = dataclasses.field(repr=False)
    user: str
    # The indexes to publish to, in order (repository-url's lines, with index-url's).
    targets: tuple[Target, ...]
    tag: str
    tag_prefix: str
    working_directory: Path
    packages_dir: Path
    build: bool
    verify_metadata: bool
    skip_existing: bool
    allow_backport: bool
    allow_dirty: bool
    dry_run: bool
    print_hash: bool
    verbose: bool
    debug: bool
    github_output: Path | None
    step_summary: Path | None
    github_release: bool
    github_token: str = dataclasses.field(repr=False)
    github_api_url: str
    github_repository: str
    github_sha: str
    # The workspace root: release notes, changelog and packages-dir must stay inside it.
    workspace: Path | None
    release_notes: Path | None
    # Trusted publishing: where the job's OIDC token can be asked for (empty: no
    # id-token permission), and what the job runs for.
    oidc_request_url: str = dataclasses.field(repr=False)
    oidc_request_token: str = dataclasses.field(repr=False)
    event_name: str
    # The workflow file this job runs (GITHUB_WORKFLOW_REF), for the attestation identity.
    workflow_ref: str
    attestations: bool
    # A Sigstore client trust config (a private Sigstore, or the tests' stand-in); None
    # means Sigstore's public instance. RELEASE_SIGSTORE_TRUST_CONFIG, not an input.
    sigstore_trust_config: Path | None
    # PyGithub's pause between writes (GitHub asks for one second); tests set 0.
    github_write_interval: float
    # The environment for child processes, with every secret removed.
    child_env: Mapping[str, str] = dataclasses.field(repr=False)
    # Every input's value by its Python name (secrets left out), as read from the
    # table: an input the code reads only in one place needs no field of its own.
    inputs: Mapping[str, object] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def actions(self) -> bool:
        """Running as the action (workflow commands) rather than from a terminal."""
        return self.front == "action"

    @property
    def repository_url(self) -> str:
        """The first target's upload URL (the only one's, most of the time)."""
        return self.targets[0].upload_url

    @property
    def index_url(self) -> str:
        """The first target's simple API."""
        return self.targets[0].simple_url

    @property
    def trusted_publishing(self) -> bool:
        """No password: the upload token is minted from the job's OIDC identity."""
        return not self.password and self.user == TOKEN_USER

    @property
    def credential_kind(self) -> str:
        return TRUSTED_PUBLISHING if self.trusted_publishing else API_TOKEN

    @property
    def test_timeout(self) -> float:
        """test-timeout in seconds: a positive number."""
        raw = str(self.inputs.get("test_timeout", "300")).strip()
        try:
            seconds = float(raw)
        except ValueError:
            seconds = 0.0
        if not 0 < seconds < float("inf"):
            raise InputError(
                "test-timeout-invalid",
                f"{{test-timeout}} '{raw}' is not a number of seconds.",
                "Give the seconds the install trial may take, e.g. {test-timeout=600}.",
            )
        return seconds

    @classmethod
    def from_action_env(cls, env: Mapping[str, str]) -> Settings:
        """Read the inputs the runner passes to a Docker action."""
        return cls._make(inputs.from_action_env(env), env, front="action", prog="the action")

    @classmethod
    def from_args(
        cls, argv: Sequence[str], env: Mapping[str, str], prog: str = "python -m release"
    ) -> Settings:
        """Read ``python -m release`` flags; secrets come only from the environment."""
        values = inputs.from_args(argv, env, prog)
        return cls._make(values, env, front="cli", prog=prog)

    @classmethod
    def _make(
        cls, values: dict[str, object], env: Mapping[str, str], *, front: Front, prog: str
    ) -> Settings:
        v = dict(values)
        debug = bool(v.pop("debug", False)) or wants_debug(env, ())
        workdir = Path(str(v.pop("working_directory")) or ".")
        if not workdir.is_dir():
            raise InputError(
                "working-directory-missing",
                f"working-directory '{workdir}' is not a directory.",
                "Set {working-directory} to the folder that holds pyproject.toml, "
                "relative to the repository root.",
            )
        password = str(v.get("password", ""))
        targets = make_targets(
            str(v.pop("repository_url")),
            str(v.pop("index_url")),
            user=str(v["user"]),
            password=password,
            skip_existing=bool(v["skip_existing"]),
            allow_backport=bool(v["allow_backport"]),
            pypi_rules=str(values.get("pypi_rules", "auto")),
            max_file_size=parse_size(str(values.get("max_file_size", ""))),
        )
        notes = str(v.pop("release_notes"))
        output = env.get("GITHUB_OUTPUT", "")
        summary = env.get("GITHUB_STEP_SUMMARY", "")
        workspace = env.get("GITHUB_WORKSPACE", "") if front == "action" else ""
        secrets = secret_values(env)
        hidden = {i.dest for i in inputs.SECRET_INPUTS}
        given = {k: x for k, x in values.items() if k not in hidden}
        typed = {f.name for f in dataclasses.fields(cls)}
        v = {k: x for k, x in v.items() if k in typed}
        settings = cls(
            front=front,
            prog=prog,
            debug=debug,
            working_directory=workdir,
            packages_dir=workdir / (str(v.pop("packages_dir")) or "dist"),
            targets=targets,
            tag=tag_from_ref(str(v.pop("tag")), env.get("GITHUB_REF", "")),
            release_notes=workdir / notes if notes else None,
            github_output=Path(output) if output else None,
            step_summary=Path(summary) if summary else None,
            github_api_url=env.get("GITHUB_API_URL", "") or "https://api.github.com",
            github_repository=env.get("GITHUB_REPOSITORY", ""),
            github_sha=env.get("GITHUB_SHA", ""),
            workspace=Path(workspace) if workspace else None,
            oidc_request_url=env.get("ACTIONS_ID_TOKEN_REQUEST_URL", ""),
            oidc_request_token=env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN", ""),
            event_name=env.get("GITHUB_EVENT_NAME", ""),
            workflow_ref=env.get("GITHUB_WORKFLOW_REF", ""),
            sigstore_trust_config=Path(trust) if (trust := env.get(TRUST_CONFIG_VAR)) else None,
            github_write_interval=float(env.get("RELEASE_GITHUB_WRITE_INTERVAL", "1") or 0),
            child_env=child_environment(env, secrets),
            inputs=types.MappingProxyType(given),
            **v,  # type: ignore[arg-type]
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        """What can be known wrong without I/O fails now, before any build."""
        self.test_timeout  # noqa: B018
        if command := str(self.inputs.get("test_command", "")):
            from .trial import parse_command

            parse_command(command)
        if self.github_release and not self.github_token:
            raise InputError(
                "github-token-missing",
                "{github-release} is true, but {github-token} is empty.",
                "Leave github-token at its default (${{ github.token }}) and give the job "
                "'permissions: contents: write', or set {github-release=false}."
                if self.actions
                else "Set GITHUB_TOKEN, or leave out --github-release.",
            )
        if self.dry_run or self.password:
            return
        from .credentials import check_oidc_available, password_missing

        if not self.trusted_publishing:
            raise password_missing(self.user)
        if not self.actions:
            raise CredentialError(
                "trusted-publishing-outside-actions",
                "No password for the index: TWINE_PASSWORD is not set.",
                "Set TWINE_PASSWORD to an API token for the index. (Trusted publishing "
                "works only inside GitHub Actions, where the job has an OIDC identity.)",
            )
        check_oidc_available(
            self.oidc_request_url,
            self.oidc_request_token,
            event_name=self.event_name,
            # Without a token on a pull request, the cause is a fork: same-repository
            # pull requests get tokens when the job asks for them.
            fork_pr=self.event_name == "pull_request",
        )


def parse_size(text: str) -> int | None:
    """A file size from max-file-size: ``104857600``, ``200MiB``, ``1 GiB``; '' is None."""
    if not text:
        return None
    m = SIZE.fullmatch(text)
    size = int(m.group(1)) * SIZE_UNITS[m.group(2)] if m else 0
    if size <= 0:
        raise InputError(
            "max-file-size-invalid",
            f"{{max-file-size}} '{text}' is not a file size.",
            "Give a whole number of bytes (209715200) or of KiB, MiB or GiB (200MiB), as "
            "the index states the project's limit; leave it empty for PyPI's 100 MiB.",
        )
    return size


def lines(text: str) -> list[str]:
    """An input's lines, stripped, the empty ones left out."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def make_targets(
    repository_urls: str,
    index_urls: str,
    *,
    user: str,
    password: str,
    skip_existing: bool,
    allow_backport: bool,
    pypi_rules: str,
    max_file_size: int | None,
) -> tuple[Target, ...]:
    """The indexes to publish to, in order: one per line of repository-url, each with
    the line of index-url at its place (or its known simple API), and its credential:
    trusted publishing when no password is given, else the token on the password's line
    at the same place (an API token names one index), and the user name on its line
    (or the one given for all)."""
    uploads = lines(repository_urls)
    if len(uploads) <= 1:
        uploads = [repository_urls.strip()]  # one URL, checked as it is
    simple = lines(index_urls)
    if simple and len(simple) != len(uploads):
        raise InputError(
            "index-url-count",
            f"{{index-url}} has {len(simple)} line(s) for the {len(uploads)} indexes in "
            "{repository-url}.",
            "Give one simple API URL per upload URL, in the same order, or leave "
            "{index-url} empty when every index is PyPI or TestPyPI.",
        )
    repeated = sorted({u for u in uploads if uploads.count(u) > 1})
    if repeated:
        raise InputError(
            "repository-url-repeated",
            f"{{repository-url}} names {sanitize_url(repeated[0])} more than once.",
            "List each index once, in the order to publish to them.",
        )
    users = [user] if len(uploads) == 1 else lines(user) or [user]
    if len(users) not in (1, len(uploads)):
        raise InputError(
            "user-count",
            f"{{user}} has {len(users)} lines for the {len(uploads)} indexes in "
            "{repository-url}.",
            "Give one user name for every index, or one per line in the order of {repository-url}.",
        )
    tokens = [password] if len(uploads) == 1 else lines(password)
    if len(uploads) > 1 and tokens and len(tokens) != len(uploads):
        raise InputError(
            "password-count",
            f"{{password}} holds {len(tokens)} token(s) for the {len(uploads)} indexes in "
            "{repository-url}.",
            "An API token is good for one index: give one per line, in the order of "
            "{repository-url}; or leave {password} empty to use trusted publishing for all.",
        )
    targets = []
    for n, upload in enumerate(uploads):
        index = derive_index_url(upload, simple[n] if simple else "")
        token = tokens[n] if tokens else ""
        name = users[n] if len(users) > 1 else users[0]
        known = upload.rstrip("/") + "/" in KNOWN_INDEXES
        targets.append(
            Target(
                upload_url=upload,
                simple_url=index,
                label=sanitize_url(upload),
                credential=API_TOKEN if token or name != TOKEN_USER else TRUSTED_PUBLISHING,
                user=name,
                password=token,
                skip_existing=skip_existing,
                pypi_policy=known if pypi_rules == "auto" else pypi_rules == "true",
                max_file_size=max_file_size,
                allow_backport=allow_backport,
            )
        )
    return tuple(targets)


def derive_index_url(repository_url: str, index_url: str) -> str:
    """The simple API to read: given, or known for PyPI and TestPyPI."""
    if not repository_url.startswith(("https://", "http://")):
        raise InputError(
            "repository-url-not-http",
            f"{{repository-url}} '{sanitize_url(repository_url)}' is not an http(s) URL.",
            f"Use the index's upload URL, for example {PYPI_UPLOAD}",
        )
    check_url("repository-url", repository_url, PYPI_UPLOAD)
    if index_url:
        if not index_url.startswith(("https://", "http://")):
            raise InputError(
                "index-url-not-http",
                f"{{index-url}} '{sanitize_url(index_url)}' is not an http(s) URL.",
                "Use the index's simple API URL, for example https://pypi.org/simple/",
            )
        check_url("index-url", index_url, KNOWN_INDEXES[PYPI_UPLOAD])
        return index_url.rstrip("/") + "/"
    known = KNOWN_INDEXES.get(repository_url.rstrip("/") + "/")
    if known is None:
        raise InputError(
            "index-url-missing",
            f"{{index-url}} is required for the custom {{repository-url}} "
            f"'{sanitize_url(repository_url)}'.",
            "Set {index-url} to that index's simple API (for a pypiserver "
            "'https://HOST/simple/', for devpi 'https://HOST/USER/INDEX/+simple/'): "
            "the action reads it to check versions before uploading.",
        )
    return known
