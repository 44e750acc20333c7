"""Tests of kymotrace.roi: ImageJ ROI zip export and import of tracks."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import roifile
from roifile import ROI_OPTIONS, ROI_TYPE, ImagejRoi

from kymotrace import roi as kroi
from kymotrace.errors import InputError
from kymotrace.report import track_color
from kymotrace.track import Track


def _random_tracks(rng, n=8):
    tracks = []
    for i in range(n):
        t0 = int(rng.integers(0, 200))
        length = int(rng.integers(2, 60))
        x = np.clip(rng.uniform(0, 300) + np.cumsum(rng.normal(0, 1.3, length)), 0, 310)
        gap = np.zeros(length, bool)
        if length > 10:
            a = int(rng.integers(1, length - 5))
            gap[a : a + 3] = True
        tracks.append(
            Track(i + 1, np.arange(t0, t0 + length), x, gap=gap, confidence=float(rng.uniform()))
        )
    tracks.append(Track(42, [7], [12.25], size=1.5, brightness=3.0))  # one frame
    return tracks


def test_tracks_to_rois_polyline_coordinates_names_and_colours():
    tr = Track(5, [3, 4, 5], [10.25, 11.5, 12.75], gap=[False, True, False])
    (r,) = kroi.tracks_to_rois([tr])
    assert r.roitype == ROI_TYPE.POLYLINE
    assert r.name == "track_5"
    assert r.options & ROI_OPTIONS.SUB_PIXEL_RESOLUTION and r.subpixelresolution
    xy = r.coordinates()
    assert xy.dtype == np.float32
    np.testing.assert_array_equal(xy, [[10.25, 3.0], [11.5, 4.0], [12.75, 5.0]])  # x=pos, y=frame
    assert r.stroke_color == bytes((255, *track_color(5)))
    assert r.properties["track_id"] == 5 and r.properties["gaps"] == "4-4"
    (p,) = kroi.tracks_to_rois([Track(9, [2], [1.5])], name_prefix="kt")
    assert p.roitype == ROI_TYPE.POINT and p.name == "kt_9"
    assert kroi.tracks_to_rois([Track(1, [], [])]) == []


def test_round_trip_frames_positions_gaps_and_values(tmp_path, rng):
    tracks = _random_tracks(rng)
    path = tmp_path / "tracks_roi.zip"
    kroi.save_roi_zip(path, tracks)
    back = kroi.read_roi_zip(path)
    assert [t.track_id for t in back] == [t.track_id for t in tracks]
    for a, b in zip(tracks, back):
        np.testing.assert_array_equal(b.frames, a.frames)
        np.testing.assert_array_equal(b.positions, a.positions.astype(np.float32))
        np.testing.assert_allclose(b.positions, a.positions, rtol=0, atol=1e-4)
        np.testing.assert_array_equal(b.gap, a.gap)
        assert b.confidence == a.confidence and b.size == a.size and b.brightness == a.brightness


def test_zip_is_an_imagej_roi_set(tmp_path):
    tracks = [Track(3, np.arange(10, 20), np.linspace(1, 5, 10)), Track(12, [4, 5], [7.0, 8.0])]
    path = tmp_path / "tracks_roi.zip"
    kroi.save_roi_zip(path, tracks)
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == ["track_3.roi", "track_12.roi"]
        assert zf.read("track_3.roi")[:4] == b"Iout"
    rois = roifile.roiread(path)  # an independent reader agrees
    assert [r.name for r in rois] == ["track_3", "track_12"]
    assert all(r.roitype == ROI_TYPE.POLYLINE for r in rois)
    assert [p.name for p in tmp_path.iterdir()] == ["tracks_roi.zip"]  # no temporary left


def test_empty_track_list_gives_a_valid_empty_zip(tmp_path):
    path = tmp_path / "tracks_roi.zip"
    kroi.save_roi_zip(path, [])
    assert zipfile.is_zipfile(path)
    assert kroi.read_roi_zip(path) == []


def test_duplicate_ids_keep_every_track(tmp_path):
    tracks = [Track(2, [0, 1], [1.0, 2.0]), Track(2, [5, 6], [9.0, 9.5])]
    path = tmp_path / "dup.zip"
    kroi.save_roi_zip(path, tracks)
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["track_2.roi", "track_2-2.roi"]
    back = kroi.read_roi_zip(path)
    assert [t.track_id for t in back] == [2, 3]  # the repeat gets a new, unique ID
    np.testing.assert_array_equal(back[1].frames, [5, 6])


def test_failed_write_leaves_nothing(tmp_path):
    bad = Track(1, [0, 1], [1.0, np.nan])
    with pytest.raises(ValueError, match="finite"):
        kroi.save_roi_zip(tmp_path / "tracks_roi.zip", [bad])
    assert list(tmp_path.iterdir()) == []


def _write_rois(path, rois):
    with zipfile.ZipFile(path, "w") as zf:
        for i, r in enumerate(rois):
            zf.writestr(f"{i:04d}.roi", r.tobytes())


def test_hand_drawn_polylines_are_resampled_per_frame(tmp_path):
    down = ImagejRoi.frompoints(np.array([[0.0, 0.0], [10.0, 10.0], [10.0, 20.0]]), name="my path")
    down.roitype = ROI_TYPE.POLYLINE
    up = ImagejRoi.frompoints(np.array([[4.0, 8.6], [2.0, 2.4]]), name="track_7")
    up.roitype = ROI_TYPE.POLYLINE  # drawn bottom-up, between frames
    line = ImagejRoi(roitype=ROI_TYPE.LINE, name="", x1=1.0, y1=2.0, x2=3.0, y2=4.0, version=229)
    path = tmp_path / "drawn.zip"
    _write_rois(path, [down, up, line])
    a, b, c = kroi.read_roi_zip(path)
    assert (a.track_id, b.track_id, c.track_id) == (8, 7, 9)  # named ID kept, others above it
    np.testing.assert_array_equal(a.frames, np.arange(21))
    np.testing.assert_allclose(a.positions, np.r_[np.arange(11.0), np.full(10, 10.0)])
    np.testing.assert_array_equal(b.frames, [3, 4, 5, 6, 7, 8])
    np.testing.assert_allclose(b.positions, 2.0 + 2.0 * (b.frames - 2.4) / 6.2, atol=1e-6)
    np.testing.assert_array_equal(c.frames, [2, 3, 4])
    np.testing.assert_allclose(c.positions, [1.0, 2.0, 3.0])
    assert not (a.gap.any() or b.gap.any() or c.gap.any())


def test_single_roi_file_is_read(tmp_path):
    (r,) = kroi.tracks_to_rois([Track(4, [1, 2, 3], [5.5, 6.5, 7.5])])
    path = tmp_path / "one.roi"
    r.tofile(path)
    (t,) = kroi.read_roi_zip(path)
    assert t.track_id == 4
    np.testing.assert_array_equal(t.positions, [5.5, 6.5, 7.5])


def test_path_back_in_time_or_area_roi_is_an_input_error(tmp_path):
    zigzag = ImagejRoi.frompoints(np.array([[0.0, 0.0], [1.0, 5.0], [2.0, 3.0]]), name="zz")
    zigzag.roitype = ROI_TYPE.POLYLINE
    path = tmp_path / "zz.zip"
    _write_rois(path, [zigzag])
    with pytest.raises(InputError, match="back in time") as exc:
        kroi.read_roi_zip(path)
    assert "zz.zip" in str(exc.value) and "'zz'" in str(exc.value)
    rect = ImagejRoi(roitype=ROI_TYPE.RECT, name="box", left=1, top=1, right=5, bottom=5)
    path = tmp_path / "rect.zip"
    _write_rois(path, [rect])
    with pytest.raises(InputError, match="rect ROI"):
        kroi.read_roi_zip(path)


def test_not_a_zip_is_an_input_error_naming_the_file(tmp_path):
    path = tmp_path / "tracks_roi.zip"
    path.write_text("track_id,frame,position\n1,0,3.5\n")
    with pytest.raises(InputError, match="tracks_roi.zip") as exc:
        kroi.read_roi_zip(path)
    assert isinstance(exc.value, ValueError)
    with pytest.raises(InputError, match="does not exist"):
        kroi.read_roi_zip(tmp_path / "missing.zip")


def test_damaged_zip_and_bad_entry_are_input_errors(tmp_path):
    good = tmp_path / "good.zip"
    kroi.save_roi_zip(good, [Track(1, np.arange(50), np.linspace(0, 40, 50))])
    data = good.read_bytes()
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated.zip"):
        kroi.read_roi_zip(truncated)
    junk = tmp_path / "junk.zip"
    with zipfile.ZipFile(junk, "w") as zf:
        zf.writestr("track_1.roi", b"this is not an ImageJ ROI at all, just some bytes; padding....")
    with pytest.raises(InputError, match="track_1.roi"):
        kroi.read_roi_zip(junk)
    flipped = tmp_path / "crc.zip"
    with zipfile.ZipFile(flipped, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("track_1.roi", kroi.tracks_to_rois([Track(1, [0, 1], [1.0, 2.0])])[0].tobytes())
    raw = bytearray(flipped.read_bytes())
    raw[60] ^= 0xFF  # corrupt a byte of the stored entry: CRC check fails
    flipped.write_bytes(bytes(raw))
    with pytest.raises(InputError, match="crc.zip"):
        kroi.read_roi_zip(flipped)
