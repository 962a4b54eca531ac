"""Exceptions of the public API."""


class Unsupported(Exception):
    """This implementation cannot express this spec or dtype; the message says what and why."""


class NotInstalled(ImportError):
    """The framework behind an implementation is not importable here."""
