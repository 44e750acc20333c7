"""How ambiguous are encounters in the synthetic bidirectional kymographs? (session 4)

At every ground-truth encounter (two tracks within 3 px for a run of frames, both present 4
frames before and after), decide which outgoing track continues which incoming one, using the
ground-truth positions themselves, and count how often each cue picks the true pairing:

- motion: each side's 4-frame line fit extrapolated to the middle of the encounter, plus 0.5 x
  the velocity difference times the encounter length;
- brightness: the median normalised image intensity (+-1 px) along each track over up to 30
  frames before and after, skipping frames where another track is within 6 px.

Session 4, 12 kymographs per set (seeds VALIDATION.start + 880,000 on): paper bi, 352 encounters,
motion 0.849, brightness 0.939; realistic bi, 632 encounters, motion 0.791, brightness 0.852. (An
exploratory count on other seeds that required 10 frames on each side: motion 0.78, brightness
0.95 on paper bi.) Motion alone cannot resolve the paper's erratic bidirectional motion (velocity
noise up to 1.5 px/frame, switching and reversing up to 10 % of frames).

Usage: OMP_NUM_THREADS=1 python tools/encounter_ambiguity.py [N]
"""

import json
import sys
from pathlib import Path

import numpy as np

from kymotrace.segment import normalize
from kymotrace.seeds import VALIDATION
from kymotrace.synth import generate

N = int(sys.argv[1]) if len(sys.argv) > 1 else 12
suite = json.loads((Path(__file__).resolve().parents[1] / "src/kymotrace/data/bench_suite.json").read_text())
knobs = {s["name"]: s["knobs"] for s in suite["sets"]}


def fit(frames, x):
    f = frames.astype(float)
    tc = f - f.mean()
    v = float((tc * (x - x.mean())).sum() / (tc * tc).sum())
    return v, float(x.mean()), float(f.mean())


def brightness(img, G, p, lo, hi):
    fr = np.arange(max(lo, 0), min(hi, img.shape[0]))
    x = G[p, fr]
    ok = ~np.isnan(x)
    others = np.delete(G[:, fr], p, 0)
    with np.errstate(invalid="ignore"):
        d = np.abs(others - x)
    ok &= np.nanmin(np.where(np.isnan(d), np.inf, d), axis=0, initial=np.inf) >= 6
    if ok.sum() < 3:
        return None
    xi = np.clip(np.rint(x[ok]).astype(int), 1, img.shape[1] - 2)
    f = fr[ok]
    return float(np.median((img[f, xi - 1] + img[f, xi] + img[f, xi + 1]) / 3))


for name in ("bi", "realistic_bi"):
    motion_ok, bright_ok, n_bright, n = 0, 0, 0, 0
    for i in range(N):
        ky = generate("bi", rng=np.random.default_rng(VALIDATION.start + 880_000 + i), **knobs[name])
        img = normalize(ky.image)
        T = img.shape[0]
        G = np.full((len(ky.tracks), T), np.nan)
        for k, t in enumerate(ky.tracks):
            G[k, t.start : t.end + 1] = t.positions
        for a in range(len(G)):
            for b in range(a + 1, len(G)):
                with np.errstate(invalid="ignore"):
                    near = np.flatnonzero(np.abs(G[a] - G[b]) <= 3)
                for run in np.split(near, np.flatnonzero(np.diff(near) > 1) + 1) if near.size else []:
                    t0, t1 = run[0] - 1, run[-1] + 1
                    pre, post = np.arange(t0 - 3, t0 + 1), np.arange(t1, t1 + 4)
                    if pre[0] < 0 or post[-1] >= T or np.isnan(G[[a, b]][:, pre]).any() or np.isnan(G[[a, b]][:, post]).any():
                        continue
                    n += 1
                    tm = (t0 + t1) / 2
                    F = {(p, s): fit(fr, G[p, fr]) for p in (a, b) for s, fr in (("pre", pre), ("post", post))}

                    def motion(p, q):
                        vp, xp, mp = F[p, "pre"]
                        vq, xq, mq = F[q, "post"]
                        return abs(xp + vp * (tm - mp) - (xq + vq * (tm - mq))) + 0.5 * abs(vp - vq) * (t1 - t0)

                    motion_ok += motion(a, a) + motion(b, b) <= motion(a, b) + motion(b, a)
                    B = {(p, s): brightness(img, G, p, *rng_) for p in (a, b) for s, rng_ in (("pre", (t0 - 29, t0 + 1)), ("post", (t1, t1 + 30)))}
                    if None in B.values():
                        continue
                    n_bright += 1
                    keep = abs(B[a, "pre"] - B[a, "post"]) + abs(B[b, "pre"] - B[b, "post"])
                    swap = abs(B[a, "pre"] - B[b, "post"]) + abs(B[b, "pre"] - B[a, "post"])
                    bright_ok += keep <= swap
    print(f"{name}: {n} encounters; motion picks the true pairing {motion_ok / max(n, 1):.3f}; "
          f"brightness {bright_ok / max(n_bright, 1):.3f} ({n_bright} with enough frames away from other tracks)")
