"""load_model refuses broken model files with an InputError that names the file.

Each broken file is a copy of the shipped "uni" model with one field changed, written to tmp_path.
"""

from __future__ import annotations

import math
import warnings

import pytest

torch = pytest.importorskip("torch")

from kymotrace.errors import InputError, OptionError  # noqa: E402
from kymotrace.models import available_models, build_model, load_model, registry, save_model  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SHIPPED = ["bi", "classifier", "decision", "uni"]


def _shipped(name: str = "uni") -> dict:
    return torch.load(registry.weights_dir() / f"{name}.pt", map_location="cpu", weights_only=True)


def _write(tmp_path, obj: dict, name: str = "broken.pt"):
    path = tmp_path / name
    torch.save(obj, path)
    return path


def _refused(path, *fragments: str) -> str:
    """Load ``path``, expect an InputError naming the file and holding ``fragments``; no warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(InputError) as err:
            load_model(path)
    assert caught == [], [str(w.message) for w in caught]
    msg = str(err.value)
    assert path.name in msg
    for text in fragments:
        assert text in msg, msg
    assert "\n" not in msg
    return msg


@pytest.fixture(scope="module")
def uni() -> dict:
    return _shipped("uni")


def _copy(obj: dict, **changes) -> dict:
    out = dict(obj)
    out.update(changes)
    return out


# --------------------------------------------------------------------------- shipped models still load


def test_shipped_models_are_valid_and_load():
    assert available_models() == SHIPPED
    for name in SHIPPED:
        raw = _shipped(name)
        assert 0 < raw["threshold"] < 1
        assert raw["normalization"]["method"] == "robust"
        assert all(bool(torch.isfinite(t).all()) for t in raw["state_dict"].values() if t.is_floating_point())
        lm = load_model(name)
        assert lm.threshold == raw["threshold"] and lm.module == name
        assert lm.normalization == raw["normalization"]


# --------------------------------------------------------------------------- threshold


@pytest.mark.parametrize("thr", [float("nan"), float("inf"), 5.0, 5, -1.0, 0.0, 1.0, True, "0.5", None])
def test_threshold_must_be_finite_and_strictly_between_0_and_1(tmp_path, uni, thr):
    path = _write(tmp_path, _copy(uni, threshold=thr))
    msg = _refused(path, "threshold", "between 0 and 1", "re-export")
    assert repr(thr) in msg


def test_threshold_just_inside_the_range_loads(tmp_path, uni):
    lm = load_model(_write(tmp_path, _copy(uni, threshold=0.05)))
    assert lm.threshold == 0.05 and isinstance(lm.threshold, float)


def test_save_model_refuses_thresholds_that_load_model_refuses(tmp_path, uni):
    net = build_model(uni["config"], init=False)
    kw = dict(name="x", module="uni", config=uni["config"], normalization=uni["normalization"], card={})
    for thr in (0.0, 1.0):
        with pytest.raises(OptionError, match="neither 0 nor 1"):
            save_model(tmp_path / "x.pt", net, threshold=thr, **kw)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- weights


def test_all_nan_weights_are_refused(tmp_path, uni):
    state = {k: (torch.full_like(v, float("nan")) if v.is_floating_point() else v) for k, v in uni["state_dict"].items()}
    _refused(_write(tmp_path, _copy(uni, state_dict=state)), "NaN or infinite", "re-train or re-export")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_one_non_finite_weight_is_refused_and_named(tmp_path, uni, value):
    state = dict(uni["state_dict"])
    key = "encoder.blocks.1.0.0.weight"
    t = state[key].clone()
    t.view(-1)[7] = value
    state[key] = t
    msg = _refused(_write(tmp_path, _copy(uni, state_dict=state)), "NaN or infinite")
    assert key in msg and "1 weight tensor(s)" in msg


def test_large_finite_weights_whose_sum_overflows_still_load(tmp_path, uni):
    # running variances near float32's maximum: their sum overflows, but every value is finite
    state = dict(uni["state_dict"])
    key = next(k for k in state if k.endswith("running_var"))
    state[key] = torch.full(state[key].shape, 3e38, dtype=torch.float32)
    lm = load_model(_write(tmp_path, _copy(uni, state_dict=state)))
    assert lm.net.state_dict()[key].min().item() == pytest.approx(3e38, rel=1e-6)


def test_complex_weights_are_refused_before_loading(tmp_path, uni):
    state = {k: (v.to(torch.complex64) if v.is_floating_point() else v) for k, v in uni["state_dict"].items()}
    msg = _refused(_write(tmp_path, _copy(uni, state_dict=state)), "must be real numbers", "complex64")
    assert "re-export" in msg


def test_one_complex_tensor_is_refused(tmp_path, uni):
    state = dict(uni["state_dict"])
    key = "head.weight"
    state[key] = state[key].to(torch.complex64)
    msg = _refused(_write(tmp_path, _copy(uni, state_dict=state)), "must be real numbers")
    assert key in msg


# --------------------------------------------------------------------------- normalization


@pytest.mark.parametrize(
    ("norm", "fragment"),
    [
        ({}, "it is empty"),
        ({"low": 50.0, "high": 99.5}, "must name its method"),
        ("robust", "must be a dict"),
        ({"method": "zscore"}, "unknown normalisation method 'zscore'"),
        ({"method": "robust", "gamma": 2.0}, "unknown setting(s) ['gamma']"),
        ({"method": "robust", "low": "abc"}, "0 <= low < high <= 100"),
        ({"method": "robust", "low": 99.5, "high": 50.0}, "0 <= low < high <= 100"),
        ({"method": "robust", "high": float("nan")}, "0 <= low < high <= 100"),
        ({"method": "robust", "high": 150.0}, "0 <= low < high <= 100"),
        ({"method": "robust", "clip": [5.0, -2.0]}, "'clip' must be two finite numbers"),
        ({"method": "robust", "clip": "abc"}, "'clip' must be two finite numbers"),
        ({"method": "robust", "clip": [-2.0, float("inf")]}, "'clip' must be two finite numbers"),
    ],
)
def test_bad_normalization_is_refused(tmp_path, uni, norm, fragment):
    _refused(_write(tmp_path, _copy(uni, normalization=norm)), "'normalization'", fragment)


def test_normalization_may_leave_out_the_documented_defaults(tmp_path, uni):
    # kymotrace.segment.normalize_with documents defaults for low, high and clip
    lm = load_model(_write(tmp_path, _copy(uni, normalization={"method": "robust"})))
    assert lm.normalization == {"method": "robust"}


# --------------------------------------------------------------------------- format, config, name


@pytest.mark.parametrize("fmt", [True, False, 1.0, "1", 0, -1, None])
def test_format_must_be_the_integer_1(tmp_path, uni, fmt):
    msg = _refused(_write(tmp_path, _copy(uni, format=fmt)), "invalid 'format' entry", "must be the integer 1")
    assert "upgrade kymotrace" not in msg


def test_newer_format_asks_for_an_upgrade(tmp_path, uni):
    _refused(_write(tmp_path, _copy(uni, format=2)), "model format 2", "upgrade kymotrace")


def test_empty_config_says_the_config_is_missing(tmp_path, uni):
    msg = _refused(_write(tmp_path, _copy(uni, config={})), "no architecture config", "re-export")
    assert "got arch" not in msg


def test_config_that_is_not_a_dict_is_refused(tmp_path, uni):
    _refused(_write(tmp_path, _copy(uni, config=[1, 2])), "no architecture config", "a list")


def test_incomplete_config_names_the_missing_keys(tmp_path, uni):
    cfg = {k: v for k, v in uni["config"].items() if k not in ("base", "out_channels")}
    msg = _refused(_write(tmp_path, _copy(uni, config=cfg)), "incomplete architecture config")
    assert "'base'" in msg and "'out_channels'" in msg and "got arch" not in msg


@pytest.mark.parametrize("name", [None, "", 3])
def test_name_must_be_a_non_empty_string(tmp_path, uni, name):
    _refused(_write(tmp_path, _copy(uni, name=name)), "invalid 'name' entry")


def test_a_refused_file_is_reported_by_the_cli_without_traceback(tmp_path, uni, capsys):
    from kymotrace.cli import main

    bad = _write(tmp_path, _copy(uni, threshold=float("nan")), "nan_threshold.pt")
    rc = main(["bench", "--method", "kymotrace", "--mode", "uni", "--model", str(bad), "--sets", "uni", "--limit", "1"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "nan_threshold.pt" in err and "threshold" in err and "Traceback" not in err
    assert math.isnan(torch.load(bad, weights_only=True)["threshold"])  # the file itself is untouched
