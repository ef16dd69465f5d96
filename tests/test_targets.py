"""One build, several indexes: repository-url's lines are published to in order, each
with its own credential; a failure at one stops before the next, and a re-run finishes
what is left without touching an index that has the release (issue 21).

Real indexes (pypiserver, devpi) behind fault proxies that log every request; for
trusted publishing, two PyPI-like fronts with two audiences (as TestPyPI and PyPI have)
before them, and the local Sigstore for the attestations.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Index
from support.faults import ALWAYS, FaultProxy, delay, status
from support.oidc import OWNER_ID, REPOSITORY, WORKFLOW, GitHubOIDC, Publisher
from support.oidc import TrustedPublishingIndex as Front
from support.output import the_error
from support.sigstore_local import GITHUB_ISSUER, SigstoreStandIn

from release.settings import TRUST_CONFIG_VAR, Settings

FILES = ["flit_sample-1.0.0-py3-none-any.whl", "flit_sample-1.0.0.tar.gz"]
ATTESTATIONS_FIELD = b'name="attestations"'


@pytest.fixture
def proxies(pypiserver: Index, devpi: Index) -> Iterator[tuple[FaultProxy, FaultProxy]]:
    """A logging proxy before each index: pypiserver first, devpi second."""
    with FaultProxy(pypiserver.base) as first, FaultProxy(devpi.base) as second:
        yield first, second


def uploads(proxy: FaultProxy) -> list[str]:
    return [e.path for e in proxy.requests_matching("POST")]


def token_inputs(
    first: tuple[Index, FaultProxy], second: tuple[Index, FaultProxy]
) -> dict[str, str]:
    """Both indexes by their proxies, each with its own user and API token."""
    (one, p1), (two, p2) = first, second
    return {
        "repository_url": f"{p1.url_for(one.upload_url)}\n{p2.url_for(two.upload_url)}",
        "index_url": f"{p1.url_for(one.simple_url)}\n{p2.url_for(two.simple_url)}",
        "user": f"{one.user}\n{two.user}",
        "password": f"{one.password}\n{two.password}",
    }


def test_one_build_goes_to_both_indexes_in_order(
    make_project, action, pypiserver: Index, devpi: Index, proxies
) -> None:
    first, second = proxies
    project = make_project("flit")
    tag = project.release("1.0.0")
    given = token_inputs((pypiserver, first), (devpi, second))
    labels = given["repository_url"].split("\n")

    dry = action(project, tag, None, dry_run="true", **given)
    assert dry.code == 0, dry.out
    assert "## 🔍 Dry run: flit-sample 1.0.0 would publish 2 file(s) to 2 indexes" in dry.summary
    assert f"| Index 1 | {labels[0]} (API token): would get 2 file(s) |" in dry.summary
    assert f"| Index 2 | {labels[1]} (API token): would get 2 file(s) |" in dry.summary
    assert uploads(first) == uploads(second) == []

    run = action(project, tag, None, **given)
    assert run.code == 0, run.out
    built = {p.name for p in (project.path / "dist").iterdir()}
    assert sorted(built) == FILES
    assert set(pypiserver.files()) == set(devpi.files()) == built
    assert run.outputs["published"] == "true"
    assert json.loads(run.outputs["published-to"]) == labels
    assert run.outputs["credential"] == "API token"
    assert "## ✅ Published flit-sample 1.0.0: 2 file(s) to 2 indexes" in run.summary
    assert f"| Index 1 | {labels[0]} (API token): has the release (2 uploaded now) |" in run.summary
    assert run.summary.count("| index 1: uploaded; index 2: uploaded |") == len(FILES)
    # The first index had every file before the second was sent any.
    said = [line for line in run.out.splitlines() if ": uploaded at " in line]
    assert [line.rsplit(" at ", 1)[1] for line in said] == [labels[0]] * 2 + [labels[1]] * 2
    # The build ran once: one set of files, the same bytes on both.
    assert pypiserver.files() == devpi.files()
    assert run.out.count("::group::Build sdist and wheel") == 1

    again = action(project, tag, None, **given)
    assert again.code == 0, again.out
    assert len(uploads(first)) == len(uploads(second)) == 2  # nothing sent twice


def test_a_failure_at_the_second_index_leaves_the_first_complete(
    make_project, action, pypiserver: Index, devpi: Index, proxies
) -> None:
    first, second = proxies
    project = make_project("flit")
    tag = project.release("1.0.0")
    given = token_inputs((pypiserver, first), (devpi, second))
    labels = given["repository_url"].split("\n")
    refusal = second.add(status(403), method="POST", times=ALWAYS)

    run = action(project, tag, None, **given)
    assert run.code == 1
    assert set(pypiserver.files()) == set(FILES)
    assert devpi.files() == {}
    assert refusal.fired == 1  # the first file refused; nothing more sent
    assert run.outputs["published"] == "false"
    assert json.loads(run.outputs["published-to"]) == [labels[0]]
    assert f"## ❌ flit-sample 1.0.0 is on {labels[0]}, but not on {labels[1]}" in run.summary
    assert f"| Index 1 | {labels[0]} (API token): has the release (2 uploaded now) |" in run.summary
    assert f"| Index 2 | {labels[1]} (API token): not reached |" in run.summary
    _title, message, _hint = the_error(run.out, "upload-credentials-refused")
    assert message == (
        f"{labels[1]} refused the credentials (HTTP 403 Forbidden) when uploading "
        "flit_sample-1.0.0-py3-none-any.whl."
    )

    # The re-run sends nothing to the first index and finishes the second.
    second.remove(refusal)
    before = uploads(first)
    again = action(project, tag, None, **given)
    assert again.code == 0, again.out
    assert uploads(first) == before
    assert set(devpi.files()) == set(FILES)
    assert json.loads(again.outputs["published-to"]) == labels
    assert f"| Index 1 | {labels[0]} (API token): has the release (0 uploaded now) |" in (
        again.summary
    )
    assert f"| Index 2 | {labels[1]} (API token): has the release (2 uploaded now) |" in (
        again.summary
    )


class TwoFronts:
    """GitHub's token service, and two PyPI-like fronts with their own audiences (as
    TestPyPI and PyPI) before pypiserver and devpi, each behind a counting proxy; and
    the local Sigstore."""

    def __init__(self, one: Index, two: Index, tmp_path: Path) -> None:
        self.indexes = (one, two)
        self.oidc = GitHubOIDC(
            repository=REPOSITORY, repository_owner_id=OWNER_ID, workflow_filename=WORKFLOW
        )
        self.proxies = (FaultProxy(one.base), FaultProxy(two.base))
        self.attested = [
            p.add(delay(0), method="POST", body=ATTESTATIONS_FIELD, times=ALWAYS)
            for p in self.proxies
        ]
        self.fronts = tuple(
            Front(
                proxy.url,
                upstream_user=index.user,
                upstream_password=index.password,
                issuer=self.oidc.issuer,
                publisher=Publisher(REPOSITORY, OWNER_ID, WORKFLOW),
                audience=audience,
            )
            for proxy, index, audience in zip(
                self.proxies, self.indexes, ("testpypi", "pypi"), strict=True
            )
        )
        self.sigstore = SigstoreStandIn(
            jwks_url=self.oidc.jwks_url, issuer=self.oidc.issuer, certificate_issuer=GITHUB_ISSUER
        )
        self.trust_config = self.sigstore.write_trust_config(tmp_path / "trust_config.json")

    def env(self, action, project, tag: str) -> dict[str, str]:
        self.oidc.ref = f"refs/tags/{tag}"
        self.oidc.sha = project.head
        pairs = list(zip(self.fronts, self.indexes, strict=True))
        env = action.env(
            project,
            tag,
            None,
            repository_url="\n".join(f.url_for(i.upload_url) for f, i in pairs),
            index_url="\n".join(f.url_for(i.simple_url) for f, i in pairs),
            user="__token__",
            password="",
        )
        env.update(self.oidc.request_env())
        env[TRUST_CONFIG_VAR] = str(self.trust_config)
        return env

    def close(self) -> None:
        self.sigstore.close()
        for front in self.fronts:
            front.close()
        for proxy in self.proxies:
            proxy.close()
        self.oidc.close()


@pytest.fixture
def fronts(pypiserver: Index, devpi: Index, tmp_path: Path) -> Iterator[TwoFronts]:
    made = TwoFronts(pypiserver, devpi, tmp_path)
    yield made
    made.close()


def test_trusted_publishing_to_two_indexes_signs_once(make_project, action, fronts) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action.run(fronts.env(action, project, tag))
    assert run.code == 0, run.out
    for index in fronts.indexes:
        assert sorted(index.files()) == FILES
    # A token minted at each index, for its own audience, before the first upload.
    assert fronts.oidc.audiences[:2] == ["testpypi", "pypi"]
    # Then Sigstore's: one per signing certificate (a signing thread each).
    assert set(fronts.oidc.audiences[2:]) == {"sigstore"}
    assert [f.mint_calls for f in fronts.fronts] == [1, 1]
    # Signed once; each index got every file with its attestation.
    assert run.out.count("::group::Sign and verify 2 attestation(s) with Sigstore") == 1
    assert [rule.fired for rule in fronts.attested] == [2, 2]
    assert run.outputs["credential"] == "trusted publishing"
    assert len(json.loads(run.outputs["published-to"])) == 2

    again = action.run(fronts.env(action, project, tag))
    assert again.code == 0, again.out
    assert [f.mint_calls for f in fronts.fronts] == [1, 1]  # nothing to upload: no token
    assert [len(f.uploads) for f in fronts.fronts] == [2, 2]


def test_a_refused_token_at_the_second_index_uploads_nothing_anywhere(
    make_project, action, fronts
) -> None:
    """Every target's credential is got before the first upload: a publisher missing at
    the second index is found before the first index gets a byte."""
    fronts.fronts[1].publisher = Publisher(REPOSITORY, OWNER_ID, "other.yml")
    project = make_project("flit")
    tag = project.release("1.0.0")
    run = action.run(fronts.env(action, project, tag))
    assert run.code == 1
    the_error(run.out, "trusted-publishing-invalid-publisher")
    for index in fronts.indexes:
        assert index.files() == {}
    assert [f.uploads for f in fronts.fronts] == [[], []]
    assert run.summary.count(": not reached |") == 2


def settings_of(**inputs: str) -> Settings:
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REF": "refs/tags/v1.0.0",
        "INPUT_PASSWORD": "pypi-token",
        "INPUT_GITHUB-RELEASE": "false",
    }
    env.update({f"INPUT_{k.replace('_', '-').upper()}": v for k, v in inputs.items()})
    return Settings.from_action_env(env)


TEST = "https://test.pypi.org/legacy/"
PYPI = "https://upload.pypi.org/legacy/"


def test_targets_from_the_inputs_lines() -> None:
    s = settings_of(repository_url=f"{TEST}\n\n{PYPI}\n", password="tok-test\ntok-pypi")
    assert [(t.upload_url, t.simple_url, t.password, t.pypi_policy) for t in s.targets] == [
        (TEST, "https://test.pypi.org/simple/", "tok-test", True),
        (PYPI, "https://pypi.org/simple/", "tok-pypi", True),
    ]
    s = settings_of(repository_url=f"{TEST}\n{PYPI}", password="", dry_run="true")
    assert [t.credential for t in s.targets] == ["trusted publishing"] * 2


@pytest.mark.parametrize(
    ("inputs", "code", "message"),
    [
        (
            {"repository_url": f"{TEST}\n{PYPI}", "password": "only-one"},
            "password-count",
            "{password} holds 1 token(s) for the 2 indexes in {repository-url}.",
        ),
        (
            {"repository_url": f"{TEST}\n{PYPI}", "index_url": "https://x.example/simple/"},
            "index-url-count",
            "{index-url} has 1 line(s) for the 2 indexes in {repository-url}.",
        ),
        (
            {"repository_url": f"{PYPI}\n{PYPI}"},
            "repository-url-repeated",
            f"{{repository-url}} names {PYPI} more than once.",
        ),
        (
            {"repository_url": f"{TEST}\n{PYPI}\nhttps://x.example/", "user": "a\nb"},
            "user-count",
            "{user} has 2 lines for the 3 indexes in {repository-url}.",
        ),
    ],
)
def test_targets_that_do_not_add_up(inputs: dict[str, str], code: str, message: str) -> None:
    from release.errors import InputError

    with pytest.raises(InputError) as info:
        settings_of(**inputs)
    assert (info.value.code, info.value.message) == (code, message)


def test_the_command_line_takes_the_flag_again(cli, make_project, pypiserver, devpi) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    env = cli.env(None, TWINE_USERNAME=f"{pypiserver.user}\n{devpi.user}")
    env["TWINE_PASSWORD"] = f"{pypiserver.password}\n{devpi.password}"
    flags = ["--tag", tag]
    for index in (pypiserver, devpi):
        flags += ["--repository-url", index.upload_url, "--index-url", index.simple_url]
    run = cli(project.path, *flags, env=env)
    assert run.code == 0, run.out + run.err
    assert set(pypiserver.files()) == set(devpi.files()) == set(FILES)
