"""Tests of kymotrace.synth: seeded synthetic kymographs with exact ground truth."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from kymotrace import seeds
from kymotrace.errors import OptionError
from kymotrace.synth import (
    SynthKymograph,
    bidirectional,
    generate,
    measure_contrast,
    sample_knobs,
    unidirectional,
)
from kymotrace.synth import motion, render
from kymotrace.track import Track

S0 = seeds.TEST.start + 7000


def _pure_noise(k: SynthKymograph) -> np.ndarray:
    """Image minus signal and the flat background level (float32 output, no gradient/bands)."""
    return k.image.astype(np.float64) - k.signal - k.params["derived"]["background"]


# --- reproducibility and API ------------------------------------------------------------------


def test_same_seed_same_kymograph_and_different_seed_differs():
    for kind in ("uni", "bi"):
        a = generate(kind, rng=S0)
        b = generate(kind, rng=np.random.default_rng(S0))
        c = generate(kind, rng=S0 + 1)
        assert np.array_equal(a.image, b.image)
        assert len(a.tracks) == len(b.tracks)
        for ta, tb in zip(a.tracks, b.tracks):
            assert np.array_equal(ta.frames, tb.frames)
            assert np.array_equal(ta.positions, tb.positions)
            assert np.array_equal(ta.gap, tb.gap)
            assert ta.size == tb.size and ta.brightness == tb.brightness
        assert not np.array_equal(a.image, c.image)
        assert a.params["seed"] == S0


def test_shapes_ids_ground_truth_fields_and_params():
    k = unidirectional(rng=S0, width=200, frames=120)
    assert isinstance(k, SynthKymograph) and k.kind == "uni"
    assert k.image.shape == (120, 200) and k.image.dtype == np.float32
    assert k.signal.shape == (120, 200) and k.signal.dtype == np.float64
    assert k.background_mask.shape == (120, 200) and k.background_mask.dtype == bool
    assert [t.track_id for t in k.tracks] == list(range(1, len(k.tracks) + 1))
    for t in k.tracks:
        assert t.frames[0] >= 0 and t.frames[-1] < 120
        assert np.all(t.positions >= -0.5) and np.all(t.positions < 199.5)
        assert len(t) >= 3
        assert not t.gap[0] and not t.gap[-1]  # gaps are interior
        assert 3.0 / 2.3549 - 1e-9 <= t.size <= 6.0 / 2.3548 + 1e-9  # sigma from FWHM 3-6
        assert t.brightness > 0
    json.dumps(k.params)  # JSON-serialisable
    assert k.params["kind"] == "uni" and k.params["width"] == 200 and k.params["n_pos"] == 30
    assert 1.0 <= k.params["derived"]["speed"] <= 3.0
    b = bidirectional(rng=S0)
    assert b.kind == "bi" and b.params["n_tracks"] == 15 and b.params["snr"] == 1.4


def test_unknown_knob_and_bad_values_raise():
    with pytest.raises(OptionError, match="valid knobs:.*n_pos"):
        generate("uni", rng=S0, bogus=1)
    with pytest.raises(OptionError, match="n_pos"):
        generate("bi", rng=S0, n_pos=3)  # a uni-only knob
    with pytest.raises(OptionError, match="kind"):
        generate("tri", rng=S0)
    with pytest.raises(OptionError, match="snr"):
        generate("uni", rng=S0, snr=0.9)
    with pytest.raises(OptionError, match="dtype"):
        generate("uni", rng=S0, dtype="int8")
    with pytest.raises(OptionError, match="size"):
        generate("bi", rng=S0, size=[5, 2])
    with pytest.raises(OptionError, match="width"):
        generate("bi", rng=S0, width=-3)


# --- contrast, noise ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind,knobs",
    [
        ("uni", {}),
        ("bi", {}),
        ("bi", {"snr": 2.0, "cnr": 6.0, "psf": "airy"}),
        ("uni", {"snr": 1.5, "cnr": 2.5, "camera": "poisson", "psf": "lorentzian", "noise_corr_x": 0.4}),
    ],
)
def test_measured_snr_and_cnr_match_request(kind, knobs):
    snr, cnr = [], []
    for i in range(3):
        k = generate(kind, rng=S0 + 10 + i, **knobs)
        m = measure_contrast(k.image, k.track_mask(), k.background_mask)
        snr.append(m["snr"])
        cnr.append(m["cnr"])
    want_snr = knobs.get("snr", 1.2 if kind == "uni" else 1.4)
    want_cnr = knobs.get("cnr", 4.0)
    assert abs(np.mean(snr) - want_snr) < 0.02 * want_snr
    assert abs(np.mean(cnr) - want_cnr) < 0.06 * want_cnr


def test_default_noise_is_white_with_row_flicker():
    k = bidirectional(rng=S0 + 20, width=400, frames=400)
    n = _pure_noise(k)
    assert abs(n.std() - 1.0) < 0.05  # noise units
    rows = n.mean(axis=1)
    within = (n - rows[:, None]).std()
    assert abs(rows.std() / within - 0.635) < 0.08
    r = n - rows[:, None]
    assert abs(np.corrcoef(r[:, 1:].ravel(), r[:, :-1].ravel())[0, 1]) < 0.02
    assert abs(np.corrcoef(r[1:].ravel(), r[:-1].ravel())[0, 1]) < 0.02


def test_noise_correlation_and_flicker_knobs():
    k = bidirectional(rng=S0 + 21, width=400, frames=400, noise_corr_x=0.5, noise_corr_t=0.3,
                      row_flicker=0.0, row_noise_spread=0.0)
    n = _pure_noise(k)
    assert abs(np.corrcoef(n[:, 1:].ravel(), n[:, :-1].ravel())[0, 1] - 0.5) < 0.03
    assert abs(np.corrcoef(n[1:].ravel(), n[:-1].ravel())[0, 1] - 0.3) < 0.03
    assert n.mean(axis=1).std() < 0.15  # no flicker: row means vary only by chance


def test_poisson_camera_noise_grows_with_signal():
    k = bidirectional(rng=S0 + 22, camera="poisson", shot_fraction=1.0, row_flicker=0.0,
                      row_noise_spread=0.0, cnr=8.0, snr=3.0)
    d = k.params["derived"]
    assert d["photons_background"] == pytest.approx(d["photons_per_unit"] * d["background"])
    n = _pure_noise(k)
    bright = k.signal > 0.8 * k.signal.max()
    assert n[bright].var() > 1.5 * n[k.background_mask].var()


# --- ground truth consistent with the image ----------------------------------------------------


def test_signal_high_on_visible_points_and_zero_in_isolated_gaps():
    n_checked = 0
    for kind in ("uni", "bi"):
        k = generate(kind, rng=S0 + 30)
        T, W = k.image.shape
        P = np.full((len(k.tracks), T), np.nan)
        for i, t in enumerate(k.tracks):
            P[i, t.frames[t.visible]] = t.positions[t.visible]
        for i, t in enumerate(k.tracks):
            cols = np.clip(np.rint(t.positions).astype(int), 0, W - 1)
            vis = k.signal[t.frames[t.visible], cols[t.visible]]
            assert np.median(vis) > 0.4 * t.brightness
            for f, x in zip(t.frames[t.gap], t.positions[t.gap]):
                others = np.delete(P[:, f], i)
                if np.all(np.isnan(others) | (np.abs(others - x) > 25)):
                    assert k.signal[f, int(np.rint(x))] == 0.0
                    n_checked += 1
    assert n_checked > 20


def test_bands_are_background_not_tracks():
    plain = bidirectional(rng=S0 + 31)
    banded = bidirectional(rng=S0 + 31, bands=0.8, n_bands=2)
    assert len(plain.tracks) == len(banded.tracks)
    for a, b in zip(plain.tracks, banded.tracks):
        assert np.array_equal(a.positions, b.positions)
    assert np.array_equal(plain.signal, banded.signal)
    col = (banded.image.astype(float) - banded.signal).mean(axis=0)
    assert col.max() - col.min() > 0.5 * 4.0  # a visible band profile, in noise units



def test_static_spots_are_vertical_background_lines_not_tracks():
    plain = unidirectional(rng=S0 + 32)
    assert np.array_equal(plain.image, unidirectional(rng=S0 + 32, static=0).image)  # off: same stream
    stat = unidirectional(rng=S0 + 32, static=8, static_brightness=[1.0, 1.0], noise_counts=1e-6, dtype="float32")
    assert stat.params["derived"]["n_static"] > 0
    assert len(plain.tracks) == len(stat.tracks)
    for a, b in zip(plain.tracks, stat.tracks):
        assert np.array_equal(a.positions, b.positions)  # same ground truth: the spots are no tracks
    assert np.array_equal(plain.signal, stat.signal)
    with pytest.raises(OptionError, match=r"knob static=-1: allowed values lie in \[0.0, 1000.0\]"):
        unidirectional(rng=S0 + 32, static=-1)
    with pytest.raises(OptionError, match=r"knob static_brightness=\[2, 1\]: expected finite numbers with lo <= hi"):
        unidirectional(rng=S0 + 32, static=2, static_brightness=[2, 1])
    extra = stat.image.astype(float) - stat.signal
    col = extra.mean(axis=0)
    # the added light sits in a few narrow columns, and it is static (it does not move with time)
    bright = col > col.min() + 0.5 * (col.max() - col.min())
    assert 0 < bright.sum() < 0.3 * col.size
    assert bright.sum() < 8 * stat.params["derived"]["n_static"]


def test_varied_static_style_adds_spots_to_both_kinds_alike():
    n = {"uni": 0, "bi": 0}
    for i in range(200):
        for kind in n:
            k = sample_knobs(kind, np.random.default_rng(seeds.TEST.start + 7200 + i), style="varied+static")
            n[kind] += k.get("static", 0) > 0
    # 40 % of either kind (binomial sd ~7 of 200)
    assert 55 <= n["uni"] <= 105 and 55 <= n["bi"] <= 105

def test_gradient_bleach_defocus_blink_blur_motion_blur_run_and_keep_ground_truth():
    base = unidirectional(rng=S0 + 32)
    k = unidirectional(rng=S0 + 32, gradient=0.5, bleach=0.005, defocus=1.0, blink=0.4, blur=1.0,
                       motion_blur=1.0, brightness_spread=0.5)
    assert len(k.tracks) == len(base.tracks)
    assert all(np.array_equal(a.positions, b.positions) for a, b in zip(k.tracks, base.tracks))
    m = measure_contrast(k.image, k.track_mask(), k.background_mask)
    assert abs(m["snr"] - 1.2) < 0.05


def test_bleaching_decays_a_stationary_particle():
    k = bidirectional(rng=S0 + 33, n_tracks=1, speed=0.0, vel_noise=0.0, p_switch=0.0, lifetime=1e6,
                      gap_rate=0.0, bleach=0.01, brightness_spread=0.0, size=3.0)
    (t,) = k.tracks
    x = int(np.rint(t.positions[0]))
    s = k.signal[t.frames, x]
    assert s[-1] / s[0] == pytest.approx(np.exp(-0.01 * (t.frames[-1] - t.frames[0])), rel=1e-6)


# --- statistics of the paper-style defaults ----------------------------------------------------


def test_gap_counts_and_lengths_match_the_paper():
    for kind, want in (("uni", 95.4), ("bi", 84.0)):
        counts, lengths = [], []
        for i in range(5):
            k = generate(kind, rng=S0 + 40 + i)
            runs = [g for t in k.tracks for g in t.gaps()]
            counts.append(len(runs))
            lengths += [b - a + 1 for a, b in runs]
        assert 0.75 * want < np.mean(counts) < 1.25 * want
        assert min(lengths) >= 1 and max(lengths) <= 6
        assert np.mean(lengths) < 3.0  # exponential: short gaps dominate


def test_uni_lifetimes_have_mean_100_frames():
    k = unidirectional(rng=S0 + 50, frames=2000, width=100, n_pos=200, n_neg=0, speed=0.0,
                       vel_noise=0.0, hide_dist=0.0, gap_rate=0.0, min_len=1)
    lens = [len(t) for t in k.tracks if 0 < t.start < 1100]
    assert len(lens) > 60
    assert 80 < np.mean(lens) < 125


def test_bi_lifetimes_have_mean_1000_frames():
    k = bidirectional(rng=S0 + 51, frames=5000, width=32, n_tracks=300, speed=0.0, vel_noise=0.0,
                      hide_dist=0.0, gap_rate=0.0, min_len=1, size=1.0)
    lens = [len(t) for t in k.tracks if 0 < t.start < 1000]  # ends well before frame 5000
    assert len(lens) > 30
    assert 700 < np.mean(lens) < 1400


def test_uni_slopes_follow_direction_and_share_one_speed():
    pos = unidirectional(rng=S0 + 52, n_neg=0)
    neg = unidirectional(rng=S0 + 52, n_pos=0)
    for k, sign in ((pos, 1), (neg, -1)):
        slopes = [(t.positions[-1] - t.positions[0]) / (len(t) - 1) for t in k.tracks if len(t) >= 10]
        assert len(slopes) > 10
        assert all(np.sign(s) == sign for s in slopes)
        speed = k.params["derived"]["speed"]
        assert np.allclose(np.abs(slopes), speed, atol=0.25)


def test_bi_tracks_move_and_pause():
    k = bidirectional(rng=S0 + 53, p_switch=0.05, p_flip=0.05)
    steps = np.concatenate([np.abs(np.diff(t.positions)) for t in k.tracks])
    assert steps.max() > 1.0  # some moving segments
    assert np.mean(steps < 0.5) > 0.1  # and some stationary ones


def test_hidden_tracks_are_dropped():
    a = Track(1, np.arange(10, 50), np.full(40, 20.0))
    b = Track(2, np.arange(20, 30), np.full(10, 20.5))  # under a for its whole life
    c = Track(3, np.arange(20, 60), np.full(40, 21.0))  # under a only until frame 49
    kept = motion.drop_hidden([a, b, c], 100, 2.0)
    assert [t.track_id for t in kept] == [1, 3]


# --- output formats ----------------------------------------------------------------------------


def test_invert_is_an_exact_mirror_of_the_float_image():
    k = bidirectional(rng=S0 + 60)
    inv = bidirectional(rng=S0 + 60, invert=True)
    d = k.params["derived"]
    top = 2 * d["background"] + d["contrast"]
    assert np.allclose(inv.image, top - k.image.astype(np.float64), atol=1e-3)
    assert inv.image[inv.track_mask()].mean() < inv.image[inv.background_mask].mean()


def test_uint16_camera_offset_and_uint8():
    k = bidirectional(rng=S0 + 61, dtype="uint16", camera="poisson")
    assert k.image.dtype == np.uint16
    d = k.params["derived"]
    assert d["offset"] == 100.0 and d["noise_counts"] == 10.0
    bg = k.image[k.background_mask].astype(float)
    assert bg.mean() == pytest.approx(100 + 10 * d["background"], rel=0.02)
    assert bg.std() == pytest.approx(10.0, rel=0.08)
    k0 = bidirectional(rng=S0 + 61, dtype="uint16", offset=0, noise_counts=5)
    assert k0.image[k0.background_mask].mean() == pytest.approx(5 * d["background"], rel=0.02)
    k8 = unidirectional(rng=S0 + 62, dtype="uint8")
    assert k8.image.dtype == np.uint8
    assert np.mean(k8.image == 255) < 0.002 and k8.image.max() > 200


# --- rendering -----------------------------------------------------------------------------------


def test_render_gaussian_peak_and_area():
    img = render.render_points((1, 41), np.array([0]), np.array([20.0]), np.array([2.0]), np.array([6.0]))
    sigma = 6.0 / 2.3548
    assert img[0, 20] == pytest.approx(2.0, rel=0.01)
    assert img.sum() == pytest.approx(2.0 * sigma * np.sqrt(2 * np.pi), rel=1e-3)
    # sub-pixel shift keeps the area and moves the centroid
    img2 = render.render_points((1, 41), np.array([0]), np.array([20.3]), np.array([2.0]), np.array([6.0]))
    assert img2.sum() == pytest.approx(img.sum(), rel=1e-6)
    assert (img2[0] * np.arange(41)).sum() / img2.sum() == pytest.approx(20.3, abs=1e-3)


def test_render_psf_shapes_have_lobes_and_tails():
    args = (np.array([0]), np.array([40.0]), np.array([1.0]), np.array([4.0]))
    g = render.render_points((1, 81), *args, psf="gaussian")[0]
    a = render.render_points((1, 81), *args, psf="airy")[0]
    lo = render.render_points((1, 81), *args, psf="lorentzian")[0]
    for p in (g, a, lo):  # same FWHM: about half the peak 2 px from the centre
        assert 0.4 < p[38] / p[40] < 0.6
    assert lo[52] > 20 * g[52]  # heavy tails
    d = np.diff(a[40:55])
    assert np.any(d > 0)  # the Airy profile rises again: a side lobe


# --- sample_knobs --------------------------------------------------------------------------------


def test_sample_knobs_generate_and_share_appearance_ranges():
    for i in range(6):
        s = seeds.TEST.start + 7100 + i
        ku = sample_knobs("uni", np.random.default_rng(s))
        kb = sample_knobs("bi", np.random.default_rng(s))
        for key in ("width", "frames", "snr", "cnr", "noise_corr_x", "noise_corr_t", "row_flicker",
                    "camera", "dtype", "size", "psf", "invert"):
            assert ku.get(key) == kb.get(key)
        for kind, kn in (("uni", ku), ("bi", kb)):
            k = generate(kind, rng=np.random.default_rng(s), **kn)
            assert k.image.shape == (kn["frames"], kn["width"])
            assert k.image.dtype == np.dtype(kn["dtype"])
    assert sample_knobs("bi", 1, style="paper") == {"n_tracks": 30}
    assert sample_knobs("uni", 1, style="paper") == {}
    with pytest.raises(OptionError):
        sample_knobs("uni", 1, style="wild")


# --- CLI -------------------------------------------------------------------------------------------


def test_cli_writes_images_tracks_and_params(tmp_path):
    from kymotrace.cli import main
    from kymotrace.tracksio import read_tracks_csv

    seed = seeds.TEST.start + 7200
    rc = main(["synth", "--kind", "bi", "-n", "2", "--seed", str(seed), "-o", str(tmp_path),
               "--knob", "dtype=uint16", "--knob", "size=2,4", "--knob", "n_tracks=8"])
    assert rc == 0
    for s in (seed, seed + 1):
        img = tifffile.imread(tmp_path / f"bi_{s}.tif")
        assert img.shape == (300, 300) and img.dtype == np.uint16
        params = json.loads((tmp_path / f"bi_{s}.json").read_text())
        assert params["seed"] == s and params["size"] == [2.0, 4.0] and params["n_tracks"] == 8
        tracks = read_tracks_csv(tmp_path / f"bi_{s}_tracks.csv")
        ref = generate("bi", rng=np.random.default_rng(s), dtype="uint16", size=[2, 4], n_tracks=8)
        assert np.array_equal(img, ref.image)
        assert len(tracks) == len(ref.tracks)
        assert np.allclose(tracks[0].positions, ref.tracks[0].positions)


def test_cli_rejects_unknown_knob_without_writing(tmp_path, capsys):
    from kymotrace.cli import main

    out = tmp_path / "out"
    rc = main(["synth", "--kind", "uni", "-o", str(out), "--knob", "wobble=3"])
    assert rc == 2
    assert "valid knobs" in capsys.readouterr().err
    assert not out.exists()
