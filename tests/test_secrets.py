"""The token never shows: not in output, not in files, not in any child's command line."""

from __future__ import annotations

from pathlib import Path

from conftest import GITHUB_TOKEN, TOKEN, Index


def test_token_never_leaks(
    make_project, index: Index, github, action, spawned, tmp_path: Path
) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    env = action.env(project, tag, index, github, verbose="true")
    spawned.clear()  # only what the action starts
    run = action.run(env)
    assert run.code == 0, run.out
    assert github.release_for("octo-org/sample", tag)["draft"] is False
    # The masks come first, before any other line.
    assert run.out.splitlines()[:2] == [f"::add-mask::{TOKEN}", f"::add-mask::{GITHUB_TOKEN}"]
    for secret in (TOKEN, GITHUB_TOKEN):
        assert secret not in "\n".join(run.out.splitlines()[2:])
        assert secret not in run.summary
        assert secret not in str(run.outputs)
    # Nothing the run left on disk holds it (the project, HOME, the file commands).
    for path in tmp_path.rglob("*"):
        if path.is_file() and "pypiserver" not in path.parts and path.name != "htpasswd":
            assert TOKEN.encode() not in path.read_bytes(), path
            assert GITHUB_TOKEN.encode() not in path.read_bytes(), path
    # No child process saw it, in its arguments or its environment.
    assert spawned, "the run started no processes?"
    for _executable, args, _cwd, env in spawned:
        assert env is not None, f"{args} inherited the whole environment"
        for secret in (TOKEN, GITHUB_TOKEN):
            assert secret not in " ".join(map(str, args))
            assert secret not in " ".join(f"{k}={v}" for k, v in env.items())


def test_wrong_token_not_echoed(make_project, pypiserver: Index, action) -> None:
    project = make_project("flit")
    tag = project.release("1.0.0")
    wrong = "pypi-wrong-but-secret-value-1234"
    run = action(project, tag, pypiserver, password=wrong)
    assert run.code == 1
    assert run.out.count(wrong) == 1  # only in the add-mask line
    assert f"::add-mask::{wrong}" in run.out
