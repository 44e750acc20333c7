"""Every shipped model loads and reproduces its model card's check metric within 0.05."""

from __future__ import annotations

import pytest

from kymotrace.models import available_models, load_model

torch = pytest.importorskip("torch")

SHIPPED = available_models()


def test_the_four_modules_are_shipped():
    missing = {"classifier", "uni", "bi", "decision"} - set(SHIPPED)
    if missing:
        pytest.xfail(f"not trained and shipped yet: {sorted(missing)}")
    assert not missing


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_matches_its_card(name):
    from kymotrace.train.check import check_metric

    lm = load_model(name)
    card = lm.card
    for key in ("train_command", "steps", "training_minutes", "hardware", "validation", "check"):
        assert key in card, f"model card of {name} lacks {key}"
    got = check_metric(lm)
    assert got["metric"] == card["check"]["metric"]
    assert abs(got["value"] - card["check"]["value"]) <= 0.05, (got, card["check"])
    assert 0.0 < lm.threshold < 1.0
