"""Shared fixtures. Warnings are errors (see pyproject); tests write only to tmp_path."""

from __future__ import annotations

import numpy as np
import pytest

from kymotrace import seeds


@pytest.fixture
def rng():
    """A seeded generator from the test seed range."""
    return np.random.default_rng(seeds.TEST.start)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny nets gain nothing from threads, and on a shared CPU extra threads only wait."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_model_args(tmp_path_factory):
    """``--model MODULE=PATH`` arguments for the CLI: tiny randomly initialised nets (base 4,
    threshold 0.3), one per module, so CLI tests run fast and do not depend on the shipped weights."""
    pytest.importorskip("torch")
    from kymotrace.models import build_model, default_config, save_model

    d = tmp_path_factory.mktemp("models")
    args = []
    for module in ("classifier", "uni", "bi", "decision"):
        cfg = default_config(module, base=4)
        f = d / f"{module}.pt"
        save_model(f, build_model(cfg, rng=np.random.default_rng(2)), name=f"tiny_{module}", module=module,
                   config=cfg, normalization={"method": "robust"}, threshold=0.3, card={})
        args += ["--model", f"{module}={f}"]
    return args
