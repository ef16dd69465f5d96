"""setuptools sample."""
