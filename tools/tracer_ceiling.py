"""How far the default bidirectional tracer gets on ideal trackness maps (drawn from the ground
truth: the training target raster, dilated by 1 px and blurred by sigma 1) versus the shipped
segmenter's maps, on validation seeds (paper-style bi, 15 tracks). Session 3 found the two equal
(F1 ~0.80, crossings ~0.33 on ideal maps), so the tracer, not the segmenter, limits bi accuracy.

Usage: OMP_NUM_THREADS=1 python tools/tracer_ceiling.py [N]
"""

import sys

import numpy as np
from scipy import ndimage as ndi

from kymotrace.metrics import score
from kymotrace.pipeline import analyze
from kymotrace.seeds import VALIDATION
from kymotrace.synth import generate
from kymotrace.trace.assign import BI_PARAMS, trace_assign
from kymotrace.trace.link import link_gaps
from kymotrace.train.data import target_maps

n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
res = {"ideal maps": [], "segmenter maps": []}
for i in range(n):
    ky = generate("bi", rng=np.random.default_rng(VALIDATION.start + 710_000 + i), n_tracks=15)
    m = ndi.gaussian_filter(target_maps(ky.tracks, ky.image.shape, "bi")[0], 1.0)
    m = m / max(float(m.max()), 1e-6)
    ideal = [t for t in link_gaps(trace_assign(m, 0.5, **BI_PARAMS)) if len(t) >= 3]
    s1 = score(ky.tracks, ideal, ky.image.shape)
    s2 = score(ky.tracks, analyze(ky.image, mode="bi").tracks, ky.image.shape)
    res["ideal maps"].append([s1.recall, s1.precision, s1.f1, s1.crossing])
    res["segmenter maps"].append([s2.recall, s2.precision, s2.f1, s2.crossing])
for k, v in res.items():
    r, p, f, x = np.nanmedian(np.array(v), 0)
    print(f"{k:15s} median recall {r:.3f} precision {p:.3f} F1 {f:.3f} crossings {x:.3f} ({n} kymographs)")
