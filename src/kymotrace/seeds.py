"""Disjoint seed ranges for training, validation/threshold tuning and the benchmark.

Every random kymograph kymotrace makes is drawn from ``numpy.random.default_rng(seed)`` with a
seed from exactly one of these ranges, so the three uses never share a kymograph.
"""

from __future__ import annotations

__all__ = ["TRAIN", "VALIDATION", "BENCH", "TEST", "check_seed"]

#: seeds used to make training data (on the fly or cached)
TRAIN = range(0, 50_000_000)
#: seeds used for validation, model selection and threshold tuning
VALIDATION = range(50_000_000, 60_000_000)
#: seeds used by the frozen benchmark suite (``kymotrace bench``)
BENCH = range(90_000_000, 91_000_000)
#: seeds used by unit tests and demos
TEST = range(95_000_000, 96_000_000)

_RANGES = {"train": TRAIN, "validation": VALIDATION, "bench": BENCH, "test": TEST}


def check_seed(seed: int, use: str) -> int:
    """Return ``seed`` if it lies in the range reserved for ``use``, else raise ValueError."""
    rng = _RANGES[use]
    if int(seed) not in rng:
        raise ValueError(f"seed {seed} is not in the {use} range [{rng.start}, {rng.stop})")
    return int(seed)
