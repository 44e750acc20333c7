"""Reading kymographs: file formats, colour channels, axes, polarity and calibration.

Everything that turns a user's file or array into the package convention happens here: a
kymograph is a float32 2-D array ``image[t, x]`` (rows are frames, columns are positions),
tracks bright on a dark background. Other layouts are converted at this boundary:

* ``axes="XT"`` transposes position-by-time images;
* RGB images whose channels are equal become grey; otherwise a channel must be chosen;
* dark-on-light kymographs are detected (or ``invert=`` forces the decision) and inverted;
  the decision is always reported in :attr:`Kymograph.polarity`;
* pixel size (µm/px) and frame interval (s/frame) come from ImageJ or OME metadata when the
  file carries them, and values given by the user override them.

Supported files: TIFF (8/16/32-bit integer and 32/64-bit float, ImageJ and OME metadata),
PNG (grey, grey+alpha, RGB, RGBA, palette; 8 and 16 bit), JPEG, and other single-frame
images Pillow can read (BMP, GIF). Problems raise :class:`~kymotrace.errors.InputError`
(bad file or array) or :class:`~kymotrace.errors.OptionError` (bad option value) with a
message naming the input, what was found and how to fix it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .errors import InputError, OptionError

__all__ = [
    "MIN_SIZE",
    "Calibration",
    "Kymograph",
    "read_kymograph",
    "as_kymograph",
    "check_kymograph_array",
    "detect_polarity",
    "invert_image",
]

logger = logging.getLogger(__name__)

#: Smallest usable side length (px) in both time and position. Tracing needs a few frames of
#: a track plus some context around it (the default shortest track is 3 frames, and the
#: pruning/decision steps look a few pixels around every branch point), and the segmentation
#: network halves the image four times (padding to a multiple of 16): below 8 px more than
#: half of its input would be padding, so results would be meaningless rather than merely poor.
MIN_SIZE = 8

_AXES = ("TX", "XT")
#: largest channel difference (8-bit grey levels) of a JPEG that is still read as grey
_JPEG_GREY_TOLERANCE = 3.0
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_MOVIE_HINT = (
    "kymotrace expects one 2-D kymograph [t, x]: save a single plane (in Fiji: Image > "
    "Duplicate... with one slice), or use `kymotrace kymograph` to make a kymograph from a movie"
)
_AXIS_NAMES = {  # tifffile axis codes
    "T": "T (time)", "Z": "Z (depth)", "Q": "T or Z (unlabelled pages)", "I": "T or Z (unlabelled pages)",
    "C": "C (channel)", "R": "R (tile/position)", "V": "V (series)",
}

# unit name (lower case) -> factor to µm or to s ("\\u00b5" is how ImageJ writes µ)
_LENGTH_UNITS = {
    **dict.fromkeys(["um", "µm", "μm", "\\u00b5m", "micron", "microns", "micrometer", "micrometre"], 1.0),
    **dict.fromkeys(["nm", "nanometer", "nanometre"], 1e-3), "å": 1e-4, "angstrom": 1e-4,
    "mm": 1e3, "cm": 1e4, "m": 1e6,
}
_TIME_UNITS = {
    **dict.fromkeys(["s", "sec", "secs", "second", "seconds"], 1.0),
    **dict.fromkeys(["ms", "msec", "millisecond", "milliseconds"], 1e-3),
    **dict.fromkeys(["us", "µs", "μs", "\\u00b5s"], 1e-6),
    **dict.fromkeys(["min", "mins", "minute", "minutes"], 60.0),
    **dict.fromkeys(["h", "hr", "hour", "hours"], 3600.0),
}


@dataclass
class Calibration:
    """Physical scale of a kymograph.

    Attributes
    ----------
    pixel_size : float or None
        Size of one pixel along the position axis (µm/px); None when unknown.
    frame_interval : float or None
        Time between consecutive frames (s/frame); None when unknown.
    source : str
        Where the values came from: ``"file"`` (ImageJ/OME metadata), ``"user"``, ``"none"``,
        or ``"mixed"`` when one value came from each (see the per-value fields). A
        Calibration made in code with values but without ``source`` counts as ``"user"``.
    pixel_size_source, frame_interval_source : str
        ``"file"``, ``"user"`` or ``"none"`` for each value separately.
    """

    pixel_size: float | None = None
    frame_interval: float | None = None
    source: str = "none"
    pixel_size_source: str = "none"
    frame_interval_source: str = "none"

    def __post_init__(self) -> None:
        # built by hand with values but no source: the values came from the caller
        if self.source == "none" and (self.pixel_size is not None or self.frame_interval is not None):
            self.source = "user"
        # only ``source`` set: apply it to each known value
        if self.source in ("file", "user"):
            if self.pixel_size is not None and self.pixel_size_source == "none":
                self.pixel_size_source = self.source
            if self.frame_interval is not None and self.frame_interval_source == "none":
                self.frame_interval_source = self.source

    @property
    def calibrated(self) -> bool:
        """True when both the pixel size and the frame interval are known."""
        return self.pixel_size is not None and self.frame_interval is not None

    def describe(self) -> str:
        """One line for logs and reports, e.g. ``'0.16 µm/px (file), 0.5 s/frame (user)'``."""
        px = "pixel size unknown" if self.pixel_size is None else (
            f"{self.pixel_size:g} µm/px ({self.pixel_size_source})")
        ft = "frame interval unknown" if self.frame_interval is None else (
            f"{self.frame_interval:g} s/frame ({self.frame_interval_source})")
        return f"{px}, {ft}"


@dataclass
class Kymograph:
    """A kymograph ready for analysis, with a record of how it was read.

    Attributes
    ----------
    image : ndarray of float32, shape (n_frames, n_positions)
        ``image[t, x]``, tracks bright on dark (after any inversion), original intensity scale.
    path : str or None
        Source file, or None for an in-memory array.
    calibration : Calibration
        Pixel size and frame interval, where known.
    inverted : bool
        True if the intensities were inverted (dark-on-light input).
    polarity : str
        The polarity decision, always reported: ``"detected bright-on-dark"``,
        ``"detected dark-on-light (inverted)"``, ``"assumed bright-on-dark (unclear)"``,
        ``"forced bright-on-dark (invert=False)"`` or ``"forced dark-on-light (inverted,
        invert=True)"``.
    dtype : str
        The original pixel data type, e.g. ``"uint16"``.
    axes : str
        The layout as given: ``"TX"`` or ``"XT"`` (``image`` is always [t, x]).
    notes : list of str
        Warnings and decisions made while reading (also logged).
    """

    image: np.ndarray
    path: str | None
    calibration: Calibration
    inverted: bool
    polarity: str
    dtype: str
    axes: str
    notes: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_frames, n_positions)``."""
        return (int(self.image.shape[0]), int(self.image.shape[1]))


# --------------------------------------------------------------------------- public API


def read_kymograph(
    path: str | os.PathLike,
    *,
    channel: int | None = None,
    invert: bool | str | None = None,
    axes: str = "TX",
    pixel_size: float | None = None,
    frame_interval: float | None = None,
    polarity_judge: PolarityJudge | None = None,
) -> Kymograph:
    """Read one kymograph from a TIFF, PNG or JPEG file.

    Parameters
    ----------
    path : str or path-like
        The image file. The format is recognised from its content, not its extension.
    channel : int, optional
        0-based colour channel to use when the channels of an RGB (or multi-channel TIFF)
        image differ. Not needed for grey images or RGB images with equal channels.
    invert : bool, "auto" or None
        None or ``"auto"``: detect dark-on-light kymographs and invert them. True: always
        invert (tracks are dark). False: never invert (tracks are bright).
    axes : {"TX", "XT"}
        ``"TX"``: rows are frames, columns positions (Fiji/KymoButler convention).
        ``"XT"``: rows are positions, columns frames; the image is transposed.
    pixel_size : float, optional
        µm per pixel along the position axis; overrides the file's metadata.
    frame_interval : float, optional
        Seconds per frame; overrides the file's metadata.
    polarity_judge : callable, optional
        With ``invert`` "auto": asked only when the intensity histogram leaves the polarity
        unclear (:func:`detect_polarity`), ``judge(image) -> True`` (dark-on-light), ``False``
        (bright-on-dark) or ``None`` (no opinion). :func:`kymotrace.analyze` passes one that
        asks the bidirectional segmenter (:func:`kymotrace.segment.segmenter_polarity`).

    Returns
    -------
    Kymograph

    Raises
    ------
    InputError
        Missing, empty, corrupt or unsupported file; a stack where one 2-D kymograph belongs;
        differing colour channels without ``channel``; empty, constant, non-finite or too
        small images.
    OptionError
        An option value outside what is allowed.
    """
    axes, invert = _check_options(axes, invert, channel, pixel_size, frame_interval)
    p = Path(path)
    name = str(p)
    head = read_head(
        p, 32, name,
        folder="is a folder, not an image file; give the path of one kymograph image",
        empty="it is not an image: re-export the kymograph",
    )
    notes = _Notes()
    lossy = False
    if head[:4] in _TIFF_MAGIC:
        raw, labels, alpha, file_cal, dtype = _read_tiff(p, axes, notes)
    else:
        raw, labels, alpha, lossy, dtype = _read_pillow(p, head, notes)
        file_cal = {}
    plane = _to_plane(raw, labels, alpha, channel, name, notes, kind="file", lossy=lossy)
    return _finish(plane, name, str(p), dtype, axes, invert, file_cal, pixel_size,
                   frame_interval, notes, polarity_judge)


def as_kymograph(
    array,
    *,
    name: str = "array",
    channel: int | None = None,
    invert: bool | str | None = None,
    axes: str = "TX",
    pixel_size: float | None = None,
    frame_interval: float | None = None,
    polarity_judge: PolarityJudge | None = None,
) -> Kymograph:
    """Validate an in-memory array as a kymograph, with the same rules as :func:`read_kymograph`.

    Parameters
    ----------
    array : array_like, shape (n_frames, n_positions) or (n_frames, n_positions, 3 or 4)
        Intensities (any real numeric dtype). A last axis of length 3 or 4 is read as RGB(A).
        Leading axes of length 1 are dropped.
    name : str
        How the array is named in messages.
    channel, invert, axes, pixel_size, frame_interval, polarity_judge
        As in :func:`read_kymograph`.

    Returns
    -------
    Kymograph
        With ``path=None``.
    """
    axes, invert = _check_options(axes, invert, channel, pixel_size, frame_interval)
    arr = _as_numeric(array, name)
    notes = _Notes()
    if arr.ndim == 3 and arr.shape[-1] in (3, 4) and min(arr.shape[:2]) > 4:
        labels, alpha = "YXS", arr.shape[-1] == 4
    else:
        labels, alpha = "", False  # leading axes become unlabelled planes
    plane = _to_plane(arr, labels, alpha, channel, name, notes, kind="array")
    return _finish(plane, name, None, str(arr.dtype), axes, invert, {}, pixel_size,
                   frame_interval, notes, polarity_judge)


def read_head(p: Path, n: int, name: str, *, folder: str, empty: str) -> bytes:
    """The first ``n`` bytes of file ``p``, or an :class:`InputError` naming ``name`` when it is
    missing, a folder (``folder`` says what to give instead), unreadable, or empty (``empty`` says
    what to do)."""
    if not p.exists():
        raise InputError(f"{name}: file not found; check the path and the working directory")
    if p.is_dir():
        raise InputError(f"{name}: {folder}")
    try:
        with open(p, "rb") as fh:
            head = fh.read(n)
    except OSError as exc:
        raise InputError(f"{name}: cannot open the file ({exc.strerror}); check its permissions") from exc
    if not head:
        raise InputError(f"{name}: the file is empty (0 bytes); {empty}")
    return head


def check_kymograph_array(array, name: str = "array") -> np.ndarray:
    """Check that ``array`` is a usable 2-D kymograph and return it as float32.

    Parameters
    ----------
    array : array_like, shape (n_frames, n_positions)
        Real numeric intensities.
    name : str
        The file or array name used in messages.

    Returns
    -------
    ndarray of float32, shape (n_frames, n_positions)
        A new array (never a view of the input).

    Raises
    ------
    InputError
        Not numeric; no pixels; not 2-D; a side shorter than :data:`MIN_SIZE`; NaN or
        infinite values; all pixels equal.
    """
    arr = _as_numeric(array, name)
    if arr.size == 0:
        raise InputError(f"{name}: the image is empty (shape {arr.shape}, no pixels); "
                         "give a kymograph with at least one frame and one position")
    if arr.ndim != 2:
        if arr.ndim < 2:
            raise InputError(f"{name}: got a {arr.ndim}-D array of shape {arr.shape}; a kymograph is a "
                             "2-D image [t, x] (rows are frames, columns positions)")
        raise InputError(f"{name}: got a {arr.ndim}-D array of shape {arr.shape} (a stack); "
                         f"{_MOVIE_HINT}, e.g. pass array[0] for the first plane")
    if min(arr.shape) < MIN_SIZE:
        raise InputError(f"{name}: the image is {arr.shape[0]} frames x {arr.shape[1]} positions; "
                         f"kymotrace needs at least {MIN_SIZE} px in each direction: use a longer "
                         "recording or a longer line, or check that this is the kymograph and not "
                         "a profile or a thumbnail")
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            n_nan = int(np.isnan(arr).sum())
            n_inf = int(bad.sum()) - n_nan
            t, x = (int(v) for v in np.argwhere(bad)[0])
            raise InputError(f"{name}: {n_nan} NaN and {n_inf} infinite pixel value(s) (first at frame "
                             f"{t}, position {x}); kymotrace needs finite intensities everywhere: replace "
                             "them (e.g. with the background level) before analysing")
    with np.errstate(over="ignore"):  # float64 beyond float32 range: reported just below
        out = arr.astype(np.float32)  # always a copy
    if arr.dtype.kind == "f" and not np.isfinite(out).all():
        raise InputError(f"{name}: intensities up to {np.abs(arr).max():g} do not fit in 32-bit floats; "
                         "rescale the image (e.g. divide by its maximum)")
    lo, hi = float(out.min()), float(out.max())
    if lo == hi:
        raise InputError(f"{name}: every pixel has the same value ({lo:g}); there is nothing to trace: "
                         "check that the right file/plane was exported and that it is not saturated")
    return out


def detect_polarity(image: np.ndarray) -> tuple[bool, float]:
    """Guess whether a kymograph shows dark tracks on a light background.

    Tracks are sparse, so most pixels are background and the median is a background level.
    Bright tracks stretch the upper tail of the intensity distribution away from the
    median; dark tracks stretch the lower tail. Row medians are subtracted first so that
    bleaching over time does not look like a tail.

    Parameters
    ----------
    image : ndarray, shape (n_frames, n_positions)

    Returns
    -------
    dark_on_light : bool
        True if the image looks dark-on-light.
    score : float
        Tail asymmetry in [-1, 1]: positive for bright tracks, negative for dark tracks, near
        0 when unclear (|score| < 0.1 is treated as unclear by :func:`read_kymograph`).
    """
    img = np.asarray(image, dtype=np.float64)
    step = max(1, math.ceil(math.sqrt(img.size / _POLARITY_PIXELS)))
    img = img[::step, ::step]  # a subsample is plenty for large images
    img = img - np.median(img, axis=1, keepdims=True)
    med = float(np.median(img))
    qs = (0.2, 0.5, 1.0, 2.0, 5.0)
    lows = np.percentile(img, qs)
    highs = np.percentile(img, [100.0 - q for q in qs])
    up, down = highs - med, med - lows
    total = up + down
    ok = total > 0
    if not ok.any():
        return False, 0.0
    score = float(np.mean((up[ok] - down[ok]) / total[ok]))
    return score < -_POLARITY_MARGIN, score


_POLARITY_MARGIN = 0.1
_POLARITY_PIXELS = 2**20

#: ``judge(image [t, x]) -> True`` (dark-on-light), ``False`` (bright-on-dark) or ``None`` (unsure)
PolarityJudge = Callable[[np.ndarray], "bool | None"]


def invert_image(image: np.ndarray) -> np.ndarray:
    """The negative of a float32 kymograph within its own range (``max + min - image``): how
    dark-on-light kymographs are turned bright-on-dark."""
    image = np.asarray(image, np.float32)
    return np.float32(image.max()) + np.float32(image.min()) - image


class _Notes(list):
    """The notes of one read: a list of messages that remembers which ones are warnings."""

    def __init__(self) -> None:
        super().__init__()
        self.warnings: set[int] = set()

    def warn(self, msg: str) -> None:
        self.warnings.add(len(self))
        self.append(msg)

    def info(self, msg: str) -> None:
        self.append(msg)

    def log(self, name: str) -> None:
        for i, msg in enumerate(self):
            logger.log(logging.WARNING if i in self.warnings else logging.INFO, "%s: %s", name, msg)


# --------------------------------------------------------------------------- options


def _check_options(axes, invert, channel, pixel_size, frame_interval) -> tuple[str, bool | None]:
    if not isinstance(axes, str) or axes.upper() not in _AXES:
        raise OptionError(f"axes={axes!r} is not allowed; use 'TX' (rows are frames, columns positions: "
                          "the Fiji/KymoButler layout) or 'XT' (rows are positions, columns frames)")
    if invert is None or (isinstance(invert, str) and invert.lower() == "auto"):
        inv: bool | None = None
    elif isinstance(invert, (bool, np.bool_)):
        inv = bool(invert)
    else:
        raise OptionError(f"invert={invert!r} is not allowed; use 'auto' (detect dark-on-light), "
                          "True (tracks are dark: invert) or False (tracks are bright: never invert)")
    if channel is not None and (isinstance(channel, bool) or not isinstance(channel, (int, np.integer))
                                or channel < 0):
        raise OptionError(f"channel={channel!r} is not allowed; use a 0-based channel index "
                          "(0 = red/first channel) or leave it unset for grey images")
    check_calibration(pixel_size, frame_interval, source="file")
    return axes.upper(), inv


def check_calibration(pixel_size, frame_interval, *, source: str) -> None:
    """Refuse a user calibration that is not a positive finite number; ``source`` names where the
    metadata would come from instead ("file" for kymographs, "movie" for movies)."""
    for label, value, unit in (("pixel_size", pixel_size, "µm/px"), ("frame_interval", frame_interval, "s/frame")):
        if value is None:
            continue
        try:
            v = float(value)
        except (TypeError, ValueError):
            v = float("nan")
        if not (math.isfinite(v) and v > 0):
            raise OptionError(f"{label}={value!r} is not allowed; give a positive number in {unit}, "
                              f"or leave it unset to use the {source}'s metadata")


def _as_numeric(array, name: str) -> np.ndarray:
    arr = np.asarray(array)
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{name}: pixel data of type {arr.dtype} is not a real-valued image; give a "
                         "numeric (integer or float) grey-level array")
    if arr.dtype.kind == "b":
        arr = arr.astype(np.uint8)
    return arr


# --------------------------------------------------------------------------- readers


def _not_ome_error(record: logging.LogRecord) -> bool:
    """Log filter: drop tifffile's record about malformed OME-XML (we report it in ``notes``)."""
    return "OME series raised" not in record.getMessage()


@contextlib.contextmanager
def _quiet_ome(caught: list[str] | None = None) -> Iterator[None]:
    """Keep tifffile's log records off stderr while our own code reads a TIFF.

    By default only the record about malformed OME-XML is dropped. With ``caught`` (a list),
    every record of the ``tifffile`` logger is held back and its message appended to the list,
    for callers that report a damaged file in their own error message. Only the block is
    affected: the filter is removed again when it ends.
    """
    tlog = logging.getLogger("tifffile")

    def hold(record: logging.LogRecord) -> bool:
        caught.append(record.getMessage())
        return False

    flt = _not_ome_error if caught is None else hold
    tlog.addFilter(flt)
    try:
        yield
    finally:
        tlog.removeFilter(flt)


def _read_tiff(p: Path, axes: str, notes: _Notes):
    import tifffile

    name = str(p)
    try:
        with _quiet_ome(), tifffile.TiffFile(p) as tf:
            series = tf.series
            if not series:
                raise InputError(f"{name}: cannot read this TIFF (it contains no readable image); the file may "
                                 "be damaged or truncated: re-export it (e.g. Fiji: File > Save As > Tiff...)")
            if len(series) > 1:
                shapes = ", ".join(str(tuple(s.shape)) for s in series[:5])
                raise InputError(f"{name}: this TIFF holds {len(series)} separate images (shapes {shapes}); "
                                 f"{_MOVIE_HINT}")
            s = series[0]
            labels = s.axes
            data = s.asarray()
            page = tf.pages.first
            alpha = "S" in labels and bool(getattr(page, "extrasamples", ()))
            file_cal = _tiff_calibration(tf, page, axes, name, notes)
    except InputError:
        raise
    except Exception as exc:  # tifffile raises many types for damaged files
        raise InputError(f"{name}: cannot read this TIFF ({type(exc).__name__}: {exc}); the file may be "
                         "damaged or truncated: re-export it (e.g. Fiji: File > Save As > Tiff...)") from exc
    return data, labels, alpha, file_cal, str(data.dtype)


def _read_pillow(p: Path, head: bytes, notes: _Notes):
    from PIL import Image, UnidentifiedImageError

    name = str(p)
    if head.startswith(_PNG_MAGIC) and len(head) >= 26 and head[24] == 16 and head[25] in (2, 4, 6):
        # Pillow reduces 16-bit colour PNGs to 8 bit; imagecodecs keeps all 16 bits
        try:
            import imagecodecs

            arr = np.asarray(imagecodecs.png_decode(p.read_bytes()))
        except Exception as exc:
            raise InputError(f"{name}: cannot decode this 16-bit PNG ({exc}); the file may be damaged: "
                             "re-export it") from exc
        alpha = arr.ndim == 3 and arr.shape[-1] in (2, 4)
        return arr, "YXS" if arr.ndim == 3 else "YX", alpha, False, str(arr.dtype)
    try:
        with Image.open(p) as im:
            fmt = im.format
            n_frames = int(getattr(im, "n_frames", 1))
            if n_frames > 1:
                raise InputError(f"{name}: this {fmt} has {n_frames} frames (axis T of shape "
                                 f"({n_frames}, {im.height}, {im.width})); {_MOVIE_HINT}")
            im.load()
            arr, labels, alpha, dtype = _pillow_array(im, name, notes)
    except InputError:
        raise
    except UnidentifiedImageError as exc:
        raise InputError(f"{name}: not an image kymotrace can read (the content is not TIFF, PNG or "
                         "JPEG); save the kymograph as TIFF (preferred) or PNG") from exc
    except Exception as exc:  # truncated or damaged data raise OSError, SyntaxError, ...
        raise InputError(f"{name}: cannot read this image ({type(exc).__name__}: {exc}); the file may be "
                         "damaged or truncated: re-export it") from exc
    if fmt not in ("PNG", "JPEG", "MPO"):
        notes.warn(f"read {fmt} image with Pillow; TIFF or PNG is preferred")
    if fmt in ("JPEG", "MPO"):
        notes.warn("JPEG is lossy: compression artefacts can add noise; TIFF or PNG is preferred")
    return arr, labels, alpha, fmt in ("JPEG", "MPO"), dtype


def _pillow_array(im, name: str, notes: _Notes):
    mode = im.mode
    if mode == "1":
        im = im.convert("L")
    elif mode == "P":
        notes.info("palette image: pixel values were mapped through its colour table")
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode == "PA":
        notes.info("palette image: pixel values were mapped through its colour table")
        im = im.convert("RGBA")
    elif mode in ("La",):
        im = im.convert("LA")
    elif mode in ("RGBa", "RGBX"):
        im = im.convert("RGBA" if mode == "RGBa" else "RGB")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        notes.info(f"{mode} image converted to RGB")
        im = im.convert("RGB")
    arr = np.asarray(im)
    dtype = str(arr.dtype)
    if arr.ndim == 2:
        return arr, "YX", False, dtype
    alpha = im.mode in ("LA", "RGBA")
    return arr, "YXS", alpha, dtype


# --------------------------------------------------------------------------- planes and channels


def _to_plane(arr: np.ndarray, labels: str, alpha: bool, channel: int | None, name: str,
              notes: _Notes, *, kind: str, lossy: bool = False) -> np.ndarray:
    """Reduce ``arr`` with axis ``labels`` (Y, X, S/C for channels, others) to one 2-D plane."""
    arr = _as_numeric(arr, name)
    if arr.size == 0:
        raise InputError(f"{name}: the image is empty (shape {arr.shape}, no pixels); "
                         "give a kymograph with at least one frame and one position")
    if arr.ndim < 2:
        return arr  # check_kymograph_array explains
    if len(labels) != arr.ndim:  # unknown layout: treat leading axes as unlabelled
        labels = "Q" * (arr.ndim - 2) + "YX"
    # drop length-1 axes other than Y and X
    keep = [i for i, (ax, n) in enumerate(zip(labels, arr.shape)) if n != 1 or ax in "YX"]
    if len(keep) != arr.ndim:
        arr = arr.reshape([arr.shape[i] for i in keep])
        labels = "".join(labels[i] for i in keep)
    chan_axes = [i for i, ax in enumerate(labels) if ax in "SC"]
    if len(chan_axes) == 1:
        arr = _pick_channel(arr, chan_axes[0], alpha, channel, name, notes, lossy)
        labels = labels.replace(labels[chan_axes[0]], "", 1)
    elif channel is not None:
        notes.warn(f"channel={channel} ignored: the image has a single channel")
    extra = [(ax, n) for ax, n in zip(labels, arr.shape) if ax not in "YX"]
    if extra:
        ax, n = extra[0]
        what = "TIFF has" if kind == "file" else "array has"
        axname = _AXIS_NAMES.get(ax, ax)
        raise InputError(f"{name}: this {what} {n} planes (axis {axname} of shape {tuple(arr.shape)}, axes "
                         f"{labels}); {_MOVIE_HINT}")
    if arr.ndim != 2:
        raise InputError(f"{name}: got an image of shape {arr.shape}; a kymograph is a 2-D image [t, x]")
    return arr


def _pick_channel(arr: np.ndarray, axis: int, alpha: bool, channel: int | None, name: str,
                  notes: _Notes, lossy: bool) -> np.ndarray:
    arr = np.moveaxis(arr, axis, -1)
    n = arr.shape[-1]
    if alpha and n >= 2:
        a = arr[..., -1]
        if np.any(a != a.max()):
            notes.warn("the image has transparent pixels; transparency was ignored")
        arr = arr[..., :-1]
        n -= 1
    if n == 1:
        if channel not in (None, 0):
            notes.warn(f"channel={channel} ignored: the image has a single colour channel")
        return arr[..., 0]
    if channel is not None:
        if channel >= n:
            raise OptionError(f"{name}: channel={channel} does not exist; this image has {n} channels "
                              f"(use 0..{n - 1})")
        notes.info(f"used channel {channel} of {n}")
        return arr[..., channel]
    first = arr[..., 0]
    diffs = [np.max(np.abs(arr[..., c].astype(np.float64) - first)) for c in range(1, n)]
    if max(diffs) == 0:
        return first
    # JPEG re-encodes grey content with small colour errors; allow a couple of grey levels
    if lossy and max(diffs) <= _JPEG_GREY_TOLERANCE:
        notes.info("colour channels are equal within JPEG error: used their mean")
        return arr.mean(axis=-1)
    names = ["red", "green", "blue"] if n == 3 else [f"channel {c}" for c in range(n)]
    means = ", ".join(f"{c}={names[c]} mean {float(arr[..., c].mean()):.4g}" for c in range(n))
    raise InputError(f"{name}: the image has {n} colour channels with different content ({means}); "
                     f"kymotrace needs one grey kymograph: choose a channel with channel=0..{n - 1} "
                     "(command line: --channel N), or save the kymograph as a greyscale image")


# --------------------------------------------------------------------------- finishing


def _finish(plane, name, path, dtype, axes, invert, file_cal, pixel_size, frame_interval, notes, judge=None):
    if axes == "XT":
        plane = plane.T
        notes.info("axes='XT': transposed position x time to [t, x]")
    image = check_kymograph_array(plane, name)
    if invert is None:
        dark, score = detect_polarity(image)
        if dark:
            inverted, polarity = True, "detected dark-on-light (inverted)"
        elif score < _POLARITY_MARGIN:
            verdict = judge(image) if judge is not None else None
            if verdict is None:
                inverted, polarity = False, "assumed bright-on-dark (unclear)"
                notes.warn(f"polarity is unclear (tail asymmetry {score:+.2f}); assumed bright tracks on a "
                           "dark background: use invert=True (--invert) if the tracks are dark")
            else:
                inverted = bool(verdict)
                polarity = (f"{'dark-on-light (inverted)' if inverted else 'bright-on-dark'}, decided by the "
                            f"segmenter (the histogram was unclear: tail asymmetry {score:+.2f})")
                notes.info(f"polarity {polarity}; force it with invert=True/False (--invert yes/no) if this is wrong")
        else:
            inverted, polarity = False, "detected bright-on-dark"
    elif invert:
        inverted, polarity = True, "forced dark-on-light (inverted, invert=True)"
    else:
        inverted, polarity = False, "forced bright-on-dark (invert=False)"
    if inverted:
        image = invert_image(image)
    cal = _merge_calibration(file_cal, pixel_size, frame_interval)
    notes.log(name)
    logger.info("%s: %d frames x %d positions, %s, polarity %s, %s", name, image.shape[0],
                image.shape[1], dtype, polarity, cal.describe())
    return Kymograph(image=image, path=path, calibration=cal, inverted=inverted, polarity=polarity,
                     dtype=dtype, axes=axes, notes=list(notes))


def _merge_calibration(file_cal: dict, pixel_size, frame_interval) -> Calibration:
    px, ft = file_cal.get("pixel_size"), file_cal.get("frame_interval")
    px_src = "file" if px is not None else "none"
    ft_src = "file" if ft is not None else "none"
    if pixel_size is not None:
        px, px_src = float(pixel_size), "user"
    if frame_interval is not None:
        ft, ft_src = float(frame_interval), "user"
    known = {s for s in (px_src, ft_src) if s != "none"}
    source = known.pop() if len(known) == 1 else ("mixed" if known else "none")
    return Calibration(pixel_size=px, frame_interval=ft, source=source,
                       pixel_size_source=px_src, frame_interval_source=ft_src)


# --------------------------------------------------------------------------- calibration


def _tiff_calibration(tf, page, axes: str, name: str, notes: _Notes) -> dict:
    """Pixel size (µm) and frame interval (s) from ImageJ or OME metadata, where present.

    ImageJ: resolution tags (pixels per ``unit``; ``yunit``/``xunit`` when the axes differ, so
    a kymograph whose time axis is calibrated in seconds gives the frame interval) and
    ``finterval`` (with ``tunit``). ImageJ's ``spacing`` is the Z step of a stack and does not
    apply to a 2-D kymograph. OME: ``PhysicalSizeX`` (``PhysicalSizeY`` for XT) and
    ``TimeIncrement``, with their units. Bare TIFF resolution tags (often a screen dpi) are
    not used.
    """
    cal: dict = {}
    # the file's x axis (columns) is position for TX, time for XT; y (rows) the other way round
    pos_axis, time_axis = ("x", "y") if axes == "TX" else ("y", "x")
    if tf.is_imagej:
        md = tf.imagej_metadata or {}
        unit = str(md.get("unit", "")).strip()
        units = {"x": str(md.get("xunit", unit)).strip(), "y": str(md.get("yunit", unit)).strip()}
        res = {"x": _resolution(page, "XResolution"), "y": _resolution(page, "YResolution")}
        pu, pr = units[pos_axis], res[pos_axis]
        if pr and pu and pu.lower() not in ("pixel", "pixels", "px", ""):
            f = _LENGTH_UNITS.get(pu.lower())
            if f is None:
                notes.warn(f"ImageJ unit {pu!r} not understood; pixel size ignored (give it with pixel_size=)")
            else:
                cal["pixel_size"] = f / pr
        if "finterval" in md:
            tu = str(md.get("tunit", "s")).strip().lower()
            f = _TIME_UNITS.get(tu)
            fi = _positive(md["finterval"])
            if f is None:
                notes.warn(f"ImageJ time unit {tu!r} not understood; frame interval ignored")
            elif fi is not None:
                cal["frame_interval"] = fi * f
        tu = units[time_axis].lower()
        if "frame_interval" not in cal and res[time_axis] and tu in _TIME_UNITS:
            cal["frame_interval"] = _TIME_UNITS[tu] / res[time_axis]
    if tf.is_ome:
        _ome_calibration(tf.pages.first.description, pos_axis, cal, notes)
    if cal:
        notes.info("calibration from file metadata: " + ", ".join(
            f"{k} {v:g} {'µm/px' if k == 'pixel_size' else 's/frame'}" for k, v in cal.items()))
    return cal


def _ome_calibration(xml: str, pos_axis: str, cal: dict, notes: _Notes) -> None:
    try:
        root = ET.fromstring(xml.encode("utf-8") if isinstance(xml, str) else xml)
    except ET.ParseError as exc:
        notes.warn(f"OME-XML metadata is malformed ({exc}); the image was read from its TIFF pages "
                   "and no calibration was taken from it (give pixel_size= and frame_interval=)")
        return
    pixels = next((el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "Pixels"), None)
    if pixels is None:
        return
    key = "PhysicalSizeX" if pos_axis == "x" else "PhysicalSizeY"
    if "pixel_size" not in cal and key in pixels.attrib:
        unit = pixels.attrib.get(key + "Unit", "µm")
        f, v = _LENGTH_UNITS.get(unit.lower()), _positive(pixels.attrib[key])
        if f is None:
            notes.warn(f"OME unit {unit!r} not understood; pixel size ignored")
        elif v is not None:
            cal["pixel_size"] = v * f
    if "frame_interval" not in cal and "TimeIncrement" in pixels.attrib:
        unit = pixels.attrib.get("TimeIncrementUnit", "s")
        f, v = _TIME_UNITS.get(unit.lower()), _positive(pixels.attrib["TimeIncrement"])
        if f is None:
            notes.warn(f"OME time unit {unit!r} not understood; frame interval ignored")
        elif v is not None:
            cal["frame_interval"] = v * f


def _resolution(page, tag: str) -> float | None:
    """Pixels per unit from a TIFF resolution tag, or None when absent or meaningless."""
    t = page.tags.get(tag)
    if t is None:
        return None
    value = t.value
    try:
        num, den = value if isinstance(value, tuple) else (value, 1)
        r = float(num) / float(den)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return r if math.isfinite(r) and r > 0 else None


def _positive(value) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None
