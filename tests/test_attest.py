"""release.attest against real attestations recorded from PyPI (Sigstore's public instance).

Verification is offline: the trusted root is the one sigstore ships, and any connection
beyond 127.0.0.1 fails the test.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from support.recorded import RECORDED
from support.sigstore_local import refuse_remote_connections

from release import attest
from release.errors import AttestationError

DIST = RECORDED / "pypi_attestations-0.0.19.tar.gz"
ATTESTATION = RECORDED / "pypi_attestations-0.0.19.tar.gz.publish.attestation"
PROVENANCE = RECORDED / "pypi_attestations-0.0.19.tar.gz.provenance"
DIGEST = "9bb1add04b1b4e182be6b0b80931593f7a291eb49d69b4fd728a5d4cbcdc4bd3"
SIGNED_BY = "trailofbits/pypi-attestations/.github/workflows/release.yml@refs/tags/v0.0.19"
RIGHT = attest.Publisher("trailofbits/pypi-attestations", "release.yml")


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    # A fresh cache: sigstore copies its shipped trust root there, not a stale one.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    attempts = refuse_remote_connections(monkeypatch)
    yield attest.trust_config(None, offline=True)
    assert attempts == []


def test_right_publisher_passes(config: Any) -> None:
    attest.verify(ATTESTATION, DIST, RIGHT, config=config)


def test_environment_is_not_in_the_certificate(config: Any) -> None:
    publisher = attest.Publisher("trailofbits/pypi-attestations", "release.yml", "pypi")
    attest.verify(ATTESTATION, DIST, publisher, config=config)


def test_another_workflow(config: Any) -> None:
    with pytest.raises(AttestationError) as err:
        attest.verify(
            ATTESTATION,
            DIST,
            attest.Publisher("trailofbits/pypi-attestations", "publish.yml"),
            config=config,
        )
    assert err.value.code == "attestation-wrong-workflow"
    assert err.value.message == (
        "The attestation pypi_attestations-0.0.19.tar.gz.publish.attestation was signed by "
        f"the workflow release.yml ({SIGNED_BY}), but the expected workflow is publish.yml."
    )
    assert err.value.hint == (
        "Release from publish.yml, or expect release.yml (and register it as the trusted "
        "publisher's workflow on the index)."
    )


def test_another_repository(config: Any) -> None:
    with pytest.raises(AttestationError) as err:
        attest.verify(
            ATTESTATION,
            DIST,
            attest.Publisher("someone/pypi-attestations", "release.yml"),
            config=config,
        )
    assert err.value.code == "attestation-wrong-repository"
    assert err.value.message == (
        "The attestation pypi_attestations-0.0.19.tar.gz.publish.attestation was signed in "
        "trailofbits/pypi-attestations, but the expected repository is "
        "someone/pypi-attestations."
    )
    assert err.value.hint == (
        "Release from someone/pypi-attestations, or expect trailofbits/pypi-attestations "
        "(and register it as the trusted publisher on the index)."
    )


def test_another_digest(config: Any, tmp_path: Path) -> None:
    changed = tmp_path / DIST.name
    changed.write_bytes(DIST.read_bytes() + b"\0")
    with pytest.raises(AttestationError) as err:
        attest.verify(ATTESTATION, changed, RIGHT, config=config)
    assert err.value.code == "attestation-wrong-digest"
    assert err.value.message == (
        "The attestation pypi_attestations-0.0.19.tar.gz.publish.attestation is for "
        f"pypi_attestations-0.0.19.tar.gz with sha256 {DIGEST}, but "
        "pypi_attestations-0.0.19.tar.gz has sha256 "
        "617f7820e08f24710d5ecf93caf193e5a492efb4868ab6e2df65db311b4bdf71."
    )


def test_another_file_name(config: Any, tmp_path: Path) -> None:
    renamed = tmp_path / "pypi_attestations-0.0.20.tar.gz"
    shutil.copyfile(DIST, renamed)
    with pytest.raises(AttestationError) as err:
        attest.verify(ATTESTATION, renamed, RIGHT, config=config)
    assert err.value.code == "attestation-wrong-file"
    assert err.value.message == (
        "The attestation pypi_attestations-0.0.19.tar.gz.publish.attestation is for "
        "pypi_attestations-0.0.19.tar.gz, not for pypi_attestations-0.0.20.tar.gz."
    )


def test_not_an_attestation(config: Any, tmp_path: Path) -> None:
    broken = tmp_path / ATTESTATION.name
    broken.write_text(json.dumps({"version": 1, "envelope": {}}))
    with pytest.raises(AttestationError) as err:
        attest.verify(broken, DIST, RIGHT, config=config)
    assert err.value.code == "attestation-malformed"
    assert err.value.message == (
        "The attestation pypi_attestations-0.0.19.tar.gz.publish.attestation is not a PEP 740 "
        "attestation object: verification_material: Field required"
    )


def test_provenance_passes(config: Any) -> None:
    attest.verify_provenance(PROVENANCE.read_bytes(), DIST, RIGHT, config=config)


def test_provenance_of_another_publisher(config: Any) -> None:
    with pytest.raises(AttestationError) as err:
        attest.verify_provenance(
            PROVENANCE.read_bytes(),
            DIST,
            attest.Publisher("trailofbits/pypi-attestations", "publish.yml"),
            config=config,
        )
    assert err.value.code == "provenance-wrong-publisher"
    assert err.value.message == (
        "The index says pypi_attestations-0.0.19.tar.gz was published by workflow "
        "release.yml in trailofbits/pypi-attestations, but the expected publisher is "
        "workflow publish.yml in trailofbits/pypi-attestations."
    )


def test_provenance_of_another_file(config: Any, tmp_path: Path) -> None:
    changed = tmp_path / DIST.name
    changed.write_bytes(b"not the sdist PyPI has\n")
    with pytest.raises(AttestationError) as err:
        attest.verify_provenance(PROVENANCE.read_bytes(), changed, RIGHT, config=config)
    assert err.value.code == "attestation-wrong-digest"
    assert err.value.message.startswith(
        "The index's attestation for pypi_attestations-0.0.19.tar.gz is for "
        f"pypi_attestations-0.0.19.tar.gz with sha256 {DIGEST}, but "
    )


def test_provenance_with_another_environment(config: Any) -> None:
    provenance = json.loads(PROVENANCE.read_text())
    provenance["attestation_bundles"][0]["publisher"]["environment"] = "release"
    data = json.dumps(provenance).encode()
    attest.verify_provenance(data, DIST, RIGHT, config=config)  # unset: unconstrained
    with pytest.raises(AttestationError) as err:
        attest.verify_provenance(
            data,
            DIST,
            attest.Publisher("trailofbits/pypi-attestations", "release.yml", "pypi"),
            config=config,
        )
    assert err.value.code == "provenance-wrong-publisher"
    assert err.value.message == (
        "The index says pypi_attestations-0.0.19.tar.gz was published by workflow "
        "release.yml in trailofbits/pypi-attestations (environment release), but the "
        "expected publisher is workflow release.yml in trailofbits/pypi-attestations "
        "(environment pypi)."
    )


def test_provenance_without_attestations(config: Any) -> None:
    provenance = json.loads(PROVENANCE.read_text())
    provenance["attestation_bundles"][0]["attestations"] = []
    with pytest.raises(AttestationError) as err:
        attest.verify_provenance(json.dumps(provenance).encode(), DIST, RIGHT, config=config)
    assert err.value.code == "provenance-no-attestation"
    assert err.value.message == (
        "The index's provenance for pypi_attestations-0.0.19.tar.gz holds no publish attestation."
    )


def test_bundle_from_actions_attest(config: Any, tmp_path: Path) -> None:
    """An older certificate shape: a Sigstore bundle made by actions/attest, converted."""
    from pypi_attestations import Attestation
    from sigstore.models import Bundle

    dist = RECORDED / "pypi_attestation_models-0.0.4a2.tar.gz"
    bundle = Bundle.from_json((RECORDED / f"{dist.name}.sigstore").read_bytes())
    converted = tmp_path / f"{dist.name}.publish.attestation"
    converted.write_text(Attestation.from_bundle(bundle).model_dump_json())
    publisher = attest.Publisher("trailofbits/pypi-attestation-models", "release.yml")
    attest.verify(converted, dist, publisher, config=config)
    with pytest.raises(AttestationError) as err:
        attest.verify(converted, dist, RIGHT, config=config)
    assert err.value.code == "attestation-wrong-repository"


def _serve(body: bytes) -> tuple[Any, str]:
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.pypi.integrity.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/provenance"


@pytest.mark.parametrize("right", [True, False])
def test_pipeline_confirms_the_index_provenance(config: Any, tmp_path: Path, right: bool) -> None:
    """After the upload, the provenance the index lists for a file (PEP 740's
    ``provenance`` URL) is fetched and verified against the file and the publisher."""

    from support.recorded import uploaded_sdist

    from release import provenance
    from release.gha import Console
    from release.model import Delivery, Result
    from release.services import OidcRequest, Services

    server, url = _serve(PROVENANCE.read_bytes())
    try:
        dist, plan, project = uploaded_sdist(url)
        services = Services(Console(actions=False), tmp_path, OidcRequest("", "", ""), "")
        result = Result(plan=plan)
        delivery = Delivery(plan.home.target.label)
        signed = provenance.Signed(
            files={dist.filename: tmp_path / "unused.publish.attestation"},
            publisher=RIGHT if right else attest.Publisher("octo-org/other", "release.yml"),
            config=config,
        )
        dest = plan.home
        if right:
            provenance.confirm_provenance(services, plan, dest, project, signed, result, delivery)
            said = "signed, verified, and the index's provenance verified"
            assert result.attestations == {dist.filename: said}
            assert delivery.provenance == {dist.filename: said}
        else:
            with pytest.raises(AttestationError) as info:
                provenance.confirm_provenance(
                    services, plan, dest, project, signed, result, delivery
                )
            assert info.value.code == "provenance-wrong-publisher"
    finally:
        server.shutdown()
        server.server_close()
