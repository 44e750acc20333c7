"""The analyze CLI never deletes what it did not write, names outputs safely, checks options up
front, and keeps a batch going when a worker process dies (found by fuzzing in session 10)."""

from __future__ import annotations

import csv
import os
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pytest
import tifffile

from kymotrace.cli import main
from kymotrace.commands import analyze as an
from kymotrace.outputs import foreign_content, output_folder, safe_stem

pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def kymo():
    from kymotrace.synth import generate

    return generate("bi", rng=np.random.default_rng(95_000_020), width=48, frames=40).image


def _rows(out: Path) -> list[dict]:
    return list(csv.DictReader((out / "kymographs.csv").read_text().splitlines()))


def test_output_never_replaces_the_folder_holding_the_input(kymo, tiny_model_args, tmp_path, capsys):
    # the input lives in t/k/k.tif, so its output folder t/k would be the input's own folder
    (tmp_path / "k").mkdir()
    src = tmp_path / "k" / "k.tif"
    tifffile.imwrite(src, kymo)
    (tmp_path / "k" / "notes.txt").write_text("mine")
    code = main(["analyze", str(src), "--out", str(tmp_path), "--mode", "bi", "--workers", "1", *tiny_model_args])
    assert code == 1
    assert src.is_file() and (tmp_path / "k" / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "k" / "run.json").exists()
    row = _rows(tmp_path)[0]
    assert row["status"] == "failed" and "holds the input file" in row["error"] and "--out" in row["error"]
    assert "Traceback" not in capsys.readouterr().err
    # a user's folder with files of its own is never replaced either, input or not
    (tmp_path / "k2").mkdir()
    (tmp_path / "k2" / "notes.txt").write_text("mine")
    src2 = tmp_path / "k2.tif"
    tifffile.imwrite(src2, kymo)
    assert main(["analyze", str(src2), "--out", str(tmp_path), "--mode", "bi", "--workers", "1", *tiny_model_args]) == 1
    assert (tmp_path / "k2" / "notes.txt").read_text() == "mine"
    assert "will not replace" in _rows(tmp_path)[0]["error"]


def test_an_earlier_output_folder_is_replaced(kymo, tiny_model_args, tmp_path):
    src = tmp_path / "a.tif"
    tifffile.imwrite(src, kymo)
    out = tmp_path / "out"
    args = ["analyze", str(src), "--out", str(out), "--mode", "bi", "--workers", "1", *tiny_model_args]
    assert main(args) == 0
    before = (out / "a" / "run.json").stat().st_mtime_ns
    assert main(args) == 0  # its own earlier output: replaced
    assert (out / "a" / "run.json").stat().st_mtime_ns >= before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_foreign_content_rules(tmp_path):
    assert foreign_content(tmp_path / "missing") is None
    (tmp_path / "file").write_text("x")
    assert "not a folder" in foreign_content(tmp_path / "file")
    own = tmp_path / "own"
    own.mkdir()
    (own / "run.json").write_text('{"kymotrace_version": "0.1.0"}')
    (own / "tracks.csv").write_text("")
    assert foreign_content(own) is None
    (own / "extra.txt").write_text("")
    assert "extra.txt" in foreign_content(own)
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "run.json").write_text('{"something": "else"}')
    assert "not a kymotrace output folder" in foreign_content(fake)
    with pytest.raises(Exception, match="will not replace"):
        with output_folder(fake):
            pass
    assert (fake / "run.json").exists()


def test_dot_stems_stay_inside_out(kymo, tiny_model_args, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    tifffile.imwrite(d / "..tif", kymo)  # stem '.', which once named --out itself
    tifffile.imwrite(d / "other.tif", kymo)
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep")
    code = main(["analyze", str(d / "other.tif"), str(d / "..tif"), "--out", str(out), "--mode", "bi", "--workers", "1", *tiny_model_args])
    assert code == 0
    assert (out / "precious.txt").read_text() == "keep"
    assert (out / "other" / "run.json").is_file() and (out / "kymograph" / "run.json").is_file()
    assert {r["output"] for r in _rows(out)} == {"other", "kymograph"}


def test_stem_names():
    assert safe_stem(".") == safe_stem("..") == safe_stem(" _ ") == "kymograph"
    assert safe_stem(".hidden") == "hidden" and safe_stem("a b") == "a b"
    files = [Path("x/a.tif"), Path("y/a.png"), Path("a-2.tif"), Path("A.tif"), Path("kymographs.csv.tif")]
    stems = an._stems(files)
    assert len({s.casefold() for s in stems}) == len(files)  # distinct, even case-insensitively
    assert stems[0] == "a" and stems[2] == "a-2"  # a real stem keeps its name
    assert stems[4].casefold() != "kymographs.csv"


def test_colliding_stems_keep_every_output(kymo, tiny_model_args, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for name in ("a.tif", "a.png", "a-2.tif"):
        img = kymo if name.endswith(".tif") else np.clip(kymo / kymo.max() * 255, 0, 255).astype(np.uint8)
        (tifffile.imwrite(d / name, img) if name.endswith(".tif") else __import__("PIL.Image").Image.fromarray(img).save(d / name))
    out = tmp_path / "out"
    assert main(["analyze", str(d), "--out", str(out), "--mode", "bi", "--workers", "1", *tiny_model_args]) == 0
    rows = _rows(out)
    assert len({r["output"] for r in rows}) == 3
    for r in rows:
        assert r["status"] == "ok" and (out / r["output"] / "run.json").is_file()


def test_an_input_named_like_the_table(kymo, tiny_model_args, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    tifffile.imwrite(d / "kymographs.csv.tif", kymo)
    out = tmp_path / "out"
    assert main(["analyze", str(d), "--out", str(out), "--mode", "bi", "--workers", "1", *tiny_model_args]) == 0
    assert (out / "kymographs.csv").is_file() and _rows(out)[0]["status"] == "ok"


@pytest.mark.parametrize("extra, words", [
    (["--pixel-size", "inf"], "--pixel-size"),
    (["--frame-interval", "nan"], "--frame-interval"),
    (["--channel", "-1"], "--channel"),
    (["--model", "no_such_model"], "no_such_model"),
])
def test_bad_options_fail_before_any_work(kymo, tmp_path, capsys, extra, words):
    src = tmp_path / "k.tif"
    tifffile.imwrite(src, kymo)
    out = tmp_path / "out"
    assert main(["analyze", str(src), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not out.exists()  # nothing was started


def test_empty_out_and_table_folder_are_refused(kymo, tmp_path, capsys):
    src = tmp_path / "k.tif"
    tifffile.imwrite(src, kymo)
    assert main(["analyze", str(src), "--out", ""]) == 2
    out = tmp_path / "out"
    (out / "kymographs.csv").mkdir(parents=True)
    assert main(["analyze", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--out must name a folder" in err and "kymographs.csv" in err
    assert [p.name for p in out.iterdir()] == ["kymographs.csv"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_is_refused_not_read(kymo, tiny_model_args, tmp_path):
    fifo = tmp_path / "pipe.tif"
    os.mkfifo(fifo)
    out = tmp_path / "out"
    assert main(["analyze", str(fifo), "--out", str(out), "--mode", "bi", "--workers", "1", *tiny_model_args]) == 1
    row = _rows(out)[0]
    assert row["status"] == "failed" and "not a regular file" in row["error"]


class _FakePool:
    """Runs jobs in this process; the job for ``kill`` breaks the pool the first ``times`` times."""

    log: list = []

    def __init__(self, kill: str, times: int, workers: int) -> None:
        self.kill, self.times, self.workers = kill, times, workers

    def submit(self, fn, path, stem):
        f: Future = Future()
        if path == self.kill and _FakePool.breaks < self.times:
            _FakePool.breaks += 1
            f.set_exception(BrokenProcessPool("a worker died"))
        else:
            f.set_result({"file": path, "output": stem, "status": "ok", "error": ""})
        _FakePool.log.append((self.workers, path))
        return f

    def shutdown(self, wait=True, cancel_futures=False):
        pass


@pytest.mark.parametrize("times, status", [(1, "ok"), (5, "failed")])
def test_a_dying_worker_fails_only_its_file(monkeypatch, times, status):
    _FakePool.breaks = 0
    _FakePool.log = []
    monkeypatch.setattr(an, "_new_pool", lambda opts, workers, threads: _FakePool("f2", times, workers))

    class Bar:
        def update(self, n):
            pass

        def write(self, *a, **k):
            pass

    jobs = [(f"f{i}", f"s{i}") for i in range(6)]
    rows = an._run_pool(jobs, {}, 2, 1, Bar())
    assert [r["file"] for r in rows] == [j[0] for j in jobs]  # input order
    assert [r["status"] for r in rows] == ["ok", "ok", status, "ok", "ok", "ok"]
    if status == "failed":
        assert "worker process" in rows[2]["error"] and "f2" in rows[2]["error"]
        assert (1, "f2") in _FakePool.log  # retried alone before it was blamed


def test_despiking_near_float32_limits_warns_nothing():
    from kymotrace.segment import remove_spikes

    a = np.zeros((40, 40), np.float32)
    a[::2] = np.finfo(np.float32).max  # warnings are errors here: no overflow warning may escape
    out, n = remove_spikes(a)
    assert out.shape == a.shape and n == 0 and np.isfinite(out).all()


def test_analysing_a_kymograph_into_its_own_folder_keeps_it(kymo, tiny_model_args, tmp_path):
    # kymotrace kymograph wrote wf/movie/{movie.tif, movie.png, kymograph.json}; analysing
    # wf/movie/movie.tif with --out wf would replace that folder, input included
    folder = tmp_path / "wf" / "movie"
    folder.mkdir(parents=True)
    src = folder / "movie.tif"
    tifffile.imwrite(src, kymo)
    (folder / "kymograph.json").write_text('{"kymotrace_version": "0.1.0", "kymograph": "movie.tif"}')
    code = main(["analyze", str(src), "--out", str(tmp_path / "wf"), "--mode", "bi", "--workers", "1", *tiny_model_args])
    assert code == 1
    assert src.is_file() and (folder / "kymograph.json").is_file()
    row = _rows(tmp_path / "wf")[0]
    assert row["status"] == "failed" and "holds the input file" in row["error"]


def test_partial_folders_of_killed_workers_are_swept(tmp_path):
    from kymotrace.outputs import sweep_partials

    (tmp_path / ".a.x1y2.partial").mkdir()
    (tmp_path / ".a.x1y2.partial" / "tracks.csv").write_text("")
    (tmp_path / ".b.zz.partial").mkdir()
    (tmp_path / ".a.b.k3j2h1xx.partial").mkdir()  # stem 'a.b', not 'a'
    (tmp_path / "a").mkdir()
    assert sweep_partials(tmp_path, ["a"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".a.b.k3j2h1xx.partial", ".b.zz.partial", "a"]


def test_a_broken_model_file_fails_once_up_front(kymo, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from kymotrace.models.registry import weights_dir

    d = torch.load(weights_dir() / "uni.pt", weights_only=True)
    d["threshold"] = 5.0
    bad = tmp_path / "bad.pt"
    torch.save(d, bad)
    for i in range(3):
        tifffile.imwrite(tmp_path / f"k{i}.tif", kymo)
    out = tmp_path / "out"
    assert main(["analyze", *[str(tmp_path / f"k{i}.tif") for i in range(3)], "--out", str(out), "--model", f"uni={bad}"]) == 2
    err = capsys.readouterr().err
    assert err.count("bad.pt") == 1 and "threshold" in err and "Traceback" not in err
    assert not out.exists()


def test_each_failure_is_printed_once(kymo, tiny_model_args, tmp_path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    tifffile.imwrite(d / "good.tif", kymo)
    (d / "broken.tif").write_bytes(b"II*\x00 not a tiff")
    out = tmp_path / "out"
    code = main(["analyze", str(d), str(tmp_path / "missing.tif"), "--out", str(out), "--mode", "bi", "--workers", "1", *tiny_model_args])
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("broken.tif") == 1 and err.count("missing.tif") == 1
    assert "2 input(s) failed" in err and "kymographs.csv" in err
