"""What the run's steps use that is not data: the console, the private folder, HTTP,
GitHub and the job's OIDC token service. Settings make it once (``from_settings``);
below that, planning reads Settings and publishing reads only the Plan and this."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .gha import Console

if TYPE_CHECKING:
    import requests

    from . import github
    from .settings import Settings


@dataclasses.dataclass(frozen=True)
class OidcRequest:
    """Where the job asks GitHub for its OIDC token (empty: no id-token permission)."""

    url: str = dataclasses.field(repr=False)
    token: str = dataclasses.field(repr=False)
    event_name: str  # what the job runs for: the hints of a refusal depend on it


@dataclasses.dataclass
class Services:
    """The run's shared means; made once, closed at the end of the run."""

    console: Console
    workdir: Path  # private: never packages-dir, so nothing stale is ever published
    oidc: OidcRequest
    github_token: str = dataclasses.field(repr=False)
    github_api_url: str = "https://api.github.com"
    # PyGithub's pause between writes (GitHub asks for one second); tests set 0.
    github_write_interval: float = 1.0
    # (step, seconds), in order: the summary shows where the time went.
    timings: list[tuple[str, float]] = dataclasses.field(default_factory=list)
    _session: requests.Session | None = None
    _github: github.Client | None = None

    @classmethod
    def from_settings(cls, settings: Settings, console: Console, workdir: Path) -> Services:
        s = settings
        return cls(
            console=console,
            workdir=workdir,
            oidc=OidcRequest(s.oidc_request_url, s.oidc_request_token, s.event_name),
            github_token=s.github_token,
            github_api_url=s.github_api_url,
            github_write_interval=s.github_write_interval,
        )

    @property
    def session(self) -> requests.Session:
        """The run's HTTP session for reads, made on first use (by the index read, while
        the build already runs: importing requests takes a tenth of a second)."""
        if self._session is None:
            from .http import make_session

            self._session = make_session()
        return self._session

    def github(self) -> github.Client:
        """The one GitHub client of the run (made on first use: PyGithub is heavy)."""
        if self._github is None:
            from . import github

            self._github = github.client(
                self.github_token, self.github_api_url, self.github_write_interval
            )
        return self._github

    @contextlib.contextmanager
    def timed(self, step: str) -> Iterator[None]:
        """How long ``step`` took, kept for the summary (a failed step too)."""
        start = time.monotonic()
        try:
            yield
        finally:
            self.timings.append((step, time.monotonic() - start))

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
