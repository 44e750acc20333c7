"""From trackness maps to tracks (numpy/scipy/scikit-image only; never imports torch).

The decision module reaches the bidirectional tracer as a plain callable (a batch of crops in,
maps out), so tracing is tested with stand-in functions.
"""

from .morph import binarize_thin_prune, neighbour_count, prune_spurs
from .uni import trace_uni

__all__ = ["binarize_thin_prune", "neighbour_count", "prune_spurs", "trace_uni"]
