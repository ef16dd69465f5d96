"""Run the release pipeline end to end on examples/hello-release against a throwaway
pypiserver on 127.0.0.1, then show what the action would show."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from support.indexes import pypiserver  # noqa: E402
from support.projects import git  # noqa: E402

PASSWORD = "demo-token-not-a-secret"


def tagged_copy(source: Path, dest: Path, tag: str) -> Path:
    """The project in a fresh git repository, tagged."""
    shutil.copytree(source, dest)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", f"release {tag}")
    git(dest, "tag", tag)
    return dest


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="release-demo-") as tmp:
        root = Path(tmp)
        project = tagged_copy(REPO / "examples" / "hello-release", root / "hello-release", "v1.0.0")
        with pypiserver(root / "index", "demo", PASSWORD) as index:
            print(f"Throwaway index: {index.simple_url}  (project in {project})\n", flush=True)
            env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
            env.update(TWINE_USERNAME="demo", TWINE_PASSWORD=PASSWORD)
            args = [
                sys.executable,
                "-m",
                "release",
                "--tag",
                "v1.0.0",
                "--repository-url",
                index.upload_url,
                "--index-url",
                index.simple_url,
                *sys.argv[1:],
            ]
            code = subprocess.run(args, cwd=project, env=env, check=False).returncode
            if code == 0:
                print("\nRunning it again shows a safe re-run (nothing is uploaded twice):\n")
                code = subprocess.run(args, cwd=project, env=env, check=False).returncode
            print("\nThe index now holds:", ", ".join(sorted(index.files())))
            return code


if __name__ == "__main__":
    sys.exit(main())
