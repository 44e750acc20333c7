"""Train the mode check (kymotrace.modecheck): the classifier's call combined with what the
kymograph's bidirectionally traced tracks do, and write ``models/weights/modecheck.json``.

Data: kymographs drawn as ``tools/classifier_held_out.py`` draws them (256 x 256, 'varied' and
'varied+static' knobs, plus paper-style kymographs and processive bidirectional cargo: the
'varied+static' appearance with reversals at most every 100-1000 frames and pauses every
30-200, as in axonal transport; unidirectional kymographs of that block are plain
'varied+static'). For each, :func:`kymotrace.modecheck.check_features` computes what
``analyze(mode="auto")`` computes, on the image made bright-on-dark from the generator's record
and read by ``as_kymograph`` with automatic polarity, as analyze reads it, except that analyze
also asks the bidirectional segmenter when the histogram cannot tell. Training seeds: TRAIN.start + 43,000,000 + 100,000 * block
(+1000 for bidirectional) + i. Held out (never used to fit or choose): the 400 + 400 validation
kymographs of ``tools/classifier_held_out.py`` (VALIDATION.start + 950,000 and 970,000) and 200
processive ones (VALIDATION.start + 3,100,000).

Model: the 12 features -> 16 -> 1 (ReLU), standardised inputs, binary cross-entropy, Adam 3e-3
with weight decay 1e-3, 2000 full-batch steps, torch seed 0. It overrules the classifier only
when it disagrees at least 0.7 sure (``overrule``). That level was set in session 11 after the
check, deciding alone at 0.5, had turned 2 of 76 unidirectional kymographs of the independent
simulator (tools/indep_check.py, seeds 100-115 and 5000-5059) bidirectional (check p 0.67 and
0.56) that the classifier had right; on the held-out synthetic sets 0.7 and 0.5 differ by at most
0.015. Fresh blocks of that simulator are the honest figure (README): seeds 9000 on (118/120
with and without the check; that block was later used to choose the unidirectional linker's
threshold) and seeds 30000 on (classifier 115/120, with the check 116/120).

Usage: OMP_NUM_THREADS=2 python tools/train_modecheck.py [--scale 1.0] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from kymotrace.io import as_kymograph
from kymotrace.modecheck import MODE_FEATURES, ModeCheck, check_features
from kymotrace.models.registry import load_model
from kymotrace.seeds import TRAIN, VALIDATION, check_seed
from kymotrace.segment import remove_spikes
from kymotrace.synth import generate, sample_knobs
from kymotrace.train.data import _as_bright

HIDDEN = 16
#: the check overrules the classifier only when it disagrees at least this sure (see the docstring)
OVERRULE = 0.7
TRAIN_BLOCKS = (("varied", 800), ("varied+static", 800), ("paper", 150), ("processive", 400))
HELD_OUT = (("varied_400", "varied", VALIDATION.start + 950_000, 200),
            ("static_400", "varied+static", VALIDATION.start + 970_000, 200),
            ("processive_200", "processive", VALIDATION.start + 3_100_000, 100))


def kymograph(kind: str, style: str, seed: int, seed_range: str):
    rng = np.random.default_rng(check_seed(seed, seed_range))
    if style == "paper":
        return generate(kind, rng=rng)
    knobs = sample_knobs(kind, rng, style="varied+static" if style == "processive" else style)
    knobs["frames"], knobs["width"] = 256, 256
    if style == "processive" and kind == "bi":
        knobs["p_flip"] = [0.0, round(float(rng.uniform(0.001, 0.01)), 4)]
        knobs["p_switch"] = [0.0, round(float(rng.uniform(0.005, 0.03)), 4)]
    return generate(kind, rng=rng, **knobs)


def features(style: str, start: int, n: int, seed_range: str, models) -> tuple[np.ndarray, np.ndarray]:
    X, Y = [], []
    for k, kind in enumerate(("uni", "bi")):
        for i in range(n):
            ky = kymograph(kind, style, start + 1000 * k + i, seed_range)
            img, _ = remove_spikes(as_kymograph(_as_bright(ky.image, ky)).image)
            _, _, f = check_features(img, *models)
            X.append(f)
            Y.append(float(kind == "bi"))
    return np.array(X), np.array(Y)


def fit(X: np.ndarray, Y: np.ndarray) -> dict:
    import torch

    torch.manual_seed(0)
    mean, scale = X.mean(0), X.std(0) + 1e-6
    z = torch.tensor((X - mean) / scale, dtype=torch.float32)
    y = torch.tensor(Y, dtype=torch.float32)
    net = torch.nn.Sequential(torch.nn.Linear(len(MODE_FEATURES), HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 1))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-3)
    for _ in range(2000):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(net(z)[:, 0], y).backward()
        opt.step()
    layers = [{"weight": m.weight.detach().numpy().T.astype(float).tolist(), "bias": m.bias.detach().numpy().astype(float).tolist()}
              for m in net if isinstance(m, torch.nn.Linear)]
    return {"format": 1, "name": "modecheck", "module": "modecheck", "features": list(MODE_FEATURES),
            "mean": mean.tolist(), "scale": scale.tolist(), "layers": layers, "overrule": OVERRULE}


def accuracy(spec: dict, X: np.ndarray, Y: np.ndarray) -> dict:
    check = ModeCheck(spec)
    logit = X[:, MODE_FEATURES.index("logit_p_bi")]
    p_net = 1.0 / (1.0 + np.exp(-logit))
    p = np.array([check(x) for x in X])
    final = np.array([check.decide(pn, 0.5, x)["mode"] == "bi" for pn, x in zip(p_net, X)])
    y = Y > 0.5
    return {"n": int(len(Y)), "analyze_auto": round(float((final == y).mean()), 4),
            "check_alone": round(float(((p >= 0.5) == y).mean()), 4),
            "classifier_alone": round(float(((logit >= 0) == y).mean()), 4)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the training block sizes (a quick run: 0.1)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "src/kymotrace/models/weights/modecheck.json"))
    args = ap.parse_args()
    models = (load_model("classifier"), load_model("bi"))
    t0 = time.time()
    Xs, Ys, blocks = [], [], {}
    for b, (style, n) in enumerate(TRAIN_BLOCKS):
        n = max(2, int(round(n * args.scale)))
        X, Y = features(style, TRAIN.start + 43_000_000 + 100_000 * b, n, "train", models)
        Xs.append(X)
        Ys.append(Y)
        blocks[style] = 2 * n
        print(f"  training block {style}: {2 * n} kymographs, {time.time() - t0:.0f} s", flush=True)
    X, Y = np.concatenate(Xs), np.concatenate(Ys)
    t1 = time.time()
    spec = fit(X, Y)
    t2 = time.time()
    held = {}
    for name, style, start, n in HELD_OUT:
        Xv, Yv = features(style, start, n, "validation", models)
        held[name] = accuracy(spec, Xv, Yv)
        print(f"  held out {name}: {held[name]}", flush=True)
    spec["requires"] = {"classifier": models[0].sha256, "bi": models[1].sha256}
    spec["card"] = {
        "train_command": "OMP_NUM_THREADS=2 python tools/train_modecheck.py" + (f" --scale {args.scale}" if args.scale != 1.0 else ""),
        "train_seeds": "TRAIN.start + 43,000,000 + 100,000 * block (+1000 for bidirectional) + i",
        "training_kymographs": blocks,
        "depends_on": "the shipped classifier and bidirectional segmenter, and the frame-by-frame tracer (BI_PARAMS), whose outputs are its inputs",
        "architecture": f"{len(MODE_FEATURES)} features -> {HIDDEN} -> 1, ReLU; numpy at inference",
        "training_seconds": {"features": round(t1 - t0), "fit": round(t2 - t1)},
        "hardware": f"CPU ({platform.machine()}), 2 threads",
        "training_accuracy": accuracy(spec, X, Y),
        "held_out": held,
    }
    tmp = Path(args.out).with_suffix(".tmp")
    tmp.write_text(json.dumps(spec))
    tmp.replace(args.out)
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
