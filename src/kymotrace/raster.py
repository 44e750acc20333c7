"""Rasterise tracks into (frame, position) pixel images; numpy/scikit-image only."""

from __future__ import annotations

from typing import Iterable

import numpy as np
from skimage.draw import line as _line

from .track import Track

__all__ = ["track_pixels", "rasterize", "label_tracks"]


def track_pixels(track: Track, shape: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of a track's polyline through its per-frame points.

    Consecutive points ``(t, round(x_t))`` and ``(t+1, round(x_{t+1}))`` are joined by a
    Bresenham line, so a fast particle leaves a connected raster. Duplicates are removed.
    With ``shape`` given, pixels outside the image are dropped.

    Returns
    -------
    rows, cols : ndarray of int
    """
    t = track.frames
    x = np.rint(track.positions).astype(np.int64)
    if t.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if t.size == 1:
        rr, cc = t.copy(), x.copy()
    else:
        rs, cs = [], []
        for i in range(t.size - 1):
            r, c = _line(int(t[i]), int(x[i]), int(t[i + 1]), int(x[i + 1]))
            rs.append(r[:-1])
            cs.append(c[:-1])
        rs.append(t[-1:])
        cs.append(x[-1:])
        rr = np.concatenate(rs)
        cc = np.concatenate(cs)
    if shape is not None:
        keep = (rr >= 0) & (rr < shape[0]) & (cc >= 0) & (cc < shape[1])
        rr, cc = rr[keep], cc[keep]
    if rr.size:
        pts = np.unique(np.stack([rr, cc], axis=1), axis=0)
        rr, cc = pts[:, 0], pts[:, 1]
    return rr, cc


def rasterize(tracks: Iterable[Track], shape: tuple[int, int]) -> np.ndarray:
    """Boolean image of ``shape`` with every track's polyline drawn 1 px wide."""
    out = np.zeros(shape, dtype=bool)
    for tr in tracks:
        rr, cc = track_pixels(tr, shape)
        out[rr, cc] = True
    return out


def label_tracks(tracks: Iterable[Track], shape: tuple[int, int]) -> np.ndarray:
    """Integer image with each track's pixels set to its index + 1 (later tracks overwrite)."""
    out = np.zeros(shape, dtype=np.int32)
    for i, tr in enumerate(tracks):
        rr, cc = track_pixels(tr, shape)
        out[rr, cc] = i + 1
    return out
