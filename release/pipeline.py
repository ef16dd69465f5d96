"""run(): plan, publish unless a dry run, and always report.

The rooms: planning.py checks everything it can and returns the Plan; publishing.py
(with provenance.py and assets.py) changes the world from that Plan and the run's
Services alone; report.py tells what happened from the Result.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .gha import Console
from .model import Result
from .planning import Context, plan
from .report import report
from .services import Services
from .settings import Settings

if TYPE_CHECKING:
    from .build import HeadStart


def run(settings: Settings, console: Console, head: HeadStart | None = None) -> int:
    """The whole release. ``head``: the build environment, when __main__ began it."""
    from .publishing import publish

    result = Result()
    with tempfile.TemporaryDirectory(prefix="release-build-") as tmp:
        services = Services.from_settings(settings, console, Path(tmp))
        result.timings = services.timings  # filled in as the steps end
        ctx = Context(settings, services, head)
        try:
            result.plan = plan(ctx)
            if not settings.dry_run:
                publish(result.plan, services, result)
        except BaseException as exc:
            result.error = exc
            raise
        finally:
            try:
                if result.plan is not None:
                    report(result, settings, console)
            finally:
                ctx.close()
                services.close()
    return 0
