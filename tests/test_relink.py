"""Re-linking bidirectional track segments at encounters (kymotrace.trace.relink)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kymotrace.errors import InputError, OptionError
from kymotrace.trace import relink as R
from kymotrace.track import Track


def _spec(**over):
    n = len(R.FEATURES)
    w = np.zeros((n, 1))
    w[R.FEATURES.index("err_forward")] = -5.0  # a link is likely when a's motion predicts b's start
    spec = {"format": 1, "name": "hand", "module": "linker", "features": list(R.FEATURES), "mean": [0.0] * n,
            "scale": [1.0] * n, "layers": [{"weight": w.tolist(), "bias": [3.0]}], "p_min": 0.5,
            "cut": {"near": 2.0, "long_merge": 4, "max_dt": 30}}
    spec.update(over)
    return spec


def _x_crossing_swapped(frames=60, w=80):
    """Two particles crossing in an X (x = 10 + t and 70 - t, meeting at frame 30), traced with
    their identities swapped at the crossing (two V shapes), on an image showing them."""
    t = np.arange(frames)
    a, b = 10.0 + t, 70.0 - t
    half = t < 30
    v1 = np.where(half, a, b)
    v2 = np.where(half, b, a)
    img = np.zeros((frames, w), np.float32)
    for x in (a, b):
        img += np.exp(-0.5 * ((np.arange(w)[None, :] - x[:, None]) / 1.2) ** 2)
    return [Track(1, t, v1), Track(2, t, v2)], img, (a, b)


def test_a_swapped_crossing_is_relinked_by_motion():
    tracks, img, (a, b) = _x_crossing_swapped()
    out = R.relink(tracks, img, R.LinkScorer(_spec()))
    assert len(out) == 2
    for tr in out:
        truth = a if abs(tr.positions[0] - a[0]) < 1 else b
        assert tr.start == 0 and tr.end == 59
        assert np.max(np.abs(tr.positions - truth[tr.frames])) < 1.5  # each follows one particle
        assert not tr.gap[:26].any() and not tr.gap[34:].any()


def test_links_below_p_min_are_never_made():
    tracks, img, _ = _x_crossing_swapped()
    out = R.relink(tracks, img, R.LinkScorer(_spec()), p_min=0.999)
    assert len(out) == 4  # every piece stays on its own, with the tracer's frames up to the crossing
    for tr in out:
        assert (tr.start == 0 and 27 <= tr.end <= 33) or (tr.end == 59 and 27 <= tr.start <= 33)
        src = min(tracks, key=lambda t: abs(t.positions[tr.frames[0]] - tr.positions[0]))
        assert np.allclose(tr.positions, src.positions[tr.frames])


def test_cut_segments_keeps_long_merges_and_drops_short_encounters():
    t = np.arange(50)
    x1 = np.where(t < 20, 10.0, np.where(t < 30, 20.0, 10.0 + t * 0))  # away, merged 10 frames, away
    x1 = np.where(t < 20, 10.0 + 0 * t, x1)
    x2 = np.full(50, 20.0)
    x1 = np.where((t >= 20) & (t < 30), 20.5, 10.0)
    segs, table = R.cut_segments([Track(1, t, x1), Track(2, t, x2)], 50, near=2.0, long_merge=4)
    pieces = sorted((s.source, s.start, s.end) for s in segs)
    assert (0, 20, 29) in pieces and (1, 20, 29) in pieces  # the 10-frame merge is a segment of each
    assert (0, 0, 19) in pieces and (0, 30, 49) in pieces
    assert table.shape == (2, 50)
    # a 3-frame touch is cut out
    x1 = np.where((t >= 20) & (t < 23), 20.5, 10.0)
    segs, _ = R.cut_segments([Track(1, t, x1), Track(2, t, x2)], 50, near=2.0, long_merge=4)
    assert sorted((s.source, s.start, s.end) for s in segs if s.source == 0) == [(0, 0, 19), (0, 23, 49)]


def test_coasted_gap_frames_are_cut_out():
    t = np.arange(30)
    gap = np.zeros(30, bool)
    gap[10:13] = True
    segs, _ = R.cut_segments([Track(1, t, np.full(30, 5.0), gap=gap)], 30)
    assert [(s.start, s.end) for s in segs] == [(0, 9), (13, 29)]


def test_choose_links_is_one_global_assignment():
    pairs = np.array([[0, 2], [0, 3], [1, 2]])
    # greedy would give 0->2 (0.9) and leave 1 unlinked; the global optimum is 0->3, 1->2
    p = np.array([0.9, 0.85, 0.88])
    assert R.choose_links(pairs, p, 0.5) == {0: 3, 1: 2}
    assert R.choose_links(pairs, p, 0.95) == {}
    assert R.choose_links(np.empty((0, 2), np.int64), np.empty(0), 0.5) == {}


@pytest.mark.parametrize("change, words", [
    ({"module": "bi"}, "not a linker"),
    ({"features": ["dt"]}, "features differ"),
    ({"mean": [0.0]}, "wrong shape"),
    ({"layers": []}, "wrong shape"),
    ({"p_min": 1.5}, "out of range"),
    ({"cut": {"near": "x"}}, "cut"),
])
def test_bad_linker_files_are_refused(change, words):
    with pytest.raises(InputError, match=words):
        R.LinkScorer(_spec(**change), path="my.json")


def test_load_linker_errors(tmp_path):
    with pytest.raises(OptionError, match="no linker"):
        R.load_linker("no_such_linker")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="bad.json"):
        R.load_linker(str(bad))
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_spec()))
    sc = R.load_linker(str(good))
    assert sc.name == "hand" and len(sc.sha256) == 64 and sc.p_min == 0.5


def test_the_shipped_linker_loads_and_resolves_a_clean_crossing():
    sc = R.load_linker()
    assert sc.name == "linker" and 0 < sc.p_min < 1
    assert "train_command" in sc.card and "validation" in sc.card
    tracks, img, (a, b) = _x_crossing_swapped()
    segs, table = R.cut_segments(tracks, img.shape[0], near=sc.near, long_merge=sc.long_merge)
    R.describe_segments(segs, img)
    pairs, feats = R.candidate_pairs(segs, table, near=sc.near, max_dt=sc.max_dt)
    p = sc(feats)
    assert p.shape == (len(pairs),) and np.all((p >= 0) & (p <= 1))
    # straight through the X (a particle keeps its motion) beats turning back along the V
    straight = [k for k, (i, j) in enumerate(pairs) if np.sign(segs[i].v_end) == np.sign(segs[j].v_start)]
    turn = [k for k, (i, j) in enumerate(pairs) if np.sign(segs[i].v_end) != np.sign(segs[j].v_start)]
    assert straight and turn and min(p[straight]) > max(p[turn])
    out = R.relink(tracks, img, sc)
    assert len(out) == 2
    for tr in out:
        truth = a if abs(tr.positions[0] - a[0]) < 1 else b
        assert np.max(np.abs(tr.positions - truth[tr.frames])) < 1.5


def test_analyze_reports_relinking():
    pytest.importorskip("torch")
    from kymotrace.pipeline import analyze
    from kymotrace.synth import generate

    k = generate("bi", rng=np.random.default_rng(95_000_030), width=64, frames=48, n_tracks=4)
    on = analyze(k.image, mode="bi")  # on by default
    assert on.settings["relink"]["name"] == "linker" and len(on.settings["relink"]["sha256"]) == 64
    assert "re-linked" in on.settings["decision"]
    off = analyze(k.image, mode="bi", relink=False)
    assert off.settings["relink"] is None
    with pytest.raises(OptionError, match="relink_p_min"):
        analyze(k.image, mode="bi", relink_p_min=1.0)


def test_keeping_every_tracer_link_gives_back_the_traced_tracks():
    tracks, img, _ = _x_crossing_swapped()
    spec = _spec()
    w = np.zeros((len(R.FEATURES), 1))
    w[R.FEATURES.index("same_track")] = 10.0  # trust the tracer's own continuation only
    spec["layers"] = [{"weight": w.tolist(), "bias": [-5.0]}]
    out = R.relink(tracks, img, R.LinkScorer(spec))
    assert len(out) == 2
    for tr in out:
        src = min(tracks, key=lambda t: abs(t.positions[0] - tr.positions[0]))
        assert np.array_equal(tr.frames, src.frames) and np.allclose(tr.positions, src.positions)
        assert not tr.gap.any()


def test_a_link_that_skips_a_piece_gives_valid_tracks():
    t = np.arange(60)
    main_track = Track(1, t, np.full(60, 20.0), confidence=0.9)
    # two short touches (3 frames each) cut the track into pieces 0-19, 23-39, 43-59
    touch = np.full(60, 40.0)
    touch[20:23] = 20.5
    touch[40:43] = 20.5
    other = Track(2, t, touch, confidence=0.5)
    img = np.zeros((60, 60), np.float32)
    segs, table = R.cut_segments([main_track, other], 60, near=2.0, long_merge=4)
    mine = sorted((s.start, s.end, k) for k, s in enumerate(segs) if s.source == 0)
    assert [(a, b) for a, b, _ in mine] == [(0, 19), (23, 39), (43, 59)]
    links = {mine[0][2]: mine[2][2]}  # first piece -> third, skipping the second
    out = R.join_segments(segs, links, table, tracks=[main_track, other])
    for tr in out:
        assert np.array_equal(tr.frames, np.arange(tr.start, tr.end + 1)) and np.isfinite(tr.positions).all()
        assert tr.confidence is not None
    skip = [tr for tr in out if tr.start == 0 and tr.end == 59 and abs(tr.positions[0] - 20) < 1]
    assert len(skip) == 1 and np.allclose(skip[0].positions, 20.0, atol=0.6)
    # the skipped piece stays a track of its own, and its frames are not borrowed by the link
    assert any(tr.start == 23 and tr.end == 39 for tr in out)
    assert skip[0].gap[23:40].all() and not skip[0].gap[:20].any()


def test_relinked_tracks_keep_a_confidence():
    tracks, img, _ = _x_crossing_swapped()
    tracks = [Track(tr.track_id, tr.frames, tr.positions, confidence=c) for tr, c in zip(tracks, (0.8, 0.6))]
    out = R.relink(tracks, img, R.LinkScorer(_spec()))
    assert [round(tr.confidence, 6) for tr in out] and all(0.6 <= tr.confidence <= 0.8 for tr in out)


def test_the_shipped_unidirectional_linker_untangles_an_overtaking():
    # a fast particle (1.5 px/frame) overtakes a slow one (0.5 px/frame) at frame 40, x = 70; the
    # tracer swapped them there. Each direction is re-linked on its own, so the particle running
    # the other way is left alone.
    t = np.arange(80)
    fast, slow, back = 10.0 + 1.5 * t, 50.0 + 0.5 * t, 150.0 - 1.0 * t
    w = 170
    img = np.zeros((80, w), np.float32)
    for x in (fast, slow, back):
        img += np.exp(-0.5 * ((np.arange(w)[None, :] - x[:, None]) / 1.2) ** 2)
    first = t < 40
    swapped = [Track(1, t, np.where(first, fast, slow)), Track(2, t, np.where(first, slow, fast)), Track(3, t, back)]
    lk = R.load_linker("linker_uni")
    assert lk.name == "linker_uni" and lk.card["train_command"].startswith("OMP_NUM_THREADS=2 python tools/train_linker.py --kind uni")
    pos, neg, other = R.split_by_direction(swapped)
    assert [len(pos), len(neg), len(other)] == [2, 1, 0]
    out = R.relink_by_direction(swapped, img, lk, min_frames=3)
    assert len(out) == 3
    for truth in (fast, slow, back):
        best = max(out, key=lambda tr: np.sum(np.abs(tr.positions - truth[tr.frames]) < 1.5))
        assert best.start <= 2 and best.end >= 77  # one track follows each particle through
        assert np.mean(np.abs(best.positions - truth[best.frames]) < 1.5) > 0.9


def test_pieces_left_unlinked_never_share_frames_or_end_on_coasted_frames():
    # the swapped X crossing with every link refused, and a track that coasted through a gap
    # right at its encounter: each traced frame goes to one output track at most
    tracks, img, (a, b) = _x_crossing_swapped()
    g = np.zeros(60, bool)
    g[31:34] = True  # the first track coasted through frames 31-33, just after the crossing
    tracks[0] = Track(1, tracks[0].frames, tracks[0].positions, gap=g)
    out = R.relink(tracks, img, R.LinkScorer(_spec()), p_min=0.999)
    seen = set()
    for tr in out:
        assert not tr.gap[0] and not tr.gap[-1]
        for f, x in zip(tr.frames, tr.positions):
            if abs(a[f] - b[f]) < 0.01:
                continue  # frame 30: both particles are at x = 40
            key = (int(f), round(float(x), 3))
            assert key not in seen  # no frame handed to two tracks
            seen.add(key)
    assert sum(len(t) for t in out) <= 120


def test_analyze_relinks_unidirectional_tracks_each_way():
    from kymotrace.pipeline import analyze
    from kymotrace.synth import generate

    ky = generate("uni", rng=np.random.default_rng(95_000_830), frames=120, width=160, speed_spread=0.5)
    on = analyze(ky.image, mode="uni")
    assert on.settings["relink"]["name"] == "linker_uni" and on.settings["relink"]["by_direction"] is True
    assert on.settings["relink"]["p_min"] == R.load_linker("linker_uni").p_min
    off = analyze(ky.image, mode="uni", relink=False)
    assert off.settings["relink"] is None
    for res in (on, off):
        assert all(not t.gap[0] and not t.gap[-1] and len(t) >= 3 for t in res.tracks)
