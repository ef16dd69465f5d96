"""The README documents exactly the inputs and outputs that action.yml declares, and the
error codes that release/codes.py registers."""

from __future__ import annotations

import re

import yaml
from support.runner import REPO

from release.codes import CODES


def table(heading: str) -> list[list[str]]:
    text = (REPO / "README.md").read_text()
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| `")
    ]


def test_inputs_table_matches_action_yml() -> None:
    spec = yaml.safe_load((REPO / "action.yml").read_text())
    rows = table("Inputs")
    assert [r[0].strip("`") for r in rows] == list(spec["inputs"])
    for name, default, _meaning in rows:
        declared = str(spec["inputs"][name.strip("`")].get("default", ""))
        if re.fullmatch(r"`[^`]*`", default):
            assert default.strip("`") == declared, name
        else:
            # Described in words: the declared default is empty (derived at run time).
            assert declared == "", name


def test_outputs_table_matches_action_yml() -> None:
    spec = yaml.safe_load((REPO / "action.yml").read_text())
    assert [r[0].strip("`") for r in table("Outputs")] == list(spec["outputs"])


def test_error_codes_table_matches_the_registry() -> None:
    rows = [f"| `{code}` | {e.kind.title} | {e.meaning} |" for code, e in CODES.items()]
    shown = ["| " + " | ".join(row) + " |" for row in table("Error codes")]
    assert shown == rows, "README's Error codes table, as release/codes.py has it:\n" + "\n".join(
        rows
    )
