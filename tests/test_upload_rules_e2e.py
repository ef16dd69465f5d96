"""The index's upload rules, end to end: crafted file sets, each breaking one rule,
released with ``build: false`` by trusted publishing through the PyPI-like front with
warehouse's rules on (tests/support/warehouse.py) before a real pypiserver.

Each is refused before the first byte, with warehouse's words, and nothing of the version
reaches the index; with our check off, the stand-in refuses the same file itself; a clean
set is published.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Index
from support import crafted
from support.oidc import (
    GitHubOIDC,
    TrustedPublishingIndex,
    pypi_like,
)
from support.output import errors
from support.projects import Project, git
from support.runner import Action, Run

from release.dists import sha256_of

WHEEL = "demo-1.0-py3-none-any.whl"
SDIST = "demo-1.0.tar.gz"
HEADER = "The index would refuse this release (1 broken upload rule); nothing was uploaded:"
HINT = (
    "Each line gives the index's own answer and what to change in the project. Fix them "
    "all and release again"
)
POLICY_HINT = (
    HINT + "; an index that does not apply PyPI's policy (classifiers, platform tags, sizes, "
    "release age) can be told so with pypi-rules: false."
)
REBUILD_NAME = (
    "Publish the file under the name a current build backend gives it (rebuild it with the "
    "backend's current version; do not rename files by hand)."
)
LICENSE_FILES = (
    "List in [project] license-files only files that exist (the globs are relative to "
    "pyproject.toml), and rebuild with a backend that supports PEP 639."
)
DAY = 86400.0


@dataclasses.dataclass
class Stage:
    """The project checkout, the OIDC token service and the front before pypiserver."""

    project: Project
    tag: str
    oidc: GitHubOIDC
    front: TrustedPublishingIndex
    index: Index
    packages: Path  # pypiserver's folder: what the index holds

    @property
    def dist(self) -> Path:
        return self.project.path / "dist"

    def run(self, action: Action, index_url: str | None = None, **inputs: str) -> Run:
        given = {
            "user": "__token__",
            "password": "",
            "repository_url": self.front.url_for(self.index.upload_url),
            "index_url": index_url or self.front.url_for(self.index.simple_url),
            "build": "false",
            "attestations": "false",
            **inputs,
        }
        env = action.env(self.project, self.tag, None, **given)
        env.update(self.oidc.request_env())
        return action.run(env)


@pytest.fixture
def stage(tmp_path: Path, pypiserver: Index) -> Iterator[Stage]:
    path = tmp_path / "workspace"
    path.mkdir()
    (path / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "1.0"\n')
    (path / ".gitignore").write_text("dist/\n")
    git(path, "init", "-q")
    project = Project(path)
    project.commit("initial")
    tag = "v1.0"
    project.tag(tag)
    (path / "dist").mkdir()
    oidc, front = pypi_like(pypiserver)
    oidc.ref, oidc.sha = f"refs/tags/{tag}", project.head
    yield Stage(project, tag, oidc, front, pypiserver, tmp_path / "pypiserver" / "packages")
    front.close()
    oidc.close()


Make = Callable[[Path], list[Path]]


def clean(d: Path) -> list[Path]:
    return [crafted.wheel(d), crafted.sdist(d)]


def with_wheel(**kw: Any) -> Make:
    return lambda d: [crafted.wheel(d, **kw), crafted.sdist(d)]


def with_sdist(**kw: Any) -> Make:
    return lambda d: [crafted.wheel(d), crafted.sdist(d, **kw)]


# id -> (files, pypi-rules, max-file-size, the violation's line: "file: reason Fix: fix")
CASES: dict[str, tuple[Make, str, str, str]] = {
    "wheel-name": (
        with_wheel(info_stem="Demo-1.0"),
        "auto", "",
        "Demo-1.0-py3-none-any.whl: Filename 'Demo-1.0-py3-none-any.whl' should contain the "
        f"normalized project name 'demo', not 'Demo'. Fix: {REBUILD_NAME}",
    ),
    "classifier": (
        with_wheel(fields={"Classifier": ["Nope :: Not :: A Classifier"]}),
        "true", "",
        f"{WHEEL}: 'Nope :: Not :: A Classifier' is not a valid classifier. Fix: Use "
        "classifiers from https://pypi.org/classifiers/ only.",
    ),
    "platform-tag": (
        with_wheel(tags="py3-none-linux_x86_64"),
        "true", "",
        "demo-1.0-py3-none-linux_x86_64.whl: Binary wheel "
        "'demo-1.0-py3-none-linux_x86_64.whl' has an unsupported platform tag "
        "'linux_x86_64'. Fix: Repair the wheel for a portable platform (auditwheel repair "
        "gives manylinux/musllinux wheels; cibuildwheel does it for you), or publish the "
        "sdist only.",
    ),
    "metadata-version": (
        with_wheel(fields={"Metadata-Version": "2.6"}),
        "auto", "",
        f"{WHEEL}: '2.6' is not a valid metadata version Fix: Build with a backend (or a "
        "version of it) that writes Metadata-Version 2.5 or older; the index does not take "
        "newer yet.",
    ),
    "license-and-expression": (
        with_sdist(fields={"License": "MIT License"}),
        "auto", "",
        f"{SDIST}: License is deprecated when License-Expression is present. Only "
        "License-Expression should be present. Fix: Drop the license table/classic license "
        'text and keep only the SPDX expression ([project] license = "...").',
    ),
    "requires-dist-url": (
        with_wheel(fields={"Requires-Dist": ["foo @ https://example.org/foo-1.0.whl"]}),
        "auto", "",
        f"{WHEEL}: Can't have direct dependency: foo @ https://example.org/foo-1.0.whl Fix: "
        "Depend on a released project by name and version specifier; an index takes no "
        "URL dependencies.",
    ),
    "license-file": (
        with_wheel(omit=["LICENSE"]),
        "auto", "",
        f"{WHEEL}: License-File LICENSE does not exist in distribution file {WHEEL} at "
        f"demo-1.0.dist-info/licenses/LICENSE Fix: {LICENSE_FILES}",
    ),
    "file-size": (
        with_wheel(members={"demo/blob.bin": os.urandom(2 * 1024 * 1024)}),
        "true", "1MiB",
        f"{WHEEL}: File too large. Limit for project 'demo' is 1 MB. See "
        "https://docs.pypi.org/project-management/storage-limits#requesting-a-file-size-"
        "limit-increase for more information. Fix: Make the file smaller (leave tests, "
        "data and debug symbols out), or ask PyPI for a larger limit and set max-file-size "
        "to it.",
    ),
}  # fmt: skip


def assert_refused(run: Run, line: str, hint: str, stage: Stage, before: dict[str, str]) -> None:
    """Refused before any upload, with exactly this rule, and the index as it was."""
    assert run.code == 1, run.out
    assert errors(run.out) == [
        ("Distribution check failed", "upload-rules", f"{HEADER}\n- {line}\n{hint}")
    ]
    assert stage.front.uploads == []  # not one byte, not even a refused attempt
    assert stage.front.minted == []  # nor a credential
    assert stage.index.files() == before


@pytest.mark.parametrize("case", list(CASES))
def test_a_broken_rule_is_refused_before_any_upload(stage: Stage, action, case: str) -> None:
    make, pypi_rules, max_size, line = CASES[case]
    make(stage.dist)
    run = stage.run(action, pypi_rules=pypi_rules, max_file_size=max_size)
    hint = POLICY_HINT if pypi_rules == "true" else f"{HINT}."
    assert_refused(run, line, hint, stage, {})


def test_the_index_has_another_sdist_of_the_version(stage: Stage, action) -> None:
    # An sdist under a legacy (unnormalized) name is on the index already.
    crafted.sdist(stage.packages, filename="Demo-1.0.tar.gz", top="Demo-1.0")
    before = stage.index.files()
    clean(stage.dist)
    run = stage.run(action)
    line = (
        f"{SDIST}: Only one sdist may be uploaded per release. Fix: The index already has "
        "Demo-1.0.tar.gz for this version: publish that one or none, or release a new version."
    )
    assert_refused(run, line, f"{HINT}.", stage, before)


class JsonPage:
    """A PEP 691 (api-version 1.1) page for project demo, with PEP 700 upload times:
    pypiserver serves HTML, which says no time."""

    def __init__(self, files: list[tuple[Path, datetime]]) -> None:
        body = {
            "meta": {"api-version": "1.1"},
            "name": "demo",
            "versions": ["1.0"],
            "files": [
                {
                    "filename": path.name,
                    "url": f"/files/{path.name}",
                    "hashes": {"sha256": sha256_of(path)},
                    "size": path.stat().st_size,
                    "upload-time": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                }
                for path, when in files
            ],
        }
        page = json.dumps(body).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                ok = self.path.rstrip("/") == "/simple/demo"
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
                self.send_header("Content-Length", str(len(page) if ok else 0))
                self.end_headers()
                self.wfile.write(page if ok else b"")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def old_release(stage: Stage) -> Iterator[JsonPage]:
    """Release 1.0 made 20 days ago with its sdist alone, on the index and in the
    front's ledger (warehouse's own record of the release's age); this run brings the
    same sdist and a wheel."""
    made = datetime.now(UTC) - timedelta(days=20)
    sdist = crafted.sdist(stage.dist)
    crafted.wheel(stage.dist)
    shutil.copy(sdist, stage.packages / sdist.name)
    release = stage.front.ledger.add_release("demo", "1.0", time.time() - 20 * DAY)
    release.files[SDIST] = crafted_record(sdist)
    page = JsonPage([(sdist, made)])
    yield page
    page.close()


def crafted_record(path: Path) -> Any:
    import hashlib

    from support.warehouse import FileRecord

    data = path.read_bytes()
    return FileRecord(
        path.name, sha256_of(path), hashlib.blake2b(data, digest_size=32).hexdigest(), "sdist"
    )


def test_a_release_older_than_14_days_takes_no_new_file(
    stage: Stage, action, old_release: JsonPage
) -> None:
    before = stage.index.files()
    run = stage.run(action, index_url=old_release.url, pypi_rules="true")
    made = (datetime.now(UTC) - timedelta(days=20)).strftime("%Y-%m-%d")
    line = (
        f"{WHEEL}: Uploading new files to releases older than 14 days is not allowed. Fix: "
        f"The index made this release on {made}: publish these files under a new version (a "
        "post-release, e.g. .post1), or leave them out."
    )
    assert_refused(run, line, POLICY_HINT, stage, before)


def test_with_skip_existing_the_file_is_left_out_with_a_warning(
    stage: Stage, action, old_release: JsonPage
) -> None:
    before = stage.index.files()
    run = stage.run(action, index_url=old_release.url, pypi_rules="true", skip_existing="true")
    assert run.code == 0, run.out
    assert (
        f"::warning title=File skipped::{WHEEL}: Uploading new files to releases older than "
        "14 days is not allowed. Left out because skip-existing is true."
    ) in run.out.splitlines()
    assert stage.front.uploads == []
    assert stage.index.files() == before
    assert "| Upload rules | 2 file(s) checked, packaging specifications + PyPI policy |" in (
        run.summary
    )


def test_the_stand_in_refuses_what_our_check_was_told_to_let_pass(stage: Stage, action) -> None:
    """With pypi-rules false, the linux_x86_64 wheel reaches the index, which refuses it
    in warehouse's words; as it goes first and alone, nothing else is published."""
    with_wheel(tags="py3-none-linux_x86_64")(stage.dist)
    run = stage.run(action, pypi_rules="false")
    assert run.code == 1, run.out
    wheel = "demo-1.0-py3-none-linux_x86_64.whl"
    why = f"Binary wheel '{wheel}' has an unsupported platform tag 'linux_x86_64'."
    ((_, code, text),) = errors(run.out)
    assert code == "upload-refused"
    assert text.partition("\n")[0] == (
        f"{stage.front.url_for(stage.index.upload_url)} refused {wheel} (HTTP 400 {why})."
    )
    assert [(u.status) for u in stage.front.uploads] == [400]
    assert stage.index.files() == {}


def test_a_clean_set_is_published(stage: Stage, action) -> None:
    files = clean(stage.dist)
    run = stage.run(action, pypi_rules="true")
    assert run.code == 0, run.out
    assert stage.index.files() == {p.name: sha256_of(p) for p in files}
    assert [u.status for u in stage.front.uploads] == [200, 200]
    assert "| Upload rules | 2 file(s) checked, packaging specifications + PyPI policy |" in (
        run.summary
    )
