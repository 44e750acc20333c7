"""Rasterise tracks into (frame, position) pixel images; numpy/scikit-image only."""

from __future__ import annotations

from typing import Iterable

import numpy as np

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
        # Bresenham from (t, c0) to (t+1, c1), vectorised: with dc = |c1 - c0| the line puts
        # k = max(1, ceil(dc / 2)) pixels on row t and the rest (end point excluded) on row t+1
        c0, c1 = x[:-1], x[1:]
        dc = np.abs(c1 - c0)
        s = np.sign(c1 - c0)
        n = np.maximum(dc, 1)
        k = np.maximum(1, (dc + 1) // 2)
        seg = np.repeat(np.arange(c0.size), n)
        i = np.arange(seg.size) - np.repeat(np.cumsum(n) - n, n)
        rr = np.concatenate([t[:-1][seg] + (i >= k[seg]), t[-1:]])
        cc = np.concatenate([c0[seg] + s[seg] * i, x[-1:]])
    if shape is not None:
        keep = (rr >= 0) & (rr < shape[0]) & (cc >= 0) & (cc < shape[1])
        rr, cc = rr[keep], cc[keep]
    if rr.size:  # unique (row, col) pairs in lexicographic order, via one integer key
        cmin = cc.min()
        span = cc.max() - cmin + 1
        key = np.unique(rr * span + (cc - cmin))
        rr, cc = key // span, key % span + cmin
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
