"""Exceptions raised by kymotrace.

Every error that a user can cause (bad file, bad option) is a :class:`KymotraceError`;
the CLI prints its message on one line and never a traceback.
"""

from __future__ import annotations

__all__ = ["KymotraceError", "InputError", "OptionError"]


class KymotraceError(Exception):
    """Base class of every user-facing kymotrace error."""


class InputError(KymotraceError, ValueError):
    """An input file or array cannot be used; the message names it and says how to fix it."""


class OptionError(KymotraceError, ValueError):
    """An option has a value outside what is allowed; the message says what is allowed."""
