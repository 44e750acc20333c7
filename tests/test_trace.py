"""Exact tracing on tiny hand-made skeletons (no network: stand-in deciders)."""

from __future__ import annotations

import numpy as np
from skimage.morphology import skeletonize

from kymotrace.raster import rasterize
from kymotrace.track import Track
from kymotrace.trace import binarize_thin_prune, prune_spurs, trace_uni
from kymotrace.trace.bi import CROP, Decision, MotionDecider, NetDecider, decision_crops, find_seeds, trace_bi


def _line(tid, t0, t1, x0, v):
    t = np.arange(t0, t1)
    return Track(tid, t, x0 + v * (t - t0))


def _sorted_ends(tracks):
    return sorted((t.start, t.end, round(float(t.positions[0])), round(float(t.positions[-1]))) for t in tracks)


def test_prune_removes_short_spur_only():
    sk = np.zeros((20, 20), bool)
    sk[2:18, 10] = True  # trunk
    sk[9, 11] = sk[8, 12] = True  # 2-px spur from a junction
    out = prune_spurs(sk, 3)
    assert out[2:18, 10].all()
    assert not out[9, 11] and not out[8, 12]
    # a 4-px spur stays
    sk2 = sk.copy()
    sk2[7, 13] = sk2[6, 14] = True
    assert prune_spurs(sk2, 3)[6, 14]


def test_trace_uni_two_directions_cross():
    shape = (60, 90)
    pos = rasterize([_line(1, 0, 60, 10, 1.0)], shape).astype(float)
    neg = rasterize([_line(2, 0, 60, 70, -1.0)], shape).astype(float)
    tracks = trace_uni(pos, neg, 0.5)
    assert _sorted_ends(tracks) == [(0, 59, 10, 69), (0, 59, 70, 11)]


def test_trace_uni_filters_small_components():
    m = np.zeros((30, 30))
    m[5:7, 5] = 1.0  # 2 frames only
    m[10:25, 20] = 1.0
    tracks = trace_uni(m, np.zeros_like(m), 0.5, min_frames=3)
    assert [(t.start, t.end) for t in tracks] == [(10, 24)]


def test_find_seeds_are_track_tops():
    sk = np.zeros((10, 10), bool)
    sk[2:8, 3] = True
    sk[4, 6:9] = True  # a horizontal run seeds once, at its left end
    assert find_seeds(sk) == [(2, 3), (4, 6)]


def test_bi_crossing_resolved_by_motion():
    a = _line(1, 0, 60, 10, 0.8)
    b = _line(2, 0, 60, 58, -0.8)
    sk = skeletonize(rasterize([a, b], (60, 70)))
    tracks = trace_bi(sk)
    assert _sorted_ends(tracks) == [(0, 59, 10, 57), (0, 59, 58, 11)]


def test_bi_gap_bridged_and_flagged():
    c = Track(1, np.arange(60), np.full(60, 20.0))
    sk = rasterize([c], (60, 40))
    sk[30:34, 20] = False
    tracks = trace_bi(sk)
    assert len(tracks) == 1
    tr = tracks[0]
    assert (tr.start, tr.end) == (0, 59)
    assert tr.gap.sum() == 4 and tr.gap[30:34].all()
    np.testing.assert_allclose(tr.positions, 20.0)


def test_bi_gap_too_long_not_bridged():
    c = Track(1, np.arange(60), np.full(60, 20.0))
    sk = rasterize([c], (60, 40))
    sk[20:35, 20] = False
    tracks = trace_bi(sk, decider=MotionDecider(max_gap=6))
    assert sorted((t.start, t.end) for t in tracks) == [(0, 19), (35, 59)]


def test_bi_stationary_then_moving_branch():
    # a stationary particle that starts moving; a branch continues straight down (stationary)
    stat = Track(1, np.arange(0, 60), np.full(60, 30.0))
    mover = Track(2, np.arange(30, 60), 30 + 1.0 * np.arange(30))
    sk = skeletonize(rasterize([stat, mover], (60, 70)))
    tracks = trace_bi(sk)
    ends = _sorted_ends(tracks)
    assert (0, 59, 30, 30) in ends  # the stationary track keeps going straight
    assert any(e[3] >= 55 for e in ends)  # the mover is found as its own track


def test_net_decider_uses_callable_in_batches():
    calls = []

    def net(crops):
        calls.append(crops.shape)
        assert crops.shape[1:] == (3, CROP, CROP)
        # continue straight down from the centre
        out = np.zeros((crops.shape[0], CROP, CROP), np.float32)
        out[:, CROP // 2 + 1 : CROP // 2 + 8, CROP // 2] = 0.9
        return out

    c1 = Track(1, np.arange(40), np.full(40, 10.0))
    c2 = Track(2, np.arange(40), np.full(40, 50.0))
    sk = rasterize([c1, c2], (40, 70))
    sk[20:23, [10, 50]] = False
    tracks = trace_bi(sk, decider=NetDecider(net))
    assert sorted((t.start, t.end) for t in tracks) == [(0, 39), (0, 39)]
    # all four pending decisions of the first round (two gaps, two track ends) in one batched call
    assert calls[0][0] == 4 and len(calls) <= 3


def test_decision_crops_centre_the_track_end():
    sk = np.zeros((100, 100), bool)
    sk[10:60, 40] = True
    from kymotrace.trace.bi import _State

    st = _State(pixels=[(t, 40) for t in range(10, 60)], seen=set())
    crops = decision_crops([st], sk, np.ones((100, 100), np.float32))
    assert crops.shape == (1, 3, CROP, CROP)
    assert crops[0, 2, CROP // 2, CROP // 2] == 1.0
    assert crops[0, 2, CROP // 2 + 1, CROP // 2] == 0.0
    assert crops[0, 1, :, CROP // 2].sum() == CROP // 2 + 1


def test_binarize_thin_prune_gives_one_pixel_lines():
    m = np.zeros((40, 40))
    m[5:35, 18:23] = 1.0
    sk = binarize_thin_prune(m, 0.5)
    assert sk.sum() > 20
    assert (sk.sum(axis=1) <= 1).all()


def test_decision_dataclass():
    d = Decision([(1, 2)], 0.5)
    assert d.pixels == [(1, 2)] and d.confidence == 0.5


def test_link_gaps_joins_consistent_pieces_only():
    from kymotrace.trace.link import link_gaps

    a = _line(1, 0, 30, 10, 1.0)  # ends at frame 29, x = 39
    b = _line(2, 34, 60, 44, 1.0)  # continues after a 4-frame gap
    c = _line(3, 33, 60, 80, -1.0)  # starts in time but far away and moving the other way
    out = link_gaps([a, b, c])
    assert sorted((t.start, t.end) for t in out) == [(0, 59), (33, 59)]
    joined = next(t for t in out if t.start == 0)
    assert joined.gap.sum() == 4 and joined.gap[30:34].all()
    np.testing.assert_allclose(joined.positions, 10 + np.arange(60), atol=1e-9)


def test_link_gaps_respects_max_gap_and_velocity():
    from kymotrace.trace.link import link_gaps

    a = _line(1, 0, 30, 10, 1.0)
    far = _line(2, 45, 60, 55, 1.0)  # 15 missing frames: too long
    turn = _line(3, 33, 60, 43, -1.0)  # right place, opposite velocity
    out = link_gaps([a, far, turn], max_gap=6)
    assert len(out) == 3


def test_trace_uni_trace_method_matches_components_on_clean_maps():
    shape = (60, 90)
    pos = rasterize([_line(1, 0, 60, 10, 1.0)], shape).astype(float)
    neg = rasterize([_line(2, 0, 60, 70, -1.0)], shape).astype(float)
    a = trace_uni(pos, neg, 0.5)
    b = trace_uni(pos, neg, 0.5, method="trace")
    assert _sorted_ends(a) == _sorted_ends(b) == [(0, 59, 10, 69), (0, 59, 70, 11)]
