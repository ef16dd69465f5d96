"""The whole pipeline against real index servers: what is published, what is refused."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest
from conftest import Index, Project
from support.output import the_error

from release.dists import sha256_of
from release.proc import Cancel


def dist_files(project: Project) -> dict[str, str]:
    return {p.name: sha256_of(p) for p in (project.path / "dist").iterdir()}


def test_publishes_and_reports(make_project, index: Index, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action(project, tag, index)
    assert run.code == 0, run.out
    built = dist_files(project)
    assert sorted(built) == ["flit_sample-1.0.0-py3-none-any.whl", "flit_sample-1.0.0.tar.gz"]
    assert index.files() == built
    assert run.outputs == {
        "version": "1.0.0",
        "tag": "v1.0.0",
        "previous-version": "",
        "files": json.dumps(["flit_sample-1.0.0-py3-none-any.whl", "flit_sample-1.0.0.tar.gz"]),
        "published": "true",
        "published-to": json.dumps([index.upload_url]),
        "credential": "API token",
        "release-url": "",
        "release-id": "",
    }
    assert "## ✅ Published flit-sample 1.0.0" in run.summary
    for name, sha in built.items():
        assert f"| <code>{name}</code> |" in run.summary
        assert f"`{sha}` | uploaded |" in run.summary
    assert "| Previous version | none (first release) |" in run.summary
    # The build log is in a collapsed group.
    assert "::group::Build sdist and wheel" in run.out

    # The next version knows its predecessor.
    tag = project.release("1.1.0")
    run = action(project, tag, index)
    assert run.code == 0, run.out
    assert run.outputs["previous-version"] == "1.0.0"
    assert len(index.files()) == 4


@pytest.mark.parametrize("kind", ["setuptools", "hatchling"])
def test_other_backends(make_project, pypiserver: Index, action, kind: str) -> None:
    project = make_project(kind)
    tag = project.release("2.0.0")
    run = action(project, tag, pypiserver)
    assert run.code == 0, run.out
    assert index_names(pypiserver) == sorted(dist_files(project))
    assert pypiserver.files() == dist_files(project)


def index_names(index: Index) -> list[str]:
    return sorted(index.files())


def test_setuptools_scm_version_from_tag(make_project, devpi: Index, action) -> None:
    project = make_project("scm")
    tag = project.release("3.1.4")
    run = action(project, tag, devpi)
    assert run.code == 0, run.out
    assert index_names(devpi) == ["scm_sample-3.1.4-py3-none-any.whl", "scm_sample-3.1.4.tar.gz"]


def test_a_dry_run_of_a_tag_not_made_yet_builds_its_version(
    make_project, pypiserver: Index, cli
) -> None:
    """setuptools-scm would make 3.1.5.dev1+g...; the build is told the tag's version,
    on the dry run's "as if tagged" path only, and the release of the same tag, not
    made, still stops."""
    project = make_project("scm")
    project.release("3.1.4")
    project.commit("after the tag")
    run = cli(project.path, "--dry-run", "--tag", "v3.2.0", index=pypiserver)
    assert run.code == 0, run.out + run.err
    assert (
        "The build is told version 3.2.0 for a VCS-versioned project "
        "(SETUPTOOLS_SCM_PRETEND_VERSION_FOR_SCM_SAMPLE, SETUPTOOLS_SCM_PRETEND_VERSION, "
        "PDM_BUILD_SCM_VERSION): this dry run checks HEAD as if tagged v3.2.0.\n"
    ) in run.out
    assert sorted(p.name for p in (project.path / "dist").iterdir()) == [
        "scm_sample-3.2.0-py3-none-any.whl",
        "scm_sample-3.2.0.tar.gz",
    ]
    release = cli(project.path, "--tag", "v3.2.0", index=pypiserver)
    assert release.code == 1
    assert "Tag 'v3.2.0' does not exist in this checkout." in release.out + release.err
    assert pypiserver.files() == {}


def test_a_dry_run_then_the_release_never_puts_the_dry_runs_files_in_the_sdist(
    make_project, pypiserver: Index, cli, tmp_path: Path
) -> None:
    """A backend that puts every file of the tree in the sdist (as scikit-build-core does
    with every file git does not ignore): with no dist/ in .gitignore, the dry run's
    files would be published inside the release's sdist."""
    project = make_project("envdump")
    backend = project.path / "backend.py"
    sources = "files = {path: Path(path).read_bytes() for path in SOURCES}"
    assert sources in backend.read_text()
    every_file = (
        "files = {p.as_posix(): p.read_bytes() for p in sorted(Path('.').rglob('*')) "
        "if p.is_file() and '.git' not in p.parts}"
    )
    backend.write_text(backend.read_text().replace(sources, every_file))
    (project.path / ".gitignore").write_text("__pycache__/\n")
    project.commit("an sdist of every file; no dist/ in .gitignore")
    tag = project.release("1.0.0")
    assert cli(project.path, "--dry-run", "--tag", tag, index=pypiserver).code == 0
    before = sorted(p.name for p in (project.path / "dist").iterdir())
    run = cli(project.path, "--tag", tag, index=pypiserver)
    assert run.code == 0, run.out + run.err
    assert (
        f"Set aside while the project builds, so that no sdist takes them in: "
        f"{', '.join(before)} (in dist)"
    ) in run.out
    (sdist,) = (n for n in pypiserver.files() if n.endswith(".tar.gz"))
    with tarfile.open(tmp_path / "pypiserver" / "packages" / sdist) as tf:  # its folder
        members = tf.getnames()
    assert members
    assert [m for m in members if "/dist/" in m] == []
    assert sorted(p.name for p in (project.path / "dist").iterdir()) == before


def test_dynamic_version_not_on_the_tag_is_refused(make_project, pypiserver: Index, action) -> None:
    project = make_project("scm")
    project.release("3.1.4")
    project.commit("after the tag")  # setuptools-scm now makes a .devN version
    run = action(project, "v3.1.4", pypiserver)
    assert run.code == 1
    assert the_error(run.out, "tag-not-on-head")[1].startswith("Tag 'v3.1.4' points at commit ")
    # A dry run checks HEAD as it is: the build then names the version it made.
    run = action(project, "v3.1.4", pypiserver, dry_run="true")
    assert run.code == 1
    title, message, _hint = the_error(run.out, "build-version-mismatch")
    assert title == "Distribution check failed"
    assert message.startswith("The build made version 3.1.5.dev1")
    assert "but tag 'v3.1.4' is version 3.1.4" in message
    assert pypiserver.files() == {}


def test_dry_run_uploads_nothing(make_project, index: Index, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action(project, tag, index, dry_run="true", password="")
    assert run.code == 0, run.out
    assert index.files() == {}
    assert run.outputs["published"] == "false"
    assert "## 🔍 Dry run: flit-sample 1.0.0 would publish 2 file(s)" in run.summary
    assert run.out.rstrip().endswith("Dry run: flit-sample 1.0.0 would publish 2 file(s)")
    assert "| would be uploaded |" in run.summary


def test_build_false_publishes_prebuilt_files(
    make_project, pypiserver: Index, action, tmp_path: Path
) -> None:
    project = make_project("flit")
    tag = project.release("1.2.0")
    assert action(project, tag, pypiserver, dry_run="true").code == 0
    built = dist_files(project)
    # A matrix job's artifacts land in another folder; publish those as they are.
    artifacts = project.path / "artifacts"
    shutil.move(project.path / "dist", artifacts)
    run = action(project, tag, pypiserver, build="false", packages_dir="artifacts")
    assert run.code == 0, run.out
    assert pypiserver.files() == built
    assert "Build sdist and wheel" not in run.out


def test_monorepo_tag_prefix(make_project, pypiserver: Index, action) -> None:
    project = make_project("flit")
    tag = project.release("0.3.0", tag="flit-sample-v0.3.0")
    run = action(project, tag, pypiserver, tag_prefix="flit-sample-v")
    assert run.code == 0, run.out
    assert run.outputs["version"] == "0.3.0"
    assert run.outputs["tag"] == "flit-sample-v0.3.0"


def test_version_spelling_is_explained(make_project, pypiserver: Index, action) -> None:
    project = make_project("flit")
    project.release("1.0", tag="v1.0.0")
    run = action(project, "v1.0.0", pypiserver)
    assert run.code == 0, run.out
    assert (
        "::notice::The metadata spells the version 1.0 and the tag 'v1.0.0' 1.0.0: "
        "the same version under PEP 440"
    ) in run.out


# --- refusals: exit 1, the exact error, and nothing uploaded -------------------------


def test_tag_not_pep440(make_project, pypiserver: Index, action) -> None:
    project = make_project("flit")
    run = action(project, "v1.x", pypiserver)
    assert run.code == 1
    assert the_error(run.out) == (
        "Invalid input",
        "Tag 'v1.x' does not hold a PEP 440 version after the prefix: '1.x'.",
        "Tags must look like [v]<version>, for example v1.2.3 (see "
        "https://packaging.python.org/en/latest/specifications/version-specifiers/).",
    )
    assert pypiserver.files() == {}
    assert run.summary.startswith("### ❌ Invalid input\n\nTag 'v1.x' does not hold")


def test_tag_without_prefix(make_project, pypiserver: Index, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action(project, tag, pypiserver, tag_prefix="flit-sample-v")
    assert run.code == 1
    assert the_error(run.out) == (
        "Invalid input",
        "Tag 'v1.0.0' does not start with the tag-prefix 'flit-sample-v'.",
        "Tags must look like flit-sample-v<version>, for example flit-sample-v1.2.3.",
    )
    assert pypiserver.files() == {}


def test_branch_ref(make_project, pypiserver: Index, action) -> None:
    project = make_project("flit")
    env = action.env(project, "v1.0.0", pypiserver)
    env["GITHUB_REF"] = "refs/heads/main"
    run = action.run(env)
    assert run.code == 1
    title, message, _hint = the_error(run.out)
    assert (title, message) == (
        "Invalid input",
        "GITHUB_REF is 'refs/heads/main', not a tag: a release is made from a pushed tag.",
    )
    assert "on:\n  push:\n    tags: ['v*']" in run.out.replace("%0A", "\n")
    assert pypiserver.files() == {}


def test_lower_version_refused(make_project, index: Index, action) -> None:
    project = make_project("flit")
    assert action(project, project.release("2.0.0rc1"), index).code == 0
    before = index.files()
    tag = project.release("1.9.0")
    run = action(project, tag, index)
    assert run.code == 1
    assert the_error(run.out) == (
        "Version refused",
        "Tag 'v1.9.0' is version 1.9.0, which is not higher than 2.0.0rc1, the highest "
        "version the index has.",
        "Versions on an index only go up. Tag a version higher than 2.0.0rc1 (yanked and "
        "pre-release versions count); or, for a fix to an older release series, set "
        "allow-backport: true.",
    )
    assert index.files() == before
    # Refused on the index's answer: the build alongside it was called off (or, had
    # the read been slower than the build, its files were never checked).
    assert "::group::twine check" not in run.out
    assert "Build sdist and wheel: ok" not in run.out


def test_yanked_version_counts(make_project, static_index, action) -> None:
    static_index.add("flit-sample", "flit_sample-1.0.0.tar.gz")
    static_index.add("flit-sample", "flit_sample-1.5.0.tar.gz", yanked=True)
    static_index.add("flit-sample", "flit_sample-1.5.0-py3-none-any.whl", yanked=True)
    project = make_project("flit")
    tag = project.release("1.4.0")
    run = action(
        project,
        tag,
        None,
        repository_url="http://127.0.0.1:9/",
        index_url=static_index.url,
        password="not-used-token",
    )
    assert run.code == 1
    assert the_error(run.out)[1] == (
        "Tag 'v1.4.0' is version 1.4.0, which is not higher than 1.5.0 (yanked), the "
        "highest version the index has."
    )


def test_equal_version_with_different_files(make_project, index: Index, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    assert action(project, tag, index).code == 0
    before = index.files()
    (project.path / "flit_sample" / "__init__.py").write_text('"""changed."""\nX = 1\n')
    project.commit("a fix, without bumping the version")
    project.git("tag", "-f", tag)  # and the tag moved onto it
    run = action(project, tag, index)
    assert run.code == 1
    assert the_error(run.out) == (
        "Version refused",
        "Version 1.0.0 is already on the index, and these files differ from this run's: "
        "flit_sample-1.0.0-py3-none-any.whl, flit_sample-1.0.0.tar.gz. What differs: "
        "flit_sample-1.0.0-py3-none-any.whl: flit_sample-1.0.0.dist-info/RECORD, "
        "flit_sample/__init__.py; flit_sample-1.0.0.tar.gz: "
        "flit_sample-1.0.0/flit_sample/__init__.py.",
        "The version was probably not bumped after a change: tag a new version. (Only if "
        "the build cannot be reproduced, set skip-existing: true.)",
    )
    assert index.files() == before


def test_project_name_mismatch(make_project, pypiserver: Index, action) -> None:
    """One refusal of release.verify.check end to end (the rest are in test_verify.py):
    the name it checks against is pyproject.toml's, the files' names come from their
    own metadata, and the refusal reaches the annotation with its code."""
    other = make_project("hatchling", folder="other")
    tag = other.release("1.0.0")
    assert action(other, tag, pypiserver, dry_run="true").code == 0
    project = make_project("flit")
    project.release("1.0.0")
    shutil.copytree(other.path / "dist", project.path / "dist")
    run = action(project, tag, pypiserver, build="false")
    assert run.code == 1
    assert the_error(run.out, "dist-name-mismatch") == (
        "Distribution check failed",
        "packages-dir 'dist' holds files of another project than 'flit-sample': "
        "hatch_sample-1.0.0-py3-none-any.whl (project 'hatch-sample'), "
        "hatch_sample-1.0.0.tar.gz (project 'hatch-sample').",
        "The project name comes from pyproject.toml's [project] name; publish only that "
        "project's files, or set working-directory to the right project.",
    )
    assert pypiserver.files() == {}


def test_built_version_differs_from_tag(make_project, pypiserver: Index, action) -> None:
    project = make_project("flit")
    project.release("1.0.0")
    project.tag("v1.1.0")  # tagged without bumping pyproject.toml
    run = action(project, "v1.1.0", pypiserver)
    assert run.code == 1
    assert the_error(run.out, "build-version-mismatch") == (
        "Distribution check failed",
        "The build made version 1.0.0, but tag 'v1.1.0' is version 1.1.0: "
        "flit_sample-1.0.0-py3-none-any.whl (version 1.0.0), flit_sample-1.0.0.tar.gz "
        "(version 1.0.0).",
        "Set the project's version to 1.1.0 before tagging (or, with setuptools-scm or "
        "hatch-vcs, make sure the tag is on the checked-out commit and the checkout has its "
        "tags: git fetch --tags; in a workflow, actions/checkout with fetch-depth: 0).",
    )
    assert pypiserver.files() == {}


def test_not_a_distribution(make_project, pypiserver: Index, action) -> None:
    """Refused by its name, before any file in packages-dir is read: no build needed."""
    project = make_project("flit")
    tag = project.release("1.0.0")
    (project.path / "dist").mkdir()
    (project.path / "dist" / "notes.txt").write_text("hi")
    run = action(project, tag, pypiserver, build="false")
    assert run.code == 1
    assert the_error(run.out, "stray-files")[1] == (
        "packages-dir 'dist' holds files that are not distributions: notes.txt."
    )
    assert pypiserver.files() == {}


def test_build_into_a_dirty_packages_dir(make_project, pypiserver: Index, action) -> None:
    """Stale files in packages-dir never block and are never published: the build
    goes to a private folder, and its files are copied to packages-dir afterwards."""
    project = make_project("flit")
    tag = project.release("1.0.0")
    (project.path / "dist").mkdir()
    (project.path / "dist" / "old.whl").write_text("x")
    (project.path / "dist" / "flit_sample-1.0.0.tar.gz").write_text("stale, same name")
    run = action(project, tag, pypiserver)
    assert run.code == 0, run.out
    built = json.loads(run.outputs["files"])
    assert sorted(pypiserver.files()) == sorted(built)
    assert pypiserver.files() == {n: sha256_of(project.path / "dist" / n) for n in built}
    assert (project.path / "dist" / "old.whl").read_text() == "x"


def test_wrong_token(make_project, index: Index, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action(project, tag, index, password="pypi-wrong-token")
    assert run.code == 1
    title, message, hint = the_error(run.out)
    assert title == "Package index error"
    assert message.startswith(f"{index.upload_url} refused the credentials (HTTP ")
    assert message.endswith(") when uploading flit_sample-1.0.0-py3-none-any.whl.")
    assert hint == (
        "Check password: the token may be wrong or expired, scoped to another project, or "
        "used with a user other than '__token__' (PyPI API tokens need user __token__); "
        "with trusted publishing, check the publisher on the index."
    )
    assert the_error(run.out, "upload-credentials-refused")
    assert index.files() == {}


def test_index_unreachable(make_project, action) -> None:
    from support.indexes import free_port

    port = free_port()
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action(
        project,
        tag,
        None,
        repository_url=f"http://127.0.0.1:{port}/",
        index_url=f"http://127.0.0.1:{port}/simple/",
        password="not-used-token",
    )
    assert run.code == 1
    assert the_error(run.out) == (
        "Package index error",
        f"Cannot reach the index at http://127.0.0.1:{port}/simple/flit-sample/: ConnectionError.",
        "Check index-url and that the index is up; nothing was uploaded.",
    )


def test_missing_index_url(make_project, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action(project, tag, None, repository_url="https://pypi.example.com/upload/")
    assert run.code == 1
    assert the_error(run.out) == (
        "Invalid input",
        "index-url is required for the custom repository-url 'https://pypi.example.com/upload/'.",
        "Set index-url to that index's simple API (for a pypiserver "
        "'https://HOST/simple/', for devpi 'https://HOST/USER/INDEX/+simple/'): the action "
        "reads it to check versions before uploading.",
    )


def test_missing_password(make_project, pypiserver: Index, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action(project, tag, pypiserver, password="")
    assert the_error(run.out, "password-missing")[1] == (
        "No password for the index: password is empty and the user is 'uploader'."
    )
    assert not (project.path / "dist").exists()  # refused before any build


def test_build_failure_shows_the_log(make_project, pypiserver: Index, action) -> None:
    project = make_project("flit")
    (project.path / "flit_sample" / "__init__.py").write_text("no docstring, no version\n")
    pyproject = project.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "1.0.0"\n', ""))
    project.commit("flit cannot find a version")
    project.tag("v1.0.0")
    run = action(project, "v1.0.0", pypiserver)
    assert run.code == 1
    assert the_error(run.out, "build-failed")[1:] == (
        "Building the sdist failed: the build backend exited 1 in "
        "get_requires_for_build_sdist: flit_core.config.ConfigError: version must be "
        "specified under [project] or listed as a dynamic field.",
        "The build log above shows why; reproduce it with 'python -m build' in the project folder.",
    )
    # The log streamed inside its group, and is printed again in full after it.
    assert "::group::Build sdist and wheel" in run.out
    after = run.out.split("::endgroup::", 1)[1]
    assert "-- Build sdist and wheel failed; its output:" in after
    assert "flit_core.config.ConfigError: version must be specified" in after
    assert pypiserver.files() == {}


def test_what_the_index_takes_is_a_warning_unless_strict(
    make_project, pypiserver: Index, action
) -> None:
    """No long_description_content_type: PyPI reads the description as
    reStructuredText and takes it (six, certifi, pyyaml are published so), so only
    strict-metadata refuses it."""
    project = make_project("setuptools")
    pyproject = project.path / "pyproject.toml"
    text = pyproject.read_text()
    assert 'readme = "README.md"\n' in text
    pyproject.write_text(text.replace('readme = "README.md"\n', 'dynamic = ["readme"]\n'))
    (project.path / "README.md").rename(project.path / "README.rst")
    (project.path / "README.rst").write_text("Title\n=====\n\nA plain description.\n")
    # As older projects do: a long description with no content type.
    (project.path / "setup.py").write_text(
        "from setuptools import setup\n\nsetup(long_description=open('README.rst').read())\n"
    )
    tag = project.release("1.0.0")
    strict = action(project, tag, pypiserver, strict_metadata="true", dry_run="true")
    assert strict.code == 1
    wheel, sdist = sorted(dist_files(project))
    assert the_error(strict.out, "twine-check-failed")[1] == (
        "twine check --strict failed: the index would reject or mis-render the metadata. "
        f"{wheel}, {sdist}: `long_description_content_type` missing. defaulting to "
        "`text/x-rst`."
    )
    run = action(project, tag, pypiserver)
    assert run.code == 0, run.out
    assert (
        f"::warning title=Metadata warning::{wheel}, {sdist}: `long_description_content_type` "
        "missing. defaulting to `text/x-rst`. The index takes this; strict-metadata: true "
        "would refuse it."
    ) in run.out
    assert f"Checking {wheel}: PASSED with warnings\n" in run.out
    assert sorted(pypiserver.files()) == sorted([sdist, wheel])


def test_twine_check_failure(make_project, pypiserver: Index, action) -> None:
    project = make_project("flit")
    pyproject = project.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("README.md", "README.rst"))
    (project.path / "README.md").rename(project.path / "README.rst")
    (project.path / "README.rst").write_text("Title\n===\n\n`unclosed\n\n.. broken::\n")
    tag = project.release("1.0.0")
    run = action(project, tag, pypiserver)
    assert run.code == 1
    problem = (
        "`long_description` has syntax errors in markup and would not be rendered on PyPI: "
        "line 4: Warning: Inline interpreted text or phrase reference start-string without "
        "end-string."
    )
    wheel, sdist = sorted(dist_files(project))
    assert the_error(run.out, "twine-check-failed")[1:] == (
        "twine check failed: the index would reject or mis-render the metadata. "
        f"{wheel}, {sdist}: {problem}",
        "Fix what it names (often the README's markup or a missing "
        "long_description_content_type), or set verify-metadata: false.",
    )
    assert f"Checking {wheel}: FAILED\n  {problem}\n" in run.out
    assert pypiserver.files() == {}
    # The same finding as twine's own command line, on the same files.
    twine = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", wheel, sdist],
        cwd=project.path / "dist",
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "500"},
    )
    assert twine.returncode == 1
    assert (
        twine.stdout.count(
            "line 4: Warning: Inline interpreted text or phrase reference "
            "start-string without end-string."
        )
        == 2
    ), twine.stdout


@pytest.mark.parametrize("debug", [False, True])
def test_unexpected_error_is_one_clean_line(
    make_project, pypiserver: Index, action, debug: bool
) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    env = action.env(project, tag, pypiserver)
    env["RELEASE_GITHUB_WRITE_INTERVAL"] = "soon"  # not a number: an internal error
    if debug:
        env["RUNNER_DEBUG"] = "1"
    run = action.run(env)
    assert run.code == 1
    title, message, hint = the_error(run.out)
    assert title == "Internal error"
    assert message == "Unexpected error: ValueError: could not convert string to float: 'soon'"
    assert ("Traceback (most recent call last)" in run.out) is debug
    assert hint == (
        "Please report this with the traceback above."
        if debug
        else "Re-run with debug logging enabled for the traceback."
    )
    assert f"### ❌ Internal error\n\n{message}\n\n`error: internal-error`\n" in run.summary


def test_print_hash_false_and_verbose(make_project, pypiserver: Index, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action(project, tag, pypiserver, dry_run="true", print_hash="false", verbose="true")
    assert run.code == 0, run.out
    assert "| File | Size | Status |" in run.summary
    assert "SHA-256" not in run.summary
    # The build's output streams inside its group, fenced from workflow commands.
    assert "::group::Build sdist and wheel\n::stop-commands::" in run.out


# --- pieces of the pipeline, alone --------------------------------------------------------


class _Oversized(http.server.BaseHTTPRequestHandler):
    """Announces a provenance object far larger than any index's."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.pypi.integrity.v1+json")
        self.send_header("Content-Length", str(1 << 30))
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("fault", ["too-large", "unreachable"])
def test_provenance_unreadable_after_the_upload(tmp_path: Path, fault: str) -> None:
    """The index lists provenance for an uploaded file, but reading it fails: a clear
    error that does not claim that nothing was uploaded."""
    from support.indexes import free_port
    from support.recorded import uploaded_sdist

    from release import provenance
    from release.errors import PackageIndexError
    from release.gha import Console
    from release.http import make_session
    from release.model import Delivery, Result
    from release.services import OidcRequest, Services

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Oversized)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = (
        f"http://127.0.0.1:{server.server_address[1]}/provenance"
        if fault == "too-large"
        else f"http://127.0.0.1:{free_port()}/provenance"
    )
    dist, plan, project = uploaded_sdist(url)
    session = make_session(retries=0)
    services = Services(Console(actions=False), tmp_path, OidcRequest("", "", ""), "")
    services._session = session
    signed = provenance.Signed({dist.filename: tmp_path / "a"}, None, None)  # type: ignore[arg-type]
    delivery = Delivery(plan.home.target.label)
    try:
        with pytest.raises(PackageIndexError) as info:
            provenance.confirm_provenance(
                services, plan, plan.home, project, signed, Result(plan=plan), delivery
            )
    finally:
        server.shutdown()
        server.server_close()
        session.close()
    error = info.value
    assert error.code == (
        "provenance-unreadable" if fault == "too-large" else "provenance-unreachable"
    )
    assert error.message == (
        "The index lists provenance for pypi_attestations-0.0.19.tar.gz, but it could not "
        "be read: it announces 1073741824 bytes, more than 20 MiB."
        if fault == "too-large"
        else "The index lists provenance for pypi_attestations-0.0.19.tar.gz, but did not "
        "answer: ConnectionError."
    )
    assert error.hint == (
        "The files are on the index. Re-run later to check the provenance again "
        "(nothing is uploaded twice)."
    )


def _waiting_in_result(thread_id: int) -> bool:
    """Whether that thread is blocked in a Future's result()."""
    frame = sys._current_frames().get(thread_id)
    while frame is not None:
        if frame.f_code.co_name == "result" and "concurrent" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs POSIX signals")
def test_ctrl_c_while_waiting_for_the_build_cancels_it(request: pytest.FixtureRequest) -> None:
    """Ctrl-C while the index read is done and the build still runs: the build is called
    off at once, not waited for."""
    from release.planning import alongside

    seen: dict[str, bool] = {}

    pressed = threading.Event()

    def build(cancel: Cancel) -> str:
        # Runs until called off; bounded only so that a broken test cannot hang the suite
        # (a machine loaded enough to starve the other thread must not fail it).
        end = time.monotonic() + 300
        while time.monotonic() < end:
            if cancel.cancelled:
                seen["cancelled"] = True
                return "called off"
            time.sleep(0.01)
        return "finished"

    main = threading.main_thread().ident
    assert main == threading.get_ident()
    # Python's own handler, whatever this process was started with: a shell starts a
    # background job with SIGINT ignored, and a Ctrl-C would then never arrive.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))

    def press_ctrl_c() -> None:
        end = time.monotonic() + 300
        while time.monotonic() < end and not _waiting_in_result(main):
            time.sleep(0.005)
        pressed.set()
        signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=press_ctrl_c, daemon=True).start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        alongside(build, lambda: "index read")
    assert pressed.is_set()
    assert seen == {"cancelled": True}
    assert time.monotonic() - start < 120  # generous: called off, not waited for
