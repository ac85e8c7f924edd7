"""nmre.feedback."""
