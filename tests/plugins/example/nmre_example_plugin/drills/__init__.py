"""Drill files this plugin adds to nmre's library (every ``*.toml`` in this folder)."""
