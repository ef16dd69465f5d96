"""The GitHub Release step of publishing: the files as the last target's index serves
them, SHA256SUMS of them, and each file's attestation (this run's for the files it
uploaded there, the index's provenance for the others); then github.publish."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .dists import sha256_of
from .errors import PackageIndexError
from .model import Plan, Result
from .services import Services

if TYPE_CHECKING:
    from collections.abc import Callable

    from . import github
    from .provenance import Signed
    from .simple import IndexProject


def github_release(services: Services, plan: Plan, result: Result, signed: Signed | None) -> None:
    """The release with the bytes the index serves, SHA256SUMS of them, and each file's
    attestation: this run's for the files it uploaded, the index's for the others."""
    from . import github
    from . import index as idx
    from .provenance import carry_attestations

    assert plan.release is not None
    home = plan.home
    served: list[IndexProject] = []

    def listing() -> IndexProject:
        """The home index's page after the upload, read once when first needed."""
        if not served:
            with idx.after_upload():  # its errors must not say nothing was uploaded
                served.append(
                    idx.read_project(
                        services.session, home.target.simple_url, plan.project, fresh=True
                    )
                )
        return served[0]

    with services.console.group(f"GitHub Release {plan.tag}"):
        files = release_files(services, plan, listing)
        ours = signed.files if signed and home.target.trusted_publishing else {}
        uploaded_home = set(result.deliveries[-1].uploaded) if result.deliveries else set()
        attestations = [
            github.Asset(path.name, sha256_of(path), path)
            for step in home.steps
            if step.dist.filename in uploaded_home
            and (path := ours.get(step.dist.filename)) is not None
        ]
        if plan.attesting is not None and home.target.trusted_publishing:
            carried = carry_attestations(services, plan, files, listing, signed, result)
            attestations += [github.Asset(p.name, sha256_of(p), p, kept=True) for p in carried]
        with github.assets_for(files, attestations) as assets:
            github.publish(
                services.github(),
                plan.release,
                assets,
                token=services.github_token,
                session=services.session,
                result=result.release,
            )
        services.console.line(f"Release: {result.release.url}")


def release_files(
    services: Services, plan: Plan, listing: Callable[[], IndexProject]
) -> list[github.Asset]:
    """The distributions as the index serves them. A file the index had before with
    other bytes (a backend that does not build reproducibly, or skip-existing) is
    downloaded from the index and attached in place of this run's build."""
    from . import github
    from .index import download
    from .upload import copy_limit

    files = []
    for step in plan.home.steps:
        dist = step.dist
        if step.expected_sha256 == dist.sha256:
            files.append(github.dist_asset(dist))
            continue
        entry = listing().files_for(plan.version).get(dist.filename)
        outdir = services.workdir / ".index-copies"  # private, and never taken for a dist
        outdir.mkdir(exist_ok=True)
        copy = (
            download(services.session, entry, outdir, limit=copy_limit(dist))
            if entry is not None
            else None
        )
        sha256 = sha256_of(copy) if copy is not None else ""
        if copy is None or sha256 != step.expected_sha256:
            raise PackageIndexError(
                "index-file-changed",
                f"The index no longer serves {dist.filename} with the sha256 confirmed "
                f"a moment ago ({step.expected_sha256})"
                + (f", but with {sha256}." if sha256 else "; it does not list it now."),
                "The files are on the index, but something changed one since: "
                "investigate before re-running to finish the GitHub Release.",
            )
        services.console.line(
            f"{dist.filename}: the index's copy is attached (this run built other bytes)"
        )
        files.append(github.Asset(dist.filename, sha256, copy))
    return files
