"""PEP 740 attestations in publishing: signed once for every file a trusted-publishing
target takes, verified before the first upload; the index's provenance verified after;
and, for a re-run's GitHub Release, the attestations of files an earlier run uploaded
taken from the index's provenance."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from .model import Delivery, Destination, Plan, Result
from .progress import Watchdog
from .services import Services

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sigstore.models import ClientTrustConfig

    from . import attest, github
    from .credentials import CredentialSource
    from .simple import IndexProject


@dataclasses.dataclass(frozen=True)
class Signed:
    """Attestations made by this run, and what they were verified against."""

    files: dict[str, Path]  # distribution file name -> its attestation
    publisher: attest.Publisher
    config: ClientTrustConfig


def attest_files(
    services: Services,
    plan: Plan,
    sources: Sequence[CredentialSource | None],
    result: Result,
) -> Signed | None:
    """Sign a PEP 740 publish attestation for each file a trusted-publishing target
    takes, and verify it against the identity the index will expect, before anything
    is uploaded; once, whatever the number of targets.

    Only with trusted publishing: an index refuses attestations sent with an API token.
    The attestations go to the run's private folder, never to packages-dir.
    """
    from .credentials import TrustedPublishing, unverified_claims, workflow_file

    attesting = plan.attesting
    wanted: dict[str, None] = {}
    signable: dict[str, None] = {}
    trusted = None
    for dest, source in zip(plan.destinations, sources, strict=True):
        names = [step.dist.filename for step in dest.to_upload]
        wanted.update(dict.fromkeys(names))
        if isinstance(source, TrustedPublishing):
            signable.update(dict.fromkeys(names))
            trusted = trusted or source
    if attesting is None or not wanted:
        return None
    for name in wanted.keys() - signable.keys():
        result.attestations[name] = "not signed (API token)"
    if trusted is None:
        services.console.notice(
            "Attestations are signed only with trusted publishing (an index refuses them "
            "with an API token): skipped.",
            title="No attestations",
        )
        return None
    from . import attest

    console = services.console
    dists = [step.dist for step in plan.destinations[0].steps if step.dist.filename in signable]
    with console.group(f"Sign and verify {len(dists)} attestation(s) with Sigstore"):
        token = trusted.oidc_token("sigstore")  # masked as it arrives
        claims = unverified_claims(token)
        publisher = attest.Publisher(
            repository=str(claims.get("repository", attesting.repository)),
            workflow=workflow_file(str(claims.get("job_workflow_ref") or attesting.workflow_ref)),
            environment=str(claims["environment"]) if claims.get("environment") else None,
        )
        config = attest.trust_config(attesting.trust_config)
        outdir = services.workdir / ".attestations"  # private, and never taken for a dist
        spare = [token]

        def identity() -> str:
            """A token for each signing certificate: the one read above first, then a
            fresh one each time (a certificate near its end is replaced; the workers
            each have their own). Called by one signing thread at a time."""
            return spare.pop() if spare else trusted.oidc_token("sigstore")  # masked

        # Sigstore's certificate and transparency log can be slow to answer: a line
        # every SILENCE seconds says signing still runs.
        with Watchdog(console, f"Signing {len(dists)} attestation(s) with Sigstore"):
            paths = attest.sign([d.path for d in dists], identity, outdir=outdir, config=config)
        for dist, path in zip(dists, paths, strict=True):
            attest.verify(path, dist.path, publisher, config=config)
            console.line(f"{path.name}: signed, verified for {publisher.describe()}")
            result.attestations[dist.filename] = "signed and verified"
    files = {d.filename: p for d, p in zip(dists, paths, strict=True)}
    return Signed(files, publisher, config)


def confirm_provenance(
    services: Services,
    plan: Plan,
    dest: Destination,
    project: IndexProject,
    signed: Signed,
    result: Result,
    delivery: Delivery,
) -> None:
    """Where the target's index (its page after the upload: ``project``) serves PEP 740
    provenance, it must verify for this file and publisher."""
    from . import attest
    from . import index as idx

    listed = {f.filename: f for f in project.files}
    home = dest.target == plan.home.target
    for step in dest.steps:
        name = step.dist.filename
        entry = listed.get(name)
        url = entry.provenance_url if entry else None
        if name not in signed.files:
            continue
        if not url:
            said = "signed and verified; the index serves no provenance"
        else:
            body = idx.read_provenance(services.session, name, url)
            attest.verify_provenance(body, step.dist.path, signed.publisher, config=signed.config)
            said = "signed, verified, and the index's provenance verified"
        delivery.provenance[name] = said
        if home:  # the summary's column speaks of the index the release points to
            result.attestations[name] = said


def carry_attestations(
    services: Services,
    plan: Plan,
    files: list[github.Asset],
    listing: Callable[[], IndexProject],
    signed: Signed | None,
    result: Result,
) -> list[Path]:
    """The attestations of files an earlier run uploaded (this run signed none for
    them), taken from the index's PEP 740 provenance and verified against the file and
    the publisher, so that a re-run's release carries them as the first run's would."""
    home = plan.home
    uploaded_here = set(result.uploaded) & set(signed.files if signed else ())
    wanted = []
    for step, asset in zip(home.steps, files, strict=True):
        name = step.dist.filename
        if name in uploaded_here:
            continue
        entry = listing().files_for(plan.version).get(name)
        if entry is not None and entry.provenance_url:
            wanted.append((name, asset.path, entry.provenance_url))
    if not wanted or plan.attesting is None:
        return []
    from . import attest
    from . import index as idx
    from .credentials import workflow_file

    if signed is not None:
        publisher, config = signed.publisher, signed.config
    else:
        publisher = attest.Publisher(
            plan.attesting.repository, workflow_file(plan.attesting.workflow_ref)
        )
        config = attest.trust_config(plan.attesting.trust_config)
    outdir = services.workdir / ".attestations"  # private, and never taken for a dist
    outdir.mkdir(exist_ok=True)
    carried = []
    for name, path, url in wanted:
        body = idx.read_provenance(services.session, name, url)
        attest.verify_provenance(body, path, publisher, config=config)
        out = outdir / f"{name}{attest.SUFFIX}"
        out.write_text(attest.publish_attestation(body), encoding="utf-8")
        services.console.line(
            f"{out.name}: taken from the index's provenance, verified for {publisher.describe()}"
        )
        result.attestations[name] = "from the index's provenance, verified"
        carried.append(out)
    return carried
