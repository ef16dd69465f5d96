"""Plans made by hand for tests of what reads them (the report, provenance)."""

from __future__ import annotations

from typing import Any

from packaging.version import Version

from release.inputs import API_TOKEN, PYPI_UPLOAD, TOKEN_USER, TRUSTED_PUBLISHING
from release.model import Destination, Plan, Step, Target


def target(upload_url: str = PYPI_UPLOAD, **given: Any) -> Target:
    """A target as Settings makes one; PyPI by default."""
    values: dict[str, Any] = {
        "upload_url": upload_url,
        "simple_url": "https://pypi.org/simple/",
        "label": upload_url,
        "credential": API_TOKEN if given.get("password") else TRUSTED_PUBLISHING,
        "user": TOKEN_USER,
        "password": "",
        "skip_existing": False,
        "pypi_policy": upload_url == PYPI_UPLOAD,
        "max_file_size": None,
        "allow_backport": False,
    }
    values.update(given)
    return Target(**values)


def one_target_plan(
    project: str, version: str, steps: list[Step], previous: str | None = None
) -> Plan:
    """A plan to publish ``steps`` to PyPI alone."""
    dest = Destination(
        target(),
        steps,
        previous=Version(previous) if previous else None,
        resume=False,
        backport=False,
    )
    return Plan(
        project=project,
        version=Version(version),
        tag=f"v{version}",
        destinations=[dest],
        release=None,
    )
