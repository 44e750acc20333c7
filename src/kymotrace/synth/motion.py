"""Particle motion for synthetic kymographs: uni- and bidirectional paths, gaps, clipping.

Positions are continuous (px, column coordinate, 0-based); one position per frame. A path is
first simulated over the particle's whole life, then clipped to the image: frames ``0..T-1``
and positions ``-0.5 <= x < W - 0.5`` (pixels ``0..W-1``). The ground-truth track is the first
in-image run of the path, so a particle may enter from an edge, and a particle that leaves the
image ends there (it is not drawn afterwards, even if its path comes back).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from ..track import Track

__all__ = ["FWHM_PER_SIGMA", "uni_paths", "bi_paths", "add_gaps", "drop_hidden", "draw"]

#: FWHM of a Gaussian divided by its sigma
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def draw(rng: np.random.Generator, value, size=None):
    """A uniform draw from ``value`` (a scalar is returned as is, a pair [lo, hi] is a range)."""
    if isinstance(value, (list, tuple)):
        lo, hi = float(value[0]), float(value[1])
        return rng.uniform(lo, hi, size) if size is not None else float(rng.uniform(lo, hi))
    return np.full(size, float(value)) if size is not None else float(value)


def _ar1(rng: np.random.Generator, n: int, sigma: float, rho: float) -> np.ndarray:
    """Velocity noise: AR(1) with lag-1 correlation ``rho`` whose running sum diffuses like
    white noise of std ``sigma`` per frame (innovations ``sigma * (1 - rho)``)."""
    if sigma <= 0 or n == 0:
        return np.zeros(n)
    w = rng.standard_normal(n) * sigma * (1.0 - rho)
    w[0] = rng.standard_normal() * sigma * np.sqrt((1.0 - rho) / (1.0 + rho))
    return lfilter([1.0], [1.0, -rho], w)


def _clip(start: int, x: np.ndarray, frames: int, width: int) -> tuple[int, np.ndarray] | None:
    """First in-image run of a path that starts at frame ``start``: (first frame, positions)."""
    t = start + np.arange(x.size)
    inside = (t >= 0) & (t < frames) & (x >= -0.5) & (x < width - 0.5)
    idx = np.flatnonzero(inside)
    if idx.size == 0:
        return None
    i0 = idx[0]
    outside_after = np.flatnonzero(~inside[i0:])
    i1 = i0 + (outside_after[0] if outside_after.size else inside.size - i0)
    return int(t[i0]), x[i0:i1]


def _sizes(rng: np.random.Generator, size, n: int) -> np.ndarray:
    return np.asarray(draw(rng, size, n), dtype=float)


def _brightness(rng: np.random.Generator, spread: float, n: int) -> np.ndarray:
    """Per-particle peak brightness factors, lognormal with mean 1."""
    if spread <= 0:
        return np.ones(n)
    return np.exp(spread * rng.standard_normal(n) - 0.5 * spread**2)


def uni_paths(k: dict, rng: np.random.Generator, derived: dict) -> list[Track]:
    """Unidirectional particles: ``n_pos`` moving to +x, ``n_neg`` to -x, one speed per kymograph.

    Seeds are spread over ``t0 ~ U(-0.3 T, T)`` and ``x0`` over the image plus 15 % of its width
    on the side a particle comes from, so tracks also enter from the edges. Lifetimes are
    exponential with mean ``lifetime``. ``Track.size`` holds the FWHM (converted later) and
    ``Track.brightness`` the relative brightness factor.
    """
    T, W = k["frames"], k["width"]
    speed = draw(rng, k["speed"])
    vel_noise = draw(rng, k["vel_noise"])
    derived.update(speed=speed, vel_noise=vel_noise)
    n = k["n_pos"] + k["n_neg"]
    dirs = np.concatenate([np.ones(k["n_pos"]), -np.ones(k["n_neg"])])
    speeds = speed * np.clip(1.0 + k["speed_spread"] * rng.standard_normal(n), 0.1, None)
    pad = 0.15 * W
    t0 = np.floor(rng.uniform(-0.3 * T, T, n)).astype(int)
    x0 = np.where(dirs > 0, rng.uniform(-pad, W, n), rng.uniform(0, W + pad, n))
    life = np.maximum(1, np.ceil(rng.exponential(k["lifetime"], n))).astype(int)
    sizes = _sizes(rng, k["size"], n)
    bright = _brightness(rng, k["brightness_spread"], n)
    tracks = []
    for i in range(n):
        # only simulate the part that can fall inside frames 0..T-1
        first = max(t0[i], 0)
        last = min(t0[i] + life[i], T)  # exclusive
        if last <= first:
            continue
        steps = np.arange(first - t0[i], last - t0[i])
        noise = np.cumsum(_ar1(rng, steps[-1] + 1, vel_noise, k["vel_noise_corr"]))[steps]
        x = x0[i] + dirs[i] * speeds[i] * steps + noise
        clipped = _clip(first, x, T, W)
        if clipped is None:
            continue
        s, xs = clipped
        tracks.append(Track(i + 1, np.arange(s, s + xs.size), xs, size=float(sizes[i]), brightness=float(bright[i])))
    return tracks


def bi_paths(k: dict, rng: np.random.Generator, derived: dict) -> list[Track]:
    """Bidirectional particles that switch between moving and stationary and reverse.

    Per kymograph: velocity-noise std, switching and flipping probabilities (drawn from their
    ranges). Per particle: birth ``t0 ~ U(-0.5 T, 0.9 T)``, position ``x0 ~ U(0, W)``, exponential
    lifetime, initial state (moving with probability ``p_moving``), speed from ``speed`` and a
    random direction. Per frame: switch with ``p_switch``, flip with ``p_flip``; velocity =
    state speed x direction + smooth velocity noise.
    """
    T, W = k["frames"], k["width"]
    vel_noise = draw(rng, k["vel_noise"])
    p_switch = draw(rng, k["p_switch"])
    p_flip = draw(rng, k["p_flip"])
    derived.update(vel_noise=vel_noise, p_switch=p_switch, p_flip=p_flip)
    n = k["n_tracks"]
    t0 = np.floor(rng.uniform(-0.5 * T, 0.9 * T, n)).astype(int)
    x0 = rng.uniform(-0.5, W - 0.5, n)
    life = np.maximum(1, np.ceil(rng.exponential(k["lifetime"], n))).astype(int)
    moving0 = rng.random(n) < k["p_moving"]
    speeds = np.asarray(draw(rng, k["speed"], n), dtype=float)
    dir0 = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    sizes = _sizes(rng, k["size"], n)
    bright = _brightness(rng, k["brightness_spread"], n)
    tracks = []
    for i in range(n):
        last = min(t0[i] + life[i], T)  # exclusive
        L = last - t0[i]
        if last <= 0 or L <= 0:
            continue
        sw = rng.random(L) < p_switch
        fl = rng.random(L) < p_flip
        sw[0] = fl[0] = False
        moving = moving0[i] ^ (np.cumsum(sw) % 2 == 1)
        direction = dir0[i] * np.where(np.cumsum(fl) % 2 == 1, -1.0, 1.0)
        v = moving * direction * speeds[i] + _ar1(rng, L, vel_noise, k["vel_noise_corr"])
        v[0] = 0.0
        x = x0[i] + np.cumsum(v)
        clipped = _clip(int(t0[i]), x, T, W)
        if clipped is None:
            continue
        s, xs = clipped
        tracks.append(Track(i + 1, np.arange(s, s + xs.size), xs, size=float(sizes[i]), brightness=float(bright[i])))
    return tracks


def _gap_length(rng: np.random.Generator, scale: float, gmax: int) -> int:
    """1 + floor of an exponential(scale) truncated so that the length is at most ``gmax``."""
    u = rng.random()
    top = 1.0 - np.exp(-gmax / scale)
    return int(min(gmax, 1 + np.floor(-scale * np.log(1.0 - u * top))))


def add_gaps(tracks: list[Track], k: dict, rng: np.random.Generator) -> None:
    """Blank interior gaps in place: ``Poisson(gap_rate * len)`` per track, lengths exponential
    (scale ``gap_mean``) truncated to ``1..gap_max`` frames. A gap never touches a track end or
    another gap (at least one visible frame in between), so every gap is a real gap."""
    rate, scale, gmax = k["gap_rate"], k["gap_mean"], k["gap_max"]
    for tr in tracks:
        n = len(tr)
        gap = np.zeros(n, bool)
        if rate > 0 and n >= 3:
            for _ in range(rng.poisson(rate * n)):
                L = _gap_length(rng, scale, gmax)
                if n - L - 1 < 1:
                    continue
                s = int(rng.integers(1, n - L))  # gap frames s..s+L-1, with s >= 1, s+L <= n-1
                if gap[s - 1 : s + L + 1].any():
                    continue
                gap[s : s + L] = True
        tr.gap = gap


def drop_hidden(tracks: list[Track], frames: int, dist: float) -> list[Track]:
    """Drop tracks that lie within ``dist`` px of another visible track in all their visible
    frames (shortest first, so of two identical tracks the longer one stays)."""
    if dist <= 0 or len(tracks) < 2:
        return list(tracks)
    n = len(tracks)
    P = np.full((n, frames), np.nan)
    for i, tr in enumerate(tracks):
        P[i, tr.frames[tr.visible]] = tr.positions[tr.visible]
    keep = np.ones(n, bool)
    order = np.argsort([int(tr.visible.sum()) for tr in tracks], kind="stable")
    for i in order:
        own = ~np.isnan(P[i])
        if not own.any():
            keep[i] = False
            continue
        others = P[keep & (np.arange(n) != i)][:, own]
        if others.size == 0:
            continue
        with np.errstate(invalid="ignore"):
            near = np.abs(others - P[i, own]) < dist
        if near.any(axis=0).all():
            keep[i] = False
    return [tr for tr, kp in zip(tracks, keep) if kp]
