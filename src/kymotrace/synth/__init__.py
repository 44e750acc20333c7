"""Seeded synthetic kymographs with exact ground truth.

Follows the KymoButler paper's recipe (eLife 2019, Materials and methods, 'Synthetic data') by
default: 300 x 300 px, unidirectional (30 + 30 particles, one speed of 1-3 px/frame per
kymograph, PSF 3-6 px, lifetimes with mean 100 frames, SNR 1.2) or bidirectional (15 particles,
switching and reversing, lifetimes with mean 1000 frames, sizes 1-6 px, SNR 1.4), with gaps of
up to 6 frames and tracks hidden under others removed. Knobs add what real microscopes show:
correlated noise, row flicker, Poisson camera noise, bleaching, blinking, defocus, other PSFs,
gradients, static bands, inversion and integer dtypes.

Examples
--------
>>> from kymotrace.synth import generate, sample_knobs
>>> k = generate("bi", rng=95_000_000)
>>> k.image.shape, k.image.dtype.name
((300, 300), 'float32')
>>> import numpy as np
>>> rng = np.random.default_rng(95_000_001)
>>> k2 = generate("uni", rng=rng, **sample_knobs("uni", rng))
"""

from __future__ import annotations

from .knobs import KNOB_DOCS, defaults, sample_knobs
from .kymo import SynthKymograph, bidirectional, generate, measure_contrast, track_mask, unidirectional
from .movie import SynthMovie, generate_movie

__all__ = [
    "SynthKymograph",
    "unidirectional",
    "bidirectional",
    "generate",
    "sample_knobs",
    "defaults",
    "KNOB_DOCS",
    "measure_contrast",
    "track_mask",
    "SynthMovie",
    "generate_movie",
]
