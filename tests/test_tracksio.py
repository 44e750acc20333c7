"""kymotrace.tracksio: tracks.csv and run.json round trips and error messages."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import kymotrace
from kymotrace.errors import InputError
from kymotrace.io import Calibration
from kymotrace.track import Track
from kymotrace.tracksio import (
    read_run_json,
    read_tracks_csv,
    tracks_to_dataframe,
    write_run_json,
    write_tracks_csv,
)


def assert_same_tracks(a: list[Track], b: list[Track]) -> None:
    assert len(a) == len(b)
    for s, t in zip(a, b):
        assert s.track_id == t.track_id
        np.testing.assert_array_equal(s.frames, t.frames)
        np.testing.assert_array_equal(s.positions, t.positions)  # exact, not approximate
        np.testing.assert_array_equal(s.gap, t.gap)
        assert (s.size, s.brightness, s.confidence) == (t.size, t.brightness, t.confidence)


@pytest.fixture
def tracks(rng):
    return [
        Track(7, frames=[3, 4, 5, 6], positions=rng.uniform(0, 100, 4), gap=[False, True, True, False],
              confidence=0.8125),
        Track(2, frames=[0, 1, 2], positions=[10.0, 1 / 3, 2e-17], size=1.7, brightness=np.float64(5.25)),
        Track(3, frames=[9], positions=[np.pi]),
    ]


def test_round_trip_is_exact(tmp_path, tracks):
    f = tmp_path / "out" / "tracks.csv"
    write_tracks_csv(f, tracks)
    back = read_tracks_csv(f)
    assert_same_tracks(back, sorted(tracks, key=lambda t: t.track_id))
    assert [type(t.size) for t in back] == [float, type(None), type(None)]
    assert not list(f.parent.glob(".*part*"))  # no temporary file left


def test_file_layout_without_calibration(tmp_path):
    f = tmp_path / "tracks.csv"
    write_tracks_csv(f, [Track(5, [1, 2], [0.5, 1.25], gap=[False, True]), Track(1, [4], [2.0])])
    assert f.read_text().splitlines() == [
        "track_id,frame,position,gap",
        "1,4,2.0,0",
        "5,1,0.5,0",
        "5,2,1.25,1",
    ]


def test_file_layout_with_calibration_and_scalars(tmp_path):
    f = tmp_path / "tracks.csv"
    cal = Calibration(pixel_size=0.1, frame_interval=0.1, source="file")
    write_tracks_csv(f, [Track(1, [2, 3], [3.0, 4.5], confidence=0.5), Track(2, [0], [1.0])], calibration=cal)
    assert f.read_text().splitlines() == [
        "track_id,frame,position,gap,time_s,position_um,confidence",
        "1,2,3.0,0,0.2,0.3,0.5",
        "1,3,4.5,0,0.3,0.45,0.5",
        "2,0,1.0,0,0,0.1,",
    ]
    back = read_tracks_csv(f)
    assert back[0].confidence == 0.5 and back[1].confidence is None


def test_partial_calibration_writes_only_known_columns(tmp_path):
    f = tmp_path / "tracks.csv"
    write_tracks_csv(f, [Track(1, [2], [3.0])], calibration=Calibration(pixel_size=0.5, source="user"))
    assert f.read_text().splitlines()[0] == "track_id,frame,position,gap,position_um"
    write_tracks_csv(f, [Track(1, [2], [3.0])], calibration=Calibration())
    assert f.read_text().splitlines()[0] == "track_id,frame,position,gap"


def test_empty_track_list(tmp_path):
    f = tmp_path / "tracks.csv"
    write_tracks_csv(f, [], calibration=Calibration(pixel_size=0.2, frame_interval=1.0))
    assert f.read_text() == "track_id,frame,position,gap,time_s,position_um\n"
    assert read_tracks_csv(f) == []


def test_reader_accepts_minimal_and_foreign_files(tmp_path):
    f = tmp_path / "hand.csv"
    # Excel-style BOM, CRLF, spaces, an unknown column, a blank line, unsorted rows, "12.0" ints
    f.write_bytes("\ufefftrack_id, position ,frame,note\r\n2,5.5,11.0,x\r\n\r\n2,5,10,y\r\n1,7,0,\r\n"
                  .encode("utf-8"))
    back = read_tracks_csv(f)
    assert [t.track_id for t in back] == [2, 1]
    assert back[0].frames.tolist() == [10, 11] and back[0].positions.tolist() == [5.0, 5.5]
    assert back[0].gap.tolist() == [False, False]
    assert back[1].size is None and back[1].confidence is None


def test_reader_accepts_true_false_gap(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("track_id,frame,position,gap\n1,0,1.0,True\n1,1,2.0,false\n")
    assert read_tracks_csv(f)[0].gap.tolist() == [True, False]


@pytest.mark.parametrize("text, message", [
    ("track_id,frame,gap\n1,0,0\n",
     r"t\.csv: missing required column\(s\) position; found columns track_id, frame, gap; a tracks file needs "
     r"track_id, frame, position \(one row per track per frame\)"),
    ("id,t,x\n1,0,0\n", r"missing required column\(s\) track_id, frame, position"),
    ("track_id,frame,position\n1,0,1.0\n1,1,2.0\n1,3,4.0\n",
     r"t\.csv: track 1 jumps from frame 1 \(line 3\) to frame 3 \(line 4\); frames within a track must be "
     r"consecutive: add the missing frames \(gap=1 where the position is interpolated\) or split the track"),
    ("track_id,frame,position\n4,0,1.0\n4,0,2.0\n",
     r"t\.csv: track 4 has frame 0 twice \(lines 2 and 3\); each track needs exactly one row per frame"),
    ("track_id,frame,position\n1,zero,1.0\n", r"t\.csv, line 2: frame is 'zero', not a whole number"),
    ("track_id,frame,position\n1,0.5,1.0\n", r"t\.csv, line 2: frame is '0.5', not a whole number"),
    ("track_id,frame,position\n1,0,nan\n", r"t\.csv, line 2: position is 'nan', not a finite number"),
    ("track_id,frame,position\n1,0,\n", r"t\.csv, line 2: position is empty; every row needs a position"),
    ("track_id,frame,position,gap\n1,0,1.0,maybe\n", r"t\.csv, line 2: gap is 'maybe'; use 1 \(gap\) or 0"),
    ("track_id,frame,position,size\n1,0,1.0,big\n", r"t\.csv, line 2: size is 'big', not a finite number"),
    ("", r"t\.csv: the file is empty \(no header line\); a tracks file starts with the header "
         r"track_id,frame,position"),
])
def test_reader_errors(tmp_path, text, message):
    f = tmp_path / "t.csv"
    f.write_text(text)
    with pytest.raises(InputError, match=message):
        read_tracks_csv(f)


def test_reader_missing_and_binary_files(tmp_path):
    with pytest.raises(InputError, match=r"none\.csv: tracks file not found; check the path"):
        read_tracks_csv(tmp_path / "none.csv")
    f = tmp_path / "img.csv"
    f.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x81")
    with pytest.raises(InputError, match=r"img\.csv: not a text CSV file"):
        read_tracks_csv(f)


def test_writer_rejects_duplicate_ids_and_nan(tmp_path):
    with pytest.raises(ValueError, match=r"track ids must be unique .*repeated: \[1\]"):
        write_tracks_csv(tmp_path / "t.csv", [Track(1, [0], [1.0]), Track(1, [2], [1.0])])
    with pytest.raises(ValueError, match="track 1: positions must be finite"):
        write_tracks_csv(tmp_path / "t.csv", [Track(1, [0], [math.nan])])
    assert not list(tmp_path.iterdir())  # nothing written


def test_dataframe_matches_file(tmp_path, tracks):
    cal = Calibration(pixel_size=0.25, frame_interval=2.0, source="user")
    df = tracks_to_dataframe(tracks, calibration=cal)
    assert list(df.columns) == ["track_id", "frame", "position", "gap", "time_s", "position_um",
                                "size", "brightness", "confidence"]
    assert df["track_id"].tolist() == [2, 2, 2, 3, 7, 7, 7, 7]
    assert df["frame"].tolist() == [0, 1, 2, 9, 3, 4, 5, 6]
    assert df["gap"].dtype == bool and df["gap"].tolist()[-4:] == [False, True, True, False]
    np.testing.assert_array_equal(df["time_s"], df["frame"] * 2.0)
    np.testing.assert_array_equal(df["position_um"], df["position"] * 0.25)
    assert df["size"].iloc[0] == 1.7 and np.isnan(df["size"].iloc[3])
    f = tmp_path / "tracks.csv"
    write_tracks_csv(f, tracks, calibration=cal)
    import pandas as pd

    from_file = pd.read_csv(f)
    assert list(from_file.columns) == list(df.columns)
    np.testing.assert_array_equal(from_file["position"].to_numpy(), df["position"].to_numpy())
    empty = tracks_to_dataframe([])
    assert list(empty.columns) == ["track_id", "frame", "position", "gap"] and len(empty) == 0


def test_run_json_round_trip(tmp_path):
    f = tmp_path / "run.json"
    settings = {
        "threshold": np.float32(0.25), "shape": (32, 40), "model": tmp_path / "m.pt",
        "calibration": Calibration(pixel_size=0.1), "missing": float("nan"), "big": float("inf"),
        "nested": {"ids": np.arange(3), "flag": np.bool_(True)}, "format_version": 99,
    }
    write_run_json(f, settings)
    data = read_run_json(f)
    assert list(data)[:2] == ["kymotrace_version", "format_version"]
    assert data["kymotrace_version"] == kymotrace.__version__
    assert data["format_version"] == kymotrace.FORMAT_VERSION  # settings cannot override it
    assert data["threshold"] == 0.25 and data["shape"] == [32, 40]
    assert data["model"] == str(tmp_path / "m.pt")
    assert data["calibration"]["pixel_size"] == 0.1 and data["calibration"]["source"] == "user"
    assert data["missing"] is None and data["big"] == "inf"
    assert data["nested"] == {"ids": [0, 1, 2], "flag": True}
    json.loads(f.read_text())  # strict JSON


def test_run_json_errors(tmp_path):
    with pytest.raises(InputError, match=r"run\.json: run record not found"):
        read_run_json(tmp_path / "run.json")
    f = tmp_path / "run.json"
    f.write_text("{not json")
    with pytest.raises(InputError, match=r"run\.json: not valid JSON \(.*\); the run record is damaged"):
        read_run_json(f)
    f.write_text("[1, 2]")
    with pytest.raises(InputError, match=r"expected a JSON object with the run settings, found a list"):
        read_run_json(f)
    f.write_text(json.dumps({"format_version": kymotrace.FORMAT_VERSION + 1, "kymotrace_version": "9.0"}))
    with pytest.raises(InputError, match=r"written with output format version 2 \(by kymotrace 9\.0\), newer than "
                                         r"this kymotrace understands \(version 1\); upgrade kymotrace"):
        read_run_json(f)
    f.write_text(json.dumps({"format_version": "one"}))
    with pytest.raises(InputError, match=r"format_version is 'one'; expected a whole number"):
        read_run_json(f)
    with pytest.raises(TypeError, match="settings must be a dict"):
        write_run_json(f, [1, 2])


def test_run_json_without_version_is_read_with_a_warning(tmp_path, caplog):
    f = tmp_path / "run.json"
    f.write_text('{"threshold": 0.2}')
    assert read_run_json(f) == {"threshold": 0.2}
    assert "no format_version; assuming format version 1" in caplog.text
