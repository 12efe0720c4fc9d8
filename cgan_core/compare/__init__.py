"""Runs side by side: summaries, Optuna sweeps, TensorBoard export."""
