"""Analyse the real/synthetic KymoButler examples in ../shared (not part of the project or its
tests) and print our track counts next to KymoButler's own; overlays go to OUT for inspection.
Where KymoButler's own tracks are stored (unitest, unitest2, bitest), the last column scores our
tracks (forced kind) against them with the paper's metric: KymoButler's output is not ground
truth, so this shows agreement, not accuracy.

Usage: python tools/check_real.py SHARED_DIR OUT
"""

import json
import sys
from pathlib import Path

import numpy as np

from kymotrace.metrics import score
from kymotrace.track import Track

from kymotrace.outputs import write_outputs
from kymotrace.pipeline import analyze

shared = Path(sys.argv[1]) / "kymobutler_examples"
out = Path(sys.argv[2])
ref = json.loads((shared / "reference_outputs/MaxJakobs_KymoButler/reference_track_counts.json").read_text())
cases = [
    ("unitest.png", "uni", {}),
    ("unitest2.png", "uni", {}),
    ("bitest.png", "bi", {"min_size": 10, "min_frames": 10}),
    ("testimg.tif", "uni", {}),
    ("notebook_embedded/elifeNB_EB1-GFP_Drosophila_axons_unidirectional_478x233_uint16.tif", "uni", {}),
    ("notebook_embedded/NB_synthetic_bidirectional_A_300x300_float32.tif", "bi", {"min_size": 10, "min_frames": 10}),
    ("notebook_embedded/NB_synthetic_bidirectional_B_300x300_float32.tif", "bi", {"min_size": 10, "min_frames": 10}),
]


def kymobutler_tracks(stem):
    """KymoButler's stored tracks (1-based time/space points) as Tracks, one position per frame."""
    f = shared / "reference_outputs/MaxJakobs_KymoButler" / f"{stem}_tracks.json"
    if not f.exists():
        return None
    d = json.loads(f.read_text())
    out = []
    for pts in d["tracks"] if "tracks" in d else d["ant"] + d["ret"]:
        t = np.array([p["time"] for p in pts], float) - 1
        x = np.array([p["space"] for p in pts], float) - 1
        rows = np.unique(t.astype(int))
        xm = np.array([x[t.astype(int) == r].mean() for r in rows])
        frames = np.arange(rows[0], rows[-1] + 1)
        out.append(Track(0, frames, np.interp(frames, rows, xm)))
    return out


print("| file | KymoButler | auto mode (confidence) | tracks (auto) | tracks (forced kind) | ant/ret (forced) | vs KymoButler's tracks: recall / precision / F1 |")
print("|---|---|---|---|---|---|---|")
for name, kind, kw in cases:
    p = shared / name
    stem = Path(name).stem
    auto = analyze(p, **kw)
    forced = analyze(p, mode=kind, **kw)
    write_outputs(forced, out, stem=stem + "_" + kind, source=str(p))
    write_outputs(auto, out, stem=stem + "_auto", source=str(p))
    st = Path(name).stem
    if st in ref:
        kb = str(ref[st])
    elif f"{st}_ant" in ref:
        kb = f"{ref[st + '_ant']} ant + {ref[st + '_ret']} ret"
    else:
        kb = ""
    ant = sum(1 for t in forced.tracks if t.positions[-1] > t.positions[0])
    kbt = kymobutler_tracks(st)
    agree = "n/a"
    if kbt is not None:
        s = score(kbt, forced.tracks, forced.kymograph.image.shape)
        agree = f"{s.recall:.2f} / {s.precision:.2f} / {s.f1:.2f}"
    print(f"| {name.split('/')[-1]} | {kb or 'n/a'} | {auto.mode} ({auto.mode_confidence:.2f}) | {len(auto.tracks)} | "
          f"{len(forced.tracks)} ({kind}) | {ant}/{len(forced.tracks) - ant} | {agree} |")
