"""The data that flows, Settings -> Plan -> Result: no behaviour here."""

from __future__ import annotations

import dataclasses
import enum
from typing import TYPE_CHECKING

from packaging.version import Version

from .dists import Dist

if TYPE_CHECKING:
    from .trial import TrialReport


class Action(enum.Enum):
    """What publishing does with one file."""

    UPLOAD = "upload"  # not on the index yet
    PRESENT = "present"  # on the index with the same content
    SKIPPED = "skipped"  # on the index with other content; skip-existing says go on


@dataclasses.dataclass(frozen=True)
class Step:
    """One file and what publishing does with it."""

    dist: Dist
    action: Action
    # The sha256 the index must serve once the run is done.
    expected_sha256: str


@dataclasses.dataclass(frozen=True)
class ReleasePlan:
    """What the GitHub Release will be; checked, nothing created yet."""

    repository: str
    tag: str
    body: str
    notes_source: str
    prerelease: bool
    make_latest: bool
    existing: str  # "", "draft" or "published"
    # A leftover draft's assets and notes that this run did not make are replaced
    # (replace-draft), not refused.
    replace_draft: bool = False


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything checked: what would be published, and where."""

    project: str
    version: Version
    tag: str
    previous: Version | None
    resume: bool
    backport: bool
    steps: list[Step]
    release: ReleasePlan | None
    # The index's upload rules (rules.py) were checked on this many files: the packaging
    # specifications' rules, and PyPI's own policy too when ``pypi_policy``.
    rules_checked: int = 0
    pypi_policy: bool = False
    # What the install trial tried (trial.py); None when it was off or had nothing to try.
    trial: TrialReport | None = None


@dataclasses.dataclass
class ReleaseResult:
    url: str = ""
    id: int = 0


@dataclasses.dataclass
class Result:
    """What a run did, filled in as it goes so a failure still reports the progress."""

    plan: Plan | None = None
    credential: str = ""  # "trusted publishing" or "API token", once one was used
    uploaded: list[str] = dataclasses.field(default_factory=list)
    # File name -> what happened to its attestation ("signed and verified", ...).
    attestations: dict[str, str] = dataclasses.field(default_factory=dict)
    confirmed: bool = False
    release: ReleaseResult = dataclasses.field(default_factory=ReleaseResult)
    # (step, seconds) in the order the steps ended: where the run's time went.
    timings: list[tuple[str, float]] = dataclasses.field(default_factory=list)
    error: BaseException | None = None
