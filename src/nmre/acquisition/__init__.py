"""nmre.acquisition."""
