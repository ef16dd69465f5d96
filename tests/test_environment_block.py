"""The secrets leave the process's environment block (/proc/<pid>/environ) before any
work starts: blanked in place, or, when that cannot be done and checked, by starting
again without them. Either way the run still has them, in its memory only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SECRET = "pypi-secret-in-the-environment-block"

# Prints what the run kept and what /proc/self/environ then shows, and the pid.
PROBE = """
import json, os, sys
from release import __main__ as entry
if os.environ.get("PROBE_NO_BLANK") == "1":
    entry.blank_environment_block = lambda secrets: False
kept = entry.hide_secrets()
block = open("/proc/self/environ", "rb").read().decode()
print(json.dumps({"kept": kept, "block": block, "pid": os.getpid(),
                  "environ": dict(os.environ)}))
"""


def probe(**extra: str) -> dict:
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(REPO),
        "TWINE_PASSWORD": SECRET,
        "INPUT_REPOSITORY-URL": f"https://__token__:{SECRET}@upload.example/legacy/",
        "MY_DEPLOY_TOKEN": "not-an-input-but-named-like-one",
        "KEEPS_A_COPY": f"prefix-{SECRET}-suffix",
        "HARMLESS": "stays",
        **extra,
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def check_hidden(got: dict) -> None:
    assert got["kept"] == {
        "TWINE_PASSWORD": SECRET,
        "INPUT_REPOSITORY-URL": f"https://__token__:{SECRET}@upload.example/legacy/",
        "MY_DEPLOY_TOKEN": "not-an-input-but-named-like-one",
        "KEEPS_A_COPY": f"prefix-{SECRET}-suffix",
    }
    assert SECRET not in got["block"]
    for name in got["kept"]:
        assert f"{name}=" not in got["block"]
        assert name not in got["environ"]
    assert "HARMLESS=stays" in got["block"].split("\0")
    assert got["environ"]["HARMLESS"] == "stays"


def test_blanked_in_place() -> None:
    got = probe()
    check_hidden(got)
    # The same image: nothing handed over, no variable naming a handed-over file.
    assert "RELEASE_HELD_FD" not in got["block"]


def test_started_again_when_blanking_fails() -> None:
    got = probe(PROBE_NO_BLANK="1")
    check_hidden(got)
    # Started again (its block is the new one, with the variable that named the file),
    # the variable itself gone from os.environ once read.
    assert "RELEASE_HELD_FD=" in got["block"]
    assert "RELEASE_HELD_FD" not in got["environ"]


def test_nothing_to_hide_changes_nothing() -> None:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), "HARMLESS": "stays"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    got = json.loads(out.stdout)
    assert got["kept"] == {}
    assert got["block"].split("\0")[:-1] == [f"{k}={v}" for k, v in env.items()]
