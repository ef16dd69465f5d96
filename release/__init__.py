"""Release a Python package from a git tag: check, build, publish, announce."""

__version__ = "0.1.0"
