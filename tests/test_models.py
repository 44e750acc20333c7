"""Contract tests of the networks, model files and registry, with tiny random networks."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest
import torch

from kymotrace import seeds
from kymotrace.errors import InputError, OptionError
from kymotrace.models import (
    available_models,
    build_model,
    context_radius,
    count_parameters,
    default_config,
    load_model,
    registry,
    save_model,
)
from kymotrace.models.unet import validate_config

SEED = seeds.TEST.start + 100


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(module: str, *, base: int = 4, seed: int = SEED, **kw) -> torch.nn.Module:
    """A tiny random network in eval mode, with non-trivial batch-norm statistics."""
    rng = np.random.default_rng(seed)
    net = build_model(default_config(module, base=base, **kw), rng=rng)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.from_numpy(rng.normal(0, 0.1, m.num_features).astype(np.float32)))
                m.running_var.copy_(torch.from_numpy(rng.uniform(0.5, 2.0, m.num_features).astype(np.float32)))
                m.weight.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, m.num_features).astype(np.float32)))
    return net.eval()


def _save(net, path, module, **over):
    kw = dict(
        name=over.pop("name", "tiny"),
        module=module,
        config=net.config,
        normalization={"method": "robust", "version": 1},
        threshold=0.25,
        card={"train_command": "kymotrace train bi", "seeds": [1, 2], "metrics": {"f1": 0.5}},
    )
    kw.update(over)
    save_model(path, net, **kw)
    return path


# --------------------------------------------------------------------------- architecture


@pytest.mark.parametrize(
    ("module", "shape", "out_shape"),
    [
        ("classifier", (3, 1, 64, 64), (3, 2)),
        ("uni", (2, 1, 32, 48), (2, 2, 32, 48)),
        ("bi", (1, 1, 16, 80), (1, 1, 16, 80)),
        ("decision", (5, 3, 48, 48), (5, 1, 48, 48)),
    ],
)
def test_module_shapes(module, shape, out_shape):
    net = tiny(module)
    with torch.inference_mode():
        y = net(torch.zeros(shape))
    assert tuple(y.shape) == out_shape
    assert y.dtype == torch.float32


def test_default_configs_describe_the_modules():
    assert default_config("uni")["out_channels"] == 2
    assert default_config("bi")["out_channels"] == 1
    dec = default_config("decision")
    assert (dec["in_channels"], dec["out_channels"], dec["input_size"]) == (3, 1, 48)
    cls = default_config("classifier", base=8)
    assert cls["arch"] == "classifier" and cls["base"] == 8 and cls["input_size"] == 64
    assert "upsample" not in cls
    with pytest.raises(OptionError, match="classifier, uni, bi, decision"):
        default_config("tri")


def test_parameter_count_of_base_16_segmenter():
    n = count_parameters(build_model(default_config("bi", base=16), rng=np.random.default_rng(SEED)))
    assert 1.8e6 < n < 2.0e6


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"colour": 1}, "unknown model config key"),
        ({"depth": 0}, "depth"),
        ({"base": 2.5}, "base"),
        ({"dropout": 1.0}, "dropout"),
        ({"upsample": "nearest"}, "transpose, bilinear"),
        ({"arch": "resnet"}, "unet, classifier"),
    ],
)
def test_bad_configs_are_refused(bad, match):
    with pytest.raises(OptionError, match=match):
        validate_config({**default_config("bi"), **bad})


def test_unet_refuses_sizes_that_are_not_multiples_of_16():
    net = tiny("bi")
    with pytest.raises(InputError, match="multiples of 16"):
        net(torch.zeros(1, 1, 20, 32))
    with pytest.raises(InputError, match=r"\[N, 1, H, W\]"):
        net(torch.zeros(1, 2, 32, 32))


def test_same_rng_seed_gives_same_weights_and_no_global_state_used():
    a = build_model(default_config("uni", base=4), rng=np.random.default_rng(SEED))
    torch.manual_seed(0)
    torch.rand(10)  # moving torch's global generator must not matter
    b = build_model(default_config("uni", base=4), rng=np.random.default_rng(SEED))
    c = build_model(default_config("uni", base=4), rng=np.random.default_rng(SEED + 1))
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["head.weight"], sc["head.weight"])


@pytest.mark.parametrize(("depth", "upsample"), [(2, "transpose"), (2, "bilinear"), (4, "transpose")])
def test_context_radius_matches_gradient_support(depth, upsample):
    """The formula is the exact one-sided receptive field (worst case over pooling phases)."""
    net = tiny("bi", base=2, depth=depth, upsample=upsample, dropout=0.0).double()
    width, worst = 320, 0
    for pos in range(160, 160 + 2**depth):
        x = torch.randn(1, 1, 2**depth, width, dtype=torch.float64, requires_grad=True)
        net(x)[0, 0, :, pos].sum().backward()
        cols = np.nonzero(x.grad[0, 0].abs().sum(0).numpy())[0]
        worst = max(worst, pos - cols.min(), cols.max() - pos)
    assert worst == context_radius(net.config) == net.context
    if (depth, upsample) == (4, "transpose"):
        assert worst == 107


def test_dropout_only_active_in_training_mode():
    net = tiny("bi", dropout=0.5)
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(net(x), net(x))
        net.train()
        assert not torch.equal(net(x), net(x))


# --------------------------------------------------------------------------- model files


def test_save_load_round_trip(tmp_path):
    net = tiny("uni")
    path = _save(net, tmp_path / "m.pt", "uni")
    raw = torch.load(path, weights_only=True)  # plain dict, loadable without pickle
    assert raw["format"] == 1 and raw["module"] == "uni" and raw["name"] == "tiny"
    assert raw["config"] == net.config
    assert all(t.dtype == torch.float16 for t in raw["state_dict"].values() if t.is_floating_point())
    assert list(tmp_path.iterdir()) == [path]  # no temporary leftovers

    loaded = load_model(path)
    assert loaded.module == "uni" and loaded.name == "tiny" and loaded.threshold == 0.25
    assert loaded.card["metrics"] == {"f1": 0.5} and loaded.card["seeds"] == [1, 2]
    assert loaded.normalization == {"method": "robust", "version": 1}
    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert loaded.path == path.resolve()
    assert not loaded.net.training
    assert all(p.dtype == torch.float32 for p in loaded.net.parameters())
    x = torch.randn(2, 1, 48, 32, generator=torch.Generator().manual_seed(SEED))
    with torch.inference_mode():
        ref, got = torch.sigmoid(net(x)), torch.sigmoid(loaded.net(x))
    assert torch.allclose(ref, got, atol=5e-3)


def test_float16_overflow_is_stored_as_float32(tmp_path):
    net = tiny("bi")
    with torch.no_grad():
        net.encoder.blocks[0][0][1].running_var[0] = 1e6  # beyond float16's 65504
    loaded = load_model(_save(net, tmp_path / "m.pt", "bi"))
    assert loaded.net.encoder.blocks[0][0][1].running_var[0].item() == 1e6


def test_save_refuses_inconsistent_models(tmp_path):
    net = tiny("bi")
    with pytest.raises(OptionError, match="'uni' module needs"):
        _save(net, tmp_path / "a.pt", "uni")
    with pytest.raises(OptionError, match="do not fit its config"):
        _save(net, tmp_path / "b.pt", "bi", config=default_config("bi", base=8))
    with pytest.raises(OptionError, match=r"threshold must be a number in \[0, 1\]"):
        _save(net, tmp_path / "c.pt", "bi", threshold=1.5)
    with pytest.raises(TypeError, match="card.when"):
        _save(net, tmp_path / "d.pt", "bi", card={"when": object()})
    assert list(tmp_path.iterdir()) == []


def test_card_values_are_made_plain(tmp_path):
    net = tiny("decision")
    card = {"shape": (48, 48), "f1": np.float32(0.75), "dir": tmp_path}
    loaded = load_model(_save(net, tmp_path / "d.pt", "decision", card=card))
    assert loaded.card == {"shape": [48, 48], "f1": 0.75, "dir": str(tmp_path)}


def test_registry_names(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "weights_dir", lambda: tmp_path)
    assert available_models() == []
    _save(tiny("bi"), tmp_path / "bi.pt", "bi", name="bi")
    _save(tiny("classifier"), tmp_path / "classifier.pt", "classifier", name="classifier")
    (tmp_path / ".partial.part.pt").write_bytes(b"")  # an interrupted write is not a model
    assert available_models() == ["bi", "classifier"]
    assert load_model("bi").module == "bi"
    with pytest.raises(OptionError) as err:
        load_model("bidirectional")
    msg = str(err.value)
    assert "'bidirectional'" in msg and "'bi', 'classifier'" in msg and "path" in msg


def test_unknown_name_with_nothing_shipped(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "weights_dir", lambda: tmp_path / "none")
    with pytest.raises(OptionError, match="no models are shipped"):
        load_model("uni")


def test_missing_path(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_model(tmp_path / "nope.pt")


def _torch_file(path, obj):
    torch.save(obj, path)
    return path


def _garbage(path):
    path.write_bytes(b"\x00garbage" * 10)
    return path


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (_garbage, "not a kymotrace model file"),
        (lambda p: _torch_file(p, torch.zeros(3)), "no 'format' entry"),
        (lambda p: _torch_file(p, {"format": 2}), "upgrade kymotrace"),
        (lambda p: _torch_file(p, {"format": 1, "name": "x"}), "incomplete"),
        (lambda p: _torch_file(p, {"format": 1, "data": np.arange(3)}), "not a kymotrace model file"),
    ],
)
def test_invalid_model_files(tmp_path, make, match):
    path = make(tmp_path / "bad.pt")
    with pytest.raises(InputError, match=match) as err:
        load_model(path)
    assert "bad.pt" in str(err.value)


def test_truncated_and_mismatched_model_files(tmp_path):
    good = _save(tiny("bi"), tmp_path / "good.pt", "bi")
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[:-200])
    with pytest.raises(InputError, match="not a kymotrace model file"):
        load_model(cut)
    obj = torch.load(good, weights_only=True)
    obj["config"] = default_config("bi", base=8)
    with pytest.raises(InputError, match="do not fit"):
        load_model(_torch_file(tmp_path / "mismatch.pt", obj))
    obj["config"], obj["module"] = default_config("bi", base=4), "tri"
    with pytest.raises(InputError, match="module must be one of"):
        load_model(_torch_file(tmp_path / "module.pt", obj))


def test_bad_device(tmp_path):
    path = _save(tiny("bi"), tmp_path / "m.pt", "bi")
    with pytest.raises(OptionError, match="unknown device"):
        load_model(path, device="gpu0")
    assert load_model(path, device="auto").net is not None
    if not torch.cuda.is_available():
        with pytest.raises(OptionError, match="CUDA is not available"):
            load_model(path, device="cuda")


def test_importing_kymotrace_does_not_import_torch():
    code = (
        "import sys, kymotrace, kymotrace.segment; from kymotrace.models import available_models; "
        "available_models(); assert 'torch' not in sys.modules, 'torch imported'"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
