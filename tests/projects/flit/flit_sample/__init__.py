"""flit sample."""
