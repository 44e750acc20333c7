"""Training and validation samples drawn from :mod:`kymotrace.synth` (numpy only).

Every sample comes from ``numpy.random.default_rng(seed)`` with seeds from
:data:`kymotrace.seeds.TRAIN` (training) or :data:`kymotrace.seeds.VALIDATION` (validation),
so the two never share a kymograph, and neither shares one with the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ..raster import rasterize
from ..track import Track
from .augment import flip_pair, intensity_augment, random_crop

__all__ = [
    "target_maps",
    "make_kymograph",
    "segmentation_sample",
    "segmentation_batch",
    "classifier_sample",
    "classifier_batch",
    "ValItem",
    "validation_items",
]

#: the training target is the ground-truth raster dilated to this width (px)
TARGET_DILATION = 1


def direction(track: Track) -> int:
    """+1 for a track moving toward increasing position, -1 otherwise (uni kymographs)."""
    return 1 if track.positions[-1] >= track.positions[0] else -1


def target_maps(tracks: list[Track], shape: tuple[int, int], module: str) -> np.ndarray:
    """Float32 target maps [C, H, W]: uni -> (positive slope, negative slope); bi -> (all,).

    Gap frames are included: the networks learn to bridge gaps as the paper's did."""
    st = np.ones((3, 3), bool)

    def draw(trs):
        m = rasterize(trs, shape)
        if TARGET_DILATION:
            m = ndi.binary_dilation(m, st, iterations=TARGET_DILATION)
        return m.astype(np.float32)

    if module == "uni":
        return np.stack([draw([t for t in tracks if direction(t) > 0]), draw([t for t in tracks if direction(t) < 0])])
    return draw(tracks)[None]


def make_kymograph(kind: str, rng: np.random.Generator, *, style: str = "varied", size: tuple[int, int] | None = None):
    """One random synthetic kymograph with knobs drawn for training variety."""
    from ..synth import generate, sample_knobs

    knobs = sample_knobs(kind, rng, style=style)
    if size is not None:
        knobs["frames"], knobs["width"] = int(size[0]), int(size[1])
    return generate(kind, rng=rng, **knobs)


def _normalize(img: np.ndarray) -> np.ndarray:
    from ..segment import normalize

    return normalize(img)


def _as_bright(image: np.ndarray, kymo) -> np.ndarray:
    """Undo the generator's inversion: polarity is normalised before the segmenters."""
    img = image.astype(np.float32)
    if kymo.params.get("invert"):
        img = -img
    return img


def segmentation_sample(
    module: str, rng: np.random.Generator, crop: tuple[int, int] = (128, 128), style: str = "varied"
) -> tuple[np.ndarray, np.ndarray]:
    """One augmented (image [H, W], target [C, H, W]) pair for the uni or bi segmenter."""
    kind = module
    if module == "bi" and rng.random() < 0.15:
        kind = "uni"  # the bi module must also handle unidirectional kymographs
    h = int(rng.integers(crop[0], 2 * crop[0] + 1))
    w = int(rng.integers(crop[1], 2 * crop[1] + 1))
    kymo = make_kymograph(kind, rng, style=style, size=(h, w))
    img = _as_bright(kymo.image, kymo)
    tgt = target_maps(kymo.tracks, img.shape, module)
    img, tgt = random_crop([img, tgt], crop, rng)
    img, tgt = flip_pair(img, tgt, rng, uni=(module == "uni"))
    img = intensity_augment(img, rng)
    return _normalize(img), tgt


def segmentation_batch(module: str, rng: np.random.Generator, batch: int, crop=(128, 128), style="varied"):
    xs, ys = zip(*(segmentation_sample(module, rng, crop, style) for _ in range(batch)))
    return np.stack(xs)[:, None].astype(np.float32), np.stack(ys).astype(np.float32)


def classifier_sample(rng: np.random.Generator, style: str = "varied") -> tuple[np.ndarray, int]:
    """One (64x64 normalised image, label) pair: label 0 = unidirectional, 1 = bidirectional.

    Both classes draw SNR, size, density and noise from the same ranges (``sample_knobs``), so the
    classifier has to learn motion, not contrast. Colour negation is applied here only."""
    label = int(rng.random() < 0.5)
    while True:  # a kymograph with (almost) no tracks shows no motion to classify: draw again
        h = int(rng.integers(64, 400))
        w = int(rng.integers(64, 400))
        kymo = make_kymograph("bi" if label else "uni", rng, style=style, size=(h, w))
        if len(kymo.tracks) >= 3:
            break
    img = kymo.image.astype(np.float32)
    img, _ = flip_pair(img, None, rng, uni=False)
    img = intensity_augment(img, rng)
    if rng.random() < 0.2:
        img = -img
    from ..segment import classifier_input

    return classifier_input(img), label


def classifier_batch(rng: np.random.Generator, batch: int, style="varied"):
    xs, ys = zip(*(classifier_sample(rng, style) for _ in range(batch)))
    return np.stack(xs)[:, None].astype(np.float32), np.asarray(ys, dtype=np.int64)


@dataclass
class ValItem:
    """A validation kymograph (full size, polarity normalised, not augmented)."""

    seed: int
    kind: str
    image: np.ndarray
    tracks: list
    style: str


def validation_items(kinds: list[str], n: int, start_seed: int, style: str) -> list[ValItem]:
    """``n`` kymographs per kind, from consecutive validation seeds starting at ``start_seed``."""
    from ..seeds import check_seed
    from ..synth import generate, sample_knobs

    items = []
    for k, kind in enumerate(kinds):
        for i in range(n):
            seed = check_seed(start_seed + 1000 * k + i, "validation")
            rng = np.random.default_rng(seed)
            if style == "paper":
                kymo = generate(kind, rng=rng)
            else:
                knobs = sample_knobs(kind, rng, style=style)
                knobs["frames"], knobs["width"] = 256, 256
                kymo = generate(kind, rng=rng, **knobs)
            items.append(ValItem(seed, kind, _as_bright(kymo.image, kymo), kymo.tracks, style))
    return items
