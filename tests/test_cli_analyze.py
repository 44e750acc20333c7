"""The analyze CLI end to end with tiny random models: batch behaviour, bad input, outputs."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import tifffile

from kymotrace.cli import main

pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

OUTPUTS = {"tracks.csv", "summary.csv", "kymobutler_summary.csv", "overlay.png", "plots.png", "tracks_roi.zip", "run.json"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    from kymotrace.synth import generate

    d = tmp_path_factory.mktemp("in")
    k = generate("bi", rng=np.random.default_rng(95_000_010), width=80, frames=64)
    tifffile.imwrite(d / "good.tif", k.image)
    (d / "broken.tif").write_bytes(b"II*\x00 this is not really a tiff")
    stack = np.zeros((3, 40, 40), np.uint16) + np.arange(40, dtype=np.uint16)
    tifffile.imwrite(d / "stack.tif", stack, photometric="minisblack")
    return d


def test_folder_with_bad_files_completes_and_fails(inputs, tiny_model_args, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["analyze", str(inputs), "--out", str(out), "--mode", "bi", "--workers", "1", *tiny_model_args])
    assert code == 1  # some inputs failed
    assert set(p.name for p in (out / "good").iterdir()) == OUTPUTS
    assert not (out / "broken").exists() and not (out / "stack").exists()
    rows = {r["output"]: r for r in csv.DictReader((out / "kymographs.csv").read_text().splitlines())}
    assert rows["good"]["status"] == "ok"
    assert rows["broken"]["status"] == "failed" and "broken.tif" in rows["broken"]["error"]
    assert rows["stack"]["status"] == "failed" and "stack.tif" in rows["stack"]["error"]
    err = capsys.readouterr().err
    assert "broken.tif" in err and "Traceback" not in err
    run = json.loads((out / "good" / "run.json").read_text())
    assert run["mode"] == "bi" and run["threshold"] == 0.3 and run["format_version"] == 1
    # no temporary folders left behind
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_calibration_and_anterograde(inputs, tiny_model_args, tmp_path):
    out = tmp_path / "out"
    code = main(["analyze", str(inputs / "good.tif"), "--out", str(out), "--mode", "bi", "--pixel-size", "0.1",
                 "--frame-interval", "0.5", "--anterograde", "left", *tiny_model_args])
    assert code == 0
    run = json.loads((out / "good" / "run.json").read_text())
    assert run["calibration"]["pixel_size_um"] == 0.1 and run["calibration"]["frame_interval_s"] == 0.5
    header = (out / "good" / "tracks.csv").read_text().splitlines()[0]
    assert "time_s" in header and "position_um" in header


def test_input_steps_switched_off(inputs, tiny_model_args, tmp_path):
    """--keep-static / --keep-spikes / --no-hysteresis reach analyze() and are recorded in run.json."""
    runs = {}
    for name, extra in (("default", []), ("kept", ["--keep-static", "--keep-spikes", "--no-hysteresis"])):
        out = tmp_path / name
        assert main(["analyze", str(inputs / "good.tif"), "--out", str(out), "--mode", "uni", *extra, *tiny_model_args]) == 0
        runs[name] = json.loads((out / "good" / "run.json").read_text())
    assert runs["default"]["static_background"].startswith("removed")
    assert isinstance(runs["default"]["spikes_removed"], int)
    assert runs["kept"]["static_background"] == "kept" and runs["kept"]["spikes_removed"] is None
    hy = runs["default"]["hysteresis"]
    assert hy["min_share"] == 0.5 and 0 < hy["trace_threshold"] < runs["default"]["threshold"]
    assert runs["kept"]["hysteresis"] is None


@pytest.mark.parametrize(
    "extra, msg",
    [
        (["--threshold", "1.5"], "--threshold must be between 0 and 1"),
        (["--min-frames", "0"], "--min-frames must be at least 1"),
        (["--pixel-size", "-1"], "--pixel-size must be positive"),
        (["--model", "bi"], None),
    ],
)
def test_bad_options_one_line(inputs, tmp_path, capsys, extra, msg):
    if msg is None:
        extra = ["--model", "nonsense=whatever", "--model", "bi=x"]
        msg = "with several models use MODULE=PATH"
    code = main(["analyze", str(inputs / "good.tif"), "--out", str(tmp_path / "o"), *extra])
    assert code == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err


def test_unwritable_output_folder(inputs, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(["analyze", str(inputs / "good.tif"), "--out", str(blocker / "sub")])
    assert code == 2
    assert "cannot write to output folder" in capsys.readouterr().err


def test_missing_input_reported(tmp_path, tiny_model_args, capsys):
    code = main(["analyze", str(tmp_path / "nope.tif"), "--out", str(tmp_path / "o"), "--mode", "bi", *tiny_model_args])
    assert code == 1
    assert "no such file or folder" in capsys.readouterr().err


def test_bad_images_fail_alone_with_clear_errors(tiny_model_args, inputs, tmp_path, capsys):
    d = tmp_path / "bad"
    d.mkdir()
    nan = np.ones((40, 40), np.float32)
    nan[3, 4] = np.nan
    tifffile.imwrite(d / "nan.tif", nan)
    tifffile.imwrite(d / "constant.tif", np.full((40, 40), 7, np.uint16))
    tifffile.imwrite(d / "tiny.tif", np.random.default_rng(0).random((5, 5)).astype(np.float32))
    (d / "empty.png").write_bytes(b"")
    out = tmp_path / "out"
    code = main(["analyze", str(d), str(inputs / "good.tif"), "--out", str(out), "--mode", "bi", *tiny_model_args])
    assert code == 1
    rows = {r["output"] or r["file"]: r for r in csv.DictReader((out / "kymographs.csv").read_text().splitlines())}
    assert rows["good"]["status"] == "ok"
    assert "NaN" in rows["nan"]["error"] and "nan.tif" in rows["nan"]["error"]
    assert "constant" in rows["constant"]["error"]
    assert "tiny.tif" in rows["tiny"]["error"] and "5" in rows["tiny"]["error"]
    assert "empty.png" in rows["empty"]["error"]
    for stem in ("nan", "constant", "tiny", "empty"):
        assert not (out / stem).exists()
    assert "Traceback" not in capsys.readouterr().err


def test_no_tracks_gives_valid_empty_outputs(tiny_model_args, inputs, tmp_path):
    out = tmp_path / "out"
    code = main(["analyze", str(inputs / "good.tif"), "--out", str(out), "--mode", "bi", "--threshold", "0.999", *tiny_model_args])
    assert code == 0
    lines = (out / "good" / "tracks.csv").read_text().splitlines()
    assert lines[0].startswith("track_id,frame,position") and len(lines) == 1
    assert len((out / "good" / "summary.csv").read_text().splitlines()) == 1
    assert json.loads((out / "good" / "run.json").read_text())["n_tracks"] == 0
    assert (out / "good" / "overlay.png").stat().st_size > 0
