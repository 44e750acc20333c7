"""Exact hand-made tests of the paper's benchmark metrics (kymotrace.metrics)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from kymotrace.errors import InputError, OptionError
from kymotrace.metrics import (
    Scores,
    crossing_events,
    crossing_score,
    gap_events,
    gap_scores,
    score,
    track_recall_precision,
)
from kymotrace.raster import track_pixels
from kymotrace.track import Track

T41 = np.arange(41)


def line(tid, frames, positions, gap=None):
    frames = np.asarray(frames)
    return Track(tid, frames, np.broadcast_to(np.asarray(positions, float), frames.shape), gap=gap)


def x_tracks():
    """Two 1-px diagonals crossing at (20, 30), sharing that pixel; shape (41, 61)."""
    return line(1, T41, T41 + 10), line(2, T41, 50 - T41)


def v_tracks():
    """The X predicted with swapped identities at the crossing: two V-shaped tracks."""
    return (line(1, T41, np.where(T41 <= 20, T41 + 10, 50 - T41)),
            line(2, T41, np.where(T41 <= 20, 50 - T41, T41 + 10)))


def gap_track(gap_frames=(8, 9, 10), n=20, x=30.0):
    gap = np.isin(np.arange(n), gap_frames)
    return line(1, np.arange(n), x, gap=gap)


# ----------------------------------------------------------------------------- track F1
def test_perfect_prediction_scores_one_everywhere():
    a, b = x_tracks()
    c = gap_track(x=55.0, n=41)
    s = score([a, b, c], [a, b, c], (41, 61))
    assert (s.recall, s.precision, s.f1, s.gap, s.gap_strict, s.crossing) == (1, 1, 1, 1, 1, 1)
    assert (s.n_gt, s.n_pred, s.n_gaps, s.n_gaps_strict, s.n_crossings) == (3, 3, 1, 1, 1)
    np.testing.assert_array_equal(s.track_recall, [1, 1, 1])
    np.testing.assert_array_equal(s.track_precision, [1, 1, 1])
    np.testing.assert_array_equal(s.matches, [0, 1, 2])


def test_track_split_in_two_halves_recall_exactly():
    gt = line(1, np.arange(40), 50)
    halves = [line(1, np.arange(20), 50), line(2, np.arange(20, 40), 50)]
    s = score([gt], halves, (40, 100))
    # the first half reaches rows 0..19 plus rows 20, 21, 22 (1, 2, 3 px away): 23 of 40 px
    assert s.track_recall[0] == pytest.approx(23 / 40)
    assert s.recall == pytest.approx(23 / 40)
    assert s.precision == 1.0
    assert s.f1 == pytest.approx(math.sqrt(23 / 40))
    assert s.matches[0] == 0  # both halves tie: the lowest index wins


def test_spurious_far_track_lowers_precision_to_exact_mean():
    gt = line(1, np.arange(30), 10)
    far = line(2, np.arange(30), 80)
    s = score([gt], [gt, far], (30, 100))
    np.testing.assert_array_equal(s.track_precision, [1.0, 0.0])
    assert (s.recall, s.precision) == (1.0, 0.5)
    assert s.f1 == pytest.approx(math.sqrt(0.5))
    assert s.n_pred == 2


@pytest.mark.parametrize("shift, expected", [(3, 1.0), (-3, 1.0), (4, 0.0), (-4, 0.0)])
def test_position_tolerance_is_inclusive(shift, expected):
    gt = line(1, np.arange(20), 30)
    rp = track_recall_precision([gt], [line(2, np.arange(20), 30 + shift)], (20, 60))
    assert rp.recall[0] == expected
    assert rp.precision[0] == expected


@pytest.mark.parametrize("dt, dx, expected",
                         [(1, 3, 1.0), (2, 2, 1.0), (2, 3, 0.0), (3, 1, 1.0), (0, 4, 0.0)])
def test_distance_is_euclidean_3_2(dt, dx, expected):
    # single pixels: sqrt(10) = 3.16 and sqrt(8) are within 3.2 px, sqrt(13) = 3.61 is not
    rp = track_recall_precision([line(1, [10], 10)], [line(2, [10 + dt], 10 + dx)], (30, 30))
    assert rp.recall[0] == expected
    assert rp.matches[0] == (0 if expected else -1)


def test_recall_precision_is_asymmetric():
    # prediction three times longer than the ground truth: full recall, precision 1/3 + tolerance
    gt = line(1, np.arange(10, 20), 5)
    pred = line(2, np.arange(30), 5)
    rp = track_recall_precision([gt], [pred], (30, 20))
    assert rp.recall[0] == 1.0
    assert rp.precision[0] == pytest.approx(16 / 30)  # rows 7..22


# ----------------------------------------------------------------------------- crossings
def test_x_crossing_correct_prediction_resolves():
    a, b = x_tracks()
    assert crossing_score([a, b], [a, b], (41, 61)) == (1.0, 1)
    (ev,) = crossing_events([a, b], [a, b], (41, 61))
    assert ev.centre == (20.0, 30.0)
    assert ev.size == 13  # the diamond where the two dilated diagonals overlap
    assert (ev.cover_a, ev.cover_b, ev.match_a, ev.match_b, ev.resolved) == (1, 1, 0, 1, True)


def test_x_crossing_swapped_identities_is_missed():
    a, b = x_tracks()
    s = score([a, b], list(v_tracks()), (41, 61))
    assert (s.crossing, s.n_crossings) == (0.0, 1)
    (ev,) = crossing_events([a, b], list(v_tracks()), (41, 61))
    # part = the 23 diagonal pixels within 16 px of (20, 30); a dilated V covers 13 of them
    assert ev.cover_a == pytest.approx(13 / 23) and ev.cover_b == pytest.approx(13 / 23)
    assert not ev.resolved
    # each V covers 23 of the 41 px of each diagonal: rows 0..22 or 18..40
    np.testing.assert_allclose(s.track_recall, [23 / 41, 23 / 41])
    np.testing.assert_allclose(s.track_precision, [23 / 41, 23 / 41])


def test_diagonals_crossing_without_shared_pixel_are_found():
    a, b = line(1, T41, T41 + 10), line(2, T41, 51 - T41)
    pa, pb = track_pixels(a, (41, 61)), track_pixels(b, (41, 61))
    assert not set(zip(*pa)) & set(zip(*pb))
    (ev,) = crossing_events([a, b], [a, b], (41, 61))
    assert ev.centre == (20.5, 30.5) and ev.resolved
    assert crossing_score([a, b], list(v_tracks()), (41, 61)).crossing == 0.0


@pytest.mark.parametrize("last, resolved", [(25, False), (26, True)])
def test_crossing_part_cover_threshold_is_70_percent(last, resolved):
    vertical, diagonal = line(1, T41, 20), line(2, T41, T41)
    # the vertical part: rows 4..36 (33 px); predicted frames 0..last, dilated, cover rows 4..last+1
    pred = [line(1, np.arange(last + 1), 20), diagonal]
    (ev,) = crossing_events([vertical, diagonal], pred, (41, 41))
    assert ev.centre == (20.0, 20.0)
    assert ev.cover_a == pytest.approx((last - 2) / 33)
    assert ev.cover_b == 1.0
    assert ev.resolved is resolved


def test_long_merge_is_one_event_and_cover_is_inclusive():
    a = line(1, T41, 20)
    b = line(2, np.arange(10, 30), 22)  # runs 2 px beside a for 20 frames
    shape = (41, 41)
    (ev,) = crossing_events([a, b], [a, b], shape)
    assert ev.centre == (19.5, 21.0) and ev.size == 22
    # radius 5 gives 10-px parts (rows 15..24); 7 of 10 covered is exactly 70 %: resolved
    assert crossing_events([a, b], [line(1, np.arange(21), 20), b], shape, radius=5)[0].resolved
    assert not crossing_events([a, b], [line(1, np.arange(20), 20), b], shape, radius=5)[0].resolved


def test_crossing_centroid_out_of_reach_falls_back_to_region_pixel():
    # two V-shaped tracks 1 px apart merge all along: the band's centroid (20, 20.7) lies
    # 7 px inside the V, beyond a 5 px radius from either track
    a, b = line(1, T41, np.abs(T41 - 20) + 10), line(2, T41, np.abs(T41 - 20) + 11)
    (wide,) = crossing_events([a, b], [a, b], (41, 41))
    assert wide.centre[0] == 20.0 and wide.centre[1] == pytest.approx(20.677, abs=1e-3)
    (ev,) = crossing_events([a, b], [a, b], (41, 41), radius=5)
    assert ev.centre in {(16.0, 16.0), (24.0, 16.0)}  # the region pixels nearest the centroid
    assert ev.resolved and ev.size == wide.size
    assert not crossing_events([a, b], [], (41, 41), radius=5)[0].resolved


def test_no_crossings_gives_nan():
    s = score([line(1, T41, 5), line(2, T41, 30)], [line(1, T41, 5)], (41, 61))
    assert s.n_crossings == 0 and math.isnan(s.crossing)


# ----------------------------------------------------------------------------- gaps
def test_bridged_gap_resolves_loose_and_strict():
    gt = gap_track()
    assert gap_scores([gt], [gt.copy(gap=np.zeros(20, bool))]) == (1.0, 1.0, 1, 1)


def test_unbridged_gap_fails_both():
    gt = gap_track()
    pieces = [line(1, np.arange(8), 30), line(2, np.arange(11, 20), 30)]
    assert gap_scores([gt], pieces) == (0.0, 0.0, 1, 1)


def test_gap_covered_by_two_tracks_is_loose_not_strict():
    gt = gap_track()
    pieces = [line(1, np.arange(10), 30), line(2, np.arange(10, 20), 30)]
    (ev,) = gap_events([gt], pieces)
    assert (ev.track, ev.first, ev.last, ev.resolved, ev.strict) == (0, 8, 10, True, False)
    s = score([gt], pieces, (20, 60))
    assert (s.gap, s.gap_strict, s.n_gaps) == (1.0, 0.0, 1)


@pytest.mark.parametrize("dx, expected", [(3, 1.0), (-3, 1.0), (4, 0.0)])
def test_gap_tolerance_is_3_px_inclusive(dx, expected):
    assert gap_scores([gap_track()], [line(1, np.arange(20), 30 + dx)]).gap == expected


def test_strict_needs_visible_frame_on_both_sides():
    gt = gap_track()
    inside = [line(1, np.arange(8, 12), 30)]  # covers frames 8..11: not frame 7
    assert gap_scores([gt], inside)[:2] == (1.0, 0.0)


def test_gap_at_track_start_counts_loose_only():
    gt = gap_track(gap_frames=(0, 1, 12))
    pred = [line(1, np.arange(20), 30)]
    (first, second) = gap_events([gt], pred)
    assert first.strict is None and second.strict is True
    assert gap_scores([gt], pred) == (1.0, 1.0, 2, 1)
    only_start = gap_scores([gap_track(gap_frames=(0, 1))], pred)
    assert only_start.n_gaps_strict == 0 and math.isnan(only_start.gap_strict)


# ----------------------------------------------------------------------------- filtering
def test_tiny_tracks_are_ignored_on_both_sides():
    gt = line(1, np.arange(30), 10)
    two_frames = line(2, [5, 6], 70)
    clipped = line(3, [0, 1, 2], [-5, 0, 1])  # 3 frames but only 2 px inside the image
    assert track_pixels(clipped, (30, 100))[0].size == 2
    s = score([gt, two_frames, clipped], [gt, two_frames, clipped], (30, 100))
    assert (s.recall, s.precision, s.f1, s.n_gt, s.n_pred) == (1.0, 1.0, 1.0, 1, 1)
    assert np.isnan(s.track_recall[1:]).all() and np.isnan(s.track_precision[1:]).all()
    np.testing.assert_array_equal(s.matches, [0, -1, -1])
    far_tiny = score([gt], [gt, two_frames], (30, 100))
    assert far_tiny.precision == 1.0
    assert score([gt], [gt, two_frames], (30, 100), min_frames=2, min_pixels=2).precision == 0.5


def test_matches_index_the_original_prediction_list():
    gt = line(1, np.arange(30), 10)
    s = score([gt], [line(9, [0, 1], 50), gt], (30, 100))
    assert s.matches[0] == 1 and np.isnan(s.track_precision[0]) and s.track_precision[1] == 1


# ----------------------------------------------------------------------------- edge cases
def test_empty_prediction():
    a, b = x_tracks()
    g = gap_track(x=55.0, n=41)
    s = score([a, b, g], [], (41, 61))
    assert (s.recall, s.precision, s.f1) == (0.0, 1.0, 0.0)
    assert (s.gap, s.gap_strict, s.crossing) == (0.0, 0.0, 0.0)
    np.testing.assert_array_equal(s.track_recall, [0, 0, 0])
    np.testing.assert_array_equal(s.matches, [-1, -1, -1])
    assert s.track_precision.shape == (0,) and s.n_pred == 0


def test_both_empty():
    s = score([], [], (10, 10))
    assert (s.recall, s.precision, s.f1, s.n_gt, s.n_pred) == (1.0, 1.0, 1.0, 0, 0)
    assert all(math.isnan(v) for v in (s.gap, s.gap_strict, s.crossing))
    d = s.as_dict()
    assert d["gap"] is None and d["crossing"] is None and d["f1"] == 1.0
    json.dumps(d, allow_nan=False)


def test_prediction_without_ground_truth():
    s = score([], [line(1, np.arange(10), 3)], (10, 10))
    assert (s.recall, s.precision, s.f1) == (1.0, 0.0, 0.0)


def test_as_dict_is_json_scalars():
    a, b = x_tracks()
    d = score([a, b], list(v_tracks()), (41, 61)).as_dict()
    assert set(d) == {"recall", "precision", "f1", "gap", "gap_strict", "crossing",
                      "n_gt", "n_pred", "n_gaps", "n_gaps_strict", "n_crossings"}
    assert json.loads(json.dumps(d, allow_nan=False))["n_crossings"] == 1
    assert isinstance(score([], [], (5, 5)), Scores)


@pytest.mark.parametrize("kwargs", [
    {"distance": 0}, {"distance": float("nan")}, {"gap_distance": -1}, {"crossing_radius": 0},
    {"crossing_cover": 0}, {"crossing_cover": 1.5}, {"min_pixels": -1}, {"min_frames": 2.5},
])
def test_bad_options_raise(kwargs):
    with pytest.raises(OptionError, match=next(iter(kwargs))):
        score([], [], (10, 10), **kwargs)


@pytest.mark.parametrize("shape", [(10,), (0, 10), (10.5, 10), None])
def test_bad_shape_raises(shape):
    with pytest.raises(OptionError, match="shape"):
        score([], [], shape)


def test_non_tracks_raise():
    gt = line(1, np.arange(5), 1)
    with pytest.raises(InputError, match=r"pred\[0\]"):
        score([gt], [np.zeros(5)], (10, 10))
    with pytest.raises(InputError, match="single Track"):
        score(gt, [gt], (10, 10))


# ----------------------------------------------------------------------------- brute force
def random_tracks(rng, n, shape):
    out = []
    for i in range(n):
        length = int(rng.integers(3, shape[0]))
        start = int(rng.integers(0, shape[0] - length + 1))
        x = np.clip(rng.uniform(0, shape[1]) + np.cumsum(rng.normal(0, 1.5, length)), 0, shape[1] - 1)
        out.append(Track(i, np.arange(start, start + length), x))
    return out


def mask(track, shape):
    m = np.zeros(shape, bool)
    m[track_pixels(track, shape)] = True
    return m


def test_recall_precision_match_distance_transform_reference(rng):
    from scipy.ndimage import distance_transform_edt

    shape = (60, 50)
    gt, pred = random_tracks(rng, 8, shape), random_tracks(rng, 9, shape)
    rp = track_recall_precision(gt, pred, shape)
    near_g = [distance_transform_edt(~mask(t, shape)) <= 3.2 for t in gt]
    near_p = [distance_transform_edt(~mask(t, shape)) <= 3.2 for t in pred]
    m = np.array([[(mask(g, shape) & n).sum() for n in near_p] for g in gt])
    q = np.array([[(mask(p, shape) & n).sum() for n in near_g] for p in pred])
    size_g = np.array([mask(g, shape).sum() for g in gt])
    size_p = np.array([mask(p, shape).sum() for p in pred])
    np.testing.assert_allclose(rp.recall, m.max(axis=1) / size_g)
    np.testing.assert_allclose(rp.precision, q.max(axis=1) / size_p)
    assert m.max() > 0  # the random tracks do overlap somewhere


def test_crossings_match_image_reference(rng):
    from scipy import ndimage

    shape = (60, 50)
    gt = random_tracks(rng, 8, shape)
    pred = gt[:4] + random_tracks(rng, 6, shape)  # some crossings resolved, some not
    dil = [ndimage.binary_dilation(mask(t, shape), np.ones((3, 3))) for t in gt]
    pdil = [ndimage.binary_dilation(mask(t, shape), np.ones((3, 3))) for t in pred]
    rows, cols = np.indices(shape)
    expected = []
    for a in range(len(gt)):
        for b in range(a + 1, len(gt)):
            lab, n = ndimage.label(dil[a] & dil[b], np.ones((3, 3)))
            for k in range(1, n + 1):
                cr, cc = rows[lab == k].mean(), cols[lab == k].mean()
                disk = (rows - cr) ** 2 + (cols - cc) ** 2 <= 256
                ok = []
                for t in (a, b):
                    part = mask(gt[t], shape) & disk
                    ok.append(max((part & p).sum() for p in pdil) >= 0.7 * part.sum() - 1e-9)
                expected.append((a, b, all(ok)))
    got = [(e.track_a, e.track_b, e.resolved) for e in crossing_events(gt, pred, shape)]
    assert sorted(got) == sorted(expected)
    assert {r for *_, r in expected} == {True, False}
