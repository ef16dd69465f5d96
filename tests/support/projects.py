"""Small sample projects in git checkouts, as a workflow's checkout would have them."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

PROJECTS = Path(__file__).resolve().parent.parent / "projects"
GIT = [
    "git",
    "-c",
    "safe.directory=*",
    "-c",
    "user.name=Test",
    "-c",
    "user.email=test@example.invalid",
    "-c",
    "init.defaultBranch=main",
    "-c",
    "commit.gpgsign=false",
    "-c",
    "tag.gpgsign=false",
]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        [*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


class Project:
    """A sample project in a git checkout."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def git(self, *args: str) -> str:
        return git(self.path, *args)

    @property
    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def set_version(self, version: str) -> None:
        py = self.path / "pyproject.toml"
        py.write_text(re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', py.read_text()))

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.head

    def tag(self, tag: str) -> str:
        self.git("tag", tag)
        return self.head

    def release(self, version: str, tag: str | None = None) -> str:
        """Set the version, commit, tag; returns the tag."""
        if (self.path / "pyproject.toml").read_text().count('version = "'):
            self.set_version(version)
        self.commit(f"release {version}")
        tag = tag or f"v{version}"
        self.tag(tag)
        return tag


def make_project(kind: str, dest: Path) -> Project:
    """A copy of ``tests/projects/<kind>`` in a fresh repository with one commit."""
    shutil.copytree(PROJECTS / kind, dest)
    # Build outputs stay out of git, as in a real project.
    (dest / ".gitignore").write_text("dist/\nbuild/\n*.egg-info/\n__pycache__/\n")
    project = Project(dest)
    project.git("init", "-q")
    project.commit("initial")
    return project
