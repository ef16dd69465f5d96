"""The distribution policy (release.verify.check) on its own: no build, no index, no
server. Each file is a ``Dist`` as ``read_dist`` would make it; the check reads only
its file name, kind, and the name and version of its metadata.

tests/test_pipeline.py keeps one refusal end to end (test_project_name_mismatch): the
project name read from pyproject.toml, and the error reaching the annotation with its
code.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

from release.dists import Dist
from release.errors import DistributionError
from release.gha import Console
from release.inputs import Front, render
from release.verify import check

PACKAGES = Path("dist")


def dist(filename: str, *, name: str = "", version: str = "") -> Dist:
    """A file in packages-dir whose metadata holds this name and version (by default,
    those its file name holds)."""
    if filename.endswith(".whl"):
        kind = "wheel"
        file_name, file_version, _build, _tags = parse_wheel_filename(filename)
    else:
        kind = "sdist"
        file_name, file_version = parse_sdist_filename(filename)
    return Dist(
        path=PACKAGES / filename,
        kind=kind,
        name=name or file_name,
        version=version or str(file_version),
        sha256="0" * 64,
        size=1,
    )


WHEEL = "flit_sample-1.0.0-py3-none-any.whl"
SDIST = "flit_sample-1.0.0.tar.gz"


def verify(
    dists: list[Dist],
    *,
    project: str = "flit-sample",
    tag: str = "v1.0.0",
    built: bool = False,
    actions: bool = True,
) -> str:
    """Run the check; what it printed."""
    out = io.StringIO()
    check(
        dists,
        project=project,
        version=Version(tag.removeprefix("v")),
        tag=tag,
        built=built,
        packages_dir=PACKAGES,
        console=Console(actions=actions, stream=out),
    )
    return out.getvalue()


def refused(dists: list[Dist], front: Front = "action", **kwargs: Any) -> tuple[str, str, str]:
    """(code, message, hint) of the refusal, inputs named as this front door names them."""
    with pytest.raises(DistributionError) as info:
        verify(dists, **kwargs)
    err = info.value
    return err.code, render(err.message, front), render(err.hint, front)


def test_the_tagged_files_pass_silently() -> None:
    assert verify([dist(WHEEL), dist(SDIST)]) == ""
    assert verify([dist(WHEEL), dist(SDIST)], built=True) == ""
    assert verify([dist(WHEEL)]) == ""  # a matrix job may publish a wheel alone


def test_no_distributions() -> None:
    assert refused([]) == (
        "no-distributions",
        "packages-dir 'dist' holds no distributions to publish.",
        "With build: false, put the wheels and sdist there first (for example with "
        "actions/download-artifact), or set build: true.",
    )
    # On the command line the same text names flags.
    assert refused([], front="cli")[1:] == (
        "--packages-dir 'dist' holds no distributions to publish.",
        "With --no-build, put the wheels and sdist there first (for example with "
        "actions/download-artifact), or set --build.",
    )


def test_another_projects_files() -> None:
    other = [dist("hatch_sample-1.0.0-py3-none-any.whl"), dist("hatch_sample-1.0.0.tar.gz")]
    assert refused(other) == (
        "dist-name-mismatch",
        "packages-dir 'dist' holds files of another project than 'flit-sample': "
        "hatch_sample-1.0.0-py3-none-any.whl (project 'hatch-sample'), "
        "hatch_sample-1.0.0.tar.gz (project 'hatch-sample').",
        "The project name comes from pyproject.toml's [project] name; publish only that "
        "project's files, or set working-directory to the right project.",
    )


def test_one_foreign_file_among_the_projects_own() -> None:
    files = [dist(WHEEL), dist(SDIST), dist("other-1.0.0.tar.gz", name="Other")]
    code, message, _hint = refused(files)
    assert code == "dist-name-mismatch"
    assert message == (
        "packages-dir 'dist' holds files of another project than 'flit-sample': "
        "other-1.0.0.tar.gz (project 'Other')."
    )


@pytest.mark.parametrize(
    ("project", "metadata_name", "filename"),
    [
        ("My_Project", "my-project", "my_project-1.0-py3-none-any.whl"),
        ("my-project", "My_Project", "My_Project-1.0.tar.gz"),
        ("my.project", "MY--PROJECT", "my_project-1.0-py3-none-any.whl"),
    ],
)
def test_names_compare_normalised(project: str, metadata_name: str, filename: str) -> None:
    """PEP 503: case, '-', '_' and '.' runs do not make another project."""
    assert verify([dist(filename, name=metadata_name)], project=project, tag="v1.0") == ""


@pytest.mark.parametrize("built", [False, True])
def test_a_file_named_for_another_project(built: bool) -> None:
    """The index refuses a file whose name and metadata name different projects, perhaps
    after the other files went up: refused before any upload."""
    renamed = [
        dist("otherproj-1.0.0-py3-none-any.whl", name="flit_sample"),
        dist("Other.Proj-1.0.0.tar.gz", name="flit-sample"),
    ]
    assert refused([dist(WHEEL), *renamed], built=built) == (
        "dist-filename-mismatch",
        "packages-dir 'dist' holds files whose name is another project's than their "
        "metadata's: otherproj-1.0.0-py3-none-any.whl (project 'otherproj' in its name, "
        "'flit_sample' in its metadata), Other.Proj-1.0.0.tar.gz (project 'other-proj' in "
        "its name, 'flit-sample' in its metadata).",
        "An index refuses such a file. Publish the files as the build backend named them "
        "(a renamed file is not the same file), or rebuild them.",
    )


def test_the_build_made_another_version() -> None:
    files = [dist(WHEEL), dist(SDIST)]
    assert refused(files, tag="v1.1.0", built=True) == (
        "build-version-mismatch",
        "The build made version 1.0.0, but tag 'v1.1.0' is version 1.1.0: "
        "flit_sample-1.0.0-py3-none-any.whl (version 1.0.0), flit_sample-1.0.0.tar.gz "
        "(version 1.0.0).",
        "Set the project's version to 1.1.0 before tagging (or, with setuptools-scm or "
        "hatch-vcs, make sure the tag is on the checked-out commit and the checkout has its "
        "tags: git fetch --tags; in a workflow, actions/checkout with fetch-depth: 0).",
    )


def test_a_stray_file_of_another_version() -> None:
    files = [dist("flit_sample-0.9.0-py3-none-any.whl"), dist(WHEEL), dist(SDIST)]
    assert refused(files) == (
        "dist-version-mismatch",
        "packages-dir 'dist' holds files of another version than 1.0.0 (tag 'v1.0.0'): "
        "flit_sample-0.9.0-py3-none-any.whl (version 0.9.0).",
        "Only the tagged version's files may be published; remove the others (a stale file "
        "from an earlier build?).",
    )


@pytest.mark.parametrize("built", [False, True])
def test_file_name_and_metadata_must_agree(built: bool) -> None:
    """A file named for another version is refused even when its metadata is right."""
    renamed = dist("flit_sample-0.9.0-py3-none-any.whl", version="1.0.0")
    code, message, _hint = refused([renamed, dist(SDIST)], built=built)
    assert code == ("build-version-mismatch" if built else "dist-version-mismatch")
    assert "flit_sample-0.9.0-py3-none-any.whl" in message
    assert SDIST not in message


def test_two_sdists() -> None:
    files = [dist(WHEEL), dist("flit-sample-1.0.0.tar.gz"), dist(SDIST)]
    assert refused(files) == (
        "multiple-sdists",
        "packages-dir 'dist' holds 2 sdists: flit-sample-1.0.0.tar.gz, "
        "flit_sample-1.0.0.tar.gz; an index accepts one per version.",
        "Keep one sdist.",
    )


def test_the_name_is_checked_before_the_version() -> None:
    assert refused([dist("hatch_sample-2.0.tar.gz")])[0] == "dist-name-mismatch"


@pytest.mark.parametrize(
    ("tag", "spelled", "notice"),
    [
        (
            "v1.0.0",
            "1.0",
            "The metadata spells the version 1.0 and the tag 'v1.0.0' 1.0.0: the same "
            "version under PEP 440; the index will show the metadata's spelling.",
        ),
        (
            "1.0",
            "1.0.0",
            "The metadata spells the version 1.0.0 and the tag '1.0' 1.0: the same "
            "version under PEP 440; the index will show the metadata's spelling.",
        ),
    ],
)
def test_another_spelling_of_the_version_is_a_notice(tag: str, spelled: str, notice: str) -> None:
    files = [dist(f"flit_sample-{spelled}-py3-none-any.whl"), dist(f"flit_sample-{spelled}.tar.gz")]
    assert verify(files, tag=tag) == f"::notice::{notice}\n"
    assert verify(files, tag=tag, actions=False) == f"notice: {notice}\n"
