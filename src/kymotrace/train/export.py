"""Export the best checkpoint of a training run as a shipped, self-describing model.

For the segmenters the default threshold is tuned on validation seeds (never bench seeds): the
threshold maximising the thinned-map F-score within 2 px, averaged over paper-style and varied
kymographs. The model card records the exact command, seeds, training time, hardware and the
validation metrics reached.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .. import seeds
from ..errors import InputError
from .loop import TrainConfig, _device, hardware, validate

THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def _forward_ms(net, module: str) -> float:
    """Median CPU forward time (ms): 300x300 for segmenters, 64x64 classifier, 16 crops decision."""
    import torch

    from ..segment import predict

    x = np.random.default_rng(0).normal(size=(300, 300)).astype(np.float32)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        if module in ("uni", "bi"):
            predict(net, x, device="cpu")
        else:
            shape = (1, 1, 64, 64) if module == "classifier" else (16, 3, 48, 48)
            with torch.inference_mode():
                net(torch.zeros(shape))
        times.append(time.perf_counter() - t0)
    return float(np.median(times[1:]) * 1000)


def export(cfg: TrainConfig, name: str, *, out_dir: str | None = None, command: str = "") -> Path:
    import torch

    from ..models import build_model, save_model
    from ..models.registry import weights_dir
    from ..segment import DEFAULT_NORMALIZATION

    ck_path = cfg.folder / "checkpoint.pt"
    if not ck_path.exists():
        raise InputError(f"no checkpoint at {ck_path}: train first with 'kymotrace train {cfg.module}'")
    ck = torch.load(ck_path, map_location="cpu", weights_only=False)
    if ck.get("best_state") is None:
        raise InputError(f"{ck_path} has no validated state yet: train longer (validation runs every --val-every steps)")
    torch.set_num_threads(cfg.threads)
    device = _device(cfg.device)
    net = build_model(ck["model_config"])
    net.load_state_dict(ck["best_state"])
    net.to(device).eval()
    tcfg = TrainConfig(**{**ck["train_config"], "threads": cfg.threads, "device": cfg.device})
    threshold = 0.5
    metrics: dict = {}
    if tcfg.module in ("uni", "bi"):
        from .data import validation_items

        kinds = [tcfg.module] if tcfg.module == "uni" else ["bi", "uni"]
        # threshold tuning set: validation seeds disjoint from the ones used for model selection
        items = validation_items(kinds, 8, seeds.VALIDATION.start + 200_000, "paper") + validation_items(
            kinds, 8, seeds.VALIDATION.start + 300_000, "varied"
        )
        sweep = {t: validate(net, tcfg, device, items=items, threshold=t) for t in THRESHOLDS}
        threshold = max(sweep, key=lambda t: sweep[t]["score"])
        metrics = {"threshold_sweep": {str(t): round(v["score"], 4) for t, v in sweep.items()}, **sweep[threshold]}
    else:
        metrics = validate(net, tcfg, device)
    metrics["forward_ms_cpu"] = round(_forward_ms(net.cpu(), tcfg.module), 1)
    card = {
        "train_command": f"kymotrace train {tcfg.module} --minutes M --seed {tcfg.seed} --style {tcfg.style} --batch {tcfg.batch} --crop {tcfg.crop} [--resume ...]",
        "export_command": command,
        "train_config": ck["train_config"],
        "train_seed_range": f"{seeds.TRAIN.start + tcfg.seed}.. (kymotrace.seeds.TRAIN)",
        "validation_seeds": f"kymotrace.seeds.VALIDATION from {seeds.VALIDATION.start}",
        "steps": int(ck["step"]),
        "training_minutes": round(ck["elapsed"] / 60, 1),
        "hardware": hardware(),
        "best_validation_during_training": ck["best"],
        "validation": metrics,
        "exported": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out = Path(out_dir) if out_dir else weights_dir()
    path = out / f"{name}.pt"
    save_model(
        path, net.cpu(), name=name, module=tcfg.module, config=ck["model_config"],
        normalization=dict(DEFAULT_NORMALIZATION), threshold=float(threshold), card=card,
    )
    # the card's check: recomputed from the shipped (float16) file by the test suite
    from ..models import load_model
    from .check import check_metric

    lm = load_model(path)
    card["check"] = check_metric(lm, threads=cfg.threads)
    save_model(
        path, lm.net, name=name, module=tcfg.module, config=ck["model_config"],
        normalization=dict(DEFAULT_NORMALIZATION), threshold=float(threshold), card=card,
    )
    return path
