"""Recompute the card check of shipped models (needed for 'decision' after the bi segmenter,
which makes its candidate skeletons, is replaced). Usage: python tools/refresh_check.py NAME..."""

import sys

from kymotrace.models import load_model, save_model
from kymotrace.train.check import check_metric

for name in sys.argv[1:]:
    lm = load_model(name)
    card = dict(lm.card)
    old = card.get("check")
    card["check"] = check_metric(lm)
    card.setdefault("check_history", []).append({"old": old, "reason": "the bi segmenter that makes its skeletons changed"})
    save_model(lm.path, lm.net, name=lm.name, module=lm.module, config=lm.config,
               normalization=lm.normalization, threshold=lm.threshold, card=card)
    print(name, old, "->", card["check"])
