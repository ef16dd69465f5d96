"""Greets through a subpackage."""

from trial_st_sub.helpers import greet

__all__ = ["greet"]
