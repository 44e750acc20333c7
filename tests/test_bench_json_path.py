"""``kymotrace bench --json PATH`` checks PATH before running anything.

No benchmark runs here: ``run_bench`` is replaced by a recorder, so every test also shows that
the check comes first (no set was run, and the suite hash, printed before the first set, was not).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import kymotrace.bench
from kymotrace.cli import main
from kymotrace.commands.bench import check_json_path
from kymotrace.errors import OptionError


@pytest.fixture
def calls(monkeypatch):
    """Record calls of run_bench instead of running a benchmark."""
    seen = []

    def fake_run_bench(*args, **kwargs):
        seen.append((args, kwargs))
        raise AssertionError("the benchmark ran although --json is bad")

    monkeypatch.setattr(kymotrace.bench, "run_bench", fake_run_bench)
    return seen


def _bench(json_path: str, capsys) -> tuple[int, str]:
    rc = main(["bench", "--sets", "uni", "--limit", "1", "--json", json_path])
    captured = capsys.readouterr()
    assert captured.out == ""  # no result table: nothing was run
    return rc, captured.err


def _fails_before_running(rc: int, err: str, calls: list) -> None:
    assert rc == 2
    assert calls == []
    assert err.startswith("kymotrace bench: error: --json")
    assert "suite sha256" not in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_parent_that_is_a_file(tmp_path, calls, capsys):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    rc, err = _bench(str(afile / "x.json"), capsys)
    _fails_before_running(rc, err, calls)
    assert str(afile) in err and "is a file" in err
    assert afile.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # no temporary file left


def test_a_file_deeper_up_the_path(tmp_path, calls, capsys):
    afile = tmp_path / "afile"
    afile.write_text("")
    rc, err = _bench(str(afile / "sub" / "x.json"), capsys)
    _fails_before_running(rc, err, calls)
    assert f"{str(afile)!r} is a file" in err


def test_missing_parent_folder_is_not_created(tmp_path, calls, capsys):
    target = tmp_path / "nonexistent" / "dir" / "x.json"
    rc, err = _bench(str(target), capsys)
    _fails_before_running(rc, err, calls)
    assert str(target.parent) in err and "does not exist" in err and "mkdir -p" in err
    assert not (tmp_path / "nonexistent").exists()


def test_path_that_is_an_existing_folder(tmp_path, calls, capsys):
    folder = tmp_path / "results"
    folder.mkdir()
    rc, err = _bench(str(folder), capsys)
    _fails_before_running(rc, err, calls)
    assert "is an existing folder" in err and str(folder / "bench.json") in err
    assert list(folder.iterdir()) == []


def test_empty_path(calls, capsys):
    rc, err = _bench("", capsys)
    _fails_before_running(rc, err, calls)
    assert "needs a file name" in err


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write into read-only folders")
def test_read_only_folder(tmp_path, calls, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        rc, err = _bench(str(folder / "x.json"), capsys)
    finally:
        folder.chmod(0o700)
    _fails_before_running(rc, err, calls)
    assert "not writable" in err


def test_good_paths_pass_the_check(tmp_path):
    check_json_path(None)
    check_json_path(str(tmp_path / "new.json"))
    old = tmp_path / "old.json"
    old.write_text("{}")
    check_json_path(str(old))  # an existing file is replaced atomically, as before
    with pytest.raises(OptionError, match="does not exist"):
        check_json_path(str(tmp_path / "missing" / "new.json"))


def test_a_good_path_reaches_the_benchmark(tmp_path, calls, capsys):
    with pytest.raises(AssertionError, match="the benchmark ran"):
        main(["bench", "--sets", "uni", "--limit", "1", "--json", str(tmp_path / "b.json")])
    assert len(calls) == 1
    assert "suite sha256" in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()


def test_the_bench_command_does_not_import_torch():
    code = (
        "import sys; from kymotrace.commands import bench; bench.check_json_path('x.json'); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
