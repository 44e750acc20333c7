"""A classical (non-learned) tracer: the honest baseline of ``kymotrace bench``.

Pipeline: robust normalisation -> multi-scale ridge filter (Sato, bright ridges) ->
threshold at a robust multiple of the filter response's noise -> skeleton -> junction pixels
removed so crossings split into branches -> connected components -> one position per frame
(the mean column of the component's pixels in that row). Components shorter than
``min_frames`` frames or smaller than ``min_size`` px are dropped.

It neither bridges gaps nor resolves crossings, which is exactly what the paper's
Fourier/wavelet baselines failed at, so it is a fair floor for the neural method.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import sato
from skimage.morphology import remove_small_objects, skeletonize

from .track import Track, renumber
from .trace.uni import components_to_tracks

__all__ = ["trace_baseline"]


def _normalize(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image, dtype=np.float64)
    med = np.median(img)
    mad = np.median(np.abs(img - med)) * 1.4826
    if not np.isfinite(mad) or mad <= 0:
        mad = float(img.std()) or 1.0
    return (img - med) / mad


def _junctions(skel: np.ndarray) -> np.ndarray:
    """Skeleton pixels with more than two skeleton neighbours (8-connectivity)."""
    nb = ndi.convolve(skel.astype(np.uint8), np.ones((3, 3), np.uint8), mode="constant") - skel
    return skel & (nb > 2)


def trace_baseline(
    image: np.ndarray,
    *,
    sigmas: tuple[float, ...] = (1.0, 2.0, 3.0),
    k: float = 3.0,
    min_size: int = 5,
    min_frames: int = 3,
) -> list[Track]:
    """Trace tracks in a bright-on-dark kymograph ``image[t, x]`` without a neural network.

    Parameters
    ----------
    image : ndarray, shape (frames, positions)
    sigmas : ridge filter scales (px)
    k : threshold, in robust standard deviations of the ridge response above its median
    min_size, min_frames : drop components smaller than this many px / shorter than this many frames

    Returns
    -------
    list of Track, numbered from 1, positions in px
    """
    img = ndi.gaussian_filter(_normalize(image), 0.7)
    ridge = sato(img, sigmas=sigmas, black_ridges=False, mode="reflect")
    med = np.median(ridge)
    mad = np.median(np.abs(ridge - med)) * 1.4826 or 1e-9
    mask = ridge > med + k * mad
    mask = remove_small_objects(mask, max_size=min_size) if mask.any() else mask
    skel = skeletonize(mask)
    skel &= ~ndi.binary_dilation(_junctions(skel), structure=np.ones((3, 3), bool))
    tracks = components_to_tracks(skel, min_size=min_size, min_frames=min_frames)
    return renumber(tracks)
