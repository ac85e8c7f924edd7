"""An example nmre plugin: the ACME knee goniometer (a BLE device profile) and drill files."""
