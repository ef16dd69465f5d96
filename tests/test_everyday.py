"""The maintainer's everyday loop: the same folder, run after run, by both front doors.

A dry run and then the release; a release twice; a failed build and then the fixed one;
two steps in one job; two indexes in one job; backports; the checkout's state (dirty,
untagged, tagged elsewhere, a monorepo subproject); and what the run prints (a live,
fenced build log without colour codes, one final line, a table that fits a terminal).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import Index, Project
from support.output import the_error
from support.plans import one_target_plan
from support.projects import GIT, PROJECTS

from release.__main__ import main, program_name
from release.dists import Dist, sha256_of
from release.errors import GitError
from release.gha import Console
from release.gitrepo import parse_status
from release.model import Action, Result, Step
from release.proc import Cancel, Cancelled, ToolLog
from release.report import summary_text

# --- helpers -----------------------------------------------------------------------------


def dist_files(folder: Path) -> dict[str, str]:
    return {p.name: sha256_of(p) for p in (folder / "dist").iterdir()}


def last_line(out: str) -> str:
    return out.rstrip().splitlines()[-1]


def unfenced(out: str) -> str:
    """The log as the runner reads commands in it: whatever stands between
    ``::stop-commands::TOKEN`` and ``::TOKEN::`` is plain text."""
    kept: list[str] = []
    token = ""
    for line in out.splitlines():
        if token:
            token = "" if line == f"::{token}::" else token
            continue
        m = re.fullmatch(r"::stop-commands::(\S+)", line)
        if m:
            token = m[1]
        else:
            kept.append(line)
    assert not token, "a stop-commands fence was never closed"
    return "\n".join(kept)


def group(out: str, title: str) -> tuple[str, str]:
    """The body of the log group ``title``, and everything after it."""
    start = out.index(f"::group::{title}\n")
    end = out.index("::endgroup::\n", start)
    return out[start:end], out[end:]


def cli_error(out: str) -> tuple[str, str]:
    """(message, hint) of the one error a terminal run printed."""
    lines = out.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    assert len(starts) == 1, out
    i = starts[0]
    return lines[i].removeprefix("error: "), lines[i + 1]


def commit_at(project: Project, when: str, message: str) -> str:
    """Commit everything with a fixed author and committer date."""
    env = {**os.environ, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    subprocess.run([*GIT, "add", "-A"], cwd=project.path, check=True, env=env)
    subprocess.run(
        [*GIT, "commit", "-q", "--allow-empty", "-m", message],
        cwd=project.path,
        check=True,
        env=env,
    )
    return project.head


def assert_table(out: str, shas: dict[str, str]) -> list[str]:
    """The terminal summary: aligned columns, at most 100 wide; returns its lines."""
    lines = out.rstrip().splitlines()
    table = lines[lines.index("Summary:") : -1]
    assert max(len(line) for line in table) <= 100, "\n".join(table)
    rows, files = table[1 : table.index("")], table[table.index("") + 1 :]
    if "" in files:  # the install trial's lines follow the files
        files = files[: files.index("")]
    # Nine keys; a long value (the steps' times) wraps onto lines of its own.
    assert len([row for row in rows if row[2] != " "]) == 9
    # Each value starts in the same column (keys hold single spaces, the gap is wider).
    starts = {len(row) - len(row[row.index("  ", 2) :].lstrip()) for row in rows}
    assert len(starts) == 1, rows
    assert sorted(line.split()[0] for line in files) == sorted(shas)
    assert len({line.index("sha256:") for line in files}) == 1, files
    for line in files:
        assert f"sha256:{shas[line.split()[0]][:16]}…" in line
    return table


# --- the loops ---------------------------------------------------------------------------


def test_readme_sequence_on_the_command_line(make_project, pypiserver: Index, cli) -> None:
    """``python -m release --dry-run --tag v1.2.3``, then ``python -m release --tag v1.2.3``:
    before tagging, after forgetting to tag, after tagging, and once more."""
    project = make_project("flit")
    project.set_version("1.2.3")
    head = project.commit("release 1.2.3")

    dry = cli(project.path, "--dry-run", "--tag", "v1.2.3", index=pypiserver)
    assert dry.code == 0, dry.out
    assert (
        f"notice: Tag 'v1.2.3' does not exist yet: checked HEAD ({head[:12]}) as if it were "
        "tagged.\n"
    ) in dry.out
    assert last_line(dry.out) == "Dry run: flit-sample 1.2.3 would publish 2 file(s)"
    planned = dist_files(project.path)
    table = assert_table(dry.out, planned)
    assert "  GitHub Release                 not made (--no-github-release)" in table
    assert pypiserver.files() == {}

    forgot = cli(project.path, "--tag", "v1.2.3", index=pypiserver)
    assert forgot.code == 1
    assert cli_error(forgot.out) == (
        "Tag 'v1.2.3' does not exist in this checkout.",
        "Create it on the commit to release (git tag v1.2.3), or check the tag name; a dry "
        "run (--dry-run) checks an untagged HEAD.",
    )
    assert "Build sdist and wheel" not in forgot.out  # refused before the build

    project.tag("v1.2.3")
    run = cli(project.path, "--tag", "v1.2.3", index=pypiserver)
    assert run.code == 0, run.out
    assert last_line(run.out) == "Published flit-sample 1.2.3: 2 file(s)"
    # The same commit time, so the same bytes as the dry run's.
    assert pypiserver.files() == planned == dist_files(project.path)
    table = assert_table(run.out, planned)
    assert "  Credential                     API token" in table
    assert "\x1b[" not in dry.out + run.out

    again = cli(project.path, "--tag", "v1.2.3", index=pypiserver)
    assert again.code == 0, again.out
    assert last_line(again.out) == "Published flit-sample 1.2.3: 2 file(s), 0 uploaded now"
    assert "  Re-run of an existing version  yes" in again.out
    assert pypiserver.files() == planned


def test_release_twice(make_project, index: Index, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    first = action(project, tag, index)
    assert first.code == 0, first.out
    # The build took the environment __main__ began before the pipeline's imports.
    assert "Build environment made while the run started:\nInstalling flit_core" in first.out
    published = index.files()
    second = action(project, tag, index)
    assert second.code == 0, second.out
    assert index.files() == published == dist_files(project.path)
    assert last_line(second.out) == "Published flit-sample 1.0.0: 2 file(s), 0 uploaded now"
    assert "| Re-run of an existing version | yes |" in second.summary
    assert second.summary.count("| already on the index |") == 2
    assert second.outputs["published"] == "true"
    assert second.outputs["credential"] == ""  # nothing to upload, no credential used


def test_dry_run_step_then_publish_step(make_project, devpi: Index, action) -> None:
    """Two steps of one job in the same workspace: the dry run needs no password."""
    project = make_project("flit")
    tag = project.release("1.0.0")
    dry = action(project, tag, devpi, dry_run="true", password="")
    assert dry.code == 0, dry.out
    assert last_line(dry.out) == "Dry run: flit-sample 1.0.0 would publish 2 file(s)"
    assert dry.summary.count("| would be uploaded |") == 2
    assert dry.outputs["published"] == "false"
    planned = dist_files(project.path)
    assert devpi.files() == {}

    run = action(project, tag, devpi)
    assert run.code == 0, run.out
    assert last_line(run.out) == "Published flit-sample 1.0.0: 2 file(s)"
    assert run.outputs["published"] == "true"
    assert run.outputs["files"] == dry.outputs["files"]
    assert devpi.files() == planned


def test_testpypi_then_pypi_in_one_job(make_project, pypiserver: Index, devpi: Index, action):
    """First to a TestPyPI-like index, then to a PyPI-like one, in the same workspace."""
    project = make_project("flit")
    tag = project.release("1.0.0")
    test = action(project, tag, pypiserver)
    assert test.code == 0, test.out
    real = action(project, tag, devpi)
    assert real.code == 0, real.out
    assert last_line(real.out) == "Published flit-sample 1.0.0: 2 file(s)"
    assert f"| Index | {devpi.simple_url} |" in real.summary
    assert "| Re-run of an existing version | no |" in real.summary
    assert real.summary.count("| uploaded |") == 2
    # The second build made the first one's bytes: both indexes serve the same files.
    assert devpi.files() == pypiserver.files() == dist_files(project.path)


# A flit_core backend that talks like a real one: colour, many lines, a workflow command,
# and a wheel that fails while the module says BROKEN (the sdist is built first).
NOISY_BACKEND = """
import os
import sys

from flit_core import buildapi
from flit_core.buildapi import (  # noqa: F401
    build_sdist,
    get_requires_for_build_sdist,
    get_requires_for_build_wheel,
    prepare_metadata_for_build_wheel,
)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    print("\\x1b[1;31mcolour\\x1b[0m FORCE_COLOR=" + os.environ.get("FORCE_COLOR", "unset"))
    for i in range(1, 201):
        print(f"noisy line {i:03d}")
    print("::error::a workflow command from the backend")
    sys.stdout.flush()
    with open(os.path.join("flit_sample", "__init__.py")) as f:
        if "BROKEN" in f.read():
            sys.exit("the wheel cannot be built: BROKEN")
    return buildapi.build_wheel(wheel_directory, config_settings, metadata_directory)
"""


def noisy_project(make_project) -> Project:
    project = make_project("flit")
    (project.path / "_build").mkdir()
    (project.path / "_build" / "backend.py").write_text(NOISY_BACKEND)
    pyproject = project.path / "pyproject.toml"
    text = pyproject.read_text().replace(
        'build-backend = "flit_core.buildapi"',
        'build-backend = "backend"\nbackend-path = ["_build"]',
    )
    pyproject.write_text(text + '\n[tool.flit.sdist]\ninclude = ["_build/"]\n')
    init = project.path / "flit_sample" / "__init__.py"
    init.write_text(init.read_text() + "BROKEN = True\n")
    project.commit("a backend that talks, and a bug")
    return project


def test_failed_build_then_fixed_build(make_project, pypiserver: Index, action) -> None:
    project = noisy_project(make_project)
    tag = project.release("1.0.0")
    env = action.env(project, tag, pypiserver)
    env.update(FORCE_COLOR="1", CLICOLOR_FORCE="1")  # the runner's colour, asked for
    failed = action.run(env)
    assert failed.code == 1
    assert the_error(unfenced(failed.out), "build-failed")[1] == (
        "Building the wheel (from the sdist) failed: the build backend exited 1 in "
        "build_wheel: the wheel cannot be built: BROKEN."
    )
    assert "\x1b" not in failed.out
    # Streamed inside the group, fenced from workflow commands; then in full after it.
    body, after = group(failed.out, "Build sdist and wheel")
    assert "-- Build sdist and wheel failed; its output:" in after
    for part in (body, after):
        assert "colour FORCE_COLOR=unset" in part
        assert all(f"noisy line {i:03d}\n" in part for i in range(1, 201))
        assert "::error::a workflow command from the backend" in part
        assert "the wheel cannot be built: BROKEN" in part
    assert "::error::a workflow command" not in unfenced(failed.out)
    # The sdist was built before the failure, in the private folder: nothing leaked.
    assert not (project.path / "dist").exists()
    assert pypiserver.files() == {}

    init = project.path / "flit_sample" / "__init__.py"
    init.write_text(init.read_text().replace("BROKEN = True\n", ""))
    project.commit("fix the build")
    project.git("tag", "-f", tag)
    env = action.env(project, tag, pypiserver)
    env.update(FORCE_COLOR="1", CLICOLOR_FORCE="1")
    fixed = action.run(env)
    assert fixed.code == 0, fixed.out
    assert "\x1b" not in fixed.out
    body, after = group(fixed.out, "Build sdist and wheel")
    assert "colour FORCE_COLOR=unset" in body
    assert "noisy line 200" not in after  # a build that worked is not shown again
    assert last_line(fixed.out) == "Published flit-sample 1.0.0: 2 file(s)"
    assert fixed.out.count("Published flit-sample") == 1
    assert pypiserver.files() == dist_files(project.path)


# --- backports ---------------------------------------------------------------------------


def test_backport_end_to_end(make_project, pypiserver: Index, action, cli) -> None:
    project = make_project("flit")
    for version in ("1.2.4", "2.0.0"):
        assert action(project, project.release(version), pypiserver).code == 0
    tag = project.release("1.2.5")

    refused = action(project, tag, pypiserver)
    assert refused.code == 1
    assert the_error(refused.out, "version-not-higher") == (
        "Version refused",
        "Tag 'v1.2.5' is version 1.2.5, which is not higher than 2.0.0, the highest version "
        "the index has.",
        "Versions on an index only go up. Tag a version higher than 2.0.0 (yanked and "
        "pre-release versions count); or, for a fix to an older release series, set "
        "allow-backport: true.",
    )
    on_cli = cli(project.path, "--tag", tag, index=pypiserver)
    assert on_cli.code == 1
    assert cli_error(on_cli.out)[1].endswith(
        "for a fix to an older release series, set --allow-backport."
    )

    run = action(project, tag, pypiserver, allow_backport="true")
    assert run.code == 0, run.out
    assert "| Version | 1.2.5 (tag v1.2.5), a backport |" in run.summary
    assert "| Previous version | 2.0.0 |" in run.summary
    assert run.outputs["previous-version"] == "2.0.0"
    assert last_line(run.out) == "Published flit-sample 1.2.5: 2 file(s)"
    assert len(pypiserver.files()) == 6

    tag = project.release("1.2.3")
    low = action(project, tag, pypiserver, allow_backport="true")
    assert low.code == 1
    assert the_error(low.out, "backport-not-higher") == (
        "Version refused",
        "Tag 'v1.2.3' is version 1.2.3, a backport to the 1.2 series, but it is not higher "
        "than 1.2.5, that series' highest version on the index.",
        "Tag a version higher than 1.2.5.",
    )
    assert len(pypiserver.files()) == 6


# --- the checkout ------------------------------------------------------------------------


def test_dirty_tree(make_project, pypiserver: Index, cli, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    (project.path / "README.md").write_text("Edited, not committed.\n")
    (project.path / "flit_sample" / "extra.py").write_text("X = 1\n")
    project.git("add", "flit_sample/extra.py")
    (project.path / "scratch notes.txt").write_text("untracked\n")
    listed = "README.md, flit_sample/extra.py"

    run = cli(project.path, "--tag", tag, index=pypiserver)
    assert run.code == 1
    assert cli_error(run.out) == (
        f"The checkout has uncommitted changes to tracked files: {listed}.",
        "Commit or stash them, so that what is published is what the tag names; or set "
        "--allow-dirty to release anyway.",
    )
    # The dry run says so too: it tells what the release would do.
    assert cli(project.path, "--dry-run", "--tag", tag, index=pypiserver).code == 1

    run = action(project, tag, pypiserver)
    assert the_error(run.out, "uncommitted-changes") == (
        "Checkout not ready",
        f"The checkout has uncommitted changes to tracked files: {listed}.",
        "Commit or stash them, so that what is published is what the tag names; or set "
        "allow-dirty: true to release anyway.",
    )
    assert pypiserver.files() == {}

    run = cli(project.path, "--dry-run", "--allow-dirty", "--tag", tag, index=pypiserver)
    assert run.code == 0, run.out
    assert f"warning: Releasing with uncommitted changes: {listed}.\n" in run.out
    assert (
        "warning: Untracked files the build may pick up: scratch notes.txt. Commit them, "
        "remove them or add them to .gitignore.\n"
    ) in run.out
    with zipfile.ZipFile(project.path / "dist" / "flit_sample-1.0.0-py3-none-any.whl") as whl:
        assert "flit_sample/extra.py" in whl.namelist()  # what was built is the tree as it is


def test_status_paths_are_parsed_exactly(tmp_path: Path) -> None:
    """Porcelain -z output: renames, spaces, quotes and a leading space kept."""
    repo = Project(tmp_path)
    repo.git("init", "-q")
    for name in ("a.txt", "old name.txt", 'q"uote.txt'):
        (tmp_path / name).write_text(name)
    repo.commit("files")
    (tmp_path / "a.txt").write_text("changed")
    repo.git("mv", "old name.txt", "new name.txt")
    (tmp_path / 'q"uote.txt').unlink()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "ü.txt").write_text("new")
    out = subprocess.run(
        [*GIT, "status", "--porcelain=v1", "-z", "--untracked-files=all"],
        cwd=tmp_path,
        capture_output=True,
        encoding="utf-8",
        check=True,
    ).stdout
    assert sorted(parse_status(out)) == [
        (" D", 'q"uote.txt'),
        (" M", "a.txt"),
        ("??", "sub/ü.txt"),
        ("R ", "new name.txt"),
    ]


def test_tag_on_another_commit_and_source_date_epoch(
    make_project, pypiserver: Index, cli, action
) -> None:
    """SOURCE_DATE_EPOCH is the tagged commit's time: two HEADs with the same tree and
    the same tag build the same bytes, and the files carry that time."""
    project = make_project("flit")
    tagged = commit_at(project, "2021-03-04T05:06:08Z", "release 1.0.0")
    project.tag("v1.0.0")
    epoch = int(project.git("log", "-1", "--format=%ct"))
    assert epoch == 1614834368

    first = cli(project.path, "--dry-run", "--tag", "v1.0.0", index=pypiserver)
    assert first.code == 0, first.out
    built = dist_files(project.path)
    with zipfile.ZipFile(project.path / "dist" / "flit_sample-1.0.0-py3-none-any.whl") as whl:
        assert {info.date_time for info in whl.infolist()} == {(2021, 3, 4, 5, 6, 8)}
    with tarfile.open(project.path / "dist" / "flit_sample-1.0.0.tar.gz") as sdist:
        # flit_core dates PKG-INFO, which it writes itself, at 0
        times = {m.name: m.mtime for m in sdist.getmembers() if not m.name.endswith("PKG-INFO")}
        assert set(times.values()) == {epoch}, times

    later = commit_at(project, "2024-12-31T23:59:58Z", "after the tag, nothing changed")
    second = cli(project.path, "--dry-run", "--tag", "v1.0.0", index=pypiserver)
    assert second.code == 0, second.out
    assert (
        f"notice: Tag 'v1.0.0' points at commit {tagged[:12]}, not at HEAD ({later[:12]}): "
        "this dry run checked HEAD, with the tagged commit's time for SOURCE_DATE_EPOCH. "
        "A release must run on the tagged commit.\n"
    ) in second.out
    assert dist_files(project.path) == built

    run = cli(project.path, "--tag", "v1.0.0", index=pypiserver)
    assert run.code == 1
    assert cli_error(run.out) == (
        f"Tag 'v1.0.0' points at commit {tagged[:12]}, but the checkout is at {later[:12]}.",
        "Check out the tag first (git checkout v1.0.0), or move the tag to this commit if it "
        "was made on the wrong one.",
    )
    run = action(project, "v1.0.0", pypiserver)
    assert the_error(run.out, "tag-not-on-head")[2] == (
        "Check out the tag (actions/checkout with 'ref: v1.0.0'), or move the tag to this "
        "commit if it was made on the wrong one."
    )
    assert pypiserver.files() == {}


def make_monorepo(root: Path) -> Project:
    """The flit sample under packages/flit, a sibling folder, and no .gitignore: the
    action's own output in packages-dir must not count as news."""
    shutil.copytree(PROJECTS / "flit", root / "packages" / "flit")
    (root / "other").mkdir()
    (root / "other" / "notes.txt").write_text("one\n")
    (root / "README.md").write_text("A monorepo.\n")
    project = Project(root)
    project.git("init", "-q")
    project.commit("initial")
    return project


def test_monorepo_subproject(tmp_path: Path, pypiserver: Index, action, cli) -> None:
    repo = make_monorepo(tmp_path / "mono")
    sub = repo.path / "packages" / "flit"
    tag = "flit-sample-v1.0.0"
    repo.tag(tag)
    # Work in progress on another project does not block this one.
    (repo.path / "other" / "notes.txt").write_text("two\n")
    (repo.path / "other" / "draft.txt").write_text("untracked\n")

    run = action(
        repo, tag, pypiserver, working_directory="packages/flit", tag_prefix="flit-sample-v"
    )
    assert run.code == 0, run.out
    assert "uncommitted" not in run.out
    assert "Untracked" not in run.out
    assert pypiserver.files() == dist_files(sub)

    # From the top with -C, and again: packages-dir's files (untracked, not ignored) are
    # the action's own; an untracked file of the project is named from the top level.
    (sub / "todo list.txt").write_text("untracked\n")
    again = cli(
        repo.path,
        *("-C", "packages/flit", "--dry-run", "--tag", tag, "--tag-prefix", "flit-sample-v"),
        index=pypiserver,
    )
    assert again.code == 0, again.out
    warnings = [line for line in again.out.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: Untracked files the build may pick up: packages/flit/todo list.txt. Commit "
        "them, remove them or add them to .gitignore."
    ]
    assert last_line(again.out) == "Dry run: flit-sample 1.0.0 would publish 2 file(s)"
    assert "  Re-run of an existing version  yes" in again.out

    # A change inside the project blocks, whichever folder the command runs from.
    (sub / "README.md").write_text("Edited.\n")
    expected = "The checkout has uncommitted changes to tracked files: packages/flit/README.md."
    flags = ("--dry-run", "--tag", tag, "--tag-prefix", "flit-sample-v")
    from_top = cli(repo.path, "-C", "packages/flit", *flags, index=pypiserver)
    from_sub = cli(sub, *flags, index=pypiserver)
    assert from_top.code == from_sub.code == 1
    assert cli_error(from_top.out)[0] == cli_error(from_sub.out)[0] == expected


def test_tag_not_fetched_in_actions(make_project, action) -> None:
    """In Actions a tag that is not in the checkout is not an error (the GitHub check
    of the tag's commit covers it), but the log says what is released."""
    project = make_project("flit")
    run = action(
        project,
        "v1.0.0",
        None,
        repository_url="http://127.0.0.1:9/",
        index_url="http://127.0.0.1:9/simple/",
        password="not-used-token",
        github_release="true",
    )
    assert run.code == 1
    assert the_error(run.out)[0] == "Package index error"  # past the checkout's checks
    assert (
        f"::notice::Tag 'v1.0.0' is not in this checkout, so HEAD ({project.head[:12]}) is "
        "released as that tag. To have it checked here, fetch the tag (actions/checkout with "
        "fetch-depth: 0, or fetch-tags: true).\n"
    ) in run.out


def test_tag_not_fetched_without_a_github_release_is_refused(
    make_project, pypiserver: Index, action
) -> None:
    """With github-release false nothing else checks that the tag names the commit
    built: whatever HEAD is would be published as that version."""
    project = make_project("flit")
    run = action(project, "v1.0.0", pypiserver, github_release="false")
    assert run.code == 1
    assert the_error(run.out, "tag-missing")[1:] == (
        "Tag 'v1.0.0' does not exist in this checkout.",
        "Fetch it (actions/checkout with fetch-depth: 0, or fetch-tags: true): with "
        "github-release: false nothing else checks that the tag names the commit built.",
    )
    assert pypiserver.files() == {}
    # A dry run still checks HEAD as if tagged.
    assert action(project, "v1.0.0", pypiserver, github_release="false", dry_run="true").code == 0


def test_not_a_checkout_is_a_warning(tmp_path: Path, cli) -> None:
    plain = tmp_path / "plain"
    shutil.copytree(PROJECTS / "flit", plain)
    flags = ["--dry-run", "--tag", "v1.0.0", "--repository-url", "http://127.0.0.1:9/"]
    env = cli.env(None, GIT_CEILING_DIRECTORIES=str(tmp_path))  # whatever holds tmp_path
    run = cli(plain, *flags, "--index-url", "http://127.0.0.1:9/simple/", env=env)
    assert run.code == 1  # the index is not there; the checkout was looked at first
    assert (
        f"warning: {plain.resolve()} is not in a git checkout: the tag and uncommitted "
        "changes cannot be checked, and the files may not be reproducible (no commit time).\n"
    ) in run.out


def test_a_checkout_git_refuses_is_an_error(make_project, cli) -> None:
    """Another user's checkout ("dubious ownership") is not taken for "no checkout",
    which would skip every check. git's own test switch makes it treat the checkout as
    another user's, as the runner's checkout is for a container running as root."""
    project = make_project("flit")
    project.tag("v1.0.0")
    env = cli.env(None, GIT_CONFIG_NOSYSTEM="1", GIT_TEST_ASSUME_DIFFERENT_OWNER="1")
    flags = ["--dry-run", "--tag", "v1.0.0", "--repository-url", "http://127.0.0.1:9/"]
    run = cli(project.path, *flags, "--index-url", "http://127.0.0.1:9/simple/", env=env)
    assert run.code == 1
    top = project.path.resolve()
    assert cli_error(run.out) == (
        f"git cannot read the checkout: detected dubious ownership in repository at '{top}'.",
        "The checkout belongs to another user. If you trust it, mark it safe: git config "
        f"--global --add safe.directory {top}",
    )


# --- the command line's own rules ----------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "unknown"),
    [
        (["--dry", "--tag", "v1.0.0"], "--dry"),
        (["--allow-back", "--tag", "v1.0.0"], "--allow-back"),
        (["--tag", "v1.0.0", "--index", "https://example.invalid/simple/"], "--index"),
    ],
)
def test_abbreviations_are_refused(make_project, cli, flags: list[str], unknown: str) -> None:
    project = make_project("flit")
    run = cli(project.path, *flags)
    assert run.code == 2
    assert f"error: unrecognized arguments: {unknown}" in run.err
    assert run.out == ""


def test_cli_hints_name_flags(make_project, cli) -> None:
    project = make_project("flit")
    run = cli(
        project.path,
        *("--tag", "v1.0", "--repository-url", "https://custom.example/upload/"),
        env=cli.env(None, TWINE_PASSWORD="pypi-a-token-for-the-test"),
    )
    assert run.code == 1
    assert cli_error(run.out) == (
        "--index-url is required for the custom --repository-url 'https://custom.example/upload/'.",
        "Set --index-url to that index's simple API (for a pypiserver 'https://HOST/simple/', "
        "for devpi 'https://HOST/USER/INDEX/+simple/'): the action reads it to check versions "
        "before uploading.",
    )


def test_boolish_values_fail(make_project, pypiserver: Index, cli, action) -> None:
    """The parse is unit-tested in test_settings.py; only a run shows argparse's refusal
    on the command line, and the action's as an annotation with its title, code and hint."""
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = cli(project.path, "--dry-run=yes", "--tag", tag, index=pypiserver)
    assert run.code == 2
    assert "argument --dry-run/--no-dry-run: ignored explicit argument 'yes'" in run.err
    run = action(project, tag, pypiserver, allow_dirty="True")
    assert run.code == 1
    assert the_error(run.out, "invalid-boolean") == (
        "Invalid input",
        "Input 'allow-dirty' must be 'true' or 'false', not 'True'.",
        "Write 'allow-dirty: true' or 'allow-dirty: false' in the step's 'with:' block.",
    )


def test_error_codes_on_the_command_line(make_project, pypiserver: Index, cli, monkeypatch):
    """A terminal shows no annotation title; the code is still the error's."""
    from release import pipeline
    from release.settings import Settings

    project = make_project("flit")
    monkeypatch.chdir(project.path)
    argv = ["--tag", "v1.0.0", "--repository-url", pypiserver.upload_url]
    settings = Settings.from_args(
        [*argv, "--index-url", pypiserver.simple_url], cli.env(pypiserver)
    )
    with pytest.raises(GitError) as info:
        pipeline.run(settings, Console(actions=False, stream=io.StringIO()))
    assert info.value.code == "tag-missing"


@pytest.mark.parametrize(
    ("argv0", "name"),
    [
        ("/usr/lib/python3/site-packages/release/__main__.py", "python -m release"),
        ("", "python -m release"),
        ("/usr/local/bin/pypi-release", "pypi-release"),
        ("/opt/action/entrypoint.py", "entrypoint.py"),
    ],
)
def test_program_name(argv0: str, name: str) -> None:
    assert program_name(argv0) == name


def test_usage_names_the_program(monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "argv", ["/home/me/.local/bin/pypi-release"])
    with pytest.raises(SystemExit) as info:
        main(["--no-such-flag"], {"PATH": os.environ["PATH"]})
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("usage: pypi-release ")


# --- what a run prints -------------------------------------------------------------------


class Clocked(io.StringIO):
    """A log that records when each line arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        self.times.append((time.monotonic(), text))
        return super().write(text)


CHILD = "import sys, time\nprint('first', flush=True)\ntime.sleep(0.6)\nprint('second')\n"


def test_tool_output_streams_live() -> None:
    log = Clocked()
    console = Console(actions=True, stream=log)
    env = {"PATH": os.environ["PATH"]}
    with ToolLog("T", console) as tool:
        assert tool.run([sys.executable, "-c", CHILD], cwd=Path.cwd(), env=env) == 0
    first = next(t for t, text in log.times if text == "first\n")
    second = next(t for t, text in log.times if text == "second\n")
    assert second - first > 0.4, "the first line was held back until the tool ended"
    lines = log.getvalue().splitlines()
    assert lines[0] == "::group::T"
    assert re.fullmatch(r"::stop-commands::[0-9a-f]{32}", lines[1])
    assert lines[2:] == ["first", "second", f"::{lines[1].rsplit('::', 1)[1]}::", "::endgroup::"]


def failing_step(console: Console, scripts: list[str], env: dict[str, str], note: str = "") -> None:
    """One step of the log running each script as a tool, then failing."""
    with ToolLog("T", console) as tool:
        if note:
            tool.note(note)
        for script in scripts:
            tool.run([sys.executable, "-c", script], cwd=Path.cwd(), env=env)
        raise RuntimeError("the step fails")


def test_tool_output_is_utf8_and_shown_once_when_verbose_in_a_terminal() -> None:
    log = io.StringIO()
    console = Console(actions=False, verbose=True, stream=log)
    env = {"PATH": os.environ["PATH"], "LC_ALL": "C", "PYTHONIOENCODING": "utf-8"}
    script = "print('café ✓'); raise SystemExit(3)"
    with pytest.raises(RuntimeError):
        failing_step(console, [script], env)
    assert log.getvalue() == "-- T\ncafé ✓\n-- T failed; its output is above.\n"


def test_a_failed_step_shows_every_tools_output_after_the_group() -> None:
    log = io.StringIO()
    console = Console(actions=True, stream=log)
    env = {"PATH": os.environ["PATH"]}
    with pytest.raises(RuntimeError):
        failing_step(console, ["print('one')", "print('two')"], env, note="step one")
    after = log.getvalue().split("::endgroup::\n", 1)[1]
    assert after.startswith("-- T failed; its output:\n::stop-commands::")
    assert "\nstep one\none\ntwo\n::" in after


def started_then(action: str) -> tuple[Console, list[int], Cancel]:
    """A console that, when the tool says its pid, interrupts or calls the tool off."""
    pids: list[int] = []
    cancel = Cancel()

    class Reacting(io.StringIO):
        def write(self, text: str) -> int:
            if text.startswith("pid "):
                pids.append(int(text.split()[1]))
                if action == "interrupt":
                    raise KeyboardInterrupt
                cancel.cancel()
            return super().write(text)

    return Console(actions=False, verbose=True, stream=Reacting()), pids, cancel


SLEEPER = "import os, time; print('pid', os.getpid(), flush=True); time.sleep(60)"


@pytest.mark.parametrize(
    ("action", "raised"), [("interrupt", KeyboardInterrupt), ("cancel", Cancelled)]
)
def test_an_interrupted_or_called_off_tool_is_stopped(action: str, raised: type) -> None:
    console, pids, cancel = started_then(action)
    started = time.monotonic()
    with pytest.raises(raised), ToolLog("T", console, cancel) as tool:
        tool.run([sys.executable, "-c", SLEEPER], cwd=Path.cwd(), env={"PATH": os.environ["PATH"]})
    assert time.monotonic() - started < 30
    with pytest.raises(ProcessLookupError):  # killed, and reaped
        os.kill(pids[0], 0)
    shown = console.stream.getvalue()  # type: ignore[attr-defined]
    assert shown.endswith("-- T: called off\n" if action == "cancel" else "\n")
    assert "failed" not in shown


def test_a_called_off_log_starts_no_tool() -> None:
    cancel = Cancel()
    cancel.cancel()
    console = Console(actions=False, stream=io.StringIO())
    with pytest.raises(Cancelled), ToolLog("T", console, cancel) as tool:
        tool.run([sys.executable, "-c", "raise SystemExit(9)"], cwd=Path.cwd(), env={})


def long_plan(names: list[str]) -> Result:
    steps = [
        Step(Dist(Path(n), "wheel", "numpy", "2.1.0", "ab" * 32, 16_000_000), Action.UPLOAD, "")
        for n in names
    ]
    return Result(plan=one_target_plan("numpy", "2.1.0", steps, previous="2.0.0"))


def test_terminal_table_fits_with_long_wheel_names() -> None:
    names = [
        "numpy-2.1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "numpy-2.1.0.tar.gz",
    ]
    settings = SimpleNamespace(
        print_hash=True, index_url="https://pypi.org/simple/", dry_run=True, front="cli"
    )
    text = summary_text(long_plan(names), settings)  # type: ignore[arg-type]
    assert max(len(line) for line in text.splitlines()) <= 100, text
    for name in names:
        assert name in text
    assert text.count("sha256:abababababababab…") == 2


def test_an_unexpected_error_on_the_command_line_names_the_debug_flag(make_project, cli) -> None:
    project = make_project("flit")
    env = cli.env(None, RELEASE_GITHUB_WRITE_INTERVAL="soon")  # an internal error
    run = cli(project.path, "--dry-run", "--tag", "v1.0.0", env=env)
    assert run.code == 1
    assert cli_error(run.out + run.err) == (
        "Unexpected error: ValueError: could not convert string to float: 'soon'",
        "Re-run with --debug for the traceback.",
    )


def test_the_summary_keeps_each_steps_time(make_project, pypiserver: Index, action) -> None:
    """Where the time went, visible afterwards: each step's seconds, in order."""
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action(project, tag, pypiserver)
    assert run.code == 0, run.out
    (row,) = [line for line in run.summary.splitlines() if line.startswith("| Time | ")]
    cell = row.removeprefix("| Time | ")
    steps = re.findall(r"([a-zA-Z][a-zA-Z ]*?) (\d+\.\d) s", cell)
    assert [step for step, _ in steps] == [
        "build",
        "checks",
        "install trial",
        "credential",
        "attestations",
        "upload",
        "confirm",
    ]
    total, parts = float(cell.split(" s (")[0]), [float(s) for _, s in steps]
    assert abs(total - sum(parts)) <= 0.1 * len(parts)
