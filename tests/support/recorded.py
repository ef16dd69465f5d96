"""Recorded real data (``tests/data/attestations``: PEP 740 attestations signed by
Sigstore's public instance), and the one-file release the pipeline's provenance steps are
tried on."""

from __future__ import annotations

from pathlib import Path

from release.dists import Dist, read_dist
from release.model import Action, Plan, Step
from release.simple import IndexFile, IndexProject

from .plans import one_target_plan

# In the repository, so that a plain clone has it; its README says where each file came from.
RECORDED = Path(__file__).resolve().parents[1] / "data" / "attestations"
SDIST = RECORDED / "pypi_attestations-0.0.19.tar.gz"


def uploaded_sdist(provenance_url: str) -> tuple[Dist, Plan, IndexProject]:
    """pypi-attestations 0.0.19's recorded sdist as this run's one upload, and the index
    listing it with its provenance at ``provenance_url``."""
    dist = read_dist(SDIST)
    steps = [Step(dist, Action.UPLOAD, dist.sha256)]
    plan = one_target_plan("pypi-attestations", "0.0.19", steps)
    listed = IndexFile(
        dist.filename, "unused", dist.sha256, False, "0.0.19", provenance_url=provenance_url
    )
    return dist, plan, IndexProject(name="pypi-attestations", files=(listed,))
