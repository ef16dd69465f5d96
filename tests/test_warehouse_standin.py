"""The warehouse stand-in (tests/support/warehouse.py) refuses what PyPI's upload endpoint
refuses, in warehouse's status and words: each rule on a file crafted to break it alone,
the form read as warehouse reads it (repeated fields, "Label, URL" project URLs, one
comma-separated keywords field), and through the trusted-publishing front before a real
pypiserver: a refused upload leaves nothing on the index, a good one passes."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from support import crafted, warehouse
from support.indexes import Index
from support.oidc import TOKEN_USER, GitHubOIDC, Publisher, TrustedPublishingIndex
from test_rules import CASES

from release.dists import read_metadata

NOW = time.time()
CORE = "See https://packaging.python.org/specifications/core-metadata for more information."
WHEEL = "demo-1.0-py3-none-any.whl"
SDIST = "demo-1.0.tar.gz"
FORM_NAMES = {"platforms": "platform", "supported_platforms": "supported_platform",
              "license_files": "license_file"}  # fmt: skip


def form_of(path: Path) -> list[tuple[str, str]]:
    """The upload form twine 6 / uv send for ``path``: its metadata, file type, digest."""
    fields: list[tuple[str, str]] = []
    for key, value in read_metadata(path).items():
        name = FORM_NAMES.get(key, key)
        if key == "keywords" and isinstance(value, list):
            fields.append((name, ", ".join(value)))
        elif isinstance(value, dict):
            fields += [(name, f"{label}, {url}") for label, url in value.items()]
        elif isinstance(value, list):
            fields += [(name, v) for v in value]
        else:
            fields.append((name, str(value)))
    wheel = path.name.endswith(".whl")
    return [
        *fields,
        ("filetype", "bdist_wheel" if wheel else "sdist"),
        ("pyversion", "py3" if wheel else "source"),
        ("sha256_digest", hashlib.sha256(path.read_bytes()).hexdigest()),
        (":action", "file_upload"),
        ("protocol_version", "1"),
    ]


def answer(path: Path, ledger: warehouse.Ledger | None = None, **change: str) -> object:
    fields = [(k, v) for k, v in form_of(path) if k not in change] + list(change.items())
    content = warehouse.Content(path.name, "application/octet-stream", path.read_bytes())
    return warehouse.refusal(warehouse.Form(fields), content, ledger or warehouse.Ledger(), now=NOW)


# Each rules case, as warehouse answers it: its first refusal, "See ..." added to
# metadata errors. Cases that need the index's state are below.
WAREHOUSE = {
    "wheel-name": "Filename 'my.pkg-1.0-py3-none-any.whl' should contain the normalized "
    "project name 'my_pkg', not 'my.pkg'.",
    "sdist-name": "Filename 'my.pkg-1.0.tar.gz' is invalid, should be 'my_pkg-1.0.tar.gz'.",
    "filename-length": "Filename is too long: '{name}'",
    "metadata-version": f"'2.6' is not a valid metadata version. {CORE}",
    "license-expression": f"'Not-A-License' is invalid for 'license-expression'. {CORE}",
    "license-and-expression": "License is deprecated when License-Expression is present. "
    f"Only License-Expression should be present. {CORE}",
    "requires-dist-url": f"Can't have direct dependency: foo @ https://example.org/f.whl. {CORE}",
    "provides-dist-url": "Can't have direct dependency: 'foo @ https://example.org/f.whl'. " + CORE,
    "obsoletes-dist-invalid": "'foo (<' is invalid: Expected matching RIGHT_PARENTHESIS for "
    f"LEFT_PARENTHESIS, after version specifier\n    foo (<\n        ~^. {CORE}",
    "dynamic": f"Dynamic field 'dynamic' is not a valid dynamic field. {CORE}",
    "summary-length": f"'summary' field must be 512 characters or less. {CORE}",
    "author-email": "'dev@localhost' is not a valid email address: The part after the "
    f"@-sign is not valid. It should have a period. {CORE}",
    "home-page": f"'ftp://example.org/demo' is not a valid url. {CORE}",
    "project-url-label": f"'{'A' * 33}' must be 32 characters or less. {CORE}",
    "record-missing": f"Wheel '{WHEEL}' does not contain the required RECORD file: "
    "demo-1.0.dist-info/RECORD",
    "wheel-missing": "Invalid distribution file. WHEEL not found at demo-1.0.dist-info/WHEEL",
    "zip-compression": "Invalid distribution file. File does not use a supported compression type",
    "zip-data-descriptor": "Invalid distribution file. ZIP archive not accepted: ZIP "
    "contains a data descriptor. See https://docs.pypi.org/archives for more information",
    "zip-member-comment": "Invalid distribution file. ZIP archive not accepted: Comment in "
    "central directory. See https://docs.pypi.org/archives for more information",
    "zip-trailing-data": "Invalid distribution file. ZIP archive not accepted: Trailing "
    "data. See https://docs.pypi.org/archives for more information",
    "tar-sparse": "Invalid distribution file. tar archive not accepted: Sparse members are "
    "not allowed. See https://docs.pypi.org/archives for more information",
    "wheel-license-file": f"License-File LICENSE does not exist in distribution file {WHEEL} "
    "at demo-1.0.dist-info/licenses/LICENSE",
    "sdist-license-file": f"License-File LICENSE does not exist in distribution file {SDIST} "
    "at demo-1.0/LICENSE",
    "entry-points": f"Wheel '{WHEEL}' has invalid entry points defined in the "
    "entry_points.txt file",
    "classifier": f"'Programming Language :: Cobol 2' is not a valid classifier. {CORE}",
    "classifier-deprecated": "The classifier 'Framework :: Django CMS :: 4.2' has been "
    f"deprecated, use one of ['Framework :: Django CMS :: 5.0'] instead. {CORE}",
    "platform-tag": "Binary wheel 'demo-1.0-cp312-cp312-linux_x86_64.whl' has an "
    "unsupported platform tag 'linux_x86_64'.",
    "compression-ratio": "Invalid distribution file. File exceeds compression ratio of 50",
    "stdlib-name": "The name 'asyncio' isn't allowed (conflict with Python Standard Library "
    "module name). See https://pypi.org/help/#project-name for more information.",
}


def test_the_table_covers_every_rules_case() -> None:
    # The cases that depend on the index's state or a raised limit are tested below.
    assert set(CASES) - set(WAREHOUSE) == {"file-size", "one-sdist", "release-age"}


@pytest.mark.parametrize("case", WAREHOUSE)
def test_each_rule_is_refused_with_warehouses_status_and_text(tmp_path: Path, case: str) -> None:
    (path,) = CASES[case][0](tmp_path)
    assert answer(path) == (400, WAREHOUSE[case].format(name=path.name))


def test_a_good_wheel_and_sdist_are_taken(tmp_path: Path) -> None:
    ledger = warehouse.Ledger()
    forms = [
        (warehouse.Form(form_of(p)), warehouse.Content(p.name, "application/octet-stream",
                                                       p.read_bytes()))
        for p in (crafted.wheel(tmp_path), crafted.sdist(tmp_path))
    ]  # fmt: skip
    assert list(warehouse.iter_refusals(forms, ledger, NOW)) == [None, None]
    # The same files again: taken as already there (200), not refused.
    assert list(warehouse.iter_refusals(forms, ledger, NOW)) == [None, None]


def test_the_index_state_rules(tmp_path: Path) -> None:
    ledger = warehouse.Ledger()
    ledger.add_release("demo", "1.0", NOW - 15 * 86400)
    wheel, sdist = crafted.wheel(tmp_path), crafted.sdist(tmp_path)
    assert answer(wheel, ledger) == (
        400,
        "Uploading new files to releases older than 14 days is not allowed.",
    )
    young = warehouse.Ledger()
    young.add_release("demo", "1.0", NOW - 86400).files["Demo-1.0.tar.gz"] = warehouse.FileRecord(
        "Demo-1.0.tar.gz", "0" * 64, "0" * 64, "sdist"
    )
    assert answer(sdist, young) == (400, "Only one sdist may be uploaded per release.")
    assert answer(wheel, young) is None
    small = warehouse.Ledger()
    small.add_release("demo", "0.9", NOW)
    small.projects["demo"].upload_limit = 1024
    assert answer(wheel, small) == (
        400,
        "File too large. Limit for project 'demo' is 0 MB. See https://docs.pypi.org/"
        "project-management/storage-limits#requesting-a-file-size-limit-increase for more "
        "information.",
    )


def test_the_form_is_read_as_warehouse_reads_it(tmp_path: Path) -> None:
    path = crafted.wheel(tmp_path, fields={"Keywords": "a,b"})
    # One comma-separated keywords field is what warehouse takes; two are refused.
    assert answer(path) is None
    fields = [*form_of(path), ("keywords", "c")]
    content = warehouse.Content(path.name, "application/octet-stream", path.read_bytes())
    assert warehouse.refusal(warehouse.Form(fields), content, warehouse.Ledger(), now=NOW) == (
        400,
        f"'keywords' has invalid data. {CORE}",
    )
    # project_urls sent as a dict's keys (requests iterating a dict): no URL.
    assert answer(path, project_urls="Homepage") == (400, f"Must have a URL. {CORE}")
    # distutils' UNKNOWN is dropped; a missing name is the form's first error.
    assert answer(path, name="UNKNOWN") == (
        400,
        f"'' is an invalid value for Name. Error: This field is required. {CORE}",
    )
    assert answer(path, filetype="bdist_egg") == (
        400,
        "Invalid value for filetype. Error: Use a known file type.",
    )
    assert answer(path, protocol_version="2") == (400, "Unknown protocol version.")


# -- through the front, before a real pypiserver --------------------------------------------


@pytest.fixture
def front(pypiserver: Index) -> Iterator[tuple[TrustedPublishingIndex, GitHubOIDC]]:
    with (
        GitHubOIDC(repository="octo-org/demo", repository_owner_id="1") as oidc,
        TrustedPublishingIndex(
            pypiserver.base,
            upstream_user=pypiserver.user,
            upstream_password=pypiserver.password,
            issuer=oidc.issuer,
            publisher=Publisher("octo-org/demo", "1", "release.yml"),
            warehouse_rules=True,
        ) as index,
    ):
        yield index, oidc


def upload(front: TrustedPublishingIndex, oidc: GitHubOIDC, path: Path) -> requests.Response:
    jwt = requests.get(
        f"{oidc.request_url}&audience=pypi",
        headers={"Authorization": f"bearer {oidc.request_token}"},
        timeout=10,
    ).json()["value"]
    token = requests.post(f"{front.url}/_/oidc/mint-token", json={"token": jwt}, timeout=10).json()[
        "token"
    ]
    return requests.post(
        f"{front.url}/",
        data=form_of(path),
        files={"content": (path.name, path.read_bytes(), "application/octet-stream")},
        auth=(TOKEN_USER, token),
        timeout=60,
    )


def test_the_front_refuses_as_warehouse_and_takes_a_good_upload(
    tmp_path: Path, front: tuple[TrustedPublishingIndex, GitHubOIDC], pypiserver: Index
) -> None:
    index, oidc = front
    bad = crafted.wheel(tmp_path, tags="cp312-cp312-linux_x86_64")
    r = upload(index, oidc, bad)
    reason = f"Binary wheel '{bad.name}' has an unsupported platform tag 'linux_x86_64'."
    assert (r.status_code, r.reason) == (400, reason)
    assert pypiserver.files() == {}
    good = crafted.wheel(tmp_path)
    r = upload(index, oidc, good)
    assert r.status_code == 200, r.text
    assert set(pypiserver.files()) == {good.name}
    assert index.ledger.project("demo") is not None
    # The release is now 15 days old on the front's ledger: no new file.
    index.ledger.projects["demo"].releases["1"].created -= 15 * 86400
    r = upload(index, oidc, crafted.sdist(tmp_path))
    assert (r.status_code, r.reason) == (
        400,
        "Uploading new files to releases older than 14 days is not allowed.",
    )
    assert set(pypiserver.files()) == {good.name}
