"""nmre.acquisition.profiles."""
