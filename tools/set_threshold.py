"""Write a chosen default threshold into a shipped segmenter, with the reason, in its model card.

`kymotrace.train.tune.tune_threshold` writes the threshold with the best mean pipeline F1 on its
validation kymographs. Where that sweep is flat and another check argues for a different value,
this records the choice: the card's ``threshold_tuning`` keeps the sweep's own pick as
``chosen_by_sweep`` and the reason as ``why_not_the_sweep_maximum``; the thinned-map metrics at
the new threshold and the card's check value are recomputed.

Usage: python tools/set_threshold.py NAME THRESHOLD "WHY" ["STAGE NOTE"]
(session 8: python tools/set_threshold.py bi 0.8 "..." "...", see tools/finetune_bi_stage3.sh)
"""

import sys

from kymotrace.models import load_model
from kymotrace.train.tune import map_metrics, save_with_threshold


def main(name: str, threshold: float, why: str, stage: str | None = None) -> None:
    lm = load_model(name)
    card = dict(lm.card)
    tt = dict(card.get("threshold_tuning", {}))
    if "chosen" in tt and "chosen_by_sweep" not in tt:
        tt["chosen_by_sweep"] = tt["chosen"]
    tt["chosen"] = threshold
    tt["why_not_the_sweep_maximum"] = why
    card["threshold_tuning"] = tt
    card["validation_at_default_threshold"] = map_metrics(lm, threshold)
    if stage:
        card["stage"] = stage
    check = save_with_threshold(lm, threshold, card)
    print(f"{lm.path}: threshold {threshold}; check {check}")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
