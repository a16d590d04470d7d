"""The one error of baselining (no numpy here: the server imports it at start)."""


class UnsupportedDataError(Exception):
    """The data cannot be baselined; the message says why."""
