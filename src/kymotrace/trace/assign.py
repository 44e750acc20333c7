"""Tracing by detection and global assignment, frame by frame (an alternative to skeleton walking).

Instead of walking a skeleton pixel by pixel, this tracer reads the trackness map one frame (row)
at a time, as a particle tracker reads a movie:

1. **Detections.** In every row, each local maximum of the trackness map above the threshold is one
   detection, at the sub-pixel position of a parabola through the peak and its two neighbours.
   Peaks closer than ``min_separation`` px, or separated by a dip of less than ``min_dip`` of the
   lower peak, are one detection (a wide or noisy ridge is one particle).
2. **Assignment.** Active tracks predict their position in the row from their recent velocity (a
   least-squares slope over their last ``velocity_frames`` detections). Detections are assigned to
   tracks by one globally optimal assignment per row (:func:`scipy.optimize.linear_sum_assignment`).
   A detection costs ``|detection - prediction| / gate`` (within the gate, which grows with the
   frames since the track was last seen and with its speed), or, for a change of motion (a pause,
   a reversal, a burst), ``free_cost`` rising to 1 with the jump from the last position (within
   ``max_speed`` px per frame); taking no detection costs 1. So a track coasts through a gap on its
   predicted path and picks up its own continuation on the other side, and a detection is never
   claimed by two tracks in the assignment.
   Two particles running merged give one detection: a track left without one may then *share* an
   assigned detection that lies on its own predicted path (cost <= ``share``), so that it is not
   cut where it meets another track.
3. **Births and deaths.** A detection left unassigned starts a new track. A track not seen for more
   than ``max_gap`` frames ends at its last detection. Frames a track coasted through are
   interpolated and flagged as gap frames.
4. Tracks with fewer than ``min_detections`` detections are dropped, and so are tracks that only
   duplicate a longer one (:func:`drop_duplicates`).

Measured on 12 validation kymographs per set (seeds 55,001,000 on; medians; the same trackness
maps, gap linking and position refinement for both), against the paper's skeleton walk with the
motion decider (uni with ``max_gap=8``, which bridged more gaps there: 0.875 vs 0.863; on bi it only
cost precision):

==============  ==========================  ==========================
set             skeleton walk F1 / cross    assignment F1 / cross
==============  ==========================  ==========================
bi              0.788 / 0.33                0.804 / 0.40
bi_dense        0.668 / 0.23                0.670 / 0.22
bi_low_snr      0.801 / 0.27                0.801 / 0.32
realistic_bi    0.731 / 0.15                0.734 / 0.18
uni             0.964 / 0.75 (components)   0.962 / 0.84
realistic_uni   0.875 / 0.35 (components)   0.878 / 0.45
==============  ==========================  ==========================

Unidirectional settings, revised in session 3 at the model's threshold (0.9) on 16 validation
kymographs per set (seeds 55,720,000 and 55,740,000 on: paper uni twice, realistic uni, uni at
SNR 1.1, tall 150x600; and 55,760,000 on: uni with immobile spots, and the training variety): no
change-of-motion option (``free_cost=1``: unidirectional tracks run straight), a 12-frame velocity
fit, tracks of 4 detections kept, and immobile tracks dropped (:func:`drop_stationary`). Mean F1 /
crossings over the first five sets 0.939 / 0.674 -> 0.946 / 0.681; immobile spots 0.875 -> 0.897;
training variety 0.793 -> 0.794. Tried and not kept: longer coasting (9-10 frames) and collinear
gap linking up to 16 frames (crossings up to 0.709, but the training-variety set fell to 0.770), and
a lower segmenter threshold (0.6: five-set F1 0.954 and crossings 0.75 on synthetic validation, but
on KymoButler's real EB1 kymograph ``unitest.png`` the tracks went from 102 to 223, most of the new
ones noise).

Session 4: on a slope map (unidirectional), tracks may not step back against their slope by more
than ``back_tol`` (1 px) from their last position (``direction=+1`` on the positive-slope map,
``-1`` on the negative one). On 12 validation kymographs per set (seeds 50,850,000 on) mean F1 rose
on every unidirectional set but one (paper uni 0.972 -> 0.974, SNR 1.1 0.957 -> 0.963, realistic
0.890 -> 0.894, tall 0.964 -> 0.970, immobile spots 0.899 -> 0.898) and crossings on all of them
(SNR 1.1: 0.614 -> 0.650); on KymoButler's real EB1 kymograph it removed the zig-zags where a track
hopped back onto noise. Tried and not kept: hysteresis (extending tracks onto detections down to
0.7 or 0.5 while only detections above the threshold start tracks): realistic uni F1 0.894 ->
0.914, but on the real EB1 kymographs it added fast, straight links between noise blobs (tracks
127 -> 156 on ``unitest.png``); on bidirectional sets it changed F1 by -0.007 to +0.006.

Session 4, unidirectional gates: a new track looks for its second detection up to ``new_gate`` =
8 px away (was 4; with ``direction`` that window only opens forward) and established tracks within
``gate`` = 5 px of their prediction (was 3.5). Fast movers (4-6 px per frame, 8 kymographs, seeds
50,870,000 on) went from F1 0.753 to 0.835; the five validation sets above from mean F1 0.9400 to
0.9413; ``unitest.png`` kept its 127 tracks.

Session 4, bidirectional: the reach of a change of motion (``max_speed``) went from 4 to 7 px per
frame. On two independent validation draws (12 kymographs per set, seeds 50,800,000 and 50,900,000
on; paper bi, SNR 1.1, 40 tracks, realistic, 600x150) mean F1 stayed put (0.779 -> 0.778 and 0.767
-> 0.767; 40 tracks lost 0.01-0.016) while crossings rose from 0.335 to 0.381 and from 0.304 to
0.343; on KymoButler's synthetic ``bitest.png``, whose fastest runs cross 5-6 px per frame, tracks
went from 30 to 26 (3-frame minimum; KymoButler, 10-frame minimum: 13) and F1 against KymoButler's own tracks from 0.780 to 0.806.
Tried and not kept (module notes above list earlier attempts): resolving two-track encounters
afterwards by motion, by image brightness or both (brightness measured away from other tracks
picks the right pairing at 94-95 % of ground-truth encounters in paper bi, against 78-85 % for
motion, ``tools/encounter_ambiguity.py``,
yet on traced tracks it moved F1 by -0.005 to +0.01 and lowered crossings); re-wiring track ends
and starts around encounters as a small assignment (F1 +0.004); cutting tracks into pieces between
encounters and stitching them globally by motion and brightness (F1 -0.04: the pieces lose the
shared detections of the encounter); predicting a track's motion only from detections no other
track contested (processive motion F1 +0.02 and crossings +0.12, but paper bi -0.017).

Session 5, unidirectional: detections are placed on :func:`guided_map` (trackness plateau plus
the smoothed kymograph) with ``min_dip=0.01``, which lifted crossings by 0.09-0.22 and gaps by
0.01-0.04 on the validation sets (figures in its docstring) and on the bench paper uni crossings
0.852 -> 0.939. Bidirectional, tried and not kept: the guided map (mix 0.2: crossings -0.02;
mix 0.8 with ``min_dip=0.01``: crossings +0.019 but F1 -0.007), an appearance term in the
assignment cost (each track's median brightness against the detection's; weight 0.3: F1 +0.002,
crossings 0.342 -> 0.302; merged blobs are brighter than either particle, so tracks broke at
encounters), and longer or looser gap linking (max_gap 10, tol 3, max_dv 2: within 0.001). What
is left on the paper's bidirectional set is mostly pairs of particles that wind around each
other for tens of frames, and gaps during which the invisible particle jumps several pixels.

Velocity continuity is what resolves crossings: two particles crossing in opposite directions meet
in one detection for a frame or two, and each leaves on its own predicted line. A track never runs
backwards in time.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..track import Track, renumber

__all__ = ["detect_rows", "guide_image", "guided_map", "trace_assign", "drop_duplicates", "UNI_PARAMS", "BI_PARAMS",
           "drop_stationary", "strong_frames", "hysteresis_filter", "UNI_HYSTERESIS", "HYSTERESIS_OPTIONS"]

#: settings measured best on validation seeds (see the module notes), per kind of kymograph
BI_PARAMS = dict(gate=3.5, free_cost=0.6, share=0.5, max_gap=6, max_speed=7.0)
UNI_PARAMS = dict(gate=5.0, new_gate=8.0, free_cost=1.0, share=0.5, max_gap=8, velocity_frames=12, min_detections=4,
                  min_dip=0.01, guide_mix=0.8)


#: unidirectional hysteresis: the slope maps are traced at this fraction of the threshold (0.75 for
#: the shipped 0.9) and tracks are kept by :func:`hysteresis_filter` with these options
UNI_HYSTERESIS = 0.75 / 0.9
HYSTERESIS_OPTIONS = dict(need=4, min_share=0.5, trim=False, by_direction=True)


def guide_image(image: np.ndarray, *, sigma: float = 1.0) -> np.ndarray:
    """The normalised kymograph as :func:`guided_map` reads it: smoothed by a Gaussian of
    ``sigma`` px across position (not time) and scaled to [0, 1] by its 99.5th percentile.
    Computed once per kymograph and shared by both slope maps."""
    from scipy.ndimage import gaussian_filter1d

    s = gaussian_filter1d(np.asarray(image, np.float32), sigma, axis=1) if sigma > 0 else np.asarray(image, np.float32)
    top = float(np.percentile(s, 99.5))
    return np.clip(s / top, 0.0, 1.0) if top > 1e-6 else np.zeros_like(s)


def guided_map(prob: np.ndarray, guide: np.ndarray, threshold: float, *, mix: float = 0.5) -> np.ndarray:
    """A detection map whose peaks follow the kymograph where the trackness map is flat.

    The segmenters' maps are plateaus several pixels wide (about 1.0 across 5-7 px), so two
    particles running 3-5 px apart give one ridge, and the peak of a single wide ridge is poorly
    placed. Inside the thresholded mask this map is ``threshold + (1 - threshold) * ((1 - mix) *
    prob + mix * guide)``, with ``guide`` from :func:`guide_image`; outside it is 0.
    So which pixels hold a track is still decided by the trackness map alone, and only where
    peaks lie inside it is read from the image too. The map spans only ``threshold`` to 1, so
    a plateau splits into two detections only with a small ``min_dip`` (0.01 in ``UNI_PARAMS``).

    Session 5, on 12 validation kymographs per unidirectional set (seeds 50,850,000 on; means;
    with the session's position smoothing in both): paper uni F1 / gaps / crossings 0.975 / 0.922
    / 0.760 -> 0.979 / 0.937 / 0.859; realistic 0.896 / 0.747 / 0.444 -> 0.895 / 0.765 / 0.535;
    SNR 1.1 0.966 / 0.879 / 0.636 -> 0.972 / 0.923 / 0.858; immobile spots 0.897 / 0.885 / 0.693
    -> 0.896 / 0.923 / 0.824 (``mix=0.8``, ``sigma=1``, ``min_dip=0.01``; ``mix=0.5`` with the
    old ``min_dip=0.15`` gave about half of the crossing gain, ``mix=1`` lost realistic F1). On
    KymoButler's real EB1 kymographs the track counts barely moved (``unitest.png`` 126 -> 133,
    ``testimg.tif`` 52 -> 54, the eLife notebook's EB1 kymograph 76 -> 76). On bidirectional maps
    it lowered crossings (mean over five sets 0.342 -> 0.326), so it is not used there.
    """
    p = np.asarray(prob, np.float32)
    return np.where(p > threshold, threshold + (1.0 - threshold) * ((1.0 - mix) * p + mix * guide), 0.0).astype(np.float32)


def detect_rows(prob: np.ndarray, threshold: float, *, min_separation: float = 2.5, min_dip: float = 0.15,
                guide: np.ndarray | None = None, guide_mix: float = 0.5) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per row, the sub-pixel positions and heights of the trackness map's peaks above ``threshold``.

    With ``guide`` (the normalised kymograph through :func:`guide_image`), peaks are found on
    :func:`guided_map` instead; the heights reported are still the trackness at each peak.
    """
    p = np.asarray(prob, np.float32)
    trackness = p
    if guide is not None:
        if guide.shape != p.shape:
            raise ValueError(f"guide image shape {guide.shape} differs from the trackness map's {p.shape}")
        p = guided_map(p, guide, threshold, mix=guide_mix)
    h, w = p.shape
    left = np.full_like(p, -np.inf)
    left[:, 1:] = p[:, :-1]
    right = np.full_like(p, -np.inf)
    right[:, :-1] = p[:, 1:]
    peak = (p > threshold) & (p >= left) & (p > right)
    rows, cols = np.nonzero(peak)
    # parabola through (c-1, c, c+1) for the sub-pixel offset
    l = np.where(cols > 0, p[rows, np.maximum(cols - 1, 0)], p[rows, cols])
    r = np.where(cols < w - 1, p[rows, np.minimum(cols + 1, w - 1)], p[rows, cols])
    c = p[rows, cols]
    den = l - 2 * c + r
    off = np.where(den < -1e-6, 0.5 * (l - r) / np.where(den < -1e-6, den, -1.0), 0.0)
    pos = cols + np.clip(off, -0.5, 0.5)
    out: list[tuple[np.ndarray, np.ndarray]] = [(np.empty(0), np.empty(0)) for _ in range(h)]
    if rows.size == 0:
        return out
    bounds = np.flatnonzero(np.diff(rows)) + 1
    for rr, cc, xx, hh in zip(np.split(rows, bounds), np.split(cols, bounds), np.split(pos, bounds), np.split(c, bounds)):
        t = int(rr[0])
        keep_x, keep_h, keep_c = [float(xx[0])], [float(hh[0])], [int(cc[0])]
        for ci, xi, hi in zip(cc[1:], xx[1:], hh[1:]):
            dip = float(p[t, keep_c[-1] : ci + 1].min())
            lower = min(hi, keep_h[-1])
            if xi - keep_x[-1] < min_separation or lower - dip < min_dip * lower:
                if hi > keep_h[-1]:  # merge: keep the higher peak
                    keep_x[-1], keep_h[-1], keep_c[-1] = float(xi), float(hi), int(ci)
            else:
                keep_x.append(float(xi))
                keep_h.append(float(hi))
                keep_c.append(int(ci))
        out[t] = (np.asarray(keep_x), trackness[t, keep_c].astype(np.float64) if guide is not None else np.asarray(keep_h))
    return out


class _Track:
    __slots__ = ("t", "x", "h", "_v")

    def __init__(self, t: int, x: float, h: float) -> None:
        self.t = [t]
        self.x = [x]
        self.h = [h]
        self._v: tuple[int, float] | None = None  # (n, velocity(n)) until the next detection

    def add(self, t: int, x: float, h: float) -> None:
        self.t.append(t)
        self.x.append(x)
        self.h.append(h)
        self._v = None

    def velocity(self, n: int) -> float:
        """Least-squares slope of the last ``n`` detections (plain Python: faster than numpy
        for the dozen points it sees; kept until the track gets its next detection)."""
        if self._v is not None and self._v[0] == n:
            return self._v[1]
        t = self.t[-n:]
        k = len(t)
        v = 0.0
        if k >= 2:
            x = self.x[-n:]
            mt = sum(t) / k
            mx = sum(x) / k
            d = sum((a - mt) * (a - mt) for a in t)
            v = sum((a - mt) * (b - mx) for a, b in zip(t, x)) / d if d > 0 else 0.0
        self._v = (n, v)
        return v


def trace_assign(
    prob: np.ndarray,
    threshold: float,
    *,
    max_gap: int = 6,
    gate: float = 3.5,
    gate_per_frame: float = 1.0,
    gate_per_speed: float = 0.5,
    new_gate: float = 4.0,
    velocity_frames: int = 8,
    max_speed: float = 4.0,
    free_cost: float = 0.6,
    share: float = 0.5,
    min_detections: int = 5,
    min_separation: float = 2.5,
    min_dip: float = 0.15,
    dedupe: bool = True,
    direction: int = 0,
    back_tol: float = 1.0,
    guide: np.ndarray | None = None,
    guide_mix: float = 0.5,
) -> list[Track]:
    """Trace a trackness map [t, x] by per-frame detection and global assignment (module notes).

    With ``dedupe``, tracks that merely duplicate a longer one (:func:`drop_duplicates`) are dropped.
    ``direction`` (+1 or -1, for a slope map) forbids steps of more than ``back_tol`` px against it;
    0 (default) lets tracks move either way. ``guide``: :func:`guide_image` of the normalised
    kymograph, to place detections by :func:`guided_map` (used on unidirectional maps).

    Returns tracks numbered from 1; each track's ``confidence`` is the mean trackness of its
    detections, and frames it coasted through are interpolated and flagged as gaps.
    """
    prob = np.asarray(prob, np.float32)
    dets = detect_rows(prob, threshold, min_separation=min_separation, min_dip=min_dip, guide=guide, guide_mix=guide_mix)
    active: list[_Track] = []
    finished: list[_Track] = []
    for t, (xs, hs) in enumerate(dets):
        # end tracks not seen for too long
        still = []
        for tr in active:
            (finished if t - tr.t[-1] > max_gap + 1 else still).append(tr)
        active = still
        n, m = len(active), xs.size
        used = np.zeros(m, bool)
        if n and m:
            big = 1e6
            cost = np.full((n, m + n), big)
            # all active tracks at once: [n, 1] track quantities against [1, m] detections
            last_x = np.array([tr.x[-1] for tr in active])[:, None]
            dt = np.array([t - tr.t[-1] for tr in active], float)[:, None]
            v = np.array([tr.velocity(velocity_frames) for tr in active])[:, None]
            young = np.array([len(tr.t) < 3 for tr in active])[:, None]
            g = np.where(young, new_gate, gate) + gate_per_frame * (dt - 1) + gate_per_speed * np.abs(v)
            d = np.abs(xs[None, :] - (last_x + v * dt)) / g
            # a change of motion (pause, reversal, burst): any detection within reach of the last
            # position, at a cost between ``free_cost`` and 1
            reach = max_speed * dt + 1.0
            step = xs[None, :] - last_x
            jump = np.abs(step)
            d = np.minimum(d, np.where(jump <= reach, free_cost + (1.0 - free_cost) * jump / reach, np.inf))
            if direction:
                # a slope map's tracks only move one way: no step back by more than back_tol px
                d = np.where(step * direction < -back_tol, np.inf, d)
            cost[:, :m] = np.where(d <= 1.0, d, big)
            cost[np.arange(n), m + np.arange(n)] = 1.0  # no detection for this track in this row
            ri, ci = linear_sum_assignment(cost)
            got = np.zeros(n, bool)
            for i, j in zip(ri, ci):
                if j < m and cost[i, j] < big:
                    active[i].add(t, float(xs[j]), float(hs[j]))
                    used[j] = True
                    got[i] = True
            if share > 0:
                # two particles that run merged give one detection: a track left without one may
                # share an assigned detection lying on its own predicted path
                for i in np.flatnonzero(~got):
                    row = np.where(used, cost[i, :m], np.inf)
                    j = int(np.argmin(row))
                    if row[j] <= share:
                        active[i].add(t, float(xs[j]), float(hs[j]))
        for j in np.flatnonzero(~used):
            active.append(_Track(t, float(xs[j]), float(hs[j])))
    finished += active
    tracks = []
    for tr in finished:
        if len(tr.t) < min_detections:
            continue
        ts = np.asarray(tr.t)
        frames = np.arange(ts[0], ts[-1] + 1)
        pos = np.interp(frames, ts, tr.x)
        gap = np.ones(frames.size, bool)
        gap[ts - ts[0]] = False
        tracks.append(Track(0, frames, pos, gap=gap, confidence=float(np.mean(tr.h))))
    return drop_duplicates(tracks) if dedupe else renumber(tracks)


def drop_duplicates(tracks: list[Track], *, distance: float = 2.0, fraction: float = 0.8) -> list[Track]:
    """Drop tracks that duplicate a longer one: at least ``fraction`` of their frames within
    ``distance`` px of it (two tracks that followed one merged line of detections)."""
    order = sorted(tracks, key=lambda t: -len(t))
    kept: list[Track] = []
    for tr in order:
        dup = False
        for k in kept:
            lo, hi = max(tr.start, k.start), min(tr.end, k.end)
            if hi - lo + 1 < fraction * len(tr):
                continue
            a = tr.positions[lo - tr.start : hi - tr.start + 1]
            b = k.positions[lo - k.start : hi - k.start + 1]
            if np.count_nonzero(np.abs(a - b) <= distance) >= fraction * len(tr):
                dup = True
                break
        if not dup:
            kept.append(tr)
    return renumber(kept)


def drop_stationary(tracks: list[Track], *, min_speed: float = 0.05, min_frames: int = 20) -> list[Track]:
    """Drop tracks of at least ``min_frames`` frames whose start-to-end speed is below
    ``min_speed`` px/frame: in a unidirectional kymograph these are immobile spots (stuck particles,
    dirt, camera columns), not movers. The unidirectional segmenter never saw such vertical lines in
    training and marks some of them; on validation kymographs with immobile spots (seeds
    55,760,000 on, 16 kymographs) this raised track F1 from 0.862 to 0.897 and left five other
    unidirectional validation sets unchanged (the slowest trained movers run at 0.3 px/frame)."""
    keep = []
    for tr in tracks:
        n = len(tr)
        if n >= min_frames and abs(float(tr.positions[-1] - tr.positions[0])) < min_speed * (n - 1):
            continue
        keep.append(tr)
    return renumber(keep)


def strong_frames(track: Track, maps, threshold: float) -> np.ndarray:
    """Per frame of ``track``: does it reach ``threshold`` on any of ``maps`` (trackness maps
    [t, x]) within 1 px of the rounded position? Always False on gap frames."""
    out = np.zeros(len(track), bool)
    keep = ~np.asarray(track.gap, bool)
    if not keep.any():
        return out
    f = track.frames[keep]
    w = np.asarray(maps[0]).shape[1]
    x = np.rint(track.positions[keep]).astype(np.int64)
    best = np.zeros(f.size, np.float32)
    for m in maps:
        m = np.asarray(m)
        for d in (-1, 0, 1):
            best = np.maximum(best, m[f, np.clip(x + d, 0, w - 1)])
    out[keep] = best >= threshold
    return out


def hysteresis_filter(tracks: list[Track], maps, threshold: float, *, need: int = 4, min_share: float = 0.0,
                      trim: bool = True, tail: int = 0, by_direction: bool = False) -> list[Track]:
    """Keep tracks with at least ``need`` strong frames (:func:`strong_frames`) making up at least
    ``min_share`` of their detected frames; with ``trim``, cut each back to ``tail`` frames past
    its first and last strong frame.

    Hysteresis: a track traced on a lower threshold follows its particle while it is dim
    (bleached, defocused, blinking, next to a brighter one), but a track made mostly of dim
    detections is dropped. Session 7, unidirectional (tracing at 0.75 instead of 0.9; ``need=4``,
    ``min_share=0.5``, no trim), means over validation kymographs, recall / precision / F1 / gaps /
    crossings, off -> on:

    - paper uni (10): 0.985 / 0.973 / 0.979 / 0.944 / 0.915 -> 0.989 / 0.974 / 0.982 / 0.962 / 0.934
    - realistic uni (10): 0.810 / 0.978 / 0.890 / 0.738 / 0.484 -> 0.838 / 0.972 / 0.902 / 0.786 / 0.559
    - uni with speed and brightness spread (10): 0.807 / 0.956 / 0.878 / 0.784 / 0.513 -> 0.828 /
      0.941 / 0.883 / 0.829 / 0.604
    - training variety (30): 0.751 / 0.920 / 0.808 / 0.714 / 0.471 -> 0.769 / 0.887 / 0.803 / 0.752 / 0.564
    - variety with immobile spots (10): 0.817 / 0.867 / 0.838 / 0.796 / 0.609 -> 0.826 / 0.858 /
      0.836 / 0.798 / 0.667
    - independent simulator (10, ``tools/indep_check.py``): 0.887 / 0.927 / 0.905 / 0.867 / 0.600
      -> 0.914 / 0.943 / 0.926 / 0.901 / 0.700

    So gaps and crossings rise everywhere and F1 on kymographs unlike our generator's (the
    independent simulator, ``tools/indep_check.py``); precision falls by up to 0.03 where tracks
    now hop between close parallel neighbours (bench, medians: uni F1 0.978 -> 0.971, SNR 1.1
    0.979 -> 0.964, realistic 0.899 -> 0.905 with crossings 0.498 -> 0.641). On KymoButler's real EB1 kymographs the counts
    barely moved (``unitest.png`` 127 -> 117, ``unitest2.png`` 26 -> 27, ``testimg.tif`` 65 -> 68,
    the eLife notebook's 79 -> 77), with fewer short noise pieces by eye. Tried and not kept:
    ``min_share=0``, as in session 4 (tracing at 0.7: ``unitest.png`` 147 tracks, with long curved
    ones through noise), ``min_share=0.7`` (training variety, 10 kymographs: F1 0.845 -> 0.808), trimming to the strong frames
    (recall lost where particles fade out: realistic F1 0.891), tracing at 0.8 (half the gain),
    ``need=8`` (short comets lost). On bidirectional maps (0.5 or 0.6 instead of 0.7) it changed
    F1 by -0.008 to +0.001, so it is not used there.

    ``by_direction`` (session 10, on in ``HYSTERESIS_OPTIONS``): with the two slope maps, a track's
    strong frames are read on its own map only (positive slope: ``maps[0]``, negative: ``maps[1]``).
    Before, a retrograde track laid across dense anterograde streaks counted the positive map's
    frames as its own. On KymoButler's real EB1 kymographs the retrograde counts fell (``unitest.png``
    100 + 37 -> 97 + 24, KymoButler 48 + 7, recall against its tracks still 1.00; ``unitest2.png``
    33 + 5 -> 33 + 1, KymoButler 9 + 0; ``testimg.tif`` 66 + 16 -> 65 + 11; the eLife notebook's
    69 + 18 -> 69 + 13); on 52 unidirectional validation kymographs (six bench-like sets and the
    training variety) mean F1 stayed 0.949 (precision 0.947 -> 0.949), and on the independent
    simulator uni F1 stayed 0.936.
    """
    out = []
    for tr in tracks:
        own = maps
        if by_direction and len(maps) == 2:
            # a unidirectional track's evidence is its own slope map: a retrograde track crossing
            # dense anterograde streaks must not count their (positive-map) frames as its own
            own = [maps[0]] if tr.positions[-1] >= tr.positions[0] else [maps[1]]
        st = strong_frames(tr, own, threshold)
        n = int(st.sum())
        if n < need or n < min_share * int((~tr.gap).sum()):
            continue
        if trim:
            idx = np.flatnonzero(st)
            a, b = max(0, int(idx[0]) - tail), min(len(tr), int(idx[-1]) + 1 + tail)
            if a > 0 or b < len(tr):
                tr = Track(tr.track_id, tr.frames[a:b], tr.positions[a:b], gap=tr.gap[a:b], confidence=tr.confidence)
        out.append(tr)
    return out
