"""Contract tests of analyze() and the analyze CLI with tiny randomly initialised models."""

from __future__ import annotations

import numpy as np
import pytest

from kymotrace.errors import OptionError
from kymotrace.pipeline import analyze, refine_positions, smooth_positions
from kymotrace.track import Track

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    from kymotrace.models import build_model, default_config, save_model

    d = tmp_path_factory.mktemp("models")
    paths = {}
    for module in ("classifier", "uni", "bi", "decision"):
        cfg = default_config(module, base=4)
        net = build_model(cfg, rng=np.random.default_rng(1))
        p = d / f"tiny_{module}.pt"
        save_model(p, net, name=f"tiny_{module}", module=module, config=cfg, normalization={"method": "robust"},
                   threshold=0.3, card={"note": "random weights for tests"})
        paths[module] = str(p)
    return paths


@pytest.fixture(scope="module")
def kymo():
    from kymotrace.synth import generate

    return generate("bi", rng=np.random.default_rng(95_000_001), width=96, frames=80)


def test_analyze_bi_contract(tiny_models, kymo):
    res = analyze(kymo.image, mode="bi", bi_method="skeleton", decision="motion", model=tiny_models)
    assert res.mode == "bi" and res.mode_confidence is None
    assert set(res.maps) == {"trackness"}
    assert res.maps["trackness"].shape == kymo.image.shape
    assert res.settings["threshold"] == pytest.approx(0.3)
    assert res.settings["threshold_source"] == "model"
    assert res.settings["decision"] == "motion" and res.settings["tracer"] == "skeleton"
    assert res.settings["models"]["bi"]["name"] == "tiny_bi"
    assert all(isinstance(t, Track) for t in res.tracks)
    assert [t.track_id for t in res.tracks] == list(range(1, len(res.tracks) + 1))


def test_analyze_uni_and_auto(tiny_models, kymo):
    res = analyze(kymo.image, mode="uni", threshold=0.5, model=tiny_models)
    assert set(res.maps) == {"positive", "negative"}
    assert res.settings["threshold"] == 0.5 and res.settings["threshold_source"] == "user"
    assert res.settings["tracer"] == "assign"
    auto = analyze(kymo.image, mode="auto", bi_method="skeleton", decision="net", model=tiny_models)
    assert auto.mode in ("uni", "bi")
    c = auto.settings["classifier"]
    assert c["p_uni"] + c["p_bi"] == pytest.approx(1.0)
    # the mode follows the classifier model's threshold on p(bi); the confidence is the chosen
    # class's probability
    assert auto.mode == ("bi" if c["p_bi"] >= c["threshold_p_bi"] else "uni")
    assert auto.mode_confidence == pytest.approx(c["p_bi"] if auto.mode == "bi" else c["p_uni"])
    assert c["flips"] is True


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"threshold": 1.5}, "threshold must be a number between 0 and 1"),
        ({"threshold": 0}, "threshold must be a number between 0 and 1"),
        ({"mode": "sideways"}, "mode must be one of auto, uni, bi"),
        ({"min_frames": 0}, "min_frames must be a whole number >= 1"),
        ({"decision": "coin"}, "decision must be auto, net or motion"),
        ({"bi_method": "coin"}, "bi_method must be assign or skeleton"),
        ({"uni_method": "coin"}, "uni_method must be assign, components or trace"),
    ],
)
def test_analyze_bad_options(tiny_models, kymo, kw, msg):
    with pytest.raises(OptionError, match=msg):
        analyze(kymo.image, model=tiny_models, **kw)


def test_refine_positions_finds_subpixel_centre():
    x = np.arange(40, dtype=float)
    img = np.tile(np.exp(-0.5 * ((x - 20.3) / 1.2) ** 2), (10, 1))
    tr = Track(1, np.arange(10), np.full(10, 20.0))
    out = refine_positions(img, tr)
    np.testing.assert_allclose(out.positions, 20.3, atol=0.05)


def test_refine_positions_keeps_gaps_interpolated():
    x = np.arange(40, dtype=float)
    img = np.tile(np.exp(-0.5 * ((x - 10.0) / 1.2) ** 2), (6, 1))
    img[5] = np.exp(-0.5 * ((x - 14.0) / 1.2) ** 2)
    tr = Track(1, np.arange(6), [10, 10, 11, 12, 13, 14], gap=[0, 0, 1, 1, 1, 0])
    out = refine_positions(img, tr)
    np.testing.assert_allclose(out.positions[[2, 3, 4]], [11, 12, 13], atol=0.05)


def test_smooth_positions_removes_one_frame_jitter_only():
    f = np.arange(12)
    jitter = np.array([0, 0.8, 0, -0.8, 0, 0.8, 0, -0.8, 0, 0.8, 0, 0])
    still = Track(1, f, 30.0 + jitter)
    out = smooth_positions(still)
    np.testing.assert_allclose(out.positions, 30.0)  # a stationary particle no longer "moves"
    mover = Track(2, f, 5.0 + 2.0 * f)
    np.testing.assert_allclose(smooth_positions(mover).positions, mover.positions)  # straight runs unchanged
    step = Track(3, f, np.where(f < 6, 10.0, 20.0))
    np.testing.assert_allclose(smooth_positions(step).positions, step.positions)  # a jump is kept, not blurred
    short = Track(4, f[:2], [1.0, 3.0])
    assert smooth_positions(short) is short


def test_linear_smoothing_keeps_steady_motion_and_averages_noise():
    f = np.arange(40)
    line = Track(1, f, 3.0 + 1.7 * f)
    np.testing.assert_allclose(smooth_positions(line, 7, "linear").positions, line.positions, atol=1e-9)  # ends too
    noise = np.random.default_rng(3).normal(0, 0.6, f.size)
    out = smooth_positions(Track(2, f, 3.0 + 1.7 * f + noise), 7, "linear")
    err_before = np.abs(noise).mean()
    err_after = np.abs(out.positions - (3.0 + 1.7 * f)).mean()
    assert err_after < 0.6 * err_before
    assert smooth_positions(Track(3, f[:6], f[:6] * 1.0), 7, "linear").positions.tolist() == list(range(6))
    with pytest.raises(OptionError, match="median"):
        smooth_positions(line, 3, "mean")


def test_refine_keeps_traced_position_where_the_particle_is_dim():
    # a bright particle at x = 20.3, except in frames 4 and 5 where it has vanished (a short gap
    # the segmenter bridged) and a noise speck sits 2 px away: those frames keep the traced 20.0
    h, w = 10, 40
    x = np.arange(w)
    img = np.exp(-0.5 * ((x - 20.3) / 1.5) ** 2)[None, :].repeat(h, 0).astype(np.float32)
    img[4:6] = 0.0
    img[4:6, 22] = 0.2
    tr = Track(1, np.arange(h), np.full(h, 20.0))
    out = refine_positions(img, tr)
    np.testing.assert_allclose(out.positions[[0, 1, 2, 3, 6, 7, 8, 9]], 20.3, atol=0.02)
    np.testing.assert_allclose(out.positions[[4, 5]], 20.0)
    every = refine_positions(img, tr, weak=0)  # the old behaviour follows the speck
    assert np.all(np.abs(every.positions[[4, 5]] - 20.0) > 1.5)


def test_both_tracers_on_each_mode(tiny_models, kymo):
    for mode, methods in (("bi", {"bi_method": "assign"}), ("uni", {"uni_method": "components"})):
        res = analyze(kymo.image, mode=mode, model=tiny_models, **methods)
        assert res.settings["tracer"] == next(iter(methods.values()))
        assert res.settings["position_smoothing"] == ("running median of 3 frames" if mode == "bi" else "local linear fit over 7 frames")
        assert all(np.all(np.diff(t.frames) == 1) for t in res.tracks)


def test_line_fit_smoothing_equals_savitzky_golay_order_1():
    from scipy.signal import savgol_filter

    from kymotrace.pipeline import _line_fit_smooth

    rng = np.random.default_rng(5)
    for n in (7, 8, 13, 60):
        x = rng.normal(size=n).cumsum()
        np.testing.assert_allclose(_line_fit_smooth(x, 7), savgol_filter(x, 7, 1, mode="interp"), atol=1e-9)
