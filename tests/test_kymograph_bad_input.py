"""``kymotrace kymograph`` on bad input: a clear error naming the file or option, never a traceback,
never half-written output (line widths, ROI widths, complex and truncated movies, tifffile's log
lines, output names, output folders that hold the inputs)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import tifffile
from roifile import ROI_TYPE, ImagejRoi

from kymotrace.cli import main
from kymotrace.errors import InputError, OptionError
from kymotrace.movie import MAX_WIDTH, Movie, make_kymograph, path_geometry, read_roi_paths
from kymotrace.outputs import safe_stem as safe_name

PATH = "5,16 40,16"


@pytest.fixture
def movie_file(tmp_path):
    """A 6-frame 32 x 48 px ImageJ movie in its own folder."""
    a = np.random.default_rng(95_000_700).random((6, 32, 48)).astype(np.float32)
    d = tmp_path / "in"
    d.mkdir()
    p = d / "movie.tif"
    tifffile.imwrite(p, a, imagej=True, metadata={"axes": "TYX"})
    return p


def _files(folder):
    """Every file and folder below ``folder`` (relative paths), hidden ones included."""
    if not folder.exists():
        return []
    return sorted(str(f.relative_to(folder)) for f in folder.rglob("*"))


def _error(capsys, *names):
    """The one-line CLI error; it names every string in ``names`` and holds no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(line) == 1, err
    for n in names:
        assert n in line[0]
    return line[0]


def _roi(pts, name, *, float_width=None, kind=ROI_TYPE.POLYLINE):
    roi = ImagejRoi.frompoints(np.asarray(pts, dtype=float), name=name)
    roi.roitype = kind
    if float_width is not None:
        roi.float_stroke_width = float_width
    return roi


# ----------------------------------------------------------------------------- 1. line width


@pytest.mark.parametrize("width", ["100000000000", "3000000000", str(MAX_WIDTH + 1)])
def test_absurd_width_is_an_option_error_before_anything_is_read(movie_file, tmp_path, capsys, width):
    out = tmp_path / "out"
    assert main(["kymograph", str(movie_file), "--path", PATH, "--width", width, "--out", str(out)]) == 2
    line = _error(capsys, "--width", width, f"at most {MAX_WIDTH} px")
    assert "memory" not in line.lower()
    assert _files(out) == []


def test_width_wider_than_the_movie_is_refused_and_the_larger_side_allowed(movie_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["kymograph", str(movie_file), "--path", PATH, "--width", "49", "--out", str(out)]) == 2
    _error(capsys, "--width 49", str(movie_file), "48 x 32 px", "at most 48 px")
    assert _files(out) == []
    assert main(["kymograph", str(movie_file), "--path", PATH, "--width", "48", "--out", str(out)]) == 0
    assert (out / "movie" / "movie.tif").is_file()


def test_api_width_is_capped_by_the_image_or_max_width():
    a = np.zeros((4, 10, 20), dtype=np.float32)
    with pytest.raises(OptionError, match=r"at most 20 px \(the larger side of the 20 x 10 px image\)"):
        make_kymograph(a, "1,5 15,5", width=21)
    with pytest.raises(OptionError, match=f"at most {MAX_WIDTH} px"):
        path_geometry("1,5 15,5", 10**11)
    assert path_geometry("1,5 15,5", 20, shape=(10, 20)).width == 20


# ----------------------------------------------------------------------------- 2. ROI line width


@pytest.mark.parametrize("width", [float("inf"), float("nan"), -5.0, 1e12])
def test_roi_with_unusable_line_width_is_an_input_error(movie_file, tmp_path, capsys, width):
    roi_file = tmp_path / "wide.roi"
    roi_file.write_bytes(_roi([(5, 16), (20, 14), (40, 16)], "axon", float_width=width).tobytes())
    with pytest.raises(InputError, match=r"ROI file .*wide\.roi: ROI 'axon' has a line width of"):
        read_roi_paths(roi_file)
    out = tmp_path / "out"
    assert main(["kymograph", str(movie_file), "--roi", str(roi_file), "--out", str(out)]) == 2
    _error(capsys, str(roi_file), "'axon'", "line width", "--width")
    assert _files(out) == []


def test_roi_line_width_wider_than_the_movie(movie_file, tmp_path, capsys):
    wide = _roi([(5, 16), (40, 16)], "wide", float_width=100.0)
    ok = _roi([(5, 10), (40, 10)], "ok", float_width=3.0)
    one = tmp_path / "wide.roi"
    one.write_bytes(wide.tobytes())
    out = tmp_path / "out"
    assert main(["kymograph", str(movie_file), "--roi", str(one), "--out", str(out)]) == 2
    _error(capsys, str(one), "'wide'", "100 px", "at most 48 px")
    assert _files(out) == []
    # in a RoiSet the other ROIs are still made; the wide one is reported as failed
    rs = tmp_path / "RoiSet.zip"
    with zipfile.ZipFile(rs, "w") as zf:
        zf.writestr("wide.roi", wide.tobytes())
        zf.writestr("ok.roi", ok.tobytes())
    assert main(["kymograph", str(movie_file), "--roi", str(rs), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "failed:" in err and "'wide'" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["movie_ok"]


# ----------------------------------------------------------------------------- 3. complex movies


def test_complex_movie_is_refused(tmp_path, capsys):
    p = tmp_path / "cplx.tif"
    tifffile.imwrite(p, (np.ones((5, 16, 16)) + 1j).astype(np.complex64))
    with pytest.raises(InputError, match=r"cplx\.tif: pixel data of type complex64 .* not a real-valued image"):
        Movie(p)
    out = tmp_path / "out"
    assert main(["kymograph", str(p), "--path", "1,1 10,1", "--out", str(out)]) == 2
    _error(capsys, str(p), "complex64")
    assert _files(out) == []


# ----------------------------------------------------------------------------- 4./5. truncated movies


def _plain_cut_after_first_page(tmp_path):
    """A plain multi-page TIFF cut right after the first page's pixel data (its IFD still points
    to a second page that is gone)."""
    src = tmp_path / "plain.tif"
    tifffile.imwrite(src, np.ones((5, 16, 16), dtype=np.float32), metadata=None)
    with tifffile.TiffFile(src) as tf:
        page = tf.pages.first
        end = int(page.dataoffsets[0] + page.databytecounts[0])
    cut = tmp_path / "plaincut.tif"
    cut.write_bytes(src.read_bytes()[:end])
    return cut


def test_truncated_movie_is_reported_as_truncated_not_as_a_2d_image(movie_file, tmp_path, caplog):
    small = tmp_path / "trunc.tif"
    small.write_bytes(movie_file.read_bytes()[:200])
    with caplog.at_level(logging.DEBUG):
        for bad in (small, _plain_cut_after_first_page(tmp_path)):
            with pytest.raises(InputError, match="truncated or corrupt") as info:
                Movie(bad)
            assert str(bad) in str(info.value) and "single 2-D image" not in str(info.value)
    # tifffile's own complaints never reach the handlers above debug level
    assert not [r for r in caplog.records if r.name == "tifffile"]
    assert any("tifffile:" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)


def test_a_real_2d_image_still_gets_the_2d_message(tmp_path):
    p = tmp_path / "one.tif"
    tifffile.imwrite(p, np.ones((16, 16), dtype=np.float32))
    with pytest.raises(InputError, match="single 2-D image"):
        Movie(p)


def test_tifffile_logging_is_silenced_only_during_our_reads(movie_file, tmp_path, caplog):
    cut = tmp_path / "half.tif"
    b = movie_file.read_bytes()
    cut.write_bytes(b[: len(b) // 2])
    with caplog.at_level(logging.WARNING):
        with pytest.raises(InputError, match="truncated"):
            Movie(cut)
        assert not [r for r in caplog.records if r.name == "tifffile"]
        assert not logging.getLogger("tifffile").filters
        logging.getLogger("tifffile").error("outside our reads")
    assert [r.getMessage() for r in caplog.records if r.name == "tifffile"] == ["outside our reads"]


def test_truncated_movie_stderr_is_one_error_line(movie_file, tmp_path):
    small = tmp_path / "trunc.tif"
    small.write_bytes(movie_file.read_bytes()[:200])
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-m", "kymotrace", "kymograph", str(small), "--path", "1,1 10,1",
                          "--out", str(out)], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("kymotrace kymograph: error:") and str(small) in lines[0]
    assert "truncated or corrupt" in lines[0]
    assert _files(out) == []


# ----------------------------------------------------------------------------- 6. output names


def test_safe_name():
    assert safe_name(".", "movie") == "movie"
    assert safe_name("..", "movie") == "movie"
    assert safe_name(" _.cell 1._ ", "movie") == "cell 1"
    assert safe_name("a.b", "movie") == "a.b"


@pytest.mark.parametrize("filename, stem", [("..tif", "movie"), ("...tif", "movie"), ("_ cell 2 _.tif", "cell 2")])
def test_movie_file_names_that_are_not_folder_names(movie_file, tmp_path, filename, stem):
    p = tmp_path / "in" / filename
    p.write_bytes(movie_file.read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["kymograph", str(p), "--path", PATH, "--out", str(out)]) == 0
    assert (out / "keep.txt").read_text() == "mine"
    assert sorted(f.name for f in out.iterdir()) == sorted(["keep.txt", stem])
    assert sorted(f.name for f in (out / stem).iterdir()) == sorted([f"{stem}.png", f"{stem}.tif", "kymograph.json"])
    assert (tmp_path / "in" / "movie.tif").is_file()  # the parent of the movie's folder was not touched


def test_roi_names_made_of_dots_get_a_default(tmp_path):
    rs = tmp_path / "RoiSet.zip"
    with zipfile.ZipFile(rs, "w") as zf:
        zf.writestr("a.roi", _roi([(1, 1), (9, 1)], "..").tobytes())
        zf.writestr("b.roi", _roi([(1, 2), (9, 2)], " _cell_ ").tobytes())
    assert [r.name for r in read_roi_paths(rs)] == ["roi1", "cell"]


# ----------------------------------------------------------------------------- 7. inputs in the output folder


def test_output_folder_holding_the_movie_is_not_replaced(movie_file, tmp_path, capsys):
    # the kymograph of in/movie/movie.tif with --out in would be in/movie/: the movie's own folder
    d = tmp_path / "t2" / "movie"
    d.mkdir(parents=True)
    mv = d / "movie.tif"
    mv.write_bytes(movie_file.read_bytes())
    before = mv.read_bytes()
    assert main(["kymograph", str(mv), "--path", PATH, "--out", str(tmp_path / "t2")]) == 2
    _error(capsys, str(mv), "--out")
    assert mv.read_bytes() == before
    assert _files(tmp_path / "t2") == ["movie", "movie/movie.tif"]


def test_output_folder_holding_the_roi_file_is_not_replaced(movie_file, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "movie_axon").mkdir(parents=True)
    roi_file = out / "movie_axon" / "axon.roi"
    roi_file.write_bytes(_roi([(5, 16), (40, 16)], "axon").tobytes())
    assert main(["kymograph", str(movie_file), "--roi", str(roi_file), "--out", str(out)]) == 2
    _error(capsys, str(roi_file), "--out")
    assert _files(out) == ["movie_axon", "movie_axon/axon.roi"]


def test_a_failed_run_leaves_no_empty_output_folder(tmp_path, capsys):
    import numpy as np
    import tifffile

    from kymotrace.cli import main

    movie = tmp_path / "m.tif"
    tifffile.imwrite(movie, np.zeros((5, 20, 30), np.uint16), imagej=True, metadata={"axes": "TYX"})
    out = tmp_path / "new_out"
    # too wide for this 30 x 20 px movie: found only once the movie is open, after --out was made
    assert main(["kymograph", str(movie), "--path", "2,2 20,10", "--width", "31", "--out", str(out)]) == 2
    assert "--width" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("extra, words", [
    (["--out", ""], ["--out must name a folder"]),
    (["--pixel-size", "inf"], ["--pixel-size", "finite"]),
    (["--frame-interval", "nan"], ["--frame-interval"]),
])
def test_bad_output_and_calibration_options_fail_up_front(movie_file, tmp_path, capsys, extra, words):
    from kymotrace.cli import main

    args = ["kymograph", str(movie_file), "--path", PATH, *extra]
    if "--out" not in extra:
        args += ["--out", str(tmp_path / "o")]
    assert main(args) == 2
    _error(capsys, *words)
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_or_folder_as_movie_is_refused_not_read(tmp_path, capsys):
    from kymotrace.cli import main

    fifo = tmp_path / "pipe.tif"
    os.mkfifo(fifo)
    assert main(["kymograph", str(fifo), "--path", PATH, "--out", str(tmp_path / "o")]) == 2
    _error(capsys, "pipe.tif", "not a regular file")
    assert main(["kymograph", str(tmp_path), "--path", PATH, "--out", str(tmp_path / "o")]) == 2
    _error(capsys, "is a folder")
