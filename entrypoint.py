"""The container's entry point: everything lives in release.__main__."""

from release.__main__ import cli

cli()
