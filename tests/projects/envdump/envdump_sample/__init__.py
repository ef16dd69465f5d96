"""A test package with nothing in it."""
