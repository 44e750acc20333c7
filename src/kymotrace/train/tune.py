"""Tune a shipped segmenter's default threshold for track F1 of the whole pipeline.

The export's threshold maximises the thinned-map F-score; tracking prefers a different value
(a lower threshold keeps crossings and gaps connected). This sweeps thresholds through the full
``analyze`` pipeline on paper-style and varied kymographs from validation seeds (never bench
seeds), and writes the threshold with the best mean track F1 into the model file, recording the
sweep in its card.
"""

from __future__ import annotations

import numpy as np

from .. import seeds

__all__ = ["tune_threshold", "map_metrics", "save_with_threshold"]


def map_metrics(lm, threshold: float) -> dict:
    """Thinned-map precision/recall within 2 px at ``threshold`` on the export's validation set."""
    from ..segment import predict
    from .data import validation_items
    from .evaluate import pooled_pr

    kinds = [lm.module] if lm.module == "uni" else ["bi", "uni"]
    out = {}
    for style, off in (("paper", 200_000), ("varied", 300_000)):
        items = validation_items(kinds, 8, seeds.VALIDATION.start + off, style)
        probs = [predict(lm, it.image) for it in items]
        out[style] = pooled_pr(probs, items, lm.module, threshold)
    return out

TUNE_SEEDS = seeds.VALIDATION.start + 800_000


def tune_threshold(name: str, thresholds=(0.3, 0.4, 0.5, 0.6, 0.7), n: int = 4, write: bool = True) -> dict:
    from ..metrics import score
    from ..models import load_model
    from ..pipeline import analyze
    from ..synth import generate, sample_knobs

    lm = load_model(name)
    kind = lm.module
    items = []
    for i in range(n):
        items.append(generate(kind, rng=np.random.default_rng(TUNE_SEEDS + i)))
        rng = np.random.default_rng(TUNE_SEEDS + 1000 + i)
        kn = sample_knobs(kind, rng)
        kn["frames"], kn["width"] = 256, 256
        items.append(generate(kind, rng=rng, **kn))
    sweep = {}
    for thr in thresholds:
        f1 = [score(k.tracks, analyze(k.image, mode=kind, threshold=thr, model={kind: str(lm.path)}).tracks, k.image.shape).f1 for k in items]
        sweep[str(thr)] = round(float(np.mean(f1)), 4)
    best = float(max(sweep, key=sweep.get))
    card = dict(lm.card)
    card["validation_at_default_threshold"] = map_metrics(lm, best)
    card["threshold_tuning"] = {
        "criterion": "mean track F1 of the full pipeline on validation kymographs",
        "seeds": f"{TUNE_SEEDS}.. ({n} paper-style + {n} varied)",
        "sweep": sweep,
        "chosen": best,
        "map_threshold_from_export": lm.threshold,
    }
    if write:
        save_with_threshold(lm, best, card)
    return card["threshold_tuning"]


def save_with_threshold(lm, threshold: float, card: dict) -> dict:
    """Write loaded model ``lm`` back to its file with default ``threshold`` and ``card``, the card's
    ``check`` recomputed from the written (float16) file, as the test suite recomputes it. Returns
    the check."""
    from ..models import load_model, save_model
    from .check import check_metric

    lm.threshold = threshold
    kw = dict(name=lm.name, module=lm.module, config=lm.config, normalization=lm.normalization, threshold=threshold)
    save_model(lm.path, lm.net, card=card, **kw)
    card["check"] = check_metric(load_model(lm.path))
    save_model(lm.path, lm.net, card=card, **kw)
    return card["check"]
