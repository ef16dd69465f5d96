"""Writes what a test command sees to the file named by its argument."""

import json
import os
import shutil
import sys

import trial_tested

with open(sys.argv[1], "w", encoding="utf-8") as fh:
    json.dump(
        {
            "environ": dict(os.environ),
            "cwd": os.getcwd(),
            "cwd_entries": os.listdir(),
            "executable": sys.executable,
            "prefix": sys.prefix,
            "module": trial_tested.__file__,
            "script": shutil.which("trial-tested"),
        },
        fh,
    )
