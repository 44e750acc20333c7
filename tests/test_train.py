"""Few-step training smoke tests: every module trains, checkpoints, resumes and exports.

Tiny nets (base width 4), tiny crops and batches, a handful of steps: these check the training
machinery, never the quality of a model (the shipped models are checked in test_shipped_models).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from kymotrace.cli import main  # noqa: E402
from kymotrace.errors import OptionError  # noqa: E402
from kymotrace.train.loop import TrainConfig, train  # noqa: E402

TINY = ["--batch", "2", "--crop", "32", "--base", "4", "--threads", "1", "--val-every", "1000"]


def _log(run_dir, module):
    return (run_dir / module / "log.txt").read_text()


def _ckpt(run_dir, module):
    return torch.load(run_dir / module / "checkpoint.pt", map_location="cpu", weights_only=False)


def test_cli_train_then_resume_continues_the_step_count(tmp_path, one_torch_thread):
    run = tmp_path / "run"
    assert main(["train", "uni", "--steps", "2", "--minutes", "5", "--run-dir", str(run), *TINY]) == 0
    ck = _ckpt(run, "uni")
    assert ck["step"] == 2
    assert "chunk end: step 2" in _log(run, "uni")
    first = {k: v.clone() for k, v in ck["model"].items()}

    assert main(["train", "uni", "--resume", "--steps", "3", "--minutes", "5", "--run-dir", str(run), *TINY]) == 0
    ck = _ckpt(run, "uni")
    log = _log(run, "uni")
    assert ck["step"] == 5
    assert "resume at step 2" in log and "chunk end: step 5" in log
    # the weights moved on from the first chunk's
    assert any(not torch.equal(first[k], ck["model"][k]) for k in first if first[k].is_floating_point())
    # every chunk is logged with its configuration
    assert log.count("chunk start") == 2


def test_resume_without_checkpoint_starts_fresh_and_says_so(tmp_path, one_torch_thread):
    run = tmp_path / "run"
    assert main(["train", "bi", "--resume", "--steps", "1", "--minutes", "5", "--run-dir", str(run), *TINY]) == 0
    assert "resume requested but no checkpoint: starting fresh" in _log(run, "bi")
    assert _ckpt(run, "bi")["step"] == 1


def test_reset_lr_and_from_best_on_resume(tmp_path, one_torch_thread):
    base = dict(module="uni", steps=2, minutes=5, batch=2, crop=32, val_every=2, val_n=1, threads=1,
                run_dir=str(tmp_path), arch={"base": 4})
    out = train(TrainConfig(**base))
    assert out["step"] == 2 and out["best"]["score"] >= 0  # validation ran at step 2
    ck = _ckpt(tmp_path, "uni")
    assert ck["best_state"] is not None
    assert ck["opt"]["param_groups"][0]["lr"] == pytest.approx(1e-3)

    train(TrainConfig(**{**base, "steps": 1, "val_every": 1000}, resume=True, reset_lr=True, from_best=True, lr=2e-4,
                      decay_every=50))
    ck = _ckpt(tmp_path, "uni")
    log = _log(tmp_path, "uni")
    assert ck["step"] == 3
    assert ck["opt"]["param_groups"][0]["lr"] == pytest.approx(2e-4)
    assert ck["sched"]["step_size"] == 50
    assert "weights: the best validated state" in log
    assert "learning rate reset to 0.0002, halved every 50 steps" in log


@pytest.mark.parametrize("module", ["classifier", "decision"])
def test_classifier_and_decision_train_a_step(tmp_path, module, one_torch_thread):
    out = train(TrainConfig(module=module, steps=1, minutes=5, batch=1, threads=1, val_every=1000,
                            run_dir=str(tmp_path), arch={"base": 4}))
    assert out["step"] == 1
    ck = _ckpt(tmp_path, module)
    assert all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())


def test_export_writes_a_loadable_self_describing_model(tmp_path, one_torch_thread):
    from kymotrace.models import load_model
    from kymotrace.train.export import export

    cfg = TrainConfig(module="classifier", steps=2, minutes=5, batch=2, val_every=2, threads=1, run_dir=str(tmp_path),
                      arch={"base": 4})
    train(cfg)
    path = export(cfg, "tiny_cls", out_dir=str(tmp_path / "w"), command="kymotrace train classifier --export tiny_cls")
    lm = load_model(str(path))
    assert lm.module == "classifier" and lm.threshold == 0.5
    card = lm.card
    assert card["steps"] == 2 and card["export_command"].endswith("--export tiny_cls")
    assert 0.0 <= card["validation"]["accuracy"] <= 1.0
    json.dumps(card)  # plain values only
    with torch.inference_mode():
        p = torch.softmax(lm.net(torch.zeros(1, 1, 64, 64)), 1)
    assert p.shape == (1, 2) and np.isclose(float(p.sum()), 1.0)


def test_export_without_a_validated_state_is_a_clear_error(tmp_path, one_torch_thread):
    from kymotrace.errors import InputError
    from kymotrace.train.export import export

    cfg = TrainConfig(module="uni", steps=1, minutes=5, batch=2, crop=32, val_every=1000, threads=1,
                      run_dir=str(tmp_path), arch={"base": 4})
    train(cfg)
    with pytest.raises(InputError, match="no validated state yet"):
        export(cfg, "x", out_dir=str(tmp_path / "w"))


@pytest.mark.parametrize("bad", [0, -3, 1.5, True])
def test_bad_step_counts_are_refused(bad):
    with pytest.raises(OptionError, match="--steps"):
        TrainConfig(module="uni", steps=bad)


@pytest.mark.parametrize("flag", ["reset_lr", "from_best", "reset_best"])
def test_resume_only_flags_need_resume(flag):
    with pytest.raises(OptionError, match="add --resume"):
        TrainConfig(module="uni", **{flag: True})


def test_from_best_without_a_validated_state_keeps_the_last_weights(tmp_path, one_torch_thread):
    base = dict(module="uni", steps=1, minutes=5, batch=2, crop=32, val_every=1000, threads=1, run_dir=str(tmp_path),
                arch={"base": 4})
    train(TrainConfig(**base))
    train(TrainConfig(**base, resume=True, from_best=True))
    assert "no validated state in the checkpoint yet, so the last ones" in _log(tmp_path, "uni")
    assert _ckpt(tmp_path, "uni")["step"] == 2


def test_bad_options_on_the_command_line(tmp_path, capsys):
    assert main(["train", "uni", "--crop", "40", "--run-dir", str(tmp_path)]) != 0
    assert "--crop must be a multiple of 16" in capsys.readouterr().err
    assert main(["train", "uni", "--reset-lr", "--run-dir", str(tmp_path)]) != 0
    assert "--reset-lr only applies to a resumed run: add --resume" in capsys.readouterr().err


def test_workers_make_the_training_data_in_processes(tmp_path, monkeypatch, one_torch_thread):
    """--workers N (for a GPU machine with many cores): the data comes from N forked processes,
    the chunk trains and checkpoints as with the one background thread, and the log says so."""
    import kymotrace.train.loop as loop

    made = []

    class Spy(loop._ProcessProducer):
        def __init__(self, fn, rng, n, depth=4):
            made.append(n)
            super().__init__(fn, rng, n, depth)

    monkeypatch.setattr(loop, "_ProcessProducer", Spy)
    assert main(["train", "uni", "--steps", "3", "--workers", "2", "--run-dir", str(tmp_path), *TINY]) == 0
    assert made == [2]
    ck = _ckpt(tmp_path, "uni")
    assert ck["step"] == 3 and ck["train_config"]["workers"] == 2
    assert '"workers": 2' in _log(tmp_path, "uni")


def _fails(rng):
    raise ValueError("no data here")


def test_data_processes_that_all_fail_give_a_clear_error():
    from kymotrace.train.loop import _ProcessProducer

    prod = _ProcessProducer(_fails, np.random.default_rng(0), 1)
    try:
        with pytest.raises(RuntimeError, match="every data-making process has stopped"):
            prod.get()
    finally:
        prod.close()


@pytest.mark.parametrize("bad", [-1, 65, 1.5, True])
def test_bad_worker_counts_are_refused(bad):
    with pytest.raises(OptionError, match="--workers"):
        TrainConfig(module="uni", workers=bad)
