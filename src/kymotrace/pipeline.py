"""``kymotrace.analyze``: one kymograph in, tracks and the numbers biologists report out.

The pipeline follows the KymoButler paper: a classifier picks unidirectional or bidirectional
(``mode="auto"``); the unidirectional segmenter gives two slope-specific trackness maps and the
bidirectional segmenter one map. By default tracks are read from the maps by per-frame detection
and global assignment (:mod:`kymotrace.trace.assign`); the paper's skeleton components and skeleton
walk with the decision module remain available (``uni_method``, ``bi_method``, ``decision``).
Positions are then refined on the kymograph itself (a 3-point Gaussian fit across the track, see
:func:`refine_positions`); bidirectional tracks are smoothed by a 3-frame running median and
unidirectional ones by a 7-frame local line fit (:func:`smooth_positions`).

Models are loaded once per process and cached (:func:`get_models`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import KymotraceError, OptionError
from .track import Track, renumber

log = logging.getLogger(__name__)

__all__ = ["analyze", "Result", "Models", "get_models", "refine_positions", "smooth_positions", "DEFAULT_MODELS"]

#: shipped model names used when ``model=None``
DEFAULT_MODELS = {"classifier": "classifier", "uni": "uni", "bi": "bi", "decision": "decision"}
MODES = ("auto", "uni", "bi")


@dataclass
class Models:
    """The loaded networks (a module may be None when its model is not available)."""

    classifier: Any = None
    uni: Any = None
    bi: Any = None
    decision: Any = None
    missing: dict = field(default_factory=dict)

    def describe(self) -> dict:
        out = {}
        for k in ("classifier", "uni", "bi", "decision"):
            m = getattr(self, k)
            out[k] = None if m is None else {"name": m.name, "sha256": m.sha256, "threshold": m.threshold}
        return out


_CACHE: dict[tuple, Models] = {}


def get_models(model: dict | str | None = None, *, device: str = "cpu") -> Models:
    """Load (once per process) the networks named in ``model``.

    ``model`` may be None (the shipped models), a dict ``{module: name_or_path}`` overriding some
    of them, or a single name/path of a segmenter model (its module decides which one it replaces).
    """
    from .models import load_model

    names = dict(DEFAULT_MODELS)
    if isinstance(model, dict):
        unknown = set(model) - set(names)
        if unknown:
            raise OptionError(f"unknown module(s) {sorted(unknown)} in model=; use {sorted(names)}")
        names.update(model)
    elif model is not None:
        lm = load_model(model, device=device)
        names[lm.module] = str(model)
    key = (tuple(sorted((k, str(v)) for k, v in names.items())), device)
    if key in _CACHE:
        return _CACHE[key]
    ms = Models()
    for module, name in names.items():
        if name is None:
            continue
        try:
            lm = load_model(name, device=device)
        except KymotraceError as exc:
            if os.path.exists(str(name)) or name != DEFAULT_MODELS[module]:
                raise
            ms.missing[module] = str(exc)
            continue
        if lm.module != module:
            raise OptionError(f"model {name!r} is a {lm.module!r} model, not a {module!r} model")
        setattr(ms, module, lm)
    _CACHE[key] = ms
    return ms


@dataclass
class Result:
    """Everything :func:`analyze` found for one kymograph.

    Attributes
    ----------
    tracks : list of Track
        Positions in px (0-based columns) per frame; ``gap`` marks interpolated frames.
    maps : dict of str -> ndarray [t, x]
        Trackness maps ("positive", "negative" for uni; "trackness" for bi), in [0, 1].
    mode : {"uni", "bi"}
    mode_confidence : float or None
        Probability of the chosen mode (None when the mode was forced): the classifier's, or the
        mode check's when it overruled the classifier (``settings["mode_check"]["overruled"]``).
    settings : dict
        Every effective setting: threshold, mode, models and their hashes, polarity, calibration...
    kymograph : kymotrace.io.Kymograph
        The input as analysed (bright-on-dark, [t, x]) with its calibration.
    """

    tracks: list
    maps: dict
    mode: str
    mode_confidence: float | None
    settings: dict
    kymograph: Any

    @property
    def calibration(self):
        return self.kymograph.calibration


def refine_positions(image: np.ndarray, track: Track, half: int = 2, weak: float = 0.8) -> Track:
    """Sub-pixel position across the track in every visible frame.

    ``image`` is the normalised, bright-on-dark kymograph. In each frame the brightest pixel
    within ±``half`` px of the traced position is refined by a 3-point Gaussian fit (a parabola
    through the log intensities, exact for a Gaussian profile); where that is not defined
    (non-positive values) an intensity-weighted centroid is used. The correction is limited to
    ``half`` px, so a neighbouring track cannot pull a position away; gap frames stay
    interpolated between the refined neighbours.

    Frames where the particle is dim (the brightest pixel in the window below ``weak`` times
    the track's median of it) keep the traced position: there the fit only finds noise, while
    the trackness map has seen the track on both sides. This matters in the frames of short
    gaps that the segmenter bridged, which are not flagged as gaps. Measured on 12 validation
    kymographs per set (seeds 50,800,000 and 50,850,000 on; medians), the gap score went from 0.837 to 0.890
    (paper uni), 0.672 to 0.747 (realistic uni) and 0.865 to 0.867 (uni at SNR 1.1), and
    crossings from 0.779 to 0.792 (paper uni), with F1 unchanged; on the bidirectional sets
    gaps rose by 0.007 on average and F1 and crossings stayed within 0.003. ``weak=0`` refines
    every frame (the behaviour before session 5).
    """
    h, w = image.shape
    pos = track.positions.copy()
    ok = ~track.gap & (track.frames >= 0) & (track.frames < h)
    if ok.any():
        t = track.frames[ok]
        x = track.positions[ok]
        c0 = np.rint(x).astype(np.int64)
        offs = np.arange(-half, half + 1)
        cols = c0[:, None] + offs[None, :]
        inside = (cols >= 0) & (cols < w)
        vals = np.where(inside, image[t[:, None], np.clip(cols, 0, w - 1)], -np.inf).astype(np.float64)
        p = cols[np.arange(t.size), np.argmax(vals, axis=1)]  # brightest pixel in the window
        has3 = (p > 0) & (p < w - 1)
        pc = np.clip(p, 1, w - 2)
        a, b, c = (image[t, pc + d].astype(np.float64) for d in (-1, 0, 1))
        good = has3 & (a > 0) & (b > 0) & (c > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            la, lb, lc = np.log(np.where(good, a, 1)), np.log(np.where(good, b, 1)), np.log(np.where(good, c, 1))
            den = la - 2 * lb + lc
            good &= den < 0
            gauss = pc + 0.5 * (la - lc) / np.where(good, den, -1)
            wts = np.clip(np.where(inside, vals, 0), 0, None)
            sw = wts.sum(axis=1)
            centroid = np.where(sw > 0, (wts * cols).sum(axis=1) / np.where(sw > 0, sw, 1), x)
        new = np.where(good, gauss, centroid)
        new = np.where(np.isfinite(new), new, x)
        new = np.clip(new, x - half, x + half)
        if weak > 0:
            peak = vals.max(axis=1)
            new = np.where(peak < weak * np.median(peak), x, new)
        pos[ok] = new
    vis = ~track.gap
    if vis.sum() >= 2 and track.gap.any():
        pos[track.gap] = np.interp(track.frames[track.gap], track.frames[vis], pos[vis])
    return track.copy(positions=pos)


def smooth_positions(track: Track, size: int = 3, method: str = "median") -> Track:
    """Smooth a track's positions over ``size`` frames.

    ``method="median"``: a running median (its ends keep their own). Used on bidirectional tracks
    after :func:`refine_positions`: a fit in one frame carries that frame's noise, and
    bidirectional particles spend long stretches stationary, where this jitter is all the
    frame-to-frame motion there is. On 12 validation kymographs per set (seeds 50,800,000 on) the
    median relative error of the mean frame-to-frame speed went from +0.29 to -0.00 (paper bi)
    and from +0.31 to -0.02 (realistic bi), with track F1 within 0.003. A 5-frame median or a
    local linear fit cost bidirectional crossings (mean over five sets 0.342 -> 0.301 to 0.326,
    session 5): reversals are sharp.

    ``method="linear"``: a local straight-line fit (Savitzky-Golay, order 1; the ends are fitted
    too). Used on unidirectional tracks with ``size=7``: their particles move steadily, so a line
    over 7 frames keeps the motion and removes the per-frame fitting noise (about 0.6 px mean
    error per frame before). On 12 validation kymographs per set (seeds 50,850,000 on; means) the
    gap score rose by 0.02-0.04 on every unidirectional set (paper uni 0.885 -> 0.919, SNR 1.1
    0.846 -> 0.876, tall 0.870 -> 0.906, immobile spots 0.842 -> 0.875, realistic 0.724 ->
    0.747) with F1 within 0.002 and crossings within 0.013 either way (mean change -0.002).

    Tracks shorter than ``size`` frames are returned unchanged.
    """
    if size < 2 or len(track) < size:
        return track
    if method == "median":
        from scipy.ndimage import median_filter

        return track.copy(positions=median_filter(track.positions, size=size, mode="nearest"))
    if method == "linear":
        return track.copy(positions=_line_fit_smooth(track.positions, size))
    raise OptionError(f"smoothing method must be 'median' or 'linear', got {method!r}")


def _line_fit_smooth(x: np.ndarray, size: int) -> np.ndarray:
    """Savitzky-Golay smoothing of order 1 (scipy's ``savgol_filter(x, size, 1, mode="interp")``)
    without importing ``scipy.signal``, which costs a batch worker 1.7 s: inside, a straight-line
    fit over an odd window gives the window mean at its centre; the first and last ``size // 2``
    points take the line fitted to the first / last ``size`` points."""
    size = int(size) | 1  # an odd window
    x = np.asarray(x, np.float64)
    n, half = x.size, size // 2
    out = x.copy()
    out[half:n - half] = np.convolve(x, np.full(size, 1.0 / size), mode="valid")
    k = np.arange(size, dtype=np.float64)
    for sl, idx in ((slice(0, size), np.arange(half)), (slice(n - size, n), np.arange(size - half, size))):
        slope, icpt = np.polyfit(k, x[sl], 1)
        out[sl.start + idx] = slope * idx + icpt
    return out


def _check_options(threshold, mode, min_size, min_frames):
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)) or not 0 < float(threshold) < 1:
            raise OptionError(f"threshold must be a number between 0 and 1 (exclusive), got {threshold!r}; the paper's default is 0.2")
    if mode not in MODES:
        raise OptionError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    for name, v in (("min_size", min_size), ("min_frames", min_frames)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise OptionError(f"{name} must be a whole number >= 1, got {v!r}")


#: the static background is removed only from unidirectional kymographs of at least this many
#: frames: a particle must leave each column within 75 % of the frames, or the column's 25th
#: percentile would take it for background (at 50 frames, movers from about 0.08 px/frame on
#: with a 3-px spot)
STATIC_MIN_FRAMES = 50
#: remove wide static structure from bidirectional kymographs (segment.remove_wide_static)
WIDE_STATIC = True


def analyze(
    image: Any,
    *,
    threshold: float | None = None,
    mode: str = "auto",
    min_size: int = 3,
    min_frames: int = 3,
    model: dict | str | None = None,
    decision: str = "auto",
    refine: bool = True,
    link: bool = True,
    static: bool = True,
    despike: bool = True,
    hysteresis: bool = True,
    relink: bool = True,
    relink_p_min: float | None = None,
    mode_check: bool = True,
    uni_method: str = "assign",
    bi_method: str = "assign",
    invert: Any = "auto",
    axes: str = "TX",
    channel: int | None = None,
    pixel_size: float | None = None,
    frame_interval: float | None = None,
    device: str = "cpu",
) -> Result:
    """Trace every particle track in one kymograph.

    Parameters
    ----------
    image : path-like or 2-D array [t, x]
        A kymograph file (TIFF/PNG/JPEG) or array; rows are frames, columns positions.
    threshold : float in (0, 1), optional
        Trackness threshold; None takes the model's tuned value (reported in ``settings``).
    mode : {"auto", "uni", "bi"}
        "auto": the classifier decides, and the mode check (``mode_check``) may overrule it.
    min_size, min_frames : int
        Tracks with fewer pixels / frames are dropped.
    model : None, name/path, or dict {module: name_or_path}
        Models to use instead of the shipped ones.
    decision : {"auto", "net", "motion"}
        With ``bi_method="skeleton"``: how the skeleton walk decides at branches and gaps: the decision module ("net")
        or motion continuity ("motion"). "auto" currently means "motion", which measured better
        than the shipped decision module on validation kymographs.
    refine : bool
        Refine positions across the track (3-point Gaussian fit, centroid fallback).
    uni_method : {"assign", "components", "trace"}
        How tracks are read from the two slope maps: per-frame detection and global assignment
        (:mod:`kymotrace.trace.assign`, the default: it measured best at crossings and gaps), the
        paper's skeleton components, or skeleton walking with the motion decider.
    bi_method : {"assign", "skeleton"}
        How tracks are read from the bidirectional map: detection and global assignment (default)
        or the paper's skeleton walk with a decider at branches and gaps (``decision``).
    static : bool
        On unidirectional kymographs, subtract the static background (each column's 25th
        percentile over time, :func:`kymotrace.segment.remove_static`: what stays put for more
        than 75 % of the frames, so a pause that long is erased too) before segmenting and
        fitting positions; only with at least :data:`STATIC_MIN_FRAMES` frames. Bidirectional
        kymographs keep their stationary particles (they are tracks) and lose only the smooth
        floor under everything and static peaks at least 10 px wide at half maximum (dim, wide
        bands from immobile or out-of-focus structures; :func:`kymotrace.segment.remove_wide_static`,
        session 12), also only with at least :data:`STATIC_MIN_FRAMES` frames. ``static=False``
        keeps the background of both kinds.
    despike : bool
        Replace single-pixel spikes (hot pixels, cosmic rays) by their neighbourhood's median
        before anything else (:func:`kymotrace.segment.remove_spikes`); the number replaced is
        reported in ``settings["spikes_removed"]``.
    hysteresis : bool
        Unidirectional, with the default tracer: trace the slope maps at ``UNI_HYSTERESIS``
        (0.75 / 0.9) x the threshold and keep only tracks of which at least 4 detected frames, and
        at least half, reach the threshold itself (:func:`kymotrace.trace.assign.hysteresis_filter`):
        a track is followed while its particle is dim (bleached, out of focus, next to a brighter
        one), but no track is made mostly of dim detections. Reported in ``settings["hysteresis"]``.
    relink : bool
        Bidirectional, with the default tracer: cut the traced tracks where they meet another
        track and re-link the pieces by one global assignment on the learned linker's scores
        (:mod:`kymotrace.trace.relink`: motion on both sides of an encounter, brightness, width).
        Measured on validation kymographs never used to choose it: track F1 0.763 -> 0.800,
        gaps 0.859 -> 0.876, crossings 0.313 -> 0.377 (bench-like bi sets); on the training
        variety, kymographs with immobile spots and an independent simulator F1 moved by -0.007
        to +0.008 and crossings rose by 0.004 to 0.045 (figures in the linker's card). Reported
        in ``settings["relink"]``; ``relink_p_min`` overrides the linker's own link threshold.
        Unidirectional, with the default tracer: the finished tracks moving each way are cut where
        they meet and re-linked among themselves by the unidirectional linker (``linker_uni``:
        a fast particle overtaking a slow one), session 11. ``relink_p_min`` overrides either
        linker's own threshold (see their cards). Re-linked bidirectional chains shorter than 5
        frames are dropped whatever ``min_frames`` says (unidirectional ones follow ``min_frames``).
    mode_check : bool
        With ``mode="auto"``: let a second opinion overrule the classifier when it disagrees at
        least 0.7 sure: the classifier's call combined with what the kymograph's tracks do when
        traced as bidirectional (pauses, reversals, steady runs; :mod:`kymotrace.modecheck`).
        Reported in ``settings["mode_check"]`` (the classifier's own probabilities stay in
        ``settings["classifier"]``). It costs one bidirectional segmenter pass on kymographs
        that turn out unidirectional (on bidirectional ones the map is reused); kymographs with a
        side over 1536 px are checked on their central 1024 x 1024 window.
    link : bool
        Join track pieces separated by gaps of up to 6 frames when their motion agrees
        (:func:`kymotrace.trace.link.link_gaps`).
    invert, axes, channel, pixel_size, frame_interval
        Input handling, as :func:`kymotrace.io.read_kymograph`.
    """
    from .io import as_kymograph, read_kymograph
    from .segment import (WIDE_STATIC_FWHM, classify, normalize, predict, remove_spikes, remove_static,
                          remove_wide_static, segmenter_polarity)
    from .trace import binarize_thin_prune, trace_uni
    from .trace.bi import MotionDecider, NetDecider, trace_bi

    _check_options(threshold, mode, min_size, min_frames)
    if decision not in ("auto", "net", "motion"):
        raise OptionError(f"decision must be auto, net or motion, got {decision!r}")
    if uni_method not in ("assign", "components", "trace"):
        raise OptionError(f"uni_method must be assign, components or trace, got {uni_method!r}")
    if bi_method not in ("assign", "skeleton"):
        raise OptionError(f"bi_method must be assign or skeleton, got {bi_method!r}")
    if relink_p_min is not None and not (isinstance(relink_p_min, (int, float)) and 0 < relink_p_min < 1):
        raise OptionError(f"relink_p_min must be a number between 0 and 1 (exclusive), got {relink_p_min!r}")
    models = get_models(model, device=device)
    judge = None
    if models.bi is not None:
        # faint or sparse kymographs leave the histogram's polarity unclear: then the bidirectional
        # segmenter decides (it finds tracks only on the right polarity; segment.segmenter_polarity)
        def judge(image):
            return segmenter_polarity(models.bi, image, device=device)
    io_kw = dict(invert=invert, axes=axes, pixel_size=pixel_size, frame_interval=frame_interval, polarity_judge=judge)
    if isinstance(image, (str, os.PathLike)):
        kymo = read_kymograph(image, channel=channel, **io_kw)
    else:
        kymo = as_kymograph(image, **io_kw)
    img = kymo.image
    settings: dict = {"mode_requested": mode, "min_size": int(min_size), "min_frames": int(min_frames), "refine": bool(refine)}
    if despike:
        # single-pixel spikes (hot pixels, cosmic rays) gave short false tracks: see remove_spikes
        img, n_spikes = remove_spikes(img)
        settings["spikes_removed"] = n_spikes
    else:
        settings["spikes_removed"] = None
    mode_conf = None
    prob = None
    settings["mode_check"] = None if mode != "auto" else {"used": False, "why": "turned off (mode_check=False, --no-mode-check)"}
    if mode == "auto":
        if models.classifier is None:
            raise KymotraceError("no classifier model is available, so mode='auto' cannot choose: pass mode='uni' or mode='bi'")
        # the classifier model's threshold on p(bi) (0.5 for the shipped one: pipeline F1 on
        # validation kymographs was the same from 0.2 to 0.6; see its model card)
        cut = float(models.classifier.threshold)
        checker = None
        if mode_check:
            from .modecheck import usable_modecheck

            checker, why = usable_modecheck(models.classifier, models.bi)
            if checker is None:
                settings["mode_check"] = {"used": False, "why": why}
        if checker is not None:
            # the classifier's call combined with what the bidirectionally traced tracks do
            # (pauses, reversals, steady runs): kymotrace.modecheck
            from .modecheck import MODE_FEATURES, check_features

            p, prob_bi, feats = check_features(img, models.classifier, models.bi, device=device)
            verdict = checker.decide(p.bi, cut, feats)
            mode, mode_conf = verdict["mode"], verdict["confidence"]
            settings["mode_check"] = {"used": True, **checker.describe(), "p_bi": verdict["p_bi"], "overruled": verdict["overruled"],
                                      "traced": "whole kymograph" if prob_bi is not None else "its central 1024 x 1024 window",
                                      "features": {k: round(float(v), 4) for k, v in zip(MODE_FEATURES, feats)}}
            if mode == "bi":
                prob = prob_bi  # the same segmenter on the same image: no second pass
        else:
            p = classify(models.classifier, img, device=device, flips=True)
            mode = "bi" if p.bi >= cut else "uni"
            mode_conf = float(p.bi if mode == "bi" else p.uni)
        settings["classifier"] = {"p_uni": p.uni, "p_bi": p.bi, "threshold_p_bi": cut, "flips": True}
    seg = models.uni if mode == "uni" else models.bi
    if seg is None:
        raise KymotraceError(f"no {mode} segmenter model is available: {models.missing.get(mode, '')}")
    thr = float(seg.threshold if threshold is None else threshold)
    settings.update(mode=mode, mode_confidence=mode_conf, threshold=thr, threshold_source="model" if threshold is None else "user")
    if not static or (mode == "bi" and not WIDE_STATIC):
        settings["static_background"] = "kept"
    elif img.shape[0] < STATIC_MIN_FRAMES:
        settings["static_background"] = f"kept (fewer than {STATIC_MIN_FRAMES} frames)"
    elif mode == "uni":
        # nothing that stays put is a unidirectional track: drop each column's 25th percentile over
        # time (bands from immobile or out-of-focus structures), see segment.remove_static
        img = remove_static(img)
        settings["static_background"] = "removed (each column's 25th percentile over time)"
    else:
        # particles may sit still on a bidirectional kymograph: only what is static and wider than
        # a particle goes (segment.remove_wide_static), with the smooth floor under it
        img, n_wide = remove_wide_static(img)
        prob = None  # the image changed: the mode check's map cannot be reused
        settings["static_background"] = (f"smooth floor and {n_wide} wide static band(s) removed (each column's 25th "
                                         f"percentile over time; bands at least {WIDE_STATIC_FWHM:g} px wide at half maximum)")
    # images up to 512 x 512 run in one pass (exact); larger ones in 512-px tiles with a 96-px
    # overlap: 4x faster than the exact 224-px overlap, and on a 1200 x 1200 kymograph only
    # 1.2e-5 of the pixels change their binarisation at the uni threshold (max difference 0.09)
    if prob is None:
        prob = predict(seg, img, device=device, tile=512, overlap=96, batch_size=1)
    norm = normalize(img)
    settings["hysteresis"] = None
    settings["relink"] = None
    if mode == "uni":
        maps = {"positive": prob[0], "negative": prob[1]}
        if uni_method == "assign":
            from .trace.assign import (HYSTERESIS_OPTIONS, UNI_HYSTERESIS, UNI_PARAMS, drop_duplicates,
                                       drop_stationary, guide_image, hysteresis_filter, trace_assign)

            # detections placed with the kymograph's help (guided_map): it separates particles
            # running side by side, which the slope maps merge into one plateau
            guide = guide_image(norm)
            low = thr * UNI_HYSTERESIS if hysteresis else thr
            tracks = drop_duplicates(trace_assign(prob[0], low, direction=1, guide=guide, **UNI_PARAMS)
                                     + trace_assign(prob[1], low, direction=-1, guide=guide, **UNI_PARAMS))
            if hysteresis:
                # traced on the lower threshold; filtered at the end (hysteresis_filter)
                settings["hysteresis"] = {"trace_threshold": round(low, 4), **HYSTERESIS_OPTIONS}
            tracks = drop_stationary(tracks)  # immobile spots are no unidirectional movers
            tracks = [t for t in tracks if len(t) >= min_frames and len(t) >= min_size]
        else:
            tracks = trace_uni(prob[0], prob[1], thr, min_size=min_size, min_frames=min_frames, method=uni_method)
        settings["tracer"] = uni_method
        settings["decision"] = "none (unidirectional)"
    elif bi_method == "assign":
        from .trace.assign import BI_PARAMS, trace_assign

        maps = {"trackness": prob[0]}
        tracks = trace_assign(prob[0], thr, **BI_PARAMS)
        settings["decision"] = "global assignment by motion"
        if relink:
            from .trace.relink import load_linker
            from .trace.relink import relink as relink_tracks

            linker = load_linker()
            tracks = relink_tracks(tracks, norm, linker, p_min=relink_p_min)
            settings["relink"] = {**linker.describe(), "p_min": float(linker.p_min if relink_p_min is None else relink_p_min)}
            settings["decision"] = "global assignment by motion, then segments re-linked by the learned linker"
        tracks = [t for t in tracks if len(t) >= min_frames and len(t) >= min_size]
        settings["tracer"] = "assign"
    else:
        maps = {"trackness": prob[0]}
        settings["tracer"] = "skeleton"
        skel = binarize_thin_prune(prob[0], thr)
        # "auto" uses the motion decider: on the bench's bi set it still edges out the shipped
        # decision module (track F1 0.746 vs 0.743, crossings 0.260 vs 0.221, session 5) at a
        # quarter of the time
        use_net = decision == "net"
        if use_net:
            if models.decision is None:
                raise KymotraceError(f"decision='net' but no decision model is available: {models.missing.get('decision', '')}")
            from .segment import decision_function

            decider = NetDecider(decision_function(models.decision, device=device))
            settings["decision"] = "net"
        else:
            decider = MotionDecider()
            settings["decision"] = "motion"
        tracks = trace_bi(skel, prob=prob[0], image=norm, decider=decider)
        tracks = [t for t in tracks if len(t) >= min_frames]
    if link:
        from .trace.link import link_gaps

        tracks = link_gaps(tracks)
    settings["link_gaps"] = bool(link)
    settings["position_smoothing"] = "none"
    if refine:
        tracks = [refine_positions(norm, t) for t in tracks]
        # see smooth_positions: a median keeps bidirectional reversals sharp, a line suits
        # unidirectional movers
        if mode == "bi":
            tracks = [smooth_positions(t, 3, "median") for t in tracks]
            settings["position_smoothing"] = "running median of 3 frames"
        else:
            tracks = [smooth_positions(t, 7, "linear") for t in tracks]
            settings["position_smoothing"] = "local linear fit over 7 frames"
    if settings["hysteresis"] is not None:
        # kept only with enough detections at the threshold itself; after gap linking and position
        # refinement, so the maps are read where the particle is (F1 0.920 -> 0.925 on the
        # independent simulator against filtering before linking)
        tracks = [t for t in hysteresis_filter(tracks, prob, thr, **HYSTERESIS_OPTIONS)
                  if len(t) >= min_frames and len(t) >= min_size]
    if mode == "uni" and relink and uni_method == "assign":
        # same-direction particles that meet (a fast one overtaking a slow one) are re-linked by
        # the unidirectional linker, each direction on its own (kymotrace.trace.relink)
        from .trace.relink import load_linker, relink_by_direction

        linker = load_linker("linker_uni")
        tracks = relink_by_direction(tracks, norm, linker, min_frames=min_frames, p_min=relink_p_min)
        if settings["hysteresis"] is not None:  # the re-linked tracks obey the same evidence rule
            tracks = hysteresis_filter(tracks, prob, thr, **HYSTERESIS_OPTIONS)
        tracks = [t for t in tracks if len(t) >= min_frames and len(t) >= min_size]
        settings["relink"] = {**linker.describe(), "p_min": float(linker.p_min if relink_p_min is None else relink_p_min),
                              "by_direction": True}
    tracks = renumber(tracks)
    settings["models"] = models.describe()
    settings["polarity"] = kymo.polarity
    return Result(tracks=tracks, maps=maps, mode=mode, mode_confidence=mode_conf, settings=settings, kymograph=kymo)
