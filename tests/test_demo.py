"""The README's main command: the demo analyses the bundled example with the shipped models."""

from __future__ import annotations

import json

import pytest

from kymotrace.cli import main
from kymotrace.models import available_models

pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.skipif(not {"classifier", "bi"} <= set(available_models()), reason="shipped models missing")
def test_demo_writes_every_output_and_scores(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = tmp_path / "example_kymograph"
    for name in ("tracks.csv", "summary.csv", "kymobutler_summary.csv", "overlay.png", "plots.png", "tracks_roi.zip", "run.json"):
        assert (out / name).stat().st_size > 0
    run = json.loads((out / "run.json").read_text())
    assert run["calibration"]["pixel_size_um"] == pytest.approx(0.1)
    assert run["calibration"]["source"] == "file"
    printed = capsys.readouterr().out
    assert "track recall" in printed and "F1" in printed
    assert "position_um" in (out / "tracks.csv").read_text().splitlines()[0]
