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
from .morph import clusters

__all__ = ["trace_bi", "find_seeds", "MotionDecider", "NetDecider", "Decision", "CROP", "crop_at", "decision_crops"]

CROP = 48
_HALF = CROP // 2


@dataclass
class _State:
    pixels: list  # [(t, x), ...] in tracing order
    seen: set
    confidence: list = field(default_factory=list)
    active: bool = True
    pending: str | None = None  # "branch" | "gap"
    candidates: list = field(default_factory=list)


@dataclass
class Decision:
    """A decider's answer for one track: pixels to append (in order) and a confidence."""

    pixels: list
    confidence: float


class Decider(Protocol):
    def __call__(self, states: list, skel: np.ndarray, image: np.ndarray, prob: np.ndarray) -> list[Decision | None]: ...


def find_seeds(skel: np.ndarray) -> list[tuple[int, int]]:
    """Track tops: skeleton pixels with no skeleton pixel in the three above them, nor to the left
    in the same row (so a horizontal run seeds once, at its left end)."""
    s = skel.astype(bool)
    up = np.zeros_like(s)
    up[1:] = s[:-1]
    up_any = up.copy()
    up_any[:, 1:] |= up[:, :-1]
    up_any[:, :-1] |= up[:, 1:]
    left = np.zeros_like(s)
    left[:, 1:] = s[:, :-1]
    tops = s & ~up_any & ~left
    return [tuple(map(int, p)) for p in np.argwhere(tops)]


def _candidates(skel: np.ndarray, st: _State, t: int, x: int) -> list[tuple[int, int]]:
    h, w = skel.shape
    out = []
    for dt, dx in ((0, -1), (0, 1), (1, -1), (1, 0), (1, 1)):
        tt, xx = t + dt, x + dx
        if 0 <= tt < h and 0 <= xx < w and skel[tt, xx] and (tt, xx) not in st.seen:
            out.append((tt, xx))
    return out


def _velocity(pixels: list, n: int = 10) -> float:
    """Recent velocity (px/frame) from the last ``n`` frames of a pixel path."""
    ts = np.array([p[0] for p in pixels[-4 * n :]], float)
    xs = np.array([p[1] for p in pixels[-4 * n :]], float)
    if ts.size < 2 or ts[-1] == ts[0]:
        return 0.0
    keep = ts >= ts[-1] - n
    ts, xs = ts[keep], xs[keep]
    if ts[-1] == ts[0]:
        return float(np.sign(xs[-1] - xs[0]) * 3.0)
    # per-row mean position, then a least-squares slope
    ut = np.unique(ts)
    ux = np.array([xs[ts == u].mean() for u in ut])
    if ut.size < 2:
        return 0.0
    return float(np.polyfit(ut, ux, 1)[0])


def _follow(skel: np.ndarray, start: tuple[int, int], seen: set, length: int) -> list[tuple[int, int]]:
    """Follow the skeleton from ``start`` for up to ``length`` px without branching decisions."""
    path = [start]
    local = set(seen) | {start}
    t, x = start
    h, w = skel.shape
    for _ in range(length):
        nxt = None
        for dt, dx in ((0, -1), (0, 1), (1, 0), (1, -1), (1, 1)):
            tt, xx = t + dt, x + dx
            if 0 <= tt < h and 0 <= xx < w and skel[tt, xx] and (tt, xx) not in local:
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

    def __init__(self, max_gap: int = 6, look: int = 8):
        self.max_gap = max_gap
        self.look = look

    def __call__(self, states, skel, image, prob):
        out = []
        tops = set(find_seeds(skel))
        for st in states:
            t, x = st.pixels[-1]
            v = _velocity(st.pixels)
            if st.pending == "branch":
                best, best_cost = None, np.inf
                for g in st.candidates:
                    g = sorted(g)
                    path = _follow(skel, g[0], st.seen, self.look)
                    dt = path[-1][0] - t
                    vx = (path[-1][1] - x) / dt if dt > 0 else np.sign(path[-1][1] - x) * 3.0
                    cost = abs(vx - v)
                    if cost < best_cost:
                        best, best_cost = path, cost
                out.append(Decision(best[:1], 1.0 / (1.0 + best_cost)) if best else None)
            else:  # gap: jump to the start of a skeleton segment near the extrapolated position
                hit = None
                for k in range(2, self.max_gap + 2):
                    tt = t + k
                    if tt >= skel.shape[0]:
                        break
                    xp = x + v * k
                    r = 1.5 + 0.5 * k
                    cols = np.flatnonzero(skel[tt, max(0, int(xp - r)) : int(xp + r) + 1]) + max(0, int(xp - r))
                    cols = [c for c in cols if (tt, int(c)) in tops and (tt, int(c)) not in st.seen]
                    if cols:
                        c = min(cols, key=lambda c: abs(c - xp))
                        hit = Decision([(tt, int(c))], 1.0 / (1.0 + abs(c - xp)))
                        break
                out.append(hit)
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


def _advance(st: _State, skel: np.ndarray, max_steps: int = 100_000) -> None:
    """Walk along unambiguous skeleton pixels until a branch or a dead end."""
    for _ in range(max_steps):
        t, x = st.pixels[-1]
        groups = clusters(_candidates(skel, st, t, x))
        if len(groups) == 1:
            g = sorted(groups[0], key=lambda p: (p[0] - t, abs(p[1] - x)))
            st.pixels.append(g[0])
            st.seen.add(g[0])
            continue
        st.pending = "branch" if groups else "gap"
        st.candidates = groups
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
    for _ in range(max_rounds):
        seeds = find_seeds(remaining)
        if not seeds:
            break
        states = [_State(pixels=[s], seen={s}) for s in seeds]
        active = list(states)
        while active:
            for st in active:
                _advance(st, skel)
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
