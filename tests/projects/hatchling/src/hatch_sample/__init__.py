"""hatchling sample."""
