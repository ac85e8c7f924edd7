"""nmre.sim."""
