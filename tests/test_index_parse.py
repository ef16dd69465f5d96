"""The simple API parser in release/simple.py: PEP 691 JSON and PEP 503 HTML project
pages, read strictly (a field of the wrong type refuses the page), compared with what
pypi-simple made of the same pages, checked on pages real index servers serve, and
without importing pypi-simple (nor pydantic, nor bs4) to read a page."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Index

from release import index as idx
from release import simple
from release.dists import file_version, sha256_of
from release.errors import PackageIndexError
from release.http import Page, get_capped, make_session

REPO = Path(__file__).resolve().parent.parent
URL = "https://idx.example/simple/demo/"
JSON = simple.JSON_TYPE
HTML = "text/html"
SHA = "a" * 64
SDIST = "demo-1.0.tar.gz"
WHEEL = "demo-1.0-py3-none-any.whl"
NOT_SIMPLE_HINT = (
    "Nothing was uploaded. {index-url} must be a PEP 503/691 simple API such as "
    "https://pypi.org/simple/; if it is, the index or a proxy in front of it sent an error "
    "page: try again later."
)


def page(body: str | bytes | dict[str, Any], content_type: str = HTML, url: str = URL) -> Page:
    """A page as get_capped returns it (``content_type`` may carry a charset)."""
    if isinstance(body, dict):
        body = json.dumps(body)
    raw = body.encode() if isinstance(body, str) else body
    return Page(url, 200, "OK", {"Content-Type": content_type}, raw)


def project_json(*files: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"meta": {"api-version": "1.1"}, "name": "demo", "files": list(files), **extra}


def json_file(filename: str = SDIST, **extra: Any) -> dict[str, Any]:
    return {"filename": filename, "url": f"../../files/{filename}", "hashes": {"sha256": SHA}} | {
        k.replace("_", "-"): v for k, v in extra.items()
    }


def html(*anchors: str, head: str = "") -> str:
    return (
        f"<!DOCTYPE html><html><head>{head}<title>Links for demo</title></head>"
        f"<body><h1>Links for demo</h1>{''.join(anchors)}</body></html>"
    )


def described(project: simple.IndexProject) -> list[tuple[Any, ...]]:
    """Every field of every file, in order."""
    return [
        (f.filename, f.url, f.sha256, f.yanked, f.version, f.digests, f.provenance_url)
        for f in project.files
    ]


# --- pages that parse: (page, files, versions, status) ---------------------------------

FILES_AT = "https://idx.example/files/"
VALID = [
    pytest.param(
        page(
            project_json(json_file(), json_file(WHEEL, url=f"https://cdn.example/x/{WHEEL}")), JSON
        ),
        [
            (SDIST, FILES_AT + SDIST, SHA, False, "1.0", {"sha256": SHA}, None),
            (WHEEL, f"https://cdn.example/x/{WHEEL}", SHA, False, "1.0", {"sha256": SHA}, None),
        ],
        (),
        "active",
        id="json-relative-and-absolute-urls",
    ),
    pytest.param(
        page(
            project_json(
                json_file(hashes={"md5": "b" * 32}),
                json_file("demo-0.9.tar.gz", hashes={}),
            ),
            JSON,
        ),
        [
            (SDIST, FILES_AT + SDIST, None, False, "1.0", {"md5": "b" * 32}, None),
            ("demo-0.9.tar.gz", FILES_AT + "demo-0.9.tar.gz", None, False, "0.9", {}, None),
        ],
        (),
        "active",
        id="json-no-sha256",
    ),
    pytest.param(
        page(
            project_json(
                json_file("demo-1.0.tar.gz", yanked=False),
                json_file("demo-1.1.tar.gz", yanked=True),
                json_file("demo-1.2.tar.gz", yanked=""),
                json_file("demo-1.3.tar.gz", yanked="broken build"),
            ),
            JSON,
        ),
        [
            (f"demo-{v}.tar.gz", f"{FILES_AT}demo-{v}.tar.gz", SHA, y, v, {"sha256": SHA}, None)
            for v, y in [("1.0", False), ("1.1", True), ("1.2", True), ("1.3", True)]
        ],
        (),
        "active",
        id="json-yanked-bool-and-str",
    ),
    pytest.param(
        page(
            project_json(
                json_file(provenance="https://idx.example/integrity/demo/1.0/prov"),
                json_file(WHEEL, provenance=None),
            ),
            JSON,
        ),
        [
            (
                SDIST,
                FILES_AT + SDIST,
                SHA,
                False,
                "1.0",
                {"sha256": SHA},
                "https://idx.example/integrity/demo/1.0/prov",
            ),
            (WHEEL, FILES_AT + WHEEL, SHA, False, "1.0", {"sha256": SHA}, None),
        ],
        (),
        "active",
        id="json-provenance",
    ),
    pytest.param(
        page(
            {
                "meta": {"api-version": "1.4", "_last-serial": 1234, "tracks": ["x"]},
                "name": "Demo",
                "files": [json_file(core_metadata=True, size=10, whatever=[1])],
                "versions": ["0.5", "1.0"],
                "alternate-locations": [],
                "project-status": {"status": "archived", "reason": "done"},
            },
            JSON,
        ),
        [(SDIST, FILES_AT + SDIST, SHA, False, "1.0", {"sha256": SHA}, None)],
        ("0.5", "1.0"),
        "archived",
        id="json-pep700-pep792-unknown-keys",
    ),
    pytest.param(
        page(project_json(versions=None, **{"project-status": {"status": None}}), JSON),
        [],
        (),
        "active",
        id="json-null-versions-and-status",
    ),
    pytest.param(
        page(project_json(json_file("demo-1.0-py2.7.egg"), json_file("odd.zip")), JSON),
        [
            (
                "demo-1.0-py2.7.egg",
                FILES_AT + "demo-1.0-py2.7.egg",
                SHA,
                False,
                "1.0",
                {"sha256": SHA},
                None,
            ),
            ("odd.zip", FILES_AT + "odd.zip", SHA, False, None, {"sha256": SHA}, None),
        ],
        (),
        "active",
        id="json-legacy-and-unparsable-names",
    ),
    pytest.param(
        page(
            html(
                f'<a href="../../files/{SDIST}#sha256={SHA}">{SDIST}</a><br>',
                f'<a href="https://cdn.example/x/{WHEEL}#md5={"b" * 32}">{WHEEL}</a>',
                '<a href="/files/demo-0.9.tar.gz">demo-0.9.tar.gz</a>',
                "<a name='top'>no href: not a file</a>",
            )
        ),
        [
            (SDIST, FILES_AT + SDIST, SHA, False, "1.0", {"sha256": SHA}, None),
            (WHEEL, f"https://cdn.example/x/{WHEEL}", None, False, "1.0", {"md5": "b" * 32}, None),
            ("demo-0.9.tar.gz", FILES_AT + "demo-0.9.tar.gz", None, False, "0.9", {}, None),
        ],
        (),
        "active",
        id="html-urls-and-fragments",
    ),
    pytest.param(
        page(
            html(
                f'<a href="{SDIST}#sha256={SHA}">{SDIST}</a>',
                head='<base href="/mirror/files/">',
            )
        ),
        [
            (
                SDIST,
                "https://idx.example/mirror/files/" + SDIST,
                SHA,
                False,
                "1.0",
                {"sha256": SHA},
                None,
            )
        ],
        (),
        "active",
        id="html-base-href",
    ),
    pytest.param(
        page(
            f'<title>Links for demo</title><a href="{SDIST}">{SDIST}</a>'
            '<base href="https://cdn.example/pkgs/"><base href="/ignored/">'
        ),
        [(SDIST, "https://cdn.example/pkgs/" + SDIST, None, False, "1.0", {}, None)],
        (),
        "active",
        id="html-first-base-anywhere",
    ),
    pytest.param(
        page(
            html(
                '<a href="/f/demo-1.0.tar.gz" data-yanked="">demo-1.0.tar.gz</a>',
                '<a href="/f/demo-1.1.tar.gz" data-yanked="broken &amp; old">demo-1.1.tar.gz</a>',
                "<a href='/f/demo-1.2.tar.gz' data-yanked>demo-1.2.tar.gz</a>",
                '<a href="/f/demo-1.3.tar.gz" data-requires-python="&gt;=3.9">demo-1.3.tar.gz</a>',
            )
        ),
        [
            (f"demo-{v}.tar.gz", f"https://idx.example/f/demo-{v}.tar.gz", None, y, v, {}, None)
            for v, y in [("1.0", True), ("1.1", True), ("1.2", True), ("1.3", False)]
        ],
        (),
        "active",
        id="html-yanked",
    ),
    pytest.param(
        page(
            html(
                f'<a href="/f/{SDIST}" data-provenance="https://idx.example/integrity/p">{SDIST}</a>',
                f'<a href="/f/{WHEEL}" data-provenance="">{WHEEL}</a>',
            ),
        ),
        [
            (
                SDIST,
                "https://idx.example/f/" + SDIST,
                None,
                False,
                "1.0",
                {},
                "https://idx.example/integrity/p",
            ),
            (WHEEL, "https://idx.example/f/" + WHEEL, None, False, "1.0", {}, None),
        ],
        (),
        "active",
        id="html-provenance",
    ),
    pytest.param(
        page(
            html(
                '<a href="/f/x">  demo&#45;1.0&period;tar.gz\n</a>',
                '<a href="/f/y"><b>demo</b>-1.1.tar.gz<!-- not text --></a>',
                '<a href="/f/z"><script>var x = "<a>";</script>demo-1.2.tar.gz</a>',
                '<A HREF="/f/w">demo_amp&amp;-1.3.tar.gz</A>',
            ),
        ),
        [
            ("demo-1.0.tar.gz", "https://idx.example/f/x", None, False, "1.0", {}, None),
            ("demo-1.1.tar.gz", "https://idx.example/f/y", None, False, "1.1", {}, None),
            ("demo-1.2.tar.gz", "https://idx.example/f/z", None, False, "1.2", {}, None),
            ("demo_amp&-1.3.tar.gz", "https://idx.example/f/w", None, False, "1.3", {}, None),
        ],
        (),
        "active",
        id="html-text-entities-markup",
    ),
    pytest.param(
        page(
            "<title>Links for demo</title><a href='/f'>démo-1.0.tar.gz</a>".encode("latin-1"),
            "text/html; charset=ISO-8859-1",
        ),
        [("démo-1.0.tar.gz", "https://idx.example/f", None, False, "1.0", {}, None)],
        (),
        "active",
        id="html-charset",
    ),
    pytest.param(
        page(
            html(
                head='<meta name="pypi:repository-version" content="1.4">'
                '<meta name="pypi:project-status" content="quarantined">'
                '<meta name="pypi:project-status-reason" content="malware">'
            )
        ),
        [],
        (),
        "quarantined",
        id="html-pep792-status",
    ),
    pytest.param(
        page(
            html(
                f'<a href="/f/{SDIST}#sha256={SHA}">{SDIST}</a>',
                f'<a href="/g/{SDIST}#sha256={"b" * 64}">{SDIST}</a>',
            ),
            "application/vnd.pypi.simple.v1+html",
        ),
        [
            (SDIST, "https://idx.example/f/" + SDIST, SHA, False, "1.0", {"sha256": SHA}, None),
            (
                SDIST,
                "https://idx.example/g/" + SDIST,
                "b" * 64,
                False,
                "1.0",
                {"sha256": "b" * 64},
                None,
            ),
        ],
        (),
        "active",
        id="html-duplicate-names-kept",
    ),
]


@pytest.mark.parametrize(("the_page", "files", "versions", "status"), VALID)
def test_parses(
    the_page: Page, files: list[tuple[Any, ...]], versions: tuple[str, ...], status: str
) -> None:
    project = simple.parse_page(the_page, "Demo")
    assert project.name == "demo"
    assert described(project) == files
    assert project.versions == versions
    assert project.status == status


def pypi_simple_reading(
    the_page: Page, name: str = "demo"
) -> tuple[list[tuple[Any, ...]], tuple[str, ...], str]:
    """What the previous parse_page made of a page through pypi-simple."""
    from pypi_simple import ProjectPage

    if the_page.content_type == JSON:
        parsed = ProjectPage.from_json_data(json.loads(the_page.body), the_page.url)
    else:
        parsed = ProjectPage.from_html(name, the_page.body, the_page.url, the_page.charset)
    files = [
        (
            p.filename,
            p.url,
            p.digests.get("sha256"),
            p.is_yanked,
            file_version(p.filename) or p.version,
            p.digests,
            p.provenance_url or None,
        )
        for p in parsed.packages
    ]
    status = "active" if parsed.status is None else str(parsed.status.value)
    return files, tuple(parsed.versions or ()), status


@pytest.mark.parametrize(("the_page", "files", "versions", "status"), VALID)
def test_reads_as_pypi_simple_did(
    the_page: Page, files: list[tuple[Any, ...]], versions: tuple[str, ...], status: str
) -> None:
    assert pypi_simple_reading(the_page) == (files, versions, status)


@pytest.mark.parametrize(
    "filename",
    [
        "demo-1.0.tar.gz",
        "demo-1.0.tar.bz2",
        "demo-1.0.tgz",
        "demo-1.0.zip",
        "Demo_Pkg-2.0.tar",
        "demo-pkg-1.0.tar.gz",
        "demo.pkg-1.0rc1.tar.xz",
        "demo-1.0-py2.7.egg",
        "demo-1.0.egg",
        "demo-1.0-py2.7-linux-x86_64.egg",
        "demo-1.0-1.noarch.rpm",
        "demo-1.0.src.rpm",
        "demo-1.0.linux-x86_64.tar.gz",
        "demo-1.0.win32.zip",
        "demo-1.0.win32-py2.7.msi",
        "demo-1.0.win-amd64-py3.4.exe",
        "demo-1.0.macosx-10.9-x86_64.exe",
        "demo-1.0-1-py3-none-any.whl",
        "demo-1.0_x-py3-none-any.whl",
        "DEMO_PKG-1.0.tar.gz",
        "demo-pkg-extra-1.0.tar.gz",
        "1-2-3.tar.gz",
        "odd.zip",
        "demo",
        "",
        "-1.0.tar.gz",
        "demo-.tar.gz",
        "démo-1.0.tar.gz",
        "demo-1.0.tar.gz\n",
        "demo--1.0.tar.gz",
    ],
)
@pytest.mark.parametrize("project", ["demo", "demo-pkg", "Demo.Pkg", "1-2", "x"])
def test_legacy_version_as_pypi_simple(filename: str, project: str) -> None:
    from pypi_simple import UnparsableFilenameError, parse_filename

    try:
        expected: str | None = parse_filename(filename, project)[1]
    except UnparsableFilenameError:
        expected = None
    assert simple.legacy_version(filename, project) == expected


# --- pages refused: the exact error ------------------------------------------------------


def refusal(the_page: Page, why: str) -> str:
    return (
        f"{the_page.url} did not answer as a simple API project page: {why} "
        f"(got {the_page.content_type}, {len(the_page.body)} bytes)."
    )


UNPARSABLE = "it could not be parsed"
REFUSED = [
    # PEP 629: only major version 1 is understood.
    (
        page({**project_json(), "meta": {"api-version": "2.0"}}, JSON),
        "unsupported API version (2.0)",
    ),
    (
        page({**project_json(), "meta": {"api-version": "0.9"}}, JSON),
        "unsupported API version (0.9)",
    ),
    (
        page(html(head='<meta name="pypi:repository-version" content="2.0">'), HTML),
        "unsupported API version (2.0)",
    ),
    (page({**project_json(), "meta": {"api-version": "v1"}}, JSON), UNPARSABLE),
    (page(html(head='<meta name="pypi:repository-version" content="one">'), HTML), UNPARSABLE),
    # Not a project page, or not this project's.
    (page(json.dumps([project_json()]), JSON), "the JSON has no meta.api-version"),
    (page({**project_json(), "meta": None}, JSON), "the JSON has no meta.api-version"),
    (
        page({**project_json(), "meta": {"api-version": 1.1}}, JSON),
        "the JSON has no meta.api-version",
    ),
    (page({**project_json(), "name": "other"}, JSON), "the JSON is not the page of 'demo'"),
    (page({**project_json(), "name": None}, JSON), "the JSON is not the page of 'demo'"),
    (
        page("<title>Links for other</title>", HTML),
        "the HTML is the page of 'other', not of 'demo'",
    ),
    (
        page("<title>Login</title><a href='/demo-1.0.tar.gz'>demo-1.0.tar.gz</a>"),
        "the HTML does not name a project ('Links for ...')",
    ),
    (page("{}", "application/json"), "unexpected content type"),
    # JSON of the wrong shape: never "no files".
    (page(b"{", JSON), UNPARSABLE),
    (page({"meta": {"api-version": "1.1"}, "name": "demo"}, JSON), UNPARSABLE),
    (page({**project_json(), "files": {}}, JSON), UNPARSABLE),
    (page({**project_json(), "files": None}, JSON), UNPARSABLE),
    (page(project_json("demo-1.0.tar.gz"), JSON), UNPARSABLE),
    (page(project_json(json_file(filename=None)), JSON), UNPARSABLE),
    (page(project_json(json_file(filename=1)), JSON), UNPARSABLE),
    (page(project_json(json_file(url=None)), JSON), UNPARSABLE),
    (page(project_json({"filename": SDIST, "url": SDIST}), JSON), UNPARSABLE),
    (page(project_json(json_file(hashes=["sha256", SHA])), JSON), UNPARSABLE),
    (page(project_json(json_file(hashes={"sha256": 1})), JSON), UNPARSABLE),
    (page(project_json(json_file(yanked=None)), JSON), UNPARSABLE),
    (page(project_json(json_file(yanked=1)), JSON), UNPARSABLE),
    (page(project_json(json_file(provenance=1)), JSON), UNPARSABLE),
    (page(project_json(json_file(provenance="")), JSON), UNPARSABLE),
    (page(project_json(json_file(provenance="file:///etc/passwd")), JSON), UNPARSABLE),
    (page(project_json(versions="1.0"), JSON), UNPARSABLE),
    (page(project_json(versions=[1.0]), JSON), UNPARSABLE),
    (page(project_json(**{"project-status": None}), JSON), UNPARSABLE),
    (page(project_json(**{"project-status": "archived"}), JSON), UNPARSABLE),
    (page(project_json(**{"project-status": {"status": "gone"}}), JSON), UNPARSABLE),
    (page(project_json(**{"project-status": {"status": ["archived"]}}), JSON), UNPARSABLE),
    (page(project_json(**{"project-status": {"status": "active", "reason": 1}}), JSON), UNPARSABLE),
    (page(b"[" * 100_000, JSON), UNPARSABLE),
    # HTML that says something impossible, or cannot be decoded.
    (page(html(head='<meta name="pypi:project-status" content="gone">')), UNPARSABLE),
    (page(html(head='<meta name="pypi:project-status" content="">')), UNPARSABLE),
    (
        page(html("<a href='/f' data-provenance='javascript:alert(1)'>demo-1.0.tar.gz</a>")),
        UNPARSABLE,
    ),
    (page(html("<a href='http://[::1/f'>demo-1.0.tar.gz</a>")), UNPARSABLE),
    (page(html("<![foo <a href='/f'>demo-1.0.tar.gz</a>")), UNPARSABLE),
    (page(html("<a href='/f'>démo-1.0.tar.gz</a>").encode("latin-1")), UNPARSABLE),
    (
        page(
            html("<a href='/f'>démo-1.0.tar.gz</a>").encode("latin-1"), "text/html; charset=utf-8"
        ),
        UNPARSABLE,
    ),
]


@pytest.mark.parametrize(("the_page", "why"), REFUSED)
def test_refuses(the_page: Page, why: str) -> None:
    with pytest.raises(PackageIndexError) as info:
        simple.parse_page(the_page, "demo")
    assert info.value.code == "index-answer-invalid"
    assert info.value.message == refusal(the_page, why)
    assert info.value.hint == NOT_SIMPLE_HINT


def test_unknown_charset_is_read_as_utf8() -> None:
    body = html("<a href='/f'>démo-1.0.tar.gz</a>").replace("Links for demo", "Links for démo")
    project = simple.parse_page(page(body, "text/html; charset=x-no-such"), "démo")
    assert [f.filename for f in project.files] == ["démo-1.0.tar.gz"]


def test_a_listing_is_equal_whatever_its_digests_and_provenance() -> None:
    listed = simple.parse_page(
        page(project_json(json_file(provenance="https://idx.example/p")), JSON), "demo"
    ).files[0]
    assert listed.provenance_url == "https://idx.example/p"
    # The digests and the provenance do not make two listings of the same file differ.
    assert listed == simple.IndexFile(SDIST, FILES_AT + SDIST, SHA, False, "1.0")


# --- download() builds what pypi-simple needs from the listing ---------------------------


@pytest.fixture
def files_server(tmp_path: Path) -> Iterator[str]:
    (tmp_path / SDIST).write_bytes(b"sdist bytes")
    handler = lambda *a, **k: _Quiet(*a, directory=str(tmp_path), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def test_download_checks_the_listed_digests(files_server: str, tmp_path: Path) -> None:
    import hashlib

    right = hashlib.sha256(b"sdist bytes").hexdigest()
    body = html(f'<a href="{files_server}{SDIST}#sha256={right}">{SDIST}</a>')
    listed = simple.parse_page(page(body), "demo").files[0]
    dest = tmp_path / "out"
    dest.mkdir()
    got = idx.download(make_session(), listed, dest, limit=1000)
    assert sha256_of(got) == right

    wrong = simple.IndexFile(SDIST, files_server + SDIST, SHA, False, "1.0", {"sha256": SHA})
    with pytest.raises(PackageIndexError) as info:
        idx.download(make_session(), wrong, dest, limit=1000)
    assert info.value.code == "index-digest-mismatch"
    assert not (dest / SDIST).exists()

    # A digest hashlib does not know cannot be checked: the callers compare sha256.
    unknown = simple.IndexFile(SDIST, files_server + SDIST, None, False, "1.0", {"egg": "demo"})
    assert sha256_of(idx.download(make_session(), unknown, dest, limit=1000)) == right

    with pytest.raises(PackageIndexError) as info:
        idx.download(make_session(), listed, dest, limit=5)
    assert info.value.code == "index-download-failed"


# --- no pypi-simple, pydantic or bs4 to read a page --------------------------------------

READER = """
import json, sys
from release import index, planning  # the plan's modules
from release.http import make_session

session = make_session()
seen = {}
for base in sys.argv[1:]:
    project = index.read_project(session, base, "demo")
    seen[base] = [(f.filename, f.sha256) for f in project.files]
heavy = sorted(m for m in ("pypi_simple", "pydantic", "bs4", "soupsieve") if m in sys.modules)
print(json.dumps({"seen": seen, "heavy": heavy}))
"""


def test_reading_the_index_imports_no_pypi_simple(tmp_path: Path) -> None:
    pages = {
        "/json/demo/": (JSON, json.dumps(project_json(json_file()))),
        "/html/demo/": (HTML, html(f'<a href="/f/{SDIST}#sha256={SHA}">{SDIST}</a>')),
    }

    class Pages(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            content_type, text = pages[self.path]
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(text.encode())))
            self.end_headers()
            self.wfile.write(text.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        done = subprocess.run(
            [sys.executable, "-c", READER, f"{base}/json/", f"{base}/html/"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "seen": {f"{base}/json/": [[SDIST, SHA]], f"{base}/html/": [[SDIST, SHA]]},
        "heavy": [],
    }


# --- pages that real index servers serve -------------------------------------------------

ACCEPTS = {
    "pypiserver": {"text/html": HTML},  # PEP 503 only
    "devpi": {idx.ACCEPT: JSON, "text/html": HTML},
}


def test_real_index_pages(make_project, index: Index, action, tmp_path: Path) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action(project, tag, index)
    assert run.code == 0, run.out
    built = {p.name: sha256_of(p) for p in (project.path / "dist").iterdir()}
    assert sorted(built) == ["flit_sample-1.0.0-py3-none-any.whl", "flit_sample-1.0.0.tar.gz"]
    assert index.files() == built

    session = make_session()
    url = idx.project_url(index.simple_url, "flit-sample")
    for accept, content_type in ACCEPTS[index.kind].items():
        served = get_capped(session, url, headers={"Accept": accept}, max_bytes=idx.MAX_PAGE)
        assert (served.status, served.content_type) == (200, content_type)
        listing = simple.parse_page(served, "flit_sample")
        assert listing.name == "flit-sample"
        assert listing.status == "active"
        assert {f.filename: f.sha256 for f in listing.files} == built
        assert {f.filename: f.digests["sha256"] for f in listing.files} == built
        assert {f.version for f in listing.files} == {"1.0.0"}
        assert not any(f.yanked or f.provenance_url for f in listing.files)
        # The URLs are absolute and serve the files: download() checks the digests.
        dest = tmp_path / f"{index.kind}-{content_type.replace('/', '_')}"
        dest.mkdir()
        for f in listing.files:
            assert f.url.startswith(index.base + "/"), f.url
            got = idx.download(session, f, dest, limit=10 * 1024 * 1024)
            assert sha256_of(got) == built[f.filename]
        assert pypi_simple_reading(served, "flit-sample") == (
            described(listing),
            listing.versions,
            "active",
        )
