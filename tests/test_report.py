"""Tests of kymotrace.report: the track overlay and the summary plots."""

from __future__ import annotations

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
    # the matplotlib text pass must not resample or shift the drawn image
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


# ----------------------------------------------------------------------------------- plots
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


def _assert_png(path):
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 100 and im.size[1] > 100
        return np.asarray(im.convert("RGB"))


@pytest.mark.parametrize("calibrated", [False, True])
def test_save_plots_valid_png(tmp_path, calibrated):
    path = tmp_path / "plots.png"
    report.save_plots(path, _summary(calibrated), calibrated=calibrated)
    px = _assert_png(path)
    assert px.std() > 10  # something was drawn
    assert [p.name for p in tmp_path.iterdir()] == ["plots.png"]


def test_save_plots_empty_summary_says_no_tracks(tmp_path):
    path = tmp_path / "plots.png"
    report.save_plots(path, pd.DataFrame(), calibrated=True)
    px = _assert_png(path)
    assert (px < 128).any()  # the "no tracks" text
    report.save_plots(path, _summary(False).iloc[:0], calibrated=False)
    _assert_png(path)


def test_save_plots_partial_calibration_codes_nans_and_one_row(tmp_path):
    df = _summary(False, n=5)
    df["duration_s"] = df["duration_frames"] * 0.1  # only the frame interval known
    df = df.drop(columns="label")
    df["direction"] = [1, -1, 0, 1, 1]
    df.loc[0, "mean_speed_px_per_frame"] = np.nan
    report.save_plots(tmp_path / "a.png", df, calibrated=True)
    _assert_png(tmp_path / "a.png")
    one = _summary(False, n=1)
    one["mean_speed_px_per_frame"] = np.nan
    report.save_plots(tmp_path / "b.png", one, calibrated=False)
    _assert_png(tmp_path / "b.png")


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
    _assert_png(tmp_path / "plots.png")
    report.save_plots(tmp_path / "none.png", track_summary([], calibration=cal), calibrated=True)
    _assert_png(tmp_path / "none.png")


def test_no_pyplot_figures_leak(tmp_path):
    report.save_plots(tmp_path / "p.png", _summary(True), calibrated=True)
    report.save_overlay(tmp_path / "o.png", np.zeros((30, 30)), [_vertical(col=10, first=2, last=25)])
    plt = sys.modules.get("matplotlib.pyplot")
    assert plt is None or plt.get_fignums() == []


def test_reused_plot_figure_draws_exactly_what_a_fresh_one_does(tmp_path):
    a = _summary(True, n=30)
    b = _summary(False, n=5)
    b["mean_speed_px_per_frame"] = np.nan  # a "no finite values" panel
    c = _summary(False, n=7).drop(columns="label")
    c["direction"] = [1, -1, 0, 1, 1, 1, -1]
    cases = [(a, True), (b, False), (c, False), (a, True)]
    for k, (df, cal) in enumerate(cases):
        report.save_plots(tmp_path / f"fresh{k}.png", df, calibrated=cal, reuse=False)
    report.save_plots(tmp_path / "warm.png", _summary(False, n=50), calibrated=False, reuse=True)
    for k, (df, cal) in enumerate(cases):  # each after another kymograph's plots on the same figure
        report.save_plots(tmp_path / f"reused{k}.png", df, calibrated=cal, reuse=True)
        np.testing.assert_array_equal(_assert_png(tmp_path / f"reused{k}.png"), _assert_png(tmp_path / f"fresh{k}.png"))
