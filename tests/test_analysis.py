"""kymotrace.analysis: derived quantities checked against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from kymotrace.analysis import (
    KYMOBUTLER_COLUMNS,
    MotionSegment,
    MotionSettings,
    direction_code,
    kymobutler_summary,
    kymograph_summary,
    motion_segments,
    track_summary,
)
from kymotrace.errors import InputError, OptionError
from kymotrace.io import Calibration
from kymotrace.track import Track

SHAPE = (20, 40)  # frames, positions


def moving():
    """+2 px/frame for 10 frames (frames 2..11, positions 5..23), away from every edge."""
    return Track(1, frames=range(2, 12), positions=[5.0 + 2 * i for i in range(10)], confidence=0.75)


def stationary():
    return Track(2, frames=range(3, 11), positions=[7.0] * 8)


def pause_then_move():
    """Sits 4 steps (frames 1..5), then +2 px/frame for 7 steps."""
    return Track(3, frames=range(1, 13), positions=[10.0] * 5 + [12.0 + 2 * i for i in range(7)])


def reversing():
    """+2 px/frame for 5 steps, then -2 px/frame for 7 steps."""
    x = [10, 12, 14, 16, 18, 20, 18, 16, 14, 12, 10, 8, 6]
    return Track(4, frames=range(1, 14), positions=np.array(x, dtype=float))


def row(df: pd.DataFrame, track_id: int) -> pd.Series:
    return df.set_index("track_id").loc[track_id]


# ------------------------------------------------------------------ per-track values by hand


def test_moving_track():
    r = row(track_summary([moving()], shape=SHAPE), 1)
    assert (r.start_frame, r.end_frame, r.n_frames, r.duration_frames) == (2, 11, 10, 9)
    assert r.net_displacement_px == 18.0 and r.path_length_px == 18.0
    assert r.mean_speed_px_per_frame == 2.0 and r.net_velocity_px_per_frame == 2.0
    assert r.direction == 1 and r.label == "anterograde" and not r.reversing
    # paper segments frames 0-4, 4-8, 8-9: displacements 8, 8, 2 -> no pause segment
    assert r.paper_pause_segments == 0
    assert r.motile and r.n_runs == 1 and r.run_time_frames == 9 and r.run_speed_px_per_frame == 2.0
    assert r.n_pauses == 0 and r.pause_time_frames == 0 and r.pause_frequency_per_frame == 0.0
    assert r.n_reversals == 0 and r.reversal_frequency_per_frame == 0.0
    assert r.confidence == 0.75 and bool(r.cut_off) is False  # bool(pd.NA) would raise
    assert r.gap_frames == 0
    assert motion_segments(moving()) == [MotionSegment(2, 11, 1)]


def test_stationary_track():
    r = row(track_summary([stationary()]), 2)
    assert r.direction == 0 and r.label == "stationary" and not r.reversing
    assert r.mean_speed_px_per_frame == 0.0 and r.path_length_px == 0.0 and r.net_velocity_px_per_frame == 0.0
    assert r.paper_pause_segments == 2  # frames 0-4 and 4-7, both with displacement 0
    assert not r.motile and r.n_runs == 0 and math.isnan(r.run_speed_px_per_frame)
    assert r.n_pauses == 1 and r.pause_time_frames == 7
    assert r.pause_frequency_per_frame == pytest.approx(1 / 7)
    assert math.isnan(r.confidence)


def test_pause_then_move():
    r = row(track_summary([pause_then_move()]), 3)
    assert motion_segments(pause_then_move()) == [MotionSegment(1, 5, 0), MotionSegment(5, 12, 1)]
    assert r.n_pauses == 1 and r.pause_time_frames == 4 and r.run_time_frames == 7
    assert r.run_speed_px_per_frame == 2.0  # pauses excluded
    assert r.mean_speed_px_per_frame == pytest.approx(14 / 11)  # pauses included
    assert r.pause_frequency_per_frame == pytest.approx(1 / 11)
    # segments: frames 0-4 (disp 0, code 0), 4-8 (+8, +1), 8-11 (+6, +1)
    assert r.paper_pause_segments == 1 and r.direction == 1
    assert r.n_reversals == 0


def test_reversing_track():
    df = track_summary([reversing()])
    r = row(df, 4)
    # segments: frames 0-4 all + (+1); 4-8 steps +2,-2,-2,-2 (0); 8-12 all - (-1): sum 0
    assert r.direction == 0 and r.reversing
    assert r.net_displacement_px == -4.0 and r.path_length_px == 24.0
    assert r.mean_speed_px_per_frame == 2.0 and r.net_velocity_px_per_frame == pytest.approx(-4 / 12)
    assert r.n_runs == 2 and r.n_reversals == 1 and r.reversal_frequency_per_frame == pytest.approx(1 / 12)
    assert r.n_pauses == 0 and r.run_speed_px_per_frame == 2.0
    assert motion_segments(reversing()) == [MotionSegment(1, 6, 1), MotionSegment(6, 13, -1)]
    # the uni rule uses the end-to-end sign instead
    assert row(track_summary([reversing()], settings=MotionSettings(kind="uni")), 4).direction == -1


def test_bidirectional_rule_from_the_paper():
    # three 5-frame segments: all +1, all +1, all -5 -> codes +1, +1, -1: sum +1 ...
    x = np.cumsum([0, 1, 1, 1, 1, 1, 1, 1, 1, -5, -5, -5, -5]).astype(float)
    assert direction_code(x, kind="bi") == 1
    # ... while the end-to-end displacement is 8 - 20 = -12
    assert direction_code(x, kind="uni") == -1
    t = Track(9, frames=range(13), positions=x)
    assert row(track_summary([t]), 9).direction == 1
    assert row(track_summary([t], settings=MotionSettings(kind="uni")), 9).direction == -1
    assert row(track_summary([t]), 9).reversing
    # a zero step makes a segment 0: codes 0, +1 -> +1; codes 0, -1, +1 -> 0
    assert direction_code([0, 1, 2, 2, 3, 4, 5, 6, 7], kind="bi") == 1
    assert direction_code([0, 1, 2, 2, 3, 2, 1, 0, -1, 0, 1, 2, 3], kind="bi") == 0
    # mixed signs in every segment -> 0 although the track ends far away
    assert direction_code([0, 5, 4, 9, 8, 13, 12, 17, 16], kind="bi") == 0
    assert direction_code([3.0], kind="bi") == 0 and direction_code([3.0, 3.0], kind="uni") == 0


def test_paper_pause_segments_tolerance():
    # frames 0-4: displacement 0.8 (pause); 4-8: 1.5 (not); 8-12: -1.0 (pause, inclusive)
    x = [0, 0.4, 0.0, 0.5, 0.8, 1.0, 1.5, 2.0, 2.3, 2.0, 1.5, 1.4, 1.3]
    t = Track(1, frames=range(13), positions=x)
    assert row(track_summary([t]), 1).paper_pause_segments == 2
    assert row(track_summary([t], settings=MotionSettings(stationary_tolerance=0.5)), 1).paper_pause_segments == 0
    assert row(track_summary([t], settings=MotionSettings(stationary_tolerance=2.0)), 1).paper_pause_segments == 3


def test_short_runs_and_pauses_are_merged():
    # 6 steps of +2, a 2-step pause, 6 steps of +2 (no smoothing, to see the merging alone)
    x = np.concatenate([[0.0], np.cumsum([2, 2, 2, 2, 2, 2, 0, 0, 2, 2, 2, 2, 2, 2])])
    t = Track(1, frames=range(x.size), positions=x)
    segs = motion_segments(t, settings=MotionSettings(smoothing_frames=1, min_run_frames=3))
    assert segs == [MotionSegment(0, 14, 1)]  # the 2-step pause is shorter than 3 steps
    segs = motion_segments(t, settings=MotionSettings(smoothing_frames=1, min_run_frames=2))
    assert segs == [MotionSegment(0, 6, 1), MotionSegment(6, 8, 0), MotionSegment(8, 14, 1)]
    r = row(track_summary([t], settings=MotionSettings(smoothing_frames=1, min_run_frames=2)), 1)
    assert (r.n_pauses, r.n_reversals, r.n_runs, r.pause_time_frames) == (1, 0, 2, 2)


def test_jitter_is_not_a_run():
    # +-0.5 px jitter about a fixed position: the smoothed speed stays below 0.5 px/frame
    x = 20 + 0.5 * (-1.0) ** np.arange(30)
    r = row(track_summary([Track(1, frames=range(30), positions=x)]), 1)
    assert not r.motile and r.n_pauses == 1 and r.mean_speed_px_per_frame == 1.0


def test_segmentation_invariants(rng):
    settings = MotionSettings()
    for k in range(20):
        steps = np.repeat(rng.choice([-2.0, 0.0, 1.5], size=8), rng.integers(1, 6, size=8))
        x = np.concatenate([[50.0], 50 + np.cumsum(steps + rng.normal(0, 0.2, steps.size))])
        t = Track(k, frames=range(x.size), positions=x)
        segs = motion_segments(t, settings=settings)
        assert segs[0].start_frame == 0 and segs[-1].end_frame == x.size - 1
        assert all(a.end_frame == b.start_frame and a.state != b.state for a, b in zip(segs, segs[1:]))
        if len(segs) > 1:
            assert all(s.duration_frames >= settings.min_run_frames for s in segs)
        r = row(track_summary([t]), k)
        assert r.run_time_frames + r.pause_time_frames == r.duration_frames
        assert r.n_runs == sum(s.state != 0 for s in segs) and r.n_pauses == sum(s.state == 0 for s in segs)


def test_one_frame_track_and_gaps():
    t = Track(5, frames=[4], positions=[9.0])
    r = row(track_summary([t], shape=SHAPE), 5)
    assert r.n_frames == 1 and r.duration_frames == 0 and r.direction == 0 and r.path_length_px == 0.0
    assert math.isnan(r.mean_speed_px_per_frame) and math.isnan(r.net_velocity_px_per_frame)
    assert math.isnan(r.pause_frequency_per_frame) and r.n_pauses == 0 and not r.motile
    kb = kymobutler_summary([t])
    assert kb.iloc[0]["track duration [sec]"] == 1.0 and math.isnan(kb.iloc[0]["Av frame2frame velocity [um/sec]"])
    g = Track(6, frames=range(5), positions=[1, 2, 3, 4, 5], gap=[0, 1, 1, 0, 0])
    assert row(track_summary([g]), 6).gap_frames == 2


# ------------------------------------------------------------------ calibration and sign


def test_calibration_scaling():
    cal = Calibration(pixel_size=0.1, frame_interval=0.5)
    r = row(track_summary([moving(), pause_then_move()], calibration=cal), 1)
    assert r.duration_s == pytest.approx(4.5)
    assert r.path_length_um == pytest.approx(1.8) and r.net_displacement_um == pytest.approx(1.8)
    assert r.mean_speed_um_per_s == pytest.approx(0.4) and r.net_velocity_um_per_s == pytest.approx(0.4)
    assert r.run_speed_um_per_s == pytest.approx(0.4) and r.run_time_s == pytest.approx(4.5)
    assert r.mean_speed_px_per_frame == 2.0  # px/frame columns always present
    r3 = row(track_summary([pause_then_move()], calibration=cal), 3)
    assert r3.pause_time_s == pytest.approx(2.0) and r3.pause_frequency_per_s == pytest.approx(1 / 5.5)
    # default pause threshold 0.1 µm/s = 0.5 px/frame here; 1 µm/s = 5 px/frame stops everything
    assert MotionSettings().pause_speed_px_per_frame(cal) == pytest.approx(0.5)
    slow = track_summary([moving()], calibration=cal, settings=MotionSettings(pause_speed=1.0))
    assert not row(slow, 1).motile
    # uncalibrated, the same 1.0 is px/frame: the 2 px/frame track moves
    assert row(track_summary([moving()], settings=MotionSettings(pause_speed=1.0)), 1).motile


def test_calibrated_columns_only_when_known():
    plain = track_summary([moving()]).columns
    assert not any(c.endswith(("_um", "_s", "_um_per_s", "_per_s")) for c in plain)
    px_only = track_summary([moving()], calibration=Calibration(pixel_size=0.2)).columns
    assert "path_length_um" in px_only and "mean_speed_um_per_s" not in px_only and "duration_s" not in px_only
    both = track_summary([moving()], calibration=Calibration(pixel_size=0.2, frame_interval=2.0)).columns
    assert {"duration_s", "mean_speed_um_per_s", "pause_frequency_per_s"} <= set(both)
    assert list(both[:7]) == ["track_id", "start_frame", "end_frame", "n_frames", "gap_frames",
                              "duration_frames", "duration_s"]


def test_anterograde_left_flips_signs_and_labels():
    left = MotionSettings(anterograde="left")
    df = track_summary([moving(), reversing()], settings=left)
    r = row(df, 1)
    assert r.direction == -1 and r.label == "retrograde"
    assert r.net_displacement_px == -18.0 and r.net_velocity_px_per_frame == -2.0
    assert r.path_length_px == 18.0 and r.mean_speed_px_per_frame == 2.0  # unsigned: unchanged
    assert row(df, 4).net_displacement_px == 4.0 and row(df, 4).n_reversals == 1
    assert motion_segments(reversing(), settings=left) == [MotionSegment(1, 6, -1), MotionSegment(6, 13, 1)]
    assert row(track_summary([moving()], settings=MotionSettings(anterograde="left", kind="uni")), 1).label == (
        "retrograde")
    # KymoButler's columns keep "positive = toward increasing position"
    assert kymobutler_summary([moving()])["Direction"].tolist() == [1]


def test_cut_off_flag():
    tracks = [
        moving(),                                                  # interior
        Track(10, frames=range(0, 5), positions=[10.0] * 5),      # starts in the first frame
        Track(11, frames=range(15, 20), positions=[10.0] * 5),    # ends in the last frame
        Track(12, frames=range(5, 10), positions=[3, 2, 1, 1.5, 2]),  # within 1 px of column 0
        Track(13, frames=range(5, 10), positions=[30, 34, 38, 37.9, 36]),  # within 1 px of column 39
        Track(14, frames=range(5, 10), positions=[1.01, 2, 3, 4, 37.99]),  # just inside both
    ]
    df = track_summary(tracks, shape=SHAPE)
    assert df.set_index("track_id")["cut_off"].tolist() == [False, True, True, True, True, False]
    assert str(df["cut_off"].dtype) == "boolean"
    assert track_summary(tracks)["cut_off"].isna().all()
    assert kymograph_summary(tracks, shape=SHAPE)["n_cut_off"] == 4


def test_rows_sorted_by_track_id():
    df = track_summary([reversing(), moving(), stationary()])
    assert df["track_id"].tolist() == [1, 2, 4]
    kb = kymobutler_summary([reversing(), moving()], kind="uni")
    assert kb["Direction"].tolist() == [1, -1]


# ------------------------------------------------------------------ per kymograph


def test_flux_across_the_middle():
    shape = (11, 21)  # middle position 10
    tracks = [
        Track(1, frames=range(0, 6), positions=[5, 7, 9, 11, 13, 15]),         # crosses up once
        Track(2, frames=range(0, 7), positions=[8, 9, 11, 12, 11, 9, 8]),      # up, then down
        Track(3, frames=range(2, 7), positions=[8, 9, 10, 9, 8]),              # touches, no crossing
        Track(4, frames=range(0, 11), positions=[15.0] * 11),                  # stays right
        Track(5, frames=range(3, 6), positions=[12, 10, 10]),                  # ends on the line: none
    ]
    s = kymograph_summary(tracks, shape=shape, calibration=Calibration(pixel_size=0.5, frame_interval=2.0))
    assert s["middle_position_px"] == 10.0
    assert (s["crossings_anterograde"], s["crossings_retrograde"]) == (2, 1)
    assert s["flux_anterograde_per_frame"] == pytest.approx(0.2)  # 2 crossings in 10 frame intervals
    assert s["flux_retrograde_per_frame"] == pytest.approx(0.1)
    assert s["flux_anterograde_per_s"] == pytest.approx(0.1) and s["flux_retrograde_per_s"] == pytest.approx(0.05)
    # density: (6 + 7 + 5 + 11 + 3) track-frames / 11 frames / 21 px
    assert s["mean_tracks_per_frame"] == pytest.approx(32 / 11)
    assert s["density_per_px"] == pytest.approx(32 / 11 / 21)
    assert s["density_per_um"] == pytest.approx(32 / 11 / 10.5)
    left = kymograph_summary(tracks, shape=shape, settings=MotionSettings(anterograde="left"))
    assert (left["crossings_anterograde"], left["crossings_retrograde"]) == (1, 2)
    assert "flux_anterograde_per_s" not in left and "density_per_um" not in left


def test_kymograph_summary_reuses_a_given_track_table():
    tracks = [moving(), stationary(), pause_then_move(), reversing()]
    cal = Calibration(pixel_size=0.5, frame_interval=2.0)
    table = track_summary(tracks, calibration=cal, shape=SHAPE)
    fresh = kymograph_summary(tracks, shape=SHAPE, calibration=cal)
    reused = kymograph_summary(tracks, shape=SHAPE, calibration=cal, table=table)
    assert reused.keys() == fresh.keys()
    for key, value in fresh.items():
        assert reused[key] == pytest.approx(value, nan_ok=True), key
    with pytest.raises(ValueError, match="2 rows for 4 tracks"):
        kymograph_summary(tracks, shape=SHAPE, table=table.iloc[:2])


def test_kymograph_means_and_shares():
    tracks = [moving(), stationary(), pause_then_move(), reversing()]
    s = kymograph_summary(tracks, shape=SHAPE)
    assert s["n_tracks"] == 4 and (s["n_frames"], s["n_positions"]) == SHAPE
    assert (s["n_anterograde"], s["n_retrograde"], s["n_stationary"]) == (2, 0, 2)
    assert s["fraction_anterograde"] == 0.5 and s["fraction_stationary"] == 0.5
    assert s["n_reversing"] == 1 and s["reversing_fraction"] == 0.25
    assert s["n_motile"] == 3 and s["motile_fraction"] == 0.75
    # paper: average frame-to-frame velocity per kymograph = mean of the track means
    assert s["mean_speed_px_per_frame"] == pytest.approx((2 + 0 + 14 / 11 + 2) / 4)
    assert s["mean_path_length_px"] == pytest.approx((18 + 0 + 14 + 24) / 4)
    assert s["mean_duration_frames"] == pytest.approx((9 + 7 + 11 + 12) / 4)
    assert s["mean_run_speed_px_per_frame"] == pytest.approx(2.0)  # the stationary track has none
    assert s["mean_confidence"] == 0.75  # only track 1 has one
    assert s["pause_speed_px_per_frame"] == 0.5
    assert all(isinstance(v, (int, float)) for v in s.values())


def test_kymobutler_columns_and_values():
    cal = Calibration(pixel_size=0.1, frame_interval=0.5)
    kb = kymobutler_summary([moving(), reversing()], calibration=cal)
    assert tuple(kb.columns) == KYMOBUTLER_COLUMNS
    m, r = kb.iloc[0], kb.iloc[1]
    assert m["Direction"] == 1
    assert m["Av frame2frame velocity [um/sec]"] == pytest.approx(0.4)
    assert m["track duration [sec]"] == pytest.approx(5.0)  # 10 frames x 0.5 s (KymoButler counts frames)
    assert m["track total displacement [um]"] == pytest.approx(1.8)  # path length
    assert m["Start2end velocity [um/sec]"] == pytest.approx(0.36)  # path length / duration
    assert r["Direction"] == 0 and r["track total displacement [um]"] == pytest.approx(2.4)
    assert kymobutler_summary([reversing()], calibration=cal, kind="uni")["Direction"].tolist() == [-1]
    # uncalibrated: pixel size 1, frame interval 1
    plain = kymobutler_summary([moving()]).iloc[0]
    assert plain.tolist() == [1, 2.0, 10.0, 18.0, 1.8]


def test_empty_input():
    df = track_summary([], shape=SHAPE)
    assert len(df) == 0 and list(df.columns) == list(track_summary([moving()], shape=SHAPE).columns)
    assert df["direction"].dtype == np.int64 and df["mean_speed_px_per_frame"].dtype == np.float64
    cal = Calibration(pixel_size=0.1, frame_interval=0.5)
    assert list(track_summary([], calibration=cal).columns) == list(track_summary([moving()], calibration=cal).columns)
    kb = kymobutler_summary([])
    assert len(kb) == 0 and tuple(kb.columns) == KYMOBUTLER_COLUMNS
    s = kymograph_summary([], shape=SHAPE, calibration=cal)
    assert s["n_tracks"] == 0 and s["crossings_anterograde"] == 0 and s["density_per_px"] == 0.0
    assert math.isnan(s["mean_speed_px_per_frame"]) and math.isnan(s["motile_fraction"])
    assert s["flux_retrograde_per_s"] == 0.0


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(anterograde="up"), "anterograde"),
        (dict(kind="both"), "kind"),
        (dict(pause_speed=-1.0), "pause_speed"),
        (dict(min_run_frames=0), "min_run_frames"),
        (dict(stationary_tolerance=float("nan")), "stationary_tolerance"),
        (dict(smoothing_frames=4), "odd"),
        (dict(segment_frames=1), "segment_frames"),
    ],
)
def test_bad_settings(kwargs, match):
    with pytest.raises(OptionError, match=match):
        MotionSettings(**kwargs)


def test_bad_inputs():
    with pytest.raises(OptionError, match="shape"):
        kymograph_summary([moving()], shape=(20,))
    with pytest.raises(OptionError, match="kind"):
        kymobutler_summary([moving()], kind="x")
    with pytest.raises(InputError, match="Track"):
        track_summary([[1, 2, 3]])
    with pytest.raises(OptionError, match="pixel_size"):
        track_summary([moving()], calibration=Calibration(pixel_size=-1.0))
