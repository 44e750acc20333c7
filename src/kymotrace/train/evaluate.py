"""Validation metrics of the segmenters (numpy/scikit-image only).

The issue's figure: pixel precision and recall of the *thinned* maps at a threshold, within
2 px: a skeleton pixel is correct if a ground-truth track pixel lies within 2 px; a ground-truth
pixel is found if a skeleton pixel lies within 2 px.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import skeletonize

from ..raster import rasterize
from .data import direction

__all__ = ["thinned_pr", "pooled_pr"]


def thinned_pr(prob: np.ndarray, truth: np.ndarray, threshold: float, tol: float = 2.0) -> tuple[int, int, int, int]:
    """Counts (skeleton px near truth, skeleton px, truth px near skeleton, truth px)."""
    skel = skeletonize(prob > threshold)
    n_s = int(skel.sum())
    n_t = int(truth.sum())
    if n_s == 0 or n_t == 0:
        return 0, n_s, 0, n_t
    d_truth = ndi.distance_transform_edt(~truth)
    d_skel = ndi.distance_transform_edt(~skel)
    return int((d_truth[skel] <= tol).sum()), n_s, int((d_skel[truth] <= tol).sum()), n_t


def truth_maps(tracks, shape, module: str) -> list[np.ndarray]:
    if module == "uni":
        return [
            rasterize([t for t in tracks if direction(t) > 0], shape),
            rasterize([t for t in tracks if direction(t) < 0], shape),
        ]
    return [rasterize(tracks, shape)]


def pooled_pr(probs: list[np.ndarray], items, module: str, threshold: float) -> dict:
    """Pooled precision/recall/F over validation items; probs[i] is [C, H, W]."""
    a = np.zeros(4, dtype=np.int64)
    for p, it in zip(probs, items):
        for c, truth in enumerate(truth_maps(it.tracks, it.image.shape, module)):
            a += np.asarray(thinned_pr(p[c], truth, threshold))
    precision = a[0] / a[1] if a[1] else 0.0
    recall = a[2] / a[3] if a[3] else 0.0
    f = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": float(precision), "recall": float(recall), "f": float(f), "threshold": float(threshold)}
