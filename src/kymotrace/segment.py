"""Running the networks on kymographs: normalisation, padding, tiling, batching.

Every function that runs a network accepts either a bare ``torch.nn.Module`` built by
:func:`kymotrace.models.build_model` or a :class:`kymotrace.models.LoadedModel` (then the
model's own normalisation settings are used). Networks output logits; these helpers return
probabilities (sigmoid for maps, softmax for the classifier) as float32 numpy arrays.

torch is imported only inside the functions that run a network, so :func:`normalize` and
:func:`pad_to_multiple` are cheap to import. Nothing global (threads, seeds) is set here.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Callable, Iterator, NamedTuple

import numpy as np

from .errors import InputError, OptionError

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

__all__ = [
    "DEFAULT_NORMALIZATION",
    "ClassProbabilities",
    "normalize",
    "normalize_with",
    "remove_static",
    "remove_wide_static",
    "remove_spikes",
    "pad_to_multiple",
    "crop_to",
    "predict",
    "predict_decision",
    "decision_function",
    "classifier_input",
    "classify",
    "segmenter_polarity",
]

#: normalisation settings of kymotrace models (stored in every model file)
DEFAULT_NORMALIZATION = {"method": "robust", "version": 1, "low": 50.0, "high": 99.5, "clip": [-2.0, 5.0]}


# --------------------------------------------------------------------------- numpy helpers


def normalize(image: Any, *, low: float = 50.0, high: float = 99.5, clip: tuple[float, float] = (-2.0, 5.0)) -> np.ndarray:
    """Robust intensity normalisation of a kymograph, independent of bit depth and offset.

    ``out = clip((image - p_low) / (p_high - p_low), *clip)`` where ``p_q`` is the q-th
    percentile of the finite pixels: with the defaults the background (median) maps to 0 and
    bright track pixels (99.5th percentile) to about 1. The result is the same for an 8-bit
    image and its 16-bit or float copy scaled by any positive factor and shifted by any offset,
    and normalising twice changes nothing (up to float rounding).

    Parameters
    ----------
    image : array-like, any shape (usually [t, x])
        Integer, boolean or float intensities.
    low, high : float
        Percentiles (0-100) mapped to 0 and 1; ``low < high``.
    clip : (float, float)
        Output range; limits hot pixels and deep dark outliers.

    Returns
    -------
    numpy.ndarray, float32, same shape
        Zeros for a constant image. If the two percentiles coincide (e.g. a few bright
        pixels on a flat background) the scale falls back to the largest distance of any
        pixel from ``p_low``. Non-finite pixels (NaN, inf) become 0 (background).

    Raises
    ------
    InputError
        For a non-numeric or empty array, or one without any finite value.
    """
    if not 0.0 <= low < high <= 100.0:
        raise OptionError(f"normalisation percentiles need 0 <= low < high <= 100, got low={low}, high={high}")
    if not clip[0] < clip[1]:
        raise OptionError(f"normalisation clip range must be (min, max) with min < max, got {tuple(clip)}")
    a = np.asarray(image)
    if a.dtype.kind not in "biuf":
        raise InputError(f"image must hold real numbers, got dtype {a.dtype}")
    if a.size == 0:
        raise InputError(f"image is empty (shape {a.shape})")
    x = a.astype(np.float64)
    finite = np.isfinite(x)
    all_finite = bool(finite.all())
    vals = x.ravel() if all_finite else x[finite]
    if vals.size == 0:
        raise InputError("image has no finite pixel values (all NaN or infinite)")
    lo, hi = np.percentile(vals, [low, high])
    scale = hi - lo
    if not scale > 0:
        scale = max(vals.max() - lo, lo - vals.min())
    if not scale > 0:
        return np.zeros(a.shape, np.float32)
    x -= lo
    x /= scale
    if not all_finite:
        x[~finite] = 0.0
    np.clip(x, clip[0], clip[1], out=x)
    return x.astype(np.float32)


def normalize_with(image: Any, normalization: dict | None = None) -> np.ndarray:
    """:func:`normalize` with the settings of a model file's ``normalization`` dict.

    ``{"method": "robust", "low": 50.0, "high": 99.5, "clip": [-2.0, 5.0]}``; missing keys take
    these defaults, ``None`` means all defaults, and a "version" key is ignored.
    """
    norm = dict(DEFAULT_NORMALIZATION if normalization is None else normalization)
    method = norm.pop("method", "robust")
    norm.pop("version", None)
    if method != "robust":
        raise OptionError(f"unknown normalisation method {method!r}: this kymotrace knows 'robust'; upgrade kymotrace")
    unknown = set(norm) - {"low", "high", "clip"}
    if unknown:
        raise OptionError(f"unknown normalisation setting(s) {sorted(unknown)}; allowed: low, high, clip")
    kwargs = {k: DEFAULT_NORMALIZATION[k] for k in ("low", "high", "clip")}
    kwargs.update(norm)
    return normalize(image, low=float(kwargs["low"]), high=float(kwargs["high"]), clip=tuple(kwargs["clip"]))


def remove_static(image: Any, *, percentile: float = 25.0) -> np.ndarray:
    """The kymograph minus its static background: each column's 25th percentile over time.

    Anything that stays put in a column for more than 75 % of the frames (immobile or
    out-of-focus structures, bright vertical bands, a fixed spatial gradient) is removed, and
    particles that move keep their contrast, also where they cross such a band. A mover that
    pauses in one place keeps its pause unless the pause fills more than 75 % of the frames.
    Used on unidirectional kymographs, where nothing that stays put is a track; a bidirectional
    one may hold stationary particles, which this would erase.

    Session 6, unidirectional module on 10 validation kymographs per set (seeds 50,950,000 on;
    means; with the column median), F1 without -> with: immobile spots (``uni_static``) 0.902 ->
    0.972 (precision 0.841 -> 0.966), paper uni 0.967 -> 0.967, realistic 0.877 -> 0.879, SNR
    1.1 0.978 -> 0.978; on 10 kymographs from ``tools/indep_check.py`` (seeds 500 on) 0.867 ->
    0.903 (means). The median erased pauses longer than half of the frames, so the 25th percentile is
    used: on 8 other validation kymographs per set (seeds 50,995,000 on) F1 was the same within
    0.002 for the 50th, 25th and 10th percentiles on immobile spots, paper uni, realistic uni
    and the independent simulator; on one kymograph with immobile spots that last 20-100 % of
    the frames (the test's) precision was 0.966, 0.926 and 0.886 (0.845 without removal).

    Returns
    -------
    numpy.ndarray, float32, same shape as ``image`` (2-D [t, x])
    """
    a = np.asarray(image, dtype=np.float32)
    if a.ndim != 2:
        raise InputError(f"remove_static needs a 2-D kymograph [t, x], got shape {a.shape}")
    if not 0.0 <= percentile <= 100.0:
        raise OptionError(f"percentile must lie in [0, 100], got {percentile}")
    return a - np.percentile(a, percentile, axis=0, keepdims=True).astype(np.float32)


#: static peaks at least this wide (FWHM, px) count as background structure, not as particles
WIDE_STATIC_FWHM = 10.0
#: the most a wide static peak's median over time may stand above its 25th percentile, in noise sigmas
STATIC_SPREAD = 0.8


def _count_peaks(x: np.ndarray, dip: float) -> int:
    """Peaks of ``x`` told apart by a fall and a rise of more than ``dip`` between them."""
    count, rising, top, low = 0, True, float(x[0]), float(x[0])
    for v in x.tolist():
        if rising:
            if v > top:
                top = v
            elif top - v > dip:
                count, rising, low = count + 1, False, v
        elif v < low:
            low = v
        elif v - low > dip:
            rising, top = True, v
    return count + rising


def remove_wide_static(image: Any, *, min_fwhm: float = WIDE_STATIC_FWHM, percentile: float = 25.0) -> tuple[np.ndarray, int]:
    """The kymograph minus the wide part of its static background, for bidirectional kymographs.

    :func:`remove_static` takes away everything that stays put, which on a bidirectional
    kymograph would erase particles that sit still all along. This takes away only what is
    static *and wide*. The static profile (each column's ``percentile`` over time, lightly
    smoothed) is split into a smooth floor (a grey opening 4 x ``min_fwhm`` wide, at least 41 px,
    smoothed; the profile is continued in straight lines past both ends so that the floor follows
    a gradient or a band up to the image edge) and the peaks above it. Peaks are taken from the
    tallest down; one whose full width at half maximum is at least ``min_fwhm`` px (out-of-focus
    or immobile structures, dim wide bands) is subtracted with the floor, down to the valley on
    either side, and narrower ones (particles that stay put, whose profile is the microscope's
    PSF) are kept. A wide stretch that holds a particle kept this way, or more than one peak
    standing clear of the dips between them (several still particles side by side), is kept
    whole: a band cannot be taken from under a particle without taking some of it. A wide
    peak whose median over time stands more than :data:`STATIC_SPREAD` noise sigmas above its
    ``percentile`` is kept: that is a particle wandering in place, not a static structure. Peaks
    whose half height is within three noise standard errors of the floor are ignored.

    Returns the image (float32) and the number of wide peaks removed. Images under 2 frames, or
    narrower than 2 x ``min_fwhm``, come back unchanged.
    """
    from scipy import ndimage as ndi

    a = np.asarray(image, dtype=np.float32)
    if a.ndim != 2:
        raise InputError(f"remove_wide_static needs a 2-D kymograph [t, x], got shape {a.shape}")
    if not min_fwhm > 0:
        raise OptionError(f"min_fwhm must be positive, got {min_fwhm}")
    if not 0.0 <= percentile <= 100.0:
        raise OptionError(f"percentile must lie in [0, 100], got {percentile}")
    t, w = a.shape
    if t < 2 or w < 2 * min_fwhm:
        return a.copy(), 0
    q25, q50 = np.percentile(a, [percentile, 50.0], axis=0).astype(np.float64)
    # each column's noise, from frame-to-frame differences (robust to a particle passing by)
    sigma = np.median(np.abs(np.diff(a, axis=0)), axis=0).astype(np.float64) / (0.6745 * np.sqrt(2.0)) + 1e-12
    s = ndi.gaussian_filter1d(q25, 1.0, mode="nearest")
    big = int(max(4 * min_fwhm, 41)) | 1
    # continue the profile past both ends in straight lines fitted to its last min_fwhm px
    k = int(min(w, max(3, round(min_fwhm))))
    ext = np.arange(1, big + 1, dtype=np.float64)
    left = np.polyfit(np.arange(k, dtype=np.float64), s[:k], 1)
    right = np.polyfit(np.arange(k, dtype=np.float64), s[-k:], 1)
    padded = np.concatenate([left[1] - left[0] * ext[::-1], s, right[1] + right[0] * (k - 1 + ext)])
    floor = ndi.gaussian_filter1d(ndi.grey_opening(padded, size=big, mode="nearest"), big / 4, mode="nearest")
    floor = np.minimum(floor[big:big + w], s)
    d = s - floor
    d_raw = q25 - floor
    # what a 2-px smoothing takes off: under 0.1 of a band's height (FWHM >= 10 px), about half of
    # a particle's (PSF sigma 1.2 px), also where the particle sits on the band's flank
    fine = ndi.gaussian_filter1d(d_raw, 2.0, mode="nearest")
    wide = np.zeros_like(d)
    kept = np.zeros(w, bool)  # peaks judged particles (narrow, or wandering in place)
    noise = 3.0 * float(np.median(np.abs(np.diff(a, axis=1)))) / np.sqrt(t)
    n = 0
    peaks = np.flatnonzero(np.r_[d[0] > d[1], (d[1:-1] >= d[:-2]) & (d[1:-1] > d[2:]), d[-1] > d[-2]])
    for p in peaks[np.argsort(-d[peaks], kind="stable")]:
        h = d[p]
        if h / 2 <= noise or wide[p] > 0:
            continue
        lo = hi = p
        while lo > 0 and d[lo - 1] > h / 2:
            lo -= 1
        while hi < w - 1 and d[hi + 1] > h / 2:
            hi += 1
        # static structure is there in every frame: its median stands above its 25th percentile by
        # noise alone (0.67 sigma for Gaussian noise); a particle that wanders in place is there
        # only part of the time, and its median stands far above
        if hi - lo + 1 < min_fwhm or float(np.median((q50[lo:hi + 1] - q25[lo:hi + 1]) / sigma[lo:hi + 1])) > STATIC_SPREAD:
            kept[p] = True
            continue
        # down to the valley on either side (where the profile stops falling)
        while lo > 0 and d[lo - 1] < d[lo]:
            lo -= 1
        while hi < w - 1 and d[hi + 1] < d[hi]:
            hi += 1
        # a particle on or beside it (a taller peak kept above, or a narrow bump that a 2-px
        # smoothing would flatten), or several peaks standing clear of the dips between them
        # (still particles side by side): nothing here is removed, for a band cannot be taken
        # away from under a particle without taking some of the particle
        # standing clear: by 6 standard errors of a column's 25th percentile (1.36 sigma / sqrt(t)
        # for Gaussian noise) and by 0.15 of the peak's height
        clear = max(6.0 * 1.36 * float(np.median(sigma[lo:hi + 1])) / np.sqrt(t), 0.15 * h)
        if (kept[lo:hi + 1].any() or _count_peaks(d_raw[lo:hi + 1], clear) > 1
                or float((d_raw - fine)[lo:hi + 1].max()) > clear):
            kept[p] = True
            continue
        wide[lo:hi + 1] = np.maximum(wide[lo:hi + 1], d[lo:hi + 1])
        n += 1
    return a - (floor + wide).astype(np.float32)[None, :], n


def remove_spikes(image: Any, *, ratio: float = 0.85, k: float = 6.0) -> tuple[np.ndarray, int]:
    """Replace single-pixel spikes (hot pixels, cosmic rays, EMCCD clock-induced charge) by the
    median of their 3 x 3 neighbourhood.

    A pixel is a spike when it stands above the brightest of its 8 neighbours by more than
    ``k`` times the image's noise (a robust estimate from differences of horizontally adjacent
    pixels) and by more than ``ratio`` of its height above the darkest of them. A particle
    spreads over several pixels across position (its PSF) and over consecutive frames: with a
    Gaussian PSF of sigma 0.7 px (1.6 px FWHM, sharper than a Nyquist-sampled microscope gives)
    its peak stands 0.64 of its height above its brightest neighbour, and a spike about 1.

    The segmenters never saw spikes in training and answered each with a short false track.
    Session 6, on 10 kymographs per kind from the independent simulator of
    ``tools/indep_check.py`` (``simulate``, seeds 500-509 uni and 1500-1509 bi; means) with
    spikes in 1e-4 of the pixels, track F1 bidirectional 0.748
    -> 0.828 (precision 0.653 -> 0.790) and unidirectional 0.903 -> 0.928, the same as without
    spikes (0.822 and 0.929); on the bench's validation sets, which have no spikes, F1 moved by
    at most 0.001.

    Returns
    -------
    (numpy.ndarray float32, int)
        The filtered image (a copy) and the number of pixels replaced.
    """
    from scipy.ndimage import maximum_filter, minimum_filter

    a = np.asarray(image, dtype=np.float32)
    if a.ndim != 2:
        raise InputError(f"remove_spikes needs a 2-D kymograph [t, x], got shape {a.shape}")
    if min(a.shape) < 3:
        return a.copy(), 0
    diff = np.abs(np.diff(a.astype(np.float64), axis=1))  # float64: no overflow near float32's limits
    noise = 1.4826 * float(np.median(diff)) / np.sqrt(2.0)
    if not noise > 0:  # flat or integer-quantised background: the mean difference (E|d| = 2 sigma / sqrt(pi))
        noise = float(np.mean(diff)) * np.sqrt(np.pi) / 2.0
    ring = np.ones((3, 3), bool)
    ring[1, 1] = False
    excess = a - maximum_filter(a, footprint=ring, mode="mirror")  # mirror: an edge pixel is not its own neighbour
    spike = excess > k * noise
    if spike.any():
        spike &= excess > ratio * (a - minimum_filter(a, footprint=ring, mode="mirror"))
    rr, cc = np.nonzero(spike)
    out = a.copy()
    if rr.size:  # the 3 x 3 median at the spikes only (mirrored at the edges, as detected)
        pad = np.pad(a, 1, mode="reflect")
        hood = np.stack([pad[rr + 1 + dr, cc + 1 + dc] for dr in (-1, 0, 1) for dc in (-1, 0, 1)], axis=1)
        out[rr, cc] = np.median(hood, axis=1)
    return out, int(rr.size)


def pad_to_multiple(image: Any, multiple: int = 16, *, mode: str = "reflect") -> tuple[np.ndarray, tuple[slice, slice]]:
    """Pad the last two axes up to multiples of ``multiple`` (reflecting the image by default).

    The padding is split evenly between both sides (one more pixel after than before when
    odd). Works for any size, including 1 x 1 (numpy reflects repeatedly).

    Parameters
    ----------
    image : array-like, [..., H, W]
    multiple : int
        16 for the depth-4 U-Net (``net.multiple``).
    mode : str
        Any ``numpy.pad`` mode.

    Returns
    -------
    padded : numpy.ndarray, [..., H', W']
        ``image`` itself when no padding is needed.
    window : (slice, slice)
        Where the original lies: ``crop_to(padded, window)`` recovers it.
    """
    a = np.asarray(image)
    if a.ndim < 2 or a.shape[-1] == 0 or a.shape[-2] == 0:
        raise InputError(f"image must be a non-empty 2-D array [t, x], got shape {a.shape}")
    if multiple < 1:
        raise OptionError(f"multiple must be at least 1, got {multiple}")
    h, w = a.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    top, left = ph // 2, pw // 2
    window = (slice(top, top + h), slice(left, left + w))
    if ph == 0 and pw == 0:
        return a, window
    pads = [(0, 0)] * (a.ndim - 2) + [(top, ph - top), (left, pw - left)]
    return np.pad(a, pads, mode=mode), window


def crop_to(array: np.ndarray, window: tuple[slice, slice]) -> np.ndarray:
    """``array[..., rows, cols]`` for a window from :func:`pad_to_multiple` (a view)."""
    return array[..., window[0], window[1]]


def _tile_shape(height: int, width: int, tile: int, multiple: int) -> tuple[int, int]:
    """Tile (rows, cols) for a padded ``height`` x ``width`` image: at most ``tile**2`` px.

    The whole image when it fits in that area; a full-width (or full-height) strip as long as
    the area allows when one side fits in ``tile``; else ``tile`` x ``tile``.
    """
    area = tile * tile
    if height * width <= area:
        return height, width
    if width <= tile:
        return max(tile, area // width // multiple * multiple), width
    if height <= tile:
        return height, max(tile, area // height // multiple * multiple)
    return tile, tile


def _tile_plan(length: int, tile: int, overlap: int) -> list[tuple[int, int, int]]:
    """Tiles along one axis of a padded image: (start, keep_from, keep_to).

    Tiles of length ``min(tile, length)`` start at multiples of the tile step ``tile -
    overlap``, the last one flush with the end; each keeps the part up to the midpoint of its
    overlap with the neighbour, so every kept pixel has at least ``overlap // 2`` px of real
    context on each side that has a neighbour.
    """
    if length <= tile:
        return [(0, 0, length)]
    step = tile - overlap
    starts = list(range(0, length - tile, step)) + [length - tile]
    cuts = [0] + [(starts[i + 1] + starts[i] + tile) // 2 for i in range(len(starts) - 1)] + [length]
    return [(s, cuts[i], cuts[i + 1]) for i, s in enumerate(starts)]


# --------------------------------------------------------------------------- running networks


def _unwrap(model: Any) -> tuple["nn.Module", dict | None]:
    from .models.registry import LoadedModel

    if isinstance(model, LoadedModel):
        return model.net, model.normalization
    return model, None


def _place(module: "nn.Module", device: Any):
    """Device to run on; with an explicit ``device`` the module is moved there (in place)."""
    import torch

    from .models.registry import resolve_device

    if device is None:
        param = next(iter(module.parameters()), None)
        return param.device if param is not None else torch.device("cpu")
    dev = resolve_device(device)
    module.to(dev)
    return dev


@contextlib.contextmanager
def _evaluating(module: "nn.Module") -> Iterator[None]:
    """Eval mode and inference mode for the block; the module's previous mode is restored."""
    import torch

    was_training = module.training
    module.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        module.train(was_training)


def _round_up(value: int, multiple: int) -> int:
    return -(-int(value) // multiple) * multiple


def predict(
    net: Any,
    image: Any,
    *,
    tile: int = 512,
    overlap: int | None = None,
    device: Any = None,
    batch_size: int = 4,
    normalize: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Probability maps of a segmentation network for one kymograph.

    The image is normalised (``normalize=True``), reflect-padded to a multiple of
    ``net.multiple`` (16) and run in eval mode; the padding is cropped off again. Images of
    more than ``tile**2`` px are run as overlapping tiles of at most ``tile**2`` px (square, or
    full-width strips for narrow images), ``batch_size`` at a time, so memory stays bounded (a
    few tiles' activations) whatever the image size.

    Parameters
    ----------
    net : torch.nn.Module or LoadedModel
        A U-Net ("uni" or "bi" segmenter, or any module with ``multiple`` and ``context``).
    image : array-like, [t, x] (or [C, t, x] for a C-channel net with ``normalize=False``)
    tile : int
        Tile side (px), rounded down to a multiple of ``net.multiple``; bounds the pixels per
        tile (``tile**2``) and so the memory of one forward pass.
    overlap : int, optional
        Overlap of neighbouring tiles (px), rounded up to a multiple of ``net.multiple``. The
        default, twice the network's receptive-field radius (224 px for the depth-4 U-Net),
        makes the tiled result equal to the untiled one up to float rounding; a smaller
        overlap is faster but can leave faint seams.
    device : str or torch.device, optional
        "cpu", "cuda", "auto" (CUDA when available); default: where ``net`` already is.
        An explicit device moves ``net`` there.
    batch_size : int
        Tiles per forward pass.
    normalize : bool
        Apply :func:`normalize_with` with the model's settings (defaults for a bare module).
        Normalising an already normalised image changes nothing, so this is safe to leave on.
    progress : callable(done, total), optional
        Called after each batch with the number of tiles done and the total.

    Returns
    -------
    numpy.ndarray, float32, [C_out, t, x]
        Sigmoid probabilities; for "uni" channel 0 = positive slope, 1 = negative slope.
    """
    import torch

    module, norm = _unwrap(net)
    if (getattr(module, "config", None) or {}).get("arch") == "classifier":
        raise OptionError("predict runs segmentation networks; use classify() for the classifier")
    cin = int(getattr(module, "in_channels", 1))
    a = np.asarray(image)
    if a.dtype.kind not in "biuf":
        raise InputError(f"image must hold real numbers, got dtype {a.dtype}")
    if a.ndim == 2 and cin == 1:
        a = a[None]
    elif not (a.ndim == 3 and a.shape[0] == cin):
        want = "[t, x]" if cin == 1 else f"[{cin}, t, x]"
        raise InputError(f"image for this network must be {want}, got shape {a.shape}")
    if a.shape[-1] == 0 or a.shape[-2] == 0:
        raise InputError(f"image is empty (shape {a.shape})")
    if normalize:
        if cin != 1:
            raise OptionError(f"normalize=True needs a 1-channel network; prepare the {cin} channels yourself and pass normalize=False")
        a = normalize_with(a[0], norm)[None]
    a = a.astype(np.float32, copy=False)
    if batch_size < 1:
        raise OptionError(f"batch_size must be at least 1, got {batch_size}")

    m = int(getattr(module, "multiple", 16))
    tile_px = (int(tile) // m) * m
    if tile_px < m:
        raise OptionError(f"tile must be at least {m} px for this network, got {tile}")
    if overlap is None:
        context = getattr(module, "context", None)
        ov = _round_up(2 * context, m) if context is not None else 64
    else:
        if overlap < 0:
            raise OptionError(f"overlap must be >= 0, got {overlap}")
        ov = _round_up(overlap, m)
    if tile_px - ov < m:
        raise OptionError(
            f"tile {tile} px is too small for an overlap of {ov} px: use tile >= {ov + m}"
            + (" or pass a smaller overlap (faster, but tiles may show faint seams)" if overlap is None else "")
        )

    padded, window = pad_to_multiple(a, m)
    padded = np.ascontiguousarray(padded, dtype=np.float32)
    _, hp, wp = padded.shape
    th, tw = _tile_shape(hp, wp, tile_px, m)
    rows, cols = _tile_plan(hp, th, ov), _tile_plan(wp, tw, ov)
    tiles = [(r, c) for r in rows for c in cols]
    dev = _place(module, device)
    _channels_last(module)
    out: np.ndarray | None = None
    with _evaluating(module):
        for first in range(0, len(tiles), batch_size):
            chunk = tiles[first : first + batch_size]
            x = np.stack([padded[:, r[0] : r[0] + th, c[0] : c[0] + tw] for r, c in chunk])
            xt = torch.from_numpy(x).to(dev).contiguous(memory_format=torch.channels_last)
            y = torch.sigmoid(module(xt)).float().cpu().numpy()
            if out is None:
                out = np.empty((y.shape[1], hp, wp), np.float32)
            for k, ((r0, r1, r2), (c0, c1, c2)) in enumerate(chunk):
                out[:, r1:r2, c1:c2] = y[k, :, r1 - r0 : r2 - r0, c1 - c0 : c2 - c0]
            if progress is not None:
                progress(min(first + batch_size, len(tiles)), len(tiles))
    assert out is not None
    return np.ascontiguousarray(crop_to(out, window))


def _channels_last(module: "nn.Module") -> None:
    """Keep a segmenter's weights in channels-last layout (once per network): with channels-last
    inputs its 3x3 convolutions run ~25 % faster on CPU (300x300 forward, 1 thread: 85 -> 63 ms),
    with the same results up to float rounding."""
    import torch

    if not getattr(module, "_kymotrace_channels_last", False):
        module.to(memory_format=torch.channels_last)
        module._kymotrace_channels_last = True


def predict_decision(net: Any, crops: Any, *, device: Any = None) -> np.ndarray:
    """Decision-module maps for a batch of candidate crops, in one forward pass.

    Parameters
    ----------
    net : torch.nn.Module or LoadedModel
        The decision network (3 input channels, 1 output map).
    crops : array-like, [N, 3, 48, 48]
        Per candidate: normalised kymograph crop, skeleton crop, current-track crop (the
        caller prepares all three; nothing is normalised here).
    device : str or torch.device, optional
        As for :func:`predict`.

    Returns
    -------
    numpy.ndarray, float32, [N, 48, 48]
        Sigmoid probabilities; N = 0 gives an empty [0, 48, 48] array.
    """
    import torch

    module, _ = _unwrap(net)
    cin = int(getattr(module, "in_channels", 3))
    a = np.asarray(crops)
    if a.dtype.kind not in "biuf":
        raise InputError(f"decision crops must hold real numbers, got dtype {a.dtype}")
    if a.ndim != 4 or a.shape[1] != cin:
        raise InputError(f"decision crops must be [N, {cin}, H, W], got shape {a.shape}")
    n, _, h, w = a.shape
    if n == 0:
        return np.zeros((0, h, w), np.float32)
    m = int(getattr(module, "multiple", 1))
    if h % m or w % m:
        raise InputError(f"decision crop sides must be multiples of {m}, got {h} x {w}")
    dev = _place(module, device)
    with _evaluating(module):
        x = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(dev)
        y = torch.sigmoid(module(x))
    if y.shape[1] != 1:
        raise InputError(f"a decision network has 1 output map, this one has {y.shape[1]}")
    return y[:, 0].float().cpu().numpy()


def decision_function(net: Any, *, device: Any = None) -> Callable[[np.ndarray], np.ndarray]:
    """A plain callable ``crops [N, 3, 48, 48] -> maps [N, 48, 48]`` for ``kymotrace.trace``."""

    def decide(crops: np.ndarray) -> np.ndarray:
        return predict_decision(net, crops, device=device)

    return decide


class ClassProbabilities(NamedTuple):
    """Classifier output: probabilities (sum 1) that a kymograph is uni- or bidirectional."""

    uni: float
    bi: float


def classifier_input(image: Any, *, size: int = 64, normalization: dict | None = None) -> np.ndarray:
    """The classifier's input for one kymograph: resized to ``size`` x ``size``, then normalised.

    Resizing uses ``skimage.transform.resize`` (bilinear, Gaussian anti-aliasing when
    shrinking, aspect ratio not kept); non-finite pixels are replaced by the median first.

    Returns
    -------
    numpy.ndarray, float32, [size, size]
    """
    from skimage.transform import resize

    a = np.asarray(image)
    if a.ndim != 2 or a.size == 0:
        raise InputError(f"image must be a non-empty 2-D array [t, x], got shape {a.shape}")
    if a.dtype.kind not in "biuf":
        raise InputError(f"image must hold real numbers, got dtype {a.dtype}")
    x = a.astype(np.float32)
    finite = np.isfinite(x)
    if not finite.all():
        if not finite.any():
            raise InputError("image has no finite pixel values (all NaN or infinite)")
        x[~finite] = np.median(x[finite])
    small = resize(x, (size, size), order=1, anti_aliasing=True, preserve_range=True).astype(np.float32)
    return normalize_with(small, normalization)


def classify(net: Any, image: Any, *, device: Any = None, flips: bool = False) -> ClassProbabilities:
    """Probabilities that a kymograph shows unidirectional or bidirectional movement.

    Parameters
    ----------
    net : torch.nn.Module or LoadedModel
        The classifier (2 logits: uni, bi).
    image : array-like, [t, x]
        The raw kymograph (any size, bit depth and offset).
    device : str or torch.device, optional
        As for :func:`predict`.
    flips : bool
        Average the probabilities over the image and its three mirror images (along time, along
        position, both) in one batch: mirroring changes no kymograph's class. With the shipped
        classifier it lifted accuracy on 180 bench-like validation kymographs from 0.989 to 1.000
        and on 400 with immobile spots from 0.912 to 0.922, and cost 0.953 -> 0.945 on 400 of the
        full training variety (model card). The pipeline uses it. Tried and not kept (session
        5): averaging over square windows of non-square kymographs instead of squashing them
        (synthetic wide/tall validation 190/200 -> 200/200 correct, but KymoButler's real
        unidirectional ``testimg.tif``, 100 x 501, went from uni 0.96 to bi 0.79: each 100 x 100
        window looks bidirectional).

    Returns
    -------
    ClassProbabilities
        ``(uni, bi)``, a named tuple of floats that sum to 1.
    """
    import torch

    module, norm = _unwrap(net)
    size = int((getattr(module, "config", None) or {}).get("input_size") or 64)
    x = classifier_input(image, size=size, normalization=norm)
    dev = _place(module, device)
    with _evaluating(module):
        xt = torch.from_numpy(x)[None, None]
        if flips:
            xt = torch.cat([xt, xt.flip(-1), xt.flip(-2), xt.flip(-1, -2)])
        logits = module(xt.to(dev))
        if logits.ndim != 2 or logits.shape[1] != 2:
            raise InputError(f"a classifier outputs 2 logits (uni, bi), this network gives shape {tuple(logits.shape)}")
        p = torch.softmax(logits.float(), dim=1).mean(0).cpu().numpy()
    return ClassProbabilities(uni=float(p[0]), bi=float(p[1]))


def segmenter_polarity(net: Any, image: Any, *, threshold: float | None = None, max_side: int = 512,
                       margin: float = 1.25, device: Any = None) -> bool | None:
    """Ask a segmenter whether a kymograph shows dark tracks on a light background.

    For kymographs whose intensity histogram leaves the polarity unclear
    (:func:`kymotrace.io.detect_polarity`: faint or sparse tracks). The segmenters were trained
    on bright tracks only, so on the wrong polarity they find (almost) none: the image and its
    negative are both run (a central crop of at most ``max_side`` px a side, so large images cost
    no more) and the one with more pixels above ``threshold`` (default: the model's own) wins,
    when it has at least ``margin`` times as many. Returns True (dark-on-light), False
    (bright-on-dark) or None (no tracks either way, or too close to call).

    Session 9, with the shipped bidirectional segmenter, on 400 kymographs of the training variety
    (validation seeds 50,960,000 on; 15 % dark-on-light): of the 80 the histogram left unclear
    (11 of them dark-on-light, so wrongly assumed bright), the segmenter decided all 80 rightly;
    it also had the 4 that the histogram got wrong right, but 5 of 79 that the histogram got
    right wrong, so it is only asked when the histogram is unclear.
    """
    from .io import invert_image

    img = np.asarray(image, np.float32)
    h, w = img.shape
    r0, c0 = max(0, (h - max_side) // 2), max(0, (w - max_side) // 2)
    # single-pixel spikes would look like (tiny) bright tracks: removed first, as analyze() does
    img, _ = remove_spikes(img[r0 : r0 + max_side, c0 : c0 + max_side])
    neg = invert_image(img)
    thr = float(getattr(net, "threshold", 0.5) if threshold is None else threshold)
    bright = float((predict(net, img, device=device)[0] > thr).mean())
    dark = float((predict(net, neg, device=device)[0] > thr).mean())
    if max(bright, dark) <= 0.0:
        return None
    if dark >= margin * bright:
        return True
    if bright >= margin * dark:
        return False
    return None
