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
