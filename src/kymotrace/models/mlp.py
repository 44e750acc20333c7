"""Small multilayer perceptrons stored as plain JSON numbers and run in numpy, without torch
(the segment linkers, :mod:`kymotrace.trace.relink`, and the mode check,
:mod:`kymotrace.modecheck`).

A spec holds ``mean`` and ``scale`` (input standardisation) and ``layers``: a list of
``{"weight": [n_in][n_out], "bias": [n_out]}``, ReLU between layers, one logit out.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

__all__ = ["read_spec", "parse_mlp", "mlp_probability"]


def read_spec(name: str, *, what: str, shipped: str, adjective: str | None = None) -> tuple[dict, str, str]:
    """``(spec, sha256, path)`` of a shipped spec file (``name``, in the weights folder) or of a
    ``.json`` path. ``what`` names the kind of file in errors ("no linker 'x'"), ``adjective`` (default
    ``what``) in "not a linker file"; ``shipped`` lists the shipped names for the "does not exist" message. Raises ``OptionError`` (no such file) or
    ``InputError`` (not JSON, or not a JSON object)."""
    from ..errors import InputError, OptionError
    from .registry import weights_dir

    adjective = adjective or what
    path = Path(name) if name.endswith(".json") else weights_dir() / f"{name}.json"
    if not path.is_file():
        raise OptionError(f"no {what} {name!r}: {path} does not exist ({shipped})")
    raw = path.read_bytes()
    try:
        spec = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a {adjective} file ({exc})") from None
    if not isinstance(spec, dict):
        raise InputError(f"{path}: not a {adjective} file (expected a JSON object)")
    return spec, hashlib.sha256(raw).hexdigest(), str(path)


def parse_mlp(spec: dict, n_in: int) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """``(mean, scale, layers)`` from a spec with ``n_in`` inputs; ``ValueError`` (or ``KeyError``,
    ``TypeError``) naming what is wrong otherwise."""
    mean = np.asarray(spec["mean"], float)
    scale = np.asarray(spec["scale"], float)
    layers = [(np.asarray(layer["weight"], float), np.asarray(layer["bias"], float)) for layer in spec["layers"]]
    if mean.shape != (n_in,) or scale.shape != (n_in,) or not layers:
        raise ValueError("its scaling or layers have the wrong shape")
    n = n_in
    for w, b in layers:
        if w.ndim != 2 or w.shape[0] != n or b.shape != (w.shape[1],):
            raise ValueError("its layers have the wrong shape")
        n = w.shape[1]
    if n != 1:
        raise ValueError("its last layer must have one output")
    arrays = [mean, scale] + [a for wb in layers for a in wb]
    if not all(np.isfinite(a).all() for a in arrays) or not (scale > 0).all():
        raise ValueError("its numbers must be finite (and its scales positive)")
    return mean, scale, layers


def mlp_probability(x: np.ndarray, mean: np.ndarray, scale: np.ndarray,
                    layers: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Sigmoid of the network's logit for each row of ``x`` (already transformed as the spec expects)."""
    h = (np.asarray(x, float) - mean) / scale
    for w, b in layers[:-1]:
        h = np.maximum(h @ w + b, 0.0)
    w, b = layers[-1]
    z = np.clip((h @ w + b)[:, 0], -50, 50)
    return 1.0 / (1.0 + np.exp(-z))
