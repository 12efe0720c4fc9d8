"""Plots and views that draw what they are given: losses, samples, quality. None imports the stream."""
