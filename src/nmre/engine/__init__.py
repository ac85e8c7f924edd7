"""nmre.engine."""
