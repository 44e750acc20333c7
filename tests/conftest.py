"""Shared fixtures. Warnings are errors (see pyproject); tests write only to tmp_path."""

from __future__ import annotations

import numpy as np
import pytest

from kymotrace import seeds


@pytest.fixture
def rng():
    """A seeded generator from the test seed range."""
    return np.random.default_rng(seeds.TEST.start)
