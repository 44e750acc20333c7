"""Pictures of a result: the track overlay (``overlay.png``) and summary plots (``plots.png``).

Everything is drawn with matplotlib's Agg renderer on explicit :class:`~matplotlib.figure.Figure`
objects (never ``pyplot``), so it works headless, needs no display and leaks no global figures.
matplotlib is imported lazily: importing this module is cheap.

The overlay is the kymograph ``image[t, x]`` (rows are frames, time runs down) as contrast-stretched
grey, bright on dark, with every track drawn 3 px wide in its own colour (:func:`track_color`,
stable per track ID) and its ID written next to its start. Frames in a gap are drawn dashed and
dimmer. Small kymographs are upscaled by an integer nearest-neighbour factor so the IDs are legible.
"""

from __future__ import annotations

import colorsys
import contextlib
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
LABEL_PX = 11
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


def _fig_inches(npx: int, dpi: float) -> float:
    """Figure size (inches) that Agg turns into exactly ``npx`` pixels at ``dpi``."""
    v = npx / dpi
    while int(v * dpi) < npx:
        v = float(np.nextafter(v, np.inf))
    return v


@functools.lru_cache(maxsize=1)
def _glyphs() -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], int]:
    """Coverage masks of the digits 0-9 as the labels draw them (bold, LABEL_PX px, a 2-px black
    outline), rendered once per process with matplotlib: ``({digit: (outline, fill)}, step)``,
    the masks float arrays in [0, 1] of one shape, ``outline`` covering the fill too, and
    ``step`` the digits' advance in px.

    Writing each label through matplotlib cost about 0.08 s per overlay (a figure and its text
    layout); composing cached glyphs costs a few milliseconds. DejaVu Sans digits share one
    advance width, so a label is its digits side by side.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patheffects import withStroke
    from matplotlib.transforms import IdentityTransform

    cell = 3 * LABEL_PX
    dpi = 72.0  # 1 pt == 1 px
    masks = {}
    for outline in (True, False):
        fig = Figure(figsize=(_fig_inches(10 * cell, dpi), _fig_inches(cell, dpi)), dpi=dpi)
        canvas = FigureCanvasAgg(fig)
        fig.patch.set_alpha(0.0)
        for k in range(10):
            fig.text(k * cell + LABEL_PX, LABEL_PX, str(k), transform=IdentityTransform(), fontsize=LABEL_PX,
                     color="white", ha="left", va="baseline", fontweight="bold",
                     path_effects=[withStroke(linewidth=2.0, foreground="white")] if outline else None)
        canvas.draw()
        alpha = np.asarray(canvas.buffer_rgba())[:cell, : 10 * cell, 3].astype(np.float64) / 255.0
        masks[outline] = alpha
    # the digits' common advance: one label's box is [first ink, first ink + n * advance)
    from matplotlib.textpath import TextToPath
    from matplotlib.font_manager import FontProperties

    advance = TextToPath().get_text_width_height_descent("0000000000", FontProperties(size=LABEL_PX, weight="bold"), False)[0] / 10
    step = max(1, int(round(advance)))
    ink = masks[True] > 0
    rows = np.flatnonzero(ink.any(axis=1))
    r0, r1 = rows[0], rows[-1] + 1
    glyphs = {}
    for k in range(10):
        x0 = k * cell + LABEL_PX - 1  # one outline pixel left of the pen position
        sl = (slice(r0, r1), slice(x0, x0 + step + 2))
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
        outline, fill = _label_patch(str(int(tr.track_id)))
        ph, pw = outline.shape
        # left of the start point, above it; flip where the image edge would clip the label
        x = c0 - gap - pw if c0 >= 4 * LABEL_PX else c0 + gap + 1
        y = r0 - gap - ph if r0 >= LABEL_PX + gap else r0 + gap
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
                out.append(v.strip().lower() or "unknown")
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
    edges = np.histogram_bin_edges(values, bins="auto")
    if edges.size - 1 > _MAX_BINS:
        edges = np.histogram_bin_edges(values, bins=_MAX_BINS)
    return edges


def _histogram(ax, summary, title, options, directions) -> None:
    picked = _pick(summary, options)
    if picked is None:
        raise ValueError(
            f"summary has no column for {title.lower()}: tried {[c for c, _ in options]}; "
            f"columns are {list(summary.columns)}"
        )
    col, unit = picked
    values = np.asarray(summary[col].to_numpy(), dtype=np.float64)
    finite = np.isfinite(values)
    ax.set_title(title, y=1.0)  # a fixed title position skips a costly layout pass
    ax.set_xlabel(f"{title.lower()} ({unit})")
    ax.set_ylabel("tracks")
    if not finite.any():
        ax.text(0.5, 0.5, "no finite values", ha="center", va="center", transform=ax.transAxes)
        return
    edges = _bin_edges(values[finite])
    if directions is None:
        ax.hist(values[finite], bins=edges, color="#4c72b0", histtype="stepfilled")  # one patch, not one per bar
        return
    groups, colours, names = [], [], []
    known = list(_DIRECTIONS) + sorted(set(directions[finite]) - set(_DIRECTIONS))
    for name in known:
        sel = finite & (directions == name)
        if sel.any():
            groups.append(values[sel])
            colours.append(_DIRECTION_COLOURS.get(name, _OTHER_COLOUR))
            names.append(name)
    ax.hist(groups, bins=edges, stacked=True, color=colours, label=names, histtype="stepfilled")  # one patch per group


def _direction_bars(ax, directions: np.ndarray | None, n: int) -> None:
    ax.set_title("Direction", y=1.0)
    ax.set_ylabel("tracks")
    if directions is None:
        ax.text(0.5, 0.5, "no direction column", ha="center", va="center", transform=ax.transAxes)
        return
    names = list(_DIRECTIONS) + sorted(set(directions) - set(_DIRECTIONS))
    counts = [int(np.sum(directions == name)) for name in names]
    pos = np.arange(len(names))
    bars = ax.bar(pos, counts, color=[_DIRECTION_COLOURS.get(k, _OTHER_COLOUR) for k in names])
    ax.set_xticks(pos, labels=names)
    ax.bar_label(bars, labels=[f"{k} ({100.0 * k / n:.0f}%)" for k in counts])
    ax.set_ylim(0, max(counts) * 1.15 + 1)


_PLOT_FIGURE: list = []
_PLOT_LOCK = threading.Lock()


def _plot_figure(reuse: bool):
    """The 2 x 2 summary figure, emptied: one per process when ``reuse``.

    Building a figure and its axes' ticks took about a third of the plot's time; a batch
    reuses one figure, with every artist of the previous kymograph removed (a test checks that
    the PNG is the same as from a fresh figure).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import AutoLocator, ScalarFormatter

    if reuse and _PLOT_FIGURE:
        fig, axes = _PLOT_FIGURE
        for ax in axes:
            for artist in (*ax.patches, *ax.texts, *ax.lines, *ax.collections):
                artist.remove()
            ax.containers.clear()
            if ax.get_legend() is not None:
                ax.get_legend().remove()
            ax.relim()
            ax.set_xlim(0.0, 1.0)  # a new axes' view, which an empty panel keeps
            ax.set_ylim(0.0, 1.0)
            ax.set_autoscale_on(True)
            ax.xaxis.set_major_locator(AutoLocator())  # a new axes' tick defaults
            ax.xaxis.set_major_formatter(ScalarFormatter())
        return fig, axes
    # fixed margins: constrained layout would double the drawing time
    fig = Figure(figsize=(10.0, 7.5), dpi=100)
    FigureCanvasAgg(fig)
    grid = dict(left=0.07, right=0.98, bottom=0.08, top=0.91, wspace=0.22, hspace=0.36)
    axes = fig.subplots(2, 2, gridspec_kw=grid).ravel()
    if reuse:
        _PLOT_FIGURE[:] = [fig, axes]
    return fig, axes


def save_plots(
    path: str | os.PathLike, summary: "pandas.DataFrame", *, calibrated: bool, reuse: bool = True
) -> None:
    """Write summary plots (``plots.png``), atomically.

    Four panels: histograms of speed, duration and net displacement (stacked by direction when
    the summary has a direction column) and a bar chart of anterograde / retrograde / stationary
    counts. An empty summary gives a figure that says "no tracks".

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
    reuse : bool
        Draw on this process's one reusable figure (faster in a batch); a lock serialises threads.

    Raises
    ------
    ValueError
        If the summary (non-empty) lacks a column for one of the quantities.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    with _PLOT_LOCK if reuse else contextlib.nullcontext():  # one reusable figure per process
        n = int(len(summary))
        if n == 0:
            fig = Figure(figsize=(6.0, 4.0), dpi=100)
            FigureCanvasAgg(fig)
            fig.text(0.5, 0.5, "no tracks", ha="center", va="center", fontsize=20)
        else:
            fig, axes = _plot_figure(reuse)
            directions = _directions(summary)
            for ax, (title, plain, calib) in zip(axes[:3], PLOT_QUANTITIES):
                options = tuple(calib) + tuple(plain) if calibrated else tuple(plain)
                _histogram(ax, summary, title, options, directions)
            _direction_bars(axes[3], directions, n)
            for ax in axes:
                ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            if directions is not None and axes[0].get_legend_handles_labels()[0]:
                axes[0].legend(frameon=False, fontsize="small")
            fig.suptitle(f"{n} track{'s' if n != 1 else ''}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", pil_kwargs={"compress_level": 1})  # fast zlib: 3x quicker, ~1.3x larger
