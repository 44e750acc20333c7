"""Track counts and scores of the unidirectional segment linker at several link thresholds.

Session 11 wrote it to check the threshold ``tools/train_linker.py --kind uni`` picks: that rule
looks at F1, gaps and crossings, not at how many tracks come out, and a linker that cuts more
than it joins again inflates the count (a number biologists report). For each setting (no
re-linking, then each ``p_min``): mean track F1 / gaps / crossings, medians, and the summed
predicted track count against the ground truth's, on

- 'varied' and 'varied+static' unidirectional validation kymographs (VALIDATION.start + 3,400,000
  and 3,500,000; the training tool's variety sets, 20 each),
- our generator with speeds spread 50 % (fast particles overtake slow ones; VALIDATION.start +
  3,200,000, 15),
- the independent simulator (tools/indep_check.py), seeds from --indep-seed (30).

Usage: OMP_NUM_THREADS=2 python tools/uni_linker_pmin.py [--p-min 0.005,0.01,0.05] [--indep-seed 20000]
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from kymotrace.metrics import score
from kymotrace.pipeline import analyze
from kymotrace.seeds import VALIDATION
from kymotrace.synth import generate
from kymotrace.train.data import validation_items

sys.path.insert(0, str(Path(__file__).resolve().parent))
from indep_check import simulate  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--p-min", default="0.005,0.01,0.05")
    ap.add_argument("--indep-seed", type=int, default=20000)
    args = ap.parse_args()
    sets = {
        "varied_20": [(it.image, it.tracks) for it in validation_items(["uni"], 20, VALIDATION.start + 3_400_000, "varied")],
        "varied+static_20": [(it.image, it.tracks) for it in validation_items(["uni"], 20, VALIDATION.start + 3_500_000, "varied+static")],
        "speed_spread_0.5_15": [(k.image, k.tracks) for k in (
            generate("uni", rng=np.random.default_rng(VALIDATION.start + 3_200_000 + i), speed_spread=0.5) for i in range(15))],
        f"independent_simulator_30_from_{args.indep_seed}": [
            simulate("uni", np.random.default_rng(args.indep_seed + i), hot_rate=1e-4) for i in range(30)],
    }
    settings = [("off", None)] + [(p, float(p)) for p in args.p_min.split(",")]
    for name, items in sets.items():
        for label, pm in settings:
            rows, n_pred, n_gt = [], 0, 0
            for img, gt in items:
                s = score(gt, analyze(img, mode="uni", relink=pm is not None, relink_p_min=pm).tracks, img.shape)
                rows.append([s.f1, s.gap, s.crossing])
                n_pred += s.n_pred
                n_gt += s.n_gt
            a = np.array(rows, float)
            mean, med = np.round(np.nanmean(a, 0), 3), np.round(np.nanmedian(a, 0), 3)
            print(f"{name:34s} {label:6s} mean F1/gaps/crossings {mean.tolist()} medians {med.tolist()} "
                  f"tracks {n_pred} (ground truth {n_gt})", flush=True)


if __name__ == "__main__":
    main()
