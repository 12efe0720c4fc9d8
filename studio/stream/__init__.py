"""The live run's stream: the worker that drives the engine's loop in a QThread, the mailbox it
posts to, and a run another process writes, followed through its folder (attach)."""
