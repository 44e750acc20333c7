"""Knobs of the synthetic kymograph generator: defaults, validation and random sampling.

Every knob has a paper-style default (KymoButler, eLife 2019, 'Synthetic data'). A knob given
as a pair ``(lo, hi)`` is a range: per kymograph or per particle (as documented in
:data:`KNOB_DOCS`) a value is drawn uniformly from it; a scalar fixes the value.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import OptionError

__all__ = ["KNOB_DOCS", "defaults", "resolve_knobs", "sample_knobs", "as_range", "KINDS"]

KINDS = ("uni", "bi")

#: contrast-to-noise ratio measured on the paper's synthetic kymographs (see noise.py docstring)
PAPER_CNR = 4.0
#: std of row means / within-row noise std measured on the paper's synthetic kymographs
PAPER_ROW_FLICKER = 0.635
#: relative frame-to-frame spread of the noise level measured on the paper's kymographs
PAPER_ROW_NOISE_SPREAD = 0.10

_COMMON: dict[str, Any] = {
    "width": 300,
    "frames": 300,
    "snr": None,  # kind default
    "cnr": PAPER_CNR,
    "noise_corr_x": 0.0,
    "noise_corr_t": 0.0,
    "row_flicker": PAPER_ROW_FLICKER,
    "row_noise_spread": PAPER_ROW_NOISE_SPREAD,
    "camera": "gaussian",
    "shot_fraction": 0.8,
    "dtype": "float32",
    "offset": None,
    "noise_counts": None,
    "invert": False,
    "bleach": 0.0,
    "blink": 0.0,
    "gradient": 0.0,
    "bands": 0.0,
    "n_bands": (1, 4),
    "static": 0.0,
    "static_brightness": (0.3, 1.5),
    "blur": 0.0,
    "motion_blur": 0.0,
    "psf": "gaussian",
    "defocus": 0.0,
    "size": None,  # kind default
    "brightness_spread": None,  # kind default
    "lifetime": None,  # kind default
    "speed": None,  # kind default
    "vel_noise": None,  # kind default
    "vel_noise_corr": 0.8,
    "gap_rate": None,  # kind default
    "gap_mean": 2.0,
    "gap_max": 6,
    "min_len": 3,
    "hide_dist": 2.0,
}

_UNI: dict[str, Any] = {
    "snr": 1.2,
    "size": (3.0, 6.0),
    "brightness_spread": 0.1,
    "lifetime": 100.0,
    "speed": (1.0, 3.0),
    "speed_spread": 0.0,
    "vel_noise": (0.0, 0.15),
    "gap_rate": 0.042,
    "n_pos": 30,
    "n_neg": 30,
}

_BI: dict[str, Any] = {
    "snr": 1.4,
    "size": (1.0, 6.0),
    "brightness_spread": 0.35,
    "lifetime": 1000.0,
    "speed": (0.5, 3.0),
    "vel_noise": (0.0, 1.5),
    "gap_rate": 0.0435,
    "n_tracks": 15,
    "p_switch": (0.0, 0.1),
    "p_flip": (0.0, 0.1),
    "p_moving": 0.5,
}

#: one line per knob: meaning, unit, and whether a range is drawn per kymograph or per particle
KNOB_DOCS: dict[str, str] = {
    "width": "positions (columns, px)",
    "frames": "frames (rows)",
    "snr": "contrast ratio: mean image on track pixels / mean on background pixels (> 1)",
    "cnr": "(mean on track pixels - mean on background pixels) / background noise std",
    "noise_corr_x": "lag-1 correlation of the noise along a row (x), in [0, 0.95]",
    "noise_corr_t": "lag-1 correlation of the noise between rows (t), in [0, 0.95]",
    "row_flicker": "std of per-frame background offsets / within-row noise std",
    "row_noise_spread": "relative per-frame spread of the within-row noise level",
    "camera": "'gaussian' (additive noise) or 'poisson' (shot noise + Gaussian read noise)",
    "shot_fraction": "poisson camera: share of within-row noise variance at background that is shot noise",
    "dtype": "'float32', 'uint8' or 'uint16'",
    "offset": "camera offset in output counts (default 100 for uint16, else 0)",
    "noise_counts": "background noise std in output units (default 1 float32, 10 uint16, auto uint8)",
    "invert": "dark tracks on a bright background",
    "bleach": "photobleaching rate per frame: signal x exp(-bleach * t)",
    "blink": "std (log units) of slow per-particle brightness fluctuations",
    "gradient": "relative amplitude of smooth background gradients (0 = flat)",
    "bands": "peak amplitude of static wide vertical bands, relative to the track contrast",
    "n_bands": "number of bands (range per kymograph)",
    "static": "immobile spots per 300 px drawn into the background, *not* tracks (vertical lines "
              "from stuck particles, dirt or camera columns, as in many real unidirectional kymographs)",
    "static_brightness": "immobile spots' peak brightness relative to a track's (range per spot)",
    "blur": "extra Gaussian blur sigma (px) of the noise-free image, in t and x",
    "motion_blur": "fraction of the frame interval the exposure lasts (smears fast particles)",
    "psf": "'gaussian', 'airy' (side lobes) or 'lorentzian' (long tails)",
    "defocus": "std of a per-particle slow z-wander, in depths of focus (dims and widens)",
    "size": "particle FWHM in px (range per particle); Track.size is the sigma = FWHM / 2.355",
    "brightness_spread": "std (log units) of per-particle peak brightness",
    "lifetime": "mean particle lifetime in frames (exponential)",
    "speed": "speed px/frame (uni: one per kymograph; bi: per particle)",
    "speed_spread": "uni: relative per-particle speed spread around the kymograph speed",
    "vel_noise": "std of frame-to-frame velocity noise px/frame (range per kymograph)",
    "vel_noise_corr": "lag-1 correlation of the velocity noise (smoothness of wiggles)",
    "gap_rate": "gaps per track frame",
    "gap_mean": "scale (frames) of the exponential gap length distribution",
    "gap_max": "longest gap (frames)",
    "min_len": "tracks shorter than this many frames inside the image are dropped",
    "hide_dist": "px: a track closer than this to another one in all its visible frames is dropped",
    "n_pos": "uni: particles moving towards +x",
    "n_neg": "uni: particles moving towards -x",
    "n_tracks": "bi: particles seeded",
    "p_switch": "bi: per-frame probability of switching moving <-> stationary (range per kymograph)",
    "p_flip": "bi: per-frame probability of reversing direction (range per kymograph)",
    "p_moving": "bi: probability that a particle starts in the moving state",
}

_CHOICES = {
    "camera": ("gaussian", "poisson"),
    "dtype": ("float32", "uint8", "uint16"),
    "psf": ("gaussian", "airy", "lorentzian"),
}


def defaults(kind: str) -> dict[str, Any]:
    """Paper-style default knobs of ``kind`` ('uni' or 'bi')."""
    _check_kind(kind)
    out = dict(_COMMON)
    out.update(_UNI if kind == "uni" else _BI)
    return out


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise OptionError(f"unknown kymograph kind {kind!r}; use 'uni' or 'bi'")


def as_range(name: str, value: Any, lo: float | None = None, hi: float | None = None) -> tuple[float, float]:
    """``value`` (scalar or pair) as a ``(lo, hi)`` float pair, checked against bounds."""
    if isinstance(value, (list, tuple, np.ndarray)):
        if len(value) != 2:
            raise OptionError(f"knob {name}={value!r}: give one number or a pair [lo, hi]")
        a, b = (float(v) for v in value)
    else:
        try:
            a = b = float(value)
        except (TypeError, ValueError):
            raise OptionError(f"knob {name}={value!r}: expected a number or a pair [lo, hi]") from None
    if not (math.isfinite(a) and math.isfinite(b)) or a > b:
        raise OptionError(f"knob {name}={value!r}: expected finite numbers with lo <= hi")
    if (lo is not None and a < lo) or (hi is not None and b > hi):
        raise OptionError(f"knob {name}={value!r}: allowed values lie in [{lo}, {hi}]")
    return a, b


def _num(name: str, value: Any, lo: float, hi: float, *, integer: bool = False, open_lo: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"knob {name}={value!r}: expected a number") from None
    if not math.isfinite(v) or v < lo or v > hi or (open_lo and v <= lo):
        side = "(" if open_lo else "["
        raise OptionError(f"knob {name}={value!r}: allowed values lie in {side}{lo}, {hi}]")
    if integer:
        if v != int(v):
            raise OptionError(f"knob {name}={value!r}: expected a whole number")
        return int(v)
    return v


def resolve_knobs(kind: str, knobs: dict[str, Any]) -> dict[str, Any]:
    """Defaults of ``kind`` updated with ``knobs``, validated and made JSON-serialisable.

    Raises
    ------
    OptionError
        For an unknown knob name (the message lists the valid ones) or a value out of range.
    """
    base = defaults(kind)
    unknown = sorted(set(knobs) - set(base))
    if unknown:
        raise OptionError(
            f"unknown knob(s) {', '.join(unknown)} for kind {kind!r}; valid knobs: {', '.join(sorted(base))}"
        )
    k = dict(base)
    k.update({key: val for key, val in knobs.items()})
    out: dict[str, Any] = {}
    ints = {"width": (8, 8192), "frames": (2, 8192), "gap_max": (1, 1000), "min_len": (1, 8192),
            "n_pos": (0, 10000), "n_neg": (0, 10000), "n_tracks": (0, 10000)}
    floats = {"snr": (1.0, 1e6, True), "cnr": (0.0, 1e6, True), "noise_corr_x": (0.0, 0.95, False),
              "noise_corr_t": (0.0, 0.95, False), "row_flicker": (0.0, 10.0, False),
              "row_noise_spread": (0.0, 2.0, False), "shot_fraction": (0.0, 1.0, False),
              "bleach": (0.0, 1.0, False), "blink": (0.0, 3.0, False), "gradient": (0.0, 0.95, False),
              "bands": (0.0, 10.0, False), "blur": (0.0, 50.0, False), "motion_blur": (0.0, 1.0, False),
              "defocus": (0.0, 10.0, False), "brightness_spread": (0.0, 3.0, False),
              "lifetime": (0.0, 1e9, True), "vel_noise_corr": (0.0, 0.95, False),
              "gap_rate": (0.0, 0.5, False), "gap_mean": (0.0, 1000.0, True), "hide_dist": (0.0, 100.0, False),
              "speed_spread": (0.0, 1.0, False), "p_moving": (0.0, 1.0, False), "static": (0.0, 1000.0, False)}
    ranges = {"size": (0.3, 200.0), "speed": (0.0, 100.0), "vel_noise": (0.0, 20.0),
              "p_switch": (0.0, 1.0), "p_flip": (0.0, 1.0), "n_bands": (0.0, 100.0),
              "static_brightness": (0.0, 100.0)}
    for name, val in k.items():
        if name in ints:
            out[name] = _num(name, val, *ints[name], integer=True)
        elif name in floats:
            lo, hi, open_lo = floats[name]
            out[name] = _num(name, val, lo, hi, open_lo=open_lo)
        elif name in ranges:
            a, b = as_range(name, val, *ranges[name])
            out[name] = [a, b] if a != b else a
        elif name in _CHOICES:
            if val not in _CHOICES[name]:
                raise OptionError(f"knob {name}={val!r}: choose one of {', '.join(_CHOICES[name])}")
            out[name] = str(val)
        elif name == "invert":
            if isinstance(val, str) and val.lower() in ("true", "false", "1", "0", "yes", "no"):
                val = val.lower() in ("true", "1", "yes")
            if not isinstance(val, (bool, np.bool_, int)) or val not in (0, 1):
                raise OptionError(f"knob invert={val!r}: use true or false")
            out[name] = bool(val)
        elif name in ("offset", "noise_counts"):
            if val is None:
                out[name] = None
            else:
                out[name] = _num(name, val, 0.0, 1e9, open_lo=(name == "noise_counts"))
        else:  # pragma: no cover - every knob is classified above
            raise AssertionError(name)
    if out["snr"] <= 1.0:
        raise OptionError(f"knob snr={out['snr']}: must be > 1 (tracks brighter than background)")
    return out


# ---------------------------------------------------------------------------------------------
# random knobs for training variety


def _logu(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def sample_knobs(kind: str, rng: np.random.Generator | int | None, style: str = "varied") -> dict[str, Any]:
    """Random knobs for one training kymograph of ``kind``.

    Parameters
    ----------
    kind : {'uni', 'bi'}
    rng : numpy Generator, int seed or None
    style : {'varied', 'varied+static', 'paper'}
        'paper': the paper's training set-up (bi with 30 tracks); all remaining variety comes from
        the generator's own per-kymograph draws. 'varied': broad, realistic ranges of every knob
        (size, density, contrast, correlated noise, flicker, camera, PSF, bleaching, blinking,
        defocus, gradients, bands, inversion, dtype). Contrast (snr, cnr), image size, PSF
        size, density (visible track frames per area) and every noise knob are drawn from the
        same ranges for both kinds, so a classifier must learn motion, not appearance.

    Returns
    -------
    dict
        Knobs to pass to :func:`kymotrace.synth.generate`.
    """
    _check_kind(kind)
    rng = np.random.default_rng(rng)
    if style == "paper":
        return {} if kind == "uni" else {"n_tracks": 30}
    if style == "varied+static":
        # 'varied', and in 40 % of kymographs of either kind, immobile spots drawn into the
        # background (the same chance and range for both kinds, so immobile lines tell no kind apart)
        k = sample_knobs(kind, rng, style="varied")
        if rng.random() < 0.4:
            k["static"] = round(_logu(rng, 0.5, 12.0), 3)
        return k
    if style != "varied":
        raise OptionError(f"unknown knob style {style!r}; use 'varied', 'varied+static' or 'paper'")
    k: dict[str, Any] = {}
    # shared appearance ------------------------------------------------------------------------
    w = int(round(_logu(rng, 64, 512)))
    t = int(round(_logu(rng, 64, 512)))
    k["width"], k["frames"] = w, t
    k["snr"] = round(1.0 + _logu(rng, 0.05, 3.0), 4)
    # CNR >= 2: below it single particles are invisible and a network trained on them learns to
    # hallucinate tracks in noise (seen on real EB1 kymographs)
    k["cnr"] = round(_logu(rng, 2.0, 12.0), 4)
    k["noise_corr_x"] = round(float(rng.uniform(0.0, 0.85)) if rng.random() < 0.6 else 0.0, 4)
    k["noise_corr_t"] = round(float(rng.uniform(0.0, 0.6)) if rng.random() < 0.4 else 0.0, 4)
    k["row_flicker"] = round(float(rng.uniform(0.0, 1.0)), 4)
    k["row_noise_spread"] = round(float(rng.uniform(0.0, 0.25)), 4)
    if rng.random() < 0.5:
        k["camera"] = "poisson"
        k["shot_fraction"] = round(float(rng.uniform(0.2, 1.0)), 4)
    k["dtype"] = str(rng.choice(["float32", "uint8", "uint16"], p=[0.4, 0.25, 0.35]))
    if k["dtype"] == "uint16":
        k["offset"] = float(rng.choice([0.0, 100.0, 500.0]))
        k["noise_counts"] = round(_logu(rng, 2.0, 60.0), 3)
    k["invert"] = bool(rng.random() < 0.15)
    k["bleach"] = round(float(rng.uniform(0.0, 2.0 / t)) if rng.random() < 0.4 else 0.0, 6)
    k["blink"] = round(float(rng.uniform(0.0, 0.5)) if rng.random() < 0.3 else 0.0, 4)
    # a gradient is relative to the background level; keep its swing within ~3x the track contrast
    grad_max = min(0.6, 3.0 * (k["snr"] - 1.0))
    k["gradient"] = round(float(rng.uniform(0.0, grad_max)) if rng.random() < 0.5 else 0.0, 4)
    if rng.random() < 0.35:
        k["bands"] = round(float(rng.uniform(0.1, 0.8)), 4)
        k["n_bands"] = [1, 5]
    k["blur"] = round(float(rng.uniform(0.3, 1.5)) if rng.random() < 0.3 else 0.0, 4)
    k["psf"] = str(rng.choice(["gaussian", "airy", "lorentzian"], p=[0.6, 0.25, 0.15]))
    k["defocus"] = round(float(rng.uniform(0.2, 1.5)) if rng.random() < 0.3 else 0.0, 4)
    k["brightness_spread"] = round(float(rng.uniform(0.0, 0.6)), 4)
    lo = float(rng.uniform(1.0, 5.0))
    k["size"] = [round(lo, 3), round(lo + float(rng.uniform(0.0, 3.0)), 3)]
    k["gap_rate"] = round(float(rng.uniform(0.0, 0.04)), 5)
    k["gap_mean"] = round(float(rng.uniform(1.0, 3.0)), 3)
    k["hide_dist"] = 2.0
    # density: visible track frames per 300x300 px, the same distribution for both kinds
    # 15 % of kymographs are sparse or nearly empty, so that noise without tracks is seen too
    density = _logu(rng, 0.3, 2.5) if rng.random() >= 0.15 else _logu(rng, 0.01, 0.3)
    # motion -----------------------------------------------------------------------------------
    if kind == "uni":
        spd_lo = _logu(rng, 0.3, 4.0)
        k["speed"] = [round(spd_lo, 3), round(spd_lo * float(rng.uniform(1.0, 1.5)), 3)]
        k["speed_spread"] = round(float(rng.uniform(0.0, 0.6)), 4)
        k["vel_noise"] = [0.0, round(float(rng.uniform(0.0, 0.3)), 3)]
        k["motion_blur"] = round(float(rng.uniform(0.0, 1.0)) if rng.random() < 0.3 else 0.0, 3)
        k["lifetime"] = round(_logu(rng, 5.0, 400.0), 2)  # down to short-lived comets (EB1)
        # the paper's 60 uni seeds give about the same visible track frames as its 15 bi tracks
        n = max(1, int(round(60 * density * (w / 300.0) * (t / 300.0) * _uni_density_factor(k, w, t))))
        frac = float(rng.choice([1.0, 0.0, rng.uniform(0.2, 0.8)], p=[0.2, 0.2, 0.6]))
        k["n_pos"] = int(round(n * frac))
        k["n_neg"] = n - k["n_pos"]
    else:
        k["speed"] = [round(float(rng.uniform(0.2, 0.8)), 3), round(_logu(rng, 1.0, 4.5), 3)]
        k["vel_noise"] = [0.0, round(float(rng.uniform(0.2, 1.5)), 3)]
        k["vel_noise_corr"] = round(float(rng.uniform(0.0, 0.9)), 3)
        k["p_switch"] = [0.0, round(float(rng.uniform(0.01, 0.12)), 4)]
        k["p_flip"] = [0.0, round(float(rng.uniform(0.01, 0.12)), 4)]
        k["p_moving"] = round(float(rng.uniform(0.2, 0.8)), 3)
        k["motion_blur"] = round(float(rng.uniform(0.0, 1.0)) if rng.random() < 0.3 else 0.0, 3)
        k["lifetime"] = round(_logu(rng, 20.0, 3000.0), 2)
        # a bi track lives about min(lifetime, frames) frames, so seeds scale with width
        coverage = max(1.0, 0.5 * t / k["lifetime"])
        k["n_tracks"] = max(1, int(round(15 * density * (w / 300.0) * coverage)))
    return k


def _uni_density_factor(k: dict[str, Any], w: int, t: int) -> float:
    """Seeds needed for the same visible track frames as paper uni, relative to 300x300 defaults.

    A uni particle is visible for about min(lifetime, crossing time) frames; the paper's defaults
    (lifetime 100, speed 2, width 300) give about 70 visible frames per seed.
    """
    speed = float(np.mean(k["speed"]))
    life = float(k["lifetime"])
    crossing = 0.5 * w / max(speed, 0.05)
    visible = 1.0 / (1.0 / life + 1.0 / crossing)
    visible = min(visible, float(t))
    return float(np.clip(70.0 / max(visible, 1.0), 0.2, 5.0))
