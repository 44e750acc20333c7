"""The KymoButler paper's benchmark metrics: track recall, precision and F1, gaps, crossings.

Faithful to Jakobs et al., eLife 2019 ("Benchmarking" in Materials and methods), with every
choice the paper leaves open written down here. Everything works on integer pixels of the
kymograph ``image[t, x]`` of ``shape = (n_frames, n_positions)``.

Definitions
-----------
Raster
    A track is the polyline through its per-frame points ``(frame, round(position))``, drawn
    with :func:`kymotrace.raster.track_pixels` and clipped to ``shape``: its *pixels*.
Ignored tracks
    Tracks with fewer than ``min_pixels`` (3) raster pixels or fewer than ``min_frames`` (3)
    frames are ignored on both sides (ground truth and prediction); the paper discards "tracks
    smaller than 3 pixels and shorter than 3 frames", read here as either condition. Ignored
    tracks get ``nan`` (and match ``-1``) in the per-track arrays and count nowhere else.
Track recall (per ground-truth track)
    The largest fraction of its pixels that lie within ``distance`` (3.2 px; "two diagonal
    pixels") of one single predicted track's pixels, Euclidean in (frame, position) pixel
    space, ``<=`` inclusive. A pixel ``p`` is within ``d`` of a track when some pixel ``q`` of
    that track has ``|p - q| <= d``; with ``d = 3.2`` that admits offsets up to ``(1, 3)``
    (3.16 px) but not ``(2, 3)`` (3.61 px). ``matches`` names the predicted track giving the
    recall (the lowest index on ties; ``-1`` when no predicted track is within reach).
Track precision (per predicted track)
    The fraction of its pixels within ``distance`` of the ground-truth track it overlaps most,
    i.e. the ground-truth track with the most of its pixels within ``distance``. 0 when no
    ground-truth track is within reach.
Recall, precision, F1
    Recall is the mean track recall over ground-truth tracks, precision the mean track
    precision over predicted tracks, and F1 their geometric mean ``sqrt(recall * precision)``
    (the paper's "track F1 score"). Edge cases, chosen so that F1 is always defined:

    * no ground truth: recall = 1 (nothing was missed);
    * no prediction: precision = 1 (nothing predicted is wrong);
    * hence both empty: recall = precision = F1 = 1; ground truth but no prediction:
      recall = F1 = 0; prediction but no ground truth: precision = F1 = 0.
Gap score
    A gap is a run of ``gap=True`` frames of a ground-truth track (:meth:`Track.gaps`). It is
    resolved when at every frame of the run some predicted track has a point in that same
    frame within ``gap_distance`` (3 px, ``<=``) of the ground-truth position; positions are
    rounded to pixels as in the raster. Points of different predicted tracks may resolve
    different frames (the paper's rule). Score = resolved gaps / gaps, ``nan`` without gaps.
Strict gap score
    As above, but one single predicted track must have such points at every frame of the gap
    *and* at the visible frame just before and just after it (it really bridges the gap).
    Gaps touching the first or last frame of a track have no visible frame on one side: they
    count for the gap score but are skipped for the strict one (``n_gaps_strict`` counts the
    others). ``nan`` when no gap qualifies.
Crossing score
    Every ground-truth raster is dilated by one pixel (3 x 3, clipped to the image) so that
    thin diagonal lines that cross without sharing a pixel still meet. For every pair of
    ground-truth tracks, each 8-connected region of the overlap of their dilated rasters is
    one crossing event (so a long merge, two tracks running together for many frames, is one
    event; three tracks through one point give three pairwise events). The event is centred
    at the region's centroid (should a strongly curved region put the centroid more than
    ``crossing_radius`` from either track, the region pixel nearest the centroid is used
    instead). Each of the two tracks' raster pixels within ``crossing_radius`` (16 px, ``<=``)
    of the centre is its *part*. A part is resolved when one single predicted track, dilated by
    one pixel (3 x 3), covers at least ``crossing_cover`` (70 %, inclusive: 7 of 10 pixels
    pass) of it; the crossing is resolved when both parts are (one predicted track may resolve
    both, as it must for a merge it cannot tell apart). Score = resolved crossings /
    crossings, ``nan`` when there are none.
Predicted gap flags
    are not used: an interpolated (gap) point of a predicted track counts like any other.

Speed: pixel neighbourhoods are flat-index sets searched with ``numpy.searchsorted``, no
per-pixel Python. 60 ground-truth x 60 predicted random-walk tracks (30-300 frames) on a
300 x 300 kymograph score in about 0.25 s on a 2-core machine, half of it rasterising
(``track_pixels``); 60 x 60 full-length tangled tracks (~1,900 crossings) in about 0.55 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import NamedTuple, Sequence

import numpy as np
from scipy import ndimage

from .errors import InputError, OptionError
from .raster import track_pixels
from .track import Track

__all__ = [
    "Scores", "score", "track_recall_precision", "RecallPrecision", "gap_events", "gap_scores",
    "Gap", "GapScores", "crossing_events", "crossing_score", "Crossing", "CrossingScore",
]

_EPS = 1e-9
Pixels = tuple[np.ndarray, np.ndarray]


# ----------------------------------------------------------------------------- results
@dataclass(eq=False)
class Scores:
    """All benchmark scores of one kymograph (see the module docstring for definitions).

    Attributes
    ----------
    recall, precision, f1 : float
        Mean track recall, mean track precision and their geometric mean, in [0, 1].
    gap, gap_strict : float
        Fraction of ground-truth gaps resolved (loosely / strictly); ``nan`` without gaps.
    crossing : float
        Fraction of crossing events resolved; ``nan`` without crossings.
    n_gt, n_pred : int
        Ground-truth / predicted tracks scored (tiny tracks excluded).
    n_gaps, n_crossings : int
        Gaps and crossing events scored.
    track_recall : ndarray of float, shape (len(gt),)
        Recall of each ground-truth track, in input order; ``nan`` for ignored tracks.
    track_precision : ndarray of float, shape (len(pred),)
        Precision of each predicted track, in input order; ``nan`` for ignored tracks.
    matches : ndarray of int, shape (len(gt),)
        For each ground-truth track the index (into ``pred``) of the predicted track giving its
        recall; ``-1`` if none is within reach or the track is ignored.
    n_gaps_strict : int
        Gaps scored by the strict gap score (those not touching a track's start or end).
    """

    recall: float
    precision: float
    f1: float
    gap: float
    gap_strict: float
    crossing: float
    n_gt: int
    n_pred: int
    n_gaps: int
    n_crossings: int
    track_recall: np.ndarray = field(repr=False)
    track_precision: np.ndarray = field(repr=False)
    matches: np.ndarray = field(repr=False)
    n_gaps_strict: int = 0

    def as_dict(self) -> dict:
        """JSON-friendly scalars only: floats (``nan`` becomes ``None``) and ints."""
        out: dict = {}
        for name in ("recall", "precision", "f1", "gap", "gap_strict", "crossing"):
            v = float(getattr(self, name))
            out[name] = None if math.isnan(v) else v
        for name in ("n_gt", "n_pred", "n_gaps", "n_gaps_strict", "n_crossings"):
            out[name] = int(getattr(self, name))
        return out


class RecallPrecision(NamedTuple):
    """Per-track recall (per ground-truth track), precision (per predicted track), matches."""

    recall: np.ndarray
    precision: np.ndarray
    matches: np.ndarray


@dataclass(frozen=True)
class Gap:
    """One ground-truth gap: ``gt[track]`` frames ``first..last`` (inclusive).

    ``strict`` is None for a gap touching the track's start or end (skipped by the strict score).
    """

    track: int
    first: int
    last: int
    resolved: bool
    strict: bool | None


class GapScores(NamedTuple):
    """Gap score, strict gap score (``nan`` when nothing to score) and their denominators."""

    gap: float
    gap_strict: float
    n_gaps: int
    n_gaps_strict: int


@dataclass(frozen=True)
class Crossing:
    """One crossing event between ground-truth tracks ``track_a`` and ``track_b`` (indices).

    ``centre`` is (frame, position) in px; ``size`` the overlap region's pixel count;
    ``cover_a``/``cover_b`` the best single predicted track's coverage of each part and
    ``match_a``/``match_b`` that track's index (``-1`` if none).
    """

    track_a: int
    track_b: int
    centre: tuple[float, float]
    size: int
    cover_a: float
    cover_b: float
    match_a: int
    match_b: int
    resolved: bool


class CrossingScore(NamedTuple):
    """Crossing score (``nan`` without crossings) and the number of crossing events."""

    crossing: float
    n_crossings: int


# ----------------------------------------------------------------------------- validation
def _check_shape(shape) -> tuple[int, int]:
    try:
        ok = len(shape) == 2 and all(isinstance(s, Integral) and s > 0 for s in shape)
    except TypeError:
        ok = False
    if not ok:
        raise OptionError(
            f"shape must be two positive integers (n_frames, n_positions), got {shape!r}; "
            "pass image.shape of the kymograph"
        )
    return int(shape[0]), int(shape[1])


def _check_tracks(tracks, name: str) -> list[Track]:
    if isinstance(tracks, Track):
        raise InputError(f"{name} must be a sequence of Track objects, got a single Track; wrap it in a list")
    try:
        out = list(tracks)
    except TypeError:
        raise InputError(f"{name} must be a sequence of Track objects, got {type(tracks).__name__}") from None
    for i, t in enumerate(out):
        if not isinstance(t, Track):
            raise InputError(
                f"{name}[{i}] is a {type(t).__name__}, not a kymotrace.track.Track; "
                "build tracks with Track(track_id, frames, positions)"
            )
    return out


def _check_number(value, name: str, *, low: float, high: float = math.inf, low_open: bool = False,
                  integer: bool = False) -> None:
    kind = Integral if integer else Real
    bad = not isinstance(value, kind) or isinstance(value, bool) or not math.isfinite(value)
    if not bad:
        bad = value <= low if low_open else value < low
        bad = bad or value > high
    if bad:
        lo = f"> {low}" if low_open else f">= {low}"
        hi = "" if high == math.inf else f" and <= {high}"
        what = "an integer" if integer else "a finite number"
        raise OptionError(f"{name} must be {what} {lo}{hi}, got {value!r}")


# ----------------------------------------------------------------------------- pixel sets
def _offsets_disk(radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Integer offsets (dr, dc) with dr**2 + dc**2 <= radius**2."""
    r = int(math.floor(radius + _EPS))
    dr, dc = np.mgrid[-r : r + 1, -r : r + 1]
    keep = dr**2 + dc**2 <= radius * radius + _EPS
    return dr[keep], dc[keep]


_SQUARE = (np.repeat(np.arange(-1, 2), 3), np.tile(np.arange(-1, 2), 3))


class _Grid:
    """Flat indices of pixels on the image padded by ``pad`` on every side."""

    def __init__(self, shape: tuple[int, int], pad: int) -> None:
        self.pad = int(pad)
        self.width = shape[1] + 2 * self.pad

    def flat(self, rr: np.ndarray, cc: np.ndarray) -> np.ndarray:
        return (rr + self.pad) * self.width + (cc + self.pad)

    def unflat(self, keys: np.ndarray) -> Pixels:
        return keys // self.width - self.pad, keys % self.width - self.pad


class _Index:
    """Union of per-track pixel neighbourhoods as sorted (flat key, track label) pairs."""

    def __init__(self, pixels: Sequence[Pixels], offsets, grid: _Grid) -> None:
        dr, dc = offsets
        keys, labels = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        self.sets: list[np.ndarray] = []
        for i, (rr, cc) in enumerate(pixels):
            k = np.unique(grid.flat(rr[:, None] + dr[None, :], cc[:, None] + dc[None, :]))
            self.sets.append(k)
            keys.append(k)
            labels.append(np.full(k.size, i, np.int64))
        k = np.concatenate(keys)
        order = np.argsort(k, kind="stable")
        self.keys = k[order]
        self.labels = np.concatenate(labels)[order]
        self.n = len(pixels)

    def hits(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All (query index, track label) pairs where query key lies in that track's set."""
        lo = np.searchsorted(self.keys, query, "left")
        n = np.searchsorted(self.keys, query, "right") - lo
        qidx = np.repeat(np.arange(query.size), n)
        within = np.arange(qidx.size) - np.repeat(np.cumsum(n) - n, n)
        return qidx, self.labels[np.repeat(lo, n) + within]


def _pixels(tracks: Sequence[Track], shape: tuple[int, int]) -> list[Pixels]:
    return [track_pixels(t, shape) for t in tracks]


def _count_matrix(query: Sequence[Pixels], index: _Index, grid: _Grid) -> np.ndarray:
    """``out[i, j]`` = number of pixels of query track i inside indexed track j's set."""
    nq, n = len(query), index.n
    if nq == 0 or n == 0:
        return np.zeros((nq, n), np.int64)
    keys = np.concatenate([grid.flat(rr, cc) for rr, cc in query])
    owner = np.repeat(np.arange(nq), [rr.size for rr, _ in query])
    qi, lab = index.hits(keys)
    return np.bincount(owner[qi] * n + lab, minlength=nq * n).reshape(nq, n)


# ----------------------------------------------------------------------------- recall/precision
def _recall_precision_px(gt_px, pred_px, shape, distance) -> RecallPrecision:
    grid = _Grid(shape, int(math.ceil(distance)) + 1)
    offsets = _offsets_disk(distance)
    n_gt = np.array([rr.size for rr, _ in gt_px], dtype=float)
    n_pred = np.array([rr.size for rr, _ in pred_px], dtype=float)
    # m[g, p]: pixels of GT g within reach of predicted p; q[p, g]: the converse.
    m = _count_matrix(gt_px, _Index(pred_px, offsets, grid), grid)
    q = _count_matrix(pred_px, _Index(gt_px, offsets, grid), grid)
    with np.errstate(invalid="ignore", divide="ignore"):
        if m.shape[1]:
            matches = np.argmax(m, axis=1)
            best = m[np.arange(m.shape[0]), matches]
            matches = np.where(best > 0, matches, -1)
        else:
            best = np.zeros(m.shape[0])
            matches = np.full(m.shape[0], -1)
        recall = np.where(n_gt > 0, best / n_gt, np.nan)
        best_q = q.max(axis=1) if q.shape[1] else np.zeros(q.shape[0])
        precision = np.where(n_pred > 0, best_q / n_pred, np.nan)
    return RecallPrecision(recall.astype(float), precision.astype(float), matches.astype(np.int64))


def track_recall_precision(gt: Sequence[Track], pred: Sequence[Track], shape: tuple[int, int], *,
                           distance: float = 3.2) -> RecallPrecision:
    """Per-track recall and precision (no tiny-track filtering; :func:`score` does that).

    Parameters
    ----------
    gt, pred : sequence of Track
        Ground-truth and predicted tracks.
    shape : (int, int)
        Kymograph shape ``(n_frames, n_positions)``; rasters are clipped to it.
    distance : float
        Tolerance in px (Euclidean, inclusive).

    Returns
    -------
    RecallPrecision
        ``recall`` shape (len(gt),), ``precision`` shape (len(pred),) (``nan`` for a track with
        no pixel inside ``shape``), ``matches`` shape (len(gt),), indices into ``pred`` or -1.
    """
    shape = _check_shape(shape)
    gt, pred = _check_tracks(gt, "gt"), _check_tracks(pred, "pred")
    _check_number(distance, "distance", low=0, low_open=True)
    return _recall_precision_px(_pixels(gt, shape), _pixels(pred, shape), shape, distance)


# ----------------------------------------------------------------------------- gaps
def gap_events(gt: Sequence[Track], pred: Sequence[Track], *, distance: float = 3.0) -> list[Gap]:
    """Every gap of every ground-truth track with its (strict) resolution; no filtering.

    Parameters
    ----------
    gt, pred : sequence of Track
    distance : float
        Largest position difference (px, same frame, rounded positions) that covers a frame.

    Returns
    -------
    list of Gap
    """
    gt, pred = _check_tracks(gt, "gt"), _check_tracks(pred, "pred")
    _check_number(distance, "gap_distance", low=0)
    if pred:
        f = np.concatenate([t.frames for t in pred])
        x = np.concatenate([np.rint(t.positions) for t in pred])
        lab = np.concatenate([np.full(len(t), i) for i, t in enumerate(pred)])
        order = np.argsort(f, kind="stable")
        f, x, lab = f[order], x[order], lab[order]
    else:
        f = x = lab = np.zeros(0)

    def near(frame: int, pos: float) -> set[int]:
        lo, hi = np.searchsorted(f, frame, "left"), np.searchsorted(f, frame, "right")
        ok = np.abs(x[lo:hi] - pos) <= distance + _EPS
        return set(lab[lo:hi][ok].tolist())

    events: list[Gap] = []
    for ti, t in enumerate(gt):
        gx = np.rint(t.positions)
        for first, last in t.gaps():
            covering = [near(fr, gx[fr - t.start]) for fr in range(first, last + 1)]
            resolved = all(covering)
            strict: bool | None = None
            if first > t.start and last < t.end:
                ends = [near(fr, gx[fr - t.start]) for fr in (first - 1, last + 1)]
                strict = bool(set.intersection(*covering, *ends))
            events.append(Gap(ti, first, last, bool(resolved), strict))
    return events


def _gap_summary(events: list[Gap]) -> GapScores:
    n = len(events)
    strict = [e.strict for e in events if e.strict is not None]
    gap = sum(e.resolved for e in events) / n if n else math.nan
    gap_strict = sum(strict) / len(strict) if strict else math.nan
    return GapScores(float(gap), float(gap_strict), n, len(strict))


def gap_scores(gt: Sequence[Track], pred: Sequence[Track], *, distance: float = 3.0) -> GapScores:
    """Gap score and strict gap score (see module docstring); no tiny-track filtering."""
    return _gap_summary(gap_events(gt, pred, distance=distance))


# ----------------------------------------------------------------------------- crossings
def _crossing_events_px(gt_px, pred_px, shape, radius, cover) -> list[Crossing]:
    ng, npred = len(gt_px), max(len(pred_px), 1)
    if ng < 2:
        return []
    grid = _Grid(shape, 2)
    gt_px = [(rr[o], cc[o]) for rr, cc in gt_px for o in [np.lexsort((cc, rr))]]  # row-sorted
    gt_dil = _Index(gt_px, _SQUARE, grid)
    start = np.concatenate([[0], np.cumsum([rr.size for rr, _ in gt_px])])
    # every (GT pixel, predicted track) pair where the dilated predicted raster holds the pixel
    keys = np.concatenate([grid.flat(rr, cc) for rr, cc in gt_px])
    hit_pix, hit_lab = _Index(pred_px, _SQUARE, grid).hits(keys)
    box = np.array([[rr.min(), rr.max(), cc.min(), cc.max()] if rr.size else [1, -1, 1, -1]
                    for rr, cc in gt_px])
    # dilated rasters can meet only if the bounding boxes are within 2 px of each other
    close = ((box[:, None, 0] <= box[None, :, 1] + 2) & (box[None, :, 0] <= box[:, None, 1] + 2)
             & (box[:, None, 2] <= box[None, :, 3] + 2) & (box[None, :, 2] <= box[:, None, 3] + 2))
    r2 = radius * radius + _EPS
    pairs, centres, sizes = [], [], []
    owners, ids = [], []  # part 2e / 2e+1 = track a / b of event e, and its GT pixel ids
    for a, b in zip(*np.nonzero(np.triu(close, 1))):
        rr, cc = grid.unflat(np.intersect1d(gt_dil.sets[a], gt_dil.sets[b], assume_unique=True))
        inside = (rr >= 0) & (rr < shape[0]) & (cc >= 0) & (cc < shape[1])  # dilation is clipped
        rr, cc = rr[inside], cc[inside]
        if rr.size == 0:
            continue
        r0, c0 = rr.min(), cc.min()
        img = np.zeros((rr.max() - r0 + 1, cc.max() - c0 + 1), bool)
        img[rr - r0, cc - c0] = True
        lab, nlab = ndimage.label(img, structure=np.ones((3, 3), bool))
        region = lab[rr - r0, cc - c0] - 1
        size = np.bincount(region, minlength=nlab)
        cen = np.stack([np.bincount(region, rr, nlab), np.bincount(region, cc, nlab)], 1) / size[:, None]
        parts = [_parts(gt_px[t], cen, r2) for t in (a, b)]
        empty = np.zeros(nlab, bool)
        for k, _ in parts:
            empty |= np.bincount(k, minlength=nlab) == 0
        for k in np.nonzero(empty)[0]:  # centroid out of reach: nearest region pixel instead
            pr, pc = rr[region == k], cc[region == k]
            j = int(np.argmin((pr - cen[k, 0]) ** 2 + (pc - cen[k, 1]) ** 2))
            cen[k] = pr[j], pc[j]
        if empty.any():
            parts = [_parts(gt_px[t], cen, r2) for t in (a, b)]
        e0 = len(pairs)
        for side, t, (k, j) in ((0, a, parts[0]), (1, b, parts[1])):
            owners.append(2 * (e0 + k) + side)
            ids.append(start[t] + j)
        pairs += [(int(a), int(b))] * nlab
        centres.append(cen)
        sizes.append(size)
    if not pairs:
        return []
    # best single predicted track per part, all parts at once
    n_parts = 2 * len(pairs)
    owner, pid = np.concatenate(owners), np.concatenate(ids)
    n_in = np.bincount(owner, minlength=n_parts)
    lo = np.searchsorted(hit_pix, pid, "left")
    n = np.searchsorted(hit_pix, pid, "right") - lo
    pos = np.repeat(lo, n) + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    counts = np.bincount(np.repeat(owner, n) * npred + hit_lab[pos], minlength=n_parts * npred)
    counts = counts.reshape(n_parts, npred)
    best = counts.argmax(axis=1)
    got = counts[np.arange(n_parts), best]
    frac = got / np.maximum(n_in, 1)
    ok = ((n_in > 0) & (got >= cover * n_in - _EPS)).reshape(-1, 2).all(axis=1)
    match = np.where(got > 0, best, -1)
    cen, size = np.concatenate(centres), np.concatenate(sizes)
    return [
        Crossing(a, b, (float(cen[e, 0]), float(cen[e, 1])), int(size[e]), float(frac[2 * e]),
                 float(frac[2 * e + 1]), int(match[2 * e]), int(match[2 * e + 1]), bool(ok[e]))
        for e, (a, b) in enumerate(pairs)
    ]


def _parts(px: Pixels, centres: np.ndarray, r2: float) -> tuple[np.ndarray, np.ndarray]:
    """(centre index, pixel index) of the row-sorted pixels within sqrt(r2) of each centre."""
    rr, cc = px
    half = math.sqrt(r2)
    lo = int(np.searchsorted(rr, centres[:, 0].min() - half, "left"))
    hi = int(np.searchsorted(rr, centres[:, 0].max() + half, "right"))
    d2 = (rr[None, lo:hi] - centres[:, :1]) ** 2 + (cc[None, lo:hi] - centres[:, 1:]) ** 2
    k, j = np.nonzero(d2 <= r2)
    return k, lo + j


def crossing_events(gt: Sequence[Track], pred: Sequence[Track], shape: tuple[int, int], *,
                    radius: float = 16, cover: float = 0.7) -> list[Crossing]:
    """Every crossing event between ground-truth tracks, with its resolution; no filtering.

    Parameters
    ----------
    gt, pred : sequence of Track
    shape : (int, int)
        Kymograph shape; rasters are clipped to it.
    radius : float
        Radius (px) around the event centre that defines each track's part.
    cover : float
        Fraction of a part that one dilated predicted track must cover, in (0, 1].

    Returns
    -------
    list of Crossing
        Sorted by track pair, then by region (raster order of its first pixel).
    """
    shape = _check_shape(shape)
    gt, pred = _check_tracks(gt, "gt"), _check_tracks(pred, "pred")
    _check_number(radius, "crossing_radius", low=0, low_open=True)
    _check_number(cover, "crossing_cover", low=0, high=1, low_open=True)
    return _crossing_events_px(_pixels(gt, shape), _pixels(pred, shape), shape, radius, cover)


def _crossing_summary(events: list[Crossing]) -> CrossingScore:
    n = len(events)
    return CrossingScore(float(sum(e.resolved for e in events) / n) if n else math.nan, n)


def crossing_score(gt: Sequence[Track], pred: Sequence[Track], shape: tuple[int, int], *,
                   radius: float = 16, cover: float = 0.7) -> CrossingScore:
    """Fraction of crossing events resolved (``nan`` without any) and their number."""
    return _crossing_summary(crossing_events(gt, pred, shape, radius=radius, cover=cover))


# ----------------------------------------------------------------------------- all together
def score(gt: Sequence[Track], pred: Sequence[Track], shape: tuple[int, int], *,
          distance: float = 3.2, gap_distance: float = 3.0, crossing_radius: float = 16,
          crossing_cover: float = 0.7, min_pixels: int = 3, min_frames: int = 3) -> Scores:
    """Score predicted tracks against ground truth with the paper's benchmark metrics.

    Parameters
    ----------
    gt, pred : sequence of Track
        Ground-truth and predicted tracks of one kymograph.
    shape : (int, int)
        Kymograph shape ``(n_frames, n_positions)`` (``image.shape``).
    distance : float
        Recall/precision tolerance, px (Euclidean, inclusive).
    gap_distance : float
        Gap tolerance, px (same frame, inclusive).
    crossing_radius : float
        Radius of a crossing's track parts, px.
    crossing_cover : float
        Fraction of a part one dilated predicted track must cover, in (0, 1].
    min_pixels, min_frames : int
        Tracks with fewer raster pixels or frames are ignored on both sides.

    Returns
    -------
    Scores
    """
    shape = _check_shape(shape)
    gt, pred = _check_tracks(gt, "gt"), _check_tracks(pred, "pred")
    _check_number(distance, "distance", low=0, low_open=True)
    _check_number(gap_distance, "gap_distance", low=0)
    _check_number(crossing_radius, "crossing_radius", low=0, low_open=True)
    _check_number(crossing_cover, "crossing_cover", low=0, high=1, low_open=True)
    _check_number(min_pixels, "min_pixels", low=0, integer=True)
    _check_number(min_frames, "min_frames", low=0, integer=True)

    def kept(tracks):
        px = _pixels(tracks, shape)
        idx = [i for i, (t, (rr, _)) in enumerate(zip(tracks, px))
               if rr.size >= min_pixels and len(t) >= min_frames]
        return np.array(idx, dtype=np.int64), [tracks[i] for i in idx], [px[i] for i in idx]

    gi, gts, gpx = kept(gt)
    pi, preds, ppx = kept(pred)

    rp = _recall_precision_px(gpx, ppx, shape, distance)
    recall = float(rp.recall.mean()) if gts else 1.0
    precision = float(rp.precision.mean()) if preds else 1.0
    track_recall = np.full(len(gt), np.nan)
    track_recall[gi] = rp.recall
    track_precision = np.full(len(pred), np.nan)
    track_precision[pi] = rp.precision
    matches = np.full(len(gt), -1, dtype=np.int64)
    matches[gi] = np.where(rp.matches >= 0, pi[np.maximum(rp.matches, 0)] if pi.size else -1, -1)

    gaps = _gap_summary(gap_events(gts, preds, distance=gap_distance))
    cross = _crossing_summary(_crossing_events_px(gpx, ppx, shape, crossing_radius, crossing_cover))
    return Scores(
        recall=recall, precision=precision, f1=float(math.sqrt(recall * precision)),
        gap=gaps.gap, gap_strict=gaps.gap_strict, crossing=cross.crossing,
        n_gt=len(gts), n_pred=len(preds), n_gaps=gaps.n_gaps, n_crossings=cross.n_crossings,
        track_recall=track_recall, track_precision=track_precision, matches=matches,
        n_gaps_strict=gaps.n_gaps_strict,
    )
