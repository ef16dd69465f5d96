"""Security: paths stay in the workspace, outside text cannot command the runner, secrets
reach no output and no child, and a bomb on the index costs bounded memory.

Every refusal leaves the index empty (or as it was) and says what to do.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import GITHUB_TOKEN, TOKEN, Index, Project
from support.faults import FaultProxy, gzip_bomb, oversized, status
from support.output import assert_only_our_commands, commands, errors, the_error
from support.runner import Run

from release import upload
from release.dists import sha256_of

WHEEL = "flit_sample-1.0.0-py3-none-any.whl"
SDIST = "flit_sample-1.0.0.tar.gz"
SECRET_TEXT = "TOP-SECRET-FROM-OUTSIDE-THE-WORKSPACE"
OUTSIDE_HINT = (
    "Point it at a file inside the repository; symlinks out of the repository are refused "
    "so that no file from the runner can be published."
)


def built(project: Project) -> dict[str, str]:
    return {p.name: sha256_of(p) for p in (project.path / "dist").iterdir()}


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the workspace, holding what must never be published."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "notes.md").write_text(f"# Notes\n\n{SECRET_TEXT}\n")
    (folder / "CHANGELOG.md").write_text(f"# Changelog\n\n## 1.0.0\n\n{SECRET_TEXT}\n")
    return folder


def prebuilt(action, project: Project, tag: str, index: Index) -> None:
    """Build once (dry run), so the refusals below run with build=false, in a second."""
    run = action(project, tag, index, dry_run="true", verify_metadata="false")
    assert run.code == 0, run.out


def refused(run: Run, code: str, index: Index) -> tuple[str, str, str]:
    assert run.code == 1
    assert SECRET_TEXT not in run.out
    assert SECRET_TEXT not in run.summary
    assert index.files() == {}
    assert_only_our_commands(run.out)
    return the_error(run.out, code)


# --- paths: release notes, the changelog, packages-dir ----------------------------------


@pytest.mark.parametrize("how", ["relative", "absolute", "symlink"])
def test_release_notes_outside_the_workspace(
    make_project, pypiserver: Index, github, action, outside: Path, how: str
) -> None:
    project = make_project("flit")
    if how == "symlink":
        (project.path / "NOTES.md").symlink_to(outside / "notes.md")
        notes = "NOTES.md"
    else:
        notes = "../outside/notes.md" if how == "relative" else str(outside / "notes.md")
    tag = project.release("1.0.0")  # commits the symlink
    prebuilt(action, project, tag, pypiserver)
    run = action(
        project,
        tag,
        pypiserver,
        github,
        build="false",
        verify_metadata="false",
        release_notes=notes,
    )
    assert refused(run, "path-outside-workspace", pypiserver) == (
        "Invalid input",
        f"release-notes '{notes}' resolves outside the workspace ({project.path}).",
        OUTSIDE_HINT,
    )
    assert github.writes() == []
    assert github.repos["octo-org/sample"].releases == {}


@pytest.mark.parametrize("target", ["relative", "absolute"])
def test_changelog_symlink_outside_the_workspace(
    make_project, pypiserver: Index, github, action, outside: Path, target: str
) -> None:
    project = make_project("flit")
    link = project.path / "CHANGELOG.md"
    link.symlink_to("../outside/CHANGELOG.md" if target == "relative" else outside / "CHANGELOG.md")
    assert link.read_text().endswith(f"{SECRET_TEXT}\n")  # the link works: it is refused
    tag = project.release("1.0.0")
    prebuilt(action, project, tag, pypiserver)
    run = action(project, tag, pypiserver, github, build="false", verify_metadata="false")
    assert refused(run, "path-outside-workspace", pypiserver)[1] == (
        f"the changelog 'CHANGELOG.md' resolves outside the workspace ({project.path})."
    )
    assert github.writes() == []


@pytest.mark.parametrize("kind", ["directory", "too-large"])
def test_release_notes_must_be_a_small_regular_file(
    make_project, pypiserver: Index, github, action, kind: str
) -> None:
    project = make_project("flit")
    if kind == "directory":
        (project.path / "notes").mkdir()
        (project.path / "notes" / "keep.md").write_text(SECRET_TEXT)
        notes, code, message = "notes", "file-not-regular", "release-notes 'notes' is not a "
        message += "regular file."
    else:
        big = project.path / "notes.md"
        big.write_text((SECRET_TEXT + "\n") * (6 * 1024 * 1024 // len(SECRET_TEXT)))
        size = big.stat().st_size
        notes, code = "notes.md", "file-too-large"
        message = f"release-notes 'notes.md' is {size} bytes, more than 5242880."
    tag = project.release("1.0.0")
    prebuilt(action, project, tag, pypiserver)
    run = action(
        project,
        tag,
        pypiserver,
        github,
        build="false",
        verify_metadata="false",
        release_notes=notes,
    )
    assert refused(run, code, pypiserver)[1] == message
    assert github.writes() == []


@pytest.mark.parametrize("how", ["relative", "absolute", "symlink"])
def test_packages_dir_outside_the_workspace(
    make_project, pypiserver: Index, action, tmp_path: Path, how: str
) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    prebuilt(action, project, tag, pypiserver)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(project.path / "dist", elsewhere)  # valid files, in the wrong place
    if how == "symlink":
        (project.path / "artifacts").symlink_to(elsewhere)
        project.commit("artifacts link")
        project.git("tag", "-f", tag)
        packages_dir = "artifacts"
    else:
        packages_dir = "../elsewhere" if how == "relative" else str(elsewhere)
    for build in ("false", "true"):  # refused before building, too
        run = action(project, tag, pypiserver, build=build, packages_dir=packages_dir)
        assert refused(run, "path-outside-workspace", pypiserver) == (
            "Invalid input",
            f"packages-dir '{packages_dir}' resolves outside the workspace ({project.path}).",
            OUTSIDE_HINT,
        )
        assert "Build sdist and wheel" not in run.out
    assert sorted(p.name for p in elsewhere.iterdir()) == [WHEEL, SDIST]  # not written to


# --- outside text in file names ----------------------------------------------------------

EVIL_NAME = (
    "flit_sample-1.0.0-py3-none-any<img src=x onerror=alert(1)>[x](javascript:alert(1))"
    "\r::warning::injected\n::error title=Forged::forged\u2028::add-mask::zz.whl"
)


def test_file_name_with_cr_lf_cannot_inject(make_project, pypiserver: Index, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    prebuilt(action, project, tag, pypiserver)
    dist = project.path / "dist"
    (dist / WHEEL).rename(dist / EVIL_NAME)
    run = action(project, tag, pypiserver, build="false", verify_metadata="false")
    refused(run, "dist-version-mismatch", pypiserver)
    # The name's CR and LF arrive escaped inside the one annotation (%0D, %0A).
    assert errors(run.out)[0][2] == (
        f"packages-dir 'dist' holds files of another version than 1.0.0 (tag 'v1.0.0'): "
        f"{EVIL_NAME} (version 1.0.0).\nOnly the tagged version's files may be published; "
        "remove the others (a stale file from an earlier build?)."
    )
    for line in commands(run.out):
        assert not line.startswith(("::warning::", "::error title=Forged", "::add-mask::zz")), line
    # The summary shows the name as text: no HTML, no link.
    assert "<img" not in run.summary
    assert "[x](" not in run.summary
    assert "&lt;img src=x onerror=alert(1)&gt;" in run.summary


def test_a_file_renamed_for_another_project_is_refused_before_any_upload(
    make_project, pypiserver: Index, action
) -> None:
    """PyPI refuses a file whose name and metadata disagree, perhaps after the others
    went up; here nothing goes up."""
    project = make_project("flit")
    tag = project.release("1.0.0")
    prebuilt(action, project, tag, pypiserver)
    dist = project.path / "dist"
    (dist / WHEEL).rename(dist / "otherproj-1.0.0-py3-none-any.whl")
    run = action(project, tag, pypiserver, build="false", verify_metadata="false")
    assert refused(run, "dist-filename-mismatch", pypiserver)[1] == (
        "packages-dir 'dist' holds files whose name is another project's than their "
        "metadata's: otherproj-1.0.0-py3-none-any.whl (project 'otherproj' in its name, "
        "'flit-sample' in its metadata)."
    )


# --- secrets -------------------------------------------------------------------------------


def test_credentials_in_urls(make_project, pypiserver: Index, action, spawned) -> None:
    host = pypiserver.base.removeprefix("http://")
    password = "url-password-5ecret-77aa"
    user_only = "user-only-token-9f2e4b"
    project = make_project("flit")
    tag = project.release("1.0.0")
    env = action.env(
        project,
        tag,
        pypiserver,
        repository_url=f"http://uploader:{password}@{host}/",
        index_url=f"http://{user_only}@{host}/simple/",
        verbose="true",
    )
    spawned.clear()
    run = action.run(env)
    assert run.code == 0, run.out
    assert pypiserver.files() == built(project)
    # The password is masked (before anything else), and never shown by us.
    assert f"::add-mask::{password}" in run.out.splitlines()[:4]
    assert run.out.count(password) == 1
    assert f"Upload 2 file(s) to http://***@{host}/" in run.out
    for text in (run.summary, json.dumps(run.outputs)):
        assert password not in text
        assert user_only not in text
    # Scrubbed wherever a URL is shown (masking it too would be welcome: only that line).
    assert [line for line in run.out.splitlines() if user_only in line] in (
        [],
        [f"::add-mask::{user_only}"],
    )
    assert r"| Index | http://\*\*\*@" in run.summary
    for _exe, args, _cwd, child_env in spawned:
        assert child_env is not None
        blob = " ".join(map(str, args)) + json.dumps(dict(child_env))
        assert password not in blob
        assert user_only not in blob


def test_credentials_in_urls_on_failure(
    make_project, pypiserver: Index, action, monkeypatch
) -> None:
    monkeypatch.setattr(upload, "ATTEMPTS", 1)
    password = "url-password-on-failure-19"
    project = make_project("flit")
    tag = project.release("1.0.0")
    with FaultProxy(pypiserver.base) as proxy:
        proxy.add(status(503), method="POST", times=1)
        host = proxy.url.removeprefix("http://").rstrip("/")
        run = action(project, tag, pypiserver, repository_url=f"http://uploader:{password}@{host}/")
    assert run.code == 1
    assert the_error(run.out, "upload-failed")[1] == (
        f"Uploading {WHEEL} to http://***@{host}/ failed once (last: HTTP 503 Service "
        "Unavailable), and the index does not list it."
    )
    assert run.out.count(password) == 1  # the mask
    assert password not in run.summary
    assert pypiserver.files() == {}
    shutil.rmtree(project.path / "dist")
    assert action(project, tag, pypiserver).code == 0


def test_build_backend_sees_no_secret(
    make_project, pypiserver: Index, action, spawned, tmp_path: Path
) -> None:
    """A secret under any name, and every input, stays out of the build backend's
    environment; the backend (tests/projects/envdump) records what it was given."""
    project = make_project("envdump")
    tag = project.release("1.0.0")
    dump = tmp_path / "backend-env.jsonl"
    url_password = "repo-url-password-4c1d"
    own_name = "pypi-own-named-secret-0042"
    env = action.env(
        project,
        tag,
        pypiserver,
        repository_url=f"http://uploader:{url_password}@{pypiserver.base.split('//')[1]}/",
    )
    env.update(
        {
            "MY_PYPI_TOKEN": own_name,  # named like a secret
            "DEPLOY_VALUE": TOKEN,  # an innocent name, holding the password
            "MIRROR_URL": f"https://mirror:{url_password}@mirror.invalid/",  # holds a secret
            "ENVDUMP_FILE": str(dump),
            "HARMLESS_SETTING": "keep-me",
        }
    )
    spawned.clear()
    run = action.run(env)
    assert run.code == 0, run.out
    assert pypiserver.files() == built(project)
    records = [json.loads(line) for line in dump.read_text().splitlines()]
    assert sorted(r["hook"] for r in records) == ["build_sdist", "build_wheel"]
    secrets = (TOKEN, GITHUB_TOKEN, url_password, own_name)
    for record in records:
        seen = record["env"]
        assert seen.get("HARMLESS_SETTING") == "keep-me"  # the dump is real
        assert [k for k in seen if k.startswith("INPUT_")] == []
        for name in ("MY_PYPI_TOKEN", "DEPLOY_VALUE", "MIRROR_URL"):
            assert name not in seen
        blob = json.dumps(seen)
        for secret in secrets:
            assert secret not in blob
    assert spawned
    for _exe, args, _cwd, child_env in spawned:
        assert child_env is not None
        blob = " ".join(map(str, args)) + json.dumps(dict(child_env))
        for secret in secrets:
            assert secret not in blob
    for secret in secrets:
        assert secret not in run.summary
    assert run.out.count(own_name) == 0


# --- bombs, with the memory they cost ------------------------------------------------------

# The peak RSS of the action's own process. Not getrusage's ru_maxrss: Linux carries
# the parent's high-water mark across fork and exec into it (an xdist worker's, here);
# VmHWM belongs to the process's own address space, which exec made new.
RUNNER = """
import re, sys
from release.__main__ import main
code = main([], None)
sys.stdout.flush()
with open("/proc/self/status") as fh:
    peak = re.search(r"^VmHWM:\\s+(\\d+) kB", fh.read(), re.M).group(1)
print(f"\\nPEAK_RSS_KIB={peak}")
sys.exit(code)
"""
# The action's process alone (its build and tools are children, not counted) peaks at
# about 52 MiB in these runs, a 20 MiB page included; the 50 MiB page read whole would
# pass this bound, and a bomb read whole would cost a GiB or more.
MEMORY_BOUND = 100 * 1024 * 1024


def run_measured(env: dict[str, str], cwd: Path) -> tuple[int, str, int]:
    """Run the action in its own process; (exit code, output, peak RSS in bytes)."""
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = proc.stdout + proc.stderr
    found = re.search(r"\nPEAK_RSS_KIB=(\d+)\n", out)
    assert found, out
    return proc.returncode, out.replace(found.group(0), "\n"), int(found.group(1)) * 1024


def _deflated_zeros(n_mib: int, head: bytes = b"", tail: bytes = b"") -> tuple[bytes, int, int]:
    """A raw deflate stream of ``head`` + n MiB of zeros + ``tail``: (stream, crc, size).
    Flushed segments from fresh compressors concatenate into one valid stream."""

    def segment(data: bytes, final: bool) -> bytes:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        return c.compress(data) + c.flush(zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH)

    mib = bytes(1024 * 1024)
    crc = zlib.crc32(head)
    for _ in range(n_mib):
        crc = zlib.crc32(mib, crc)
    crc = zlib.crc32(tail, crc)
    stream = segment(head, False) + segment(mib, False) * n_mib + segment(tail, True)
    return stream, crc, len(head) + n_mib * len(mib) + len(tail)


def zip_bomb(member: str, n_mib: int) -> bytes:
    """A zip with one member that inflates to ``n_mib`` MiB."""
    data, crc, size = _deflated_zeros(n_mib)
    name = member.encode()
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), size, len(name), 0
    )
    central = (
        struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            20,
            20,
            0,
            8,
            0,
            0x21,
            crc,
            len(data),
            size,
            len(name),
            0,
            0,
            0,
            0,
            0,
            0,
        )
        + name
    )
    offset = len(local) + len(name) + len(data)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), offset, 0)
    return local + name + data + central + end


def tar_gz_bomb(member: str, n_mib: int) -> bytes:
    """A .tar.gz with one member that inflates to ``n_mib`` MiB."""
    info = tarfile.TarInfo(member)
    info.size = n_mib * 1024 * 1024
    head = info.tobuf(format=tarfile.USTAR_FORMAT)
    data, crc, size = _deflated_zeros(n_mib, head, bytes(1024))
    gzip_header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return gzip_header + data + struct.pack("<II", crc, size & 0xFFFFFFFF)


def upload_raw(index: Index, filename: str, content: bytes) -> None:
    """Put a file on the index as it is (pypiserver takes any bytes under a valid name)."""
    fields = {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": "flit-sample",
        "version": "1.0.0",
        "filetype": "bdist_wheel" if filename.endswith(".whl") else "sdist",
        "pyversion": "py3" if filename.endswith(".whl") else "source",
        "metadata_version": "2.1",
    }
    r = requests.post(
        index.upload_url,
        data=fields,
        files={"content": (filename, content)},
        auth=(index.user, index.password),
        timeout=60,
    )
    assert r.ok, (r.status_code, r.text)


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    """Both files of flit-sample 1.0.0, each inflating to 1 GiB (about 1 MiB each)."""
    made = {
        WHEEL: zip_bomb("flit_sample/__init__.py", 1024),
        SDIST: tar_gz_bomb("flit_sample-1.0.0/PKG-INFO", 1024),
    }
    # Real archives, or the test would only show that a broken file is refused.
    with zipfile.ZipFile(io.BytesIO(made[WHEEL])) as zf:
        (info,) = zf.infolist()
        assert info.file_size == 1024**3
        with zf.open(info) as fh:
            assert fh.read(1024 * 1024) == bytes(1024 * 1024)
    with tarfile.open(fileobj=io.BytesIO(made[SDIST]), mode="r:gz") as tf:
        member = tf.next()
        assert member is not None
        assert member.size == 1024**3
        fh = tf.extractfile(member)
        assert fh is not None
        assert fh.read(1024 * 1024) == bytes(1024 * 1024)
    assert all(len(content) < 2 * 1024 * 1024 for content in made.values())
    return made


def test_compression_bomb_on_the_index_costs_bounded_memory(
    make_project, pypiserver: Index, action, bombs: dict[str, bytes]
) -> None:
    """A re-run of a version whose index files differ compares the archives: with a bomb
    there, the comparison stops at its budget, and the version is refused."""
    for name, content in bombs.items():
        upload_raw(pypiserver, name, content)
    before = pypiserver.files()
    project = make_project("flit")
    tag = project.release("1.0.0")
    env = action.env(project, tag, pypiserver)
    code, out, peak = run_measured(env, project.path)
    assert code == 1, out
    assert the_error(out, "version-exists-different-files")[1:] == (
        f"Version 1.0.0 is already on the index, and these files differ from this run's: "
        f"{WHEEL}, {SDIST}. What differs: {WHEEL}: the index's copy could not be compared "
        f"within bounds; {SDIST}: the index's copy could not be compared within bounds.",
        "The version was probably not bumped after a change: tag a new version. (Only if "
        "the build cannot be reproduced, set skip-existing: true.)",
    )
    assert "Build sdist and wheel" in out  # it did get as far as comparing
    assert pypiserver.files() == before
    assert peak < MEMORY_BOUND, f"peak RSS {peak / 2**20:.0f} MiB"


def many_members_tar_gz(n: int) -> bytes:
    """A .tar.gz of ``n`` empty members: small on the wire, costly to list."""
    template = bytearray(tarfile.TarInfo("x").tobuf(format=tarfile.USTAR_FORMAT))
    template[0:100] = bytes(100)  # the name field
    template[148:156] = b" " * 8  # the checksum field, as the checksum counts it
    base = sum(template)
    out = bytearray()
    for i in range(n):
        name = b"flit_sample-1.0.0/%d" % i
        header = bytearray(template)
        header[0 : len(name)] = name
        header[148:156] = b"%06o\0 " % (base + sum(name))
        out += header
    out += bytes(1024)
    return gzip.compress(bytes(out), compresslevel=1, mtime=0)


def test_many_member_archive_on_the_index_costs_bounded_memory(
    make_project, pypiserver: Index, action
) -> None:
    """300,000 empty members in 3 MiB: no byte to inflate, but each listed member is
    kept; an archive like ours has as many members as ours."""
    upload_raw(pypiserver, SDIST, many_members_tar_gz(300_000))
    before = pypiserver.files()
    project = make_project("flit")
    tag = project.release("1.0.0")
    code, out, peak = run_measured(action.env(project, tag, pypiserver), project.path)
    assert code == 1, out
    assert the_error(out, "version-exists-different-files")[1] == (
        f"Version 1.0.0 is already on the index, and these files differ from this run's: {SDIST}. "
        f"What differs: {SDIST}: the index's copy could not be compared within bounds."
    )
    assert pypiserver.files() == before
    assert peak < MEMORY_BOUND, f"peak RSS {peak / 2**20:.0f} MiB"


@pytest.fixture
def page_proxy(pypiserver: Index) -> Iterator[FaultProxy]:
    with FaultProxy(pypiserver.base) as proxy:
        yield proxy


@pytest.mark.parametrize("fault", ["oversized", "gzip-bomb"])
def test_hostile_page_costs_bounded_memory(
    make_project, pypiserver: Index, action, page_proxy: FaultProxy, fault: str
) -> None:
    size = 50 * 1024 * 1024 if fault == "oversized" else 4 * 1024**3
    page = (
        oversized(size, project="flit-sample", announce_length=False)
        if fault == "oversized"
        else gzip_bomb(size, project="flit-sample")
    )
    page_proxy.add(page, method="GET", path=r"/flit-sample/$", times=None)
    project = make_project("flit")
    tag = project.release("1.0.0")
    env = action.env(project, tag, pypiserver, index_url=page_proxy.url_for(pypiserver.simple_url))
    code, out, peak = run_measured(env, project.path)
    assert code == 1, out
    _title, message, hint = the_error(out, "index-page-unusable")
    assert message.endswith("could not be read: it is larger than 20 MiB.")
    assert hint.startswith("Nothing was uploaded.")
    assert pypiserver.files() == {}
    assert peak < MEMORY_BOUND, f"peak RSS {peak / 2**20:.0f} MiB"
