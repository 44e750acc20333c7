"""Tests of kymotrace.report: the track overlay and the summary plots."""

from __future__ import annotations

import re
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from kymotrace import report
from kymotrace.errors import InputError, OptionError
from kymotrace.track import Track


def _vertical(track_id=3, col=20, first=10, last=40, gap=None):
    n = last - first + 1
    return Track(track_id, np.arange(first, last + 1), np.full(n, float(col)), gap=gap)


def _is(px: np.ndarray, colour) -> np.ndarray:
    return np.all(px == np.array(colour, np.uint8), axis=-1)


# ----------------------------------------------------------------------------------- colours
def test_track_colours_stable_distinct_and_saturated():
    cols = [report.track_color(i) for i in range(1, 41)]
    assert len(set(cols)) == 40
    assert report.track_color(7) == report.track_color(7)
    for c in cols:
        assert all(0 <= v <= 255 for v in c)
        assert max(c) - min(c) > 100  # clearly not grey


# ----------------------------------------------------------------------------------- overlay
def test_overlay_shape_dtype_and_track_pixels_carry_colour():
    img = np.zeros((50, 40))
    tr = _vertical(track_id=3, col=20, first=20, last=45)
    out = report.overlay_image(img, [tr], scale=1)
    assert out.shape == (50, 40, 3) and out.dtype == np.uint8
    colour = report.track_color(3)
    band = out[19:47]  # the track's rows (+1 px), below its label
    assert _is(band[:, 19:22], colour).all()  # 1 px dilation: 3 px wide
    assert not _is(band[:, 18], colour).any() and not _is(band[:, 22], colour).any()
    assert (band[:, :18] == 0).all() and (band[:, 23:] == 0).all()  # black background untouched
    assert (out[47:] == 0).all()  # nothing below the track's end (+1 px)


def test_overlay_track_differs_from_bright_noisy_background(rng):
    img = rng.normal(size=(60, 60))
    out = report.overlay_image(img, [_vertical(track_id=1, col=30, first=5, last=55)], scale=1)
    colour = np.array(report.track_color(1))
    assert _is(out[20:50, 29:32], colour).all()
    grey = out[20:50, :20]
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    assert not _is(grey, colour).any()


def test_overlay_contrast_stretch_is_bright_on_dark():
    img = np.tile(np.linspace(0.0, 1000.0, 64), (64, 1))  # brighter to the right
    out = report.overlay_image(img, [], scale=1)
    row = out[10, :, 0].astype(int)
    assert row[0] == 0 and row[-1] == 255
    assert np.all(np.diff(row) >= 0)
    assert (out[..., 0] == out[..., 2]).all()


def test_overlay_constant_and_nan_images_do_not_fail():
    img = np.full((20, 30), 7.0)
    img[3, 4] = np.nan
    out = report.overlay_image(img, [_vertical(col=5, first=2, last=15)], scale=1)
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8
    out = report.overlay_image(np.full((20, 30), np.nan), [], scale=1)
    assert (out == 0).all()


def test_overlay_scale_rules():
    assert report.overlay_scale((92, 83)) == 5  # short side 83 -> 415 px
    assert report.overlay_scale((500, 600)) == 1
    assert report.overlay_scale((300, 300)) == 2
    s = report.overlay_scale((2000, 40))  # long and thin: the long side limits the factor
    assert s >= 1 and 2000 * s <= report.MAX_LONG_SIDE


def test_small_kymograph_is_upscaled_with_tracks_at_pixel_centres():
    img = np.zeros((92, 83))
    tr = _vertical(track_id=4, col=20, first=10, last=80)
    out = report.overlay_image(img, [tr])
    assert out.shape == (460, 415, 3)
    colour = report.track_color(4)
    centre = 20 * 5 + 2
    rows = slice(40 * 5, 80 * 5)
    assert _is(out[rows, centre - 1 : centre + 2], colour).all()
    assert not _is(out[rows, centre - 2], colour).any() and not _is(out[rows, centre + 2], colour).any()
    big = report.overlay_image(np.zeros((500, 600)), [tr])
    assert big.shape == (500, 600, 3)
    three = report.overlay_image(img, [tr], scale=3)
    assert three.shape == (276, 249, 3)


def test_track_id_is_written_next_to_its_start():
    img = np.zeros((120, 120))
    tr = _vertical(track_id=1, col=60, first=40, last=110)
    out = report.overlay_image(img, [tr], scale=1)
    window = out[25:41, 30:58]  # left of and above the start (row 40, col 60); no track there
    assert (window != 0).any()
    other = report.overlay_image(img, [tr.copy(track_id=888)], scale=1)
    assert (other[25:41, 30:58] != window).any()  # a different ID is a different label
    far = out[:, :25]
    assert (far == 0).all()  # the label stays near the start


def test_overlay_pixels_away_from_labels_are_exact(rng):
    # writing the label must not resample or shift the drawn image
    img = rng.normal(size=(100, 100))
    plain = report.overlay_image(img, [], scale=2)  # no tracks: no text pass
    tr = _vertical(track_id=2, col=50, first=30, last=90)
    out = report.overlay_image(img, [tr], scale=2)
    colour = report.track_color(2)
    assert _is(out[100:180, 100:103], colour).all()  # display col 50 * 2 + 1, 3 px wide
    assert not _is(out[100:180, 99], colour).any() and not _is(out[100:180, 103], colour).any()
    touched = np.zeros((200, 200), bool)
    touched[59:183, 99:104] = True  # the track (+1 px)
    touched[40:62, 60:100] = True  # its label, left of and above the start
    assert (out != plain).any(axis=2)[~touched].sum() == 0
    assert (out != plain).any(axis=2)[40:62, 60:100].any()


def test_gap_frames_are_dashed_and_dimmer():
    gap = np.zeros(81, bool)
    gap[20:60] = True  # frames 30..69
    tr = _vertical(track_id=5, col=40, first=10, last=90, gap=gap)
    out = report.overlay_image(np.zeros((100, 80)), [tr], scale=1)
    colour = np.array(report.track_color(5))
    centre = out[33:67, 40]
    full = _is(centre, colour)
    black = (centre == 0).all(axis=1)
    dim = ~full & ~black
    assert not full.any()  # no full colour inside the gap
    assert black.any() and dim.any()  # dashes: some on (dimmer), some off
    assert np.all(centre[dim] <= colour)
    assert _is(out[75:88, 39:42], colour).all()  # visible frames after the gap stay solid


def test_one_frame_and_diagonal_tracks_are_drawn():
    img = np.zeros((60, 60))
    dot = Track(6, [30], [50.0])
    diag = Track(7, np.arange(5, 55), np.linspace(5.0, 55.0, 50))
    out = report.overlay_image(img, [dot, diag], scale=1)
    assert _is(out[29:32, 49:52], report.track_color(6)).all()
    rr, cc = np.nonzero(_is(out, report.track_color(7)))
    assert rr.size > 100 and np.corrcoef(rr, cc)[0, 1] > 0.95


def test_overlay_rejects_bad_input():
    with pytest.raises(InputError, match="2-D"):
        report.overlay_image(np.zeros((4, 5, 3)), [])
    with pytest.raises(OptionError, match="scale"):
        report.overlay_image(np.zeros((4, 5)), [], scale=0)


def test_save_overlay_writes_png_atomically(tmp_path):
    path = tmp_path / "out" / "overlay.png"
    report.save_overlay(path, np.zeros((92, 83)), [_vertical()])
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "RGB" and im.size == (415, 460)
    assert [p.name for p in path.parent.iterdir()] == ["overlay.png"]


def test_save_overlay_failure_leaves_nothing(tmp_path):
    with pytest.raises(InputError):
        report.save_overlay(tmp_path / "overlay.png", np.zeros(5), [])
    assert list(tmp_path.iterdir()) == []


def test_digit_glyphs_contract():
    glyphs, step = report._glyphs()
    assert sorted(glyphs) == [str(k) for k in range(10)]
    shape = glyphs["0"][0].shape
    assert step >= 5 and shape[1] > step and 8 <= shape[0] <= 3 * report.LABEL_PX
    for outline, fill in glyphs.values():
        assert outline.shape == fill.shape == shape
        assert 0.0 <= fill.min() and outline.max() <= 1.0
        assert np.all(outline >= fill - 1e-12)  # the outline covers the fill
        assert (fill > 0.5).sum() > 10 and (outline > 0.5).sum() > (fill > 0.5).sum() + 10
    fills = {k: v[1].tobytes() for k, v in glyphs.items()}
    assert len(set(fills.values())) == 10  # ten different digits


def test_label_is_outlined_and_drawn_in_the_track_colour():
    img = np.full((120, 120), 5.0)  # constant: mid-grey background (128)
    tr = _vertical(track_id=12, col=70, first=50, last=110)
    out = report.overlay_image(img, [tr], scale=1)
    colour = np.rint(np.array(report._label_colour(12)) * 255).astype(np.uint8)
    near = out[25:50, 20:70]  # left of and above the start (row 50, col 70)
    assert _is(near, colour).sum() >= 15  # fully covered fill pixels
    assert (near.max(axis=2) < 60).sum() >= 30  # the dark outline around them
    away = np.ones(out.shape[:2], bool)
    away[25:50, 20:70] = False
    away[48:113, 68:73] = False  # the track (+1 px)
    assert (out[away] == 128).all()
    # a two-digit label is wider than a one-digit one
    one = report.overlay_image(img, [tr.copy(track_id=1)], scale=1)
    cols = lambda o: np.flatnonzero((o[25:50, :68] != 128).any(axis=(0, 2)))  # noqa: E731
    assert cols(out).size > cols(one).size + 4


@pytest.mark.parametrize("value", [0.0, 3.0, -2.5, 1e16, 1e300])
def test_identical_values_give_one_bin(value):
    edges = report._bin_edges(np.full(7, value))
    assert edges.size == 2 and edges[0] < value < edges[1]


def test_negative_track_id_is_drawn_unlabelled():
    img = np.full((120, 120), 5.0)
    tr = _vertical(track_id=-4, col=70, first=50, last=110)
    out = report.overlay_image(img, [tr], scale=1)
    assert (out[25:50, 20:68] == 128).all()  # no label (the track itself starts at row 49, cols 69-71)
    assert _is(out[60:100, 69:72], np.array(report.track_color(-4), np.uint8)).sum() > 50  # the track is drawn


# ----------------------------------------------------------------------------------- plots
ANTERO = report._DIRECTION_COLOURS["anterograde"]
RETRO = report._DIRECTION_COLOURS["retrograde"]
STAT = report._DIRECTION_COLOURS["stationary"]


def _rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


def _count(px: np.ndarray, colour: str) -> int:
    return int(_is(px, _rgb(colour)).sum())


def _panels(px: np.ndarray) -> dict[str, np.ndarray]:
    h, w = px.shape[:2]
    return {
        "speed": px[: h // 2, : w // 2],
        "duration": px[: h // 2, w // 2 :],
        "displacement": px[h // 2 :, : w // 2],
        "direction": px[h // 2 :, w // 2 :],
    }


def _summary(calibrated: bool, n: int = 12) -> pd.DataFrame:
    labels = (["anterograde", "retrograde", "stationary"] * n)[:n]
    speed = np.linspace(-2.0, 2.0, n)
    df = pd.DataFrame(
        {
            "track_id": np.arange(1, n + 1),
            "label": labels,
            "mean_speed_px_per_frame": speed,
            "duration_frames": np.arange(10, 10 + n),
            "net_displacement_px": speed * 20,
        }
    )
    if calibrated:
        df["mean_speed_um_per_s"] = speed * 0.5
        df["duration_s"] = df["duration_frames"] * 0.2
        df["net_displacement_um"] = df["net_displacement_px"] * 0.1
    return df


def _assert_png(path, size=report.PLOT_SIZE):
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "RGB" and im.size == size
        return np.asarray(im)


@pytest.mark.parametrize("calibrated", [False, True])
def test_save_plots_png_size_panels_and_atomic_write(tmp_path, calibrated):
    path = tmp_path / "plots.png"
    report.save_plots(path, _summary(calibrated), calibrated=calibrated)
    px = _assert_png(path)
    assert (px[[0, 0, -1, -1], [0, -1, 0, -1]] == 255).all()  # white background
    assert (px[:40, 400:600].max(axis=2) < 100).any()  # the title ("12 tracks")
    for name, panel in _panels(px).items():
        for colour in (ANTERO, RETRO, STAT):  # four tracks of each direction in every panel
            assert _count(panel, colour) > 300, (name, colour)
        assert (panel.max(axis=2) < 100).sum() > 200, name  # axes, ticks and their labels
    assert [p.name for p in tmp_path.iterdir()] == ["plots.png"]


def test_direction_counts_are_bar_areas_in_proportion(tmp_path):
    df = _summary(False, n=9)
    df["label"] = ["anterograde"] * 6 + ["retrograde"] * 3
    report.save_plots(tmp_path / "p.png", df, calibrated=False)
    panels = _panels(_assert_png(tmp_path / "p.png"))
    bars = panels["direction"]
    a, r = _count(bars, ANTERO), _count(bars, RETRO)
    assert a > 3000 and abs(a / r - 2.0) < 0.05  # bars of one width, heights 6 : 3
    assert _count(bars, STAT) < 50  # no stationary bar (its label "0 (0%)" is text)
    a, r = _count(panels["duration"], ANTERO), _count(panels["duration"], RETRO)
    assert a > 1000 and abs(a / r - 2.0) < 0.15  # the histogram's areas are counts too


def test_histograms_are_stacked_by_direction(tmp_path):
    dur = np.repeat(np.arange(10, 40, 3), 2)  # each duration once anterograde, once retrograde
    df = pd.DataFrame(
        {
            "label": ["anterograde", "retrograde"] * (dur.size // 2),
            "mean_speed_px_per_frame": np.linspace(-1, 1, dur.size),
            "duration_frames": dur,
            "net_displacement_px": np.linspace(-10, 10, dur.size),
        }
    )
    report.save_plots(tmp_path / "p.png", df, calibrated=False)
    panel = _panels(_assert_png(tmp_path / "p.png"))["duration"]
    blue, red = _is(panel, _rgb(ANTERO)), _is(panel, _rgb(RETRO))
    both = np.flatnonzero(blue.any(axis=0) & red.any(axis=0))
    assert both.size > 150  # every bin holds one of each
    for c in both:  # retrograde stacked on top of anterograde
        assert np.flatnonzero(red[:, c]).max() < np.flatnonzero(blue[:, c]).min()
    assert abs(blue.sum() / red.sum() - 1.0) < 0.05


def _legend_box(panel: np.ndarray):
    edge = np.all(panel == np.array(report._LEGEND_EDGE, np.uint8), axis=-1)
    rows = np.flatnonzero(edge.sum(axis=1) >= 60)
    cols = np.flatnonzero(edge.sum(axis=0) >= 30)
    if rows.size == 0 or cols.size == 0:
        return None
    return rows.min(), rows.max(), cols.min(), cols.max()


def test_legend_on_the_first_panel_keeps_clear_of_the_bars(tmp_path):
    n = 60
    df = pd.DataFrame(
        {  # a flat speed histogram: bars of equal height under both upper corners
            "label": (["anterograde", "retrograde", "stationary"] * n)[:n],
            "mean_speed_px_per_frame": np.linspace(-1.0, 1.0, n),
            "duration_frames": np.arange(n),
            "net_displacement_px": np.linspace(-5.0, 5.0, n),
        }
    )
    report.save_plots(tmp_path / "p.png", df, calibrated=False)
    panels = _panels(_assert_png(tmp_path / "p.png"))
    box = _legend_box(panels["speed"])
    assert box is not None
    r0, r1, c0, c1 = box
    inside = panels["speed"][r0 : r1 + 1, c0 : c1 + 1]
    # one 11 x 11 swatch each and no bar under the legend (grey text edges may match STAT's grey)
    assert _count(inside, ANTERO) == 121 and _count(inside, RETRO) == 121
    assert 121 <= _count(inside, STAT) < 121 + 30  # stationary stacks on top: the bars nearest
    for colour in (ANTERO, RETRO, STAT):
        assert _count(panels["speed"], colour) > 121 + 1000
    for name in ("duration", "displacement", "direction"):
        assert _legend_box(panels[name]) is None  # only the first panel has a legend


def test_without_direction_column_single_colour_and_a_note(tmp_path):
    df = _summary(False).drop(columns="label")
    report.save_plots(tmp_path / "p.png", df, calibrated=False)
    panels = _panels(_assert_png(tmp_path / "p.png"))
    for name in ("speed", "duration", "displacement"):
        assert _count(panels[name], report._SINGLE_COLOUR) > 1000
        assert _count(panels[name], ANTERO) == 0 and _count(panels[name], RETRO) == 0
        assert _legend_box(panels[name]) is None
    bars = panels["direction"]
    assert _count(bars, ANTERO) == 0 and _count(bars, RETRO) == 0 and _count(bars, STAT) < 50
    h, w = bars.shape[:2]
    assert (bars[h // 3 : 2 * h // 3, w // 4 : 3 * w // 4].max(axis=2) < 100).sum() > 50  # "no direction column"


def test_panel_with_no_finite_values_says_so(tmp_path):
    df = _summary(False)
    df["mean_speed_px_per_frame"] = np.nan
    report.save_plots(tmp_path / "p.png", df, calibrated=False)
    panels = _panels(_assert_png(tmp_path / "p.png"))
    speed = panels["speed"]
    assert _count(speed, ANTERO) == 0 and _count(speed, RETRO) == 0
    h, w = speed.shape[:2]
    assert (speed[h // 3 : 2 * h // 3, w // 4 : 3 * w // 4].max(axis=2) < 100).sum() > 50  # "no finite values"
    assert _count(panels["duration"], ANTERO) > 300  # the other panels are drawn as usual


def test_save_plots_empty_summary_says_no_tracks(tmp_path):
    path = tmp_path / "plots.png"
    for empty in (pd.DataFrame(), _summary(False).iloc[:0]):
        report.save_plots(path, empty, calibrated=True)
        px = _assert_png(path, size=report.EMPTY_PLOT_SIZE)
        dark = np.argwhere(px.max(axis=2) < 100)
        assert dark.shape[0] > 200  # the "no tracks" text ...
        h, w = px.shape[:2]
        assert dark[:, 0].min() > h / 3 and dark[:, 0].max() < 2 * h / 3  # ... in the middle
        assert dark[:, 1].min() > w / 4 and dark[:, 1].max() < 3 * w / 4


def test_save_plots_partial_calibration_codes_nans_and_one_row(tmp_path):
    df = _summary(False, n=5)
    df["duration_s"] = df["duration_frames"] * 0.1  # only the frame interval known
    df = df.drop(columns="label")
    df["direction"] = [1, -1, 0, 1, 1]
    df.loc[0, "mean_speed_px_per_frame"] = np.nan
    report.save_plots(tmp_path / "a.png", df, calibrated=True)
    bars = _panels(_assert_png(tmp_path / "a.png"))["direction"]
    a, r, s = _count(bars, ANTERO), _count(bars, RETRO), _count(bars, STAT)
    assert abs(a / r - 3.0) < 0.1 and abs(s / r - 1.0) < 0.05  # codes +1, -1, 0: 3 : 1 : 1
    one = _summary(False, n=1)
    one["mean_speed_px_per_frame"] = np.nan
    report.save_plots(tmp_path / "b.png", one, calibrated=False)
    _assert_png(tmp_path / "b.png")


def test_calibrated_columns_are_used_when_asked_and_present(tmp_path):
    df = _summary(True)
    df["duration_s"] = 2.0  # one value: one bin, unlike the frames' spread
    panels = report._plot_panels(df, True, report._directions(df))
    assert [p.xlabel for p in panels[:3]] == ["mean speed (µm/s)", "duration (s)", "net displacement (µm)"]
    assert panels[0].xlim[0] < -1.0 * 0.95 and panels[0].xlim[1] > 1.0 * 0.95  # speeds * 0.5: +-1
    assert {(x0, x1) for x0, x1, *_ in panels[1].bars} == {(1.5, 2.5)}  # a single bin around 2 s
    plain = report._plot_panels(df, False, report._directions(df))
    assert [p.xlabel for p in plain[:3]] == ["mean speed (px/frame)", "duration (frames)", "net displacement (px)"]
    assert plain[0].xlim[0] < -2.0 * 0.95 and len({(x0, x1) for x0, x1, *_ in plain[1].bars}) > 3
    # only the frame interval known: the duration in s, the rest in px and frames
    part = _summary(False)
    part["duration_s"] = part["duration_frames"] * 0.1
    mixed = report._plot_panels(part, True, None)
    assert [p.xlabel for p in mixed[:3]] == ["mean speed (px/frame)", "duration (s)", "net displacement (px)"]
    # in the picture: the calibrated columns change it; without them calibrated=True falls back
    report.save_plots(tmp_path / "cal.png", df, calibrated=True)
    report.save_plots(tmp_path / "plain.png", df, calibrated=False)
    report.save_plots(tmp_path / "fallback.png", _summary(False), calibrated=True)
    assert (tmp_path / "cal.png").read_bytes() != (tmp_path / "plain.png").read_bytes()
    assert (tmp_path / "fallback.png").read_bytes() == (tmp_path / "plain.png").read_bytes()


def test_save_plots_missing_column_is_an_error_and_writes_nothing(tmp_path):
    df = _summary(False).drop(columns="duration_frames")
    with pytest.raises(ValueError, match="duration"):
        report.save_plots(tmp_path / "plots.png", df, calibrated=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("calibration", [None, (0.1, 0.5), (None, 0.5)])
def test_save_plots_reads_the_real_track_summary(tmp_path, rng, calibration):
    from kymotrace.analysis import track_summary
    from kymotrace.io import Calibration

    tracks = [
        Track(i + 1, np.arange(5, 5 + n), 20.0 + np.cumsum(rng.normal(v, 0.3, n)))
        for i, (n, v) in enumerate([(30, 1.0), (40, -1.2), (25, 0.0), (12, 0.8), (1, 0.0)])
    ]
    cal = None if calibration is None else Calibration(*calibration)
    summary = track_summary(tracks, calibration=cal)
    report.save_plots(tmp_path / "plots.png", summary, calibrated=cal is not None)
    px = _assert_png(tmp_path / "plots.png")
    assert sum(_count(px, c) for c in (ANTERO, RETRO, STAT, report._OTHER_COLOUR)) > 3000
    report.save_plots(tmp_path / "none.png", track_summary([], calibration=cal), calibrated=True)
    _assert_png(tmp_path / "none.png", size=report.EMPTY_PLOT_SIZE)


def test_save_plots_is_deterministic(tmp_path):
    a = _summary(True, n=30)
    b = _summary(False, n=5)
    b["mean_speed_px_per_frame"] = np.nan  # a "no finite values" panel
    c = _summary(False, n=7).drop(columns="label")
    c["direction"] = [1, -1, 0, 1, 1, 1, -1]
    cases = [(a, True), (b, False), (c, False), (pd.DataFrame(), False)]
    first = []
    for k, (df, cal) in enumerate(cases):
        report.save_plots(tmp_path / f"first{k}.png", df, calibrated=cal)
        first.append((tmp_path / f"first{k}.png").read_bytes())
    assert len(set(first)) == len(first)  # different summaries, different pictures
    report.save_plots(tmp_path / "other.png", _summary(False, n=50), calibrated=False)
    for k, (df, cal) in enumerate(cases):  # each again, after other plots
        report.save_plots(tmp_path / f"again{k}.png", df, calibrated=cal)
        assert (tmp_path / f"again{k}.png").read_bytes() == first[k]


def test_micro_sign_is_drawn_with_a_tail_below_the_baseline():
    from PIL import ImageDraw

    font = report._font(13)
    below = []
    for text in ("(um/s)", "(µm/s)"):
        im = Image.new("RGB", (120, 40), "white")
        report._text(ImageDraw.Draw(im), (10, 20), text, font, anchor="ls")
        px = np.asarray(im).max(axis=2)
        below.append(px[21:30, 10:22])  # under the baseline, at the u
    assert (below[0] < 128).sum() == 0 and (below[1] < 128).sum() >= 2


@pytest.mark.parametrize(
    "lo, hi, expected",
    [
        (0.0, 10.0, ["0", "2", "4", "6", "8", "10"]),
        (-1.7, 0.35, ["-1.5", "-1.0", "-0.5", "0.0"]),
        (0.1, 0.7, ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7"]),
        (-3.3, -0.2, ["-3.0", "-2.5", "-2.0", "-1.5", "-1.0", "-0.5"]),
        (4.45, 5.55, ["4.6", "4.8", "5.0", "5.2", "5.4"]),
        (-180.0, 80.0, ["-150", "-100", "-50", "0", "50"]),
        (1e-7, 3e-7, ["1.0e-7", "1.5e-7", "2.0e-7", "2.5e-7", "3.0e-7"]),
        (-1.1e9, -0.9e9, ["-1.10e9", "-1.05e9", "-1.00e9", "-0.95e9", "-0.90e9"]),
        (5.0, 5.0, ["5"]),
    ],
)
def test_nice_ticks_known_ranges(lo, hi, expected):
    values, labels = report._nice_ticks(lo, hi)
    assert labels == expected
    assert all(lo - 1e-12 <= v <= hi + 1e-12 for v in values)
    assert [float(s) for s in labels] == pytest.approx(values)


def test_nice_ticks_steps_counts_and_labels_on_random_ranges(rng):
    for _ in range(500):
        lo = rng.normal() * 10.0 ** rng.integers(-4, 7)
        hi = lo + rng.uniform(0.01, 100.0) * 10.0 ** rng.integers(-4, 5)
        values, labels = report._nice_ticks(lo, hi)
        assert 3 <= len(values) <= 8  # 4 to 7 where a 1/2/5 step allows
        step = np.diff(values)
        assert np.allclose(step, step[0], rtol=1e-9)
        mantissa = step[0] / 10.0 ** np.floor(np.log10(step[0]))
        assert min(abs(mantissa - m) for m in (1, 2, 5, 10)) < 1e-6
        assert len(set(labels)) == len(labels)  # distinct, so no rounding collapses them
        decimals = max(0, -int(np.floor(np.log10(step[0]) + 1e-9)))
        for v, s in zip(values, labels):
            assert "e+" not in s and not re.fullmatch(r"-0(\.0*)?", s)  # no "-0", "-0.00"
            if "e" not in s:  # just the step's decimals: no float noise like 0.30000000000000004
                assert len(s.partition(".")[2]) <= decimals, (s, step[0])
            assert float(s) == pytest.approx(v, rel=1e-9, abs=1e-12 * max(abs(lo), abs(hi), 1e-300))
    values, labels = report._nice_ticks(0.0, 2.1, integer=True)  # counts: whole ticks only
    assert labels == ["0", "1", "2"]
    assert report._nice_ticks(0.0, 1.05, integer=True)[1] == ["0", "1"]
    assert report._nice_ticks(0.0, 317.0, integer=True)[1] == ["0", "100", "200", "300"]
    assert report._nice_ticks(float("nan"), 1.0) == ([], [])


def test_report_path_imports_neither_matplotlib_nor_torch(tmp_path):
    import subprocess

    code = f"""
import sys
import numpy as np
import pandas as pd
from kymotrace import report
from kymotrace.track import Track

tracks = [Track(1, np.arange(5, 40), np.linspace(10.0, 30.0, 35)), Track(2, np.arange(0, 20), np.full(20, 40.0))]
summary = pd.DataFrame({{"label": ["anterograde", "stationary"], "mean_speed_px_per_frame": [0.6, 0.0],
                         "duration_frames": [35, 20], "net_displacement_px": [20.0, 0.0]}})
report.save_overlay({str(tmp_path / "overlay.png")!r}, np.random.default_rng(0).normal(size=(50, 60)), tracks)
report.save_plots({str(tmp_path / "plots.png")!r}, summary, calibrated=False)
report.save_plots({str(tmp_path / "empty.png")!r}, summary.iloc[:0], calibrated=False)
assert "matplotlib" not in sys.modules, sorted(m for m in sys.modules if m.startswith("matplotlib"))
assert "torch" not in sys.modules
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    _assert_png(tmp_path / "plots.png")
    with Image.open(tmp_path / "overlay.png") as im:
        assert im.size == (60 * 8, 50 * 8)
