"""Rendering of synthetic kymographs: particle profiles per frame and structured background.

Each particle is drawn in each frame (row) as a 1-D intensity profile across x, centred on its
sub-pixel position and averaged over each pixel's width (box integration), so even a 1 px
particle keeps its brightness wherever it sits. All points are rendered at once with numpy.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from scipy.special import erf, j1

__all__ = ["render_points", "psf_half_window", "background_field", "band_profile"]

_SQRT2 = np.sqrt(2.0)
#: FWHM of the Airy intensity (2 J1(v) / v)^2 in units of v
_AIRY_FWHM_V = 3.2327
#: sub-samples per pixel for PSFs without a closed-form pixel integral
_SUB = 5
#: the Airy intensity tabulated on v = 0..400 (interpolation is far cheaper than j1)
_AIRY_V = np.linspace(0.0, 400.0, 80001)
with np.errstate(invalid="ignore", divide="ignore"):
    _AIRY_I = np.where(_AIRY_V < 1e-9, 1.0, (2.0 * j1(_AIRY_V) / _AIRY_V) ** 2)


def psf_half_window(psf: str, fwhm_max: float) -> int:
    """Half-width (px) beyond which a profile of FWHM ``fwhm_max`` is negligible."""
    factor = {"gaussian": 2.2, "airy": 3.5, "lorentzian": 8.0}[psf]
    return int(np.ceil(min(factor * fwhm_max, 80.0))) + 2


def _profile(psf: str, d: np.ndarray, fwhm: np.ndarray) -> np.ndarray:
    """Pixel-averaged profile with unit peak; ``d`` = pixel centre - particle position (px)."""
    if psf == "gaussian":
        s = fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
        c = s * _SQRT2
        return (s * np.sqrt(np.pi / 2.0)) * (erf((d + 0.5) / c) - erf((d - 0.5) / c))
    if psf == "lorentzian":
        g = fwhm / 2.0
        return g * (np.arctan((d + 0.5) / g) - np.arctan((d - 0.5) / g))
    if psf == "airy":
        scale = _AIRY_FWHM_V / fwhm
        off = (np.arange(_SUB) + 0.5) / _SUB - 0.5
        v = np.abs(d[..., None] + off) * scale[..., None]
        return np.interp(v, _AIRY_V, _AIRY_I, right=0.0).mean(axis=-1)
    raise ValueError(psf)


def render_points(
    shape: tuple[int, int],
    rows: np.ndarray,
    pos: np.ndarray,
    amp: np.ndarray,
    fwhm: np.ndarray,
    psf: str = "gaussian",
) -> np.ndarray:
    """Sum of 1-D particle profiles, one per point, into a float64 image.

    Parameters
    ----------
    shape : (frames, width)
    rows : ndarray of int, shape (n,)
        Frame (row) of each point.
    pos : ndarray of float, shape (n,)
        Sub-pixel position (px) of each point.
    amp : ndarray of float, shape (n,)
        Peak amplitude of the continuous profile.
    fwhm : ndarray of float, shape (n,)
        Full width at half maximum (px).
    psf : {'gaussian', 'airy', 'lorentzian'}
    """
    T, W = shape
    out = np.zeros(T * W)
    if rows.size == 0:
        return out.reshape(shape)
    h = psf_half_window(psf, float(fwhm.max()))
    offs = np.arange(-h, h + 1)
    # process in chunks to bound memory for very dense or very wide cases
    chunk = max(1, 2_000_000 // (offs.size * (_SUB if psf == "airy" else 1)))
    for a in range(0, rows.size, chunk):
        b = a + chunk
        cols = np.rint(pos[a:b]).astype(np.int64)[:, None] + offs
        d = cols - pos[a:b, None]
        val = _profile(psf, d, np.broadcast_to(fwhm[a:b, None], d.shape)) * amp[a:b, None]
        ok = (cols >= 0) & (cols < W)
        flat = (rows[a:b, None] * W + cols)[ok]
        out += np.bincount(flat, weights=val[ok], minlength=T * W)
    return out.reshape(shape)


def band_profile(rng: np.random.Generator, width: int, n_bands: int, size_range: tuple[float, float]) -> np.ndarray:
    """Static structured background across x: ``n_bands`` wide, soft Gaussian bands with peak
    values in [0.4, 1] (immobile or out-of-focus structures, *not* tracks). Their sigma is
    3-8 x the largest particle FWHM (at least 6 px), so they are much wider than particles."""
    x = np.arange(width)
    prof = np.zeros(width)
    base = max(6.0, float(size_range[1]))
    for _ in range(n_bands):
        c = rng.uniform(0, width)
        s = base * rng.uniform(3.0, 8.0) / 2.355
        prof += rng.uniform(0.4, 1.0) * np.exp(-0.5 * ((x - c) / s) ** 2)
    return prof


def background_field(rng: np.random.Generator, shape: tuple[int, int], gradient: float) -> np.ndarray:
    """Multiplicative background field with mean 1: a linear ramp in a random direction of the
    (t, x) plane plus a smooth random undulation, together spanning about ``1 +- gradient``."""
    T, W = shape
    if gradient <= 0:
        return np.ones(shape)
    tt = (np.arange(T)[:, None] - (T - 1) / 2.0) / max(T - 1, 1)
    xx = (np.arange(W)[None, :] - (W - 1) / 2.0) / max(W - 1, 1)
    ang = rng.uniform(0, 2 * np.pi)
    ramp = 2.0 * (np.cos(ang) * xx + np.sin(ang) * tt)  # in about [-1.4, 1.4]
    coarse = rng.standard_normal((max(4, T // 32), max(4, W // 32)))
    coarse = ndi.gaussian_filter(coarse, (coarse.shape[0] / 8.0, coarse.shape[1] / 8.0), mode="reflect")
    smooth = ndi.zoom(coarse, (T / coarse.shape[0], W / coarse.shape[1]), order=3, mode="nearest")[:T, :W]
    if smooth.shape != shape:  # zoom rounding
        smooth = np.pad(smooth, [(0, T - smooth.shape[0]), (0, W - smooth.shape[1])], mode="edge")
    smooth = (smooth - smooth.mean()) / (smooth.std() + 1e-12)
    field = 0.7 * ramp / np.abs(ramp).max() + 0.3 * smooth / max(np.abs(smooth).max(), 1e-12)
    field = field / max(np.abs(field).max(), 1e-12)
    return 1.0 + gradient * (field - field.mean())
