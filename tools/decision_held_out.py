"""Decision module accuracy on branch points that model selection never saw.

Training keeps the checkpoint that scores best on 12 validation kymographs (seeds
VALIDATION.start + 500,000 on), so that score is optimistic. This scores a model on N other
validation kymographs (VALIDATION.start + 510,000 on).

Usage: OMP_NUM_THREADS=1 python tools/decision_held_out.py [MODEL_OR_CHECKPOINT ...] [--n N]
A checkpoint (training/decision/checkpoint.pt) is scored with its best validated state.
"""

import argparse

import torch

from kymotrace.models import build_model, load_model
from kymotrace.train.decision import validate_decision

ap = argparse.ArgumentParser()
ap.add_argument("models", nargs="*", default=["decision"])
ap.add_argument("--n", type=int, default=40)
args = ap.parse_args()
torch.set_num_threads(1)
for m in args.models:
    if m.endswith("checkpoint.pt"):
        ck = torch.load(m, map_location="cpu", weights_only=False)
        net = build_model(ck["model_config"])
        net.load_state_dict(ck["best_state"])
        label = f"{m} (best state, selection score {ck['best']['score']:.3f})"
    else:
        net = load_model(m).net
        label = m
    net.eval()
    r = validate_decision(net, "cpu", n_kymographs=args.n, offset=510_000)
    print(f"{label}: correct {r['correct']:.3f} wrong {r['wrong']:.3f} none {r['none']:.3f} ({r['n']} branch points, {args.n} kymographs)")
