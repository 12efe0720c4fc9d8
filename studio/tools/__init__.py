"""Tool windows: the latent explorer, the Runs view and sweeps, and a fork's variants. None imports
the stream."""
