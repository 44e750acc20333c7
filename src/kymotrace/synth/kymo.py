"""Seeded synthetic kymographs with exact ground truth (the paper's recipe, plus variety).

Contrast definitions (used to calibrate every kymograph and to measure it):

* *track pixels*: pixel ``(t, round(x_t))`` of every visible (non-gap) ground-truth point;
* *background pixels*: pixels where the noise-free particle signal is below 2 % of the mean
  track contrast (``SynthKymograph.background_mask``);
* ``snr`` = mean image value on track pixels / mean image value on background pixels
  (the paper's "average intensity of the signal divided by the average intensity of the
  background"; a contrast ratio that leaves the noise free);
* ``cnr`` = (mean on track pixels - mean on background pixels) / std of background pixels.

The generator scales the rendered particle signal so that its mean over track pixels is
exactly ``cnr`` noise stds, and puts the mean background at ``cnr / (snr - 1)`` noise stds, so
both figures hold by construction for float32 output without gradients, bands or inversion
(the noise model is in :mod:`kymotrace.synth.noise`, with its calibration).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from ..track import Track, renumber
from . import motion, noise, render
from .knobs import KINDS, resolve_knobs

__all__ = ["SynthKymograph", "generate", "unidirectional", "bidirectional", "measure_contrast"]



@dataclass
class SynthKymograph:
    """A synthetic kymograph and its exact ground truth.

    Attributes
    ----------
    image : ndarray, shape (frames, width)
        The kymograph, dtype per the ``dtype`` knob (float32, uint8 or uint16).
    tracks : list of Track
        Ground truth, ids 1..N sorted by start frame then position. One float position per
        frame of each track's life inside the image, ``gap`` True where the particle's signal is
        blanked, ``size`` the in-focus Gaussian sigma (px; FWHM / 2.355 for every PSF shape) and
        ``brightness`` the in-focus peak amplitude at frame 0 in background-noise stds.
    kind : {'uni', 'bi'}
    params : dict
        Every effective knob value (JSON-serialisable), plus ``kind``, ``seed`` (when an int was
        given) and ``derived``: per-kymograph draws (speed, noise levels, switching rates),
        ``background`` and ``contrast`` (noise units), ``signal_scale``, ``offset``,
        ``noise_counts`` and, for the Poisson camera, photon numbers.
    signal : ndarray of float64, shape (frames, width)
        Noise-free particle signal in noise units (background noise std = 1), before background,
        noise, inversion and camera conversion.
    background_mask : ndarray of bool, shape (frames, width), optional
        Pixels where ``signal`` is below 2 % of the mean track contrast.
    """

    image: np.ndarray
    tracks: list[Track]
    kind: str
    params: dict[str, Any]
    signal: np.ndarray
    background_mask: np.ndarray | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.image.shape)  # type: ignore[return-value]

    def track_mask(self) -> np.ndarray:
        """Boolean image: pixel ``(t, round(x_t))`` of every visible ground-truth point."""
        return track_mask(self.tracks, self.image.shape)


def track_mask(tracks: list[Track], shape: tuple[int, int]) -> np.ndarray:
    """Boolean image with pixel ``(t, round(x_t))`` set for every visible point of ``tracks``."""
    m = np.zeros(shape, bool)
    for tr in tracks:
        v = tr.visible
        cols = np.clip(np.rint(tr.positions[v]).astype(np.int64), 0, shape[1] - 1)
        m[tr.frames[v], cols] = True
    return m


def measure_contrast(image: np.ndarray, track: np.ndarray, background: np.ndarray) -> dict[str, float]:
    """Measured figures of ``image``: means on ``track`` and ``background`` pixel masks, the
    background std, ``snr`` = track mean / background mean and ``cnr`` = difference / std."""
    img = np.asarray(image, dtype=np.float64)
    tm = float(img[track].mean()) if track.any() else float("nan")
    bm = float(img[background].mean())
    sd = float(img[background].std())
    return {"track_mean": tm, "background_mean": bm, "noise_std": sd, "snr": tm / bm, "cnr": (tm - bm) / sd}


def _ar1_unit(rng: np.random.Generator, n: int, rho: float) -> np.ndarray:
    """Unit-variance stationary AR(1) series of length ``n``."""
    return noise.correlated_normal(rng, (1, n), 0.0, rho)[0]


def _modulation(tr: Track, k: dict, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame amplitude and width factors of one particle (bleaching, blinking, defocus)."""
    n = len(tr)
    amp = np.ones(n)
    wid = np.ones(n)
    if k["bleach"] > 0:
        amp *= np.exp(-k["bleach"] * tr.frames)
    if k["blink"] > 0:
        b = k["blink"]
        amp *= np.exp(b * _ar1_unit(rng, n, 0.85) - 0.5 * b**2)
    if k["defocus"] > 0:
        z = k["defocus"] * _ar1_unit(rng, n, float(np.exp(-1.0 / 30.0)))
        amp /= 1.0 + z**2
        wid *= np.sqrt(1.0 + z**2)
    return amp, wid


def _points(tracks: list[Track], k: dict, rng: np.random.Generator):
    """Rows, positions, amplitudes and FWHMs of every visible point (with motion-blur samples)."""
    rows, pos, amp, fwhm = [], [], [], []
    # motion-blur sub-samples: enough that neighbouring ones lie at most 0.5 px apart
    vmax = max((float(np.abs(np.diff(t.positions)).max()) for t in tracks if len(t) > 1), default=0.0)
    nsub = int(np.clip(np.ceil(k["motion_blur"] * vmax / 0.5), 1, 9))
    for tr in tracks:
        a, w = _modulation(tr, k, rng)
        v = tr.visible
        x = tr.positions
        vel = np.gradient(x) if x.size > 1 else np.zeros_like(x)
        for s in range(nsub):
            shift = ((s + 0.5) / nsub - 0.5) * k["motion_blur"] * vel if nsub > 1 else 0.0
            rows.append(tr.frames[v])
            pos.append((x + shift)[v] if nsub > 1 else x[v])
            amp.append(tr.brightness * a[v] / nsub)
            fwhm.append(tr.size * w[v])
    if not rows:
        z = np.zeros(0)
        return z.astype(np.int64), z, z, z
    return np.concatenate(rows), np.concatenate(pos), np.concatenate(amp), np.concatenate(fwhm)


def _static_lines(rng: np.random.Generator, k: dict, shape: tuple[int, int], derived: dict) -> np.ndarray:
    """Unit-scale image of immobile spots: vertical lines at fixed positions (a slight sub-pixel
    wobble), present for all frames or a long stretch, with the kymograph's PSF and particle sizes.
    Their brightness is relative to a track's unit amplitude, so ``* scale`` matches the tracks."""
    T, W = shape
    n = int(rng.poisson(k["static"] * W / 300.0))
    derived["n_static"] = n
    size = k["size"] if isinstance(k["size"], (list, tuple)) else (k["size"], k["size"])
    rows, pos, amp, fwhm = [], [], [], []
    for _ in range(n):
        if rng.random() < 0.6:
            t0, t1 = 0, T
        else:
            length = int(rng.uniform(0.2, 1.0) * T)
            t0 = int(rng.integers(0, T - length + 1))
            t1 = t0 + max(length, 1)
        f = np.arange(t0, t1)
        rows.append(f)
        pos.append(rng.uniform(0, W - 1) + 0.15 * rng.standard_normal(f.size))
        amp.append(np.full(f.size, motion.draw(rng, k["static_brightness"])))
        fwhm.append(np.full(f.size, motion.draw(rng, size)))
    if not rows:
        return np.zeros(shape)
    return render.render_points(shape, np.concatenate(rows), np.concatenate(pos), np.concatenate(amp), np.concatenate(fwhm), k["psf"])


def draw_tracks(kind: str, k: dict, rng: np.random.Generator, derived: dict) -> list[Track]:
    """The ground-truth tracks of one synthetic kymograph or movie: motion, minimum length, gaps,
    and tracks hidden under another removed. Both generators draw them here, in the same order, so
    a movie and a rendered kymograph of the same kind, knobs and seed share their ground truth."""
    paths = motion.uni_paths(k, rng, derived) if kind == "uni" else motion.bi_paths(k, rng, derived)
    paths = [p for p in paths if len(p) >= k["min_len"]]
    motion.add_gaps(paths, k, rng)
    return motion.drop_hidden(paths, k["frames"], k["hide_dist"])


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(a): _jsonable(b) for a, b in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return float(v)
    return v


def generate(kind: str, *, rng: "np.random.Generator | int | None" = None, **knobs: Any) -> SynthKymograph:
    """One synthetic kymograph of ``kind`` with exact ground truth.

    Parameters
    ----------
    kind : {'uni', 'bi'}
        'uni': particles moving at one speed in +x and -x (``n_pos`` + ``n_neg``, paper 30 + 30).
        'bi': particles switching between stationary and moving, reversing (``n_tracks``,
        paper 15 for benchmarking, 30 for training).
    rng : numpy Generator, int seed or None
        Source of randomness; an int seed gives the same kymograph every time.
    **knobs
        See :data:`kymotrace.synth.knobs.KNOB_DOCS`; defaults follow the paper.

    Returns
    -------
    SynthKymograph

    Raises
    ------
    OptionError
        Unknown knob (the message lists the valid ones) or a value out of range.
    """
    if kind not in KINDS:
        resolve_knobs(kind, {})  # raises with the allowed kinds
    k = resolve_knobs(kind, knobs)
    seed = rng if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) else None
    rng = np.random.default_rng(rng)
    derived: dict[str, Any] = {}
    T, W = k["frames"], k["width"]

    # motion and ground truth ----------------------------------------------------------------
    paths = draw_tracks(kind, k, rng, derived)

    # particle signal, calibrated to cnr on track pixels ----------------------------------------
    rows, pos, amp, fwhm = _points(paths, k, rng)
    unit = render.render_points((T, W), rows, pos, amp, fwhm, k["psf"])
    if k["blur"] > 0:
        unit = ndi.gaussian_filter(unit, k["blur"], mode="nearest")
    tmask = track_mask(paths, (T, W))
    mean_on_tracks = float(unit[tmask].mean()) if tmask.any() else 0.0
    contrast = k["cnr"]
    scale = contrast / mean_on_tracks if mean_on_tracks > 0 else contrast
    signal = unit * scale
    background = contrast / (k["snr"] - 1.0)

    # background: level, gradients, static bands ----------------------------------------------
    bg = background * np.clip(render.background_field(rng, (T, W), k["gradient"]), 0.05, None)
    if k["bands"] > 0:
        nb = int(round(motion.draw(rng, k["n_bands"])))
        size_range = k["size"] if isinstance(k["size"], list) else (k["size"], k["size"])
        prof = render.band_profile(rng, W, nb, size_range) * k["bands"] * contrast
        bg = np.clip(bg + (prof - prof.mean())[None, :], 0.0, None)
        derived["n_bands"] = nb

    # immobile spots: static lines in the background, not tracks (drawn only when asked, so
    # kymographs without them keep their random stream) ------------------------------------------
    if k["static"] > 0:
        bg = bg + _static_lines(rng, k, (T, W), derived) * scale

    # noise, camera, output ----------------------------------------------------------------------
    x = noise.add_noise(rng, bg + signal, k, background, contrast, derived)
    image = noise.to_dtype(x, k, background, contrast, derived)

    tracks = renumber(paths, start=1)
    for tr in tracks:
        tr.size = float(tr.size) / motion.FWHM_PER_SIGMA
        tr.brightness = float(tr.brightness) * scale
    derived.update(background=background, contrast=contrast, signal_scale=scale, n_tracks_out=len(tracks))
    params = {"kind": kind, **k, "seed": None if seed is None else int(seed), "derived": derived}
    return SynthKymograph(
        image=image,
        tracks=tracks,
        kind=kind,
        params=_jsonable(params),
        signal=signal,
        background_mask=signal < 0.02 * contrast,
    )


def unidirectional(*, rng: "np.random.Generator | int | None" = None, **knobs: Any) -> SynthKymograph:
    """Unidirectional kymograph (paper: 30 + 30 particles, 1-3 px/frame); see :func:`generate`."""
    return generate("uni", rng=rng, **knobs)


def bidirectional(*, rng: "np.random.Generator | int | None" = None, **knobs: Any) -> SynthKymograph:
    """Bidirectional kymograph (paper: 15 particles, switching and reversing); see :func:`generate`."""
    return generate("bi", rng=rng, **knobs)
