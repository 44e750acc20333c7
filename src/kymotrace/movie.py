"""Kymographs from time-lapse movies: read a movie, sample it along a drawn path, stack the rows.

This is what Fiji's *KymographBuilder*/*Multi Kymograph* do and what the KymoButler paper's
Figure 1A shows: a path is drawn along an axon (or dendrite, cilium...), the intensity along it
is sampled in every frame, and the profiles are stacked: row ``t`` of the kymograph is the
profile of frame ``t``, column ``i`` lies ``i`` px along the path from its first point.

Movies
    TIFF stacks ``(T, Y, X)`` and hyperstacks with channels and/or z (ImageJ, OME, plain
    multi-page TIFF, read with tifffile) or numpy arrays. Axes come from the file's metadata;
    unlabelled pages are frames; a stack labelled only as z-slices is read as frames (a note
    says so). With several channels, one is chosen (``channel=``); with z-planes, their maximum
    is taken (``z="max"``, the default) or one plane is picked (``z=N``). Pixel size and frame
    interval come from ImageJ or OME metadata (user values override them). Files are read one
    plane at a time (uncompressed contiguous data by direct reads at the plane's offset, other
    files page by page), so memory does not grow with movie length; the whole movie is never
    loaded.
Paths
    Polylines of ``(x, y)`` pixel coordinates, 0-based, integer values at pixel centres (the
    ImageJ convention for line selections), given as text ``"x0,y0 x1,y1 ..."``, an array of
    shape ``(n, 2)``, or ImageJ line, segmented-line (polyline) and freehand-line ROIs (a
    ``.roi`` file or a RoiSet ``.zip``, read with roifile). Every point of the path must lie in
    the image (``-0.5 <= x <= width - 0.5``, the same for ``y``): a path leaving the image is
    **refused** with a message naming the point and the image size, never clipped silently.
Sampling
    The path is resampled every 1 px of arc length from its first point (``floor(length) + 1``
    columns; a last piece shorter than 1 px is dropped) and sampled with bilinear interpolation
    (``scipy.ndimage.map_coordinates``, ``order=1``). With pixel sizes that differ in x and y,
    arc length is measured in physical units (1 column = 1 x-pixel size).
Width
    With ``width=W`` each column is the mean (or max, ``reduce="max"``) of ``W`` samples on the
    cross-section through its centre point, 1 px apart and centred on the path (offsets
    ``-(W-1)/2 ... (W-1)/2``); ``W`` is at most the image's larger side. The cross-section
    direction is the normal of the path's tangent angle smoothed along the arc length with a
    Gaussian of sigma ``max(1, (W-1)/2)`` px (on a straight piece it is exactly perpendicular).
    A sharp corner of a polyline therefore turns the cross-sections gradually, like a fan: on the
    outer side of the corner consecutive cross-sections stay at most about 2 px apart (no gap,
    unlike perpendiculars that jump at the vertex), and on the inner side they never cross each
    other (no image point is counted in two columns). The smoothing grows (up to 8 times) until
    the cross-sections do not cross; a turn too sharp for the width, or a path doubling back, is
    reported in the notes. Samples of the band that fall outside the image are left out of the
    mean/max (a note counts them).
Calibration
    The kymograph's pixel size is the movie's (µm/px along the path) and its frame interval the
    movie's (s/frame). :func:`save_kymograph_tiff` writes them as ImageJ metadata (x: µm via the
    resolution tag and ``unit``; y: s via the resolution tag, ``yunit`` and ``finterval``), so
    Fiji shows µm and s and :func:`kymotrace.io.read_kymograph` reads back the same values.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .errors import InputError, OptionError
from .io import Calibration, Kymograph, _Notes, check_calibration
from .outputs import safe_stem

__all__ = [
    "REDUCE",
    "Movie",
    "open_movie",
    "PathGeometry",
    "RoiPath",
    "parse_path",
    "read_roi_paths",
    "path_geometry",
    "sample_frame",
    "MovieKymograph",
    "make_kymograph",
    "iter_kymograph_rows",
    "save_kymograph_tiff",
    "save_preview_png",
    "noise_gain",
]

logger = logging.getLogger(__name__)

#: reductions across the line width
REDUCE = ("mean", "max")
#: axes a numpy movie may have: time, depth, channel (S: colour samples), rows, columns
_ARRAY_AXES = set("TZCSYX")
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
#: the smoothing of the cross-section direction grows by this factor until cross-sections do not
#: cross, at most _MAX_GROWTH times the initial sigma
_SIGMA_STEP = 1.25
_MAX_GROWTH = 8.0
#: arc-length step (px) of the grid on which the cross-section direction is computed
_FINE = 0.1
#: the widest line (px) accepted where the image size is not known (a ROI file, a path without an
#: image); with an image, a line may be at most as wide as the image's larger side
MAX_WIDTH = 10_000
_AXIS_NAMES = {"T": "T (time)", "Z": "Z (depth)", "C": "C (channel)", "S": "S (colour samples)",
               "Q": "Q (unlabelled pages)", "I": "I (unlabelled pages)", "R": "R (tile/position)",
               "V": "V (series)"}


# =========================================================================== movies


class Movie:
    """A time-lapse movie opened for reading one plane at a time.

    Parameters
    ----------
    source : path-like or array_like
        A TIFF file (stack, ImageJ/OME hyperstack) or an array. The file is opened and kept open
        until :meth:`close` (or the end of a ``with`` block); nothing else is read up front.
    axes : str, optional
        Arrays only: the meaning of each axis, letters from ``T Z C Y X`` (``S`` is read as
        ``C``), e.g. ``"TCYX"``. Default ``"TYX"`` for 3-D arrays; required for 4-D and 5-D.
    name : str, optional
        How the movie is named in messages (default: the file path, or ``"array"``).

    Attributes
    ----------
    name : str
    path : str or None
        The file, or None for an array.
    axes : str
        The axes as found (e.g. ``"TZCYX"``; the letters of a TIFF follow tifffile).
    n_frames, n_z, n_channels, height, width : int
    dtype : str
        Pixel data type.
    pixel_size, pixel_size_y : float or None
        µm per pixel in x and in y, from the metadata.
    frame_interval : float or None
        Seconds per frame, from the metadata.
    notes : list of str
        Decisions made while opening (axis interpretation, calibration found).
    streaming : bool
        True when planes are read from disk one at a time.

    Raises
    ------
    InputError
        Missing, empty, truncated or corrupt file; a 2-D image (or single frame) where a movie
        belongs; axes kymotrace cannot interpret; pixel data that is not real (e.g. complex).
    """

    def __init__(self, source: Any, *, axes: str | None = None, name: str | None = None) -> None:
        self.notes = _Notes()
        self.pixel_size: float | None = None
        self.pixel_size_y: float | None = None
        self.frame_interval: float | None = None
        self._tf = None
        self._fh = None
        self._array: np.ndarray | None = None
        if isinstance(source, (str, os.PathLike)):
            self.path: str | None = str(source)
            self.name = name or self.path
            if axes is not None:
                raise OptionError(f"{self.name}: axes= applies to arrays only; a TIFF's axes come from its metadata")
            self._open_tiff(Path(source))
        else:
            self.path = None
            self.name = name or "array"
            self._open_array(source, axes)
        self.streaming = self._tf is not None
        if self.n_frames < 2:
            raise InputError(
                f"{self.name}: the movie has a single frame ({self.height} x {self.width} px, axes "
                f"{self.axes}); a kymograph needs a time-lapse of several frames. Check that the whole "
                "stack was saved, or that its frames are not labelled as another axis")

    # ------------------------------------------------------------------ construction
    def _open_array(self, source: Any, axes: str | None) -> None:
        arr = np.asanyarray(source)
        if arr.dtype.kind not in "biuf":
            raise InputError(f"{self.name}: pixel data of type {arr.dtype} is not a real-valued image")
        if arr.ndim == 2:
            raise InputError(_two_d_message(self.name, arr.shape))
        if arr.ndim < 2 or arr.ndim > 5:
            raise InputError(f"{self.name}: got a {arr.ndim}-D array of shape {arr.shape}; a movie is "
                             "(T, Y, X), optionally with Z and C axes (give axes=, e.g. 'TCYX')")
        if axes is None:
            if arr.ndim != 3:
                raise OptionError(f"{self.name}: a {arr.ndim}-D array of shape {arr.shape} needs axes=, "
                                  "letters from T, Z, C, Y, X such as 'TCYX' or 'TZCYX'")
            axes = "TYX"
        ax = str(axes).upper().replace("S", "C")
        if len(ax) != arr.ndim or set(ax) - _ARRAY_AXES or len(set(ax)) != len(ax) or "Y" not in ax or "X" not in ax:
            raise OptionError(f"{self.name}: axes={axes!r} does not describe an array of shape {arr.shape}; "
                              "give one distinct letter per axis from T, Z, C, Y, X, including Y and X")
        if "T" not in ax:
            raise OptionError(f"{self.name}: axes={axes!r} has no T (time) axis; a movie needs frames")
        self.axes = ax
        full = arr
        for letter in "TZCYX":  # add missing axes as length 1, then order them T, Z, C, Y, X
            if letter not in ax:
                full = full[..., None]
                ax += letter
        self._array = np.moveaxis(full, [ax.index(c) for c in "TZCYX"], range(5))
        self.n_frames, self.n_z, self.n_channels, self.height, self.width = (int(n) for n in self._array.shape)
        self.dtype = str(arr.dtype)

    def _open_tiff(self, p: Path) -> None:
        import tifffile

        from .io import _tiff_calibration, read_head

        name = self.name
        head = read_head(
            p, 4, name,
            folder="is a folder, not a movie file; give the path of one TIFF stack",
            empty="it is not a movie: re-export it",
        )
        if head not in _TIFF_MAGIC:
            raise InputError(f"{name}: not a TIFF file; kymotrace reads movies as TIFF stacks (in Fiji: "
                             "File > Save As > Tiff...)")
        with self._quiet_tifffile():
            try:
                tf = tifffile.TiffFile(p)
            except Exception as exc:  # tifffile raises many types for damaged files
                raise InputError(f"{name}: cannot read this TIFF ({type(exc).__name__}: {exc}); the file may be "
                                 "damaged or truncated: re-export it") from exc
            self._tf = tf
            try:
                self._setup_tiff(tf, name)
                page = tf.pages.first
                notes_y = _Notes()
                cal_x = _tiff_calibration(tf, page, "TX", name, self.notes)
                cal_y = _tiff_calibration(tf, page, "XT", name, notes_y)
            except InputError:
                self.close()
                raise
            except Exception as exc:
                self.close()
                raise InputError(f"{name}: cannot read this TIFF ({type(exc).__name__}: {exc}); the file may be "
                                 "damaged or truncated: re-export it") from exc
        self.pixel_size = cal_x.get("pixel_size")
        self.pixel_size_y = cal_y.get("pixel_size", self.pixel_size)
        self.frame_interval = cal_x.get("frame_interval")
        if self.pixel_size is None and self.pixel_size_y is not None:
            self.pixel_size = self.pixel_size_y

    @contextlib.contextmanager
    def _quiet_tifffile(self) -> Iterator[None]:
        """While our code reads the TIFF, keep tifffile's log records off stderr (the problems they
        describe reach the user as our own error); they are logged at debug level instead."""
        from .io import _quiet_ome

        caught: list[str] = []
        try:
            with _quiet_ome(caught):
                yield
        finally:
            for msg in caught:
                logger.debug("%s: tifffile: %s", self.name, msg)

    def _setup_tiff(self, tf, name: str) -> None:
        series = tf.series
        if not series:
            raise InputError(f"{name}: cannot read this TIFF (it contains no readable image); the file may be "
                             "damaged or truncated: re-export it")
        if len(series) > 1:
            self.notes.warn(f"the TIFF holds {len(series)} image series; the first one "
                            f"(shape {tuple(series[0].shape)}, axes {series[0].axes}) was used")
        s = series[0]
        self._series = s
        dtype = np.dtype(s.dtype)
        if dtype.kind not in "biuf":
            what = "complex numbers" if dtype.kind == "c" else "not grey levels"
            raise InputError(f"{name}: pixel data of type {dtype} ({what}) is not a real-valued image; save the "
                             "movie with real grey levels (8-, 16- or 32-bit integer or float; in Fiji: "
                             "Image > Type)")
        full_axes = s.get_axes(False)
        full_shape = tuple(int(n) for n in s.get_shape(False))
        self.axes = s.axes
        key = s.keyframe
        page_size = int(np.prod(key.shape))
        # split the axes into those that index pages and those inside one page
        i, acc = len(full_shape), 1
        while acc < page_size and i > 0:
            i -= 1
            acc *= full_shape[i]
        if acc != page_size:
            raise InputError(f"{name}: cannot map the TIFF's pages to its axes {full_axes} {full_shape}; "
                             "re-save the movie as a plain TIFF stack")
        self._page_axes, self._page_shape = full_axes[:i], full_shape[:i]
        self._in_axes, self._in_shape = full_axes[i:], full_shape[i:]
        sizes: dict[str, int] = {}
        for a, n in zip(full_axes, full_shape):
            if a in sizes and n > 1 and sizes[a] > 1:
                raise InputError(f"{name}: axis {a} appears twice in {full_axes}; cannot interpret this TIFF")
            sizes[a] = max(sizes.get(a, 1), n)
        if "Y" not in sizes or "X" not in sizes:
            raise InputError(f"{name}: the TIFF has no Y and X image axes (axes {full_axes}); cannot read it as a movie")
        stack = [a for a in full_axes if a not in "YX" and sizes[a] > 1]
        announced = (tf.imagej_metadata or {}).get("images") if tf.is_imagej else None
        planes = int(np.prod([sizes[a] for a in sizes if a not in "YXS"]))
        if isinstance(announced, (int, float)) and announced > planes:
            raise InputError(f"{name}: the ImageJ metadata announces {int(announced)} images but only {planes} can be "
                             "read; the file is truncated or damaged: re-export the movie")
        if not stack:
            cut = _cut_short(tf, tf.pages.first)
            if cut:
                raise InputError(f"{name}: the file is truncated or corrupt: {cut} lies beyond its end "
                                 f"({tf.filehandle.size} bytes), so no more than one {sizes['Y']} x {sizes['X']} px "
                                 "image could be read; re-export the movie (or copy it again if a copy was cut short)")
            raise InputError(_two_d_message(name, (sizes["Y"], sizes["X"])))
        chans = [a for a in stack if a in "CS"]
        if len(chans) > 1:
            raise InputError(f"{name}: the TIFF has both colour samples and channels (axes {full_axes}, shape "
                             f"{full_shape}); save one grey channel per plane (Fiji: Image > Color > Split Channels)")
        roles: dict[str, str] = {}
        if "T" in stack:
            roles["T"] = "T"
        else:
            for a in "QIZ":
                if a in stack:
                    roles[a] = "T"
                    what = "unlabelled pages" if a in "QI" else "slices (Z)"
                    self.notes.info(f"the TIFF has no time axis; its {sizes[a]} {what} were read as frames"
                                    + (" (if they are z-planes of one time point, this is not a movie)" if a == "Z" else ""))
                    break
            else:
                if chans and sizes[chans[0]] > 4:
                    roles[chans[0]] = "T"
                    self.notes.warn(f"the TIFF labels its {sizes[chans[0]]} planes as channels and has no time axis; "
                                    "they were read as frames")
                    chans = []
        for a in stack:
            if a in roles:
                continue
            if a == "Z":
                roles[a] = "Z"
            elif a in "CS" and a in chans:
                roles[a] = "C"
            else:
                raise InputError(f"{name}: the TIFF has an axis kymotrace cannot use: {_AXIS_NAMES.get(a, a)} of "
                                 f"length {sizes[a]} (axes {full_axes}, shape {full_shape}); save one time-lapse "
                                 "(T, Y, X) per file, with optional Z and C axes")
        self._roles = roles
        role_size = {r: sizes[a] for a, r in roles.items()}
        self.n_frames = role_size.get("T", 1)
        self.n_z = role_size.get("Z", 1)
        self.n_channels = role_size.get("C", 1)
        self.height, self.width = sizes["Y"], sizes["X"]
        self.dtype = str(dtype)
        # contiguous uncompressed data: read a plane at its offset without decoding pages
        self._offset = None
        if s.dataoffset is not None and self._page_axes is not None:
            self._offset = int(s.dataoffset)
            self._file_dtype = dtype.newbyteorder(tf.byteorder)
            self._page_bytes = page_size * dtype.itemsize
            self._fh = open(tf.filehandle.path, "rb")

    # ------------------------------------------------------------------ reading
    @property
    def shape(self) -> tuple[int, int, int]:
        """``(n_frames, height, width)``."""
        return (self.n_frames, self.height, self.width)

    def plane(self, t: int, z: int = 0, c: int = 0) -> np.ndarray:
        """One 2-D plane ``(Y, X)`` in its stored dtype (a new array, never a view of the file)."""
        if self._array is not None:
            return np.array(self._array[t, z, c])
        idx = {"T": t, "Z": z, "C": c}
        try:
            pidx = [idx[self._roles[a]] if a in self._roles else 0 for a in self._page_axes]
            page_index = int(np.ravel_multi_index(pidx, self._page_shape)) if self._page_axes else 0
            if self._offset is not None:
                buf = np.empty(self._in_shape, self._file_dtype)
                self._fh.seek(self._offset + page_index * self._page_bytes)
                n = self._fh.readinto(memoryview(buf).cast("B"))
                if n != self._page_bytes:
                    raise InputError(f"{self.name}: the file ends inside frame {t} (got {n} of {self._page_bytes} "
                                     "bytes); it is truncated: re-export the movie")
                data = buf.astype(buf.dtype.newbyteorder("="), copy=False)
            else:
                with self._quiet_tifffile():
                    data = self._series.pages[page_index].asarray()
                data = np.asarray(data).reshape(self._in_shape)
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"{self.name}: cannot read frame {t} ({type(exc).__name__}: {exc}); the file may be "
                             "damaged or truncated: re-export the movie") from exc
        sel = tuple(slice(None) if a in "YX" else (idx[self._roles[a]] if a in self._roles else 0)
                    for a in self._in_axes)
        return np.array(data[sel])

    def frame(self, t: int, *, channel: int | None = None, z: int | str = "max") -> np.ndarray:
        """Frame ``t`` as float64 ``(Y, X)``: one channel, one z-plane or the maximum over z."""
        c = self._check_channel(channel)
        zz = self._check_z(z)
        if zz == "max":
            out = self.plane(t, 0, c).astype(np.float64)
            for k in range(1, self.n_z):
                np.maximum(out, self.plane(t, k, c), out=out)
            return out
        return self.plane(t, int(zz), c).astype(np.float64)

    def frames(self, *, channel: int | None = None, z: int | str = "max") -> Iterator[np.ndarray]:
        """Every frame in order, as :meth:`frame` gives it (one at a time)."""
        self._check_channel(channel)
        self._check_z(z)
        for t in range(self.n_frames):
            yield self.frame(t, channel=channel, z=z)

    def _check_channel(self, channel: int | None) -> int:
        n = self.n_channels
        if channel is None:
            if n > 1:
                raise OptionError(f"{self.name}: the movie has {n} channels; choose one with channel=0..{n - 1} "
                                  "(command line: --channel N, or --channel all for one kymograph per channel)")
            return 0
        if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) or not 0 <= channel < n:
            avail = "0" if n == 1 else f"0..{n - 1}"
            raise OptionError(f"{self.name}: channel={channel!r} does not exist; this movie has {n} "
                              f"channel{'s' if n > 1 else ''} (use {avail})")
        return int(channel)

    def _check_z(self, z: int | str) -> int | str:
        if isinstance(z, str) and z.lower() == "max":
            return "max"
        if isinstance(z, bool) or not isinstance(z, (int, np.integer)) or not 0 <= z < self.n_z:
            raise OptionError(f"{self.name}: z={z!r} is not allowed; use 'max' (maximum projection) or a plane "
                              f"0..{self.n_z - 1} (the movie has {self.n_z} z-plane{'s' if self.n_z > 1 else ''})")
        return int(z)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Close the file (a no-op for arrays)."""
        for h in (self._fh, self._tf):
            if h is not None:
                with contextlib.suppress(Exception):
                    h.close()
        self._fh = self._tf = None

    def __enter__(self) -> "Movie":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def describe(self) -> str:
        """One line for logs, e.g. ``'movie.tif: 300 frames of 128 x 512 px, 2 channels, uint16'``."""
        extra = []
        if self.n_z > 1:
            extra.append(f"{self.n_z} z-planes")
        if self.n_channels > 1:
            extra.append(f"{self.n_channels} channels")
        return (f"{self.name}: {self.n_frames} frames of {self.height} x {self.width} px"
                + "".join(f", {e}" for e in extra) + f", {self.dtype}")


def open_movie(source: Any, *, axes: str | None = None, name: str | None = None) -> Movie:
    """Open a movie (file or array) for frame-by-frame reading; see :class:`Movie`."""
    return Movie(source, axes=axes, name=name)


def _cut_short(tf, page) -> str | None:
    """What part of a TIFF's first image lies past the end of the file (a truncated file), or None.

    Checked: the image's pixel data, and the offset of the next image that the image's header
    (IFD) points to (a multi-page file cut after its first page still points to its second).
    """
    fh = tf.filehandle
    size = int(fh.size)
    try:
        ends = [int(o) + int(n) for o, n in zip(page.dataoffsets, page.databytecounts) if n]
        if ends and max(ends) > size:
            return "the pixel data of its first image"
        fmt = tf.tiff
        fh.seek(page.offset)
        (ntags,) = struct.unpack(fmt.tagnoformat, fh.read(fmt.tagnosize))
        fh.seek(page.offset + fmt.tagnosize + ntags * fmt.tagsize)
        (following,) = struct.unpack(fmt.offsetformat, fh.read(fmt.offsetsize))
    except (OSError, struct.error, AttributeError, TypeError, ValueError):
        return None
    if following >= size:
        return "the next image that its header points to"
    return None


def _two_d_message(name: str, shape) -> str:
    return (f"{name}: this is a single 2-D image ({shape[0]} x {shape[1]} px), not a movie; a kymograph is "
            "made from a time-lapse stack (T, Y, X). If this image already is a kymograph, analyse it with "
            "`kymotrace analyze`")


# =========================================================================== paths


@dataclass
class RoiPath:
    """One line ROI read from an ImageJ ``.roi`` file or RoiSet zip.

    Attributes
    ----------
    name : str
        The ROI's name (``roi<i>`` when it has none).
    points : ndarray of float, shape (n, 2)
        ``(x, y)`` vertices, 0-based pixel coordinates.
    line_width : float or None
        The ROI's line width when it is wider than 1 px (ImageJ's wide lines), else None.
    roi_type : str
        ``"line"``, ``"polyline"`` (segmented line) or ``"freeline"`` (freehand line).
    """

    name: str
    points: np.ndarray
    line_width: float | None
    roi_type: str


def parse_path(text: str) -> np.ndarray:
    """Parse ``"x0,y0 x1,y1 ..."`` (pairs separated by spaces or ``;``) into an ``(n, 2)`` array.

    Raises
    ------
    OptionError
        Text that is not a list of ``x,y`` number pairs.
    """
    hint = 'give the path as "x0,y0 x1,y1 ..." in pixels, e.g. "10,20 150,22 290,60"'
    if not isinstance(text, str):
        raise OptionError(f"path {text!r}: {hint}")
    parts = [p for p in re.split(r"[\s;]+", text.strip()) if p]
    pts = []
    for p in parts:
        xy = p.split(",")
        if len(xy) != 2:
            raise OptionError(f"path point {p!r} is not an x,y pair; {hint}")
        try:
            x, y = float(xy[0]), float(xy[1])
        except ValueError:
            raise OptionError(f"path point {p!r} is not a pair of numbers; {hint}") from None
        pts.append((x, y))
    if not pts:
        raise OptionError(f"the path is empty; {hint}")
    return np.asarray(pts, dtype=np.float64)


def read_roi_paths(path: str | os.PathLike) -> list[RoiPath]:
    """Read the line ROIs of an ImageJ ``.roi`` file or RoiSet ``.zip`` (Fiji's ROI Manager).

    Line, segmented-line (polyline) and freehand-line ROIs are paths; names are made unique
    (``name``, ``name-2``...). A RoiSet gives one path per ROI, in the zip's order.

    Raises
    ------
    InputError
        Missing, empty or damaged file, an entry that is not a readable ROI, a ROI that is not a
        line (the message names it), a line width that is not a number of pixels from 0 to
        :data:`MAX_WIDTH`, or a set without ROIs.
    """
    from roifile import ROI_TYPE, ImagejRoi

    p = Path(path)
    hint = ("expected an ImageJ ROI (.roi) or a RoiSet (.zip) saved from Fiji's ROI Manager "
            "(More > Save...), holding line, segmented-line or freehand-line selections")
    if not p.exists():
        raise InputError(f"ROI file {p} does not exist; check the path ({hint})")
    if p.is_dir():
        raise InputError(f"ROI file {p} is a folder; {hint}")
    bad = (zipfile.BadZipFile, zlib.error, struct.error, ValueError, EOFError, OSError, IndexError,
           KeyError, NotImplementedError, RuntimeError, TypeError)
    entries: list[tuple[str, bytes]] = []
    try:
        if zipfile.is_zipfile(p):
            with zipfile.ZipFile(p) as zf:
                for info in zf.infolist():
                    if not info.is_dir() and info.filename.lower().endswith(".roi"):
                        entries.append((info.filename, zf.read(info)))
            if not entries:
                raise InputError(f"ROI file {p} is a zip without .roi entries; {hint}")
        else:
            data = p.read_bytes()
            if data[:4] != b"Iout":
                raise InputError(f"ROI file {p} is not an ImageJ ROI or RoiSet zip; {hint}")
            entries.append((p.name, data))
    except InputError:
        raise
    except bad as exc:
        raise InputError(f"ROI file {p} is damaged ({type(exc).__name__}: {exc}); {hint}") from None
    kinds = {ROI_TYPE.LINE: "line", ROI_TYPE.POLYLINE: "polyline", ROI_TYPE.FREELINE: "freeline"}
    out: list[RoiPath] = []
    used: set[str] = set()
    for i, (entry, data) in enumerate(entries):
        try:
            if data[:4] != b"Iout":
                raise ValueError("no ImageJ ROI header")
            roi = ImagejRoi.frombytes(data)
            xy = np.asarray(roi.coordinates(), dtype=np.float64).reshape(-1, 2)
        except bad as exc:
            raise InputError(f"ROI file {p}: entry {entry!r} is not a readable ImageJ ROI ({exc}); {hint}") from None
        label = roi.name or Path(entry).stem or f"roi{i + 1}"
        if roi.roitype not in kinds or roi.composite:
            raise InputError(f"ROI file {p}: ROI {label!r} is a {roi.roitype.name.lower()} selection, not a line; "
                             "draw the path with the straight, segmented or freehand line tool")
        if xy.shape[0] == 0 or not np.all(np.isfinite(xy)):
            raise InputError(f"ROI file {p}: ROI {label!r} has no usable coordinates; redraw it")
        name = safe_stem(re.sub(r"[^A-Za-z0-9._-]+", "_", label), f"roi{i + 1}")
        base, k = name, 1
        while name.lower() in used:
            k += 1
            name = f"{base}-{k}"
        used.add(name.lower())
        lw = float(roi.float_stroke_width or roi.stroke_width or 0.0)
        if not math.isfinite(lw) or lw < 0 or lw > MAX_WIDTH:
            raise InputError(f"ROI file {p}: ROI {label!r} has a line width of {lw:g} px; a line width is a number "
                             f"of pixels from 1 to {MAX_WIDTH} (0 for a 1-px line): set it in Fiji (Edit > Options "
                             "> Line Width...) and save the ROI again, or give --width")
        out.append(RoiPath(name=name, points=xy, line_width=lw if lw > 1 else None, roi_type=kinds[roi.roitype]))
    return out


def _as_points(path: Any, name: str) -> np.ndarray:
    """A path given as text, array, roifile ROI or ROI file -> float (n, 2) array."""
    if isinstance(path, RoiPath):
        return np.asarray(path.points, dtype=np.float64)
    if isinstance(path, str):
        return parse_path(path)
    if isinstance(path, os.PathLike):
        rois = read_roi_paths(path)
        if len(rois) != 1:
            raise InputError(f"ROI file {os.fspath(path)} holds {len(rois)} ROIs; make_kymograph takes one path: "
                             "read them with read_roi_paths() and make one kymograph per ROI")
        return rois[0].points
    if hasattr(path, "coordinates") and hasattr(path, "roitype"):  # a roifile.ImagejRoi
        return np.asarray(path.coordinates(), dtype=np.float64).reshape(-1, 2)
    try:
        pts = np.asarray(path, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name}: the path must be (x, y) points, e.g. [[10, 20], [150, 22]]; got {path!r}") from None
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise InputError(f"{name}: the path must be an array of (x, y) points of shape (n, 2); got shape {pts.shape}")
    return pts


@dataclass
class PathGeometry:
    """Where a kymograph samples each frame (see the module docstring for the rules).

    Attributes
    ----------
    vertices : ndarray, shape (n, 2)
        The path's ``(x, y)`` points (consecutive repeats removed).
    length : float
        Arc length (px; in x-pixel units when pixels are not square).
    width : int
        Samples per cross-section.
    centre : ndarray, shape (n_columns, 2)
        ``(x, y)`` of each column's centre point, 1 px apart along the path.
    x, y : ndarray, shape (n_columns, width)
        Sample coordinates (pixel units, 0-based pixel centres).
    inside : ndarray of bool, shape (n_columns, width)
        Samples lying in the image (the others are left out of the reduction).
    sigma : float
        Smoothing (px of arc length) of the cross-section direction.
    crossing : bool
        True when neighbouring cross-sections still cross somewhere (turn too sharp for the width).
    notes : list of str
    """

    vertices: np.ndarray
    length: float
    width: int
    centre: np.ndarray
    x: np.ndarray
    y: np.ndarray
    inside: np.ndarray
    sigma: float
    crossing: bool = False
    notes: list = field(default_factory=list)

    @property
    def n_columns(self) -> int:
        return int(self.centre.shape[0])


def width_limit(shape: tuple[int, int] | None) -> int:
    """The widest line (px) allowed on an image of ``shape`` (height, width): its larger side, or
    :data:`MAX_WIDTH` where no image size is known."""
    if shape is None:
        return MAX_WIDTH
    return max(1, int(shape[0]), int(shape[1]))


def _check_width(width: Any, shape: tuple[int, int] | None = None) -> int:
    if isinstance(width, bool) or not isinstance(width, (int, np.integer, float, np.floating)):
        raise OptionError(f"width={width!r} is not allowed; give a whole number of pixels >= 1")
    w = float(width)
    if not math.isfinite(w) or w < 1:
        raise OptionError(f"width={width!r} is not allowed: the line width must be at least 1 px")
    if w != int(w):
        raise OptionError(f"width={width!r} is not allowed: the line width is a whole number of pixels "
                          "(samples are taken 1 px apart across the path)")
    limit = width_limit(shape)
    if w > limit:
        where = (f"the larger side of the {int(shape[1])} x {int(shape[0])} px image" if shape is not None
                 else "the most kymotrace accepts")
        raise OptionError(f"width={width!r} is not allowed: the line width may be at most {limit} px ({where}); "
                          "give a smaller width")
    return int(w)


def _check_reduce(reduce: str) -> str:
    if reduce not in REDUCE:
        raise OptionError(f"reduce={reduce!r} is not allowed; use 'mean' or 'max' (across the line width)")
    return reduce


def path_geometry(
    points: Any,
    width: int = 1,
    *,
    shape: tuple[int, int] | None = None,
    pixel_aspect: float = 1.0,
    name: str = "path",
) -> PathGeometry:
    """Resample a polyline at 1 px of arc length and lay out the cross-section samples.

    Parameters
    ----------
    points : array_like, shape (n, 2), or text, ROI
        ``(x, y)`` vertices in pixels (see :func:`make_kymograph` for the forms accepted).
    width : int
        Samples per cross-section (line width, px), >= 1.
    shape : (height, width), optional
        The image size: every path point must lie inside it (else InputError), and samples of
        the band outside it are marked in ``inside``.
    pixel_aspect : float
        y pixel size / x pixel size (1 for square pixels).
    name : str
        How the path is named in messages.

    Raises
    ------
    InputError
        Fewer than 2 points, non-finite coordinates, a path of zero length, a point outside the
        image.
    OptionError
        ``width`` below 1, not whole, or wider than the image's larger side (:data:`MAX_WIDTH`
        without ``shape``).
    """
    w = _check_width(width, shape)
    pts = _as_points(points, name)
    if pts.shape[0] < 2:
        raise InputError(f"{name}: the path has {pts.shape[0]} point(s); a path needs at least 2 points "
                         "(a start and an end)")
    if not np.all(np.isfinite(pts)):
        raise InputError(f"{name}: the path has non-finite coordinates (NaN or infinite); give numbers")
    if shape is not None:
        H, W = int(shape[0]), int(shape[1])
        bad = np.flatnonzero((pts[:, 0] < -0.5) | (pts[:, 0] > W - 0.5) | (pts[:, 1] < -0.5) | (pts[:, 1] > H - 0.5))
        if bad.size:
            i = int(bad[0])
            raise InputError(
                f"{name}: point {i} (x={pts[i, 0]:g}, y={pts[i, 1]:g}) lies outside the image of {W} x {H} px "
                f"(x must be within -0.5..{W - 0.5:g}, y within -0.5..{H - 0.5:g}; {bad.size} point(s) outside); "
                "kymotrace refuses paths that leave the image instead of clipping them: redraw or trim the path")
    a = float(pixel_aspect)
    keep = np.concatenate([[True], np.any(np.abs(np.diff(pts, axis=0)) > 1e-9, axis=1)])
    pts = pts[keep]
    if pts.shape[0] < 2:
        raise InputError(f"{name}: all points of the path are the same ({pts[0, 0]:g}, {pts[0, 1]:g}); the path "
                         "has zero length")
    q = pts * np.array([1.0, a])  # scaled space: distances in x-pixel units
    d = np.diff(q, axis=0)
    seg = np.hypot(d[:, 0], d[:, 1])
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    length = float(cum[-1])
    n = int(math.floor(length + 1e-6)) + 1
    s = np.minimum(np.arange(n, dtype=np.float64), length)
    cx = np.interp(s, cum, q[:, 0])
    cy = np.interp(s, cum, q[:, 1])
    ang = np.arctan2(d[:, 1], d[:, 0])
    turn = np.angle(np.exp(1j * np.diff(ang)))  # wrapped to (-pi, pi]
    unwrapped = np.concatenate([[ang[0]], ang[0] + np.cumsum(turn)])  # per segment, continuous
    half = (w - 1) / 2.0
    notes = _Notes()
    sigma = max(1.0, half)
    crossing = False
    if w == 1:
        beta = np.zeros(n)  # one sample per column: no cross-section
    elif not np.any(np.abs(turn) > 1e-12):
        beta = np.full(n, unwrapped[0])  # straight path: exact perpendiculars
    else:
        beta, sigma, crossing, where = _smooth_directions(cum, unwrapped, s, half, sigma, length)
        if crossing:
            wx, wy = float(np.interp(where, cum, pts[:, 0])), float(np.interp(where, cum, pts[:, 1]))
            notes.warn(f"the path turns too sharply for a line width of {w} px near ({wx:.1f}, {wy:.1f}) "
                       "(or doubles back): neighbouring cross-sections overlap there, so some pixels count in "
                       "more than one column; use a smaller width or a smoother path")
    offs = np.arange(w, dtype=np.float64) - half
    nx, ny = -np.sin(beta), np.cos(beta)  # unit normal in scaled space
    sx = cx[:, None] + offs[None, :] * nx[:, None]
    sy = (cy[:, None] + offs[None, :] * ny[:, None]) / a
    if shape is not None:
        inside = (sx >= -0.5) & (sx <= W - 0.5) & (sy >= -0.5) & (sy <= H - 0.5)
        out = int((~inside).sum())
        if out:
            notes.warn(f"{out} of {inside.size} samples of the {w}-px wide line fall outside the image; they "
                       "were left out of the columns' values")
    else:
        inside = np.ones(sx.shape, dtype=bool)
    centre = np.column_stack([cx, cy / a])
    return PathGeometry(vertices=pts, length=length, width=w, centre=centre, x=sx, y=sy, inside=inside,
                        sigma=float(sigma), crossing=crossing, notes=list(notes))


def _smooth_directions(cum, unwrapped, s, half, sigma, length):
    """Cross-section directions: the tangent angle smoothed along arc length (see module docs).

    Returns the angle at each column, the sigma used, whether cross-sections still cross, and the
    arc length where they cross the most.
    """
    from scipy.ndimage import gaussian_filter1d

    nf = int(math.ceil(length / _FINE)) + 1
    sf = np.linspace(0.0, length, nf)
    step = sf[1] - sf[0] if nf > 1 else 1.0
    segf = np.clip(np.searchsorted(cum, sf, side="right") - 1, 0, len(cum) - 2)
    alpha = unwrapped[segf]
    s0 = sigma
    while True:
        beta = gaussian_filter1d(alpha, sigma / step, mode="nearest", truncate=4.0)
        dbeta = np.gradient(beta, step)
        # the map (arc, offset) -> image keeps its orientation while cos(beta - alpha) > half*|beta'|
        margin = np.cos(beta - alpha) - half * np.abs(dbeta)
        worst = int(np.argmin(margin))
        crossing = bool(margin[worst] <= 0.0)
        if not crossing or sigma >= _MAX_GROWTH * s0:
            break
        sigma = min(sigma * _SIGMA_STEP, _MAX_GROWTH * s0)
    return np.interp(s, sf, beta), sigma, crossing, float(sf[worst])


def sample_frame(frame: np.ndarray, geom: PathGeometry, reduce: str = "mean") -> np.ndarray:
    """One kymograph row: ``frame`` (Y, X) sampled along ``geom``, reduced across the width."""
    from scipy.ndimage import map_coordinates

    img = np.asarray(frame, dtype=np.float64)
    coords = np.stack([geom.y.ravel(), geom.x.ravel()])
    vals = map_coordinates(img, coords, order=1, mode="nearest", prefilter=False).reshape(geom.x.shape)
    if geom.width == 1:
        return vals[:, 0]
    inside = geom.inside
    if inside.all():
        return vals.mean(axis=1) if reduce == "mean" else vals.max(axis=1)
    none = ~inside.any(axis=1)  # a column with no sample in the image: use the clamped samples
    ok = inside | none[:, None]
    if reduce == "mean":
        return np.where(ok, vals, 0.0).sum(axis=1) / ok.sum(axis=1)
    return np.where(ok, vals, -np.inf).max(axis=1)


def noise_gain(geom: PathGeometry, shape: tuple[int, int]) -> float:
    """RMS over columns of the std of a column's value when every pixel carries independent noise
    of std 1 (mean reduction): the exact bilinear weights of each column, summed per pixel."""
    H, W = int(shape[0]), int(shape[1])
    x = np.clip(geom.x, 0.0, W - 1.0)  # 'nearest' extension beyond the outer pixel centres
    y = np.clip(geom.y, 0.0, H - 1.0)
    x0 = np.minimum(np.floor(x), max(W - 2, 0)).astype(np.int64)
    y0 = np.minimum(np.floor(y), max(H - 2, 0)).astype(np.int64)
    fx, fy = x - x0, y - y0
    ok = geom.inside | ~geom.inside.any(axis=1, keepdims=True)
    cnt = ok.sum(axis=1, keepdims=True)
    base = np.where(ok, 1.0, 0.0) / cnt
    cols = np.broadcast_to(np.arange(geom.n_columns)[:, None], x.shape)
    idx, wts, col = [], [], []
    for dy, dx, wgt in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        yy = np.minimum(y0 + dy, H - 1)
        xx = np.minimum(x0 + dx, W - 1)
        idx.append((yy * W + xx).ravel())
        wts.append((wgt * base).ravel())
        col.append(cols.ravel())
    idx, wts, col = np.concatenate(idx), np.concatenate(wts), np.concatenate(col)
    key = col * (H * W) + idx
    uk, inv = np.unique(key, return_inverse=True)
    agg = np.bincount(inv, weights=wts)
    var = np.bincount(uk // (H * W), weights=agg**2, minlength=geom.n_columns)
    return float(np.sqrt(np.mean(var)))


# =========================================================================== kymographs


@dataclass
class MovieKymograph(Kymograph):
    """A :class:`~kymotrace.io.Kymograph` made from a movie, with how it was made.

    Attributes (besides Kymograph's)
    ----------
    geometry : PathGeometry or None
        Where each frame was sampled.
    source : dict
        Movie name, channel, z choice, width, reduction, path vertices.
    """

    geometry: PathGeometry | None = None
    source: dict = field(default_factory=dict)


def _calibration(movie: Movie, pixel_size, frame_interval, notes: _Notes) -> Calibration:
    check_calibration(pixel_size, frame_interval, source="movie")
    px, px_src = movie.pixel_size, "file" if movie.pixel_size is not None else "none"
    fi, fi_src = movie.frame_interval, "file" if movie.frame_interval is not None else "none"
    if pixel_size is not None:
        px, px_src = float(pixel_size), "user"
    if frame_interval is not None:
        fi, fi_src = float(frame_interval), "user"
    known = {v for v in (px_src, fi_src) if v != "none"}
    source = known.pop() if len(known) == 1 else ("mixed" if known else "none")
    return Calibration(pixel_size=px, frame_interval=fi, source=source, pixel_size_source=px_src,
                       frame_interval_source=fi_src)


def _aspect(movie: Movie, pixel_size, notes: _Notes) -> float:
    if pixel_size is not None or movie.pixel_size is None or movie.pixel_size_y is None:
        return 1.0
    a = movie.pixel_size_y / movie.pixel_size
    if abs(a - 1.0) > 1e-3:
        notes.info(f"pixels are not square ({movie.pixel_size:g} x {movie.pixel_size_y:g} µm); distance along the "
                   f"path is measured in µm, one column per {movie.pixel_size:g} µm")
        return a
    return 1.0


@dataclass
class _Job:
    movie: Movie
    geometry: PathGeometry
    channel: int
    z: int | str
    reduce: str
    calibration: Calibration
    notes: _Notes


def _prepare(movie: Movie, path: Any, width, reduce, channel, z, pixel_size, frame_interval, name: str) -> _Job:
    reduce = _check_reduce(reduce)
    c = movie._check_channel(channel)
    zz = movie._check_z(z)
    notes = _Notes()
    for i, msg in enumerate(movie.notes):
        (notes.warn if i in movie.notes.warnings else notes.info)(msg)
    cal = _calibration(movie, pixel_size, frame_interval, notes)
    geom = path_geometry(path, width, shape=(movie.height, movie.width), pixel_aspect=_aspect(movie, pixel_size, notes),
                         name=name)
    for msg in geom.notes:
        notes.warn(msg)
    if movie.n_z > 1:
        notes.info(f"z: {'maximum over the ' + str(movie.n_z) + ' planes' if zz == 'max' else f'plane {zz}'}")
    return _Job(movie=movie, geometry=geom, channel=c, z=zz, reduce=reduce, calibration=cal, notes=notes)


def iter_kymograph_rows(job: _Job) -> Iterator[np.ndarray]:
    """The kymograph of a prepared job, one row (float64) per frame, reading one frame at a time."""
    mv = job.movie
    for t in range(mv.n_frames):
        row = sample_frame(mv.frame(t, channel=job.channel, z=job.z), job.geometry, job.reduce)
        if not np.all(np.isfinite(row)):
            raise InputError(f"{mv.name}: frame {t} has NaN or infinite values along the path; replace them "
                             "(e.g. with the background level) before making a kymograph")
        yield row


def _open(movie: Any, axes: str | None) -> tuple[Movie, bool]:
    if isinstance(movie, Movie):
        if axes is not None:
            raise OptionError("axes= applies when the movie is given as an array")
        return movie, False
    return Movie(movie, axes=axes), True


def make_kymograph(
    movie: Any,
    path: Any,
    *,
    width: int = 1,
    reduce: str = "mean",
    channel: int | None = None,
    z: int | str = "max",
    pixel_size: float | None = None,
    frame_interval: float | None = None,
    axes: str | None = None,
) -> MovieKymograph:
    """Make a kymograph from a movie along a path.

    Parameters
    ----------
    movie : path-like, array_like or Movie
        A TIFF stack/hyperstack, an array ``(T, Y, X)`` (other layouts with ``axes=``), or an
        opened :class:`Movie`.
    path : str, array_like (n, 2), RoiPath, roifile.ImagejRoi or path-like
        ``(x, y)`` pixel vertices (0-based pixel centres): text ``"x0,y0 x1,y1 ..."``, an array,
        a ROI, or a ``.roi`` file holding one line ROI.
    width : int
        Line width (px): samples per cross-section, 1 px apart.
    reduce : {"mean", "max"}
        How the samples across the width become one value.
    channel : int, optional
        The channel of a multi-channel movie (required there).
    z : "max" or int
        Maximum projection over z, or one z-plane.
    pixel_size, frame_interval : float, optional
        µm/px and s/frame overriding the movie's metadata.
    axes : str, optional
        Axes of an array movie, e.g. ``"TCYX"``.

    Returns
    -------
    MovieKymograph
        ``image[t, i]`` (float32): frame ``t`` at ``i`` px along the path; calibration from the
        movie (or the values given); ``geometry`` and ``source`` record how it was made.

    Raises
    ------
    InputError
        Bad movie (see :class:`Movie`) or path (fewer than 2 points, outside the image...).
    OptionError
        Width below 1 or wider than the movie's larger side, unknown reduction, channel or z-plane.
    """
    mv, opened = _open(movie, axes)
    try:
        job = _prepare(mv, path, width, reduce, channel, z, pixel_size, frame_interval, name=f"{mv.name}: path")
        image = np.empty((mv.n_frames, job.geometry.n_columns), dtype=np.float32)
        for t, row in enumerate(iter_kymograph_rows(job)):
            image[t] = row
        job.notes.log(mv.name)
        return MovieKymograph(
            image=image, path=mv.path, calibration=job.calibration, inverted=False,
            polarity="as recorded (made from a movie; not checked)", dtype=mv.dtype, axes="TX",
            notes=list(job.notes), geometry=job.geometry, source=_source(job),
        )
    finally:
        if opened:
            mv.close()


def _source(job: _Job) -> dict:
    g = job.geometry
    return {
        "movie": job.movie.name,
        "movie_shape_t_y_x": list(job.movie.shape),
        "channel": job.channel,
        "z": job.z,
        "width_px": g.width,
        "reduce": job.reduce,
        "path_xy": [[float(x), float(y)] for x, y in g.vertices],
        "path_length_px": g.length,
        "n_columns": g.n_columns,
        "direction_smoothing_px": g.sigma if g.width > 1 else None,
    }


# =========================================================================== files


def save_kymograph_tiff(path: str | os.PathLike, rows, shape: tuple[int, int], calibration: Calibration | None,
                        *, on_row=None) -> None:
    """Write a float32 kymograph TIFF row by row, atomically, with ImageJ calibration metadata.

    Parameters
    ----------
    path : path-like
    rows : iterable of 1-D arrays
        ``shape[0]`` rows of ``shape[1]`` values, consumed as they come (never all held).
    shape : (n_frames, n_columns)
    calibration : Calibration or None
        Pixel size (µm, the x axis) and frame interval (s, the y axis), written as ImageJ
        resolution/unit/yunit/finterval so that Fiji shows µm and s.
    on_row : callable, optional
        Called with each row (float32) as it is written (e.g. to build a preview).
    """
    import tifffile

    from .fileutil import atomic_path

    T, n = int(shape[0]), int(shape[1])
    per_strip = max(1, min(T, (1 << 16) // max(1, 4 * n)))
    md: dict[str, Any] = {"axes": "YX"}
    res = [1.0, 1.0]
    if calibration is not None and calibration.pixel_size:
        md["unit"] = "micron"
        res[0] = 1.0 / calibration.pixel_size
    if calibration is not None and calibration.frame_interval:
        md["yunit"] = "sec"
        md["finterval"] = float(calibration.frame_interval)
        res[1] = 1.0 / calibration.frame_interval
        if "unit" not in md:
            md["unit"] = "pixel"

    def strips():
        buf = np.empty((per_strip, n), dtype=np.float32)
        k = done = 0
        for row in rows:
            r = np.asarray(row, dtype=np.float32)
            if r.shape != (n,):
                raise ValueError(f"row {done} has shape {r.shape}, expected ({n},)")
            buf[k] = r
            if on_row is not None:
                on_row(buf[k])
            k += 1
            done += 1
            if k == per_strip or done == T:
                yield buf[:k].tobytes()
                k = 0
        if done != T:
            raise ValueError(f"got {done} rows, expected {T}")

    kw: dict[str, Any] = {}
    if calibration is not None and (calibration.pixel_size or calibration.frame_interval):
        kw["resolution"] = tuple(res)
    with atomic_path(path, suffix=".tif") as tmp:
        tifffile.imwrite(tmp, data=strips(), shape=(T, n), dtype="float32", rowsperstrip=per_strip,
                         imagej=True, metadata=md, photometric="minisblack", **kw)


class _Preview:
    """Rows binned to at most ``max_rows`` (mean per bin): a bounded-memory preview."""

    def __init__(self, n_rows: int, n_cols: int, max_rows: int = 2048) -> None:
        self.step = max(1, math.ceil(n_rows / max_rows))
        nb = math.ceil(n_rows / self.step)
        self.sum = np.zeros((nb, n_cols))
        self.count = np.zeros(nb)
        self.i = 0

    def add(self, row: np.ndarray) -> None:
        b = self.i // self.step
        self.sum[b] += row
        self.count[b] += 1
        self.i += 1

    def image(self) -> np.ndarray:
        return self.sum / np.maximum(self.count, 1)[:, None]


def save_preview_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """An 8-bit grey PNG of a kymograph, contrast stretched between its 0.5 and 99.5 percentiles."""
    from PIL import Image

    from .fileutil import atomic_path

    img = np.asarray(image, dtype=np.float64)
    lo, hi = np.percentile(img, [0.5, 99.5]) if img.size else (0.0, 1.0)
    if not hi > lo:
        lo, hi = float(img.min()), float(img.max()) if img.size else 1.0
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    u8 = np.clip(np.rint((img - lo) * scale), 0, 255).astype(np.uint8)
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(u8).save(tmp, format="PNG")
