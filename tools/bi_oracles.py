"""Where bidirectional crossings are lost, and how much two kinds of repair could win at best.

On paper-style bidirectional validation kymographs (15 tracks, seeds 51,100,000 on), with the
default pipeline's tracks:

1. every unresolved ground-truth crossing is sorted by whether a predicted track starts or ends
   within 16 frames of it near one of the two particles (a break) or not (a swap or a merge), and
   by the motion of the two particles there (opposite, same direction, one or both still);
2. *oracle stitching*: every predicted track end is joined to a later predicted start (up to 20
   frames on) whenever the ground truth says both belong to the same particle;
3. *oracle swapping*: wherever two predicted tracks come within 3 px of each other with at least 8
   frames on each side, their tails are swapped whenever the ground truth says they were crossed.

Both oracles use the answer key, so they bound what any end-linking or encounter-swapping step,
by motion, brightness or a network, could add to these tracks.

4. *oracle re-labelling* (session 8): each ground-truth track takes, in every frame, the traced
   point (of any predicted track) nearest to it within 2.5 px, interpolated between. It bounds
   what any identity assignment of the traced points could reach: on these kymographs, with the
   session 8 bidirectional segmenter, F1 0.991 and crossings 0.901 against 0.847 and 0.468 for the
   pipeline (previous segmenter: 0.990 / 0.884 against 0.848 / 0.489), so the detections are
   nearly complete and identity is what is lost. (Session 8, same run: stitching 0.848 / 0.505,
   swapping 0.861 / 0.483.)

Usage: OMP_NUM_THREADS=1 python tools/bi_oracles.py [N]
"""

import collections
import sys

import numpy as np

from kymotrace.metrics import crossing_events, score
from kymotrace.pipeline import analyze
from kymotrace.seeds import check_seed
from kymotrace.synth import generate
from kymotrace.trace.link import join_chains
from kymotrace.track import Track, renumber

COLS = ("recall", "precision", "f1", "gap", "crossing")


def owner(gts, f, x, tol=2.5):
    best, bd = -1, tol
    for gi, g in enumerate(gts):
        m = f - g.start
        if 0 <= m < len(g) and abs(g.positions[m] - x) < bd:
            best, bd = gi, abs(g.positions[m] - x)
    return best


def majority(gts, tr, sl):
    own = [o for o in (owner(gts, f, x) for f, x in zip(tr.frames[sl], tr.positions[sl])) if o >= 0]
    return max(set(own), key=own.count) if own else -1


def oracle_stitch(tracks, gts, max_dt=20):
    head = [majority(gts, p, slice(0, 6)) for p in tracks]
    tail = [majority(gts, p, slice(-6, None)) for p in tracks]
    cands = sorted((b.start - a.end, i, j) for i, a in enumerate(tracks) for j, b in enumerate(tracks)
                   if i != j and tail[i] >= 0 and tail[i] == head[j] and a.end - 3 < b.start <= a.end + max_dt)
    nxt, used = {}, set()
    for _, i, j in cands:
        if i not in nxt and j not in used:
            nxt[i] = j
            used.add(j)
    return join_chains(tracks, nxt)


def _cut(tr, upto):
    k = tr.frames <= upto
    return (tr.frames[k], tr.positions[k]), (tr.frames[~k], tr.positions[~k])


def oracle_swap(tracks, gts, near=3.0, side=8):
    T = list(tracks)
    for _ in range(50):
        changed = False
        for i in range(len(T)):
            for j in range(i + 1, len(T)):
                a, b = T[i], T[j]
                lo, hi = max(a.start, b.start), min(a.end, b.end)
                if hi - lo < 3:
                    continue
                fr = np.arange(lo, hi + 1)
                close = fr[np.abs(a.positions[fr - a.start] - b.positions[fr - b.start]) <= near]
                if close.size == 0:
                    continue
                e0 = e1 = int(close[0])
                cs = set(close.tolist())
                while e1 + 1 in cs:
                    e1 += 1
                if min(e0 - a.start, e0 - b.start, a.end - e1, b.end - e1) < side:
                    continue
                pa = majority(gts, a, slice(e0 - side - a.start, e0 - a.start))
                pb = majority(gts, b, slice(e0 - side - b.start, e0 - b.start))
                qa = majority(gts, a, slice(e1 + 1 - a.start, e1 + 1 + side - a.start))
                qb = majority(gts, b, slice(e1 + 1 - b.start, e1 + 1 + side - b.start))
                if pa >= 0 and pb >= 0 and pa != pb and qa == pb and qb == pa:
                    cut = (e0 + e1) // 2
                    (af, ax), (at, atx) = _cut(a, cut)
                    (bf, bx), (bt, btx) = _cut(b, cut)
                    T[i] = Track(0, np.concatenate([af, bt]), np.concatenate([ax, btx]))
                    T[j] = Track(0, np.concatenate([bf, at]), np.concatenate([bx, atx]))
                    changed = True
        if not changed:
            break
    return renumber(T)


def oracle_relabel(tracks, gts, tol=2.5):
    out = []
    for g in gts:
        fr, xs = [], []
        for f, x in zip(g.frames.tolist(), g.positions.tolist()):
            near = [p.positions[f - p.start] for p in tracks if p.start <= f <= p.end]
            near = [y for y in near if abs(y - x) <= tol]
            if near:
                fr.append(f)
                xs.append(min(near, key=lambda y: abs(y - x)))
        if len(fr) >= 3:
            frames = np.arange(fr[0], fr[-1] + 1)
            out.append(Track(0, frames, np.interp(frames, fr, xs)))
    return renumber(out)


def motion_class(gt, e, half=6):
    def v(tr):
        m = (tr.frames >= e.centre[0] - half) & (tr.frames <= e.centre[0] + half)
        return np.polyfit(tr.frames[m], tr.positions[m], 1)[0] if m.sum() > 2 else 0.0

    s = "".join(sorted("+" if x > 0.3 else "-" if x < -0.3 else "0" for x in (v(gt[e.track_a]), v(gt[e.track_b]))))
    return {"+-": "opposite", "++": "same direction", "--": "same direction", "+0": "one still", "-0": "one still",
            "00": "both still"}[s]


def main(n=8):
    rows = collections.defaultdict(list)
    kinds, resolved = collections.Counter(), collections.Counter()
    anatomy = collections.Counter()
    for i in range(n):
        k = generate("bi", rng=np.random.default_rng(check_seed(51_100_000 + i, "validation")), n_tracks=15)
        pred = analyze(k.image, mode="bi").tracks
        for e in crossing_events(k.tracks, pred, k.image.shape):
            c = motion_class(k.tracks, e)
            kinds[c] += 1
            resolved[c] += e.resolved
            if e.resolved:
                continue
            t, x = e.centre
            brk = any(abs(f - t) <= 16 and abs(p.positions[f - p.start] - x) <= 16
                      for p in pred for f in (p.start, p.end) if 0 < f < k.image.shape[0] - 1)
            anatomy["a track starts or ends within 16 px" if brk else "no track end near (swap or merge)"] += 1
        for name, tr in (("pipeline", pred), ("oracle stitching", oracle_stitch(pred, k.tracks)),
                         ("oracle swapping", oracle_swap(pred, k.tracks)),
                         ("oracle re-labelling", oracle_relabel(pred, k.tracks))):
            sc = score(k.tracks, tr, k.image.shape).as_dict()
            rows[name].append([np.nan if sc[c] is None else sc[c] for c in COLS])
    print(f"{n} paper-style bidirectional kymographs (15 tracks), means: " + " / ".join(COLS))
    for name, r in rows.items():
        print(f"  {name:18s} " + " / ".join(f"{v:.3f}" for v in np.nanmean(np.array(r, float), axis=0)))
    print("crossings resolved by the motion of the two particles there:")
    for c in kinds:
        print(f"  {c:16s} {resolved[c]}/{kinds[c]} = {resolved[c] / kinds[c]:.2f}")
    print("unresolved crossings:", dict(anatomy))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
