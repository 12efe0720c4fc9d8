"""Errors a user can act on. Each message names the file, flag or value at fault."""


class CganError(Exception):
    """Base class: its message is shown to the user as one line, without a traceback."""


class DataError(CganError):
    """A data file or folder is missing, malformed or fails its checksum."""


class CheckpointError(CganError):
    """A checkpoint or generator file cannot be read, or does not match what it claims to be."""


class ConfigError(CganError):
    """A configuration value is out of range or unknown."""


class UsageError(Exception):
    """A bad command-line flag or value: the CLI exits 2 with one line naming the flag."""


class RunBusyError(CganError):
    """Another process writes the run folder (it holds the folder's lock)."""
