"""The frozen suite and the bench runner (baseline method; small subsets to stay fast)."""

from __future__ import annotations

import json

import pytest

from kymotrace import seeds
from kymotrace.bench import format_table, load_suite, run_bench, suite_hash
from kymotrace.cli import main
from kymotrace.errors import OptionError


def test_suite_is_valid_and_seeds_are_disjoint():
    suite = load_suite()
    names = [s["name"] for s in suite["sets"]]
    assert len(names) == len(set(names))
    for required in ("uni", "bi", "uni_low_snr", "bi_dense", "realistic_uni", "realistic_bi"):
        assert required in names
    used = set()
    for s in suite["sets"]:
        assert s["n"] >= 10
        rng = range(s["seed"], s["seed"] + s["n"])
        assert all(x in seeds.BENCH for x in rng)
        assert not used & set(rng)
        used |= set(rng)
    for other in (seeds.TRAIN, seeds.VALIDATION, seeds.TEST):
        assert all(x not in other for x in used)
    assert any(s["knobs"].get("n_tracks", 0) >= 30 for s in suite["sets"] if s["kind"] == "bi")
    shapes = {(s["knobs"].get("frames", 300), s["knobs"].get("width", 300)) for s in suite["sets"]}
    assert any(f != w for f, w in shapes)
    assert len(suite_hash()) == 64


def test_run_bench_baseline_is_real_and_reproducible():
    a = run_bench("baseline", sets=["bi"], limit=1)
    b = run_bench("baseline", sets=["bi"], limit=1)
    assert len(a.rows) == 1
    row = a.rows[0]
    assert 0 < row["recall"] <= 1 and 0 < row["precision"] <= 1
    assert row["f1"] == pytest.approx((row["recall"] * row["precision"]) ** 0.5)
    assert row["f1"] == b.rows[0]["f1"]
    table = format_table(a)
    assert suite_hash()[:16] in table and "| bi | 1 |" in table


def test_unknown_set_and_method():
    with pytest.raises(OptionError, match="unknown bench set"):
        run_bench("baseline", sets=["nope"])
    with pytest.raises(OptionError, match="unknown method"):
        run_bench("magic", sets=["bi"], limit=1)


def test_bench_cli_writes_json(tmp_path, capsys):
    out = tmp_path / "b.json"
    assert main(["bench", "--sets", "uni", "--limit", "1", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["suite_sha256"] == suite_hash()
    assert data["medians"]["uni"]["n"] == 1
    assert "| uni | 1 |" in capsys.readouterr().out


def test_bench_cli_rejects_a_bad_threshold(capsys):
    from kymotrace.cli import main

    assert main(["bench", "--sets", "uni", "--limit", "1", "--threshold", "1.5"]) == 2
    err = capsys.readouterr().err
    assert "--threshold must be between 0 and 1 (exclusive), got 1.5" in err and "Traceback" not in err
