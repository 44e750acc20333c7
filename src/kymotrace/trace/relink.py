"""Identity repair for tracks: cut at encounters, re-link the pieces with a learned scorer.

Bidirectional tracks use ``linker.json`` (session 10); unidirectional ones use ``linker_uni.json``
(session 11: the same features and model, trained on unidirectional kymographs), re-linked each
direction apart (:func:`relink_by_direction`), where a fast particle overtakes a slow one.

The frame-by-frame tracer (:mod:`kymotrace.trace.assign`) decides at every encounter of two
particles from their recent motion alone, one frame at a time. Bidirectional particles pause,
reverse and wander while they are merged, so it often leaves an encounter on the wrong partner
or breaks there. This step revisits those decisions with the whole picture:

1. **Cut.** Every traced track is cut where it comes within ``near`` px of another track
   (an encounter). Short encounters (at most ``long_merge`` frames: particles crossing or
   touching) are cut out; longer ones (two particles running merged, or two tracks following
   one particle) stay as segments of their own. Coasted gap frames are cut out too, so each
   segment holds only frames where the tracer had a detection.
2. **Describe.** Each segment gets its brightness and width on the kymograph (median over its
   frames, on a Gaussian-smoothed image) and its velocity at both ends over 3, 8 and 16 frames.
3. **Score.** Every pair (segment A ends, segment B starts 1 to ``max_dt`` frames later, within
   ``4 + 3 * dt`` px) gets 21 features (:data:`FEATURES`: time and position jumps, how well each
   side's motion predicts the other, velocity, brightness and width differences, whether the
   tracer itself joined them, how many alternatives each side has). A small multilayer
   perceptron, trained on synthetic kymographs whose ground truth says which segment truly
   continues which (``tools/train_linker.py``), turns them into a probability.
4. **Assign.** Links are chosen by one global assignment (:func:`scipy.optimize.linear_sum_assignment`),
   each end and each start used at most once, maximising the summed log-odds of the chosen links
   against the linker's ``p_min``; links below ``p_min`` are never made.
5. **Join.** Chains of linked segments become tracks. Between two linked pieces of the same
   traced track, before a track's first and after its last piece, and after a chain's last piece
   up to the track's next piece when that one starts a chain of its own, the traced track's own
   frames come back (so where the linker keeps the tracer's decision nothing is lost); between
   pieces of different tracks each frame takes the traced detection nearest to the straight line
   between them (within 3 px) that no chain holds and the tracer did not only coast through, or
   the line itself, flagged as a gap, where there is none. No traced frame goes to two tracks;
   tracks start and end on detections. Chains shorter than ``min_frames`` are dropped, and so is
   a traced track left with no piece of 2 frames or more after cutting (a short track wholly
   inside an encounter).

On by default in :func:`kymotrace.pipeline.analyze` (``relink=False`` or ``--no-relink`` turns it
off); figures in the linker's card and the README.

The scorer is a plain file of numbers (``kymotrace/models/weights/linker.json``: feature names,
input scaling, layer weights, ``p_min`` and a model card with the command that reproduces it and
its validation figures); it runs in numpy, without torch. Measured figures are in the card and in
``tools/train_linker.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..models.mlp import mlp_probability, parse_mlp, read_spec
from ..track import Track, renumber

__all__ = ["FEATURES", "Segment", "LinkScorer", "load_linker", "cut_segments", "describe_segments",
           "candidate_pairs", "choose_links", "join_segments", "relink", "relink_by_direction", "split_by_direction",
           "position_table"]

#: the scorer's input features, in order (a = the segment that ends, b = the one that starts)
FEATURES = (
    "dt", "log1p_dt", "abs_dx", "err_forward", "err_backward", "dv", "brightness_log_ratio", "same_track",
    "log_len_a", "log_len_b", "abs_v_a", "abs_v_b", "err_min", "met", "width_diff", "err_forward_3",
    "err_backward_3", "err_forward_16", "err_backward_16", "n_starts_for_a", "n_ends_for_b",
)
#: features passed through log1p before scaling
_LOG1P = (2, 3, 4, 5, 12, 14, 15, 16, 17, 18, 19, 20)


@dataclass
class Segment:
    """A piece of one traced track between encounters (frames with a detection only)."""

    frames: np.ndarray
    positions: np.ndarray
    source: int  # index of the traced track it came from
    brightness: float = 0.0
    width: float = 0.0
    v_start: float = 0.0
    v_end: float = 0.0
    v_start_3: float = 0.0
    v_end_3: float = 0.0
    v_start_16: float = 0.0
    v_end_16: float = 0.0

    @property
    def start(self) -> int:
        return int(self.frames[0])

    @property
    def end(self) -> int:
        return int(self.frames[-1])


def position_table(tracks: list[Track], n_frames: int) -> np.ndarray:
    """[track, frame] positions, NaN where a track does not exist."""
    table = np.full((len(tracks), n_frames), np.nan)
    for j, tr in enumerate(tracks):
        table[j, tr.frames] = tr.positions
    return table


def _slope(f: np.ndarray, x: np.ndarray) -> float:
    if f.size < 2:
        return 0.0
    ft = f - f.mean()
    d = float((ft * ft).sum())
    return float((ft * (x - x.mean())).sum() / d) if d > 0 else 0.0


def cut_segments(tracks: list[Track], n_frames: int, *, near: float = 2.0, long_merge: int = 4,
                 min_len: int = 2) -> tuple[list[Segment], np.ndarray]:
    """Cut tracks at encounters and coasted gaps (module notes, step 1).

    Returns the segments (at least ``min_len`` frames each) and the position table of ``tracks``.
    """
    table = position_table(tracks, n_frames)
    segs: list[Segment] = []
    for j, tr in enumerate(tracks):
        others = np.delete(table, j, 0)
        if len(others):
            with np.errstate(invalid="ignore"):
                enc = (np.abs(others - table[j][None]) <= near).any(0)[tr.frames]
        else:
            enc = np.zeros(len(tr), bool)
        label = np.where(enc, 0, 1)  # 0: dropped, 1: free, 2: long merge
        idx = np.flatnonzero(enc)
        if idx.size and long_merge > 0:
            for run in np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1):
                if run.size > long_merge:
                    label[run] = 2
        label[tr.gap] = 0
        keep = np.flatnonzero(label > 0)
        if keep.size == 0:
            continue
        breaks = np.flatnonzero((np.diff(keep) > 1) | (np.diff(label[keep]) != 0)) + 1
        for run in np.split(keep, breaks):
            if run.size >= min_len:
                segs.append(Segment(tr.frames[run].copy(), tr.positions[run].copy(), j))
    return segs, table


def describe_segments(segs: list[Segment], image: np.ndarray, *, sigma: float = 1.0) -> None:
    """Brightness, width and end velocities of each segment (module notes, step 2), in place.
    ``image``: the normalised, bright-on-dark kymograph."""
    from scipy.ndimage import gaussian_filter

    img = gaussian_filter(np.asarray(image, np.float32), sigma)
    w = img.shape[1]
    off = np.arange(-4, 5)
    for s in segs:
        c = np.clip(np.rint(s.positions).astype(np.int64), 0, w - 1)
        f = s.frames
        b = np.maximum(np.maximum(img[f, c], img[f, np.clip(c - 1, 0, w - 1)]), img[f, np.clip(c + 1, 0, w - 1)])
        s.brightness = float(np.median(b))
        ff = f.astype(float)
        s.v_start, s.v_end = _slope(ff[:8], s.positions[:8]), _slope(ff[-8:], s.positions[-8:])
        s.v_start_3, s.v_end_3 = _slope(ff[:3], s.positions[:3]), _slope(ff[-3:], s.positions[-3:])
        s.v_start_16, s.v_end_16 = _slope(ff[:16], s.positions[:16]), _slope(ff[-16:], s.positions[-16:])
        cc = np.clip(c[:, None] + off[None], 0, w - 1)
        prof = img[f[:, None], cc]
        prof = np.maximum(prof - prof.min(1, keepdims=True), 0)
        den = prof.sum(1) + 1e-6
        mu = (prof * off).sum(1) / den
        s.width = float(np.median(np.sqrt((prof * (off[None] - mu[:, None]) ** 2).sum(1) / den)))


def candidate_pairs(segs: list[Segment], table: np.ndarray, *, near: float = 2.0,
                    max_dt: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Candidate links (a, b) and their features (:data:`FEATURES`), module notes step 3."""
    nf = len(FEATURES)
    if not segs:
        return np.empty((0, 2), np.int64), np.empty((0, nf))
    ends = np.array([s.end for s in segs])
    starts = np.array([s.start for s in segs])
    xe = np.array([s.positions[-1] for s in segs])
    xs = np.array([s.positions[0] for s in segs])
    dt_all = starts[None, :] - ends[:, None]
    ok = (dt_all >= 1) & (dt_all <= max_dt) & (np.abs(xs[None, :] - xe[:, None]) <= 4.0 + 3.0 * dt_all)
    n_starts, n_ends = ok.sum(1), ok.sum(0)
    ia, ib = np.nonzero(ok)
    if ia.size == 0:
        return np.empty((0, 2), np.int64), np.empty((0, nf))
    attr = {k: np.array([getattr(s, k) for s in segs], float)
            for k in ("v_start", "v_end", "v_start_3", "v_end_3", "v_start_16", "v_end_16", "brightness", "width")}
    src = np.array([s.source for s in segs])
    length = np.array([s.frames.size for s in segs], float)
    dt = dt_all[ia, ib].astype(float)
    xa, xb = xe[ia], xs[ib]
    same = src[ia] == src[ib]
    # met: did the two source tracks come within ``near`` px between a's end and b's start?
    met = np.ones(ia.size)
    with np.errstate(invalid="ignore"):
        for k in np.flatnonzero(~same):
            lo, hi = ends[ia[k]], starts[ib[k]] + 1
            dd = np.abs(table[src[ia[k]], lo:hi] - table[src[ib[k]], lo:hi])
            met[k] = float(np.any(dd <= near))

    def fwd(v):
        return np.abs(xa + v[ia] * dt - xb)

    def bwd(v):
        return np.abs(xb - v[ib] * dt - xa)

    efw, ebw = fwd(attr["v_end"]), bwd(attr["v_start"])
    bright = np.abs(np.log(np.maximum(attr["brightness"][ia], 1e-3) / np.maximum(attr["brightness"][ib], 1e-3)))
    feats = np.stack([
        dt, np.log1p(dt), np.abs(xb - xa), efw, ebw, np.abs(attr["v_end"][ia] - attr["v_start"][ib]), bright,
        same.astype(float), np.log(length[ia]), np.log(length[ib]), np.abs(attr["v_end"][ia]), np.abs(attr["v_start"][ib]),
        np.minimum(efw, ebw), met, np.abs(attr["width"][ia] - attr["width"][ib]), fwd(attr["v_end_3"]), bwd(attr["v_start_3"]),
        fwd(attr["v_end_16"]), bwd(attr["v_start_16"]), n_starts[ia].astype(float), n_ends[ib].astype(float),
    ], axis=1)
    return np.stack([ia, ib], axis=1).astype(np.int64), feats


class LinkScorer:
    """The learned link scorer: features -> probability that segment b continues segment a."""

    def __init__(self, spec: dict, *, sha256: str = "", path: str = "") -> None:
        try:
            if spec.get("module") != "linker":
                raise ValueError("not a linker file (module is not 'linker')")
            if tuple(spec["features"]) != FEATURES:
                raise ValueError("its features differ from this version's")
            self.mean, self.scale, self.layers = parse_mlp(spec, len(FEATURES))
            self.p_min = float(spec["p_min"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{path or 'linker'}: unusable linker file: {exc}") from None
        cut = spec.get("cut", {}) if isinstance(spec.get("cut", {}), dict) else {}
        try:
            self.near = float(cut.get("near", 2.0))
            self.long_merge = int(cut.get("long_merge", 4))
            self.max_dt = int(cut.get("max_dt", 30))
        except (TypeError, ValueError):
            raise InputError(f"{path or 'linker'}: unusable linker file: bad 'cut' settings") from None
        if not (0 < self.near < 50 and 0 <= self.long_merge < 1000 and 0 < self.max_dt < 10000 and 0 < self.p_min < 1):
            raise InputError(f"{path or 'linker'}: unusable linker file: 'cut' settings or p_min out of range")
        self.name = str(spec.get("name", "linker"))
        self.card = spec.get("card", {})
        self.sha256 = sha256
        self.path = path

    def __call__(self, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features, float).copy()
        if x.size == 0:
            return np.empty(0)
        x[:, _LOG1P] = np.log1p(x[:, _LOG1P])
        return mlp_probability(x, self.mean, self.scale, self.layers)

    def describe(self) -> dict:
        return {"name": self.name, "sha256": self.sha256, "p_min": self.p_min, "near": self.near,
                "long_merge": self.long_merge, "max_dt": self.max_dt}


_LINKERS: dict[str, LinkScorer] = {}


def load_linker(name: str | None = None) -> LinkScorer:
    """A shipped linker (``None`` or ``"linker"``: bidirectional; ``"linker_uni"``: unidirectional)
    or one from a ``.json`` path; cached."""
    key = name or "linker"
    if key not in _LINKERS:
        spec, sha, path = read_spec(key, what="linker", shipped="the shipped ones are 'linker' and 'linker_uni'")
        _LINKERS[key] = LinkScorer(spec, sha256=sha, path=path)
    return _LINKERS[key]


def choose_links(pairs: np.ndarray, p: np.ndarray, p_min: float) -> dict[int, int]:
    """One global assignment of ends to starts maximising the summed ``logit(p) - logit(p_min)``
    of the chosen links; links with ``p <= p_min`` are never chosen. Returns {a: b}."""
    from scipy.optimize import linear_sum_assignment

    keep = p > p_min
    pairs, p = pairs[keep], p[keep]
    if len(pairs) == 0:
        return {}
    ends, ri = np.unique(pairs[:, 0], return_inverse=True)
    starts, ci = np.unique(pairs[:, 1], return_inverse=True)
    na, nb = ends.size, starts.size
    big = 1e6
    pc = np.clip(p, 1e-9, 1 - 1e-9)
    gain = np.log(pc / (1 - pc)) - np.log(p_min / (1 - p_min))
    m = np.full((na + nb, nb + na), big)
    m[ri, ci] = -gain
    m[np.arange(na), nb + np.arange(na)] = 0.0  # end a stays unlinked
    m[na + np.arange(nb), np.arange(nb)] = 0.0  # start b stays unlinked
    m[na:, nb:] = 0.0
    r, c = linear_sum_assignment(m)
    return {int(ends[i]): int(starts[j]) for i, j in zip(r, c) if i < na and j < nb and m[i, j] < big}


def join_segments(segs: list[Segment], links: dict[int, int], table: np.ndarray, *, max_fill: float = 3.0,
                  tracks: list[Track] | None = None) -> list[Track]:
    """Chains of linked segments as tracks (module notes, step 5).

    With ``tracks`` (the traced tracks the segments were cut from): between two linked segments of
    the same track, before a track's first and after its last segment, and after a chain's last
    segment up to that track's next segment when that one starts a chain of its own, the frames
    are the track's own (the encounter frames that were cut out), so re-linking loses nothing
    where it keeps the tracer's decision; no frame of a track goes to two chains, and chains
    start and end on detections, not on coasted gap frames."""
    has_prev = set(links.values())
    # per source track, its segments in time order
    order: dict[int, list[int]] = {}
    for k in sorted(range(len(segs)), key=lambda k: segs[k].start):
        order.setdefault(segs[k].source, []).append(k)
    rank = {k: (src, i) for src, ks in order.items() for i, k in enumerate(ks)}

    def own(src: int, lo: int, hi: int):
        """Frames lo..hi (inclusive) of traced track ``src``, clipped to its life."""
        tr = tracks[src]
        m = (tr.frames >= lo) & (tr.frames <= hi)
        return tr.frames[m], tr.positions[m], tr.gap[m]

    # frames of a traced track no chain may borrow to fill a jump: those some chain already holds
    # (its segments and own frames) and those the tracer only coasted through
    taken = np.zeros(table.shape, bool)
    if tracks is not None:
        for j, tr in enumerate(tracks):
            taken[j, tr.frames[tr.gap]] = True
    built = []
    for first in range(len(segs)):
        if first in has_prev:
            continue
        chain = [first]
        while chain[-1] in links and len(chain) <= len(segs):
            chain.append(links[chain[-1]])
        parts_f, parts_x, parts_g, parts_src = [], [], [], []
        if tracks is not None:  # the track's own frames before its first segment, if the chain starts there
            src, i = rank[chain[0]]
            if i == 0:
                f, x, g = own(src, int(tracks[src].frames[0]), segs[chain[0]].start - 1)
                parts_f.append(f), parts_x.append(x), parts_g.append(g), parts_src.append(src)
        for n, k in enumerate(chain):
            sg = segs[k]
            parts_f.append(sg.frames), parts_x.append(sg.positions), parts_g.append(np.zeros(sg.frames.size, bool))
            parts_src.append(sg.source)
            nxt = chain[n + 1] if n + 1 < len(chain) else None
            if tracks is None:
                continue
            src, i = rank[k]
            following = order[src][i + 1] if i + 1 < len(order[src]) else None
            if nxt is not None and nxt == following:  # the tracer's own frames in between
                f, x, g = own(src, sg.end + 1, segs[nxt].start - 1)
            elif nxt is None and following is None:  # the track's own frames after its last segment
                f, x, g = own(src, sg.end + 1, int(tracks[src].frames[-1]))
            elif nxt is None and following not in has_prev:
                # the chain ends here and the track's next segment starts a chain of its own: the
                # frames between them (the encounter) go to this chain only, never to both
                f, x, g = own(src, sg.end + 1, segs[following].start - 1)
            else:  # the frames between belong to whichever particle the links say: to neither here
                continue
            parts_f.append(f), parts_x.append(x), parts_g.append(g), parts_src.append(src)
        fr = np.concatenate(parts_f).astype(np.int64)
        xs = np.concatenate(parts_x)
        gg = np.concatenate(parts_g)
        src_of = np.concatenate([np.full(len(f), sidx) for f, sidx in zip(parts_f, parts_src)]).astype(np.int64)
        real = np.flatnonzero(~gg)  # a track starts and ends on a detection, never on coasted frames
        keep = slice(real[0], real[-1] + 1)
        fr, xs, gg, src_of = fr[keep], xs[keep], gg[keep], src_of[keep]
        taken[src_of, fr] = True
        built.append((chain, fr, xs, gg))
    out = []
    for chain, fr, xs, gg in built:
        frames = np.arange(fr[0], fr[-1] + 1)
        pos = np.interp(frames, fr, xs)
        gap = np.zeros(frames.size, bool)
        gap[fr - fr[0]] = gg
        for q in np.flatnonzero(~np.isin(frames, fr)):
            col = np.where(taken[:, frames[q]], np.nan, table[:, frames[q]])
            col = col[~np.isnan(col)]
            if col.size:
                y = col[np.argmin(np.abs(col - pos[q]))]
                if abs(y - pos[q]) <= max_fill:
                    pos[q] = y
                    continue
            gap[q] = True
        conf = None
        if tracks is not None:  # the traced tracks' confidences, weighted by the frames each gave
            cs = [(tracks[segs[k].source].confidence, segs[k].frames.size) for k in chain]
            cs = [(c, n) for c, n in cs if c is not None]
            if cs:
                conf = float(sum(c * n for c, n in cs) / sum(n for _, n in cs))
        out.append(Track(0, frames, pos, gap=gap, confidence=conf))
    return out


def relink(tracks: list[Track], image: np.ndarray, scorer: LinkScorer, *, min_frames: int = 5,
           p_min: float | None = None) -> list[Track]:
    """Cut ``tracks`` at encounters and re-link the pieces (module notes), with the cut settings
    the scorer was trained with (``scorer.near``, ``long_merge``, ``max_dt``). ``image``: the
    normalised, bright-on-dark kymograph the tracks were traced on; ``p_min`` defaults to the
    scorer's own. Returns new tracks numbered from 1."""
    image = np.asarray(image)
    segs, table = cut_segments(tracks, image.shape[0], near=scorer.near, long_merge=scorer.long_merge)
    if not segs:
        return []
    describe_segments(segs, image)
    pairs, feats = candidate_pairs(segs, table, near=scorer.near, max_dt=scorer.max_dt)
    p = scorer(feats)
    links = choose_links(pairs, p, scorer.p_min if p_min is None else float(p_min))
    return renumber([t for t in join_segments(segs, links, table, tracks=tracks) if len(t) >= min_frames])


def split_by_direction(tracks: list[Track]) -> tuple[list[Track], list[Track], list[Track]]:
    """Tracks moving towards +x, towards -x (end position minus start) and neither."""
    pos: list[Track] = []
    neg: list[Track] = []
    other: list[Track] = []
    for t in tracks:
        v = float(t.positions[-1] - t.positions[0]) if len(t) else 0.0  # as hysteresis_filter reads it
        (pos if v > 0 else neg if v < 0 else other).append(t)
    return pos, neg, other


def relink_by_direction(tracks: list[Track], image: np.ndarray, scorer: LinkScorer, *, min_frames: int = 5,
                        p_min: float | None = None) -> list[Track]:
    """:func:`relink` for unidirectional tracks: those moving each way are re-linked among
    themselves only (particles moving opposite ways are told apart by the two slope maps, and no
    unidirectional particle turns back); tracks that move neither way are kept as they are."""
    pos, neg, other = split_by_direction(tracks)
    return renumber(relink(pos, image, scorer, min_frames=min_frames, p_min=p_min)
                    + relink(neg, image, scorer, min_frames=min_frames, p_min=p_min) + other)
