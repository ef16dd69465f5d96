"""Re-runs after a failure finish the job: never duplicate, never corrupt."""

from __future__ import annotations

import re
import shutil

import pytest
from conftest import Index
from support.faults import ALWAYS, FaultProxy, body, rewrite, status
from support.output import the_error

from release.dists import sha256_of


@pytest.mark.parametrize("kind", ["flit", "setuptools"])
def test_resume_after_a_failed_sdist_upload(
    make_project, index: Index, action, proxy: FaultProxy, kind: str
) -> None:
    project = make_project(kind)
    tag = project.release("1.0.0")
    failing = proxy.add(
        status(503, "Service Unavailable (injected)"),
        method="POST",
        body=b'.tar.gz"',
        times=ALWAYS,
    )
    upload_via_proxy = proxy.url_for(index.upload_url)

    # 1. The sdist upload fails: the wheel is on the index, the run says what is left.
    first = action(project, tag, index, repository_url=upload_via_proxy)
    assert first.code == 1
    assert failing.fired == 4  # each failure re-reads the index, then retries with backoff
    title, message, _ = the_error(first.out, "upload-failed")
    assert title == "Package index error"
    assert message == (
        f"Uploading {sdist_name(project)} to {upload_via_proxy} failed 4 times (last: HTTP "
        "503 Service Unavailable (injected)), and the index does not list it."
    )
    wheel = wheel_name(project)
    first_files = index.files()
    assert list(first_files) == [wheel]
    assert first.outputs["published"] == "false"
    assert "## ❌ Release of" in first.summary
    assert f"| <code>{sdist_name(project)}</code> |" in first.summary
    assert "**not uploaded**" in first.summary
    assert f"Uploaded before the failure: <code>{wheel}</code>" in first.summary

    # 2. The re-run rebuilds, finds the wheel identical, uploads only the sdist.
    shutil.rmtree(project.path / "dist")
    second = action(project, tag, index)
    assert second.code == 0, second.out
    assert f"{wheel}: already on the index, not uploaded" in second.out
    files = index.files()
    assert sorted(files) == sorted([wheel, sdist_name(project)])
    assert files[wheel] == first_files[wheel]
    assert files[sdist_name(project)] == sha256_of(project.path / "dist" / sdist_name(project))
    assert second.outputs["published"] == "true"
    assert "| Re-run of an existing version | yes |" in second.summary

    # 3. A run on the finished release uploads nothing and succeeds.
    shutil.rmtree(project.path / "dist")
    third = action(project, tag, index)
    assert third.code == 0, third.out
    assert index.files() == files
    assert "Upload 0 file(s)" in third.out
    rebuilt_sdist = sha256_of(project.path / "dist" / sdist_name(project))
    if kind == "setuptools":
        # setuptools' sdists are not byte-reproducible: the bytes differ, the content
        # does not, and that is still a resume.
        assert rebuilt_sdist != files[sdist_name(project)]
    else:
        assert rebuilt_sdist == files[sdist_name(project)]
    assert "| already on the index |" in third.summary

    # 4. Same version after a code change: refused, naming the differing files.
    init = next(project.path.glob("**/__init__.py"))
    init.write_text(init.read_text() + "CHANGED = True\n")
    project.commit("change without a version bump")
    project.git("tag", "-f", tag)
    shutil.rmtree(project.path / "dist")
    fourth = action(project, tag, index)
    assert fourth.code == 1
    said = the_error(fourth.out)[1]
    assert said.startswith(
        "Version 1.0.0 is already on the index, and these files differ from this run's: "
        f"{wheel}, {sdist_name(project)}. What differs: {wheel}: "
    )
    assert "__init__.py" in said
    assert index.files() == files


def sdist_name(project) -> str:
    return (
        next((project.path / "dist").glob("*.tar.gz")).name
        if (project.path / "dist").exists()
        else _names(project)[1]
    )


def wheel_name(project) -> str:
    return _names(project)[0]


def _names(project) -> tuple[str, str]:
    mod = {"flit_sample", "st_sample"} & {p.name for p in project.path.rglob("*_sample")}
    stem = mod.pop()
    return f"{stem}-1.0.0-py3-none-any.whl", f"{stem}-1.0.0.tar.gz"


def test_skip_existing_goes_on_with_a_warning(make_project, pypiserver: Index, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    assert action(project, tag, pypiserver).code == 0
    before = pypiserver.files()
    init = project.path / "flit_sample" / "__init__.py"
    init.write_text(init.read_text() + "CHANGED = True\n")
    project.commit("unreproducible")
    project.git("tag", "-f", tag)
    run = action(project, tag, pypiserver, skip_existing="true")
    assert run.code == 0, run.out
    for name in before:
        assert (
            f"::warning title=File skipped::{name} is already on the index with "
            "different content; skipped because skip-existing is true."
        ) in run.out
        assert f"| <code>{name}</code> |" in run.summary
    assert run.summary.count("| skipped: the index has other content (skip-existing) |") == 2
    assert pypiserver.files() == before


def test_index_file_this_run_did_not_build(make_project, devpi: Index, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    assert action(project, tag, devpi).code == 0
    shutil.rmtree(project.path / "dist")
    assert action(project, tag, devpi, dry_run="true").code == 0
    (project.path / "dist" / "flit_sample-1.0.0.tar.gz").unlink()
    run = action(project, tag, devpi, build="false")
    assert run.code == 1
    assert the_error(run.out)[1] == (
        "Version 1.0.0 is already on the index, and these files were not made by this "
        "run: flit_sample-1.0.0.tar.gz."
    )


def test_confirm_catches_a_wrong_hash(
    make_project, pypiserver: Index, action, proxy: FaultProxy
) -> None:
    # The index's listing, seen through a proxy that alters every sha256 it names.
    zeroed = b"sha256=" + b"0" * 64
    proxy.add(
        rewrite(lambda content: re.sub(rb"sha256=[0-9a-f]{64}", zeroed, content)),
        method="GET",
        times=ALWAYS,
    )
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action(project, tag, pypiserver, index_url=proxy.url + "simple/")
    assert run.code == 1
    assert the_error(run.out)[1:] == (
        "The index serves these files with another sha256 than uploaded: "
        "flit_sample-1.0.0-py3-none-any.whl, flit_sample-1.0.0.tar.gz.",
        "Something between this runner and the index altered the files; investigate before "
        "using this release.",
    )
    assert run.outputs["published"] == "false"


def stale_plan(proxy: FaultProxy) -> object:
    """The plan's read of the project page (and its cache-bypassing second look) meets
    a stale cache that has never heard of the project; later reads get the index's page."""
    return proxy.add(body(404, "Not Found"), method="GET", path=r"/simple/flit-sample/", times=2)


def test_files_uploaded_since_the_plan_are_not_uploaded_again(
    make_project, pypiserver: Index, action, proxy: FaultProxy
) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    assert action(project, tag, pypiserver).code == 0  # another run, just before this one
    files = pypiserver.files()
    shutil.rmtree(project.path / "dist")
    stale = stale_plan(proxy)
    run = action(
        project,
        tag,
        pypiserver,
        index_url=proxy.url_for(pypiserver.simple_url),
        repository_url=proxy.url_for(pypiserver.upload_url),
    )
    assert run.code == 0, run.out
    assert stale.fired == 2
    assert proxy.requests_matching("POST") == []  # nothing sent, no credential used
    assert run.outputs["credential"] == ""
    assert "Upload 0 file(s)" in run.out
    assert run.summary.count("| already on the index |") == 2
    assert "| Re-run of an existing version | yes |" in run.summary
    assert pypiserver.files() == files


def test_other_files_uploaded_since_the_plan(
    make_project, pypiserver: Index, action, proxy: FaultProxy
) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    assert action(project, tag, pypiserver).code == 0  # another run, of other code
    files = pypiserver.files()
    init = project.path / "flit_sample" / "__init__.py"
    init.write_text(init.read_text() + "CHANGED = True\n")
    project.commit("a change, the version not bumped")
    project.git("tag", "-f", tag)
    shutil.rmtree(project.path / "dist")
    stale_plan(proxy)
    run = action(
        project,
        tag,
        pypiserver,
        index_url=proxy.url_for(pypiserver.simple_url),
        repository_url=proxy.url_for(pypiserver.upload_url),
    )
    assert run.code == 1
    assert the_error(run.out)[1] == (
        "Version 1.0.0 is already on the index, and these files differ from this run's: "
        "flit_sample-1.0.0-py3-none-any.whl, flit_sample-1.0.0.tar.gz. What differs: "
        "flit_sample-1.0.0-py3-none-any.whl: flit_sample-1.0.0.dist-info/RECORD, "
        "flit_sample/__init__.py; flit_sample-1.0.0.tar.gz: "
        "flit_sample-1.0.0/flit_sample/__init__.py."
    )
    assert proxy.requests_matching("POST") == []
    assert pypiserver.files() == files
