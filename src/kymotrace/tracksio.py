"""The tracks file ``tracks.csv`` and the run record ``run.json``.

``tracks.csv`` has one row per track per frame over the track's whole life, sorted by track
then frame. Columns, in this order:

``track_id, frame, position, gap``
    Always. ``frame`` is the 0-based row of the kymograph, ``position`` the 0-based column
    (px, sub-pixel, written with all the digits of a double so it reads back exactly),
    ``gap`` is 1 where the frame lies in a gap (position interpolated), else 0.
``time_s, position_um``
    Only when the frame interval (s/frame) and pixel size (µm/px) are known, each on its own:
    ``time_s = frame * frame_interval``, ``position_um = position * pixel_size``.
``size, brightness, confidence``
    Per-track values, repeated on every row of the track; a column is present only when some
    track has the value, and empty for tracks without it.

The reader needs only ``track_id, frame, position``; every other column is optional, and
unknown columns are ignored, so files edited in a spreadsheet or written by other tools load.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .errors import InputError
from .fileutil import atomic_open
from .track import Track

if TYPE_CHECKING:  # pragma: no cover
    import pandas

    from .io import Calibration

__all__ = [
    "TRACK_COLUMNS",
    "write_tracks_csv",
    "read_tracks_csv",
    "tracks_to_dataframe",
    "write_run_json",
    "read_run_json",
]

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("track_id", "frame", "position")
CALIBRATED_COLUMNS = ("time_s", "position_um")
SCALAR_COLUMNS = ("size", "brightness", "confidence")
#: every column kymotrace writes, in file order
TRACK_COLUMNS = REQUIRED_COLUMNS + ("gap",) + CALIBRATED_COLUMNS + SCALAR_COLUMNS

_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f", ""}


def _columns(tracks: Sequence[Track], calibration: "Calibration | None") -> list[str]:
    cols = list(REQUIRED_COLUMNS) + ["gap"]
    if calibration is not None and calibration.frame_interval is not None:
        cols.append("time_s")
    if calibration is not None and calibration.pixel_size is not None:
        cols.append("position_um")
    cols += [c for c in SCALAR_COLUMNS if any(getattr(t, c) is not None for t in tracks)]
    return cols


def _sorted_tracks(tracks: Sequence[Track]) -> list[Track]:
    ids = [int(t.track_id) for t in tracks]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"track ids must be unique within one tracks file; repeated: {dup[:10]}")
    return sorted(tracks, key=lambda t: int(t.track_id))


def _num(value: float) -> str:
    """Shortest text that reads back as exactly the same double."""
    return repr(float(value))


def _derived(value: float) -> str:
    """A calibrated value: 12 significant digits hide float noise such as 0.30000000000000004."""
    return f"{value:.12g}"


def write_tracks_csv(
    path: str | os.PathLike,
    tracks: Sequence[Track],
    *,
    calibration: "Calibration | None" = None,
) -> None:
    """Write ``tracks`` to ``path`` as a tracks.csv file, atomically.

    Parameters
    ----------
    path : str or path-like
        Destination; parent folders are created. The file appears only when complete.
    tracks : sequence of Track
        Tracks with unique ``track_id``; written sorted by id, then frame.
    calibration : Calibration, optional
        Adds ``time_s`` (when the frame interval is known) and ``position_um`` (when the
        pixel size is known).

    Raises
    ------
    ValueError
        Two tracks share an id.
    """
    ordered = _sorted_tracks(tracks)
    for t in ordered:
        if not np.all(np.isfinite(t.positions)):
            raise ValueError(f"track {t.track_id}: positions must be finite to be written")
    cols = _columns(ordered, calibration)
    fi = calibration.frame_interval if calibration is not None else None
    px = calibration.pixel_size if calibration is not None else None
    with atomic_open(path, "w") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(cols)
        for t in ordered:
            scalars = {c: "" if getattr(t, c) is None else _num(getattr(t, c)) for c in SCALAR_COLUMNS}
            for f, x, g in zip(t.frames, t.positions, t.gap):
                row = {"track_id": str(int(t.track_id)), "frame": str(int(f)), "position": _num(x),
                       "gap": "1" if g else "0"}
                if fi is not None:
                    row["time_s"] = _derived(int(f) * fi)
                if px is not None:
                    row["position_um"] = _derived(float(x) * px)
                row.update(scalars)
                writer.writerow([row[c] for c in cols])
    logger.debug("wrote %d tracks to %s", len(ordered), path)


def tracks_to_dataframe(
    tracks: Sequence[Track], *, calibration: "Calibration | None" = None
) -> "pandas.DataFrame":
    """The tracks as a table with the columns of tracks.csv (one row per track per frame).

    Parameters
    ----------
    tracks : sequence of Track
    calibration : Calibration, optional
        Adds ``time_s`` and/or ``position_um`` where known.

    Returns
    -------
    pandas.DataFrame
        ``track_id`` and ``frame`` int64, ``position`` and calibrated columns float64, ``gap``
        bool, per-track scalars float64 (NaN where a track has none). Sorted by track, frame.
    """
    import pandas as pd

    ordered = _sorted_tracks(tracks)
    cols = _columns(ordered, calibration)
    n = [len(t) for t in ordered]
    data: dict[str, Any] = {
        "track_id": np.repeat(np.array([int(t.track_id) for t in ordered], dtype=np.int64), n),
        "frame": np.concatenate([t.frames for t in ordered]) if ordered else np.zeros(0, np.int64),
        "position": np.concatenate([t.positions for t in ordered]) if ordered else np.zeros(0),
        "gap": np.concatenate([t.gap for t in ordered]) if ordered else np.zeros(0, bool),
    }
    if "time_s" in cols:
        data["time_s"] = data["frame"] * float(calibration.frame_interval)  # type: ignore[union-attr]
    if "position_um" in cols:
        data["position_um"] = data["position"] * float(calibration.pixel_size)  # type: ignore[union-attr]
    for c in SCALAR_COLUMNS:
        if c in cols:
            vals = [np.nan if getattr(t, c) is None else float(getattr(t, c)) for t in ordered]
            data[c] = np.repeat(np.array(vals, dtype=np.float64), n)
    return pd.DataFrame({c: data[c] for c in cols})


def read_tracks_csv(path: str | os.PathLike) -> list[Track]:
    """Read a tracks.csv file written by :func:`write_tracks_csv` (or by hand).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    list of Track
        In the order of first appearance in the file (sorted by id for kymotrace's files).
        Calibrated columns are not needed to rebuild tracks and are ignored.

    Raises
    ------
    InputError
        Missing or empty file, a missing required column, a value that is not a number,
        repeated or non-consecutive frames within a track.
    """
    p = Path(path)
    name = str(p)
    if not p.is_file():
        raise InputError(f"{name}: tracks file not found; check the path")
    try:
        with open(p, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not a text CSV file ({exc}); give a tracks.csv file") from exc
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise InputError(f"{name}: the file is empty (no header line); a tracks file starts with the "
                         f"header {','.join(REQUIRED_COLUMNS)},...")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise InputError(f"{name}: missing required column(s) {', '.join(missing)}; found columns "
                         f"{', '.join(header)}; a tracks file needs {', '.join(REQUIRED_COLUMNS)} "
                         "(one row per track per frame)")
    idx = {c: header.index(c) for c in TRACK_COLUMNS if c in header}
    groups: dict[int, list[tuple[int, int, float, bool]]] = {}
    scalars: dict[int, dict[str, float | None]] = {}
    for lineno, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # blank line
        if len(row) < len(header):
            row = row + [""] * (len(header) - len(row))
        tid = _parse_int(row[idx["track_id"]], "track_id", name, lineno)
        frame = _parse_int(row[idx["frame"]], "frame", name, lineno)
        pos = _parse_float(row[idx["position"]], "position", name, lineno)
        if pos is None:
            raise InputError(f"{name}, line {lineno}: position is empty; every row needs a position (px)")
        gap = _parse_bool(row[idx["gap"]], name, lineno) if "gap" in idx else False
        if tid not in groups:
            groups[tid] = []
            scalars[tid] = {c: _parse_float(row[idx[c]], c, name, lineno) if c in idx else None
                            for c in SCALAR_COLUMNS}
        groups[tid].append((frame, lineno, pos, gap))
    tracks = []
    for tid, items in groups.items():
        items.sort()
        frames = [it[0] for it in items]
        for (f0, l0, _, _), (f1, l1, _, _) in zip(items, items[1:]):
            if f1 == f0:
                raise InputError(f"{name}: track {tid} has frame {f0} twice (lines {l0} and {l1}); "
                                 "each track needs exactly one row per frame")
            if f1 != f0 + 1:
                raise InputError(f"{name}: track {tid} jumps from frame {f0} (line {l0}) to frame {f1} "
                                 f"(line {l1}); frames within a track must be consecutive: add the "
                                 "missing frames (gap=1 where the position is interpolated) or split "
                                 "the track")
        tracks.append(Track(track_id=tid, frames=np.array(frames, dtype=np.int64),
                            positions=np.array([it[2] for it in items], dtype=np.float64),
                            gap=np.array([it[3] for it in items], dtype=bool), **scalars[tid]))
    return tracks


def _parse_int(text: str, col: str, name: str, lineno: int) -> int:
    s = text.strip()
    try:
        return int(s)
    except ValueError:
        try:
            v = float(s)
        except ValueError:
            v = math.nan
        if math.isfinite(v) and v == int(v):
            return int(v)  # "12.0", as spreadsheets sometimes write
    raise InputError(f"{name}, line {lineno}: {col} is {text!r}, not a whole number")


def _parse_float(text: str, col: str, name: str, lineno: int) -> float | None:
    s = text.strip()
    if not s:
        return None
    try:
        v = float(s)
    except ValueError:
        v = math.nan
    if not math.isfinite(v):
        raise InputError(f"{name}, line {lineno}: {col} is {text!r}, not a finite number")
    return v


def _parse_bool(text: str, name: str, lineno: int) -> bool:
    s = text.strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise InputError(f"{name}, line {lineno}: gap is {text!r}; use 1 (gap) or 0 (no gap)")


# --------------------------------------------------------------------------- run.json


def _jsonable(obj: Any) -> Any:
    """Plain JSON values for settings: numpy scalars/arrays, paths, tuples, sets, dataclasses."""
    import dataclasses

    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted((_jsonable(v) for v in obj), key=repr)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(dataclasses.asdict(obj))
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def write_run_json(path: str | os.PathLike, settings: dict) -> None:
    """Write the run record ``run.json`` atomically.

    Parameters
    ----------
    path : str or path-like
    settings : dict
        Every effective setting, versions and model hashes. numpy values, paths, tuples and
        dataclasses are converted to plain JSON; NaN becomes null.

    Notes
    -----
    ``kymotrace_version`` and ``format_version`` (:data:`kymotrace.FORMAT_VERSION`) are added
    first and take precedence over keys of the same name in ``settings``.
    """
    from . import FORMAT_VERSION, __version__

    if not isinstance(settings, dict):
        raise TypeError(f"settings must be a dict, not {type(settings).__name__}")
    record = {"kymotrace_version": __version__, "format_version": FORMAT_VERSION}
    record.update({k: v for k, v in _jsonable(settings).items() if k not in record})
    with atomic_open(path, "w") as fh:
        json.dump(record, fh, indent=2, ensure_ascii=False, allow_nan=False)
        fh.write("\n")


def read_run_json(path: str | os.PathLike) -> dict:
    """Read a ``run.json`` record.

    Raises
    ------
    InputError
        Missing file, invalid JSON, not a JSON object, or a format version newer than this
        kymotrace understands.
    """
    from . import FORMAT_VERSION

    p = Path(path)
    name = str(p)
    if not p.is_file():
        raise InputError(f"{name}: run record not found; check the path")
    try:
        data = json.loads(p.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{name}: not valid JSON ({exc}); the run record is damaged") from exc
    if not isinstance(data, dict):
        raise InputError(f"{name}: expected a JSON object with the run settings, found a "
                         f"{type(data).__name__}")
    version = data.get("format_version")
    if version is None:
        logger.warning("%s: no format_version; assuming format version 1", name)
    elif not isinstance(version, int) or isinstance(version, bool):
        raise InputError(f"{name}: format_version is {version!r}; expected a whole number")
    elif version > FORMAT_VERSION:
        raise InputError(f"{name}: written with output format version {version} (by kymotrace "
                         f"{data.get('kymotrace_version', '?')}), newer than this kymotrace understands "
                         f"(version {FORMAT_VERSION}); upgrade kymotrace")
    return data
