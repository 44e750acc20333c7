"""Tests of the shared core: Track, rasterisation, atomic files, CLI skeleton."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from kymotrace import Track
from kymotrace.cli import main
from kymotrace.fileutil import atomic_open
from kymotrace.raster import rasterize, track_pixels


def test_track_validates_consecutive_frames():
    with pytest.raises(ValueError, match="consecutive"):
        Track(1, [0, 2], [1.0, 2.0])
    with pytest.raises(ValueError, match="positions"):
        Track(1, [0, 1], [1.0])


def test_track_gaps_runs():
    tr = Track(1, np.arange(10), np.zeros(10), gap=[0, 1, 1, 0, 0, 1, 0, 0, 1, 1])
    assert tr.gaps() == [(1, 2), (5, 5), (8, 9)]
    assert tr.visible.sum() == 5


def test_rasterize_connects_fast_tracks():
    tr = Track(1, [0, 1, 2], [0.0, 3.0, 6.0])
    rr, cc = track_pixels(tr)
    img = rasterize([tr], (3, 8))
    # every frame-to-frame step is joined: 7 columns 0..6 are covered
    assert sorted(set(cc.tolist())) == list(range(7))
    assert img.sum() == rr.size


def test_rasterize_clips_to_shape():
    tr = Track(1, [0, 1, 2, 3], [-2.0, -1.0, 0.0, 1.0])
    img = rasterize([tr], (4, 4))
    assert img[2, 0] and img[3, 1]
    assert img.sum() == 2


def test_atomic_open_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "x.csv"
    with pytest.raises(RuntimeError):
        with atomic_open(target) as fh:
            fh.write("half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic_open(target) as fh:
        fh.write("whole")
    assert target.read_text() == "whole"
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv"]


def test_import_does_not_import_torch():
    code = "import sys, kymotrace, kymotrace.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_import_is_light_and_the_api_loads_on_first_use():
    # no numpy at import, so the console command starts at once and Ctrl-C during its start-up
    # meets kymotrace.cli's handler, not a traceback from deep inside numpy's import
    code = ("import sys, kymotrace, kymotrace.cli; print('numpy' in sys.modules); "
            "from kymotrace.pipeline import analyze, Result; from kymotrace.track import Track; "
            "print(kymotrace.analyze is analyze, kymotrace.Result is Result, kymotrace.Track is Track, "
            "'analyze' in dir(kymotrace), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True", "True", "True", "False"]
    import kymotrace

    with pytest.raises(AttributeError, match="no attribute 'analyse'"):
        kymotrace.analyse  # noqa: B018


def test_cli_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ("synth", "bench", "train"):
        assert name in out


def test_track_pixels_matches_bresenham_reference():
    from skimage.draw import line

    rng = np.random.default_rng(95_000_002)
    for _ in range(50):
        n = int(rng.integers(1, 30))
        tr = Track(1, np.arange(n) + int(rng.integers(-3, 5)), np.cumsum(rng.normal(0, 3, n)) + 10)
        x = np.rint(tr.positions).astype(int)
        ref = {(int(tr.frames[-1]), int(x[-1]))}
        for i in range(n - 1):
            r, c = line(int(tr.frames[i]), x[i], int(tr.frames[i + 1]), x[i + 1])
            ref |= set(zip(r.tolist(), c.tolist()))
        rr, cc = track_pixels(tr)
        assert set(zip(rr.tolist(), cc.tolist())) == ref
        assert len(rr) == len(ref)
