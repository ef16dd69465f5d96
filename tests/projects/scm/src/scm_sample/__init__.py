"""setuptools-scm sample."""
