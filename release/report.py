"""What a run tells: outputs for later steps, and a summary a person reads at a glance."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from . import index as idx
from .errors import ReleaseError
from .gha import Console, append_summary, write_outputs
from .settings import Settings
from .upload import PRESENT, SKIPPED, UPLOAD, Step

if TYPE_CHECKING:
    from .pipeline import Result


STATUS = {
    UPLOAD: "uploaded",
    PRESENT: "already on the index",
    SKIPPED: "skipped: the index has other content (skip-existing)",
}


def _status(step: Step, result: Result, dry_run: bool) -> str:
    if step.action == UPLOAD:
        if dry_run:
            return "would be uploaded"
        return "uploaded" if step.dist.filename in result.uploaded else "**not uploaded**"
    return STATUS[step.action]


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024 or unit == "MiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def summary_markdown(result: Result, settings: Settings) -> str:
    plan = result.plan
    assert plan is not None
    head = f"{plan.project} {plan.version}"
    if result.error is not None and result.confirmed:
        title = f"⚠️ {head} is on the index, but the GitHub Release did not finish"
    elif result.error is not None:
        title = f"❌ Release of {head} did not finish"
    elif settings.dry_run:
        title = f"🔍 Dry run: {head} is ready to publish"
    else:
        title = f"✅ Published {head}"
    previous = str(plan.previous) if plan.previous else "none (first release)"
    lines = [
        f"## {title}",
        "",
        "| | |",
        "|---|---|",
        f"| Project | `{plan.project}` |",
        f"| Version | `{plan.version}` (tag `{plan.tag}`) |",
        f"| Previous version | {previous} |",
        f"| Index | {idx.sanitize_url(settings.index_url)} |",
        f"| Re-run of an existing version | {'yes' if plan.resume else 'no'} |",
        f"| GitHub Release | {_release_cell(result, settings)} |",
        "",
    ]
    hashed = settings.print_hash
    lines.append("| File | Size |" + (" SHA-256 |" if hashed else "") + " Status |")
    lines.append("|---|---|" + ("---|" if hashed else "") + "---|")
    for step in plan.steps:
        d = step.dist
        sha = f" `{d.sha256}` |" if hashed else ""
        lines.append(
            f"| `{d.filename}` | {_size(d.size)} |{sha} {_status(step, result, settings.dry_run)} |"
        )
    lines.append("")
    if result.error is not None and result.uploaded:
        lines.append(
            "Uploaded before the failure: "
            + ", ".join(f"`{f}`" for f in result.uploaded)
            + ". Re-run the workflow to finish: nothing is uploaded twice."
        )
        lines.append("")
    return "\n".join(lines)


def _release_cell(result: Result, settings: Settings) -> str:
    plan = result.plan
    assert plan is not None
    if plan.release is None:
        return "not made (github-release: false)"
    notes = f"notes: {plan.release.notes_source or 'none'}"
    if result.release.url and result.error is None and result.confirmed:
        return f"[{plan.tag}]({result.release.url}) ({notes})"
    if settings.dry_run:
        kind = "pre-release" if plan.release.prerelease else "release"
        latest = ", latest" if plan.release.make_latest else ""
        if plan.release.existing:
            return f"the {plan.release.existing} {kind} there would be finished ({notes})"
        return f"would be made: {kind}{latest} ({notes})"
    return "**not finished**: re-run the workflow to finish it"


def outputs(result: Result) -> dict[str, str]:
    plan = result.plan
    assert plan is not None
    return {
        "version": str(plan.version),
        "tag": plan.tag,
        "previous-version": str(plan.previous) if plan.previous else "",
        "files": json.dumps([s.dist.filename for s in plan.steps]),
        "published": "true" if result.confirmed else "false",
        "release-url": result.release.url,
        "release-id": str(result.release.id) if result.release.id else "",
    }


def report(result: Result, settings: Settings, console: Console) -> None:
    """Outputs for later steps, and a summary a person reads at a glance."""
    markdown = summary_markdown(result, settings)
    if settings.github_output is not None:
        write_outputs(settings.github_output, outputs(result))
    if settings.step_summary is not None:
        append_summary(settings.step_summary, markdown)
    if not settings.actions or settings.step_summary is None:
        console.line()
        console.line(markdown)


def error_markdown(exc: ReleaseError) -> str:
    text = f"### ❌ {exc.title}\n\n{exc.message}\n"
    if exc.hint:
        text += f"\n**How to fix:** {exc.hint}\n"
    return text
