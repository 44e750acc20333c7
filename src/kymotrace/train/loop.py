"""Resumable training loop for the classifier and the two segmenters.

Training runs in chunks of ``minutes``: a checkpoint (model, optimiser, scheduler, step, random
state, best validation state) is written atomically every ``checkpoint_minutes`` and at the end of
the chunk; ``resume=True`` continues from it. Every chunk appends to ``log.txt`` in the run folder.
The best validation state is kept and exported by :func:`export`.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import platform
import queue
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .. import seeds
from ..errors import OptionError
from ..fileutil import atomic_path

log = logging.getLogger(__name__)

MODULES = ("classifier", "uni", "bi", "decision")

#: default architecture per module (widths chosen by measurement, see the model cards)
ARCH = {
    "classifier": {"base": 8, "dropout": 0.1},
    "uni": {"base": 16, "dropout": 0.1},
    "bi": {"base": 16, "dropout": 0.1},
    "decision": {"base": 8, "dropout": 0.1},
}


@dataclass
class TrainConfig:
    module: str
    minutes: float = 10.0
    device: str = "auto"
    resume: bool = False
    run_dir: str = "training"
    batch: int = 12
    crop: int = 128
    lr: float = 1e-3
    decay_every: int = 4000  # steps; lr halves (the paper: x0.5 after 4000 batches)
    seed: int = 0  # offset inside the TRAIN seed range
    style: str = "varied"
    val_every: int = 200  # steps
    checkpoint_minutes: float = 3.0
    threads: int = 2
    val_n: int = 6
    reset_best: bool = False
    reset_lr: bool = False
    steps: int | None = None  # stop this chunk after this many steps (or at ``minutes``, whichever first)
    from_best: bool = False
    workers: int = 0  # data-making processes (0: one background thread)
    arch: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.module not in MODULES:
            raise OptionError(f"unknown module {self.module!r}; choose one of {', '.join(MODULES)}")
        if self.minutes <= 0:
            raise OptionError(f"--minutes must be positive, got {self.minutes}")
        if isinstance(self.workers, bool) or int(self.workers) != self.workers or not 0 <= self.workers <= 64:
            raise OptionError(f"--workers must be a whole number from 0 to 64, got {self.workers}")
        if self.steps is not None and (isinstance(self.steps, bool) or int(self.steps) != self.steps or self.steps < 1):
            raise OptionError(f"--steps must be a whole number >= 1, got {self.steps}")
        for flag, on in (("--reset-lr", self.reset_lr), ("--from-best", self.from_best), ("--reset-best", self.reset_best)):
            if on and not self.resume:
                raise OptionError(f"{flag} only applies to a resumed run: add --resume")
        self.arch = {**ARCH[self.module], **(self.arch or {})}

    @property
    def folder(self) -> Path:
        return Path(self.run_dir) / self.module


def _device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise OptionError(f"--device must be auto, cpu or cuda[:N], got {name!r}")
    return torch.device(name)


def _log(folder: Path, msg: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}"
    with open(folder / "log.txt", "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
    log.info(msg)


def model_config(cfg: TrainConfig) -> dict:
    from ..models import default_config

    return default_config(cfg.module, **cfg.arch)


class _Producer:
    """Makes training batches in a background thread (numpy releases the GIL for much of it)."""

    def __init__(self, fn, rng, depth: int = 3):
        self.fn, self.rng = fn, rng
        self.q: queue.Queue = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        _fill(self.fn, self.rng, self.q, lambda: not self.stop.is_set())

    def get(self):
        return self.q.get()

    def close(self):
        self.stop.set()
        self.t.join(timeout=5)


def _fill(fn, rng, q, running) -> None:
    """Put ``fn(rng)`` batches into ``q`` for as long as ``running()`` says, never blocking on a full
    queue for longer than 0.2 s between checks."""
    while running():
        item = fn(rng)
        while running():
            try:
                q.put(item, timeout=0.2)
                break
            except queue.Full:
                continue


def _worker_loop(fn, seed: int, q, stop, parent: int) -> None:  # pragma: no cover - runs in a child process
    import signal

    import torch

    # Ctrl-C is the parent's to handle (it ends these processes); one that outlives a killed
    # parent stops by itself
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    q.cancel_join_thread()  # at exit, never wait for a reader that is gone
    torch.set_num_threads(1)
    _fill(fn, np.random.default_rng(seed), q, lambda: not stop.is_set() and os.getppid() == parent)


class _ProcessProducer:
    """Makes training batches in ``n`` forked processes, each with its own seed drawn from ``rng``
    (for a GPU machine, where one thread cannot make data as fast as the GPU trains on it). The
    seeds are reproducible; the order in which the processes' batches arrive is not."""

    def __init__(self, fn, rng, n: int, depth: int = 4):
        ctx = mp.get_context("fork")
        self.q = ctx.Queue(maxsize=max(depth, 2 * n))
        self.stop = ctx.Event()
        self.procs = [ctx.Process(target=_worker_loop, args=(fn, int(rng.integers(2**63)), self.q, self.stop, os.getpid()),
                                  daemon=True) for _ in range(n)]
        for p in self.procs:
            p.start()

    def get(self):
        while True:
            try:
                return self.q.get(timeout=5.0)
            except queue.Empty:
                if not any(p.is_alive() for p in self.procs):
                    raise RuntimeError("every data-making process has stopped (see the messages above)") from None

    def close(self):
        self.stop.set()
        for p in self.procs:  # a process may be half-way through a batch: nothing in it is worth waiting for
            p.terminate()
        for p in self.procs:
            p.join(timeout=5)
        self.q.cancel_join_thread()


def _producer(cfg: TrainConfig, rng):
    if cfg.workers > 0:
        if "fork" in mp.get_all_start_methods():
            return _ProcessProducer(_batch_fn(cfg), rng, cfg.workers)
        log.warning("--workers needs processes started by fork, which this system lacks: one background thread makes the data")
    return _Producer(_batch_fn(cfg), rng)


def _batch_fn(cfg: TrainConfig):
    from . import data

    if cfg.module == "classifier":
        return lambda rng: data.classifier_batch(rng, cfg.batch * 2, cfg.style)
    if cfg.module in ("uni", "bi"):
        return lambda rng: data.segmentation_batch(cfg.module, rng, cfg.batch, (cfg.crop, cfg.crop), cfg.style)
    from .decision import decision_batch

    return lambda rng: decision_batch(rng, cfg.batch * 4)


def validate(net, cfg: TrainConfig, device, items=None, threshold: float = 0.2) -> dict:
    """Validation metrics of ``net`` on held-out validation seeds."""
    import torch

    net.eval()
    try:
        if cfg.module == "classifier":
            from .data import classifier_batch

            rng = np.random.default_rng(seeds.VALIDATION.start + 900_000)
            x, y = classifier_batch(rng, 96 if items is None else items, cfg.style)
            with torch.inference_mode():
                p = torch.softmax(net(torch.from_numpy(x).to(device)), 1)[:, 1].cpu().numpy()
            acc = float(((p > 0.5).astype(int) == y).mean())
            return {"accuracy": acc, "score": acc}
        if cfg.module == "decision":
            from .decision import validate_decision

            return validate_decision(net, device)
        from ..segment import normalize, predict
        from .data import validation_items
        from .evaluate import pooled_pr

        kinds = [cfg.module] if cfg.module == "uni" else ["bi", "uni"]
        if items is None:
            items = validation_items(kinds, cfg.val_n, seeds.VALIDATION.start, "paper") + validation_items(
                kinds, cfg.val_n, seeds.VALIDATION.start + 100_000, "varied"
            )
        probs = [predict(net, normalize(it.image), device=str(device)) for it in items]
        res = {}
        for style in ("paper", "varied"):
            sel = [i for i, it in enumerate(items) if it.style == style]
            res[style] = pooled_pr([probs[i] for i in sel], [items[i] for i in sel], cfg.module, threshold)
        res["score"] = 0.5 * (res["paper"]["f"] + res["varied"]["f"])
        return res
    finally:
        net.train()


def train(cfg: TrainConfig) -> dict:
    """Train for ``cfg.minutes`` (one chunk). Returns a summary dict."""
    import torch

    from ..models import build_model

    torch.set_num_threads(cfg.threads)
    device = _device(cfg.device)
    folder = cfg.folder
    ckpt_path = folder / "checkpoint.pt"
    mcfg = model_config(cfg)
    net = build_model(mcfg).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.decay_every, gamma=0.5)
    step, elapsed, best = 0, 0.0, {"score": -1.0}
    best_state = None
    rng = np.random.default_rng(seeds.check_seed(seeds.TRAIN.start + cfg.seed, "train"))
    if cfg.resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        step, elapsed, best, best_state = ck["step"], ck["elapsed"], ck["best"], ck["best_state"]
        rng.bit_generator.state = ck["rng"]
        if cfg.from_best and best_state is not None:
            # continue from the best validated weights, not the last ones (the optimiser's
            # moments stay): for a fine-tuning stage after a noisy one
            net.load_state_dict(best_state)
            _log(folder, f"weights: the best validated state (score {best.get('score', float('nan')):.4f})")
        elif cfg.from_best:
            _log(folder, "weights: no validated state in the checkpoint yet, so the last ones")
        if cfg.reset_lr:
            # a fresh schedule from this step: lr = cfg.lr, halved every cfg.decay_every steps
            for g in opt.param_groups:
                g["lr"] = cfg.lr
                g["initial_lr"] = cfg.lr
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.decay_every, gamma=0.5)
            _log(folder, f"learning rate reset to {cfg.lr:g}, halved every {cfg.decay_every} steps")
        if cfg.reset_best:
            best, best_state = {"score": -1.0}, None
            _log(folder, "best validation score reset (the validation data changed)")
        _log(folder, f"resume at step {step} ({elapsed / 60:.1f} min trained, best {best.get('score'):.4f})")
    elif cfg.resume:
        _log(folder, "resume requested but no checkpoint: starting fresh")
    nparams = sum(p.numel() for p in net.parameters())
    _log(folder, f"chunk start: module={cfg.module} device={device} params={nparams} minutes={cfg.minutes} config={json.dumps(asdict(cfg))}")

    def save():
        ck = {
            "model": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
            "step": step, "elapsed": elapsed, "best": best, "best_state": best_state,
            "rng": rng.bit_generator.state, "model_config": mcfg, "train_config": asdict(cfg),
        }
        with atomic_path(ckpt_path) as tmp:
            torch.save(ck, tmp)

    if cfg.module == "classifier":
        lossf = torch.nn.CrossEntropyLoss()
    else:
        lossf = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(2.0, device=device))
    producer = _producer(cfg, np.random.default_rng(rng.integers(2**63)))
    t_chunk = time.monotonic()
    t_ckpt = t_chunk
    stop_at = None if cfg.steps is None else step + int(cfg.steps)
    losses: list[float] = []
    net.train()
    try:
        while time.monotonic() - t_chunk < cfg.minutes * 60 and (stop_at is None or step < stop_at):
            t0 = time.monotonic()
            x, y = producer.get()
            xt = torch.from_numpy(x).to(device)
            yt = torch.from_numpy(y).to(device)
            out = net(xt)
            loss = lossf(out, yt)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            elapsed += time.monotonic() - t0
            losses.append(float(loss.detach()))
            if step % cfg.val_every == 0:
                res = validate(net, cfg, device)
                msg = f"step {step} loss {np.mean(losses[-cfg.val_every:]):.4f} lr {sched.get_last_lr()[0]:.2e} val {json.dumps(res)}"
                if res["score"] > best["score"]:
                    best = res
                    best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
                    msg += " *best*"
                _log(folder, msg)
            if time.monotonic() - t_ckpt > cfg.checkpoint_minutes * 60:
                save()
                t_ckpt = time.monotonic()
    finally:
        producer.close()
        save()
        _log(folder, f"chunk end: step {step}, {elapsed / 60:.1f} min trained, best score {best.get('score'):.4f}")
    return {"step": step, "elapsed_s": elapsed, "best": best, "checkpoint": str(ckpt_path)}


def hardware() -> str:
    import torch

    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({platform.processor() or platform.machine()}), {torch.get_num_threads()} threads"
    return dev
