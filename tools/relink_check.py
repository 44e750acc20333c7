"""Bidirectional tracking with and without the segment linker (kymotrace.trace.relink), on
kymographs unlike the bench's: the training variety ('varied'), the variety with immobile spots
('varied+static'), and the independent simulator (tools/indep_check.py, written without
kymotrace.synth). Validation seeds; means of recall / precision / F1 / gaps / crossings.

Usage: OMP_NUM_THREADS=2 python tools/relink_check.py [N]
"""

import sys
from pathlib import Path

import numpy as np

from kymotrace.metrics import score
from kymotrace.pipeline import analyze
from kymotrace.seeds import VALIDATION, check_seed
from kymotrace.synth import generate
from kymotrace.synth.knobs import sample_knobs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from indep_check import simulate  # noqa: E402

COLS = ("recall", "precision", "f1", "gap", "crossing")


def kymographs(n):
    for style, off in (("varied", 2_700_000), ("varied+static", 2_710_000)):
        for i in range(n):
            rng = np.random.default_rng(check_seed(VALIDATION.start + off + i, "validation"))
            k = generate("bi", rng=rng, **sample_knobs("bi", rng, style))
            if len(k.tracks) >= 2:
                yield style, k.image, k.tracks
    for i in range(n):
        rng = np.random.default_rng(check_seed(VALIDATION.start + 2_720_000 + i, "validation"))
        img, tracks = simulate("bi", rng)
        yield "independent simulator", img, tracks


def main(n=20):
    rows = {}
    for name, img, gt in kymographs(n):
        for relink in (False, True):
            sc = score(gt, analyze(img, mode="bi", relink=relink).tracks, img.shape).as_dict()
            rows.setdefault((name, relink), []).append([np.nan if sc[c] is None else sc[c] for c in COLS])
    print("set | linker | " + " / ".join(COLS) + " (means)")
    for (name, relink), r in rows.items():
        m = np.nanmean(np.array(r, float), 0)
        print(f"{name} ({len(r)}) | {'on' if relink else 'off'} | " + " / ".join(f"{v:.3f}" for v in m))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
