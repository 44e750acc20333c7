"""Kymographs from movies: exact sampling, width, corners, movie formats, ROIs, calibration, errors."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import tifffile
from roifile import ROI_TYPE, ImagejRoi

from kymotrace.errors import InputError, OptionError
from kymotrace.io import read_kymograph
from kymotrace.movie import (
    Movie,
    make_kymograph,
    noise_gain,
    parse_path,
    path_geometry,
    read_roi_paths,
    sample_frame,
    save_kymograph_tiff,
)


@pytest.fixture
def movie(rng):
    """Integer-valued float movie: means of a few pixels are exact."""
    return rng.integers(0, 1000, size=(7, 24, 32)).astype(np.float64)


# ------------------------------------------------------------------------------- exact values
def test_straight_horizontal_path_reproduces_pixels(movie):
    k = make_kymograph(movie, "3,5 20,5")
    assert k.image.shape == (7, 18)
    np.testing.assert_array_equal(k.image, movie[:, 5, 3:21].astype(np.float32))
    assert k.axes == "TX" and not k.inverted and k.dtype == "float64"
    # reversed direction: columns run from the first point
    np.testing.assert_array_equal(make_kymograph(movie, "20,5 3,5").image, movie[:, 5, 20:2:-1])


def test_width_mean_and_max_match_hand_computation(movie):
    # width 3 on a horizontal line at y=10: rows 9, 10, 11 of each column
    k = make_kymograph(movie, "2,10 12,10", width=3)
    hand = np.array([[(movie[t, 9, x] + movie[t, 10, x] + movie[t, 11, x]) / 3 for x in range(2, 13)]
                     for t in range(movie.shape[0])])
    np.testing.assert_allclose(k.image, hand, rtol=1e-6)
    kmax = make_kymograph(movie, "2,10 12,10", width=3, reduce="max")
    np.testing.assert_array_equal(kmax.image, movie[:, 9:12, 2:13].max(axis=1))
    # vertical line, width 4: offsets -1.5..1.5 fall between pixels: bilinear halves
    kv = make_kymograph(movie, "8,3 8,15", width=4)
    cols = movie[:, 3:16, :]
    hand4 = (0.5 * cols[..., 6] + cols[..., 7] + cols[..., 8] + cols[..., 9] + 0.5 * cols[..., 10]) / 4
    np.testing.assert_allclose(kv.image, hand4, rtol=1e-5)


def test_subpixel_interpolation_and_one_px_spacing(movie):
    # a diagonal 3-4-5 path: length 10 -> 11 columns, samples 1 px apart, bilinear values
    k = make_kymograph(movie, "4,4 10,12")
    assert k.image.shape[1] == 11
    g = k.geometry
    np.testing.assert_allclose(np.hypot(*np.diff(g.centre, axis=0).T), 1.0)
    x, y = g.centre[3]  # (5.8, 6.4)
    x0, y0, fx, fy = 5, 6, x - 5, y - 6
    f = movie[2]
    v = ((1 - fy) * ((1 - fx) * f[y0, x0] + fx * f[y0, x0 + 1]) + fy * ((1 - fx) * f[y0 + 1, x0] + fx * f[y0 + 1, x0 + 1]))
    assert k.image[2, 3] == pytest.approx(v, rel=1e-6)


def _segments_cross(g) -> int:
    def cr(a, b, c):
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    n = 0
    for k in range(g.n_columns - 1):
        p1, p2 = (g.x[k, 0], g.y[k, 0]), (g.x[k, -1], g.y[k, -1])
        q1, q2 = (g.x[k + 1, 0], g.y[k + 1, 0]), (g.x[k + 1, -1], g.y[k + 1, -1])
        n += (cr(p1, p2, q1) * cr(p1, p2, q2) < 0) and (cr(q1, q2, p1) * cr(q1, q2, p2) < 0)
    return n


class _Naive:
    def __init__(self, x, y):
        self.x, self.y, self.n_columns = x, y, x.shape[0]


def _largest_hole(xs, ys, vertices, width, shape=(60, 60)) -> float:
    """Largest distance from a pixel centre of the band (not the end caps) to the nearest sample."""
    from scipy.spatial import cKDTree

    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    P = np.column_stack([xx.ravel(), yy.ravel()]).astype(float)
    dists, ts = [], []
    for a, b in zip(vertices[:-1], vertices[1:]):
        ab = b - a
        t = ((P - a) @ ab) / (ab @ ab)
        q = a + np.clip(t, 0, 1)[:, None] * ab
        dists.append(np.hypot(*(P - q).T))
        ts.append(t)
    D = np.array(dists)
    near = D.argmin(0)
    cap = ((near == 0) & (ts[0] < 0)) | ((near == len(ts) - 1) & (ts[-1] > 1))
    band = P[(D.min(0) <= (width - 1) / 2) & ~cap]
    return float(cKDTree(np.column_stack([xs.ravel(), ys.ravel()])).query(band)[0].max())


@pytest.mark.parametrize("path", ["5,5 25,5 25,25", "5,30 20,5 35,30", "5,5 30,5 10,25"])
def test_corners_have_no_gap_and_no_double_counting(path):
    w = 9
    g = path_geometry(path, w, shape=(60, 60))
    assert not g.crossing and _segments_cross(g) == 0  # no two cross-sections share an image point
    # every band pixel is within 1.5 px of a sample (0.71 on a straight piece; the outer side of a
    # corner is sampled more sparsely, never skipped)
    assert _largest_hole(g.x, g.y, g.vertices, w) <= 1.5
    # the naive construction (perpendiculars that jump at the vertex) fails both
    c = g.centre
    seg = np.clip(np.searchsorted(np.concatenate([[0], np.cumsum(np.hypot(*np.diff(g.vertices, axis=0).T))]),
                                  np.arange(g.n_columns), side="right") - 1, 0, len(g.vertices) - 2)
    d = np.diff(g.vertices, axis=0)[seg]
    n = np.column_stack([-d[:, 1], d[:, 0]]) / np.hypot(d[:, 0], d[:, 1])[:, None]
    offs = np.arange(w) - (w - 1) / 2
    nx, ny = c[:, :1] + offs * n[:, :1], c[:, 1:] + offs * n[:, 1:]
    assert _largest_hole(nx, ny, g.vertices, w) > 2.5
    assert _segments_cross(_Naive(nx, ny)) > 0


def test_too_sharp_turn_is_reported():
    g = path_geometry("5,5 40,5 5,7", 7, shape=(60, 60))
    assert g.crossing and any("turns too sharply" in n for n in g.notes)


def test_band_outside_image_samples_are_left_out(movie):
    k = make_kymograph(movie, "2,0 20,0", width=3)  # the row above y=0 is outside
    np.testing.assert_allclose(k.image, (movie[:, 0, 2:21] + movie[:, 1, 2:21]) / 2, rtol=1e-6)
    assert any("outside the image" in n for n in k.notes)


def test_noise_gain_matches_empirical_noise():
    rng = np.random.default_rng(95_000_321)
    g = path_geometry("5,30 20,8 45,12 60,35", 5, shape=(48, 70))
    emp = np.concatenate([sample_frame(rng.standard_normal((48, 70)), g) for _ in range(400)])
    assert noise_gain(g, (48, 70)) == pytest.approx(float(emp.std()), rel=0.03)


# ------------------------------------------------------------------------------- movie formats
def test_hyperstack_channels_z_and_calibration(tmp_path, rng):
    a = rng.integers(0, 4000, size=(6, 3, 2, 16, 20)).astype(np.uint16)
    p = tmp_path / "hs.tif"
    tifffile.imwrite(p, a, imagej=True, resolution=(1 / 0.2, 1 / 0.2),
                     metadata={"axes": "TZCYX", "unit": "um", "finterval": 2.5})
    with Movie(p) as mv:
        assert (mv.n_frames, mv.n_z, mv.n_channels, mv.height, mv.width) == (6, 3, 2, 16, 20)
        assert mv.streaming and mv.pixel_size == pytest.approx(0.2) and mv.frame_interval == pytest.approx(2.5)
    k = make_kymograph(p, "1,4 12,4", channel=1, z=2)
    np.testing.assert_array_equal(k.image, a[:, 2, 1, 4, 1:13])
    kmax = make_kymograph(p, "1,4 12,4", channel=0)  # default z: maximum projection
    np.testing.assert_array_equal(kmax.image, a[:, :, 0, 4, 1:13].max(axis=1))
    assert k.calibration.pixel_size == pytest.approx(0.2) and k.calibration.frame_interval == pytest.approx(2.5)
    assert k.calibration.source == "file"
    with pytest.raises(OptionError, match="2 channels; choose one"):
        make_kymograph(p, "1,4 12,4")
    with pytest.raises(OptionError, match=r"channel=5 does not exist; this movie has 2 channels \(use 0..1\)"):
        make_kymograph(p, "1,4 12,4", channel=5)
    with pytest.raises(OptionError, match="z=3"):
        make_kymograph(p, "1,4 12,4", channel=0, z=3)


def test_ome_compressed_read_page_by_page(tmp_path, rng):
    a = rng.random((5, 2, 12, 14)).astype(np.float32)
    p = tmp_path / "m.ome.tif"
    tifffile.imwrite(p, a, ome=True, compression="zlib",
                     metadata={"axes": "TCYX", "PhysicalSizeX": 0.3, "PhysicalSizeY": 0.3, "TimeIncrement": 1.5})
    k = make_kymograph(p, "2,3 2,10", channel=1)
    np.testing.assert_array_equal(k.image, a[:, 1, 3:11, 2])
    assert (k.calibration.pixel_size, k.calibration.frame_interval) == (pytest.approx(0.3), pytest.approx(1.5))


def test_plain_stack_and_array_axes(tmp_path, rng):
    a = rng.integers(0, 255, size=(9, 10, 12)).astype(np.uint8)
    p = tmp_path / "plain.tif"
    tifffile.imwrite(p, a, photometric="minisblack")  # unlabelled pages
    np.testing.assert_array_equal(make_kymograph(p, "0,0 11,0").image, a[:, 0, :])
    z_only = tmp_path / "slices.tif"
    tifffile.imwrite(z_only, a, imagej=True, metadata={"axes": "ZYX"})
    k = make_kymograph(z_only, "0,2 11,2")
    np.testing.assert_array_equal(k.image, a[:, 2, :])
    assert any("slices (Z) were read as frames" in n for n in k.notes)
    ctyx = np.stack([a, a[::-1]])  # (C, T, Y, X)
    np.testing.assert_array_equal(make_kymograph(ctyx, "0,1 5,1", axes="CTYX", channel=1).image, a[::-1, 1, :6])


def test_user_calibration_overrides_and_anisotropic_pixels(tmp_path, rng):
    a = rng.random((4, 20, 20)).astype(np.float32)
    p = tmp_path / "aniso.ome.tif"
    tifffile.imwrite(p, a, ome=True, metadata={"axes": "TYX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.2})
    k = make_kymograph(p, "3,2 3,10")  # 8 px in y = 1.6 µm = 16 x-pixels
    assert k.image.shape[1] == 17 and k.calibration.pixel_size == pytest.approx(0.1)
    k2 = make_kymograph(p, "3,2 3,10", pixel_size=0.5, frame_interval=3.0)
    assert k2.image.shape[1] == 9
    assert (k2.calibration.pixel_size, k2.calibration.frame_interval, k2.calibration.source) == (0.5, 3.0, "user")


def test_streaming_reads_one_frame_at_a_time(tmp_path, rng, monkeypatch):
    a = rng.integers(0, 60000, size=(30, 16, 16)).astype(np.uint16)
    p = tmp_path / "m.tif"
    tifffile.imwrite(p, a, imagej=True, metadata={"axes": "TYX"})
    with Movie(p) as mv:
        assert mv._offset is not None  # contiguous: direct reads at each plane's offset
        sizes = []
        real = mv.plane
        monkeypatch.setattr(mv, "plane", lambda *args: sizes.append(real(*args).shape) or real(*args))
        k = make_kymograph(mv, "0,8 15,8")
    assert sizes == [(16, 16)] * 30
    np.testing.assert_array_equal(k.image, a[:, 8, :])


# ------------------------------------------------------------------------------- ROIs
def _roi(kind, pts, name, width=0):
    if kind == "line":
        r = ImagejRoi(roitype=ROI_TYPE.LINE, x1=pts[0][0], y1=pts[0][1], x2=pts[1][0], y2=pts[1][1], name=name)
    else:
        r = ImagejRoi.frompoints(pts, name=name)
        r.roitype = ROI_TYPE.POLYLINE if kind == "polyline" else ROI_TYPE.FREELINE
    if width:
        r.stroke_width = width
    return r


def test_roiset_with_three_rois(tmp_path):
    p = tmp_path / "RoiSet.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("a.roi", _roi("line", [(1, 2), (20, 2)], "axon 1", width=3).tobytes())
        zf.writestr("b.roi", _roi("polyline", [(1, 5), (10, 9), (20, 5)], "seg").tobytes())
        zf.writestr("c.roi", _roi("freeline", [(2, 10), (3, 10.5), (4, 11), (6, 12)], "seg").tobytes())
    rois = read_roi_paths(p)
    assert [r.name for r in rois] == ["axon_1", "seg", "seg-2"]
    assert [r.roi_type for r in rois] == ["line", "polyline", "freeline"]
    assert rois[0].line_width == 3 and rois[1].line_width is None
    np.testing.assert_allclose(rois[1].points, [(1, 5), (10, 9), (20, 5)])


def test_bad_rois_raise_clear_errors(tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 broken zip")
    with pytest.raises(InputError, match="junk.zip"):
        read_roi_paths(junk)
    bad_entry = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad_entry, "w") as zf:
        zf.writestr("x.roi", b"Iout\x00\x01garbage")
    with pytest.raises(InputError, match="'x.roi' is not a readable ImageJ ROI"):
        read_roi_paths(bad_entry)
    rect = tmp_path / "rect.roi"
    rect.write_bytes(ImagejRoi(roitype=ROI_TYPE.RECT, left=1, top=1, right=5, bottom=5, name="box").tobytes())
    with pytest.raises(InputError, match="'box' is a rect selection, not a line"):
        read_roi_paths(rect)
    with pytest.raises(InputError, match="does not exist"):
        read_roi_paths(tmp_path / "missing.zip")


# ------------------------------------------------------------------------------- calibration round trip
def test_calibration_round_trip_through_tiff(tmp_path, rng):
    from kymotrace.io import Calibration

    img = rng.random((12, 9)).astype(np.float32)
    p = tmp_path / "k.tif"
    save_kymograph_tiff(p, iter(img), img.shape, Calibration(pixel_size=0.10833, frame_interval=0.123))
    back = read_kymograph(p, invert=False)
    np.testing.assert_array_equal(back.image, img)
    assert back.calibration.pixel_size == pytest.approx(0.10833, rel=1e-9)
    assert back.calibration.frame_interval == pytest.approx(0.123, rel=1e-9)
    assert back.calibration.source == "file"
    with tifffile.TiffFile(p) as tf:  # what Fiji reads: µm across, seconds down
        md = tf.imagej_metadata
        assert md["unit"] == "micron" and md["yunit"] == "sec" and md["finterval"] == pytest.approx(0.123)
    only_px = tmp_path / "px.tif"
    save_kymograph_tiff(only_px, iter(img), img.shape, Calibration(pixel_size=0.2))
    cal = read_kymograph(only_px, invert=False).calibration
    assert cal.pixel_size == pytest.approx(0.2) and cal.frame_interval is None


# ------------------------------------------------------------------------------- bad input
def test_bad_input_errors(tmp_path, movie):
    with pytest.raises(InputError, match=r"point 1 \(x=40, y=5\) lies outside the image of 32 x 24 px.*refuses"):
        make_kymograph(movie, "3,5 40,5")
    with pytest.raises(InputError, match="1 point.*at least 2 points"):
        make_kymograph(movie, "3,5")
    with pytest.raises(InputError, match="zero length"):
        make_kymograph(movie, "3,5 3,5")
    for bad in (0, -2, 2.5):
        with pytest.raises(OptionError, match="width"):
            make_kymograph(movie, "3,5 10,5", width=bad)
    with pytest.raises(OptionError, match="reduce"):
        make_kymograph(movie, "3,5 10,5", reduce="median")
    with pytest.raises(OptionError, match=r"pixel_size=-1 is not allowed; give a positive number in µm/px, or leave it unset to use the movie's metadata"):
        make_kymograph(movie, "3,5 10,5", pixel_size=-1)
    with pytest.raises(OptionError, match=r"frame_interval='x' is not allowed; give a positive number in s/frame"):
        make_kymograph(movie, "3,5 10,5", frame_interval="x")
    with pytest.raises(OptionError, match="not an x,y pair"):
        parse_path("3,5 10")
    with pytest.raises(InputError, match="single 2-D image.*kymotrace analyze"):
        make_kymograph(movie[0], "3,5 10,5")
    p2d = tmp_path / "image.tif"
    tifffile.imwrite(p2d, movie[0].astype(np.uint16))
    with pytest.raises(InputError, match="image.tif: this is a single 2-D image"):
        make_kymograph(p2d, "3,5 10,5")
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"II*\x00 not a real tiff")
    with pytest.raises(InputError, match="broken.tif: cannot read this TIFF"):
        make_kymograph(broken, "3,5 10,5")
    nan = movie.copy()
    nan[3, 5, 6] = np.nan
    with pytest.raises(InputError, match="frame 3 has NaN"):
        make_kymograph(nan, "3,5 10,5")
    with pytest.raises(OptionError, match="needs axes="):
        make_kymograph(np.zeros((2, 3, 8, 8)), "1,1 5,1")


def test_truncated_movie_is_reported(tmp_path, rng):
    a = rng.integers(0, 60000, size=(20, 16, 16)).astype(np.uint16)
    p = tmp_path / "cut.tif"
    tifffile.imwrite(p, a, imagej=True, metadata={"axes": "TYX"})
    with tifffile.TiffFile(p) as tf:
        start = tf.series[0].dataoffset
    p.write_bytes(p.read_bytes()[: start + 15 * 16 * 16 * 2 + 100])  # cut inside frame 15
    with pytest.raises(InputError, match="cut.tif: the ImageJ metadata announces 20 images but only 1 can be read; the file is truncated"):
        make_kymograph(p, "0,8 15,8")
