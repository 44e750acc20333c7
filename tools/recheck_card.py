"""Re-measure a shipped model's card check (``kymotrace.train.check.check_metric``) and write it back,
keeping the old value in a note. For a model whose check depends on another shipped model: the
decision module's branch points come from the bidirectional segmenter's skeletons, so retraining
that segmenter moves the decision module's check (session 8: 0.739 -> 0.790).

Usage: python tools/recheck_card.py NAME "WHY"
"""

import sys

from kymotrace.models import load_model, save_model
from kymotrace.train.check import check_metric


def main(name: str, why: str) -> None:
    lm = load_model(name)
    card = dict(lm.card)
    old = card.get("check", {}).get("value")
    card["check"] = dict(check_metric(lm), note=f"{why} (before: {old:.3f})" if old is not None else why)
    save_model(lm.path, lm.net, name=lm.name, module=lm.module, config=lm.config, normalization=lm.normalization,
               threshold=lm.threshold, card=card)
    print(f"{lm.path}: check {card['check']}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
