"""ImageJ / Fiji ROI export and import of tracks (``tracks_roi.zip``), via ``roifile``.

Each track becomes one sub-pixel polyline ROI on the kymograph: ImageJ ``x`` is the position
(column) and ``y`` the frame (row), one vertex per frame, both 0-based. For ImageJ line and point
ROIs integer coordinates are pixel centres, the same convention as kymotrace's, so no offset is
applied. The ROI is named ``track_<id>``, stroked in the track's overlay colour
(:func:`kymotrace.report.track_color`), and carries ROI properties (ImageJ
*Properties...*) ``track_id``, ``gaps`` (inclusive frame runs ``a-b;c-d``) and, where known,
``confidence``, ``size`` and ``brightness``. A one-frame track is a single-point ROI.

The zip opens in Fiji's ROI Manager (*More > Open...* or drag and drop). Reading accepts such
zips back, and also polylines drawn or edited by hand in Fiji: where the vertices are not one per
frame, the path is resampled at every whole frame it spans.
"""

from __future__ import annotations

import math
import os
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from roifile import ROI_OPTIONS, ROI_TYPE, ImagejRoi

from .errors import InputError
from .fileutil import atomic_path
from .report import track_color
from .track import Track

__all__ = ["tracks_to_rois", "roi_to_track", "save_roi_zip", "read_roi_zip"]

#: ROI types read as tracks (open paths and points)
_PATH_TYPES = (ROI_TYPE.POLYLINE, ROI_TYPE.FREELINE, ROI_TYPE.LINE, ROI_TYPE.POINT)
_ID_IN_NAME = re.compile(r"_(-?\d+)$")
_RUN = re.compile(r"^\s*(-?\d+)\s*-\s*(-?\d+)\s*$")
_SCALARS = ("confidence", "size", "brightness")
#: vertices within this many frames of a whole frame count as lying on it
_FRAME_TOL = 1e-3


# ----------------------------------------------------------------------------------- writing
def _gap_runs(track: Track) -> str:
    return ";".join(f"{a}-{b}" for a, b in track.gaps())


def tracks_to_rois(tracks: Iterable[Track], *, name_prefix: str = "track") -> list[ImagejRoi]:
    """One ImageJ polyline ROI per track.

    Parameters
    ----------
    tracks : iterable of Track
        Tracks with no frames are skipped (an ROI needs at least one vertex).
    name_prefix : str
        ROIs are named ``<name_prefix>_<track_id>``.

    Returns
    -------
    list of roifile.ImagejRoi
        Sub-pixel POLYLINE ROIs (POINT for one-frame tracks) with vertices
        ``(x, y) = (position, frame)`` as float32, one per frame.
    """
    rois = []
    for tr in tracks:
        if len(tr) == 0:
            continue
        if not np.all(np.isfinite(tr.positions)):
            raise ValueError(f"track {tr.track_id}: positions must be finite to export as an ROI")
        pts = np.column_stack([tr.positions, tr.frames.astype(np.float64)])
        roi = ImagejRoi.frompoints(pts, name=f"{name_prefix}_{tr.track_id}")
        roi.roitype = ROI_TYPE.POLYLINE if len(tr) > 1 else ROI_TYPE.POINT
        roi.options = ROI_OPTIONS.SUB_PIXEL_RESOLUTION
        roi.stroke_color = bytes((255, *track_color(tr.track_id)))  # ARGB, opaque
        props: dict[str, object] = {"track_id": int(tr.track_id)}
        if tr.gap.any():
            props["gaps"] = _gap_runs(tr)
        for key in _SCALARS:
            val = getattr(tr, key)
            if val is not None:
                props[key] = repr(float(val))
        roi.properties = props
        rois.append(roi)
    return rois


def save_roi_zip(path: str | os.PathLike, tracks: Sequence[Track]) -> None:
    """Write the tracks as an ImageJ ROI zip (``tracks_roi.zip``), atomically.

    The zip holds one ``<name>.roi`` entry per track (see :func:`tracks_to_rois`), in track order,
    and opens in Fiji's ROI Manager. With no tracks it is a valid, empty zip.
    """
    rois = tracks_to_rois(tracks)
    used: set[str] = set()
    with atomic_path(path, suffix=".zip") as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for roi in rois:
                entry = roi.name
                k = 1
                while entry.lower() in used:  # duplicate track IDs: keep every ROI
                    k += 1
                    entry = f"{roi.name}-{k}"
                used.add(entry.lower())
                zf.writestr(entry + ".roi", roi.tobytes())


# ----------------------------------------------------------------------------------- reading
def _props(roi: ImagejRoi) -> dict[str, str]:
    out = {}
    for line in roi.props.splitlines():
        if ":" in line:
            key, val = line.split(":", 1)
            out[key.strip()] = val.strip()
    return out


def _where(path: str | os.PathLike | None, roi: ImagejRoi) -> str:
    label = repr(roi.name) if roi.name else "(unnamed)"
    return f"ROI {label}" + (f" in {os.fspath(path)}" if path is not None else "")


def roi_to_track(roi: ImagejRoi, track_id: int, *, path: str | os.PathLike | None = None) -> Track:
    """Convert one ImageJ line/point ROI to a Track with one position per frame.

    Vertices are ``(x, y) = (position, frame)``. If they lie on consecutive whole frames they are
    used as they are; otherwise the path must run one way in time and is linearly resampled at
    every whole frame it spans. ``gaps`` and ``confidence``/``size``/``brightness`` are restored from
    the ROI's properties when present.

    Parameters
    ----------
    roi : roifile.ImagejRoi
        A POLYLINE, FREELINE, LINE or POINT ROI.
    track_id : int
        The ID of the returned track.
    path : path-like, optional
        The file the ROI came from, for error messages.

    Raises
    ------
    InputError
        If the ROI is not a line or point ROI, or its path goes back in time.
    """
    where = _where(path, roi)
    if roi.roitype not in _PATH_TYPES or roi.composite:
        raise InputError(
            f"{where} is a {roi.roitype.name.lower()} ROI; only line, polyline, freehand-line and "
            "point ROIs can be read as tracks (x = position, y = frame). Remove it in Fiji's ROI "
            "Manager and save the zip again."
        )
    xy = np.asarray(roi.coordinates(), dtype=np.float64).reshape(-1, 2)
    if xy.shape[0] == 0 or not np.all(np.isfinite(xy)):
        raise InputError(f"{where} has no usable coordinates; remove it and save the zip again")
    x, y = xy[:, 0], xy[:, 1]
    yi = np.rint(y)
    on_frames = np.all(np.abs(y - yi) <= _FRAME_TOL)
    if on_frames and (y.size == 1 or np.all(np.diff(yi) == 1)):
        frames, positions = yi.astype(np.int64), x.copy()
    else:
        if y[-1] < y[0]:
            x, y = x[::-1], y[::-1]
        if np.any(np.diff(y) < 0):
            raise InputError(
                f"{where} goes back in time (its y = frame coordinate decreases and increases); "
                "a track must run one way down the kymograph. Redraw it in Fiji."
            )
        first = math.ceil(y[0] - _FRAME_TOL)
        last = math.floor(y[-1] + _FRAME_TOL)
        if last < first:  # a path between two frames: snap to the nearest one
            first = last = int(np.rint(y.mean()))
        frames = np.arange(first, last + 1, dtype=np.int64)
        positions = np.interp(frames.astype(np.float64), y, x)
    props = _props(roi)
    gap = np.zeros(frames.shape, dtype=bool)
    if props.get("gaps"):
        for part in props["gaps"].split(";"):
            m = _RUN.match(part)
            if not m:
                raise InputError(
                    f"{where} has an unreadable 'gaps' property {props['gaps']!r}; expected "
                    "inclusive frame runs like '3-5;9-9'. Fix or delete the property in Fiji "
                    "(Edit > Selection > Properties...)."
                )
            a, b = int(m.group(1)), int(m.group(2))
            gap |= (frames >= a) & (frames <= b)
    scalars: dict[str, float | None] = {}
    for key in _SCALARS:
        raw = props.get(key)
        try:
            scalars[key] = float(raw) if raw not in (None, "", "None", "nan") else None
        except ValueError:
            raise InputError(
                f"{where} has a non-numeric {key!r} property {raw!r}; fix or delete it in Fiji "
                "(Edit > Selection > Properties...)."
            ) from None
    return Track(track_id=int(track_id), frames=frames, positions=positions, gap=gap, **scalars)


def _wanted_id(roi: ImagejRoi) -> int | None:
    raw = _props(roi).get("track_id")
    if raw is not None:
        try:
            return int(raw)
        except ValueError:
            pass
    m = _ID_IN_NAME.search(roi.name or "")
    return int(m.group(1)) if m else None


def _load_rois(path: Path) -> list[ImagejRoi]:
    hint = (
        "expected an ImageJ ROI zip such as tracks_roi.zip written by kymotrace or saved from "
        "Fiji's ROI Manager (More > Save...), or a single .roi file"
    )
    if not path.exists():
        raise InputError(f"ROI file {path} does not exist; check the path ({hint})")
    if path.is_dir():
        raise InputError(f"ROI file {path} is a folder; {hint}")
    bad = (zipfile.BadZipFile, zlib.error, struct.error, ValueError, EOFError, OSError,
           NotImplementedError, RuntimeError)
    if zipfile.is_zipfile(path):
        rois = []
        try:
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    if info.is_dir() or not info.filename.lower().endswith(".roi"):
                        continue
                    try:
                        rois.append(ImagejRoi.frombytes(zf.read(info)))
                    except bad as exc:
                        raise InputError(
                            f"ROI file {path}: entry {info.filename!r} is not a readable ImageJ "
                            f"ROI ({exc}); {hint}"
                        ) from None
        except InputError:
            raise
        except bad as exc:
            raise InputError(f"ROI file {path} is a damaged zip ({exc}); {hint}") from None
        return rois
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"ROI file {path} cannot be read ({exc.strerror or exc})") from None
    if data[:4] == b"Iout":
        try:
            return [ImagejRoi.frombytes(data)]
        except bad as exc:
            raise InputError(f"ROI file {path} is a damaged ImageJ ROI ({exc}); {hint}") from None
    raise InputError(f"ROI file {path} is not a zip or ImageJ ROI file; {hint}")


def read_roi_zip(path: str | os.PathLike) -> list[Track]:
    """Read tracks from an ImageJ ROI zip (or a single ``.roi`` file).

    The inverse of :func:`save_roi_zip`: each line/point ROI becomes a Track with one position per
    frame (see :func:`roi_to_track`), in the order of the zip. The track ID is the ROI's
    ``track_id`` property, else the number at the end of its name (``track_12``); ROIs without one,
    and repeats of an ID already taken, get new IDs above the largest one.

    Raises
    ------
    InputError
        If the file is missing, not a zip/ROI file, damaged, or holds an ROI that is not a track
        (the message names the file and the ROI).
    """
    path = Path(path)
    rois = _load_rois(path)
    wanted = [_wanted_id(r) for r in rois]
    taken: set[int] = set()
    ids: list[int | None] = []
    for w in wanted:
        if w is not None and w not in taken:
            taken.add(w)
            ids.append(w)
        else:
            ids.append(None)
    nxt = max(taken, default=0) + 1
    tracks = []
    for roi, tid in zip(rois, ids):
        if tid is None:
            tid = nxt
            nxt += 1
        tracks.append(roi_to_track(roi, tid, path=path))
    return tracks
