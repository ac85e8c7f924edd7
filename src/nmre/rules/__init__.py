"""nmre.rules."""
