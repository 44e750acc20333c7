"""Bidirectional tracing, per the paper, with the decision step as a plug-in.

Seeds are skeleton pixels with nothing above them (hit-or-miss "track tops"). Each seed is traced
pixel by pixel, never backwards in time. Where more than one continuation exists (a branch), or
none (a possible gap), the tracer asks a *decider*. All tracks of one kymograph advance together
and their pending decisions are answered in one batched call, so a neural decision module costs
one forward pass per round, not per decision.

Two deciders exist:

- :class:`NetDecider` wraps any callable ``crops[N, 3, 48, 48] -> maps[N, 48, 48]`` (the decision
  module): inputs are the kymograph crop, the skeleton crop and the crop of the track so far with
  its end at the centre; the map is binarised at 0.5 and its largest component below the current
  frame is the continuation (appended if longer than 2 px, its mean probability is the confidence).
- :class:`MotionDecider`: no network; it picks the branch whose direction best continues the
  track's recent velocity and bridges gaps of up to ``max_gap`` frames to the start of a skeleton
  segment near the linearly extrapolated position.

After every round the traced pixels are removed, new seeds are found on what is left and traced
again in the full skeleton, until nothing remains. Tracks shorter than 5 px or contained in
another are dropped and overlaps longer than 10 px go to the track with the higher confidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np
from scipy import ndimage as ndi

from ..track import Track, renumber
from .morph import clusters, neighbour_count

__all__ = ["trace_bi", "find_seeds", "MotionDecider", "NetDecider", "Decision", "CROP", "crop_at", "decision_crops"]

CROP = 48
_HALF = CROP // 2
#: the longest merged stretch (frames) left out of a velocity estimate
MAX_MERGED = 15
#: a track of a later round stops after following this many pixels of earlier tracks
MAX_FOLLOW_CLAIMED = 10


@dataclass
class _State:
    pixels: list  # [(t, x), ...] in tracing order
    seen: set
    confidence: list = field(default_factory=list)
    active: bool = True
    pending: str | None = None  # "branch" | "gap"
    candidates: list = field(default_factory=list)
    merged: int = 0  # frames since the path last passed a junction (a merged stretch)
    join_t: int | None = None
    on_claimed: int = 0
    taken_upto: int = 0  # how much of ``pixels`` is already in the round's taken set


@dataclass
class Decision:
    """A decider's answer for one track: pixels to append (in order) and a confidence."""

    pixels: list
    confidence: float


class Decider(Protocol):
    def __call__(self, states: list, skel: np.ndarray, image: np.ndarray, prob: np.ndarray) -> list[Decision | None]: ...


def find_seeds(skel: np.ndarray) -> list[tuple[int, int]]:
    """Track tops: the left end of every horizontal run of skeleton pixels of which no pixel has
    a skeleton pixel in the three above it (a hit-or-miss test per run, so a fast particle's
    horizontal run seeds once, whichever way it moves)."""
    s = skel.astype(bool)
    if not s.any():
        return []
    up = np.zeros_like(s)
    up[1:] = s[:-1]
    up_any = up.copy()
    up_any[:, 1:] |= up[:, :-1]
    up_any[:, :-1] |= up[:, 1:]
    left = np.zeros_like(s)
    left[:, 1:] = s[:, :-1]
    starts = s & ~left
    run_id = np.cumsum(starts.ravel()).reshape(s.shape) * s  # runs never wrap rows: a row's first pixel starts a run
    has_up = np.zeros(int(run_id.max()) + 1, bool)
    has_up[run_id[s & up_any]] = True
    tops = starts & ~has_up[run_id]
    return [tuple(map(int, p)) for p in np.argwhere(tops)]


def _velocity(pixels: list, n: int = 10, skip: int = 0) -> float:
    """Velocity (px/frame) over ``n`` frames of a pixel path, ending ``skip`` frames before its end.

    Per-frame mean positions, then a least-squares slope. ``skip`` leaves out the last frames,
    e.g. a stretch where two tracks run merged into one skeleton line before a branch.
    """
    k = min(len(pixels), 4 * (n + skip))
    if k < 2:
        return 0.0
    arr = np.asarray(pixels[-k:], dtype=np.float64)
    ts, xs = arr[:, 0], arr[:, 1]
    t_end = ts[-1] - skip
    keep = (ts <= t_end) & (ts > t_end - n)
    if keep.sum() < 2:
        keep = ts > ts[-1] - n
    ts, xs = ts[keep], xs[keep]
    t0 = ts.min()
    idx = (ts - t0).astype(np.int64)
    cnt = np.bincount(idx)
    have = cnt > 0
    if have.sum() < 2:
        if ts.size >= 2 and xs[-1] != xs[0]:
            return float(np.sign(xs[-1] - xs[0]) * 3.0)
        return 0.0
    ux = np.bincount(idx, weights=xs)[have] / cnt[have]
    ut = np.flatnonzero(have).astype(np.float64)
    ut -= ut.mean()
    return float((ut * (ux - ux.mean())).sum() / (ut * ut).sum())


def _follow(skel: np.ndarray, start: tuple[int, int], seen: set, length: int) -> list[tuple[int, int]]:
    """Follow the skeleton from ``start`` for up to ``length`` px without branching decisions."""
    path = [start]
    local = {start}
    t, x = start
    h, w = skel.shape
    for _ in range(length):
        nxt = None
        for dt, dx in ((0, -1), (0, 1), (1, 0), (1, -1), (1, 1)):
            tt, xx = t + dt, x + dx
            if 0 <= tt < h and 0 <= xx < w and skel[tt, xx] and (tt, xx) not in local and (tt, xx) not in seen:
                nxt = (tt, xx)
                break
        if nxt is None:
            break
        path.append(nxt)
        local.add(nxt)
        t, x = nxt
    return path


class MotionDecider:
    """Network-free decisions: velocity continuity at branches, linear extrapolation over gaps."""

    def __init__(self, max_gap: int = 6, look: int = 8, appearance: float = 0.0, taken_cost: float = 10.0):
        self.max_gap = max_gap
        self.look = look
        self.appearance = appearance
        self.taken_cost = taken_cost
        #: pixels of the tracks of the current round (set by trace_bi), or None
        self.taken: set | None = None
        self._tops: tuple[int, set] | None = None

    def _bridge(self, st, skel, tops, t: int, x: int, v: float):
        """Best skeleton pixel 2..max_gap+3 rows below (skeletonising shortens each side of a gap
        by about a pixel) within 1.5 + 0.5 px per row of the extrapolated position. Segment starts
        (seeds) are preferred. Cost: the miss relative to the row's tolerance, plus 0.1 per row,
        plus 0.5 for a pixel that is not a segment start."""
        h, w = skel.shape
        best, best_cost = None, np.inf
        for k in range(2, self.max_gap + 4):
            tt = t + k
            if tt >= h:
                break
            xp = x + v * k
            r = 1.5 + 0.5 * k
            lo, hi = max(0, int(np.floor(xp - r))), min(w, int(np.ceil(xp + r)) + 1)
            if lo >= hi:
                continue
            for c in np.flatnonzero(skel[tt, lo:hi]) + lo:
                p = (tt, int(c))
                if p in st.seen:
                    continue
                cost = abs(c - xp) / r + 0.1 * k + (0.0 if p in tops else 0.5)
                if cost < best_cost:
                    best, best_cost = p, cost
        return None if best is None else Decision([best], 1.0 / (1.0 + best_cost))

    def _seed_set(self, skel: np.ndarray) -> set:
        if self._tops is None or self._tops[0] != id(skel):
            self._tops = (id(skel), set(find_seeds(skel)))
        return self._tops[1]

    def __call__(self, states, skel, image, prob):
        out = []
        tops = self._seed_set(skel)
        for st in states:
            t, x = st.pixels[-1]
            v = _velocity(st.pixels, skip=st.merged)
            if st.pending == "branch":
                best, best_cost = None, np.inf
                hist = st.pixels[-(self.look * 3 + st.merged * 3) : len(st.pixels) - st.merged * 2 or None]
                i_track = float(np.mean([image[p] for p in hist[-3 * self.look :]])) if hist else None
                for g in st.candidates:
                    g = sorted(g)
                    path = _follow(skel, g[0], st.seen, self.look + 4)
                    dt = path[-1][0] - t
                    vx = (path[-1][1] - x) / dt if dt > 0 else np.sign(path[-1][1] - x) * 3.0
                    cost = abs(vx - v)
                    if self.taken is not None and any(q in self.taken for q in path[:4]):
                        cost += self.taken_cost  # another track of this round already went this way
                    if self.appearance and i_track is not None and len(path) > 4:
                        i_cand = float(np.mean([image[p] for p in path[4:]]))
                        cost += self.appearance * abs(i_cand - i_track) / (abs(i_track) + 0.25)
                    if cost < best_cost:
                        best, best_cost = path, cost
                out.append(Decision(best[:1], 1.0 / (1.0 + best_cost)) if best else None)
            else:  # gap: jump to a skeleton pixel near the linearly extrapolated position
                out.append(self._bridge(st, skel, tops, t, x, v))
        return out


def crop_at(a: np.ndarray, t: int, x: int) -> np.ndarray:
    """48x48 crop of ``a`` with (t, x) at index (24, 24), zero padded."""
    out = np.zeros((CROP, CROP), dtype=np.float32)
    h, w = a.shape
    t0, x0 = t - _HALF, x - _HALF
    ts, te = max(0, t0), min(h, t0 + CROP)
    xs, xe = max(0, x0), min(w, x0 + CROP)
    if ts < te and xs < xe:
        out[ts - t0 : te - t0, xs - x0 : xe - x0] = a[ts:te, xs:xe]
    return out


def decision_crops(states, skel, image) -> np.ndarray:
    """The decision module's input batch [N, 3, 48, 48] for the given track states."""
    crops = np.zeros((len(states), 3, CROP, CROP), dtype=np.float32)
    for i, st in enumerate(states):
        t, x = st.pixels[-1]
        crops[i, 0] = crop_at(image, t, x)
        crops[i, 1] = crop_at(skel.astype(np.float32), t, x)
        seg = np.zeros((CROP, CROP), np.float32)
        for pt, px in st.pixels[-200:]:
            r, c = pt - t + _HALF, px - x + _HALF
            if 0 <= r < CROP and 0 <= c < CROP:
                seg[r, c] = 1.0
        crops[i, 2] = seg
    return crops


class NetDecider:
    """Decisions by the decision module ``net(crops[N,3,48,48]) -> maps[N,48,48]`` (probabilities)."""

    def __init__(self, net: Callable[[np.ndarray], np.ndarray], threshold: float = 0.5, min_length: int = 3):
        self.net = net
        self.threshold = threshold
        self.min_length = min_length

    def __call__(self, states, skel, image, prob):
        if not states:
            return []
        maps = np.asarray(self.net(decision_crops(states, skel, image)))
        out = []
        for st, m in zip(states, maps):
            t, x = st.pixels[-1]
            mask = m > self.threshold
            mask[: _HALF + 1 if st.pending == "gap" else _HALF] = False  # never backwards in time
            mask[_HALF, : _HALF + 1] &= st.pending != "gap"
            lab, n = ndi.label(mask, structure=np.ones((3, 3), int))
            if n == 0:
                out.append(None)
                continue
            sizes = ndi.sum_labels(np.ones_like(lab), lab, index=np.arange(1, n + 1))
            k = int(np.argmax(sizes)) + 1
            if sizes[k - 1] < self.min_length:
                out.append(None)
                continue
            comp = lab == k
            rr, cc = np.nonzero(comp)
            pts = [(int(r) - _HALF + t, int(c) - _HALF + x) for r, c in zip(rr, cc)]
            h, w = skel.shape
            pts = [(a, b) for a, b in pts if 0 <= a < h and 0 <= b < w and (a, b) not in st.seen]
            if not pts:
                out.append(None)
                continue
            # continue from the skeleton where possible: prefer component pixels on the skeleton
            on = [p for p in pts if skel[p]]
            chosen = sorted(on or pts, key=lambda p: (p[0], abs(p[1] - x)))
            out.append(Decision(chosen, float(m[comp].mean())))
        return out


def _advance(st: _State, skel: np.ndarray, nb: np.ndarray, claimed: set | None = None, max_steps: int = 100_000) -> None:
    """Walk along unambiguous skeleton pixels until a branch or a dead end.

    A horizontal run of skeleton pixels (a fast particle within one frame) is absorbed whole;
    the walk then continues from the row below the run, so a run entered at either end is
    followed correctly. ``nb`` is the skeleton's neighbour count: passing a junction (3+
    neighbours, where another path joins) starts a "merged" stretch whose frames are left out of
    the velocity estimate at the next branch (:attr:`_State.merged`). With ``claimed`` (pixels of
    earlier rounds' tracks), a track that follows them for more than ``MAX_FOLLOW_CLAIMED`` px stops.
    """
    h, w = skel.shape
    for _ in range(max_steps):
        t, x = st.pixels[-1]
        # absorb the rest of the horizontal run through (t, x)
        lo = x
        while lo - 1 >= 0 and skel[t, lo - 1] and (t, lo - 1) not in st.seen:
            lo -= 1
        hi = x
        while hi + 1 < w and skel[t, hi + 1] and (t, hi + 1) not in st.seen:
            hi += 1
        run = [(t, c) for c in range(lo, hi + 1) if c != x]
        # continuations: unvisited pixels in the next row next to the run
        down = []
        if t + 1 < h:
            a, b = max(0, min(lo, x) - 1), min(w, max(hi, x) + 2)
            down = [(t + 1, int(c)) for c in np.flatnonzero(skel[t + 1, a:b]) + a if (t + 1, int(c)) not in st.seen]
        groups = clusters(down)
        # order the run so that the path ends next to where it goes on
        if len(groups) == 1:
            target = min(groups[0], key=lambda p: abs(p[1] - x))[1]
        else:
            back = st.pixels[-8] if len(st.pixels) >= 8 else st.pixels[0]
            d = x - back[1]  # recent direction of motion, cheaply
            target = hi if d > 0 else lo if d < 0 else x
        run.sort(key=lambda p: -abs(p[1] - target))
        for p in run:
            st.pixels.append(p)
            st.seen.add(p)
        if len(groups) == 1:
            end_x = st.pixels[-1][1]
            nxt = min(groups[0], key=lambda p: (abs(p[1] - end_x), p[1]))
            st.pixels.append(nxt)
            st.seen.add(nxt)
            if nb[nxt] > 2:
                st.join_t = nxt[0]
            if claimed is not None:
                st.on_claimed = st.on_claimed + 1 if nxt in claimed else 0
                if st.on_claimed > MAX_FOLLOW_CLAIMED:
                    # this later-round track has merged into an earlier track: end it there
                    del st.pixels[-st.on_claimed :]
                    st.pending = "stop"
                    return
            continue
        st.pending = "branch" if groups else "gap"
        st.candidates = groups
        st.merged = 0 if st.join_t is None else min(MAX_MERGED, max(0, t - st.join_t + 1))
        return


def _to_track(pixels: list, confidence: float) -> Track | None:
    ts = np.array([p[0] for p in pixels])
    xs = np.array([p[1] for p in pixels], float)
    t0, t1 = int(ts.min()), int(ts.max())
    frames = np.arange(t0, t1 + 1)
    cnt = np.bincount(ts - t0, minlength=frames.size)
    sums = np.bincount(ts - t0, weights=xs, minlength=frames.size)
    have = cnt > 0
    pos = np.interp(frames, frames[have], sums[have] / cnt[have])
    return Track(0, frames, pos, gap=~have, confidence=confidence)


def trace_bi(
    skel: np.ndarray,
    *,
    prob: np.ndarray | None = None,
    image: np.ndarray | None = None,
    decider: Decider | None = None,
    min_pixels: int = 5,
    overlap: int = 10,
    max_rounds: int = 20,
) -> list[Track]:
    """Trace a pruned skeleton of a bidirectional trackness map into tracks.

    Parameters
    ----------
    skel : bool ndarray [t, x], 1-px skeleton
    prob : trackness map (for confidences); defaults to the skeleton itself
    image : normalised kymograph (decision-module input); defaults to ``prob``
    decider : :class:`NetDecider`, :class:`MotionDecider` (default) or any callable of that shape
    """
    skel = np.asarray(skel, bool)
    prob = skel.astype(np.float32) if prob is None else np.asarray(prob, np.float32)
    image = prob if image is None else np.asarray(image, np.float32)
    decider = MotionDecider() if decider is None else decider
    done: list[_State] = []
    remaining = skel.copy()
    nb = neighbour_count(skel)
    claimed: set = set()
    for rnd in range(max_rounds):
        if rnd:
            # leftover fragments smaller than a track cannot seed one
            lab, n = ndi.label(remaining, structure=np.ones((3, 3), int))
            if n == 0:
                break
            sizes = np.bincount(lab.ravel())
            small = sizes < min_pixels
            small[0] = False
            remaining[small[lab]] = False
        seeds = find_seeds(remaining)
        if not seeds:
            break
        states = [_State(pixels=[s], seen={s}) for s in seeds]
        active = list(states)
        taken: set = set()
        if hasattr(decider, "taken"):
            decider.taken = taken
        while active:
            for st in active:
                _advance(st, skel, nb, claimed if rnd else None)
            active = [st for st in active if st.pending != "stop"]
            for st in active:  # pixels of this round's tracks, added incrementally
                taken.update(st.pixels[st.taken_upto :])
                st.taken_upto = len(st.pixels)
            answers = decider(active, skel, image, prob)
            nxt = []
            for st, ans in zip(active, answers):
                if ans is None or not ans.pixels:
                    st.active = False
                    continue
                st.confidence.append(ans.confidence)
                for p in ans.pixels:
                    if p not in st.seen:
                        st.pixels.append(p)
                        st.seen.add(p)
                st.pending = None
                nxt.append(st)
            active = nxt
        for st in states:
            for p in st.pixels:
                remaining[p] = False
            claimed.update(st.pixels)
        done += states
    return _resolve(done, prob, min_pixels, overlap)


def _resolve(states: list[_State], prob: np.ndarray, min_pixels: int, overlap: int) -> list[Track]:
    """Drop short and contained tracks; give long overlaps to the more confident track."""
    items = []
    for st in states:
        px = set(st.pixels)
        if len(px) < min_pixels:
            continue
        conf = float(np.mean([prob[p] for p in px]))
        if st.confidence:
            conf = 0.5 * conf + 0.5 * float(np.mean(st.confidence))
        items.append([conf, st.pixels, px])
    items.sort(key=lambda it: (-len(it[2]), -it[0]))
    kept: list = []
    for conf, pixels, px in items:
        if any(len(px - k[2]) <= 1 for k in kept):
            continue  # contained in a kept track
        for k in kept:
            shared = px & k[2]
            if len(shared) > overlap and conf < k[0]:
                # a shared stretch at this track's head or tail duplicates the other track: trim
                # it; one in the middle is a crossing that both tracks pass through: keep it
                rows = [p[0] for p in pixels]
                first, last = min(rows), max(rows)
                srows = [p[0] for p in shared]
                if min(srows) <= first + 2 or max(srows) >= last - 2:
                    pixels = [p for p in pixels if p not in shared]
                    px = px - shared
        if len(px) < min_pixels:
            continue
        kept.append([conf, pixels, px])
    tracks = []
    for conf, pixels, px in kept:
        # keep the longest time-contiguous piece (removing overlaps can split a track)
        ts = sorted({p[0] for p in pixels})
        pieces, cur = [], [ts[0]]
        for a in ts[1:]:
            if a - cur[-1] > 7:
                pieces.append(cur)
                cur = [a]
            else:
                cur.append(a)
        pieces.append(cur)
        best = max(pieces, key=len)
        sel = [p for p in pixels if best[0] <= p[0] <= best[-1]]
        tr = _to_track(sel, conf)
        if tr is not None and len(tr) >= 2:
            tracks.append(tr)
    return renumber(tracks)
