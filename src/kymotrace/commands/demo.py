"""``kymotrace demo``: analyse the bundled example kymograph and score it against its ground truth.

The example (``kymotrace/data/example_kymograph.tif``) is a synthetic, microscope-like
bidirectional kymograph that kymotrace made itself (``tools/make_example.py``), with ImageJ
calibration (0.1 µm/px, 0.5 s/frame) and exact ground truth (``example_tracks.csv``).
"""

from __future__ import annotations

import argparse
from importlib import resources


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo-output", help="output folder (default ./demo-output)")


def example_path() -> str:
    """Path of the bundled example kymograph."""
    return str(resources.files("kymotrace.data").joinpath("example_kymograph.tif"))


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..metrics import score
    from ..outputs import write_outputs
    from ..pipeline import analyze
    from ..tracksio import read_tracks_csv

    path = example_path()
    res = analyze(path)
    write_outputs(res, args.out, stem="example_kymograph", source=path)
    truth = read_tracks_csv(str(resources.files("kymotrace.data").joinpath("example_tracks.csv")))
    sc = score(truth, res.tracks, res.kymograph.image.shape)
    mc = res.settings.get("mode_check") or {}
    who = "mode check (overruled the classifier)" if mc.get("overruled") else "classifier"
    conf = "" if res.mode_confidence is None else f" ({who} confidence {res.mode_confidence:.2f})"
    print(f"example: {res.kymograph.image.shape[1]} positions x {res.kymograph.image.shape[0]} frames, "
          f"mode {res.mode}{conf}, threshold {res.settings['threshold']:.2f}")
    print(f"traced {len(res.tracks)} tracks ({len(truth)} in the ground truth): track recall {sc.recall:.3f}, "
          f"precision {sc.precision:.3f}, F1 {sc.f1:.3f}, gaps bridged {sc.gap:.3f}, crossings resolved {sc.crossing:.3f}")
    print(f"outputs: {Path(args.out) / 'example_kymograph'}/ (tracks.csv, summary.csv, overlay.png, plots.png, tracks_roi.zip, run.json)")
    return 0
