from pathlib import Path

from setuptools import setup

# VERSION.txt is in the checkout but, with no MANIFEST.in, not in the sdist: the
# mistake under test.
setup(version=Path("VERSION.txt").read_text(encoding="utf-8").strip())
