"""Neural networks of kymotrace: the U-Net core, the four modules, model files and the registry.

``from kymotrace.models import available_models`` does not import torch; the network classes
and :func:`build_model` import it when first used.

Public API
----------
build_model(config, rng=None, init=True) network from an architecture config
default_config(module, **overrides)     config of "classifier", "uni", "bi" or "decision"
save_model(path, model, ...)            write a self-describing model file (atomic)
load_model(name_or_path, device="cpu")  -> LoadedModel
available_models()                      names of the shipped models
"""

from __future__ import annotations

import importlib
from typing import Any

from .registry import FORMAT, LoadedModel, available_models, load_model, resolve_device, save_model, weights_dir

_LAZY = {
    "build_model": "unet",
    "default_config": "unet",
    "validate_config": "unet",
    "context_radius": "unet",
    "count_parameters": "unet",
    "UNet": "unet",
    "Classifier": "unet",
    "MODULES": "unet",
    "CLASSES": "unet",
}

__all__ = [
    "FORMAT",
    "LoadedModel",
    "available_models",
    "load_model",
    "save_model",
    "resolve_device",
    "weights_dir",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
