"""Policy: the distribution files agree with the tag, the project and each other."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version

from .dists import Dist, file_project, file_version
from .errors import DistributionError
from .gha import Console
from .versions import same_version


def _versions_of(dist: Dist) -> str:
    """A file and its version; both versions when its name and its metadata disagree."""
    named = file_version(dist.filename)
    if named is not None and not same_version(named, dist.version):
        return f"{dist.filename} (version {named} in its name, {dist.version} in its metadata)"
    return f"{dist.filename} (version {dist.version})"


def check(
    dists: Sequence[Dist],
    *,
    project: str,
    version: Version,
    tag: str,
    built: bool,
    packages_dir: Path,
    console: Console,
) -> None:
    """Every file is of this project and exactly this version; at most one sdist."""
    where = f"{{packages-dir}} '{packages_dir}'"
    if not dists:
        raise DistributionError(
            "no-distributions",
            f"{where} holds no distributions to publish.",
            "With {build=false}, put the wheels and sdist there first (for example "
            "with actions/download-artifact), or set {build=true}.",
        )
    foreign = [d for d in dists if canonicalize_name(d.name) != canonicalize_name(project)]
    if foreign:
        raise DistributionError(
            "dist-name-mismatch",
            f"{where} holds files of another project than '{project}': "
            + ", ".join(f"{d.filename} (project '{d.name}')" for d in foreign)
            + ".",
            "The project name comes from pyproject.toml's [project] name; publish "
            "only that project's files, or set {working-directory} to the right project.",
        )
    # The index refuses a file whose name is another project's than its metadata's (a
    # renamed file), perhaps after uploading the others: refused here, before any upload.
    renamed = [
        (d, named)
        for d in dists
        if (named := file_project(d.filename)) is not None and named != canonicalize_name(d.name)
    ]
    if renamed:
        raise DistributionError(
            "dist-filename-mismatch",
            f"{where} holds files whose name is another project's than their metadata's: "
            + ", ".join(
                f"{d.filename} (project '{named}' in its name, '{d.name}' in its metadata)"
                for d, named in renamed
            )
            + ".",
            "An index refuses such a file. Publish the files as the build backend named "
            "them (a renamed file is not the same file), or rebuild them.",
        )
    mismatched = [
        d
        for d in dists
        if not same_version(d.version, version)
        or not same_version(file_version(d.filename) or "", version)
    ]
    if mismatched:
        listing = ", ".join(_versions_of(d) for d in mismatched)
        if built:
            made = sorted({d.version for d in mismatched if not same_version(d.version, version)})
            raise DistributionError(
                "build-version-mismatch",
                f"The build made version {', '.join(made) or 'files named for another'}, but "
                f"tag '{tag}' is version {version}: {listing}.",
                f"Set the project's version to {version} before tagging (or, with "
                "setuptools-scm or hatch-vcs, make sure the tag is on the checked-out "
                "commit and the checkout has its tags: git fetch --tags; in a workflow, "
                "actions/checkout with fetch-depth: 0).",
            )
        raise DistributionError(
            "dist-version-mismatch",
            f"{where} holds files of another version than {version} (tag '{tag}'): {listing}.",
            "Only the tagged version's files may be published; remove the others "
            "(a stale file from an earlier build?).",
        )
    sdists = [d.filename for d in dists if d.kind == "sdist"]
    if len(sdists) > 1:
        raise DistributionError(
            "multiple-sdists",
            f"{where} holds {len(sdists)} sdists: {', '.join(sdists)}; an index "
            "accepts one per version.",
            "Keep one sdist.",
        )
    spellings = {d.version for d in dists} - {str(version)}
    if spellings:
        console.notice(
            f"The metadata spells the version {', '.join(sorted(spellings))} and the tag "
            f"'{tag}' {version}: the same version under PEP 440; the index will show the "
            "metadata's spelling."
        )


# docutils' report lines, reworded as twine check words them ("line 3: Warning: ...").
_REPORT = re.compile(
    r"^<string>:(?P<line>\d*): \((?P<level>DEBUG|INFO|WARNING|ERROR|SEVERE)/\d*\) "
    r"(?P<message>.*)",
    re.DOTALL | re.MULTILINE,
)


class _Reports(io.StringIO):
    def write(self, text: str) -> int:
        if found := _REPORT.search(text):
            level = found["level"].capitalize()
            text = f"line {found['line']}: {level}: {found['message'].rstrip()}\n"
        return super().write(text)


def metadata_problems(dist: Dist) -> tuple[list[str], list[str]]:
    """What ``twine check`` finds wrong with a file's long description: (what the index
    refuses, what ``--strict`` adds).

    The same checks as twine's (twine/commands/check.py), on the metadata read once
    in ``read_dist`` instead of a second process reading every file again. PyPI
    refuses a description that does not render for its content type ("The description
    failed to render", warehouse's forklift/legacy.py); a missing content type (read as
    reStructuredText) or a missing description it takes, as twine check without
    ``--strict`` does.
    """
    import email.message

    metadata = dist.metadata
    refused: list[str] = []
    warned: list[str] = []
    content_type = metadata.get("description_content_type")
    if content_type is None:
        warned.append("`long_description_content_type` missing. defaulting to `text/x-rst`.")
        content_type = "text/x-rst"
    header = email.message.EmailMessage()
    header["content-type"] = content_type
    kind, params = header.get_content_type(), dict(header["content-type"].params)
    description = metadata.get("description")
    if not description or description.rstrip() == "UNKNOWN":
        warned.append("`long_description` missing.")
    elif kind not in ("text/plain", "text/markdown"):  # those two always render
        import readme_renderer.rst  # docutils: only for reStructuredText

        reports = _Reports()
        if readme_renderer.rst.render(description, stream=reports, **params) is None:
            refused.append(
                "`long_description` has syntax errors in markup and would not be rendered "
                "on PyPI: " + "; ".join(reports.getvalue().strip().splitlines())
            )
    return refused, warned


def twine_check(dists: Sequence[Dist], *, console: Console, strict: bool = False) -> None:
    """``twine check``: refuse what the index refuses (a long description that does not
    render), warn about the rest; ``strict`` refuses that too, as ``--strict`` does."""
    command = "twine check --strict" if strict else "twine check"
    failed: dict[str, list[str]] = {}  # the problems -> the files that have them
    warnings: dict[str, list[str]] = {}
    with console.group(command):
        for dist in dists:
            refused, warned = metadata_problems(dist)
            if strict:
                refused, warned = refused + warned, []
            verdict = "FAILED" if refused else "PASSED with warnings" if warned else "PASSED"
            console.line(f"Checking {dist.filename}: {verdict}")
            for problem in refused + warned:
                console.line(f"  {problem}")
            if refused:
                failed.setdefault(" ".join(refused), []).append(dist.filename)
            if warned:
                warnings.setdefault(" ".join(warned), []).append(dist.filename)
    for problems, files in warnings.items():
        console.warning(
            f"{', '.join(files)}: {problems} The index takes this; "
            "{strict-metadata=true} would refuse it.",
            title="Metadata warning",
        )
    if failed:
        raise DistributionError(
            "twine-check-failed",
            f"{command} failed: the index would reject or mis-render the metadata. "
            + " ".join(f"{', '.join(files)}: {problems}" for problems, files in failed.items()),
            "Fix what it names (often the README's markup or a missing "
            "long_description_content_type), or set {verify-metadata=false}.",
        )
