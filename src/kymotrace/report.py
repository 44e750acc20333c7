"""Pictures of a result: the track overlay (``overlay.png``) and summary plots (``plots.png``).

Both are drawn with Pillow and numpy alone (no matplotlib: importing it and building a first
figure cost each batch worker about a second, and drawing ``plots.png`` with it a third of the
per-kymograph time). Text uses Pillow's built-in scalable FreeType font
(``PIL.ImageFont.load_default(size=...)``), so the pictures need no system fonts, work headless and
are byte-identical for the same input. Pillow is imported lazily: importing this module is cheap.

The overlay is the kymograph ``image[t, x]`` (rows are frames, time runs down) as contrast-stretched
grey, bright on dark, with every track drawn 3 px wide in its own colour (:func:`track_color`,
stable per track ID) and its ID written next to its start. Frames in a gap are drawn dashed and
dimmer. Small kymographs are upscaled by an integer nearest-neighbour factor so the IDs are legible.
"""

from __future__ import annotations

import colorsys
import functools
import math
import os
import threading
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .errors import InputError, OptionError
from .fileutil import atomic_path
from .track import Track

if TYPE_CHECKING:  # pragma: no cover
    import pandas

__all__ = [
    "track_color",
    "overlay_scale",
    "overlay_image",
    "save_overlay",
    "save_plots",
    "PLOT_QUANTITIES",
    "DIRECTION_COLUMNS",
]

_GOLDEN = 0.618033988749895
#: the upscaled overlay's short side is at least this many pixels (when the long side allows)
MIN_SHORT_SIDE = 400
#: ... and its long side at most this many
MAX_LONG_SIDE = 4000
#: label font size (px) on the overlay
LABEL_PX = 12
#: weight of a track's colour on gap pixels (the rest is the image underneath)
GAP_ALPHA = 0.55
#: dash pattern of gap segments: on, off (display px along the 1-px line, before the 3x3
#: dilation, which shortens every "off" by 2 px)
GAP_DASH = (4, 5)


# ----------------------------------------------------------------------------------- colours
def track_color(track_id: int) -> tuple[int, int, int]:
    """The display colour of a track, stable per ID.

    Hues follow the golden-ratio sequence (neighbouring IDs get very different hues); colours are
    saturated and bright so they stand out on a grey, bright-on-dark kymograph.

    Parameters
    ----------
    track_id : int

    Returns
    -------
    (r, g, b) : tuple of int in [0, 255]
    """
    hue = (0.11 + int(track_id) * _GOLDEN) % 1.0
    value = 1.0 if int(track_id) % 2 == 0 else 0.9
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, value)
    return (round(r * 255), round(g * 255), round(b * 255))


# ----------------------------------------------------------------------------------- overlay
def overlay_scale(shape: tuple[int, int]) -> int:
    """The automatic integer upscaling factor of the overlay for an image of ``shape`` (t, x).

    The smallest factor that makes the short side at least :data:`MIN_SHORT_SIDE` px, but never so
    large that the long side exceeds :data:`MAX_LONG_SIDE` px; 1 for images that are big enough.
    """
    short, long_ = min(shape), max(shape)
    if short <= 0:
        return 1
    s = max(1, math.ceil(MIN_SHORT_SIDE / short))
    return max(1, min(s, MAX_LONG_SIDE // max(long_, 1)))


def _grey(image: np.ndarray) -> np.ndarray:
    """Contrast-stretch to uint8 between the 0.5th and 99.5th percentile (NaN -> black)."""
    img = np.asarray(image, dtype=np.float64)
    finite = np.isfinite(img)
    if not finite.any():
        return np.zeros(img.shape, np.uint8)
    lo, hi = np.percentile(img[finite], [0.5, 99.5])
    if not hi > lo:
        lo, hi = float(img[finite].min()), float(img[finite].max())
    if not hi > lo:  # constant image: mid-grey if non-zero, else black
        return np.full(img.shape, 128 if lo != 0 else 0, np.uint8)
    out = (np.where(finite, img, lo) - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _segment_pixels(
    r: np.ndarray, c: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """8-connected pixels along the polyline through integer points ``(r[i], c[i])``.

    Returns
    -------
    rows, cols : ndarray of int
        Pixels in order along the line (a pixel may repeat where points coincide).
    seg : ndarray of int
        Per pixel, the segment it belongs to (segment ``i`` joins points ``i`` and ``i + 1``;
        the last point counts to the last segment, a lone point to segment 0).
    vertex : ndarray of int, shape (n,)
        Index into rows/cols of each point.
    """
    n = r.size
    if n == 1:
        return r.copy(), c.copy(), np.zeros(1, np.int64), np.zeros(1, np.int64)
    dr = np.diff(r)
    dc = np.diff(c)
    steps = np.maximum(np.maximum(np.abs(dr), np.abs(dc)), 1)
    vertex = np.concatenate([[0], np.cumsum(steps)])
    seg = np.repeat(np.arange(n - 1), steps)
    k = np.arange(seg.size) - vertex[:-1][seg]
    frac = k / steps[seg]
    rr = np.rint(r[seg] + dr[seg] * frac).astype(np.int64)
    cc = np.rint(c[seg] + dc[seg] * frac).astype(np.int64)
    rr = np.append(rr, r[-1])
    cc = np.append(cc, c[-1])
    seg = np.append(seg, n - 2)
    return rr, cc, seg, vertex


_OFFSETS = np.array([(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)], np.int64)


def _dilate(rr: np.ndarray, cc: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixels within 1 px (3x3 square) of the given pixels, inside ``shape``."""
    r = (rr[None, :] + _OFFSETS[:, :1]).ravel()
    c = (cc[None, :] + _OFFSETS[:, 1:]).ravel()
    keep = (r >= 0) & (r < shape[0]) & (c >= 0) & (c < shape[1])
    return r[keep], c[keep]


def _display_points(track: Track, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer display coordinates (row, col) of a track's per-frame points (pixel centres)."""
    # the display pixel holding the continuous point (x + 0.5) * scale: the centre pixel of the
    # upscaled block (right/lower of the two central ones for even scales)
    r = track.frames * scale + scale // 2
    c = np.floor((track.positions + 0.5) * scale).astype(np.int64)
    return r.astype(np.int64), c


def _draw_track(rgb: np.ndarray, track: Track, scale: int) -> None:
    """Paint one track into ``rgb`` (in place): solid where visible, dashed and dimmer in gaps."""
    if len(track) == 0 or not np.all(np.isfinite(track.positions)):
        return
    shape = rgb.shape[:2]
    colour = np.array(track_color(track.track_id), np.float64)
    r, c = _display_points(track, scale)
    rr, cc, seg, vertex = _segment_pixels(r, c)
    g = track.gap
    seg_gap = g.copy() if g.size == 1 else (g[:-1] | g[1:])
    in_gap = seg_gap[seg]
    # the point of a visible frame stays solid where a gap segment starts or ends at it
    in_gap[vertex[~g]] = False
    if in_gap.any():
        order = np.cumsum(in_gap) - 1
        on, off = GAP_DASH
        dash = in_gap & ((order % (on + off)) < on)
        gr, gc = _dilate(rr[dash], cc[dash], shape)
        if gr.size:
            under = rgb[gr, gc].astype(np.float64)
            rgb[gr, gc] = np.rint(GAP_ALPHA * colour + (1.0 - GAP_ALPHA) * under).astype(np.uint8)
    solid = ~in_gap
    sr, sc = _dilate(rr[solid], cc[solid], shape)
    rgb[sr, sc] = colour.astype(np.uint8)


def _label_colour(track_id: int) -> tuple[float, float, float]:
    """The track colour lightened a little, so dark hues (blue) stay legible on black outline."""
    rgb = np.array(track_color(track_id), np.float64) / 255.0
    return tuple(float(v) for v in 0.7 * rgb + 0.3)  # type: ignore[return-value]


def _font(size: int):
    """Pillow's built-in scalable font (Aileron Regular, embedded in Pillow) at ``size`` px.

    Cached per thread (loading it decodes the embedded font, ~0.1 ms a time), so no FreeType
    face is ever used by two threads at once.
    """
    return _thread_font(int(size), threading.get_ident())


@functools.lru_cache(maxsize=64)
def _thread_font(size: int, thread: int):
    from PIL import ImageFont

    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):  # pragma: no cover - Pillow wheels have FreeType
        raise RuntimeError("kymotrace's pictures need Pillow built with FreeType support")
    return font


@functools.lru_cache(maxsize=1)
def _glyphs() -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], int]:
    """Coverage masks of the digits 0-9 as the labels draw them (LABEL_PX px, emboldened, a 2-px
    outline), rendered once per process with Pillow: ``({digit: (outline, fill)}, step)``, the
    masks float arrays in [0, 1] of one shape, ``outline`` covering the fill too, and ``step`` the
    digits' advance in px.

    The built-in font has one weight; the fill is drawn twice, 1 px apart horizontally, which
    thickens vertical strokes without closing the digits' counters (a FreeType stroke would),
    and its coverage is raised by a quarter so that stroke cores are solid.
    The outline is the same drawing with a 2-px stroke. Composing cached glyphs costs a few
    milliseconds per overlay. The font's digits share one advance width (tabular figures), so a
    label is its digits side by side.
    """
    from PIL import Image, ImageDraw

    font = _font(LABEL_PX)
    step = max(1, int(round(max(font.getlength(str(k)) for k in range(10)))))
    pad = 2  # the outline's stroke width
    cell = step + 4 * pad + 4
    height = 3 * LABEL_PX
    baseline = 2 * LABEL_PX
    masks = {}
    for outline in (True, False):
        im = Image.new("L", (10 * cell, height), 0)
        draw = ImageDraw.Draw(im)
        for k in range(10):
            for dx in (0, 1):  # the 1-px horizontal smear that emboldens the font
                draw.text((k * cell + 2 * pad + dx, baseline), str(k), font=font, fill=255, anchor="ls",
                          stroke_width=pad if outline else 0, stroke_fill=255)
        # a little more coverage: the thin strokes' cores become solid, as in a bold face
        masks[outline] = np.minimum(np.asarray(im, dtype=np.float64) * (1.25 / 255.0), 1.0)
    ink = masks[True] > 0
    rows = np.flatnonzero(ink.any(axis=1))
    r0, r1 = int(rows[0]), int(rows[-1]) + 1
    # the ink's horizontal extent relative to the pen position, over all digits
    cols = np.flatnonzero(ink.any(axis=0))
    rel = (cols % cell) - 2 * pad
    lo, hi = int(rel.min()), int(rel.max()) + 1
    glyphs = {}
    for k in range(10):
        x0 = k * cell + 2 * pad + lo
        sl = (slice(r0, r1), slice(x0, x0 + hi - lo))
        glyphs[str(k)] = (masks[True][sl].copy(), masks[False][sl].copy())
    return glyphs, step


def _label_patch(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Outline and fill coverage of ``text`` (digits) from the cached glyphs."""
    g, step = _glyphs()
    h, w = g["0"][0].shape
    outline = np.zeros((h, step * (len(text) - 1) + w))
    fill = np.zeros_like(outline)
    for k, ch in enumerate(text):
        o, f = g[ch]
        sl = (slice(None), slice(k * step, k * step + w))
        np.maximum(outline[sl], o, out=outline[sl])
        np.maximum(fill[sl], f, out=fill[sl])
    return outline, fill


def _label_tracks(rgb: np.ndarray, tracks: Sequence[Track], scale: int) -> np.ndarray:
    """Return ``rgb`` with every track's ID written next to its start (cached glyphs)."""
    h, w = rgb.shape[:2]
    out = rgb.astype(np.float64)
    gap = 3
    for tr in tracks:
        if len(tr) == 0 or not np.isfinite(tr.positions[0]):
            continue
        r, c = _display_points(tr, scale)
        r0, c0 = int(r[0]), int(c[0])
        text = str(int(tr.track_id))
        if not text.isdigit():  # the glyphs are digits only: a negative ID is left unlabelled
            continue
        outline, fill = _label_patch(text)
        ph, pw = outline.shape
        # left of the start point, above it; flip where the image edge would clip the label
        x = c0 - gap - pw if c0 >= 4 * LABEL_PX else c0 + gap + 1
        y = r0 - gap - ph if r0 >= ph + gap else r0 + gap
        ys, xs = slice(max(y, 0), min(y + ph, h)), slice(max(x, 0), min(x + pw, w))
        if ys.start >= ys.stop or xs.start >= xs.stop:
            continue
        ps = (slice(ys.start - y, ys.stop - y), slice(xs.start - x, xs.stop - x))
        a_out, a_fill = outline[ps][..., None], fill[ps][..., None]
        colour = np.array(_label_colour(tr.track_id)) * 255.0
        region = out[ys, xs]
        out[ys, xs] = region * (1.0 - a_out) + colour * a_fill
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def overlay_image(
    image: np.ndarray, tracks: Sequence[Track], *, scale: int | None = None
) -> np.ndarray:
    """The kymograph with the tracks drawn on it, as an RGB image.

    Parameters
    ----------
    image : ndarray, shape (t, x)
        The kymograph, bright on dark; any real dtype. Shown contrast-stretched between its 0.5th
        and 99.5th percentile.
    tracks : sequence of Track
        Drawn in order (later ones on top), each 3 px wide in :func:`track_color` of its ID, with
        the ID written next to its start; gap frames dashed and dimmer.
    scale : int, optional
        Integer nearest-neighbour upscaling factor (>= 1). Default: :func:`overlay_scale`, so small
        kymographs become at least ~400 px on the short side and large ones stay as they are.

    Returns
    -------
    ndarray of uint8, shape (t * scale, x * scale, 3)

    Raises
    ------
    InputError
        If ``image`` is not a non-empty 2-D array.
    OptionError
        If ``scale`` is not a whole number >= 1.
    """
    img = np.asarray(image)
    if img.ndim != 2 or img.size == 0:
        raise InputError(
            f"overlay needs a non-empty 2-D kymograph image[t, x]; got an array of shape "
            f"{img.shape}. Pass one kymograph (one channel, one time-lapse) at a time."
        )
    if scale is None:
        scale = overlay_scale(img.shape)
    elif isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise OptionError(f"overlay scale must be a whole number >= 1; got {scale!r}")
    scale = int(scale)
    grey = _grey(img)
    if scale > 1:
        grey = np.repeat(np.repeat(grey, scale, axis=0), scale, axis=1)
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    tracks = list(tracks)
    for tr in tracks:
        _draw_track(rgb, tr, scale)
    if any(len(tr) for tr in tracks):
        rgb = _label_tracks(rgb, tracks, scale)
    return rgb


def save_overlay(
    path: str | os.PathLike,
    image: np.ndarray,
    tracks: Sequence[Track],
    *,
    scale: int | None = None,
) -> None:
    """Write :func:`overlay_image` as a PNG (``overlay.png``), atomically."""
    from PIL import Image

    rgb = overlay_image(image, tracks, scale=scale)
    with atomic_path(path) as tmp:
        Image.fromarray(rgb, mode="RGB").save(tmp, format="PNG", compress_level=1)


# ----------------------------------------------------------------------------------- plots
#: quantities plotted as histograms: (title, [(column, unit) uncalibrated...],
#: [(column, unit) calibrated...]). The first column present in the summary is used; a rename in
#: kymotrace.analysis is a one-line change here.
PLOT_QUANTITIES: tuple[tuple[str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]], ...] = (
    (
        "Mean speed",
        (("mean_speed_px_per_frame", "px/frame"), ("speed_px_per_frame", "px/frame")),
        (("mean_speed_um_per_s", "µm/s"), ("speed_um_per_s", "µm/s")),
    ),
    (
        "Duration",
        (("duration_frames", "frames"),),
        (("duration_s", "s"),),
    ),
    (
        "Net displacement",
        (("net_displacement_px", "px"), ("displacement_px", "px")),
        (("net_displacement_um", "µm"), ("displacement_um", "µm")),
    ),
)
#: columns that may hold the direction: a label (anterograde/retrograde/stationary) or a code
#: (+1/-1/0); the first present is used
DIRECTION_COLUMNS: tuple[str, ...] = ("label", "direction_label", "direction", "direction_code")
_DIRECTIONS = ("anterograde", "retrograde", "stationary")
_DIRECTION_CODES = {1: "anterograde", -1: "retrograde", 0: "stationary"}
_DIRECTION_COLOURS = {
    "anterograde": "#1f77b4",
    "retrograde": "#d62728",
    "stationary": "#7f7f7f",
}
_OTHER_COLOUR = "#9467bd"
_MAX_BINS = 60


def _pick(summary: "pandas.DataFrame", options: Sequence[tuple[str, str]]) -> tuple[str, str] | None:
    for col, unit in options:
        if col in summary.columns:
            return col, unit
    return None


def _directions(summary: "pandas.DataFrame") -> np.ndarray | None:
    """Direction name per row (lower-case strings), or None when no direction column exists."""
    for col in DIRECTION_COLUMNS:
        if col not in summary.columns:
            continue
        values = summary[col].to_numpy()
        out = []
        for v in values:
            if isinstance(v, str):
                out.append(_plain_text(v.strip().lower()) or "unknown")  # drawn in the built-in font
            elif v is None or (isinstance(v, float) and math.isnan(v)):
                out.append("unknown")
            else:
                try:
                    out.append(_DIRECTION_CODES.get(int(np.sign(float(v))), "unknown"))
                except (TypeError, ValueError):
                    out.append(str(v).lower())
        return np.array(out, dtype=object)
    return None


def _bin_edges(values: np.ndarray) -> np.ndarray:
    lo, hi = float(np.min(values)), float(np.max(values))
    if lo == hi:  # one value: one bin around it (numpy's +-0.5 vanishes in float at 1e16)
        half = max(0.5, abs(lo) * 1e-6)
        return np.array([lo - half, lo + half])
    edges = np.histogram_bin_edges(values, bins="auto")
    if edges.size - 1 > _MAX_BINS:
        edges = np.histogram_bin_edges(values, bins=_MAX_BINS)
    return edges


#: size (width, height) in px of ``plots.png``, and of the picture of an empty summary
PLOT_SIZE = (1000, 750)
EMPTY_PLOT_SIZE = (600, 400)
_SINGLE_COLOUR = "#4c72b0"  # histogram bars when the summary has no direction column
_INK = (38, 38, 38)  # text
_AXIS = (70, 70, 70)  # axes lines and tick marks
_GRID = (230, 230, 230)  # light horizontal lines at the y ticks, behind the bars
_LEGEND_EDGE = (200, 200, 200)
_TICK_LEN = 5
# font sizes (px)
_FS_SUPTITLE, _FS_TITLE, _FS_LABEL, _FS_TICK, _FS_NOTE, _FS_EMPTY = 18, 15, 13, 12, 14, 28
_MU = ("\u00b5", "\u03bc")  # micro sign, Greek mu: not in the built-in font; drawn as "u" + a tail


def _tick_step(k: int, m: int) -> float:
    """``m * 10**k`` as the float nearest the decimal (0.3, not 3 * 0.1 = 0.30000000000000004)."""
    return float(m * 10**k) if k >= 0 else m / 10 ** (-k)


def _nice_ticks(lo: float, hi: float, *, max_n: int = 7, min_n: int = 4, integer: bool = False
                ) -> tuple[list[float], list[str]]:
    """Ticks in ``[lo, hi]`` at a "nice" step (1, 2 or 5 x 10^k) and their labels.

    The step is chosen so that there are ``min_n`` to ``max_n`` ticks, or as near that as a 1/2/5
    step gets (e.g. 3 ticks on [0, 14.5]: 8 would be too many); among equally good steps the
    count nearest 5 wins, then the larger step. ``integer`` allows only whole steps (counts).
    Labels come from :func:`_tick_labels`. Returns (values, labels); one tick for an empty
    range, none for a non-finite one.
    """
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [], []
    if hi < lo:
        lo, hi = hi, lo
    span = hi - lo
    if span <= 0 or not math.isfinite(span) or span < 1e-12 * max(abs(lo), abs(hi)):
        return [lo], _tick_labels([lo], None)
    k0 = math.floor(math.log10(span / max(max_n, 1)))
    k_lo = max(k0 - 1, 0) if integer else k0 - 1
    best = None
    for k in range(k_lo, max(k0 + 3, k_lo + 2)):
        for m in (1, 2, 5):
            step = _tick_step(k, m)
            i0 = math.ceil(lo / step - 1e-9)
            i1 = math.floor(hi / step + 1e-9)
            n = i1 - i0 + 1
            key = (max(0, min_n - n, n - max_n), abs(n - 5), -step)
            if best is None or key < best[0]:
                best = (key, k, m, i0, i1)
    _, k, m, i0, i1 = best
    values = [_tick_step(k, i * m) for i in range(i0, i1 + 1)]
    return values, _tick_labels(values, k)


def _tick_labels(values: Sequence[float], k: int | None) -> list[str]:
    """``values`` written for ticks at a step of (1, 2 or 5) x 10^k (None: single values), all in
    one style: plain decimals with the step's decimals, or, for magnitudes of 1e9 and more or
    steps below 1e-5, a mantissa with a common exponent ("1.05e9")."""
    big = max((abs(v) for v in values), default=0.0)
    if k is None:
        return ["0" if v == 0 else f"{v:.6g}" for v in values]
    if big >= 1e9 or k < -5:
        e = math.floor(math.log10(big)) if big > 0 else 0
        digits = max(0, e - k)
        out = []
        for v in values:
            text = f"{v / 10.0**e:.{digits}f}"
            out.append("0" if float(text) == 0 else f"{text}e{e}")
        return out
    decimals = max(0, -k)
    out = []
    for v in values:
        text = f"{v:.{decimals}f}"
        out.append(f"{0.0:.{decimals}f}" if float(text) == 0 else text)  # "0.0", never "-0.0"
    return out


class _Panel:
    """One panel of the summary plot, in data units (drawn by :func:`_draw_panel`)."""

    def __init__(self, title: str, xlabel: str = "") -> None:
        self.title = title
        self.xlabel = xlabel
        self.xlim = (0.0, 1.0)
        self.ylim_top = 1.0
        #: (x0, x1, y0, y1, colour)
        self.bars: list[tuple[float, float, float, float, str]] = []
        #: x tick labels at 0, 1, 2, ... instead of numeric ticks
        self.categories: list[str] | None = None
        #: (x, y, text): text centred just above the data point (x, y)
        self.bar_labels: list[tuple[float, float, str]] = []
        #: (name, colour) per stacked group
        self.legend: list[tuple[str, str]] = []
        #: a message instead of data (the panel gets no ticks)
        self.note: str | None = None


def _histogram(summary, title, options, directions) -> _Panel:
    picked = _pick(summary, options)
    if picked is None:
        raise ValueError(
            f"summary has no column for {title.lower()}: tried {[c for c, _ in options]}; "
            f"columns are {list(summary.columns)}"
        )
    col, unit = picked
    panel = _Panel(title, f"{title.lower()} ({unit})")
    values = np.asarray(summary[col].to_numpy(), dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        panel.note = "no finite values"
        return panel
    edges = _bin_edges(values[finite])
    if directions is None:
        groups = [(values[finite], _SINGLE_COLOUR, None)]
    else:
        groups = []
        known = list(_DIRECTIONS) + sorted(set(directions[finite]) - set(_DIRECTIONS))
        for name in known:
            sel = finite & (directions == name)
            if sel.any():
                groups.append((values[sel], _DIRECTION_COLOURS.get(name, _OTHER_COLOUR), name))
    stacked = np.zeros(edges.size - 1)
    for vals, colour, name in groups:  # stacked in this order, anterograde at the bottom
        counts = np.histogram(vals, bins=edges)[0]
        for i in np.flatnonzero(counts):
            panel.bars.append((float(edges[i]), float(edges[i + 1]), float(stacked[i]),
                               float(stacked[i] + counts[i]), colour))
        stacked += counts
        if name is not None:
            panel.legend.append((name, colour))
    margin = 0.05 * float(edges[-1] - edges[0])
    panel.xlim = (float(edges[0]) - margin, float(edges[-1]) + margin)
    panel.ylim_top = max(float(stacked.max()), 1.0) * 1.05
    return panel


def _direction_bars(directions: np.ndarray | None, n: int) -> _Panel:
    panel = _Panel("Direction")
    if directions is None:
        panel.note = "no direction column"
        return panel
    names = list(_DIRECTIONS) + sorted(set(directions) - set(_DIRECTIONS))
    counts = [int(np.sum(directions == name)) for name in names]
    for i, (name, k) in enumerate(zip(names, counts)):
        if k:
            panel.bars.append((i - 0.4, i + 0.4, 0.0, float(k), _DIRECTION_COLOURS.get(name, _OTHER_COLOUR)))
        pct = 100.0 * k / n
        share = "<1" if 0 < pct < 0.5 else (">99" if 99.5 <= pct < 100 else f"{pct:.0f}")
        panel.bar_labels.append((float(i), float(k), f"{k} ({share}%)"))
    panel.categories = names
    panel.xlim = (-0.6, len(names) - 0.4)
    panel.ylim_top = max(counts) * 1.15 + 1
    return panel


def _plain_text(text: str) -> str:
    """``text`` with accents dropped (é -> e) and other characters the built-in font lacks
    written in ASCII (the micro sign is kept: :func:`_text` draws it)."""
    import unicodedata

    if text.isascii():
        return text
    out = []
    for ch in text:
        if ch.isascii() or ch in _MU:
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out.append(base if base.isascii() and base else _ASCII.get(ch, "?"))
    return "".join(out)


_ASCII = {"\u2212": "-", "\u2013": "-", "\u2014": "-", "\u00d7": "x", "\u00b0": "deg", "\u00df": "ss",
          "\u00e6": "ae", "\u00c6": "AE", "\u00f8": "o", "\u00d8": "O", "\u0153": "oe", "\u2192": "->", "\u2190": "<-"}


def _text(draw, xy, text: str, font, fill=_INK, anchor: str = "la") -> None:
    """``draw.text`` that also writes the micro sign, which the built-in font lacks: as a "u"
    with its left stem extended below the baseline. Other non-ASCII characters are written
    in ASCII (:func:`_plain_text`)."""
    text = _plain_text(text)
    if not any(m in text for m in _MU):
        draw.text(xy, text, font=font, fill=fill, anchor=anchor)
        return
    plain = text.replace(_MU[0], "u").replace(_MU[1], "u")
    draw.text(xy, plain, font=font, fill=fill, anchor=anchor)
    # the text's origin on the baseline, from the anchored and the baseline-anchored ink boxes
    at, base = font.getbbox(plain, anchor=anchor), font.getbbox(plain, anchor="ls")
    ox, oy = xy[0] + at[0] - base[0], xy[1] + at[1] - base[1]
    ul, ut, ur, ub = font.getbbox("u", anchor="ls")
    stem = max(1, int(round(font.size / 14)))
    tail = max(2, int(round(font.size * 0.22)))
    for i, ch in enumerate(text):
        if ch in _MU:
            x = int(round(ox + font.getlength(plain[:i]) + ul))
            y = int(round(oy))
            draw.rectangle([x, y + (ut // 2), x + stem - 1, y + tail], fill=fill)


def _vertical_text(img, centre, text: str, font, fill=_INK) -> None:
    """``text`` rotated 90° (reading upwards), centred on ``centre``."""
    from PIL import Image, ImageDraw

    left, top, right, bottom = font.getbbox(text, anchor="ls")
    mask = Image.new("L", (right - left + 2, bottom - top + 2), 0)
    ImageDraw.Draw(mask).text((1 - left, 1 - top), text, font=font, fill=255, anchor="ls")
    mask = mask.transpose(Image.Transpose.ROTATE_90)
    x = int(round(centre[0] - mask.width / 2))
    y = int(round(centre[1] - mask.height / 2))
    img.paste(fill, (x, y, x + mask.width, y + mask.height), mask)


def _fit_labels(labels: Sequence[str], slot: float, sizes=(_FS_TICK, 11, 10)) -> tuple[list[str], int]:
    """Labels side by side ``slot`` px apart: the largest of ``sizes`` at which all fit, else the
    first size with each too-long label shortened to fit (ending in "..")."""
    for size in sizes:
        font = _font(size)
        if all(font.getlength(s) <= slot - 6 for s in labels):
            return list(labels), size
    font = _font(sizes[0])
    out = []
    for s in labels:
        if font.getlength(s) > slot - 6:
            while len(s) > 1 and font.getlength(s + "..") > slot - 6:
                s = s[:-1]
            s += ".."
        out.append(s)
    return out, sizes[0]


def _draw_panel(img, draw, panel: _Panel, box: tuple[int, int, int, int], *, legend: bool) -> None:
    """Draw ``panel`` into the cell ``box`` = (x0, y0, x1, y1) of ``img``."""
    cx0, cy0, cx1, cy1 = box
    f_title, f_label, f_tick = _font(_FS_TITLE), _font(_FS_LABEL), _font(_FS_TICK)
    label_h = sum(f_label.getmetrics())
    tick_h = sum(f_tick.getmetrics())
    ay0 = cy0 + sum(f_title.getmetrics()) + 8
    ay1 = cy1 - (_TICK_LEN + 3 + tick_h + 6 + label_h)
    ax1 = cx1 - 16
    height = ay1 - ay0
    empty = panel.note is not None
    top = panel.ylim_top
    if panel.bar_labels:  # room for the labels above the tallest bar
        room = tick_h + 6
        top = max(top, max(y for _, y, _ in panel.bar_labels) * height / (height - room))
    entries = panel.legend if legend and not empty else []
    if entries:
        swatch, row_h, pad = 11, tick_h + 4, 8
        entries = entries[: max(1, (height // 2 - 2 * pad) // row_h)]  # at most half the height
        leg_w = pad + swatch + 6 + int(math.ceil(max(f_tick.getlength(n) for n, _ in entries))) + pad
        leg_h = pad + len(entries) * row_h - 4 + pad
    xl0, xl1 = panel.xlim

    def to_px(x: float, left: int) -> float:  # data x to an image column, axes from ``left`` to ax1
        return left + (x - xl0) / (xl1 - xl0) * (ax1 - left)

    corner = "right"
    for _ in range(4):  # the y tick labels' width moves the axes' left edge, the legend the top
        yticks, ylabels = ([], []) if empty else _nice_ticks(0.0, top, integer=True)
        ytw = int(math.ceil(max((f_tick.getlength(s) for s in ylabels), default=0.0)))
        ax0 = cx0 + label_h + 8 + ytw + 4 + _TICK_LEN
        if not entries:
            break
        need = {}
        for side in ("right", "left"):
            lx0 = ax1 - 8 - leg_w if side == "right" else ax0 + 8
            under = [y1 for x0, x1, _, y1, _ in panel.bars
                     if to_px(x1, ax0) >= lx0 - 4 and to_px(x0, ax0) <= lx0 + leg_w + 4]
            highest = max(under, default=0.0)
            need[side] = highest * height / (height - (8 + leg_h + 6))
        corner = "right" if need["right"] <= need["left"] else "left"
        if need[corner] <= top:
            break
        top = need[corner]

    def ypix(y: float) -> float:
        return ay1 - y / top * height

    def xpix(x: float) -> float:
        return to_px(x, ax0)

    # grid, bars, axes
    for y in yticks:
        py = int(round(ypix(y)))
        if ay0 <= py < ay1:
            draw.line([(ax0 + 1, py), (ax1, py)], fill=_GRID)
    for x0, x1, y0, y1, colour in panel.bars:
        left, right = int(round(xpix(x0))), int(round(xpix(x1))) - 1
        if right - left + 1 >= 6:  # a 1-px white gap between wide bars
            right -= 1
        upper, lower = int(round(ypix(y1))), int(round(ypix(y0))) - 1
        if y1 > y0:  # a non-empty bar stays visible (at least 1 px) however tall the tallest
            upper = min(upper, lower)
        if right >= left and lower >= upper:
            draw.rectangle([max(left, ax0 + 1), max(upper, ay0), min(right, ax1), lower], fill=colour)
    draw.line([(ax0, ay0), (ax0, ay1)], fill=_AXIS)
    draw.line([(ax0, ay1), (ax1, ay1)], fill=_AXIS)
    # ticks and their labels
    for y, s in zip(yticks, ylabels):
        py = int(round(ypix(y)))
        draw.line([(ax0 - _TICK_LEN, py), (ax0 - 1, py)], fill=_AXIS)
        _text(draw, (ax0 - _TICK_LEN - 4, py), s, f_tick, anchor="rm")
    if panel.categories is not None:
        slot = (ax1 - ax0) / (xl1 - xl0)  # px between neighbouring categories
        names, size = _fit_labels(panel.categories, slot)
        f_cat = _font(size)
        xticks = [(float(i), s) for i, s in enumerate(names)]
    elif empty:
        xticks, f_cat = [], f_tick
    else:
        f_cat = f_tick
        for max_n in range(7, 1, -1):  # fewer ticks while their labels would touch
            values, labels = _nice_ticks(xl0, xl1, max_n=max_n, min_n=min(4, max_n))
            pts = [xpix(v) for v in values]
            widths = [f_tick.getlength(s) for s in labels]
            if all(b - a >= (wa + wb) / 2 + 10 for a, b, wa, wb in zip(pts, pts[1:], widths, widths[1:])):
                break
        xticks = list(zip(values, labels))
    for x, s in xticks:
        px = int(round(xpix(x)))
        draw.line([(px, ay1 + 1), (px, ay1 + _TICK_LEN)], fill=_AXIS)
        _text(draw, (px, ay1 + _TICK_LEN + 3), s, f_cat, anchor="ma")
    if panel.bar_labels:
        full = [s for _, _, s in panel.bar_labels]
        texts, size = _fit_labels(full, (ax1 - ax0) / (xl1 - xl0))
        if texts != full:  # too narrow for "count (pct%)": the counts alone
            texts, size = _fit_labels([s.split(" ")[0] for s in full], (ax1 - ax0) / (xl1 - xl0))
        for (x, y, _), s in zip(panel.bar_labels, texts):
            _text(draw, (int(round(xpix(x))), int(round(ypix(y))) - 4), s, _font(size), anchor="md")
    # titles, axis labels, note, legend
    mid = (ax0 + ax1) // 2
    _text(draw, (mid, cy0), panel.title, f_title, anchor="ma")
    if panel.xlabel:
        _text(draw, (mid, cy1), panel.xlabel, f_label, anchor="md")
    _vertical_text(img, (cx0 + label_h / 2, (ay0 + ay1) / 2), "tracks", f_label)
    if empty:
        _text(draw, (mid, (ay0 + ay1) // 2), panel.note, _font(_FS_NOTE), anchor="mm")
    if entries:
        lx0 = ax1 - 8 - leg_w if corner == "right" else ax0 + 8
        ly0 = ay0 + 8
        draw.rectangle([lx0, ly0, lx0 + leg_w - 1, ly0 + leg_h - 1], fill="white", outline=_LEGEND_EDGE)
        for j, (name, colour) in enumerate(entries):
            ry = ly0 + pad + j * row_h
            sy = ry + (tick_h - 4 - swatch) // 2 + 2
            draw.rectangle([lx0 + pad, sy, lx0 + pad + swatch - 1, sy + swatch - 1], fill=colour)
            _text(draw, (lx0 + pad + swatch + 6, sy + swatch / 2), name, f_tick, anchor="lm")


def _plot_panels(summary: "pandas.DataFrame", calibrated: bool, directions: np.ndarray | None) -> list[_Panel]:
    """The four panels of a non-empty summary, in data units (ValueError for a missing column)."""
    panels = []
    for title, plain, calib in PLOT_QUANTITIES:
        options = tuple(calib) + tuple(plain) if calibrated else tuple(plain)
        panels.append(_histogram(summary, title, options, directions))
    panels.append(_direction_bars(directions, int(len(summary))))
    return panels


def _plot_image(summary: "pandas.DataFrame", calibrated: bool):
    """The summary plot as a PIL image (raises ValueError before drawing anything)."""
    from PIL import Image, ImageDraw

    n = int(len(summary))
    if n == 0:
        img = Image.new("RGB", EMPTY_PLOT_SIZE, "white")
        draw = ImageDraw.Draw(img)
        centre = (EMPTY_PLOT_SIZE[0] // 2, EMPTY_PLOT_SIZE[1] // 2)
        _text(draw, centre, "no tracks", _font(_FS_EMPTY), anchor="mm")
        return img
    directions = _directions(summary)
    panels = _plot_panels(summary, calibrated, directions)
    width, height = PLOT_SIZE
    img = Image.new("RGB", PLOT_SIZE, "white")
    draw = ImageDraw.Draw(img)
    _text(draw, (width // 2, 10), f"{n} track{'s' if n != 1 else ''}", _font(_FS_SUPTITLE), anchor="ma")
    top, bottom, left, right, hgap, vgap = 44, height - 8, 8, width - 8, 28, 22
    cw, ch = (right - left - hgap) // 2, (bottom - top - vgap) // 2
    for k, panel in enumerate(panels):
        r, c = divmod(k, 2)
        x0, y0 = left + c * (cw + hgap), top + r * (ch + vgap)
        _draw_panel(img, draw, panel, (x0, y0, x0 + cw, y0 + ch), legend=k == 0 and directions is not None)
    return img


def save_plots(
    path: str | os.PathLike, summary: "pandas.DataFrame", *, calibrated: bool
) -> None:
    """Write summary plots (``plots.png``), atomically.

    Four panels (:data:`PLOT_SIZE` px in all, drawn with Pillow): histograms of speed, duration
    and net displacement (stacked by direction when the summary has a direction column, with a
    legend on the first) and a bar chart of anterograde / retrograde / stationary counts, each
    bar labelled "count (percent%)". An empty summary gives a small picture that says "no tracks".
    The same summary always gives the same bytes.

    Parameters
    ----------
    path : path-like
        The PNG file to write.
    summary : pandas.DataFrame
        One row per track, as from ``kymotrace.analysis.track_summary``; the columns used are
        listed in :data:`PLOT_QUANTITIES` and :data:`DIRECTION_COLUMNS`.
    calibrated : bool
        Prefer calibrated columns (µm, s); each panel falls back to pixel/frame units when its
        calibrated column is absent (e.g. only the frame interval is known).

    Raises
    ------
    ValueError
        If the summary (non-empty) lacks a column for one of the quantities (nothing is written).
    """
    img = _plot_image(summary, calibrated)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG", compress_level=1)  # fast zlib: several times quicker, a little larger
