"""The run: typed commands in, frozen events out, the loop, the run folder (one writer, one reader), the guard."""
