"""``kymotrace kymograph``: outputs, calibration, RoiSets, channels, --analyze, bad input."""

from __future__ import annotations

import csv
import json
import zipfile

import numpy as np
import pytest
import tifffile
from PIL import Image
from roifile import ROI_TYPE, ImagejRoi

from kymotrace.cli import main
from kymotrace.io import read_kymograph
from kymotrace.movie import make_kymograph

PATH = "2,20 30,12 60,25"


@pytest.fixture(scope="module")
def movie_file(tmp_path_factory):
    rng = np.random.default_rng(95_000_600)
    a = rng.integers(100, 4000, size=(40, 36, 64)).astype(np.uint16)
    d = tmp_path_factory.mktemp("mv")
    p = d / "cell 1.tif"
    tifffile.imwrite(p, a, imagej=True, resolution=(1 / 0.16, 1 / 0.16),
                     metadata={"axes": "TYX", "unit": "um", "finterval": 0.5})
    two = d / "two.tif"
    tifffile.imwrite(two, np.stack([a, a[:, ::-1]], axis=1), imagej=True, metadata={"axes": "TCYX"})
    return p, two, a


def test_path_writes_calibrated_kymograph_preview_and_record(movie_file, tmp_path, capsys):
    p, _, a = movie_file
    out = tmp_path / "out"
    assert main(["kymograph", str(p), "--path", PATH, "--width", "3", "--out", str(out)]) == 0
    folder = out / "cell 1"
    assert sorted(f.name for f in folder.iterdir()) == ["cell 1.png", "cell 1.tif", "kymograph.json"]
    k = read_kymograph(folder / "cell 1.tif", invert=False)
    ref = make_kymograph(p, PATH, width=3)
    np.testing.assert_array_equal(k.image, ref.image)
    assert k.calibration.pixel_size == pytest.approx(0.16) and k.calibration.frame_interval == pytest.approx(0.5)
    assert k.calibration.source == "file"
    rec = json.loads((folder / "kymograph.json").read_text())
    assert rec["width_px"] == 3 and rec["shape_frames_positions"] == list(ref.image.shape)
    assert rec["path_xy"][0] == [2.0, 20.0] and rec["calibration"]["pixel_size_um"] == pytest.approx(0.16)
    with Image.open(folder / "cell 1.png") as im:
        assert im.size == (ref.image.shape[1], ref.image.shape[0]) and im.mode == "L"
    assert "0.16 µm/px" in capsys.readouterr().out


def test_roiset_gives_one_kymograph_per_roi(movie_file, tmp_path):
    p, _, a = movie_file
    rs = tmp_path / "RoiSet.zip"
    with zipfile.ZipFile(rs, "w") as zf:
        for name, pts in (("axon A", [(2, 5), (50, 5)]), ("b", [(3, 10), (20, 30), (60, 20)]), ("c", [(5, 33), (40, 33)])):
            roi = ImagejRoi.frompoints(pts, name=name)
            roi.roitype = ROI_TYPE.POLYLINE
            zf.writestr(f"{name}.roi", roi.tobytes())
    out = tmp_path / "out"
    assert main(["kymograph", str(p), "--roi", str(rs), "--out", str(out)]) == 0
    names = sorted(d.name for d in out.iterdir())
    assert names == ["cell 1_axon_A", "cell 1_b", "cell 1_c"]
    k = read_kymograph(out / "cell 1_axon_A" / "cell 1_axon_A.tif", invert=False)
    np.testing.assert_array_equal(k.image, a[:, 5, 2:51])


def test_roiset_with_one_bad_roi_writes_the_others(movie_file, tmp_path, capsys):
    p, _, _ = movie_file
    rs = tmp_path / "RoiSet.zip"
    with zipfile.ZipFile(rs, "w") as zf:
        zf.writestr("ok.roi", ImagejRoi(roitype=ROI_TYPE.LINE, x1=1, y1=1, x2=30, y2=1, name="ok").tobytes())
        zf.writestr("far.roi", ImagejRoi(roitype=ROI_TYPE.LINE, x1=1, y1=1, x2=300, y2=1, name="far").tobytes())
    out = tmp_path / "out"
    assert main(["kymograph", str(p), "--roi", str(rs), "--out", str(out)]) == 1
    assert [d.name for d in out.iterdir()] == ["cell 1_ok"]
    err = capsys.readouterr().err
    assert "ROI 'far'" in err and "outside the image" in err and "Traceback" not in err


def test_all_channels(movie_file, tmp_path):
    _, two, a = movie_file
    out = tmp_path / "out"
    assert main(["kymograph", str(two), "--path", "0,3 20,3", "--channel", "all", "--out", str(out)]) == 0
    assert sorted(d.name for d in out.iterdir()) == ["two_c0", "two_c1"]
    c1 = read_kymograph(out / "two_c1" / "two_c1.tif", invert=False).image
    np.testing.assert_array_equal(c1, a[:, ::-1][:, 3, :21])


@pytest.mark.parametrize("args, message", [
    (["--path", "2,5 90,5"], "point 1 (x=90, y=5) lies outside the image of 64 x 36 px"),
    (["--path", "2,5"], "at least 2 points"),
    (["--path", "2,5 10,5", "--width", "0"], "--width must be at least 1"),
    (["--path", "2,5 10,x"], "not a pair of numbers"),
    (["--path", "2,5 10,5", "--channel", "3"], "channel=3 does not exist; this movie has 1 channel"),
    (["--path", "2,5 10,5", "--threshold", "0.5"], "apply with --analyze only"),
    (["--path", "2,5 10,5", "--analyze", "--threshold", "1.5"], "--threshold must be between 0 and 1 (exclusive), got 1.5"),
])
def test_bad_options_exit_2_without_output(movie_file, tmp_path, capsys, args, message):
    p, _, _ = movie_file
    out = tmp_path / "out"
    assert main(["kymograph", str(p), *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


def test_bad_inputs_exit_2(movie_file, tmp_path, capsys):
    p, two, a = movie_file
    flat = tmp_path / "flat.tif"
    tifffile.imwrite(flat, a[0])
    assert main(["kymograph", str(flat), "--path", "1,1 9,1", "--out", str(tmp_path / "o")]) == 2
    assert "single 2-D image" in capsys.readouterr().err
    assert main(["kymograph", str(two), "--path", "1,1 9,1", "--out", str(tmp_path / "o")]) == 2
    assert "--channel all" in capsys.readouterr().err
    bad = tmp_path / "bad.roi"
    bad.write_bytes(b"Iout" + b"\x00" * 10)
    assert main(["kymograph", str(p), "--roi", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "bad.roi" in capsys.readouterr().err


@pytest.mark.usefixtures("one_torch_thread")
def test_analyze_adds_outputs_in_the_same_folder(movie_file, tiny_model_args, tmp_path):
    p, _, _ = movie_file
    out = tmp_path / "out"
    assert main(["kymograph", str(p), "--path", PATH, "--out", str(out), "--analyze", "--mode", "bi", *tiny_model_args]) == 0
    folder = out / "cell 1"
    names = {f.name for f in folder.iterdir()}
    assert {"cell 1.tif", "cell 1.png", "kymograph.json", "tracks.csv", "summary.csv", "overlay.png", "run.json",
            "tracks_roi.zip"} <= names
    assert not any(n.startswith(".") for n in names)
    run = json.loads((folder / "run.json").read_text())
    assert run["input"].endswith("cell 1.tif")
    assert run["calibration"]["pixel_size_um"] == pytest.approx(0.16)
    assert run["calibration"]["frame_interval_s"] == pytest.approx(0.5)
    rows = list(csv.DictReader((out / "kymographs.csv").read_text().splitlines()))
    assert rows[0]["kymograph"] == "cell 1" and rows[0]["status"] == "ok" and rows[0]["mode"] == "bi"


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("kind", ["uni", "bi"])
def test_synthetic_movie_analysed_matches_ground_truth(kind, tmp_path):
    """Done criterion of the movie issue, on four test seeds: movie -> CLI kymograph --analyze ->
    tracks, scored against the ground truth, within 0.05 F1 of the directly rendered kymograph
    on average. (Per seed, bidirectional tracking alone varies by up to ~0.07 F1 between two
    renderings of the same tracks, in either direction: on seed 95,000,500 the movie-derived
    kymograph scores 0.79 and the rendered one 0.73.)"""
    pytest.importorskip("torch")
    from kymotrace.metrics import score
    from kymotrace.pipeline import analyze
    from kymotrace.synth import generate, generate_movie
    from kymotrace.tracksio import read_tracks_csv

    diffs = []
    for seed in range(95_000_500, 95_000_504):
        m = generate_movie(kind, rng=seed, length=200, frames=150)
        mp = tmp_path / f"synthetic{seed}.tif"
        tifffile.imwrite(mp, m.movie, imagej=True, metadata={"axes": "TYX"})
        path = " ".join(f"{float(x)!r},{float(y)!r}" for x, y in m.path)
        out = tmp_path / "out"
        assert main(["kymograph", str(mp), "--path", path, "--width", str(m.kymo_width), "--out", str(out),
                     "--analyze", "--mode", kind]) == 0
        tracks = read_tracks_csv(out / f"synthetic{seed}" / "tracks.csv")
        f1_movie = score(m.tracks, tracks, (150, 200)).f1
        g = generate(kind, rng=np.random.default_rng(seed), width=200, frames=150)
        f1_rendered = score(g.tracks, analyze(g.image, mode=kind).tracks, g.image.shape).f1
        assert f1_movie >= (0.85 if kind == "uni" else 0.7), seed
        diffs.append(f1_movie - f1_rendered)
    assert abs(float(np.mean(diffs))) <= 0.05, diffs
