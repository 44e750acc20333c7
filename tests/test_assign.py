"""The detection-and-assignment tracer on hand-made trackness maps."""

import numpy as np
import pytest

from kymotrace.track import Track
from kymotrace.trace.assign import BI_PARAMS, UNI_PARAMS, detect_rows, drop_duplicates, drop_stationary, guide_image, trace_assign


def ridge_map(paths, shape=(120, 160), sigma=1.2, gaps=()):
    """A trackness-like map: Gaussian ridges along x(t) paths, zero in (path, t0, t1) gap rows."""
    t = np.arange(shape[0])[:, None]
    x = np.arange(shape[1])[None, :]
    m = np.zeros(shape, np.float32)
    for k, f in enumerate(paths):
        r = np.exp(-0.5 * ((x - f(t)) / sigma) ** 2)
        for pk, t0, t1 in gaps:
            if pk == k:
                r[t0:t1] = 0
        m = np.maximum(m, r)
    return m


def test_detect_rows_subpixel():
    m = ridge_map([lambda t: 40.3 + 0 * t])
    dets = detect_rows(m, 0.5)
    assert all(xs.size == 1 for xs, _ in dets)
    assert np.allclose([xs[0] for xs, _ in dets], 40.3, atol=0.1)


def test_empty_map_gives_no_tracks():
    assert trace_assign(np.zeros((50, 60), np.float32), 0.5) == []


def test_opposite_crossing_keeps_identities():
    # two particles crossing at t=60, x=80, in opposite directions
    m = ridge_map([lambda t: 20 + t, lambda t: 140 - t])
    tracks = trace_assign(m, 0.5, **BI_PARAMS)
    assert len(tracks) == 2
    for tr in tracks:
        assert len(tr) >= 110
        slope = np.polyfit(tr.frames, tr.positions, 1)[0]
        assert abs(abs(slope) - 1.0) < 0.05  # each track stays on its own straight line


def test_gap_is_bridged_and_flagged():
    m = ridge_map([lambda t: 30 + 0.5 * t], gaps=[(0, 50, 54)])
    (tr,) = trace_assign(m, 0.5, **UNI_PARAMS)
    assert tr.start == 0 and tr.end == 119
    assert tr.gap[50:54].all() and not tr.gap[:50].any()
    assert np.allclose(tr.positions[50:54], 30 + 0.5 * np.arange(50, 54), atol=0.6)


def test_reversal_is_one_track():
    # moves right at 1 px/frame, then reverses at t=60
    m = ridge_map([lambda t: np.where(t < 60, 40 + t, 160 - t)])
    tracks = trace_assign(m, 0.5, **BI_PARAMS)
    assert len(tracks) == 1 and len(tracks[0]) >= 115


def test_drop_duplicates():
    f = np.arange(50)
    a = Track(0, f, 10 + 0.5 * f)
    b = Track(0, f[10:40], 10.8 + 0.5 * f[10:40])
    c = Track(0, f, 40 + 0 * f)
    out = drop_duplicates([b, a, c])
    assert len(out) == 2
    assert sorted(len(t) for t in out) == [50, 50]


@pytest.mark.parametrize("threshold", [0.3, 0.7])
def test_tracks_never_run_backwards(threshold):
    rng = np.random.default_rng(3)
    m = ridge_map([lambda t: 20 + t, lambda t: 140 - t, lambda t: 80 + 10 * np.sin(t / 9)])
    m = np.clip(m + 0.2 * rng.random(m.shape, dtype=np.float32), 0, 1)
    for tr in trace_assign(m, threshold, **BI_PARAMS):
        assert np.all(np.diff(tr.frames) == 1)


def test_drop_stationary_keeps_movers_and_short_pieces():
    f = np.arange(100)
    still = Track(1, f, 40.0 + 0.3 * np.sin(f))  # immobile, with a little wobble
    slow = Track(2, f, 10.0 + 0.3 * f)  # the slowest trained unidirectional speed
    short = Track(3, np.arange(10), np.full(10, 70.0))  # too short to judge
    kept = drop_stationary([still, slow, short])
    assert len(kept) == 2
    assert sorted(round(float(t.positions[0])) for t in kept) == [10, 70]
    assert [t.track_id for t in kept] == [1, 2]


def test_direction_forbids_steps_back_on_a_slope_map():
    # a positive-slope mover and, 5 px behind its path, a short burst of detections (noise a
    # real slope map shows): with direction=+1 the track may not hop back onto them
    m = ridge_map([lambda t: 20 + 1.0 * t], shape=(80, 160))
    m[40:44] = 0  # a gap: the coasting track's gate is wide here
    bump = ridge_map([lambda t: 20 + 1.0 * t - 6.0], shape=(80, 160))
    m[40:44] = np.maximum(m[40:44], bump[40:44])
    free = trace_assign(m, 0.5, **UNI_PARAMS)
    one_way = trace_assign(m, 0.5, direction=1, **UNI_PARAMS)
    # both read one long track; only the constrained one never moves left by more than 1 px/frame
    assert max(len(t) for t in one_way) >= 75
    for tr in one_way:
        assert np.all(np.diff(tr.positions) >= -1.0 - 1e-6)
    assert any(np.any(np.diff(t.positions) < -1.0) for t in free)


def test_fast_unidirectional_mover_is_one_track():
    # 6 px per frame: a new track must find its second detection 6 px on (KymoButler's paper
    # generator stops at 3 px/frame, real fast transport and long frame intervals do not)
    m = ridge_map([lambda t: 10 + 6.0 * t], shape=(28, 190))
    tracks = trace_assign(m, 0.5, direction=1, **UNI_PARAMS)
    assert len(tracks) == 1 and len(tracks[0]) >= 26
    assert np.polyfit(tracks[0].frames, tracks[0].positions, 1)[0] == pytest.approx(6.0, abs=0.1)
    # the previous birth gate (4 px) could not start it
    old = dict(UNI_PARAMS, gate=3.5, new_gate=4.0)
    assert not trace_assign(m, 0.5, direction=1, **old)


def _two_runners(gap_px=4.0, h=30, w=40):
    """Two particles running side by side ``gap_px`` apart at 0.5 px/frame, and a trackness map
    that (like the segmenters') is one flat plateau over both."""
    t = np.arange(h)[:, None]
    x = np.arange(w)[None, :]
    a = 15.0 + 0.5 * t
    b = a + gap_px
    image = (np.exp(-0.5 * ((x - a) / 1.0) ** 2) + np.exp(-0.5 * ((x - b) / 1.0) ** 2)).astype(np.float32)
    prob = (np.abs(x - (a + b) / 2) <= gap_px / 2 + 2).astype(np.float32)
    return image, prob, a[:, 0], b[:, 0]


def test_guided_detection_separates_particles_on_one_plateau():
    image, prob, a, b = _two_runners()
    plain = detect_rows(prob, 0.5)
    assert all(len(x) == 1 for x, _ in plain)  # the map alone has one peak per row
    guided = detect_rows(prob, 0.5, guide=guide_image(image), guide_mix=UNI_PARAMS["guide_mix"], min_dip=UNI_PARAMS["min_dip"])
    for t, (x, height) in enumerate(guided):
        assert len(x) == 2
        np.testing.assert_allclose(np.sort(x), [a[t], b[t]], atol=0.6)
        np.testing.assert_allclose(height, 1.0)  # heights stay the trackness
    tracks = trace_assign(prob, 0.5, direction=1, guide=guide_image(image), **UNI_PARAMS)
    assert len(tracks) == 2
    for tr, truth in zip(sorted(tracks, key=lambda t: t.positions.mean()), (a, b)):
        np.testing.assert_allclose(tr.positions, truth[tr.frames], atol=0.6)


def test_guide_never_adds_detections_outside_the_map():
    image, prob, _, _ = _two_runners()
    image[:, 2] = 5.0  # a bright column where the map says "no track"
    guided = detect_rows(prob, 0.5, guide=guide_image(image))
    assert all(np.all(np.abs(x - 2) > 3) for x, _ in guided)
    with pytest.raises(ValueError, match="shape"):
        detect_rows(prob, 0.5, guide=guide_image(image[:, :-1]))


# ------------------------------------------------------------------------------ hysteresis
def test_strong_frames_reads_within_one_pixel_and_never_on_gaps():
    from kymotrace.trace.assign import strong_frames

    m = np.zeros((6, 20), np.float32)
    m[:, 10] = [0.95, 0.95, 0.5, 0.95, 0.95, 0.95]
    m[4, 10] = 0.6
    m[4, 11] = 0.92  # the neighbour within 1 px counts
    tr = Track(1, np.arange(6), np.full(6, 10.2), gap=np.array([0, 0, 0, 0, 0, 1], bool))
    assert strong_frames(tr, [m], 0.9).tolist() == [True, True, False, True, True, False]
    # any of several maps
    m2 = np.zeros_like(m)
    m2[2, 9] = 0.99
    assert strong_frames(tr, [m, m2], 0.9).tolist() == [True, True, True, True, True, False]


def test_hysteresis_filter_needs_enough_strong_frames():
    from kymotrace.trace.assign import hysteresis_filter

    m = np.zeros((12, 30), np.float32)
    m[:, 5] = 0.8                                   # track A: dim all along
    m[:, 15] = 0.8
    m[3:7, 15] = 0.95                               # track B: 4 strong frames of 12
    m[:, 25] = 0.8
    m[2:10, 25] = 0.95                              # track C: 8 strong frames of 12
    tracks = [Track(i + 1, np.arange(12), np.full(12, x)) for i, x in enumerate((5.0, 15.0, 25.0))]
    kept = hysteresis_filter(tracks, [m], 0.9, need=4, min_share=0.0, trim=False)
    assert [t.track_id for t in kept] == [2, 3]
    kept = hysteresis_filter(tracks, [m], 0.9, need=4, min_share=0.5, trim=False)
    assert [t.track_id for t in kept] == [3]
    # trimming cuts back to the first and last strong frame (plus ``tail``)
    (c,) = hysteresis_filter(tracks[2:], [m], 0.9, need=4, trim=True)
    assert (c.start, c.end) == (2, 9)
    (c,) = hysteresis_filter(tracks[2:], [m], 0.9, need=4, trim=True, tail=1)
    assert (c.start, c.end) == (1, 10)


def test_hysteresis_reads_a_track_on_its_own_slope_map():
    from kymotrace.trace.assign import hysteresis_filter

    t = np.arange(12)
    retro = Track(1, t, 25.0 - 2 * t)  # negative slope: its evidence is the negative map
    ante = Track(2, t, 1.0 + 2 * t)
    pos = np.zeros((12, 30), np.float32)
    neg = np.zeros((12, 30), np.float32)
    pos[t, np.rint(ante.positions).astype(int)] = 0.95
    pos[t, np.rint(retro.positions).astype(int)] = 0.95  # crossing dense anterograde streaks
    neg[t, np.rint(retro.positions).astype(int)] = 0.8  # its own map: dim all along
    both = hysteresis_filter([retro, ante], [pos, neg], 0.9, need=4, min_share=0.5, trim=False)
    assert [k.track_id for k in both] == [1, 2]
    own = hysteresis_filter([retro, ante], [pos, neg], 0.9, need=4, min_share=0.5, trim=False, by_direction=True)
    assert [k.track_id for k in own] == [2]


def test_hysteresis_follows_a_particle_through_a_dim_stretch():
    """A particle dims for 20 frames (trackness 0.8 < threshold 0.9): at the threshold it gives
    two tracks; traced at the lower threshold and filtered it stays one track, while a track
    made only of dim detections is dropped."""
    from kymotrace.trace.assign import UNI_HYSTERESIS, hysteresis_filter

    m = ridge_map([lambda t: 20 + 1.0 * t, lambda t: 120 + 0 * t + 0.3 * t], shape=(120, 200))
    m[50:70, :100] *= 0.8                               # the first particle dims
    m[:, 100:] *= 0.85                                  # the second is dim all along
    thr = 0.9
    at_thr = [t for t in trace_assign(m, thr, direction=1, **UNI_PARAMS) if len(t) >= 4]
    assert len(at_thr) == 2 and max(len(t) for t in at_thr) < 60
    low = trace_assign(m, thr * UNI_HYSTERESIS, direction=1, **UNI_PARAMS)
    kept = hysteresis_filter(low, [m], thr, need=4, min_share=0.5, trim=False)
    assert len(kept) == 1
    assert kept[0].start <= 2 and kept[0].end >= 117
    assert np.allclose(kept[0].positions, 20 + kept[0].frames, atol=0.6)
