"""Synthetic time-lapse movies: particles moving along a curved path, with exact ground truth.

The paper's Figure 1A draws a path along an axon in a movie and stacks the intensity along it;
its benchmark also used kymographs extracted from synthetic movies (20 px wide, 300 px long,
300 frames). :func:`generate_movie` makes such movies:

* **Path**: a smooth random curve (a sum of three random sines, rotated by up to ``rotate``
  degrees), given as a polyline of ``vertices`` points whose arc length is exactly
  ``length - 1`` px, so the kymograph extracted along it has ``length`` columns. The movie frame
  is the path's bounding box plus the cell's half width and a margin.
* **Motion and ground truth**: drawn exactly as :func:`kymotrace.synth.generate` draws them for
  a kymograph ``length`` px wide and ``frames`` frames long, with the same random draws: for one
  seed the ground-truth tracks are identical to those of ``generate(kind, rng=seed,
  width=length, frames=frames, **knobs)``. Track positions are arc lengths (px) along the path
  from its first point, i.e. kymograph columns.
* **Image formation**: every visible particle is a 2-D spot at its path position, shifted across
  the path by a smooth per-particle jitter (AR(1), std ``jitter`` px, kept inside the cell);
  the spot is the knob's PSF (``gaussian``; ``airy``/``lorentzian`` as separable products of
  their 1-D pixel-integrated profiles) with the per-particle size, brightness, bleaching,
  blinking, defocus and motion blur of the kymograph generator. The background is a cell
  ``band`` px wide around the path (outside it the level drops to ``outside`` x), optionally
  with smooth gradients (``gradient``) and static structures on the path (``bands``: immobile
  blobs, ``n_bands`` of them). Noise is the kymograph generator's model
  (:mod:`kymotrace.synth.noise`: Gaussian or Poisson-Gaussian camera, per-frame flicker and
  gain, correlations along image rows and between frames), then the output dtype.
* **Brightness**: as in the kymograph generator, a particle's brightness is its peak in the
  kymograph: its 2-D amplitude is divided by the mean of its profile across the extraction
  width ``kymo_width`` (centred), so a small spot is not diluted by the averaging across the
  line more than a large one (what the jitter moves off-centre still is).
* **Contrast**: ``snr`` and ``cnr`` hold on the *kymograph* extracted along the path with
  :func:`kymotrace.movie.make_kymograph` at ``width=kymo_width`` (mean across the width): the
  signal is scaled so that the noise-free kymograph's mean on track pixels is ``cnr`` times the
  kymograph's noise std, and the per-pixel noise of the movie is set so that, after the
  exact averaging weights of that extraction, the kymograph's noise std is 1 (row flicker and
  gain pass through unchanged). So a movie-derived kymograph and a rendered one with the same
  knobs have the same contrast figures, and differ only by image formation and extraction.

Example
-------
>>> from kymotrace.synth.movie import generate_movie
>>> m = generate_movie("uni", rng=95_000_000, frames=40)
>>> k = m.kymograph()
>>> k.image.shape == (40, 300)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from ..errors import OptionError
from ..track import Track, renumber
from . import motion, noise, render
from .knobs import resolve_knobs
from .kymo import SynthKymograph, _jsonable, _points, draw_tracks, track_mask

__all__ = ["MOVIE_KNOBS", "MOVIE_KNOB_DOCS", "SynthMovie", "generate_movie", "bench_kymograph"]

#: movie-only knobs and their defaults (the other knobs are the kymograph generator's)
MOVIE_KNOBS: dict[str, Any] = {
    "length": 300,
    "band": 20.0,
    "bend": 40.0,
    "vertices": 25,
    "rotate": 20.0,
    "jitter": 1.0,
    "outside": 0.5,
    "kymo_width": 5,
}

MOVIE_KNOB_DOCS: dict[str, str] = {
    "length": "kymograph columns along the path: the path's arc length is length - 1 px",
    "band": "width (px) of the cell around the path in which particles move",
    "bend": "lateral amplitude (px) of the path's curves (0 = straight)",
    "vertices": "points of the path polyline (>= 2)",
    "rotate": "the path is rotated by a random angle of up to this many degrees",
    "jitter": "std (px) of each particle's smooth wander across the path",
    "outside": "background outside the cell, relative to the background inside",
    "kymo_width": "line width (px) of the extraction that snr and cnr refer to",
}

_INTS = {"length": (16, 8192), "vertices": (2, 100000), "kymo_width": (1, 1000)}
_FLOATS = {"band": (1.0, 1e4), "bend": (0.0, 1e4), "rotate": (0.0, 180.0), "jitter": (0.0, 100.0),
           "outside": (0.0, 1.0)}


@dataclass
class SynthMovie:
    """A synthetic movie, its path and exact ground truth.

    Attributes
    ----------
    movie : ndarray, shape (frames, height, width)
        The movie, dtype per the ``dtype`` knob.
    path : ndarray of float, shape (vertices, 2)
        ``(x, y)`` polyline (pixel coordinates, 0-based pixel centres), arc length ``length - 1``.
    tracks : list of Track
        Ground truth in path coordinates: position = arc length (px) from ``path[0]`` = the
        column of the kymograph extracted along ``path``. ``size`` is the in-focus Gaussian sigma
        (px), ``brightness`` the in-focus peak amplitude at frame 0 in kymograph noise units.
    kind : {'uni', 'bi'}
    params : dict
        Every effective knob, ``seed`` and ``derived`` values (JSON-serialisable).
    kymo_width : int
        The extraction width the contrast figures refer to.
    kymo_signal : ndarray of float64, shape (frames, length)
        The noise-free particle signal of that extraction, in kymograph noise units.
    """

    movie: np.ndarray
    path: np.ndarray
    tracks: list[Track]
    kind: str
    params: dict[str, Any]
    kymo_width: int
    kymo_signal: np.ndarray = field(repr=False)

    def kymograph(self, width: int | None = None, reduce: str = "mean"):
        """The kymograph along :attr:`path` (:func:`kymotrace.movie.make_kymograph`)."""
        from ..movie import make_kymograph

        return make_kymograph(self.movie, self.path, width=self.kymo_width if width is None else width, reduce=reduce)


def _movie_knobs(knobs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    mk = dict(MOVIE_KNOBS)
    rest = {}
    for key, val in knobs.items():
        if key == "width":
            raise OptionError("knob width: a movie's kymograph width is set by length= (columns along the path)")
        if key in ("static", "static_brightness"):
            raise OptionError(f"knob {key}: immobile spots are drawn by the kymograph generator only "
                              "(kymotrace.synth.generate); movies have bands= for static structures")
        if key in mk:
            mk[key] = val
        else:
            rest[key] = val
    for name, (lo, hi) in _INTS.items():
        v = mk[name]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer, float)) or v != int(v) or not lo <= v <= hi:
            raise OptionError(f"knob {name}={v!r}: expected a whole number in [{lo}, {hi}]")
        mk[name] = int(v)
    for name, (lo, hi) in _FLOATS.items():
        try:
            v = float(mk[name])
        except (TypeError, ValueError):
            raise OptionError(f"knob {name}={mk[name]!r}: expected a number") from None
        if not (math.isfinite(v) and lo <= v <= hi):
            raise OptionError(f"knob {name}={mk[name]!r}: allowed values lie in [{lo}, {hi}]")
        mk[name] = v
    return mk, rest


def _curve(rng: np.random.Generator, mk: dict) -> np.ndarray:
    """The path polyline, arc length exactly ``length - 1``, before placement in the frame."""
    L = float(mk["length"] - 1)
    u = np.linspace(0.0, 1.0, 4001)
    g = np.zeros_like(u)
    for _ in range(3):
        g += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * rng.uniform(0.3, 1.5) * u + rng.uniform(0, 2 * np.pi))
    g -= g.mean()
    g /= max(np.abs(g).max(), 1e-12)
    dense = np.column_stack([u * L, mk["bend"] * g])
    seg = np.hypot(*np.diff(dense, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    at = np.linspace(0.0, cum[-1], mk["vertices"])
    pts = np.column_stack([np.interp(at, cum, dense[:, 0]), np.interp(at, cum, dense[:, 1])])
    plen = float(np.hypot(*np.diff(pts, axis=0).T).sum())
    pts = pts * (L / plen)
    th = np.deg2rad(rng.uniform(-mk["rotate"], mk["rotate"]))
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    return pts @ rot.T


def _along(path: np.ndarray, s: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Image ``(x, y)`` of arc length ``s`` along ``path`` (extended straight beyond its ends),
    shifted by ``e`` px along the local normal."""
    d = np.diff(path, axis=0)
    seg = np.hypot(d[:, 0], d[:, 1])
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    i = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(seg) - 1)
    u = d[i] / seg[i, None]
    p = path[i] + (s - cum[i])[:, None] * u
    return p[:, 0] - e * u[:, 1], p[:, 1] + e * u[:, 0]


def _render_spots(shape: tuple[int, int, int], rows, x, y, amp, fwhm, psf: str) -> np.ndarray:
    """Sum of 2-D spots (separable pixel-integrated profiles with unit peak) into a float64 movie."""
    T, H, W = shape
    out = np.zeros(T * H * W)
    if rows.size == 0:
        return out.reshape(shape)
    h = render.psf_half_window(psf, float(fwhm.max()))
    offs = np.arange(-h, h + 1)
    m = offs.size
    chunk = max(1, 1_500_000 // (m * m))
    for a in range(0, rows.size, chunk):
        b = slice(a, a + chunk)
        cx = np.rint(x[b]).astype(np.int64)[:, None] + offs
        cy = np.rint(y[b]).astype(np.int64)[:, None] + offs
        fw = np.broadcast_to(fwhm[b, None], cx.shape)
        px = render._profile(psf, cx - x[b, None], fw)
        py = render._profile(psf, cy - y[b, None], fw)
        val = amp[b, None, None] * py[:, :, None] * px[:, None, :]
        ok = ((cy >= 0) & (cy < H))[:, :, None] & ((cx >= 0) & (cx < W))[:, None, :]
        flat = (rows[b, None, None] * H + cy[:, :, None]) * W + cx[:, None, :]
        out += np.bincount(flat[ok], weights=val[ok], minlength=T * H * W)
    return out.reshape(shape)


def _path_coords(path: np.ndarray, H: int, W: int) -> tuple[np.ndarray, np.ndarray]:
    """Arc length of the nearest path point and the distance to the path, for every pixel."""
    yy, xx = np.mgrid[0:H, 0:W]
    P = np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float64)
    d = np.diff(path, axis=0)
    seg = np.hypot(d[:, 0], d[:, 1])
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    best = np.full(P.shape[0], np.inf)
    arc = np.zeros(P.shape[0])
    for i in range(len(seg)):
        t = np.clip(((P - path[i]) @ d[i]) / seg[i] ** 2, 0.0, 1.0)
        q = path[i] + t[:, None] * d[i]
        dist = np.hypot(P[:, 0] - q[:, 0], P[:, 1] - q[:, 1])
        better = dist < best
        best[better] = dist[better]
        arc[better] = cum[i] + t[better] * seg[i]
    return arc.reshape(H, W), best.reshape(H, W)


def generate_movie(kind: str, *, rng: "np.random.Generator | int | None" = None, **knobs: Any) -> SynthMovie:
    """One synthetic movie of particles moving along a curved path, with exact ground truth.

    Parameters
    ----------
    kind : {'uni', 'bi'}
        As :func:`kymotrace.synth.generate`.
    rng : numpy Generator, int seed or None
    **knobs
        The movie knobs :data:`MOVIE_KNOBS` (``length``, ``band``, ``bend``, ``vertices``,
        ``rotate``, ``jitter``, ``outside``, ``kymo_width``) and the kymograph generator's knobs
        (:data:`kymotrace.synth.KNOB_DOCS`) except ``width`` (use ``length``).

    Returns
    -------
    SynthMovie

    Raises
    ------
    OptionError
        Unknown knob or a value out of range.
    """
    from ..movie import noise_gain, path_geometry, sample_frame

    mk, rest = _movie_knobs(knobs)
    k = resolve_knobs(kind, {**rest, "width": mk["length"]})
    seed = rng if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) else None
    rng = np.random.default_rng(rng)
    derived: dict[str, Any] = {}
    T, n_cols = k["frames"], k["width"]

    # motion and ground truth: the same draws, in the same order, as synth.generate ---------------
    paths = draw_tracks(kind, k, rng, derived)
    rows, pos, amp, fwhm = _points(paths, k, rng)
    visible = [int(tr.visible.sum()) for tr in paths]
    nsub = rows.size // max(1, sum(visible))
    owner = np.concatenate([np.full(nsub * v, i) for i, v in enumerate(visible)]) if paths else np.zeros(0, int)

    # the path and the frame --------------------------------------------------------------------
    path = _curve(rng, mk)
    margin = mk["band"] / 2.0 + 4.0
    path = path - path.min(axis=0) + margin
    W_img = int(math.ceil(path[:, 0].max() + margin)) + 1
    H_img = int(math.ceil(path[:, 1].max() + margin)) + 1
    geom = path_geometry(path, mk["kymo_width"], shape=(H_img, W_img))
    if geom.n_columns != n_cols:  # pragma: no cover - the curve is built to this length
        raise AssertionError(f"path gives {geom.n_columns} columns, expected {n_cols}")

    # particles across the path: smooth per-particle jitter, kept inside the cell --------------------
    lim = max(0.0, mk["band"] / 2.0 - 1.5)
    jit = np.zeros(rows.size)
    if mk["jitter"] > 0 and rows.size:
        for i, tr in enumerate(paths):
            series = np.clip(mk["jitter"] * noise.correlated_normal(rng, (len(tr), 1), 0.9, 0.0)[:, 0], -lim, lim)
            sel = owner == i
            jit[sel] = series[rows[sel] - tr.start]
    px, py = _along(path, pos, jit)
    # brightness is the kymograph's: divide by the mean of the spot's profile across the extraction
    # width, so a particle's peak in the kymograph does not depend on its size
    offs = np.arange(mk["kymo_width"]) - (mk["kymo_width"] - 1) / 2.0
    across = render._profile(k["psf"], np.broadcast_to(offs, (fwhm.size, offs.size)),
                             np.broadcast_to(fwhm[:, None], (fwhm.size, offs.size))).mean(axis=1)
    unit = _render_spots((T, H_img, W_img), rows, px, py, amp / np.maximum(across, 1e-6), fwhm, k["psf"])
    if k["blur"] > 0:
        unit = ndi.gaussian_filter(unit, k["blur"], mode="nearest")

    # contrast, calibrated on the kymograph extracted at kymo_width ----------------------------------
    kymo_unit = np.stack([sample_frame(unit[t], geom) for t in range(T)])
    tmask = track_mask(paths, (T, n_cols))
    mean_on_tracks = float(kymo_unit[tmask].mean()) if tmask.any() else 0.0
    contrast = k["cnr"]
    scale = contrast / mean_on_tracks if mean_on_tracks > 0 else contrast
    signal = unit * scale
    del unit
    background = contrast / (k["snr"] - 1.0)
    gain = noise_gain(geom, (H_img, W_img))

    # background: the cell, gradients, static structures ----------------------------------------------
    arc, dist = _path_coords(path, H_img, W_img)
    cell = mk["outside"] + (1.0 - mk["outside"]) / (1.0 + np.exp((dist - mk["band"] / 2.0) / 0.75))
    bg = background * cell * np.clip(render.background_field(rng, (H_img, W_img), k["gradient"]), 0.05, None)
    if k["bands"] > 0:
        nb = int(round(motion.draw(rng, k["n_bands"])))
        base = max(6.0, float(np.max(k["size"])))
        blobs = np.zeros((H_img, W_img))
        for _ in range(nb):
            c = rng.uniform(0.0, n_cols - 1.0)
            s_along = base * rng.uniform(3.0, 8.0) / 2.355
            blobs += rng.uniform(0.4, 1.0) * np.exp(-0.5 * ((arc - c) / s_along) ** 2) * np.exp(
                -0.5 * (dist / (mk["band"] / 4.0)) ** 2)
        blobs *= k["bands"] * contrast
        inside = dist <= mk["band"] / 2.0
        bg = np.clip(bg + blobs - blobs[inside].mean(), 0.0, None)
        derived["n_bands"] = nb

    # noise: per-pixel level so that the extracted kymograph's noise std is 1 -------------------------
    rf = k["row_flicker"]
    w_k = 1.0 / math.sqrt(1.0 + rf**2)
    w_m = w_k / gain
    c = math.sqrt(w_m**2 + (rf * w_k) ** 2)
    k_movie = dict(k, row_flicker=rf * gain)
    intensity = (bg[None] + signal) / c
    x = c * noise.add_noise(rng, intensity.reshape(T, -1), k_movie, background / c, contrast / c, derived)
    del intensity
    movie = noise.to_dtype(x.reshape(T, H_img, W_img), k, background, contrast, derived)
    del x

    tracks = renumber(paths, start=1)
    for tr in tracks:
        tr.size = float(tr.size) / motion.FWHM_PER_SIGMA
        tr.brightness = float(tr.brightness) * scale
    derived.update(background=background, contrast=contrast, signal_scale=scale, noise_gain=gain,
                   movie_noise_std=w_m, frame_shape=[H_img, W_img], path_length=geom.length,
                   n_tracks_out=len(tracks))
    params = {"kind": kind, **k, **mk, "seed": None if seed is None else int(seed), "derived": derived}
    params.pop("width")
    return SynthMovie(movie=movie, path=path, tracks=tracks, kind=kind, params=_jsonable(params),
                      kymo_width=mk["kymo_width"], kymo_signal=kymo_unit * scale)


def bench_kymograph(kind: str, seed: int, knobs: dict[str, Any]) -> SynthKymograph:
    """A benchmark item from a movie: the kymograph extracted along the path (at ``kymo_width``),
    with the movie's ground truth in path coordinates."""
    sm = generate_movie(kind, rng=np.random.default_rng(seed), **knobs)
    kymo = sm.kymograph()
    contrast = sm.params["derived"]["contrast"]
    return SynthKymograph(image=kymo.image, tracks=sm.tracks, kind=kind, params={**sm.params, "seed": int(seed)},
                          signal=sm.kymo_signal, background_mask=sm.kymo_signal < 0.02 * contrast)
