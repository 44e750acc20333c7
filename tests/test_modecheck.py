"""The mode check (kymotrace.modecheck): the classifier's call combined with the traced tracks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kymotrace import seeds
from kymotrace.errors import InputError, OptionError
from kymotrace.modecheck import MODE_FEATURES, ModeCheck, load_modecheck, mode_features
from kymotrace.track import Track


def _f(features):
    return dict(zip(MODE_FEATURES, features))


def test_steady_movers_look_unidirectional():
    t = np.arange(100)
    tracks = [Track(1, t, 10 + 0.8 * t), Track(2, t, 200 - 1.2 * t), Track(3, t[:5], 50 + t[:5])]
    f = _f(mode_features(tracks, 0.2, 100))
    assert f["logit_p_bi"] == pytest.approx(np.log(0.2 / 0.8))
    assert f["log_n_tracks"] == pytest.approx(np.log(3))  # the 5-frame track is too short to count
    assert f["frac_switching"] == f["frac_reversing"] == f["frac_stationary"] == f["frac_paused_frames"] == 0
    assert f["frac_moving"] == 1 and f["irregularity"] == pytest.approx(0, abs=1e-9)
    assert f["direction_balance"] == 0  # one each way
    assert f["log_speed"] == pytest.approx(np.log(1.0 + 0.01))
    assert f["lifetime"] == 1.0


def test_pauses_reversals_and_immobile_spots_are_told_apart():
    t = np.arange(60)
    run_pause = np.where(t < 30, 10 + t, 39.0)  # runs 30 frames, then sits 30
    reverse = np.where(t < 30, 100 + t, 159 - t)  # right for 30 frames, then back
    spot = np.full(60, 80.0)
    f = _f(mode_features([Track(1, t, run_pause), Track(2, t, reverse), Track(3, t, spot)], 0.5, 120))
    assert f["frac_stationary"] == pytest.approx(1 / 3)
    assert f["frac_switching"] == pytest.approx(1 / 3)  # only the run-and-pause track
    assert f["frac_reversing"] == pytest.approx(1 / 3)
    # paused frames are counted on the tracks that move at all: ~27 of 120 (not the spot's 60)
    assert 0.15 < f["frac_paused_frames"] < 0.3
    assert f["lifetime"] == 0.5
    # nothing to trace: only the classifier's call is left
    f0 = _f(mode_features([], 1.0, 50))
    assert f0["logit_p_bi"] == 8 and all(v == 0 for k, v in f0.items() if k not in ("logit_p_bi", "log_speed"))


def _spec(**over):
    n = len(MODE_FEATURES)
    w = np.zeros((n, 1))
    w[0] = 1.0  # the classifier's log-odds, as they are
    spec = {"format": 1, "name": "hand", "module": "modecheck", "features": list(MODE_FEATURES), "mean": [0.0] * n,
            "scale": [1.0] * n, "layers": [{"weight": w.tolist(), "bias": [0.0]}], "overrule": 0.7}
    spec.update(over)
    return spec


@pytest.mark.parametrize("change, words", [
    ({"module": "linker"}, "not a mode-check"),
    ({"features": ["logit_p_bi"]}, "features differ"),
    ({"scale": [0.0] * len(MODE_FEATURES)}, "finite"),
    ({"layers": [{"weight": [[1.0, 2.0]] * len(MODE_FEATURES), "bias": [0.0, 0.0]}]}, "one output"),
    ({"overrule": 0.4}, "overrule"),
    ({"overrule": 1.0}, "overrule"),
    ({"mean": [0.0, 1.0]}, "wrong shape"),
    ({"mean": "x"}, "could not convert"),
])
def test_bad_mode_check_files_are_refused(change, words):
    with pytest.raises(InputError, match=f"my.json.*{words}"):
        ModeCheck(_spec(**change), path="my.json")


def test_load_modecheck_errors_and_a_hand_made_file(tmp_path):
    with pytest.raises(OptionError, match="no mode check"):
        load_modecheck("no_such_check")
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(InputError, match="bad.json"):
        load_modecheck(str(bad))
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_spec()))
    check = load_modecheck(str(good))
    assert check.name == "hand" and len(check.sha256) == 64
    feats = mode_features([], 0.9, 10)
    assert check(feats) == pytest.approx(0.9)  # the classifier's call passes through


def test_the_check_overrules_the_classifier_only_when_sure():
    n = len(MODE_FEATURES)
    w = np.zeros((n, 1))
    w[MODE_FEATURES.index("frac_reversing")] = 10.0  # a check that believes reversals only
    check = ModeCheck(_spec(layers=[{"weight": w.tolist(), "bias": [-5.0]}]))
    none, many, some = np.zeros(n), np.zeros(n), np.zeros(n)
    many[MODE_FEATURES.index("frac_reversing")] = 1.0  # p = sigmoid(5) = 0.993
    some[MODE_FEATURES.index("frac_reversing")] = 0.55  # p = sigmoid(0.5) = 0.62: not sure enough
    v = check.decide(0.2, 0.5, many)
    assert v["mode"] == "bi" and v["overruled"] and v["confidence"] == pytest.approx(check(many))
    v = check.decide(0.2, 0.5, some)
    assert v["mode"] == "uni" and not v["overruled"] and v["confidence"] == pytest.approx(0.8)
    v = check.decide(0.9, 0.5, none)  # p = sigmoid(-5): sure it is unidirectional
    assert v["mode"] == "uni" and v["overruled"] and v["confidence"] == pytest.approx(1 - check(none))
    v = check.decide(0.9, 0.5, some)
    assert v["mode"] == "bi" and not v["overruled"] and v["confidence"] == pytest.approx(0.9)


def test_auto_mode_uses_the_shipped_check_and_can_do_without():
    from kymotrace.pipeline import analyze
    from kymotrace.synth import generate

    check = load_modecheck()
    assert check.card["held_out"]  # its card carries the held-out figures
    right = 0
    for i, kind in enumerate(["uni", "bi"] * 2):
        ky = generate(kind, rng=np.random.default_rng(seeds.TEST.start + 7300 + i), frames=160, width=160)
        res = analyze(ky.image)
        mc = res.settings["mode_check"]
        assert mc["name"] == "modecheck" and set(mc["features"]) == set(MODE_FEATURES)
        p_net = res.settings["classifier"]["p_bi"]
        assert mc["overruled"] == ((p_net >= 0.5) != (res.mode == "bi"))
        q = mc["p_bi"] if mc["overruled"] else p_net
        assert res.mode_confidence == pytest.approx(q if res.mode == "bi" else 1 - q)
        right += res.mode == kind
    assert right == 4  # paper-style kymographs: the shipped check is right on all of its held-out ones
    alone = analyze(ky.image, mode_check=False)
    assert alone.settings["mode_check"] == {"used": False, "why": "turned off (mode_check=False, --no-mode-check)"}
    assert alone.mode == ("bi" if alone.settings["classifier"]["p_bi"] >= 0.5 else "uni")
    assert analyze(ky.image, mode="bi").settings["mode_check"] is None  # a forced mode needs no check
    # when the check's answer is bidirectional its trackness map is reused: the same tracks as mode="bi"
    auto = analyze(ky.image, relink=False) if res.mode == "bi" else None
    if auto is not None:
        forced = analyze(ky.image, mode="bi", relink=False)
        assert len(auto.tracks) == len(forced.tracks) > 0
        for a, b in zip(auto.tracks, forced.tracks):
            assert np.array_equal(a.frames, b.frames) and np.allclose(a.positions, b.positions)
        assert np.array_equal(auto.maps["trackness"], forced.maps["trackness"])


def test_the_check_stands_aside_for_other_models_or_a_missing_file(monkeypatch):
    import kymotrace.modecheck as M
    from kymotrace.models.registry import load_model

    cls, bi = load_model("classifier"), load_model("bi")
    check, why = M.usable_modecheck(cls, bi)
    assert check is not None and why == ""
    assert M.usable_modecheck(cls, None) == (None, "no bidirectional segmenter to trace with")

    class Other:
        sha256 = "0" * 64

    assert M.usable_modecheck(cls, Other())[1] == "the bi model is not the one the mode check was trained with"
    assert M.usable_modecheck(Other(), bi)[1] == "the classifier model is not the one the mode check was trained with"

    def missing(name=None):
        raise OptionError("no mode check 'modecheck': gone")

    monkeypatch.setattr(M, "load_modecheck", missing)
    check, why = M.usable_modecheck(cls, bi)
    assert check is None and why.startswith("mode check unavailable: no mode check")


def test_cli_reports_the_mode_check_in_run_json(tiny_model_args, tmp_path):
    import tifffile

    from kymotrace.cli import main

    ky = __import__("kymotrace.synth", fromlist=["generate"]).generate(
        "bi", rng=np.random.default_rng(seeds.TEST.start + 7310), frames=64, width=64)
    src = tmp_path / "k.tif"
    tifffile.imwrite(src, ky.image)
    for extra, why in (([], "the classifier model is not the one the mode check was trained with"),
                       (["--no-mode-check"], "turned off (mode_check=False, --no-mode-check)")):
        out = tmp_path / f"out{len(extra)}"
        assert main(["analyze", str(src), "--out", str(out), "--workers", "1", *tiny_model_args, *extra]) == 0
        run = json.loads((out / "k" / "run.json").read_text())
        text = json.dumps(run)
        assert '"mode_check"' in text and why in text  # tiny models: the check stands aside, and says why


def test_large_kymographs_are_checked_on_their_central_window(monkeypatch):
    import kymotrace.modecheck as M
    from kymotrace.models.registry import load_model
    from kymotrace.synth import generate

    monkeypatch.setattr(M, "MAX_CHECK_SIDE", 96)  # small, so the test runs fast
    monkeypatch.setattr(M, "WINDOW_ABOVE", 150)
    models = (load_model("classifier"), load_model("bi"))
    ky = generate("uni", rng=np.random.default_rng(seeds.TEST.start + 7320), frames=200, width=80)
    p, prob, f = M.check_features(ky.image.astype(np.float32), *models)
    assert prob is None  # only the central 96 frames were traced: no map of the whole to reuse
    assert 0 <= p.bi <= 1 and np.isfinite(f).all()
    small = ky.image[:140].astype(np.float32)  # under WINDOW_ABOVE: traced whole
    p2, prob2, _ = M.check_features(small, *models)
    assert prob2 is not None and prob2.shape[1:] == small.shape
