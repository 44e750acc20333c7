"""kymotrace: automatic particle tracing in kymographs with deep learning.

A kymograph is a 2-D array ``image[t, x]``: rows are frames (time runs down), columns are
positions along the path, tracks bright on dark.

Importing this package is cheap: torch is imported only when a neural model is used.
"""

from __future__ import annotations

from .errors import InputError, KymotraceError, OptionError
from .track import Track

__version__ = "0.1.0"

#: version of the files kymotrace writes (tracks.csv, run.json, ...)
FORMAT_VERSION = 1

__all__ = [
    "__version__",
    "FORMAT_VERSION",
    "Track",
    "KymotraceError",
    "InputError",
    "OptionError",
]
