"""Synthetic movies: ground truth in path coordinates, contrast of the extracted kymograph, knobs."""

from __future__ import annotations

import numpy as np
import pytest

from kymotrace.errors import OptionError
from kymotrace.synth import generate, generate_movie
from kymotrace.synth.kymo import measure_contrast, track_mask

SEED = 95_000_400


def test_ground_truth_matches_the_rendered_kymograph_of_the_same_seed():
    m = generate_movie("bi", rng=SEED, length=120, frames=60, n_tracks=8)
    g = generate("bi", rng=np.random.default_rng(SEED), width=120, frames=60, n_tracks=8)
    assert len(m.tracks) == len(g.tracks) > 0
    for a, b in zip(m.tracks, g.tracks):
        np.testing.assert_array_equal(a.frames, b.frames)
        np.testing.assert_allclose(a.positions, b.positions)
        np.testing.assert_array_equal(a.gap, b.gap)
    assert m.movie.ndim == 3 and m.movie.shape[0] == 60 and m.movie.dtype == np.float32
    seg = np.hypot(*np.diff(m.path, axis=0).T)
    assert seg.sum() == pytest.approx(119.0) and m.path.shape == (25, 2)
    turns = np.abs(np.diff(np.unwrap(np.arctan2(*np.diff(m.path, axis=0).T[::-1]))))
    assert turns.max() > 0.05  # the path is curved
    H, W = m.movie.shape[1:]
    assert (m.path[:, 0] >= 0).all() and (m.path[:, 0] <= W - 1).all()
    assert (m.path[:, 1] >= 0).all() and (m.path[:, 1] <= H - 1).all()


def test_particles_sit_at_their_path_coordinates():
    m = generate_movie("uni", rng=SEED + 1, length=100, frames=30, n_pos=1, n_neg=0, lifetime=1e6, gap_rate=0.0,
                       cnr=60.0, snr=3.0, row_flicker=0.0, jitter=0.0, bend=25.0)
    assert len(m.tracks) == 1
    tr = m.tracks[0]
    k = m.kymograph(width=1)
    peaks = np.argmax(k.image[tr.frames], axis=1)
    inside = (tr.positions > 3) & (tr.positions < 96)
    assert inside.sum() >= 5
    assert np.abs(peaks[inside] - tr.positions[inside]).max() <= 1.0


def test_extracted_kymograph_has_the_requested_contrast():
    m = generate_movie("uni", rng=SEED + 2, length=160, frames=120, snr=1.3, cnr=5.0)
    k = m.kymograph()
    assert k.image.shape == (120, 160)
    tm = track_mask(m.tracks, k.image.shape)
    c = measure_contrast(k.image, tm, m.kymo_signal < 0.02 * 5.0)
    assert c["cnr"] == pytest.approx(5.0, rel=0.1)
    assert c["snr"] == pytest.approx(1.3, rel=0.03)
    assert c["noise_std"] == pytest.approx(1.0, rel=0.1)


def test_realistic_knobs():
    m = generate_movie("bi", rng=SEED + 3, length=100, frames=80, n_tracks=6, camera="poisson", dtype="uint16",
                       offset=100, noise_counts=12, bleach=0.01, bands=0.5, gradient=0.2, psf="airy", blink=0.2,
                       defocus=0.5, noise_corr_t=0.3)
    assert m.movie.dtype == np.uint16 and m.movie.min() >= 0
    assert m.params["camera"] == "poisson" and m.params["derived"]["n_bands"] >= 1
    assert m.params["derived"]["photons_per_unit"] > 0
    k = m.kymograph()
    assert k.image.shape == (80, 100) and np.isfinite(k.image).all()
    # bleaching dims the particles: late tracks fainter than early ones in the noise-free signal
    early, late = m.kymo_signal[:20].max(), m.kymo_signal[-20:].max()
    assert late < early


def test_bad_knobs():
    with pytest.raises(OptionError, match="length="):
        generate_movie("uni", rng=SEED, width=100)
    with pytest.raises(OptionError, match="vertices"):
        generate_movie("uni", rng=SEED, vertices=1)
    with pytest.raises(OptionError, match="unknown knob"):
        generate_movie("uni", rng=SEED, wobble=3)
    with pytest.raises(OptionError, match="outside"):
        generate_movie("uni", rng=SEED, outside=2.0)
    with pytest.raises(OptionError, match=r"knob static: immobile spots are drawn by the kymograph generator only"):
        generate_movie("uni", rng=SEED, static=3)


def test_bench_movie_set_yields_extracted_kymographs():
    from kymotrace.bench import iter_set, load_suite

    specs = {s["name"]: s for s in load_suite()["sets"]}
    spec = specs["movie_bi"]
    assert spec["source"] == "movie" and spec["knobs"]["length"] == 300 and spec["knobs"]["band"] == 20
    (seed, item), = list(iter_set(spec, limit=1))
    assert seed == spec["seed"] and item.image.shape == (300, 300)
    assert all(0 <= t.start and t.end < 300 for t in item.tracks) and len(item.tracks) > 0
