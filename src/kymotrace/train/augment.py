"""Augmentations for training (numpy only).

Geometry: reflections along either axis and 180° rotations, with the unidirectional rule that a
single reflection turns positive slopes into negative ones (so its two target maps swap) while a
180° rotation keeps them. Intensity: Gaussian and uniform noise, background gradients, row
flicker and intensity scaling/offsets. Polarity is normalised at the input, so only the
classifier sees colour negation (as in the paper).
"""

from __future__ import annotations

import numpy as np

__all__ = ["flip_pair", "intensity_augment", "random_crop"]


def flip_pair(
    image: np.ndarray, target: np.ndarray | None, rng: np.random.Generator, *, uni: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Random reflection in t and/or x. ``target`` is [C, H, W]; for uni (C=2) a single
    reflection swaps the positive- and negative-slope maps."""
    ft, fx = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
    if ft:
        image = image[::-1]
        target = None if target is None else target[:, ::-1]
    if fx:
        image = image[:, ::-1]
        target = None if target is None else target[:, :, ::-1]
    if uni and target is not None and (ft != fx):
        target = target[::-1]
    image = np.ascontiguousarray(image)
    target = None if target is None else np.ascontiguousarray(target)
    return image, target


def random_crop(
    arrays: list[np.ndarray], size: tuple[int, int], rng: np.random.Generator
) -> list[np.ndarray]:
    """Crop the same random window of ``size`` (h, w) from each array (last two axes).

    Arrays smaller than ``size`` are reflect-padded first."""
    h, w = arrays[0].shape[-2:]
    ch, cw = size
    ph, pw = max(0, ch - h), max(0, cw - w)
    if ph or pw:
        pad = lambda a: np.pad(a, [(0, 0)] * (a.ndim - 2) + [(0, ph), (0, pw)], mode="reflect" if a.dtype != bool else "constant")
        arrays = [pad(a) for a in arrays]
        h, w = arrays[0].shape[-2:]
    y = int(rng.integers(0, h - ch + 1))
    x = int(rng.integers(0, w - cw + 1))
    return [a[..., y : y + ch, x : x + cw] for a in arrays]


def intensity_augment(image: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Random Gaussian/uniform noise, background gradient, row flicker and scaling.

    Works in units of the image's robust noise scale so it is dtype independent."""
    img = image.astype(np.float32, copy=True)
    med = float(np.median(img))
    scale = float(np.median(np.abs(img - med)) * 1.4826) or float(img.std()) or 1.0
    h, w = img.shape
    if rng.random() < 0.5:
        img += rng.normal(0, strength * rng.uniform(0, 0.6) * scale, img.shape).astype(np.float32)
    if rng.random() < 0.3:
        a = strength * rng.uniform(0, 0.8) * scale
        img += rng.uniform(-a, a, img.shape).astype(np.float32)
    if rng.random() < 0.5:
        amp = strength * rng.uniform(0, 3.0) * scale
        ang = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        ramp = (np.cos(ang) * yy / max(h, 1) + np.sin(ang) * xx / max(w, 1)).astype(np.float32)
        img += amp * ramp
    if rng.random() < 0.4:
        img += (rng.normal(0, strength * rng.uniform(0, 0.5) * scale, (h, 1))).astype(np.float32)
    if rng.random() < 0.25:
        # smooth, blobby noise as left by resizing or compression of real kymographs
        from scipy.ndimage import zoom

        f = float(rng.uniform(1.5, 4.0))
        small = rng.normal(0, 1, (max(2, int(h / f) + 1), max(2, int(w / f) + 1)))
        blob = zoom(small, (h / small.shape[0], w / small.shape[1]), order=1)[:h, :w]
        img += (strength * rng.uniform(0.2, 0.8) * scale * blob).astype(np.float32)
    if rng.random() < 0.5:
        img = img * np.float32(rng.uniform(0.3, 3.0)) + np.float32(rng.normal(0, 5 * scale))
    return img
