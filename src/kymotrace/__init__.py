"""kymotrace: automatic particle tracing in kymographs with deep learning.

A kymograph is a 2-D array ``image[t, x]``: rows are frames (time runs down), columns are
positions along the path, tracks bright on dark.

Importing this package is cheap (no numpy, no torch): :func:`analyze`, :class:`Result` and
:class:`Track` load on first use, and torch only when a neural model runs. So the command line
starts at once and answers Ctrl-C during start-up with one line.

>>> import kymotrace
>>> result = kymotrace.analyze(image)            # doctest: +SKIP
>>> result.tracks, result.summary, result.mode   # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import InputError, KymotraceError, OptionError

if TYPE_CHECKING:  # type checkers and IDEs see the real signatures; at run time they load lazily
    from .pipeline import Result, analyze
    from .track import Track

__version__ = "0.1.0"

#: version of the files kymotrace writes (tracks.csv, run.json, ...)
FORMAT_VERSION = 1

__all__ = [
    "__version__",
    "FORMAT_VERSION",
    "analyze",
    "Result",
    "Track",
    "KymotraceError",
    "InputError",
    "OptionError",
]

#: public names loaded on first use: name -> (module, attribute)
_LAZY = {"analyze": ("pipeline", "analyze"), "Result": ("pipeline", "Result"), "Track": ("track", "Track")}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
