"""Average the network weights (and batch-norm statistics) of several training checkpoints into one
checkpoint whose validated state is that average, ready for ``kymotrace train MODULE --export``.

Used for the classifier of session 7 (tools/train_classifier_average.sh): the checkpoints saved
about every 5 minutes after the last learning-rate step were averaged, which is steadier than
picking one of them by a noisy validation score.

Usage: python tools/average_checkpoints.py OUT_RUN_DIR/MODULE/checkpoint.pt CHECKPOINT...
"""

import sys
from pathlib import Path

import torch


def main(out: str, paths: list[str]) -> None:
    cks = [torch.load(p, map_location="cpu", weights_only=False) for p in paths]
    last = cks[-1]
    avg = {}
    for key, value in last["model"].items():
        if value.dtype.is_floating_point:
            avg[key] = sum(c["model"][key].float() for c in cks) / len(cks)
        else:  # e.g. batch-norm's num_batches_tracked: the last one's
            avg[key] = value
    last = dict(last)
    last["model"] = avg
    last["best_state"] = {k: v.clone() for k, v in avg.items()}
    last["best"] = {"averaged_steps": [int(c["step"]) for c in cks], "score": float("nan")}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(last, out)
    print(f"averaged {len(cks)} checkpoints (steps {[int(c['step']) for c in cks]}) -> {out}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
