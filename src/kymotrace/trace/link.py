"""Gap linking by motion: join a track's end to a later track's start that continues it.

A candidate link joins the end of track A (frame ``te``) to the start of track B (frame ``tb``,
``0 <= tb - te - 1 <= max_gap`` missing frames) when B's start lies within
``tol + tol_per_frame * (tb - te)`` px of A's linearly extrapolated position and their velocities
differ by at most ``max_dv`` px/frame. Links are chosen globally, cheapest first, each end and
each start used at most once; the missing frames are interpolated and flagged as gap frames.
"""

from __future__ import annotations

import numpy as np

from ..track import Track, renumber

__all__ = ["link_gaps", "end_velocity", "join_chains"]


def end_velocity(track: Track, n: int = 8, at_start: bool = False) -> float:
    """Least-squares velocity (px/frame) over the first or last ``n`` frames of a track."""
    sel = slice(0, n) if at_start else slice(-n, None)
    t, x = track.frames[sel], track.positions[sel]
    if t.size < 2:
        return 0.0
    return float(np.polyfit(t.astype(float), x, 1)[0])


def link_gaps(
    tracks: list[Track],
    *,
    max_gap: int = 6,
    tol: float = 2.0,
    tol_per_frame: float = 0.5,
    max_dv: float = 1.0,
    min_frames: int = 3,
) -> list[Track]:
    """Merge tracks separated by short gaps when their motion agrees (see module notes)."""
    tracks = list(tracks)
    if len(tracks) < 2:
        return tracks
    ends = np.array([t.end for t in tracks])
    starts = np.array([t.start for t in tracks])
    v_end = [end_velocity(t) for t in tracks]
    v_start = [end_velocity(t, at_start=True) for t in tracks]
    cands = []
    for i, a in enumerate(tracks):
        if len(a) < min_frames:
            continue
        for j in np.flatnonzero((starts > ends[i]) & (starts <= ends[i] + max_gap + 1)):
            b = tracks[j]
            if j == i or len(b) < min_frames:
                continue
            dt = b.start - a.end
            pred = a.positions[-1] + v_end[i] * dt
            miss = abs(b.positions[0] - pred)
            dv = abs(v_start[j] - v_end[i])
            if miss <= tol + tol_per_frame * dt and dv <= max_dv:
                cands.append((miss / (tol + tol_per_frame * dt) + dv / max_dv + 0.1 * dt, i, int(j)))
    if not cands:
        return tracks
    cands.sort()
    nxt: dict[int, int] = {}
    prev: dict[int, int] = {}
    for _, i, j in cands:
        if i in nxt or j in prev:
            continue
        # no cycles are possible: links always go forward in time
        nxt[i] = j
        prev[j] = i
    return join_chains(tracks, nxt)


def join_chains(tracks: list[Track], nxt: dict[int, int]) -> list[Track]:
    """Join tracks along links ``nxt[i] = j`` (track i's end continues as track j; each index at
    most once on either side, links forward in time). Frames between two linked tracks are
    interpolated and flagged as gap frames; frames of a later track that do not come after the
    chain's last frame are left out. Confidences are averaged weighted by track length."""
    prev = {j: i for i, j in nxt.items()}
    out = []
    for i in range(len(tracks)):
        if i in prev:
            continue
        chain = [i]
        while chain[-1] in nxt:
            chain.append(nxt[chain[-1]])
        if len(chain) == 1:
            out.append(tracks[i])
            continue
        frames, pos, gap, confs = [], [], [], []
        for k, idx in enumerate(chain):
            t = tracks[idx]
            if k:
                last_t, last_x = frames[-1][-1], pos[-1][-1]
                after = t.frames > last_t
                if not after.any():
                    continue
                t = Track(t.track_id, t.frames[after], t.positions[after], gap=t.gap[after], confidence=t.confidence)
                fill = np.arange(last_t + 1, t.start)
                frames.append(fill)
                pos.append(np.interp(fill, [last_t, t.start], [last_x, t.positions[0]]))
                gap.append(np.ones(fill.size, bool))
            frames.append(t.frames)
            pos.append(t.positions)
            gap.append(t.gap)
            if t.confidence is not None:
                confs.append((t.confidence, len(t)))
        conf = sum(c * n for c, n in confs) / sum(n for _, n in confs) if confs else None
        out.append(Track(0, np.concatenate(frames), np.concatenate(pos), gap=np.concatenate(gap), confidence=conf))
    return renumber(out)
