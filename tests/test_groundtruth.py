"""The shipped models on synthetic kymographs with exact ground truth (stated tolerances).

Tolerances are well below the benchmark medians so that the test catches a broken pipeline or
model, not normal variation between kymographs.
"""

from __future__ import annotations

import numpy as np
import pytest

from kymotrace.metrics import score
from kymotrace.models import available_models
from kymotrace.synth import generate

pytest.importorskip("torch")
pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.skipif(not {"uni", "bi"} <= set(available_models()), reason="shipped segmenters missing"),
]


def test_uni_paper_style_kymograph():
    from kymotrace.pipeline import analyze

    k = generate("uni", rng=np.random.default_rng(95_000_800))
    res = analyze(k.image, mode="uni")
    sc = score(k.tracks, res.tracks, k.image.shape)
    assert sc.f1 >= 0.85, sc.as_dict()
    assert sc.precision >= 0.85


def test_bi_paper_style_kymograph():
    from kymotrace.pipeline import analyze

    k = generate("bi", rng=np.random.default_rng(95_000_801))
    res = analyze(k.image, mode="bi")
    sc = score(k.tracks, res.tracks, k.image.shape)
    assert sc.f1 >= 0.6, sc.as_dict()
    assert sc.precision >= 0.75
    # positions are refined to sub-pixel: on matched frames the median error is below 1 px
    errs = []
    for g, m in zip(k.tracks, sc.matches):
        if m < 0:
            continue
        p = res.tracks[m]
        common = np.intersect1d(g.frames, p.frames)
        errs += list(np.abs(g.positions[common - g.start] - p.positions[common - p.start]))
    assert np.median(errs) < 1.0
