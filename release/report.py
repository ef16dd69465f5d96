"""What a run tells: outputs for later steps, a summary a person reads at a glance (Markdown
in the step summary, an aligned text table in a terminal), and one final line."""

from __future__ import annotations

import html
import json
import re
import textwrap

from .errors import ReleaseError
from .gha import Console, append_summary, write_outputs
from .inputs import render
from .model import Action, Delivery, Destination, Result, Step
from .settings import Settings
from .urls import sanitize_url

STATUS = {
    Action.UPLOAD: "uploaded",
    Action.PRESENT: "already on the index",
    Action.SKIPPED: "skipped: the index has other content (skip-existing)",
}
# The terminal summary keeps to this many columns.
TEXT_WIDTH = 100
MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")
# Every character Markdown (or a browser) may take for a line's end.
LINE_BREAKS = re.compile(r"\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")


def fold(text: str) -> str:
    """Outside text on one line: a line break in a file name or a tag would start a
    heading, a list or a table row of its own in the summary."""
    return LINE_BREAKS.sub(" ", text)


def md(text: str) -> str:
    """Outside text (file names, reasons) as inert Markdown on one line: no links, no
    HTML."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(fold(text), quote=False))


def code(text: str) -> str:
    """Inline code that outside text cannot break out of."""
    return "<code>" + html.escape(fold(text)).replace("|", "&#124;") + "</code>"


def _status(step: Step, delivery: Delivery | None, dry_run: bool) -> str:
    if step.action is Action.UPLOAD:
        if dry_run:
            return "would be uploaded"
        done = delivery is not None and step.dist.filename in delivery.uploaded
        return "uploaded" if done else "not uploaded"
    return STATUS[step.action]


def _delivery(result: Result, n: int) -> Delivery | None:
    return result.deliveries[n] if n < len(result.deliveries) else None


def _file_status(name: str, result: Result, dry_run: bool) -> str:
    """What happened to one file, at each target (named when there are several)."""
    plan = result.plan
    assert plan is not None
    said = []
    for n, dest in enumerate(plan.destinations):
        step = next((s for s in dest.steps if s.dist.filename == name), None)
        status = (
            _status(step, _delivery(result, n), dry_run)
            if step is not None
            else "left out (skip-existing)"
        )
        said.append(status if len(plan.destinations) == 1 else f"index {n + 1}: {status}")
    return "; ".join(said)


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024 or unit == "MiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def headline(result: Result, settings: Settings) -> str:
    """The one line that says how the run ended."""
    plan = result.plan
    assert plan is not None
    head = f"{plan.project} {plan.version}"
    n = len(plan.files)
    many = len(plan.destinations)
    where = f" to {many} indexes" if many > 1 else ""
    if result.error is not None and result.confirmed:
        indexes = "indexes" if many > 1 else "index"
        return f"{head} is on the {indexes}, but the GitHub Release did not finish"
    if result.error is not None:
        done = [d.label for d in result.deliveries if d.confirmed]
        if done:
            missing = [d.target.label for d in plan.destinations[len(done) :]]
            return f"{head} is on {', '.join(done)}, but not on {', '.join(missing)}"
        return f"Release of {head} did not finish ({len(result.uploaded)} of {n} uploaded)"
    if settings.dry_run:
        return f"Dry run: {head} would publish {n} file(s){where}"
    return f"Published {head}: {n} file(s){where}" + (
        f", {len(result.uploaded)} uploaded now" if len(result.uploaded) != n else ""
    )


def _rows(result: Result, settings: Settings) -> list[tuple[str, str]]:
    plan = result.plan
    assert plan is not None
    home = plan.home
    previous = str(home.previous) if home.previous else "none (first release)"
    if len(plan.destinations) == 1:
        indexes = [("Index", sanitize_url(home.target.simple_url))]
    else:
        indexes = [
            (f"Index {n + 1}", _target_cell(dest, _delivery(result, n), settings.dry_run))
            for n, dest in enumerate(plan.destinations)
        ]
    return [
        ("Project", plan.project),
        ("Version", f"{plan.version} (tag {plan.tag})" + (", a backport" if home.backport else "")),
        ("Previous version", previous),
        *indexes,
        ("Credential", result.credential or ("none needed" if settings.dry_run else "none used")),
        (
            "Re-run of an existing version",
            "yes" if any(d.resume for d in plan.destinations) else "no",
        ),
        *([("Upload rules", _rules_cell(result))] if home.rules_checked else []),
        ("GitHub Release", _release_cell(result, settings)),
        *([("Time", _time_cell(result))] if result.timings else []),
    ]


def _target_cell(dest: Destination, delivery: Delivery | None, dry_run: bool) -> str:
    """One of several targets: its index, and how far the release got there."""
    shown = f"{dest.target.label} ({dest.target.credential})"
    count = len(dest.to_upload)
    if dry_run:
        return f"{shown}: " + (f"would get {count} file(s)" if count else "has every file")
    if delivery is None or (not delivery.uploaded and not delivery.confirmed):
        return f"{shown}: not reached"
    if delivery.confirmed:
        return f"{shown}: has the release ({len(delivery.uploaded)} uploaded now)"
    return f"{shown}: not finished ({len(delivery.uploaded)} of {count} uploaded)"


def _time_cell(result: Result) -> str:
    """Each step's time, and the whole run's: the slow step, visible afterwards."""
    total = sum(seconds for _, seconds in result.timings)
    steps = ", ".join(f"{step} {_seconds(seconds)}" for step, seconds in result.timings)
    return f"{_seconds(total)} ({steps})"


def _seconds(seconds: float) -> str:
    from .progress import duration

    return f"{seconds:.1f} s" if seconds < 60 else duration(seconds)


def _rules_cell(result: Result) -> str:
    plan = result.plan
    assert plan is not None
    policies = {d.target.pypi_policy for d in plan.destinations}
    if len(policies) > 1:
        which = "packaging specifications, + PyPI policy where the index is PyPI's"
    elif True in policies:
        which = "packaging specifications + PyPI policy"
    else:
        which = "specifications only"
    return f"{plan.home.rules_checked} file(s) checked, {which}"


def _files(result: Result, settings: Settings) -> list[tuple[str, str, str, str]]:
    plan = result.plan
    assert plan is not None
    return [
        (d.filename, _size(d.size), d.sha256, _file_status(d.filename, result, settings.dry_run))
        for d in plan.files
    ]


def summary_markdown(result: Result, settings: Settings) -> str:
    icon = "🔍" if settings.dry_run else "✅"
    if result.error is not None:
        icon = "⚠️" if result.confirmed else "❌"
    lines = [f"## {icon} {md(headline(result, settings))}", "", "| | |", "|---|---|"]
    for key, value in _rows(result, settings):
        cell = md(value)
        if key == "GitHub Release" and result.release.url and value.startswith(result.release.url):
            link = f"[{md(result.plan.tag if result.plan else '')}]({result.release.url})"
            cell = link + md(value.removeprefix(result.release.url))
        lines.append(f"| {key} | {cell} |")
    lines.append("")
    hashed = settings.print_hash
    attested = bool(result.attestations)
    lines.append(
        "| File | Size |"
        + (" SHA-256 |" if hashed else "")
        + " Status |"
        + (" Attestation |" if attested else "")
    )
    lines.append("|---|---|" + ("---|" if hashed else "") + "---|" + ("---|" if attested else ""))
    for name, size, sha, status in _files(result, settings):
        status = f"**{status}**" if status == "not uploaded" else status
        digest = f" `{sha}` |" if hashed else ""
        attestation = f" {result.attestations.get(name, '')} |" if attested else ""
        lines.append(f"| {code(name)} | {size} |{digest} {status} |{attestation}")
    lines.append("")
    trial = result.plan.trial if result.plan else None
    if trial is not None:
        lines.append(
            f"**Install trial**: {md(trial.python)}, dependencies from {md(trial.index)}, "
            f"{trial.seconds:.1f} s"
        )
        lines += ["", "| File | Result | Tried |", "|---|---|---|"]
        lines += [f"| {code(f)} | {md(r)} | {md(w)} |" for f, r, w in trial.rows()]
        lines.append("")
    if result.error is not None and result.uploaded:
        many = len(result.deliveries) > 1
        done = [
            ", ".join(code(f) for f in d.uploaded) + (f" to {md(d.label)}" if many else "")
            for d in result.deliveries
            if d.uploaded
        ]
        lines.append(
            "Uploaded before the failure: "
            + "; ".join(done)
            + ". Re-run the workflow to finish: nothing is uploaded twice."
        )
        lines.append("")
    return "\n".join(lines)


def summary_text(result: Result, settings: Settings) -> str:
    """The summary for a terminal: aligned columns, no Markdown, at most ``TEXT_WIDTH``
    columns (longer values wrap; a long file name puts the file's details on their own
    line). A word longer than the width (a URL) is never broken."""
    rows = _rows(result, settings)
    width = max(len(k) for k, _ in rows)
    room = TEXT_WIDTH - width - 4
    out = ["Summary:"]
    for key, value in rows:
        wrapped = textwrap.wrap(value, room, break_long_words=False, break_on_hyphens=False)
        out.append(f"  {key.ljust(width)}  {wrapped[0] if wrapped else ''}")
        out += [f"  {'':{width}}  {more}" for more in wrapped[1:]]
    out.append("")
    files = _files(result, settings)
    details = [
        size.rjust(9) + (f"  sha256:{sha[:16]}…" if settings.print_hash else "") + f"  {status}"
        for _, size, sha, status in files
    ]
    name_w = max((len(f[0]) for f in files), default=0)
    if 2 + name_w + 2 + max((len(d) for d in details), default=0) <= TEXT_WIDTH:
        out += [f"  {f[0].ljust(name_w)}  {d}" for f, d in zip(files, details, strict=True)]
    else:
        for f, d in zip(files, details, strict=True):
            out += [f"  {f[0]}", f"    {d.lstrip()}"]
    trial = result.plan.trial if result.plan else None
    if trial is not None:
        out += ["", f"Install trial ({trial.python}, {trial.seconds:.1f} s):"]
        for line in trial.lines():
            wrapped = textwrap.wrap(line, TEXT_WIDTH - 4, break_long_words=False)
            out += [f"  {wrapped[0]}", *(f"    {more}" for more in wrapped[1:])]
    return "\n".join(out)


def _release_cell(result: Result, settings: Settings) -> str:
    plan = result.plan
    assert plan is not None
    if plan.release is None:
        return render("not made ({github-release=false})", settings.front)
    notes = f"notes: {plan.release.notes_source or 'none'}"
    if result.release.url and result.error is None and result.confirmed:
        return f"{result.release.url} ({notes})"
    if settings.dry_run:
        kind = "pre-release" if plan.release.prerelease else "release"
        latest = ", latest" if plan.release.make_latest else ""
        if plan.release.existing:
            return f"the {plan.release.existing} {kind} there would be finished ({notes})"
        return f"would be made: {kind}{latest} ({notes})"
    return "not finished: re-run the workflow to finish it"


def outputs(result: Result) -> dict[str, str]:
    plan = result.plan
    assert plan is not None
    previous = plan.home.previous
    return {
        "version": str(plan.version),
        "tag": plan.tag,
        "previous-version": str(previous) if previous else "",
        "files": json.dumps([d.filename for d in plan.files]),
        "published": "true" if result.confirmed else "false",
        "published-to": json.dumps([d.label for d in result.deliveries if d.confirmed]),
        "credential": result.credential,
        "release-url": result.release.url,
        "release-id": str(result.release.id) if result.release.id else "",
    }


def report(result: Result, settings: Settings, console: Console) -> None:
    """Outputs for later steps, the summary, and the final line."""
    if settings.github_output is not None:
        write_outputs(settings.github_output, outputs(result))
    if settings.step_summary is not None:
        append_summary(settings.step_summary, summary_markdown(result, settings))
    if not settings.actions:
        console.line()
        console.line(summary_text(result, settings))
    elif settings.step_summary is None:
        console.line(summary_markdown(result, settings))
    if result.error is None:
        console.line(headline(result, settings))


def error_markdown(exc: ReleaseError, front: str = "action") -> str:
    message = md(render(exc.message, "action" if front == "action" else "cli"))
    text = f"### ❌ {exc.title}\n\n{message}\n\n`error: {exc.code}`\n"
    if exc.hint:
        text += (
            f"\n**How to fix:** {md(render(exc.hint, 'action' if front == 'action' else 'cli'))}\n"
        )
    return text
