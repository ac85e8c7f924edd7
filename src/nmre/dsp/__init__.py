"""nmre.dsp."""
