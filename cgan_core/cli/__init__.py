"""The headless command line (python -m cgan_core)."""
