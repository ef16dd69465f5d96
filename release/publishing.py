"""publish(plan, services): the only code that changes the world, and safe to run again.
It reads the Plan and the run's Services, never Settings.

The order, for targets T1..Tn (repository-url's lines):
1. each target's index is read again and gated (it may have moved since the plan), and
   each target that has files to take gets its credential: a trusted-publishing token
   is minted now, so a refusal at any target stops the run before the first byte;
2. the attestations are signed once, for every file any trusted-publishing target takes
   (provenance.py), and verified;
3. target by target, in order: gated again (signing takes a while), the missing files
   uploaded, then confirmed (the index serves each with the expected sha256), then its
   provenance checked. A failure stops before the next target: the targets before it
   have the release, and a re-run uploads nothing to them (their files are present);
4. the GitHub Release, from the last target's files (assets.py).

Every thread and lock of a run, in the order they start:
- __main__ begins the build environment on a thread of its own (build.HeadStart) while
  the pipeline's modules import; the build takes it over, nothing else touches it.
- planning.alongside: the build on one thread while this one reads the indexes; then the
  install trial on one thread while this one asks GitHub (the trial's log is held back
  by Console.deferred, so whole groups never interleave). Each side owns what it makes;
  a failure on this side cancels the other (proc.Cancel) and waits for it.
- dists.read_dists hashes the files on two threads while this one reads their metadata.
- attest.sign signs on up to four threads, each owning its Sigstore context, key and
  certificate; identity() (the job's OIDC token) is asked for under one lock.
- upload.Uploader sends up to four files at once (one wheel alone first, the sdist last),
  each thread with an HTTP session of its own; the files are only read. They share the
  target's credential source, which renews itself under its own lock
  (credentials.TrustedPublishing), and the run's retry budget (http.RetryBudget, locked).
- progress.Watchdog: a timer thread that only prints, while a slow step runs.
Console writes are whole lines under the console's own lock. Nothing else is shared.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from .model import Action, Delivery, Destination, Plan, Result, Step
from .services import Services
from .urls import sanitize_url

if TYPE_CHECKING:
    import requests

    from .credentials import CredentialSource
    from .dists import Dist
    from .simple import IndexFile, IndexProject


def publish(plan: Plan, services: Services, result: Result) -> None:
    """Every target gets the files (uploaded if missing, then confirmed), in order; then
    the GitHub Release."""
    from . import assets, provenance

    result.deliveries = [Delivery(d.target.label) for d in plan.destinations]
    with services.timed("credential"):
        destinations = [regate(services, plan, d) for d in plan.destinations]
        plan = result.plan = dataclasses.replace(plan, destinations=destinations)
        sources = [
            upload_credential(services, plan, d) if d.to_upload else None for d in destinations
        ]
    with services.timed("attestations"):
        signed = provenance.attest_files(services, plan, sources, result)
    for n, source in enumerate(sources):
        dest = plan.destinations[n]
        if signed is not None:
            # Signing took a while (Sigstore, the transparency log): the index may have
            # moved meanwhile, so gate again right before the first upload byte.
            dest = regate(services, plan, dest)
            destinations = [*plan.destinations[:n], dest, *plan.destinations[n + 1 :]]
            plan = result.plan = dataclasses.replace(plan, destinations=destinations)
        deliver(services, plan, n, dest, source, signed, result)
    if plan.release is not None:
        with services.timed("GitHub Release"):
            assets.github_release(services, plan, result, signed)


def deliver(
    services: Services,
    plan: Plan,
    n: int,
    dest: Destination,
    source: CredentialSource | None,
    signed: provenance.Signed | None,
    result: Result,
) -> None:
    """Target ``n``: upload what it lacks, confirm it serves every file, check its
    provenance; its Delivery in ``result`` says how far it got."""
    from . import provenance
    from .upload import Uploader, confirm

    console = services.console
    target = dest.target
    delivery = result.deliveries[n]
    many = len(plan.destinations) > 1
    at = f" at {target.label}" if many else ""
    which = f" (index {n + 1})" if many else ""  # the summary's Time row: short
    delivery.credential = target.credential if source is not None else ""

    def current(valid_for: float = 0.0) -> tuple[str, str]:
        if source is None:
            return "", ""
        # A minted token is minted again near its expiry, or when the upload may outlast
        # it; the upload threads share the source, which guards itself with its own lock.
        cred = source.credential(valid_for)
        return cred.user, cred.password

    uploader = Uploader(
        repository_url=target.upload_url,
        credential=current,
        session=services.session,
        read_index=lambda session: fresh(services, plan, dest, session),
        console=console,
    )
    to_upload = dest.to_upload
    with (
        services.timed(f"upload{which}"),
        console.group(f"Upload {len(to_upload)} file(s) to {sanitize_url(target.upload_url)}"),
    ):
        for step in dest.steps:
            if step.action is not Action.UPLOAD:
                console.line(f"{step.dist.filename}: already on the index, not uploaded")

        def uploaded(dist: Dist) -> None:
            console.line(f"{dist.filename}: uploaded{at}")
            delivery.uploaded.append(dist.filename)

        attesting = signed is not None and target.trusted_publishing
        files = []
        for step in to_upload:
            attestation = signed.files.get(step.dist.filename) if signed and attesting else None
            files.append((step.dist, [attestation] if attestation else []))
        uploader.upload_all(files, uploaded)
    with services.timed(f"confirm{which}"):
        confirm(dest.steps, lambda: fresh(services, plan, dest), services.session)
    delivery.confirmed = True
    if signed is not None and attesting:
        from . import index as idx

        with services.timed(f"provenance{which}"):
            with idx.after_upload():  # its errors must not say nothing was uploaded
                project = fresh(services, plan, dest)
            provenance.confirm_provenance(services, plan, dest, project, signed, result, delivery)


def fresh(
    services: Services, plan: Plan, dest: Destination, session: requests.Session | None = None
) -> IndexProject:
    """The target's project page, read past every cache (through ``session``: an upload
    thread's own; else the run's)."""
    from . import index as idx

    session = services.session if session is None else session
    return idx.read_project(session, dest.target.simple_url, plan.project, fresh=True)


def regate(services: Services, plan: Plan, dest: Destination) -> Destination:
    """The index may have moved since the plan read it (a concurrent run, a stale cached
    page): gate again on a fresh read, and decide again what to upload."""
    from .index import judge

    project = fresh(services, plan, dest)
    target = dest.target
    verdict = judge(target, project, plan.version, plan.tag)
    steps = dest.steps
    if not _still_decided(steps, project.files_for(plan.version), target.skip_existing):
        from .upload import decide

        steps = decide(
            [step.dist for step in steps],
            project,
            plan.version,
            skip_existing=target.skip_existing,
            session=services.session,
            console=services.console,
        )
    return dataclasses.replace(
        dest,
        steps=steps,
        resume=verdict.resume,
        previous=verdict.previous,
        backport=verdict.backport,
    )


def _still_decided(steps: list[Step], on_index: dict[str, IndexFile], skip_existing: bool) -> bool:
    """Whether decide() would make these steps again: the index lists this version's
    files as when they were decided (no file more, and each with the same sha256).
    Saves downloading again a file whose bytes differ from this run's."""
    ours = {step.dist.filename: step for step in steps}
    if not skip_existing and not on_index.keys() <= ours.keys():
        return False
    for name, step in ours.items():
        entry = on_index.get(name)
        if step.action is Action.UPLOAD:
            if entry is not None:
                return False
        elif entry is None or entry.sha256 is None or entry.sha256 != step.expected_sha256:
            return False
    return True


def upload_credential(services: Services, plan: Plan, dest: Destination) -> CredentialSource:
    """The target's upload credential, asked for only now that the plan is complete; a
    minted token is minted now, so a refusal stops the run before anything is signed or
    sent."""
    from .credentials import upload_credentials

    target = dest.target
    oidc = services.oidc
    source = upload_credentials(
        user=target.user,
        password=target.password,
        repository_url=target.upload_url,
        request_url=oidc.url,
        request_token=oidc.token,
        project=plan.project,
        event_name=oidc.event_name,
        fork_pr=oidc.event_name == "pull_request",
        session=services.session,
        console=services.console,
    )
    source.credential()
    return source


if TYPE_CHECKING:
    from . import provenance
