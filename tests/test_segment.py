"""Contract tests of the inference helpers (normalisation, padding, tiling, batching)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kymotrace import seeds
from kymotrace.errors import InputError, OptionError
from kymotrace.models import build_model, default_config, load_model, save_model
from kymotrace.segment import (
    ClassProbabilities,
    _tile_plan,
    _tile_shape,
    classifier_input,
    classify,
    crop_to,
    decision_function,
    normalize,
    normalize_with,
    pad_to_multiple,
    predict,
    predict_decision,
    remove_spikes,
    remove_static,
    remove_wide_static,
)

SEED = seeds.TEST.start + 200


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(module: str, *, base: int = 4, **kw) -> torch.nn.Module:
    rng = np.random.default_rng(SEED)
    net = build_model(default_config(module, base=base, **kw), rng=rng)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.from_numpy(rng.normal(0, 0.1, m.num_features).astype(np.float32)))
                m.running_var.copy_(torch.from_numpy(rng.uniform(0.5, 2.0, m.num_features).astype(np.float32)))
    return net.eval()


@pytest.fixture
def kymo(rng):
    """A 37 x 53 uint16 kymograph: noisy background, one bright diagonal track."""
    img = rng.normal(1000, 30, size=(37, 53))
    t = np.arange(37)
    img[t, 5 + t] += 400
    return np.clip(img, 0, 65535).astype(np.uint16)


# --------------------------------------------------------------------------- normalisation


def test_normalize_exact_small_case():
    img = np.arange(101, dtype=np.uint8)  # median 50, 99.5th percentile 99.5
    out = normalize(img.reshape(1, 101))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0], (np.arange(101) - 50) / 49.5, atol=1e-6)


def test_normalize_is_bit_depth_and_offset_independent(rng):
    img8 = rng.integers(0, 256, size=(40, 60)).astype(np.uint8)
    img16 = img8.astype(np.uint16) * 257
    imgf = img8.astype(np.float64) * 0.01 - 7.0
    ref = normalize(img8)
    np.testing.assert_allclose(normalize(img16), ref, atol=1e-6)
    np.testing.assert_allclose(normalize(imgf), ref, atol=1e-5)
    assert ref.min() >= -2 and ref.max() <= 5


def test_normalize_is_idempotent(rng):
    img = rng.gamma(2.0, 100.0, size=(50, 70))
    once = normalize(img)
    np.testing.assert_allclose(normalize(once), once, atol=1e-5)


@pytest.mark.parametrize("value", [0, 7, 65535])
def test_normalize_constant_image_gives_zeros(value):
    out = normalize(np.full((5, 9), value, dtype=np.uint16))
    assert out.dtype == np.float32 and out.shape == (5, 9) and not out.any()
    assert not normalize(np.full((3, 3), 2.5)).any()


def test_normalize_sparse_bright_pixels_fall_back_to_max():
    img = np.zeros((20, 20))
    img[3, 4] = 10.0  # the 99.5th percentile is still 0
    out = normalize(img)
    assert out[3, 4] == 1.0 and out.sum() == 1.0


def test_normalize_non_finite_pixels():
    img = np.arange(20.0).reshape(4, 5)
    img[0, 0], img[1, 1] = np.nan, np.inf
    out = normalize(img)
    assert np.isfinite(out).all() and out[0, 0] == 0 and out[1, 1] == 0
    with pytest.raises(InputError, match="no finite"):
        normalize(np.full((2, 2), np.nan))
    with pytest.raises(InputError, match="real numbers"):
        normalize(np.array([["a"]]))


def test_normalize_with_model_settings(rng):
    img = rng.normal(size=(10, 10))
    np.testing.assert_array_equal(normalize_with(img, {"method": "robust", "version": 1}), normalize(img))
    np.testing.assert_array_equal(normalize_with(img, {"method": "robust", "high": 90}), normalize(img, high=90))
    with pytest.raises(OptionError, match="unknown normalisation method"):
        normalize_with(img, {"method": "zscore"})
    with pytest.raises(OptionError, match="unknown normalisation setting"):
        normalize_with(img, {"method": "robust", "gamma": 2})


# --------------------------------------------------------------------------- static background, spikes


def _particle_rows(t_max: int, width: int, centre, sigma: float, amp: float) -> np.ndarray:
    x = np.arange(width)[None, :]
    return amp * np.exp(-0.5 * ((x - np.asarray(centre, float)[:, None]) / sigma) ** 2)


def test_remove_static_drops_bands_and_keeps_movers(rng):
    t_max, width = 60, 80
    x = np.arange(width)
    band = 300.0 * np.exp(-0.5 * ((x - 40) / 6.0) ** 2)  # a wide static band
    mover = _particle_rows(t_max, width, 10 + np.arange(t_max), 1.5, 200.0)  # crosses the band
    img = 1000.0 + band[None, :] + mover + rng.normal(0, 5, (t_max, width))
    out = remove_static(img.astype(np.uint16))
    assert out.dtype == np.float32 and out.shape == img.shape
    # the band is gone: every column's median sits at the same small offset (the noise's
    # 50th minus 25th percentile, about 0.67 sigma = 3.4)
    med = np.median(out, axis=0)
    assert np.all(np.abs(med - 3.4) < 4.0)  # 60 frames of integer counts: a noisy percentile; the band was 300
    assert np.abs(out[5, 35:45]).max() < 30  # the mover is at x = 15 in frame 5
    # the mover keeps its height, also where it crosses the band (frame 30, x = 40)
    assert out[30, 40] == pytest.approx(200.0, abs=25)
    assert out[5, 15] == pytest.approx(200.0, abs=25)
    with pytest.raises(InputError, match="2-D"):
        remove_static(np.zeros((2, 3, 4)))
    with pytest.raises(OptionError, match="percentile"):
        remove_static(img, percentile=120)


def test_remove_static_keeps_a_long_pause(rng):
    """A mover that pauses for 60 % of the frames keeps its pause (only > 75 % is static)."""
    t_max, width = 100, 60
    centre = np.concatenate([10 + np.arange(20), np.full(60, 29.0), 29 + np.arange(1, 21)])
    img = 100.0 + _particle_rows(t_max, width, centre, 1.5, 200.0) + rng.normal(0, 5, (t_max, width))
    out = remove_static(img)
    assert out[50, 29] == pytest.approx(200.0, abs=25)  # in the middle of the pause


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_remove_wide_static_drops_wide_bands_and_keeps_particles_that_stay_put(seed):
    """Bidirectional kymographs: dim wide bands (sigma 5 px, FWHM 12; one in the middle, one at the
    right edge) and the smooth floor go; a particle sitting still all along (PSF sigma 1.2 px), one
    wandering around its place and a mover crossing a band keep their height. Checked on several
    noise draws (it held on 40 seeds when written)."""
    rng = np.random.default_rng(seed)
    t_max, width = 120, 160
    x = np.arange(width)
    floor = 1000.0 + 0.5 * x  # a fixed gradient across the path
    band = 60.0 * np.exp(-0.5 * ((x - 50) / 5.0) ** 2) + 60.0 * np.exp(-0.5 * ((x - 152) / 5.0) ** 2)
    still = _particle_rows(t_max, width, np.full(t_max, 100.0), 1.2, 150.0)
    walk = 130.0 + np.cumsum(rng.normal(0, 0.7, t_max)).clip(-6, 6)  # wanders +-6 px around 130
    wander = _particle_rows(t_max, width, walk, 1.2, 150.0)
    mover = _particle_rows(t_max, width, 20 + 0.5 * np.arange(t_max), 1.2, 150.0)  # crosses the band at t = 60
    img = floor[None, :] + band[None, :] + still + wander + mover + rng.normal(0, 6, (t_max, width))
    out, n = remove_wide_static(img.astype(np.uint16))
    assert out.dtype == np.float32 and out.shape == img.shape
    assert n >= 2  # the two bands (the wanderer's faint wide footprint, a few counts, may count too)
    # the bands and the floor are gone away from the particles: the middle band stood 60 above the
    # floor at x = 50, the floor itself 1000 + 0.5 x; now those columns sit at the level of the rest
    base = float(np.median(out[:, 75]))
    assert abs(float(np.median(out[:, 50])) - base) < 10
    assert abs(float(np.median(out[:, 152])) - base) < 10  # the band at the edge
    assert abs(base - float(np.median(out[:, 10]))) < 10  # no gradient left
    # the particles keep their height above what is left around them
    assert float(np.median(out[:, 100])) - base == pytest.approx(150.0, abs=25)  # sits still all along
    assert out[60, 50] - base == pytest.approx(150.0, abs=30)  # the mover on the band
    top = [out[t, int(round(walk[t]))] - base for t in range(t_max)]
    assert float(np.median(top)) == pytest.approx(150.0, abs=30)  # the wandering one
    # a kymograph without wide structure loses only its floor
    plain = 1000.0 + still + rng.normal(0, 6, (t_max, width))
    out2, n2 = remove_wide_static(plain)
    assert n2 == 0
    assert float(np.median(out2[:, 100])) - float(np.median(out2[:, 20])) == pytest.approx(150.0, abs=25)


@pytest.mark.parametrize("seed", [0, 1])
def test_remove_wide_static_keeps_a_band_under_a_particle_and_a_cluster_of_still_particles(seed):
    """A band cannot be taken from under a particle without taking some of the particle, so a band
    with a still particle on it stays whole; three still particles 4 px apart make a wide peak in
    the static profile but are particles, and keep their height."""
    rng = np.random.default_rng(seed)
    t_max, width = 120, 160
    x = np.arange(width)
    band = 60.0 * np.exp(-0.5 * ((x - 80) / 5.0) ** 2)
    on_band = 1000.0 + band[None, :] + _particle_rows(t_max, width, np.full(t_max, 80.0), 1.2, 150.0)
    out, n = remove_wide_static(on_band + rng.normal(0, 6, (t_max, width)))
    assert n == 0
    assert float(np.median(out[:, 80])) - float(np.median(out[:, 20])) == pytest.approx(210.0, abs=25)
    cluster = 1000.0 + sum(_particle_rows(t_max, width, np.full(t_max, c), 1.2, 150.0) for c in (76.0, 80.0, 84.0))
    out, n = remove_wide_static(cluster + rng.normal(0, 6, (t_max, width)))
    assert n == 0
    for c in (76, 84):
        assert float(np.median(out[:, c])) - float(np.median(out[:, 20])) == pytest.approx(150.0, abs=30)


def test_remove_wide_static_rejects_bad_input_and_leaves_tiny_images_alone():
    img = 1000.0 + np.zeros((30, 40))
    with pytest.raises(InputError, match="2-D"):
        remove_wide_static(np.zeros((2, 3, 4)))
    with pytest.raises(OptionError, match="min_fwhm"):
        remove_wide_static(img, min_fwhm=0)
    with pytest.raises(OptionError, match="percentile"):
        remove_wide_static(img, percentile=-1)
    for tiny in (np.full((1, 40), 7.0), np.full((30, 15), 7.0)):  # one frame; narrower than 2 bands
        out, n = remove_wide_static(tiny)
        assert n == 0 and out.dtype == np.float32
        np.testing.assert_array_equal(out, tiny.astype(np.float32))


def test_remove_spikes_replaces_lone_pixels_only(rng):
    t_max, width = 50, 60
    img = 100.0 + rng.normal(0, 3, (t_max, width))
    # a sharp fast particle (PSF sigma 0.7 px, 2 px per frame) and a slow broad one
    img += _particle_rows(t_max, width, 5 + 2.0 * np.arange(t_max) % 50, 0.7, 150.0)
    img += _particle_rows(t_max, width, np.full(t_max, 45.0), 2.0, 80.0)
    clean = img.copy()
    spikes = [(3, 30), (20, 52), (40, 15), (47, 1), (10, 0), (0, 25)]  # two on the edges
    for t, xx in spikes:
        img[t, xx] += 2000.0
    out, n = remove_spikes(img)
    assert n == len(spikes)
    for t, xx in spikes:
        assert abs(out[t, xx] - clean[t, xx]) < 40  # back to about the neighbourhood's level
    mask = np.ones(img.shape, bool)
    for t, xx in spikes:
        mask[t, xx] = False
    np.testing.assert_array_equal(out[mask], img[mask].astype(np.float32))  # nothing else changed
    # no spikes: the image comes back unchanged
    out2, n2 = remove_spikes(clean)
    assert n2 == 0
    np.testing.assert_array_equal(out2, clean.astype(np.float32))
    with pytest.raises(InputError, match="2-D"):
        remove_spikes(np.zeros(5))


# --------------------------------------------------------------------------- padding and tiles


@pytest.mark.parametrize("shape", [(37, 53), (17, 300), (1, 1), (2, 16), (16, 32)])
def test_pad_and_crop_round_trip(shape):
    img = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    padded, window = pad_to_multiple(img, 16)
    assert padded.shape[0] % 16 == 0 and padded.shape[1] % 16 == 0
    assert padded.shape[0] - shape[0] < 16 and padded.shape[1] - shape[1] < 16
    np.testing.assert_array_equal(crop_to(padded, window), img)


def test_pad_reflects_and_keeps_leading_axes():
    img = np.arange(3 * 5 * 7).reshape(3, 5, 7)
    padded, (rows, cols) = pad_to_multiple(img, 8)
    assert padded.shape == (3, 8, 8)
    assert (rows.start, cols.start) == (1, 0)  # 3 rows: 1 before, 2 after; 1 column after
    np.testing.assert_array_equal(padded[:, 0, :7], img[:, 1])  # reflection, edge not repeated
    np.testing.assert_array_equal(padded[:, -1, :7], img[:, -3])
    np.testing.assert_array_equal(padded[:, 1:6, 7], img[:, :, -2])
    with pytest.raises(InputError, match="non-empty 2-D"):
        pad_to_multiple(np.zeros((0, 4)))


def test_tile_plan_covers_every_pixel_once():
    assert _tile_plan(100, 128, 32) == [(0, 0, 100)]
    plan = _tile_plan(160, 64, 48)
    starts = [s for s, _, _ in plan]
    assert starts == [0, 16, 32, 48, 64, 80, 96]
    keep = np.zeros(160, int)
    for start, lo, hi in plan:
        keep[lo:hi] += 1
        assert start <= lo < hi <= start + 64
        assert (lo == 0 or lo - start >= 24) and (hi == 160 or start + 64 - hi >= 24)
    assert (keep == 1).all()


# --------------------------------------------------------------------------- predict


@pytest.mark.parametrize(("module", "shape"), [("uni", (37, 53)), ("bi", (17, 300)), ("bi", (1, 1))])
def test_predict_shapes_and_range(module, shape, rng):
    net = tiny(module)
    img = rng.normal(size=shape)
    out = predict(net, img)
    assert out.dtype == np.float32 and out.shape == (net.out_channels, *shape)
    assert np.isfinite(out).all() and (out > 0).all() and (out < 1).all()


def test_predict_equals_manual_forward(kymo):
    net = tiny("uni")
    norm = normalize(kymo)
    padded, window = pad_to_multiple(norm, 16)
    with torch.no_grad():
        ref = torch.sigmoid(net(torch.from_numpy(np.ascontiguousarray(padded))[None, None]))[0].numpy()
    np.testing.assert_allclose(predict(net, kymo), crop_to(ref, window), atol=1e-6)
    # bit depth does not matter, and an already normalised input gives the same maps
    img8 = (kymo // 257).astype(np.uint8)
    np.testing.assert_allclose(predict(net, img8), predict(net, img8.astype(np.uint16) * 257), atol=1e-5)
    np.testing.assert_allclose(predict(net, norm), predict(net, kymo), atol=1e-5)


@pytest.mark.parametrize("batch_size", [1, 5])
def test_tiled_equals_untiled_depth_2(rng, batch_size):
    net = tiny("uni", depth=2, dropout=0.0)  # context 23 px -> automatic overlap 48
    img = rng.normal(size=(150, 130))
    calls = []
    tiled = predict(net, img, tile=64, batch_size=batch_size, progress=lambda d, n: calls.append((d, n)))
    whole = predict(net, img, tile=4096)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    assert calls[-1] == (42, 42) and len(calls) == -(-42 // batch_size)  # 7 x 6 tiles


def test_tiled_equals_untiled_depth_4(rng):
    net = tiny("bi", base=2)  # context 107 px -> automatic overlap 224, tile >= 240
    img = rng.normal(size=(40, 1500))  # padded 48 x 1504: two 48 x 1200 strips
    calls = []
    tiled = predict(net, img, tile=240, progress=lambda d, n: calls.append(n))
    assert calls == [2]
    np.testing.assert_allclose(tiled, predict(net, img), atol=1e-5)


def test_tile_shapes_bound_the_area():
    assert _tile_shape(300, 304, 512, 16) == (300, 304)  # fits: one pass
    assert _tile_shape(2000, 208, 512, 16) == (1248, 208)  # long narrow kymograph: strips
    assert _tile_shape(208, 2000, 512, 16) == (208, 1248)
    assert _tile_shape(4000, 4000, 512, 16) == (512, 512)
    for h, w in [(2000, 208), (4000, 4000), (100000, 16)]:
        th, tw = _tile_shape(h, w, 512, 16)
        assert th * tw <= 512 * 512 and th % 16 == 0 and tw % 16 == 0


def test_small_overlap_is_allowed_but_too_small_tiles_are_not(rng):
    net = tiny("bi", base=2)
    img = rng.normal(size=(20, 200))
    approx = predict(net, img, tile=64, overlap=32)
    assert approx.shape == (1, 20, 200)
    with pytest.raises(OptionError, match="use tile >= 240"):
        predict(net, img, tile=128)
    with pytest.raises(OptionError, match="at least 16"):
        predict(net, img, tile=8, overlap=0)


def test_predict_restores_training_mode_and_ignores_dropout(rng):
    net = tiny("bi", dropout=0.5)
    net.train()
    img = rng.normal(size=(32, 32))
    a, b = predict(net, img), predict(net, img)
    np.testing.assert_array_equal(a, b)
    assert net.training


def test_predict_input_errors(rng):
    net = tiny("bi")
    with pytest.raises(InputError, match=r"\[t, x\]"):
        predict(net, rng.normal(size=(2, 8, 8)))
    with pytest.raises(InputError, match="empty"):
        predict(net, np.zeros((0, 5)))
    with pytest.raises(OptionError, match="normalize=False"):
        predict(tiny("decision"), rng.normal(size=(3, 48, 48)))
    out = predict(tiny("decision"), rng.normal(size=(3, 40, 40)), normalize=False)
    assert out.shape == (1, 40, 40)
    with pytest.raises(OptionError, match="unknown device"):
        predict(net, rng.normal(size=(8, 8)), device="tpu")
    with pytest.raises(OptionError, match="classify"):
        predict(tiny("classifier"), rng.normal(size=(64, 64)))


# --------------------------------------------------------------------------- decision and classifier


def test_predict_decision_batch_equals_single(rng):
    net = tiny("decision")
    crops = rng.normal(size=(3, 3, 48, 48)).astype(np.float32)
    batch = predict_decision(net, crops)
    assert batch.shape == (3, 48, 48) and batch.dtype == np.float32
    singles = np.concatenate([predict_decision(net, crops[i : i + 1]) for i in range(3)])
    np.testing.assert_allclose(batch, singles, atol=1e-6)
    np.testing.assert_allclose(decision_function(net)(crops), batch, atol=1e-6)
    empty = predict_decision(net, np.zeros((0, 3, 48, 48), np.float32))
    assert empty.shape == (0, 48, 48) and empty.dtype == np.float32
    with pytest.raises(InputError, match=r"\[N, 3, H, W\]"):
        predict_decision(net, crops[:, :2])
    with pytest.raises(InputError, match="multiples of 16"):
        predict_decision(net, crops[:, :, :40])


def test_classify(kymo):
    net = tiny("classifier")
    p = classify(net, kymo)
    assert isinstance(p, ClassProbabilities) and 0 < p.uni < 1
    assert p.uni + p.bi == pytest.approx(1.0, abs=1e-6)
    uni, bi = p  # unpacks as (p_uni, p_bi)
    q = classify(net, kymo.astype(np.float64) * 3.5 + 12)
    assert q.uni == pytest.approx(uni, abs=1e-5)
    for shape in [(17, 300), (3, 3), (500, 20)]:
        x = classifier_input(np.ones(shape) * np.arange(shape[1]))
        assert x.shape == (64, 64) and x.dtype == np.float32
    assert not classifier_input(np.full((10, 10), 3.0)).any()
    assert sum(classify(net, np.zeros((5, 5)))) == pytest.approx(1.0)



def test_classify_flips_average_the_mirror_images(kymo):
    net = tiny("classifier")
    views = [kymo, kymo[:, ::-1], kymo[::-1], kymo[::-1, ::-1]]
    singles = [classify(net, np.ascontiguousarray(v)) for v in views]
    avg = classify(net, kymo, flips=True)
    assert avg.bi == pytest.approx(np.mean([q.bi for q in singles]), abs=1e-5)
    assert avg.uni + avg.bi == pytest.approx(1.0, abs=1e-6)
    # a mirrored kymograph gets the same averaged answer
    assert classify(net, np.ascontiguousarray(kymo[::-1]), flips=True).bi == pytest.approx(avg.bi, abs=1e-5)

def test_loaded_models_are_accepted(tmp_path, kymo):
    net = tiny("bi")
    path = tmp_path / "bi.pt"
    save_model(
        path, net, name="bi", module="bi", config=net.config, threshold=0.2, card={},
        normalization={"method": "robust", "high": 99.0},
    )
    model = load_model(path, device="auto")
    out = predict(model, kymo)
    np.testing.assert_allclose(out, predict(net, normalize(kymo, high=99.0), normalize=False), atol=5e-3)
