"""Self-describing model files and the registry of shipped models.

A model file is ONE ``torch.save`` of a plain dict, readable with ``torch.load(...,
weights_only=True)`` (only tensors, dicts, lists, str, int, float, bool and None)::

    {"format": 1,
     "name": "bi",                       # the model's name
     "module": "bi",                     # classifier | uni | bi | decision
     "config": {...},                    # architecture, see kymotrace.models.unet.default_config
     "normalization": {...},             # input normalisation, see kymotrace.segment.normalize_with
     "threshold": 0.2,                   # tuned default binarisation threshold, 0 < t < 1
     "card": {...},                      # model card: train command, seeds, time, hardware, metrics
     "saved_with": {"kymotrace": "0.1.0", "torch": "2.x"},
     "state_dict": {...}}                # weights as float16 (float32 where float16 would overflow)

Shipped models live in ``kymotrace/models/weights/<name>.pt``. This module imports torch only
inside the functions that need it, so :func:`available_models` is cheap.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, OptionError
from ..fileutil import atomic_path

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

__all__ = ["FORMAT", "LoadedModel", "weights_dir", "available_models", "save_model", "load_model", "resolve_device"]

#: version of the model file layout written by :func:`save_model`
FORMAT = 1
_KEYS = ("format", "name", "module", "config", "normalization", "threshold", "card", "state_dict")
_MODULES = ("classifier", "uni", "bi", "decision")


@dataclass
class LoadedModel:
    """A network loaded from a model file, with everything the file says about it.

    Attributes
    ----------
    name : str
        The model's name (as stored in the file).
    module : str
        "classifier", "uni", "bi" or "decision".
    net : torch.nn.Module
        The network in eval mode, float32, on the requested device.
    config : dict
        Architecture config (rebuilds ``net`` with :func:`kymotrace.models.build_model`).
    normalization : dict
        Input normalisation settings (:func:`kymotrace.segment.normalize_with`).
    threshold : float
        Tuned default threshold for binarising the network's probabilities.
    card : dict
        Model card: how and on what the model was trained, and its validation metrics.
    sha256 : str
        Hex SHA-256 of the model file (record it in run.json).
    path : pathlib.Path
        The file the model was read from.
    """

    name: str
    module: str
    net: "nn.Module" = field(repr=False)
    config: dict
    normalization: dict
    threshold: float
    card: dict = field(repr=False)
    sha256: str
    path: Path


def weights_dir() -> Path:
    """Folder of the shipped model files (``kymotrace/models/weights``)."""
    return Path(__file__).resolve().parent / "weights"


def available_models() -> list[str]:
    """Names of the shipped models, sorted (file stems in :func:`weights_dir`)."""
    folder = weights_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.pt") if not p.name.startswith(".") and p.is_file())


def resolve_device(device: Any = "cpu"):
    """``torch.device`` for "cpu", "cuda", "cuda:N", "auto" (CUDA when available) or a device.

    Raises
    ------
    OptionError
        For an unknown device string, or CUDA asked for but not available.
    """
    import torch

    if isinstance(device, torch.device):
        dev = device
    else:
        name = str(device).strip().lower()
        if name == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            dev = torch.device(name)
        except (RuntimeError, ValueError):
            raise OptionError(f"unknown device {device!r}: use 'auto', 'cpu', 'cuda' or 'cuda:N'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise OptionError(f"device {device!r} asked for, but CUDA is not available here: use 'cpu' or 'auto'")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise OptionError(f"device {device!r} asked for, but MPS is not available here: use 'cpu' or 'auto'")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise OptionError(f"device {device!r} is not supported: use 'auto', 'cpu' or 'cuda'")
    return dev


def _plain(obj: Any, where: str) -> Any:
    """Copy of ``obj`` made only of dict/list/str/int/float/bool/None (tuples -> lists,
    numpy scalars -> Python numbers, paths -> str)."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: keys must be str, got {k!r}")
            out[k] = _plain(v, f"{where}.{k}")
        return out
    if isinstance(obj, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    item = getattr(obj, "item", None)  # numpy / torch scalars
    if callable(item) and getattr(obj, "ndim", None) == 0:
        return _plain(item(), where)
    raise TypeError(f"{where}: {type(obj).__name__} cannot be stored in a model file (use dict/list/str/number/bool/None)")


def _check_module_config(module: str, config: dict, where: str, exc: type[Exception]) -> dict:
    from .unet import MODULE_IO, validate_config

    if module not in _MODULES:
        raise exc(f"{where}: module must be one of {', '.join(_MODULES)}, got {module!r}")
    try:
        cfg = validate_config(config)
    except OptionError as err:
        raise exc(f"{where}: bad architecture config: {err}") from None
    want_arch = "classifier" if module == "classifier" else "unet"
    io_ = (cfg["in_channels"], cfg["out_channels"])
    if cfg["arch"] != want_arch or io_ != MODULE_IO[module]:
        raise exc(
            f"{where}: a {module!r} module needs arch {want_arch!r} with (in, out) channels "
            f"{MODULE_IO[module]}, got arch {cfg['arch']!r} with {io_}"
        )
    return cfg


def save_model(
    path: str | os.PathLike,
    model: "nn.Module",
    *,
    name: str,
    module: str,
    config: dict,
    normalization: dict,
    threshold: float,
    card: dict,
) -> None:
    """Write ``model`` as a self-describing model file (atomically).

    Parameters
    ----------
    path : path-like
        Destination, conventionally ``<name>.pt``; parent folders are created.
    model : torch.nn.Module
        A network built from ``config``; its weights are stored as float16 (a tensor whose
        values float16 cannot hold stays float32), integer buffers unchanged.
    name : str
        The model's name (shipped models: "classifier", "uni", "bi", "decision").
    module : {"classifier", "uni", "bi", "decision"}
    config : dict
        Architecture config; must rebuild ``model`` exactly.
    normalization : dict
        Input normalisation settings used in training.
    threshold : float
        Tuned default threshold, strictly between 0 and 1.
    card : dict
        Model card (train command, seeds, time, hardware, metrics, ...); plain values only.

    Raises
    ------
    OptionError
        For a module/config mismatch, a threshold outside (0, 1) or weights that do not fit
        ``config``.
    TypeError
        For metadata that is not made of plain values.
    """
    import torch

    from .. import __version__
    from .unet import build_model

    if not isinstance(name, str) or not name or any(c in name for c in "/\\"):
        raise OptionError(f"model name must be a non-empty string without slashes, got {name!r}")
    cfg = _check_module_config(module, config, f"model {name!r}", OptionError)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 < float(threshold) < 1.0:
        # load_model refuses 0 and 1 too: never write a file that cannot be read back
        raise OptionError(f"threshold must be a number in [0, 1], and neither 0 nor 1 (0 < threshold < 1), got {threshold!r}")
    for key, val in (("normalization", normalization), ("card", card)):
        if not isinstance(val, dict):
            raise TypeError(f"{key} must be a dict, got {type(val).__name__}")

    state = {}
    for key, t in model.state_dict().items():
        t = t.detach().to("cpu")
        if t.is_floating_point():
            half = t.to(torch.float16)
            t = half if bool(torch.isfinite(half).all()) or not bool(torch.isfinite(t).all()) else t.float()
        state[key] = t.clone().contiguous()
    try:  # the config must rebuild this network: check before writing anything
        build_model(cfg, init=False).load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise OptionError(f"the weights of model {name!r} do not fit its config: {_first_line(err)}") from None

    obj = {
        "format": FORMAT,
        "name": name,
        "module": module,
        "config": _plain(cfg, "config"),
        "normalization": _plain(normalization, "normalization"),
        "threshold": float(threshold),
        "card": _plain(card, "card"),
        "saved_with": {"kymotrace": __version__, "torch": torch.__version__.split("+")[0]},
        "state_dict": state,
    }
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return " ".join(line.strip() for line in text[:3])[:400]


_REEXPORT = "the file is damaged or was not written by kymotrace: re-export the model (kymotrace train MODULE --export NAME)"
#: keys of a model file's normalisation dict (kymotrace.segment.normalize_with; "version" is ignored)
_NORM_KEYS = ("method", "version", "low", "high", "clip")


def _real(value: Any) -> bool:
    """True for an int or a finite float (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) or math.isfinite(value)


def _check_file_config(module: Any, config: Any, where: str) -> None:
    """A model file's config must be complete: save_model always writes every key, so a missing one
    means a damaged file (validate_config would otherwise fill defaults and report a misleading
    module mismatch)."""
    from .unet import default_config

    if module not in _MODULES:
        return  # _check_module_config names the allowed modules
    if not isinstance(config, dict) or not config:
        got = "an empty dict" if isinstance(config, dict) else f"a {type(config).__name__}"
        raise InputError(f"{where} has no architecture config ('config' is {got}); {_REEXPORT}")
    missing = [k for k in default_config(module) if k not in config]
    if missing:
        raise InputError(f"{where} has an incomplete architecture config: missing {missing}; {_REEXPORT}")


def _check_threshold(thr: Any, where: str) -> float:
    if not _real(thr) or not 0.0 < thr < 1.0:
        raise InputError(
            f"{where} has threshold {thr!r}, but a model's threshold must be a finite number between 0 "
            f"and 1 (exclusive; the shipped models use 0.5 to 0.9); {_REEXPORT}"
        )
    return float(thr)


def _check_normalization(norm: Any, where: str) -> None:
    """The normalisation dict as :func:`kymotrace.segment.normalize_with` reads it: it must name
    its method; "low", "high" and "clip" may be left out (they take normalize_with's defaults)."""
    from ..segment import DEFAULT_NORMALIZATION

    what = f"{where} has a bad 'normalization' entry"
    if not isinstance(norm, dict):
        raise InputError(f"{what}: it must be a dict, got {type(norm).__name__}; {_REEXPORT}")
    if "method" not in norm:
        has = f"its keys are {sorted(map(str, norm))[:8]}" if norm else "it is empty"
        raise InputError(
            f"{what}: it must name its method, as in {{'method': 'robust', 'low': 50.0, 'high': 99.5, "
            f"'clip': [-2.0, 5.0]}}, but {has}; {_REEXPORT}"
        )
    if norm["method"] != "robust":
        raise InputError(
            f"{what}: unknown normalisation method {norm['method']!r}; this kymotrace knows 'robust': "
            "upgrade kymotrace (pip install -U kymotrace) or re-export the model"
        )
    unknown = sorted(str(k) for k in norm if k not in _NORM_KEYS)
    if unknown:
        raise InputError(f"{what}: unknown setting(s) {unknown} (allowed: {', '.join(_NORM_KEYS)}); {_REEXPORT}")
    low, high = (norm.get(k, DEFAULT_NORMALIZATION[k]) for k in ("low", "high"))
    if not (_real(low) and _real(high) and 0.0 <= low < high <= 100.0):
        raise InputError(
            f"{what}: percentiles need 0 <= low < high <= 100, got low={low!r}, high={high!r}; {_REEXPORT}"
        )
    clip = norm.get("clip", DEFAULT_NORMALIZATION["clip"])
    if not (isinstance(clip, (list, tuple)) and len(clip) == 2 and all(_real(c) for c in clip) and clip[0] < clip[1]):
        raise InputError(f"{what}: 'clip' must be two finite numbers [min, max] with min < max, got {clip!r}; {_REEXPORT}")


def _checked_state(state: Any, where: str) -> dict:
    """The state_dict with float32 floating tensors; refuses anything but real tensors and
    non-finite weights."""
    import torch

    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise InputError(f"{where} has a damaged state_dict; re-export the model")
    odd = [f"{k} ({v.dtype})" for k, v in state.items() if v.is_complex() or v.dtype == torch.bool]
    if odd:
        raise InputError(
            f"{where}: the weights must be real numbers (float16/float32, integer counters), but "
            f"{len(odd)} tensor(s) are not: {', '.join(odd[:3])}{' ...' if len(odd) > 3 else ''}; {_REEXPORT}"
        )
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    floats = [(k, v) for k, v in state.items() if v.is_floating_point() and v.numel()]
    # A sum is NaN or infinite whenever one of its terms is, so finite sums prove finite weights;
    # a non-finite sum (possibly an overflow of finite values) is checked element by element.
    # This costs ~0.2 ms for the shipped U-Nets, against ~3-4 ms for isfinite on every tensor.
    if floats:
        sums = torch.stack([v.sum() for _, v in floats])
        suspects = [floats[i] for i in torch.nonzero(~torch.isfinite(sums)).flatten().tolist()]
        bad = [k for k, v in suspects if not bool(torch.isfinite(v).all())]
        if bad:
            raise InputError(
                f"{where}: {len(bad)} weight tensor(s) hold NaN or infinite values ({', '.join(bad[:3])}"
                f"{' ...' if len(bad) > 3 else ''}); the model is broken (e.g. training diverged): "
                "re-train or re-export it, or use a shipped model"
            )
    return state


def _resolve(name_or_path: str | os.PathLike) -> tuple[Path, bool]:
    """(file, given_as_path)."""
    if isinstance(name_or_path, os.PathLike):
        return Path(name_or_path), True
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise OptionError(f"a model is a name ({', '.join(available_models()) or 'none shipped'}) or a path, got {name_or_path!r}")
    text = name_or_path.strip()
    if any(sep in text for sep in ("/", "\\", os.sep)) or text.endswith(".pt") or text.startswith("."):
        return Path(text).expanduser(), True
    return weights_dir() / f"{text}.pt", False


def load_model(name_or_path: str | os.PathLike, *, device: Any = "cpu") -> LoadedModel:
    """Load a shipped model by name, or a model file by path.

    Parameters
    ----------
    name_or_path : str or path-like
        A name from :func:`available_models` (e.g. "bi"), or the path of a ``.pt`` model file
        (anything containing a slash or ending in ``.pt`` is taken as a path).
    device : str or torch.device
        "cpu" (default), "cuda", "cuda:N" or "auto" (CUDA when available).

    Returns
    -------
    LoadedModel
        With ``net`` in eval mode, float32 weights, on ``device``.

    Raises
    ------
    OptionError
        Unknown model name (the message lists the available ones) or bad device.
    InputError
        The path does not exist or is not a valid kymotrace model file: unreadable, a 'format'
        other than the integer :data:`FORMAT`, an incomplete config, a threshold that is not a
        finite number strictly between 0 and 1, a normalisation dict without its method or with
        bad settings, or weights that are complex, non-finite or do not fit the config.
    """
    import torch

    from .unet import build_model

    dev = resolve_device(device)
    path, as_path = _resolve(name_or_path)
    if not as_path and not path.is_file():
        names = available_models()
        listed = (
            "available models are " + ", ".join(repr(n) for n in names)
            if names
            else "no models are shipped in this installation"
        )
        raise OptionError(f"unknown model {str(name_or_path)!r}: {listed}; or give the path of a .pt model file")
    if not path.is_file():
        raise InputError(f"model file {str(path)!r} does not exist: check the path, or use a model name ({', '.join(available_models()) or 'none shipped'})")
    data = path.read_bytes()
    where = f"model file {str(path)!r}"
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for damaged or foreign files
        raise InputError(
            f"{where} is not a kymotrace model file: torch.load(weights_only=True) could not read it "
            f"({type(err).__name__}; the file is damaged, not a torch file, or holds Python objects other "
            "than plain data and tensors); give a file written by kymotrace (save_model or "
            "'kymotrace train --export')"
        ) from None
    if not isinstance(obj, dict) or "format" not in obj:
        raise InputError(f"{where} is not a kymotrace model file (no 'format' entry); give a file written by kymotrace")
    fmt = obj["format"]
    if isinstance(fmt, bool) or not isinstance(fmt, int) or fmt < 1:
        raise InputError(
            f"{where} has an invalid 'format' entry {fmt!r}: it must be the integer {FORMAT}; {_REEXPORT}"
        )
    if fmt > FORMAT:
        raise InputError(
            f"{where} has model format {fmt!r}, but this kymotrace reads format {FORMAT}: "
            "upgrade kymotrace (pip install -U kymotrace)"
        )
    missing = [k for k in _KEYS if k not in obj]
    if missing:
        raise InputError(f"{where} is incomplete: missing {missing}; re-export the model")
    name = obj["name"]
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{where} has an invalid 'name' entry {name!r}: it must be a non-empty string; {_REEXPORT}")
    module = obj["module"]
    _check_file_config(module, obj["config"], where)
    cfg = _check_module_config(module, obj["config"], where, InputError)
    thr = _check_threshold(obj["threshold"], where)
    _check_normalization(obj["normalization"], where)
    if not isinstance(obj["card"], dict):
        raise InputError(f"{where}: 'card' must be a dict; {_REEXPORT}")
    state = _checked_state(obj["state_dict"], where)
    net = build_model(cfg, init=False)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise InputError(f"{where}: the weights do not fit its architecture config ({_first_line(err)})") from None
    net.to(dev).eval()
    return LoadedModel(
        name=name,
        module=module,
        net=net,
        config=cfg,
        normalization=dict(obj["normalization"]),
        threshold=thr,
        card=dict(obj["card"]),
        sha256=hashlib.sha256(data).hexdigest(),
        path=path.resolve(),
    )
