"""A small, fixed validation check recorded in every model card and re-run by the tests.

``check_metric(loaded_model)`` scores a shipped model on a few seeded validation kymographs
(never bench seeds). ``export`` stores the value in the card; the test suite recomputes it from
the shipped file and requires agreement within 0.05.
"""

from __future__ import annotations

import numpy as np

from .. import seeds

__all__ = ["check_metric", "CHECK_SEEDS"]

#: first validation seed of the check sets (disjoint from model selection and threshold tuning)
CHECK_SEEDS = seeds.VALIDATION.start + 700_000


def check_metric(lm, *, threads: int | None = None) -> dict:
    """The card's check metric for a :class:`kymotrace.models.LoadedModel`."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    module = lm.module
    net = lm.net
    if module in ("uni", "bi"):
        from ..segment import predict
        from .data import validation_items
        from .evaluate import pooled_pr

        kinds = ["uni"] if module == "uni" else ["bi", "uni"]
        items = validation_items(kinds, 2, CHECK_SEEDS, "paper") + validation_items(kinds, 2, CHECK_SEEDS + 10_000, "varied")
        probs = [predict(lm, it.image) for it in items]
        res = pooled_pr(probs, items, module, lm.threshold)
        return {"metric": "thinned-map F-score within 2 px at the model threshold", "value": res["f"], "n_kymographs": len(items)}
    if module == "classifier":
        from .data import classifier_batch

        x, y = classifier_batch(np.random.default_rng(CHECK_SEEDS + 20_000), 48)
        with torch.inference_mode():
            p = torch.softmax(net(torch.from_numpy(x)), 1)[:, 1].numpy()
        return {"metric": "accuracy", "value": float(((p > 0.5).astype(int) == y).mean()), "n": 48}
    from .decision import decision_sample_set, judge

    counts = {"correct": 0, "n": 0}
    for k in range(3):
        x, y, _ = decision_sample_set(np.random.default_rng(CHECK_SEEDS + 30_000 + k), augment=False)
        if not len(x):
            continue
        with torch.inference_mode():
            p = torch.sigmoid(net(torch.from_numpy(x)))[:, 0].numpy()
        for pi, yi in zip(p, y):
            counts["n"] += 1
            counts["correct"] += judge(pi, yi) == "correct"
    return {"metric": "share of correct continuations", "value": counts["correct"] / max(1, counts["n"]), "n": counts["n"]}
