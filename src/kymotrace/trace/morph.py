"""Threshold, thin to 1 px and prune short spurs: the paper's post-processing of trackness maps."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["neighbour_count", "clusters", "prune_spurs", "binarize_thin_prune"]

_K8 = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.uint8)


def neighbour_count(skel: np.ndarray) -> np.ndarray:
    """Number of 8-connected skeleton neighbours of every pixel (0 off the skeleton)."""
    s = skel.astype(np.uint8)
    return ndi.convolve(s, _K8, mode="constant") * s


def clusters(pts: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """Group pixel coordinates into 8-connected clusters."""
    groups: list[list[tuple[int, int]]] = []
    for c in pts:
        joined = [g for g in groups if any(abs(c[0] - p[0]) <= 1 and abs(c[1] - p[1]) <= 1 for p in g)]
        groups = [g for g in groups if g not in joined] + [[c] + [p for g in joined for p in g]]
    return groups


def prune_spurs(skel: np.ndarray, min_length: int = 3) -> np.ndarray:
    """Remove branches shorter than ``min_length`` px that run from an end point to a junction.

    A walk from each end point stops at a junction: a pixel with three or more unvisited
    neighbours, or with neighbours in two or more separate groups. Isolated short segments (no
    junction) are kept here; component size filters drop them later.
    """
    skel = skel.astype(bool).copy()
    if min_length <= 1 or not skel.any():
        return skel
    nb = neighbour_count(skel)
    h, w = skel.shape
    for r0, c0 in np.argwhere(nb == 1):
        path = [(int(r0), int(c0))]
        seen = set(path)
        reached_junction = False
        while len(path) <= min_length:
            r, c = path[-1]
            nxt = [
                (r + dr, c + dc)
                for dr in (-1, 0, 1)
                for dc in (-1, 0, 1)
                if (dr or dc) and 0 <= r + dr < h and 0 <= c + dc < w and skel[r + dr, c + dc] and (r + dr, c + dc) not in seen
            ]
            if not nxt:
                break
            if len(nxt) >= 3 or len(clusters(nxt)) > 1:
                reached_junction = True
                break
            step = min(nxt, key=lambda p: abs(p[0] - r) + abs(p[1] - c))  # orthogonal first
            path.append(step)
            seen.add(step)
        if reached_junction and len(path) < min_length:
            for pr, pc in path:
                skel[pr, pc] = False
    return skel


def binarize_thin_prune(prob: np.ndarray, threshold: float, *, prune: int = 3) -> np.ndarray:
    """Threshold a trackness map, thin it to 1 px and prune spurs shorter than ``prune`` px."""
    from skimage.morphology import skeletonize  # lazily: 0.3 s of imports the default tracer never needs

    skel = skeletonize(np.asarray(prob) > threshold)
    return prune_spurs(skel, prune)
