"""Ctrl-C ends a run with one line, no traceback, and leaves only complete files."""

from __future__ import annotations

import signal
import subprocess
import sys
import time


def test_ctrl_c_during_synth_is_one_line_and_leaves_complete_files(tmp_path):
    out = tmp_path / "synth"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kymotrace", "synth", "--kind", "uni", "-n", "500", "--seed", "95000300", "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (out.exists() and any(out.glob("*.tif"))):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert "interrupted" in err
    assert len([ln for ln in err.splitlines() if "interrupted" in ln]) == 1
    names = [p.name for p in out.iterdir()]
    assert not [n for n in names if n.startswith(".") or ".part" in n]  # no temporary files left
    for tif in out.glob("*.tif"):  # every kymograph written has its ground truth
        assert (out / (tif.stem + "_tracks.csv")).exists()
