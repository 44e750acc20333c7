"""Training data and validation of the decision module (numpy, plus torch for the segmenter).

Per the paper: at ground-truth branch points of bidirectional kymographs, the inputs are
(1) the 48x48 kymograph crop, (2) the crop of the skeleton of all possible paths and (3) the
crop of the track segment upstream of the branch point with its end at the centre; the target is
the true downstream segment. The candidate skeleton comes from the trained bidirectional
segmenter's output when one is available (so the module learns the real skeleton's artefacts),
else from the ground truth with simulated artefacts (breaks, spurs).

Branch points of a ground-truth track: frames just before it meets another track (within 3 px),
the last visible frame before each gap, skeleton junctions on it, and a share of ordinary points.
Augmentation: mirroring in x only (a flip in time would swap upstream and downstream), intensity
noise/gradients/flicker, the paper's input dropout (50% on the skeleton, 5% on the segment) and
random thinning (pixel deletion) of the skeleton.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import skeletonize

from .. import seeds
from ..raster import rasterize
from ..track import Track
from ..trace.bi import CROP, crop_at
from ..trace.morph import binarize_thin_prune, neighbour_count
from .augment import intensity_augment

__all__ = ["decision_points", "decision_sample_set", "decision_batch", "validate_decision", "set_skeleton_model"]

_HALF = CROP // 2
_SKELETON_MODEL: dict = {"name": "bi", "net": None, "threshold": None, "tried": False}


def set_skeleton_model(name_or_path: str | None) -> None:
    """Use this bi segmenter for candidate skeletons (None: ground truth with artefacts)."""
    _SKELETON_MODEL.update(name=name_or_path, net=None, threshold=None, tried=False)


def _skeleton_net():
    m = _SKELETON_MODEL
    if not m["tried"]:
        m["tried"] = True
        if m["name"]:
            from ..errors import KymotraceError
            from ..models import load_model

            try:
                lm = load_model(m["name"])
                m["net"], m["threshold"] = lm.net, lm.threshold
            except KymotraceError:
                m["net"] = None
    return m["net"], m["threshold"]


def candidate_skeleton(image: np.ndarray, tracks: list[Track], rng: np.random.Generator) -> np.ndarray:
    """Skeleton of all possible paths: from the bi segmenter if available, else ground truth + artefacts."""
    net, thr = _skeleton_net()
    if net is not None:
        from ..segment import normalize, predict

        prob = predict(net, normalize(image))[0]
        return binarize_thin_prune(prob, thr)
    sk = skeletonize(ndi.binary_dilation(rasterize(tracks, image.shape), np.ones((3, 3), bool)))
    # artefacts: random breaks and spurs
    pts = np.argwhere(sk)
    if len(pts):
        for r, c in pts[rng.random(len(pts)) < 0.01]:
            sk[max(0, r - 1) : r + 2, max(0, c - 1) : c + 2] = False
        for r, c in pts[rng.random(len(pts)) < 0.01]:
            dr, dc = rng.integers(-1, 2, 2)
            for k in range(1, int(rng.integers(2, 6))):
                rr, cc = r + k * dr, c + k * dc
                if 0 <= rr < sk.shape[0] and 0 <= cc < sk.shape[1]:
                    sk[rr, cc] = True
    return sk


def decision_points(tracks: list[Track], skel: np.ndarray, rng: np.random.Generator, ordinary: float = 0.15):
    """(track index, frame) pairs where a tracer must decide how a ground-truth track continues."""
    pts = set()
    shape = skel.shape
    junction = neighbour_count(skel) > 2
    for i, tr in enumerate(tracks):
        if len(tr) < 8:
            continue
        fr, xs = tr.frames, tr.positions
        valid = (fr >= 0) & (fr < shape[0] - 2)
        # meeting another track (first frame of each contact episode, a few frames before it)
        for j, other in enumerate(tracks):
            if j == i:
                continue
            lo, hi = max(tr.start, other.start), min(tr.end, other.end)
            if hi - lo < 1:
                continue
            d = np.abs(xs[lo - tr.start : hi - tr.start + 1] - other.positions[lo - other.start : hi - other.start + 1])
            close = d <= 3.0
            starts = np.flatnonzero(close & ~np.r_[False, close[:-1]])
            for s in starts:
                t = lo + int(s) - int(rng.integers(0, 4))
                if tr.start + 3 <= t < tr.end - 2:
                    pts.add((i, t))
        # gaps: the last visible frame before each gap
        for g0, _ in tr.gaps():
            if g0 - 1 >= tr.start + 3:
                pts.add((i, g0 - 1))
        # skeleton junctions on the track
        for k in np.flatnonzero(valid):
            r, c = int(fr[k]), int(round(xs[k]))
            if 0 <= c < shape[1] and junction[r, max(0, c - 1) : c + 2].any() and fr[k] - tr.start >= 3:
                pts.add((i, int(fr[k]) - 1))
        # ordinary points
        n = max(1, int(ordinary * len(tr) / 10))
        for t in rng.integers(tr.start + 3, max(tr.start + 4, tr.end - 2), n):
            pts.add((i, int(t)))
    return sorted(pts)


def _segment_crops(tr: Track, t: int, shape, rng, upstream: int | None = None):
    """(upstream segment crop, downstream target crop) centred at the track's pixel at frame t."""
    k = t - tr.start
    x = int(round(tr.positions[k]))
    up_len = int(rng.integers(4, 40)) if upstream is None else upstream
    a = max(0, k - up_len)
    up = Track(0, tr.frames[a : k + 1], tr.positions[a : k + 1])
    down = Track(0, tr.frames[k : min(len(tr), k + _HALF + 1)], tr.positions[k : min(len(tr), k + _HALF + 1)])
    up_img = rasterize([up], shape)
    down_img = rasterize([down], shape)
    down_img[: t + 1] = False
    down_img = ndi.binary_dilation(down_img, np.ones((3, 3), bool))
    down_img[: t + 1] = False
    return x, crop_at(up_img.astype(np.float32), t, x), crop_at(down_img.astype(np.float32), t, x)


def decision_sample_set(rng: np.random.Generator, *, style: str = "varied", augment: bool = True, max_points: int = 64):
    """All decision samples of one random bidirectional kymograph: (inputs [N,3,48,48], targets [N,48,48], meta)."""
    from ..segment import normalize
    from ..synth import generate, sample_knobs

    knobs = sample_knobs("bi", rng, style=style)
    knobs["frames"] = int(rng.integers(128, 300))
    knobs["width"] = int(rng.integers(128, 300))
    kymo = generate("bi", rng=rng, **knobs)
    img = kymo.image.astype(np.float32)
    if kymo.params.get("invert"):
        img = -img
    tracks = kymo.tracks
    skel = candidate_skeleton(img, tracks, rng)
    flip = augment and rng.random() < 0.5
    if augment:
        img = intensity_augment(img, rng)
    norm = normalize(img)
    pts = decision_points(tracks, skel, rng)
    if len(pts) > max_points:
        pts = [pts[i] for i in rng.choice(len(pts), max_points, replace=False)]
    xs, ys, meta = [], [], []
    for i, t in pts:
        x, up, down = _segment_crops(tracks[i], t, img.shape, rng)
        sk = crop_at(skel.astype(np.float32), t, x)
        im = crop_at(norm, t, x)
        if augment:
            if rng.random() < 0.5:
                sk = np.zeros_like(sk)
            elif rng.random() < 0.3:
                sk = sk * (rng.random(sk.shape) > 0.05)
            if rng.random() < 0.05:
                up = np.zeros_like(up)
        inp = np.stack([im, sk, up])
        if flip:
            inp, down = inp[:, :, ::-1], down[:, ::-1]
        xs.append(np.ascontiguousarray(inp))
        ys.append(np.ascontiguousarray(down))
        meta.append((i, t))
    if not xs:
        return np.zeros((0, 3, CROP, CROP), np.float32), np.zeros((0, CROP, CROP), np.float32), []
    return np.stack(xs).astype(np.float32), np.stack(ys).astype(np.float32), meta


def decision_batch(rng: np.random.Generator, batch: int):
    """A training batch (inputs [B,3,48,48], targets [B,1,48,48]) from as many kymographs as needed."""
    xs, ys, n = [], [], 0
    while n < batch:
        x, y, _ = decision_sample_set(rng, max_points=batch - n)
        xs.append(x)
        ys.append(y)
        n += len(x)
    return np.concatenate(xs)[:batch], np.concatenate(ys)[:batch, None]


def judge(pred: np.ndarray, target: np.ndarray, threshold: float = 0.5) -> str:
    """'correct', 'wrong' or 'none' for one predicted map vs its target (both [48, 48])."""
    mask = pred > threshold
    mask[: _HALF + 1] = False
    lab, n = ndi.label(mask, structure=np.ones((3, 3), int))
    if n == 0:
        return "none" if target.sum() > 0 else "correct"
    sizes = ndi.sum_labels(np.ones_like(lab), lab, index=np.arange(1, n + 1))
    comp = lab == int(np.argmax(sizes)) + 1
    if comp.sum() < 3:
        return "none" if target.sum() > 0 else "correct"
    if target.sum() == 0:
        return "wrong"
    near = ndi.binary_dilation(target > 0.5, np.ones((3, 3), bool))
    return "correct" if (comp & near).sum() >= 0.7 * comp.sum() else "wrong"


def validate_decision(net, device, n_kymographs: int = 12, offset: int = 500_000) -> dict:
    """Share of correct continuations at held-out branch points (validation seeds from
    ``VALIDATION.start + offset``; training selects its best checkpoint on the default ones)."""
    import torch

    counts = {"correct": 0, "wrong": 0, "none": 0}
    for k in range(n_kymographs):
        rng = np.random.default_rng(seeds.VALIDATION.start + offset + k)
        x, y, _ = decision_sample_set(rng, augment=False)
        if not len(x):
            continue
        with torch.inference_mode():
            p = torch.sigmoid(net(torch.from_numpy(x).to(device)))[:, 0].cpu().numpy()
        for pi, yi in zip(p, y):
            counts[judge(pi, yi)] += 1
    total = max(1, sum(counts.values()))
    res = {k: v / total for k, v in counts.items()}
    res["n"] = sum(counts.values())
    res["score"] = res["correct"]
    return res
