"""The data that flows, Settings -> Plan -> Result: no behaviour here.

``Plan`` is the contract between checking and publishing: ``publish(plan, services)``
reads everything it does from it (each target's index, credential and files, what to
attest, the GitHub Release) and nothing from Settings.
"""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import TYPE_CHECKING

from .inputs import TRUSTED_PUBLISHING

if TYPE_CHECKING:
    from packaging.version import Version

    from .dists import Dist
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


@dataclasses.dataclass(frozen=True, kw_only=True)
class Target:
    """One index the release goes to: where to upload, where to read, with what."""

    upload_url: str
    simple_url: str
    label: str  # the index as the log and the summary name it (no credentials)
    credential: str  # inputs.TRUSTED_PUBLISHING or inputs.API_TOKEN
    user: str
    password: str = dataclasses.field(repr=False)  # an API token; '' for trusted publishing
    skip_existing: bool
    # The index's upload rules: PyPI's own policy too, or the specifications' alone.
    pypi_policy: bool
    max_file_size: int | None
    allow_backport: bool

    @property
    def trusted_publishing(self) -> bool:
        """The upload token is minted from the job's OIDC identity (no password, user
        __token__), as ``credential`` says."""
        return self.credential == TRUSTED_PUBLISHING


@dataclasses.dataclass(frozen=True)
class Destination:
    """A target and what the plan found there: the version gate's verdict, and what
    publishing does with each file."""

    target: Target
    steps: list[Step]
    previous: Version | None
    resume: bool
    backport: bool
    # The index's upload rules (rules.py) were checked on this many files.
    rules_checked: int = 0

    @property
    def to_upload(self) -> list[Step]:
        return [step for step in self.steps if step.action is Action.UPLOAD]


@dataclasses.dataclass(frozen=True)
class Attesting:
    """What signing PEP 740 attestations needs, when the run signs them."""

    # A Sigstore client trust config; None means Sigstore's public instance.
    trust_config: Path | None
    # The publisher expected when the job's token does not say (a re-run's carried
    # attestations): the repository and its workflow file's ref.
    repository: str
    workflow_ref: str


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
    """Everything checked: what would be published, and where, in order."""

    project: str
    version: Version
    tag: str
    destinations: list[Destination]
    release: ReleasePlan | None
    # None: no attestations (the input is off, or no target uses trusted publishing).
    attesting: Attesting | None = None
    # What the install trial tried (trial.py); None when it was off or had nothing to try.
    trial: TrialReport | None = None

    @property
    def home(self) -> Destination:
        """The last target: the index the GitHub Release's files are taken from (list
        TestPyPI before PyPI)."""
        return self.destinations[-1]

    @property
    def files(self) -> list[Dist]:
        return [step.dist for step in self.destinations[0].steps]


@dataclasses.dataclass
class ReleaseResult:
    url: str = ""
    id: int = 0


@dataclasses.dataclass
class Delivery:
    """What publishing did at one target."""

    label: str
    credential: str = ""  # the kind used, once one was
    uploaded: list[str] = dataclasses.field(default_factory=list)
    confirmed: bool = False  # the index serves every file with the expected sha256
    # File name -> what the index's PEP 740 provenance showed, where it serves one.
    provenance: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Result:
    """What a run did, filled in as it goes so a failure still reports the progress."""

    plan: Plan | None = None
    deliveries: list[Delivery] = dataclasses.field(default_factory=list)
    # File name -> what happened to its attestation ("signed and verified", ...).
    attestations: dict[str, str] = dataclasses.field(default_factory=dict)
    release: ReleaseResult = dataclasses.field(default_factory=ReleaseResult)
    # (step, seconds) in the order the steps ended: where the run's time went.
    timings: list[tuple[str, float]] = dataclasses.field(default_factory=list)
    error: BaseException | None = None

    @property
    def uploaded(self) -> list[str]:
        """Every file uploaded by this run, once, whatever the target."""
        return list(dict.fromkeys(f for d in self.deliveries for f in d.uploaded))

    @property
    def confirmed(self) -> bool:
        """Every target serves the release."""
        if self.plan is None or len(self.deliveries) != len(self.plan.destinations):
            return False
        return all(d.confirmed for d in self.deliveries)

    @property
    def credential(self) -> str:
        """The credential kinds used, in order of the targets."""
        return ", ".join(dict.fromkeys(d.credential for d in self.deliveries if d.credential))
