"""Unidirectional tracing, per the paper: skeleton components -> one position per frame."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..track import Track, renumber
from .morph import binarize_thin_prune

__all__ = ["components_to_tracks", "trace_uni"]


def components_to_tracks(
    skel: np.ndarray, *, min_size: int = 3, min_frames: int = 3, confidence_map: np.ndarray | None = None
) -> list[Track]:
    """One track per 8-connected skeleton component: per frame the mean column of its pixels.

    Frames inside a component's span that have no pixel (a skeleton step of >1 px in time never
    happens in an 8-connected raster, but pruning can open holes) are interpolated and flagged.
    Components with fewer than ``min_size`` px or spanning fewer than ``min_frames`` frames are dropped.
    """
    labels, n = ndi.label(skel, structure=np.ones((3, 3), int))
    if n == 0:
        return []
    rows, cols = np.nonzero(labels)
    lab = labels[rows, cols]
    order = np.argsort(lab, kind="stable")
    rows, cols, lab = rows[order], cols[order], lab[order]
    bounds = np.flatnonzero(np.diff(lab)) + 1
    out: list[Track] = []
    for r, c in zip(np.split(rows, bounds), np.split(cols, bounds)):
        if r.size < min_size:
            continue
        t0, t1 = int(r.min()), int(r.max())
        if t1 - t0 + 1 < min_frames:
            continue
        cnt = np.bincount(r - t0, minlength=t1 - t0 + 1)
        sums = np.bincount(r - t0, weights=c, minlength=t1 - t0 + 1)
        frames = np.arange(t0, t1 + 1)
        have = cnt > 0
        pos = np.interp(frames, frames[have], sums[have] / cnt[have])
        conf = float(confidence_map[r, c].mean()) if confidence_map is not None else None
        out.append(Track(0, frames, pos, gap=~have, confidence=conf))
    return out


def trace_uni(
    pos_map: np.ndarray,
    neg_map: np.ndarray,
    threshold: float,
    *,
    min_size: int = 3,
    min_frames: int = 3,
    prune: int = 3,
    method: str = "components",
) -> list[Track]:
    """Tracks from the two slope-specific trackness maps of the unidirectional segmenter.

    ``method="components"`` is the paper's: one track per skeleton component. ``"trace"``
    traces each map's skeleton like a bidirectional one with the motion decider, so tracks of
    the same direction that touch (one component) are still separated at their branch points.

    Returns tracks numbered from 1, ordered by start frame then position; each track's
    ``confidence`` is the mean trackness along its skeleton.
    """
    tracks: list[Track] = []
    for m in (pos_map, neg_map):
        skel = binarize_thin_prune(m, threshold, prune=prune)
        if method == "trace":
            from .bi import trace_bi

            found = trace_bi(skel, prob=m, min_pixels=max(min_size, 3))
            tracks += [t for t in found if len(t) >= min_frames]
        else:
            tracks += components_to_tracks(skel, min_size=min_size, min_frames=min_frames, confidence_map=m)
    return renumber(tracks)
