"""Held-out accuracy of classifier models (threshold 0.5 on p(bi)), plain and with the pipeline's
mirror averaging, on validation seeds that no model selection used:

- varied_400: 200 + 200 kymographs of the full training variety (VALIDATION.start + 950,000 on),
- static_400: the same with immobile spots in 40 % of them (VALIDATION.start + 970,000 on),
- benchlike_180: 20 per bench-like set (uni, bi, both at SNR 1.1, realistic uni and bi, bi with
  40 tracks, 600x150 bi, 150x600 uni; VALIDATION.start + 700,000 + 1000 * set + i).

With the shipped classifier it also reports the mode ``analyze(mode="auto")`` chooses with its
mode check (kymotrace.modecheck: the classifier's call combined with the traced tracks' pauses,
reversals and steady runs), on the same kymographs, despiked as analyze despikes them.

Usage: python tools/classifier_held_out.py [MODEL_OR_PATH ...]   (default: the shipped classifier)
"""

import sys

import numpy as np

from kymotrace.bench import load_suite
from kymotrace.models.registry import load_model
from kymotrace.seeds import VALIDATION
from kymotrace.segment import classify
from kymotrace.synth import generate
from kymotrace.train.data import validation_items

BENCH_LIKE = ["uni", "bi", "uni_low_snr", "bi_low_snr", "realistic_uni", "realistic_bi", "bi_dense",
              "wide_bi_600x150", "tall_uni_150x600"]


def held_out_sets():
    sets = {s["name"]: s for s in load_suite()["sets"]}
    data = {
        "varied_400": [(it.image, it.kind == "bi") for it in
                       validation_items(["uni", "bi"], 200, VALIDATION.start + 950_000, "varied")],
        "static_400": [(it.image, it.kind == "bi") for it in
                       validation_items(["uni", "bi"], 200, VALIDATION.start + 970_000, "varied+static")],
    }
    items = []
    for j, name in enumerate(BENCH_LIKE):
        s = sets[name]
        for i in range(20):
            k = generate(s["kind"], rng=np.random.default_rng(VALIDATION.start + 700_000 + 1000 * j + i), **s["knobs"])
            items.append((k.image, s["kind"] == "bi"))
    data["benchlike_180"] = items
    return data


def main(names):
    data = held_out_sets()
    for name in names or ["classifier"]:
        model = load_model(name)
        cells = []
        for set_name, items in data.items():
            for flips in (False, True):
                acc = np.mean([(classify(model, img, flips=flips).bi >= 0.5) == y for img, y in items])
                cells.append(f"{set_name}{' flips' if flips else ''} {acc:.3f}")
        print(name, " | ".join(cells), flush=True)
    if not names or names == ["classifier"]:
        from kymotrace.io import as_kymograph
        from kymotrace.modecheck import check_features, load_modecheck
        from kymotrace.segment import remove_spikes

        models, checker = (load_model("classifier"), load_model("bi")), load_modecheck()
        cells = []
        for set_name, items in data.items():
            right = []
            for img, y in items:
                clean, _ = remove_spikes(as_kymograph(img).image)
                p, _, feats = check_features(clean, *models)
                right.append((checker.decide(p.bi, float(models[0].threshold), feats)["mode"] == "bi") == y)
            cells.append(f"{set_name} {np.mean(right):.3f}")
        print("analyze(mode='auto') with the mode check:", " | ".join(cells), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
