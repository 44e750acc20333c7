"""A second opinion on the classifier's unidirectional/bidirectional call, read from the tracks.

The classifier sees the kymograph squeezed to 64 x 64 px, where a pause of a few frames or a short
reversal can vanish. Here the kymograph is also traced as bidirectional (the bidirectional
segmenter and the frame-by-frame tracer, as :func:`kymotrace.analyze` does in ``mode="bi"``), and
the tracks' behaviour is summarised: what the two modes differ in is whether particles pause,
reverse and change speed (bidirectional) or run at a steady speed in one direction
(unidirectional). Particles that never move are no evidence either way (immobile spots occur in
both), so they are counted apart.

:data:`MODE_FEATURES` (per kymograph):

- ``logit_p_bi``: the classifier's log-odds of bidirectional (clipped to +-8);
- ``log_n_tracks``: log(1 + tracks of at least :data:`MIN_FRAMES` frames);
- ``frac_switching``: share of those tracks with a moving run and a paused run, each at least
  :data:`RUN_FRAMES` frames long;
- ``frac_reversing``: share with moving runs in both directions;
- ``frac_stationary``: share that is paused in at least 90 % of its frames;
- ``frac_paused_frames``: paused frames over all frames of the tracks that are not stationary;
- ``irregularity``: the median over moving tracks of the spread of their velocity within moving
  runs relative to its mean (steady movers: near 0);
- ``frac_moving``: share of tracks moving in at least half of their frames;
- ``log_speed``: log(0.01 + the median over moving tracks of their median speed, px/frame);
- ``direction_balance``: |mean direction| of the moving tracks (1: all one way, 0: balanced);
- ``speed_spread``: the spread of the moving tracks' speeds relative to their mean;
- ``lifetime``: the median track length over the kymograph's frames.

Velocities are 7-frame central differences; moving means at least :data:`MOVING` px/frame,
paused at most :data:`PAUSED` px/frame. A small network (``models/weights/modecheck.json``,
trained by ``tools/train_modecheck.py``) turns them into the probability of bidirectional, and
it overrules the classifier only when it disagrees at least ``overrule`` (0.7) sure
(:meth:`ModeCheck.decide`): the classifier stays the first judge, as in the paper.
"""

from __future__ import annotations


import numpy as np

from .errors import InputError
from .models.mlp import mlp_probability, parse_mlp, read_spec

__all__ = ["MODE_FEATURES", "mode_features", "check_features", "ModeCheck", "load_modecheck", "usable_modecheck"]

MODE_FEATURES = ("logit_p_bi", "log_n_tracks", "frac_switching", "frac_reversing", "frac_stationary",
                 "frac_paused_frames", "irregularity", "frac_moving", "log_speed", "direction_balance",
                 "speed_spread", "lifetime")
MIN_FRAMES = 12
RUN_FRAMES = 8
MOVING = 0.3
PAUSED = 0.08


def _runs(mask: np.ndarray) -> np.ndarray:
    """Lengths of the runs of True in ``mask``."""
    if not mask.any():
        return np.zeros(0, np.int64)
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(d == -1) - np.flatnonzero(d == 1)


def mode_features(tracks, p_bi: float, n_frames: int) -> np.ndarray:
    """:data:`MODE_FEATURES` of one kymograph (``n_frames`` rows) from its bidirectionally traced ``tracks``."""
    p = float(np.clip(p_bi, 1e-6, 1 - 1e-6))
    logit = float(np.clip(np.log(p / (1 - p)), -8, 8))
    n = switching = reversing = stationary = moving_tracks = 0
    paused_frames = other_frames = 0
    irregular: list[float] = []
    speeds: list[float] = []
    signs: list[float] = []
    lengths: list[int] = []
    for t in tracks:
        if len(t) < MIN_FRAMES:
            continue
        x = np.asarray(t.positions, float)
        v = np.zeros_like(x)
        v[3:-3] = (x[6:] - x[:-6]) / 6.0
        v[:3], v[-3:] = v[3], v[-4]
        mov, pau = np.abs(v) >= MOVING, np.abs(v) <= PAUSED
        n += 1
        lengths.append(x.size)
        if pau.mean() >= 0.9:
            stationary += 1
            continue
        paused_frames += int(pau.sum())
        other_frames += x.size
        long_move = (_runs(mov) >= RUN_FRAMES).any()
        switching += bool(long_move and (_runs(pau) >= RUN_FRAMES).any())
        reversing += bool((_runs(v >= MOVING) >= RUN_FRAMES).any() and (_runs(v <= -MOVING) >= RUN_FRAMES).any())
        if mov.mean() >= 0.5:
            moving_tracks += 1
            vm = v[mov]
            irregular.append(float(np.std(np.abs(vm)) / (np.mean(np.abs(vm)) + 1e-6)))
            speeds.append(float(np.median(np.abs(vm))))
            signs.append(float(np.sign(x[-1] - x[0])))
    share = (lambda k: k / n) if n else (lambda k: 0.0)
    sp = np.array(speeds)
    return np.array([logit, np.log1p(n), share(switching), share(reversing), share(stationary),
                     paused_frames / other_frames if other_frames else 0.0,
                     float(np.median(irregular)) if irregular else 0.0, share(moving_tracks),
                     float(np.log(np.median(sp) + 0.01)) if sp.size else np.log(0.01),
                     float(abs(np.mean(signs))) if signs else 0.0,
                     float(np.std(sp) / (np.mean(sp) + 1e-6)) if sp.size > 1 else 0.0,
                     float(np.median(lengths) / max(n_frames, 1)) if lengths else 0.0])


#: kymographs with a side longer than WINDOW_ABOVE px are checked on their central window of at
#: most MAX_CHECK_SIDE frames and positions (a 3000 x 3000 kymograph would otherwise cost a whole
#: second segmenter pass: 7.5 -> 14.4 s); smaller ones whole, so that a bidirectional verdict can
#: reuse the map
MAX_CHECK_SIDE = 1024
WINDOW_ABOVE = 1536


def check_features(image: np.ndarray, classifier, bi, *, device: str = "cpu"):
    """What ``analyze(mode="auto")`` computes to choose the mode, on the despiked kymograph
    ``image``: ``(p, prob, features)``, the classifier's probabilities (mirror-averaged, on the
    whole kymograph), the bidirectional segmenter's trackness map (reused when the choice is
    bidirectional; ``None`` when a side was longer than :data:`WINDOW_ABOVE` and only the central
    window of :data:`MAX_CHECK_SIDE` was traced) and the :data:`MODE_FEATURES` of the tracks
    traced on it at the segmenter's own threshold."""
    from .segment import classify, predict
    from .trace.assign import BI_PARAMS, trace_assign

    p = classify(classifier, image, device=device, flips=True)
    t, x = image.shape
    window = image
    if max(t, x) > WINDOW_ABOVE:
        t0, x0 = max(0, (t - MAX_CHECK_SIDE) // 2), max(0, (x - MAX_CHECK_SIDE) // 2)
        window = image[t0:t0 + MAX_CHECK_SIDE, x0:x0 + MAX_CHECK_SIDE]
    prob = predict(bi, window, device=device, tile=512, overlap=96, batch_size=1)
    tracks = trace_assign(prob[0], float(bi.threshold), **BI_PARAMS)
    return p, (prob if window.shape == image.shape else None), mode_features(tracks, p.bi, window.shape[0])


class ModeCheck:
    """The learned combination of the classifier's call and the track features: features ->
    probability that the kymograph is bidirectional."""

    def __init__(self, spec: dict, *, sha256: str = "", path: str = "") -> None:
        try:
            if spec.get("module") != "modecheck":
                raise ValueError("not a mode-check file (module is not 'modecheck')")
            if tuple(spec["features"]) != MODE_FEATURES:
                raise ValueError("its features differ from this version's")
            self.mean, self.scale, self.layers = parse_mlp(spec, len(MODE_FEATURES))
            self.overrule = float(spec.get("overrule", 0.5))
            if not 0.5 <= self.overrule < 1:
                raise ValueError("its overrule level must be at least 0.5 and below 1")
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{path or 'modecheck'}: unusable mode-check file: {exc}") from None
        self.name = str(spec.get("name", "modecheck"))
        req = spec.get("requires", {})
        #: sha256 of the classifier and bidirectional segmenter files it was trained on
        self.requires = {k: str(v) for k, v in req.items()} if isinstance(req, dict) else {}
        self.card = spec.get("card", {})
        self.sha256 = sha256
        self.path = path

    def __call__(self, features: np.ndarray) -> float:
        """p(bidirectional) for one kymograph's :data:`MODE_FEATURES`."""
        x = np.asarray(features, float).reshape(1, -1)
        return float(mlp_probability(x, self.mean, self.scale, self.layers)[0])

    def decide(self, p_bi_classifier: float, classifier_threshold: float, features: np.ndarray) -> dict:
        """The mode for one kymograph: the classifier's call stands unless this check disagrees
        with it at least :attr:`overrule` sure. Returns ``mode``, ``confidence`` (the probability
        of that mode from whichever decided), the check's ``p_bi`` and whether it ``overruled``."""
        p = self(features)
        if p_bi_classifier >= classifier_threshold:
            overruled = p <= 1.0 - self.overrule
            mode = "uni" if overruled else "bi"
        else:
            overruled = p >= self.overrule
            mode = "bi" if overruled else "uni"
        q = p if overruled else p_bi_classifier
        return {"mode": mode, "confidence": float(q if mode == "bi" else 1.0 - q), "p_bi": p, "overruled": bool(overruled)}

    def describe(self) -> dict:
        return {"name": self.name, "sha256": self.sha256, "overrule": self.overrule}


_CHECKS: dict[str, ModeCheck] = {}


def load_modecheck(name: str | None = None) -> ModeCheck:
    """The shipped mode check (``None`` or ``"modecheck"``) or one from a ``.json`` path; cached."""
    key = name or "modecheck"
    if key not in _CHECKS:
        spec, sha, path = read_spec(key, what="mode check", adjective="mode-check", shipped="the shipped one is 'modecheck'")
        _CHECKS[key] = ModeCheck(spec, sha256=sha, path=path)
    return _CHECKS[key]


def usable_modecheck(classifier, bi) -> tuple[ModeCheck | None, str]:
    """The shipped mode check and ``""``, or ``None`` and why it cannot be used here: no
    bidirectional segmenter, its file missing or unreadable, or other classifier / segmenter
    weights than the ones it was trained on (its inputs would mean something else). Then
    ``analyze`` leaves the choice to the classifier alone and reports why."""
    from .errors import KymotraceError

    if bi is None:
        return None, "no bidirectional segmenter to trace with"
    try:
        check = load_modecheck()
    except KymotraceError as exc:
        return None, f"mode check unavailable: {exc}"
    for module, model in (("classifier", classifier), ("bi", bi)):
        want = check.requires.get(module)
        if want and getattr(model, "sha256", None) != want:
            return None, f"the {module} model is not the one the mode check was trained with"
    return check, ""
