"""Derived quantities per track and per kymograph: the numbers biologists report.

Three results, all computed from :class:`~kymotrace.track.Track` objects (one position per
frame, consecutive frames; positions inside gaps are the interpolated ones and are used as is):

:func:`track_summary` -> ``summary.csv``
    One row per track (sorted by ``track_id``). Units are in the column names: ``_px``,
    ``_frames``, ``_px_per_frame``, ``_per_frame`` columns are always there; ``_um`` columns
    only when the pixel size is known, ``_s`` and ``_per_s`` columns only when the frame
    interval is known, ``_um_per_s`` columns only when both are known.
:func:`kymograph_summary` -> one dict per kymograph (a row of ``kymographs.csv``, run.json).
:func:`kymobutler_summary` -> ``kymobutler_summary.csv`` with KymoButler's five columns.

Conventions
-----------
* **Sign.** Every signed column of :func:`track_summary` and :func:`kymograph_summary` reads
  *anterograde-positive*: with ``MotionSettings(anterograde="right")`` (default) anterograde is
  toward increasing position (column), with ``anterograde="left"`` toward decreasing position,
  so a track moving to higher columns then has ``direction == -1`` and a negative
  ``net_displacement_px``. :func:`kymobutler_summary` keeps KymoButler's convention: positive =
  toward increasing position, whatever ``anterograde`` is.
* **Duration.** ``n_frames`` is the number of frames a track exists in (``end - start + 1``);
  ``duration_frames = n_frames - 1`` is the elapsed time from its first to its last frame, the
  time base of every velocity and frequency here, and equal to run time + pause time.
  KymoButler's ``track duration [sec]`` is ``n_frames`` x frame interval instead.
* **Labels.** ``label`` is "anterograde" / "retrograde" / "stationary" for ``direction``
  +1 / -1 / 0, so "stationary" means *no net direction by the paper's rule*: it includes
  reversing tracks whose segment codes cancel. ``motile`` (any run) tells moving from still.
* **Undefined values** (e.g. a speed of a one-frame track) are NaN, never 0.

The paper's quantities (KymoButler, eLife 2019, 'Derived quantities')
-------------------------------------------------------------------
* ``mean_speed_px_per_frame``: mean absolute frame-to-frame displacement, mean(|dx|).
* ``path_length_px``: sum of absolute frame-to-frame displacements, sum(|dx|) (KymoButler
  calls it "track total displacement").
* ``direction``: +1 / -1 / 0. ``kind="uni"``: the sign of the end-to-end displacement.
  ``kind="bi"``: the track is cut into consecutive segments of up to ``segment_frames`` (5)
  frames; neighbouring segments share their boundary frame, so every frame-to-frame step
  belongs to exactly one segment (frames 0-4, 4-8, 8-12, ...; the last one may be shorter).
  A segment's code is +1 if all its steps are positive, -1 if all are negative, else 0; the
  track's direction is the sign of the sum of the codes. A step counts as zero (neither
  positive nor negative) only when ``|dx| <= 1e-9`` px (round-off), as in the paper.
* ``reversing``: the track has segments coded +1 and segments coded -1 (same segments).
* ``paper_pause_segments``: the paper's "pause time", the number of those segments whose
  displacement (last minus first position) is within ``stationary_tolerance`` px of 0.

Beyond the paper: run/pause segmentation
----------------------------------------
Frame-to-frame velocities ``v = dx`` (px/frame) are smoothed with a centred moving mean over
``smoothing_frames`` steps (shorter at the track ends). A step is *paused* when
``|smoothed v| < pause_speed``, else it is a *run* in the direction of the smoothed velocity.
Runs and pauses shorter than ``min_run_frames`` steps are merged into a neighbour, shortest
first, each into its longer neighbour (the earlier one on a tie), until every segment is long
enough or one segment is left. Last, because the moving mean spreads a run into a pause next
to it, up to ``smoothing_frames // 2`` steps at that end of the run whose raw speed is below
the threshold (or against the run) are given back to the pause, as long as the run keeps
``min_run_frames`` steps; so a particle that sits for 4 steps then moves has exactly 4 pause
steps. From these segments:

* ``motile``: the track has at least one run; ``n_runs``, ``run_time_frames``;
* ``run_speed_px_per_frame``: mean raw |dx| over run steps only (pauses excluded);
* ``n_pauses`` (pause segments, including one at the start or end of a track, and 1 for a
  track that never moves), ``pause_time_frames``, ``pause_frequency_per_frame`` (n_pauses /
  duration);
* ``n_reversals``: changes of run direction, pauses in between ignored (run +, pause,
  run - is one reversal); ``reversal_frequency_per_frame`` (n_reversals / duration).

Default pause threshold (``pause_speed=None``): 0.1 µm/s when both pixel size and frame
interval are known, else 0.5 px/frame. Smoothing over 3 steps makes tracing jitter of about
0.3 px per position read as about 0.15 px/frame, well below 0.5 px/frame; with a fine
calibration 0.1 µm/s can be below the jitter (e.g. 0.2 px/frame at 0.1 µm/px, 0.2 s/frame),
so set ``pause_speed`` for the data at hand. An explicit ``pause_speed`` is in µm/s when both
are known, else in px/frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from .errors import InputError, OptionError
from .io import Calibration
from .track import Track

__all__ = [
    "MotionSettings", "MotionSegment", "KYMOBUTLER_COLUMNS", "DEFAULT_PAUSE_SPEED_UM_PER_S",
    "DEFAULT_PAUSE_SPEED_PX_PER_FRAME", "track_summary", "kymograph_summary", "kymobutler_summary",
    "motion_segments", "direction_code",
]

#: default pause threshold when pixel size and frame interval are known (µm/s)
DEFAULT_PAUSE_SPEED_UM_PER_S = 0.1
#: default pause threshold otherwise (px/frame)
DEFAULT_PAUSE_SPEED_PX_PER_FRAME = 0.5
#: KymoButler's summary columns, in its order
KYMOBUTLER_COLUMNS = (
    "Direction", "Av frame2frame velocity [um/sec]", "track duration [sec]",
    "track total displacement [um]", "Start2end velocity [um/sec]",
)
_ZERO = 1e-9  # px: a step this small is zero (float round-off), neither positive nor negative
_LABELS = {1: "anterograde", -1: "retrograde", 0: "stationary"}


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


@dataclass(frozen=True)
class MotionSettings:
    """How tracks are classified into directions, runs and pauses.

    Attributes
    ----------
    anterograde : {"right", "left"}
        ``"right"``: anterograde is toward increasing position (column); ``"left"``: toward
        decreasing position. Signed outputs read anterograde-positive.
    pause_speed : float or None
        A smoothed frame-to-frame speed below this is a pause: µm/s when the calibration has
        both pixel size and frame interval, else px/frame. None: 0.1 µm/s calibrated,
        0.5 px/frame uncalibrated (see the module notes).
    min_run_frames : int
        Shortest run or pause segment, in frame-to-frame steps (>= 1); shorter ones are merged
        into a neighbour.
    stationary_tolerance : float
        px (>= 0): a paper segment whose displacement is within this of 0 counts as a pause
        (the paper's "0 displacement").
    kind : {"bi", "uni"}
        Direction rule: ``"uni"`` sign of the end-to-end displacement, ``"bi"`` the paper's
        segment rule.
    smoothing_frames : int
        Odd window (steps, >= 1) of the moving mean applied to velocities before run/pause
        classification; 1 means no smoothing.
    segment_frames : int
        Frames per segment of the paper's direction and pause rules (>= 2; paper: 5).
    """

    anterograde: str = "right"
    pause_speed: float | None = None
    min_run_frames: int = 3
    stationary_tolerance: float = 1.0
    kind: str = "bi"
    smoothing_frames: int = 3
    segment_frames: int = 5

    def __post_init__(self) -> None:
        def check(name: str, ok: bool, allowed: str) -> None:
            if not ok:
                raise OptionError(f"{name}={getattr(self, name)!r} is not allowed: {allowed}")

        def nonneg(v: Any) -> bool:
            return _is_number(v) and math.isfinite(v) and v >= 0

        check("anterograde", self.anterograde in ("right", "left"), "use 'right' (anterograde = toward "
              "increasing position) or 'left' (toward decreasing position)")
        check("kind", self.kind in ("uni", "bi"), "use 'uni' or 'bi'")
        check("pause_speed", self.pause_speed is None or nonneg(self.pause_speed),
              "give a speed >= 0 (µm/s when calibrated, else px/frame), or None for the default")
        check("min_run_frames", _is_int(self.min_run_frames) and self.min_run_frames >= 1,
              "give an integer >= 1")
        check("stationary_tolerance", nonneg(self.stationary_tolerance), "give a distance >= 0 px")
        check("smoothing_frames", _is_int(self.smoothing_frames) and self.smoothing_frames >= 1
              and self.smoothing_frames % 2 == 1, "give an odd integer >= 1 (1 = no smoothing)")
        check("segment_frames", _is_int(self.segment_frames) and self.segment_frames >= 2,
              "give an integer >= 2")

    @property
    def sign(self) -> int:
        """+1 if anterograde is toward increasing position, else -1."""
        return 1 if self.anterograde == "right" else -1

    def pause_speed_px_per_frame(self, calibration: Calibration | None = None) -> float:
        """The pause threshold in px/frame for ``calibration`` (see :attr:`pause_speed`)."""
        px, dt = _scales(calibration)
        both = px is not None and dt is not None
        if self.pause_speed is None:
            return DEFAULT_PAUSE_SPEED_UM_PER_S * dt / px if both else DEFAULT_PAUSE_SPEED_PX_PER_FRAME
        return float(self.pause_speed) * dt / px if both else float(self.pause_speed)


@dataclass(frozen=True)
class MotionSegment:
    """One run or pause of a track (see :func:`motion_segments`).

    Attributes
    ----------
    start_frame, end_frame : int
        First and last frame (inclusive); consecutive segments share their boundary frame.
    state : int
        +1 anterograde run, -1 retrograde run, 0 pause.
    """

    start_frame: int
    end_frame: int
    state: int

    @property
    def duration_frames(self) -> int:
        """Elapsed frames, ``end_frame - start_frame``."""
        return self.end_frame - self.start_frame


# --------------------------------------------------------------------------- helpers


def _scales(calibration: Calibration | None) -> tuple[float | None, float | None]:
    """(pixel size µm/px, frame interval s/frame), each None when unknown; checked > 0."""
    if calibration is None:
        return None, None
    out = []
    for name, v in (("pixel_size", calibration.pixel_size), ("frame_interval", calibration.frame_interval)):
        if v is not None and not (_is_number(v) and math.isfinite(v) and v > 0):
            raise OptionError(f"calibration {name}={v!r} is not allowed: give a positive number or None")
        out.append(None if v is None else float(v))
    return out[0], out[1]


def _check_shape(shape: Any) -> tuple[int, int]:
    try:
        t, w = (int(s) for s in shape)
        ok = t >= 1 and w >= 1 and all(float(s) == int(s) for s in shape)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise OptionError(f"shape={shape!r} is not allowed: give the kymograph's (n_frames, n_positions)")
    return t, w


def _check_tracks(tracks: Iterable[Track]) -> list[Track]:
    out = list(tracks)
    for t in out:
        if not isinstance(t, Track):
            raise InputError(f"expected kymotrace.track.Track objects, got {type(t).__name__}")
        if t.frames.size == 0:
            raise InputError(f"track {t.track_id} has no frames; remove empty tracks")
        if not np.all(np.isfinite(t.positions)):
            raise InputError(f"track {t.track_id} has non-finite positions; every frame needs a position")
    return sorted(out, key=lambda t: int(t.track_id))


def _sign(x: float) -> int:
    return 1 if x > _ZERO else (-1 if x < -_ZERO else 0)


def _paper_segments(positions: np.ndarray, segment_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes (+1/-1/0) and displacements (px) of the paper's consecutive segments."""
    dx = np.diff(positions)
    step = segment_frames - 1
    codes, disp = [], []
    for i in range(0, dx.size, step):
        d = dx[i:i + step]
        codes.append(1 if np.all(d > _ZERO) else (-1 if np.all(d < -_ZERO) else 0))
        disp.append(positions[i + d.size] - positions[i])
    return np.asarray(codes, dtype=np.int64), np.asarray(disp, dtype=np.float64)


def direction_code(positions: Sequence[float] | np.ndarray, *, kind: str = "bi", segment_frames: int = 5) -> int:
    """The paper's direction code of one track, positive = toward increasing position.

    Parameters
    ----------
    positions : array of float, shape (n,)
        Positions (px) in consecutive frames.
    kind : {"bi", "uni"}
        ``"uni"``: sign of the end-to-end displacement; ``"bi"``: sign of the sum of the
        segment codes (see the module notes).
    segment_frames : int
        Frames per segment for ``"bi"`` (paper: 5).

    Returns
    -------
    int
        +1, -1 or 0 (0 for a one-frame track).
    """
    x = np.asarray(positions, dtype=np.float64).ravel()
    if kind not in ("uni", "bi"):
        raise OptionError(f"kind={kind!r} is not allowed: use 'uni' or 'bi'")
    if not (_is_int(segment_frames) and segment_frames >= 2):
        raise OptionError(f"segment_frames={segment_frames!r} is not allowed: give an integer >= 2")
    if x.size < 2:
        return 0
    if kind == "uni":
        return _sign(float(x[-1] - x[0]))
    codes, _ = _paper_segments(x, segment_frames)
    return int(np.sign(codes.sum()))


def _smooth(v: np.ndarray, window: int) -> np.ndarray:
    """Centred moving mean over ``window`` (odd) samples, shortened at the ends."""
    h = window // 2
    c = np.concatenate([[0.0], np.cumsum(v)])
    i = np.arange(v.size)
    lo = np.maximum(i - h, 0)
    hi = np.minimum(i + h + 1, v.size)
    return (c[hi] - c[lo]) / (hi - lo)


def _runs(states: np.ndarray) -> list[tuple[int, int, int]]:
    """Maximal runs of equal values: (start, stop, value), stop exclusive."""
    if states.size == 0:
        return []
    edges = np.flatnonzero(np.diff(states)) + 1
    starts = np.concatenate([[0], edges])
    stops = np.concatenate([edges, [states.size]])
    return [(int(a), int(b), int(states[a])) for a, b in zip(starts, stops)]


def _step_states(positions: np.ndarray, pause_px: float, settings: MotionSettings) -> np.ndarray:
    """Run/pause state per frame-to-frame step: +1/-1 run toward +/- position, 0 pause."""
    v = np.diff(positions)
    if v.size == 0:
        return np.zeros(0, dtype=np.int64)
    s = _smooth(v, settings.smoothing_frames)
    states = np.where(np.abs(s) < pause_px, 0, np.sign(s)).astype(np.int64)
    segs = _runs(states)
    while len(segs) > 1:
        lengths = [b - a for a, b, _ in segs]
        k = int(np.argmin(lengths))
        if lengths[k] >= settings.min_run_frames:
            break
        if k == 0:
            new = segs[1][2]
        elif k == len(segs) - 1:
            new = segs[k - 1][2]
        else:
            new = segs[k - 1][2] if lengths[k - 1] >= lengths[k + 1] else segs[k + 1][2]
        a, b, _ = segs[k]
        states[a:b] = new
        segs = _runs(states)
    return _trim_runs(states, v, pause_px, settings)


def _trim_runs(states: np.ndarray, v: np.ndarray, pause_px: float, settings: MotionSettings) -> np.ndarray:
    """Give back to a neighbouring pause the run steps that smoothing pulled into the run.

    The moving mean spreads a run up to ``smoothing_frames // 2`` steps into a pause next to
    it; those steps of the run, counted from the pause, whose raw velocity is below the
    threshold or against the run become pause steps, as long as the run keeps at least
    ``min_run_frames`` steps.
    """
    h = settings.smoothing_frames // 2
    segs = _runs(states)
    for k, (a, b, s) in enumerate(segs):
        if s == 0 or h == 0:
            continue
        slow = (np.abs(v[a:b]) < pause_px) | (np.sign(v[a:b]) != s)
        lo, hi = a, b  # the run keeps steps lo..hi-1
        if k > 0 and segs[k - 1][2] == 0:
            while lo < a + h and hi - lo > settings.min_run_frames and slow[lo - a]:
                lo += 1
        if k < len(segs) - 1 and segs[k + 1][2] == 0:
            while hi > b - h and hi - lo > settings.min_run_frames and slow[hi - 1 - a]:
                hi -= 1
        states[a:lo] = 0
        states[hi:b] = 0
    return states


def motion_segments(
    track: Track, *, calibration: Calibration | None = None, settings: MotionSettings = MotionSettings()
) -> list[MotionSegment]:
    """Runs and pauses of one track (for plots; the same segmentation as :func:`track_summary`).

    Parameters
    ----------
    track : Track
    calibration : Calibration or None
        Only used to convert ``settings.pause_speed`` to px/frame.
    settings : MotionSettings

    Returns
    -------
    list of MotionSegment
        In time order, states anterograde-positive; empty for a one-frame track.
    """
    states = _step_states(track.positions, settings.pause_speed_px_per_frame(calibration), settings)
    f0 = int(track.frames[0])
    return [MotionSegment(f0 + a, f0 + b, settings.sign * s) for a, b, s in _runs(states)]


def _nan_div(a: float, b: float) -> float:
    return float(a) / b if b > 0 else math.nan


def _mean(a: Any) -> float:
    a = np.asarray(a, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else math.nan


# --------------------------------------------------------------------------- per track

# base columns (always present) and their dtypes; calibrated columns are inserted after their base
_BASE = {
    "track_id": "int64", "start_frame": "int64", "end_frame": "int64", "n_frames": "int64",
    "gap_frames": "int64", "duration_frames": "int64", "start_position_px": "float64",
    "end_position_px": "float64", "direction": "int64", "label": "object", "reversing": "bool",
    "net_displacement_px": "float64", "path_length_px": "float64", "mean_speed_px_per_frame": "float64",
    "net_velocity_px_per_frame": "float64", "paper_pause_segments": "int64", "motile": "bool",
    "n_runs": "int64", "run_time_frames": "int64", "run_speed_px_per_frame": "float64",
    "n_pauses": "int64", "pause_time_frames": "int64", "pause_frequency_per_frame": "float64",
    "n_reversals": "int64", "reversal_frequency_per_frame": "float64", "confidence": "float64",
    "cut_off": "boolean",
}
# calibrated column -> (base column, what it needs: x = pixel size, t = frame interval, v = both)
_CALIBRATED = {
    "duration_s": ("duration_frames", "t"),
    "net_displacement_um": ("net_displacement_px", "x"),
    "path_length_um": ("path_length_px", "x"),
    "mean_speed_um_per_s": ("mean_speed_px_per_frame", "v"),
    "net_velocity_um_per_s": ("net_velocity_px_per_frame", "v"),
    "run_time_s": ("run_time_frames", "t"),
    "run_speed_um_per_s": ("run_speed_px_per_frame", "v"),
    "pause_time_s": ("pause_time_frames", "t"),
    "pause_frequency_per_s": ("pause_frequency_per_frame", "f"),
    "reversal_frequency_per_s": ("reversal_frequency_per_frame", "f"),
}


def _factor(need: str, px: float | None, dt: float | None) -> float | None:
    if need == "x":
        return px
    if need == "t":
        return dt
    if need == "f":
        return None if dt is None else 1.0 / dt
    return None if px is None or dt is None else px / dt


def _columns(px: float | None, dt: float | None) -> list[str]:
    cols: list[str] = []
    for c in _BASE:
        cols.append(c)
        cols += [k for k, (b, need) in _CALIBRATED.items() if b == c and _factor(need, px, dt) is not None]
    return cols


def _track_row(
    tr: Track, settings: MotionSettings, pause_px: float, shape: tuple[int, int] | None
) -> dict[str, Any]:
    x = tr.positions
    n = x.size
    dx = np.diff(x)
    dur = n - 1
    sgn = settings.sign
    codes, seg_disp = _paper_segments(x, settings.segment_frames)
    raw_dir = _sign(float(x[-1] - x[0])) if settings.kind == "uni" else int(np.sign(codes.sum()))
    direction = sgn * raw_dir
    states = _step_states(x, pause_px, settings)
    segs = _runs(states)
    run_states = [s for _, _, s in segs if s != 0]
    n_pauses = sum(1 for _, _, s in segs if s == 0)
    n_rev = sum(1 for a, b in zip(run_states, run_states[1:]) if a != b)
    run_mask = states != 0
    if shape is None:
        cut: Any = pd.NA
    else:
        t_max, w = shape
        cut = bool(
            tr.start <= 0 or tr.end >= t_max - 1 or float(x.min()) <= 1.0 or float(x.max()) >= w - 2.0
        )
    return {
        "track_id": int(tr.track_id),
        "start_frame": tr.start,
        "end_frame": tr.end,
        "n_frames": int(n),
        "gap_frames": int(np.count_nonzero(tr.gap)),
        "duration_frames": int(dur),
        "start_position_px": float(x[0]),
        "end_position_px": float(x[-1]),
        "direction": int(direction),
        "label": _LABELS[int(direction)],
        "reversing": bool((codes == 1).any() and (codes == -1).any()),
        "net_displacement_px": float(sgn * (x[-1] - x[0])),
        "path_length_px": float(np.abs(dx).sum()),
        "mean_speed_px_per_frame": float(np.abs(dx).mean()) if dur else math.nan,
        "net_velocity_px_per_frame": _nan_div(sgn * (x[-1] - x[0]), dur),
        "paper_pause_segments": int(np.count_nonzero(np.abs(seg_disp) <= settings.stationary_tolerance)),
        "motile": bool(run_states),
        "n_runs": len(run_states),
        "run_time_frames": int(run_mask.sum()),
        "run_speed_px_per_frame": float(np.abs(dx[run_mask]).mean()) if run_mask.any() else math.nan,
        "n_pauses": int(n_pauses),
        "pause_time_frames": int((~run_mask).sum()),
        "pause_frequency_per_frame": _nan_div(n_pauses, dur),
        "n_reversals": int(n_rev),
        "reversal_frequency_per_frame": _nan_div(n_rev, dur),
        "confidence": math.nan if tr.confidence is None else float(tr.confidence),
        "cut_off": cut,
    }


def track_summary(
    tracks: Iterable[Track],
    *,
    calibration: Calibration | None = None,
    settings: MotionSettings = MotionSettings(),
    shape: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """Per-track derived quantities, the table written as ``summary.csv``.

    Parameters
    ----------
    tracks : iterable of Track
        Tracks of one kymograph.
    calibration : Calibration or None
        Pixel size (µm/px) and frame interval (s/frame); each adds its columns when known.
    settings : MotionSettings
        Anterograde side, direction rule, pause threshold and segment lengths.
    shape : (n_frames, n_positions) or None
        Kymograph shape, needed for ``cut_off``; without it ``cut_off`` is missing (NA).

    Returns
    -------
    pandas.DataFrame
        One row per track, sorted by ``track_id``; signed columns anterograde-positive,
        calibrated ones (in brackets) only when their calibration is known; definitions in the
        module notes. ``track_id``, ``start_frame``, ``end_frame`` (inclusive), ``n_frames``,
        ``gap_frames``, ``duration_frames`` [``duration_s``], ``start_position_px``,
        ``end_position_px``, ``direction``, ``label``, ``reversing``, ``net_displacement_px``
        [``_um``], ``path_length_px`` [``_um``], ``mean_speed_px_per_frame`` [``_um_per_s``],
        ``net_velocity_px_per_frame`` [``_um_per_s``] (start-to-end: net displacement /
        duration), ``paper_pause_segments``, ``motile``, ``n_runs``, ``run_time_frames``
        [``run_time_s``], ``run_speed_px_per_frame`` [``_um_per_s``], ``n_pauses``,
        ``pause_time_frames`` [``pause_time_s``], ``pause_frequency_per_frame`` [``_per_s``],
        ``n_reversals``, ``reversal_frequency_per_frame`` [``_per_s``], ``confidence`` (NaN
        when the track has none), ``cut_off`` (True when the track touches the first or last
        frame or comes within 1 px of the first or last column, so its true duration or length
        is unknown; NA without ``shape``).

        Empty input gives an empty table with the same columns.

    Examples
    --------
    >>> from kymotrace.track import Track
    >>> df = track_summary([Track(1, frames=range(10), positions=[2.0 * i for i in range(10)])])
    >>> float(df.loc[0, "mean_speed_px_per_frame"]), int(df.loc[0, "direction"]), df.loc[0, "label"]
    (2.0, 1, 'anterograde')
    """
    px, dt = _scales(calibration)
    shp = None if shape is None else _check_shape(shape)
    pause_px = settings.pause_speed_px_per_frame(calibration)
    rows = [_track_row(t, settings, pause_px, shp) for t in _check_tracks(tracks)]
    base = pd.DataFrame(
        {c: pd.Series([r[c] for r in rows], dtype=dtype) for c, dtype in _BASE.items()}
    )
    cols = _columns(px, dt)
    for c in cols:
        if c in _CALIBRATED:
            b, need = _CALIBRATED[c]
            base[c] = base[b].astype("float64") * _factor(need, px, dt)
    return base[cols].reset_index(drop=True)


# --------------------------------------------------------------------------- per kymograph

_AVERAGED = (
    "n_frames", "duration_frames", "duration_s", "net_displacement_px", "net_displacement_um",
    "path_length_px", "path_length_um", "mean_speed_px_per_frame", "mean_speed_um_per_s",
    "net_velocity_px_per_frame", "net_velocity_um_per_s", "paper_pause_segments",
    "run_speed_px_per_frame", "run_speed_um_per_s", "n_pauses", "pause_time_frames", "pause_time_s",
    "pause_frequency_per_frame", "pause_frequency_per_s", "n_reversals",
    "reversal_frequency_per_frame", "reversal_frequency_per_s", "confidence",
)


def _crossings(x: np.ndarray, middle: float) -> tuple[int, int]:
    """Crossings of ``middle`` toward increasing and toward decreasing position.

    A position exactly at ``middle`` keeps the side the track was on before, so touching the
    line and going back is no crossing.
    """
    side = np.sign(x - middle)
    side = side[side != 0]
    d = np.diff(side)
    return int(np.count_nonzero(d > 0)), int(np.count_nonzero(d < 0))


def kymograph_summary(
    tracks: Iterable[Track],
    *,
    calibration: Calibration | None = None,
    settings: MotionSettings = MotionSettings(),
    shape: tuple[int, int],
    table: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Per-kymograph quantities: counts, shares, means of the per-track values, flux, density.

    Parameters
    ----------
    tracks : iterable of Track
    calibration : Calibration or None
    settings : MotionSettings
    shape : (n_frames, n_positions)
        The kymograph's shape (frames, positions), required.
    table : pandas.DataFrame, optional
        :func:`track_summary` of these same tracks with these same arguments, when the caller
        has it already (it is not recomputed); by default it is computed here.

    Returns
    -------
    dict
        Plain ``int`` / ``float`` values (NaN when undefined, e.g. means over no tracks), keys
        in this order (calibrated ones only when their calibration is known):

        * ``n_tracks``, ``n_frames``, ``n_positions``; ``pause_speed_px_per_frame`` (the
          threshold used) [``pause_speed_um_per_s``];
        * ``n_anterograde``, ``n_retrograde``, ``n_stationary`` and ``fraction_*`` of all
          tracks (by ``direction``); ``n_reversing``, ``reversing_fraction`` (the paper's share
          of reversing tracks, as a fraction, not percent); ``n_motile``, ``motile_fraction``
          (tracks with any run); ``n_cut_off``;
        * ``mean_<column>`` for the per-track columns n_frames, duration, net displacement,
          path length, net velocity, paper_pause_segments, run speed, n_pauses, pause time,
          pause and reversal frequency, n_reversals, confidence (each over the tracks where
          it is defined) and ``mean_speed_px_per_frame`` [``mean_speed_um_per_s``], the
          paper's average frame-to-frame velocity per kymograph (mean of the track means);
        * ``middle_position_px`` = (n_positions - 1) / 2; ``crossings_anterograde``,
          ``crossings_retrograde``: times a track crosses that position each way (a track
          that goes back and forth counts every crossing); ``flux_anterograde_per_frame``,
          ``flux_retrograde_per_frame`` = crossings / (n_frames - 1) [``_per_s``];
        * ``mean_tracks_per_frame`` = sum of n_frames over tracks / n_frames;
          ``density_per_px`` = that / n_positions [``density_per_um``, per µm of path].
    """
    t_max, width = _check_shape(shape)
    px, dt = _scales(calibration)
    trs = _check_tracks(tracks)
    if table is None:
        df = track_summary(trs, calibration=calibration, settings=settings, shape=(t_max, width))
    elif len(table) != len(trs):
        raise ValueError(f"table has {len(table)} rows for {len(trs)} tracks; pass the track_summary of these tracks")
    else:
        df = table
    n = len(df)
    out: dict[str, Any] = {"n_tracks": n, "n_frames": t_max, "n_positions": width}
    out["pause_speed_px_per_frame"] = settings.pause_speed_px_per_frame(calibration)
    if px is not None and dt is not None:
        out["pause_speed_um_per_s"] = out["pause_speed_px_per_frame"] * px / dt
    for code, name in ((1, "anterograde"), (-1, "retrograde"), (0, "stationary")):
        out[f"n_{name}"] = int((df["direction"] == code).sum())
    for name in ("anterograde", "retrograde", "stationary"):
        out[f"fraction_{name}"] = _nan_div(out[f"n_{name}"], n)
    out["n_reversing"] = int(df["reversing"].sum())
    out["reversing_fraction"] = _nan_div(out["n_reversing"], n)
    out["n_motile"] = int(df["motile"].sum())
    out["motile_fraction"] = _nan_div(out["n_motile"], n)
    out["n_cut_off"] = int(df["cut_off"].fillna(False).astype(bool).sum())
    for c in _AVERAGED:
        if c in df.columns:
            out[c if c.startswith("mean_") else f"mean_{c}"] = _mean(df[c])
    middle = (width - 1) / 2.0
    up = down = 0
    for t in trs:
        u, d = _crossings(t.positions, middle)
        up, down = up + u, down + d
    ante, retro = (up, down) if settings.sign > 0 else (down, up)
    out["middle_position_px"] = middle
    out["crossings_anterograde"] = ante
    out["crossings_retrograde"] = retro
    out["flux_anterograde_per_frame"] = _nan_div(ante, t_max - 1)
    out["flux_retrograde_per_frame"] = _nan_div(retro, t_max - 1)
    if dt is not None:
        out["flux_anterograde_per_s"] = _nan_div(ante, (t_max - 1) * dt)
        out["flux_retrograde_per_s"] = _nan_div(retro, (t_max - 1) * dt)
    present = float(sum(len(t) for t in trs)) / t_max
    out["mean_tracks_per_frame"] = present
    out["density_per_px"] = present / width
    if px is not None:
        out["density_per_um"] = present / (width * px)
    return out


# --------------------------------------------------------------------------- KymoButler


def kymobutler_summary(
    tracks: Iterable[Track], *, calibration: Calibration | None = None, kind: str = "bi"
) -> pd.DataFrame:
    """KymoButler's summary table, column for column, so existing spreadsheets keep working.

    Parameters
    ----------
    tracks : iterable of Track
    calibration : Calibration or None
        An unknown pixel size counts as 1 µm/px and an unknown frame interval as 1 s/frame,
        so uncalibrated numbers are in px and frames despite the column names.
    kind : {"bi", "uni"}
        Direction rule of the paper: ``"uni"`` sign of the end-to-end displacement (what
        KymoButler's released code writes for every kymograph), ``"bi"`` the segment rule.

    Returns
    -------
    pandas.DataFrame
        One row per track, sorted by ``track_id`` (KymoButler has no id column), with the
        columns of :data:`KYMOBUTLER_COLUMNS`, not rounded:

        * ``Direction``: +1 / -1 / 0, positive = toward increasing position (KymoButler's
          convention, independent of any anterograde setting);
        * ``Av frame2frame velocity [um/sec]``: mean |dx| x pixel size / frame interval
          (NaN for a one-frame track);
        * ``track duration [sec]``: n_frames x frame interval (frames the track exists in,
          ``end - start + 1``, as KymoButler counts);
        * ``track total displacement [um]``: path length sum(|dx|) x pixel size;
        * ``Start2end velocity [um/sec]``: path length / track duration (KymoButler's
          definition; not net displacement / time).

        KymoButler's csv has a line ``"pixelsize time= <s> sec","pixelsize space= <um> um"``
        above the header; writing that line is up to the file writer.
    """
    if kind not in ("uni", "bi"):
        raise OptionError(f"kind={kind!r} is not allowed: use 'uni' or 'bi'")
    px, dt = _scales(calibration)
    px = 1.0 if px is None else px
    dt = 1.0 if dt is None else dt
    rows = []
    for t in _check_tracks(tracks):
        x = t.positions
        steps = np.abs(np.diff(x))
        duration = x.size * dt
        path = float(steps.sum()) * px
        rows.append((
            direction_code(x, kind=kind),
            float(steps.mean()) * px / dt if steps.size else math.nan,
            duration,
            path,
            path / duration,
        ))
    cols = list(KYMOBUTLER_COLUMNS)
    return pd.DataFrame(
        {
            c: pd.Series([r[i] for r in rows], dtype="int64" if i == 0 else "float64")
            for i, c in enumerate(cols)
        }
    )
