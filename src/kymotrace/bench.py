"""The frozen benchmark suite and its runner (``kymotrace bench``).

The suite's parameters and seeds live in one committed file, ``kymotrace/data/bench_suite.json``;
every run prints that file's SHA-256 so a table can always be tied to the exact suite.
Bench seeds come from :data:`kymotrace.seeds.BENCH` and never overlap training or validation seeds.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from . import seeds
from .errors import OptionError
from .track import Track

__all__ = [
    "SUITE_FILE",
    "load_suite",
    "suite_hash",
    "METHODS",
    "get_method",
    "iter_set",
    "run_bench",
    "BenchResult",
    "format_table",
]

SUITE_FILE = "bench_suite.json"
COLUMNS = ["recall", "precision", "f1", "gap", "gap_strict", "crossing", "seconds"]
#: derived quantities vs ground truth (the paper's Figure 2-figure supplement 1)
DERIVED = ["speed_rel_err", "duration_rel_err", "frac_plus_err", "frac_minus_err"]


def derived_errors(gt: Sequence[Track], pred: Sequence[Track], kind: str) -> dict:
    """Relative errors of the per-kymograph mean frame-to-frame speed and mean duration, and the
    errors of the fractions of +1 / -1 direction codes (predicted minus true)."""
    from .analysis import direction_code

    def stats(tracks):
        tr = [t for t in tracks if len(t) >= 3]
        if not tr:
            return None
        speed = float(np.mean([np.mean(np.abs(np.diff(t.positions))) for t in tr]))
        dur = float(np.mean([len(t) - 1 for t in tr]))
        codes = np.array([direction_code(t.positions, kind=kind) for t in tr])
        return speed, dur, float(np.mean(codes > 0)), float(np.mean(codes < 0))

    g, p = stats(gt), stats(pred)
    if g is None or p is None:
        return {k: None for k in DERIVED}
    rel = lambda a, b: (a - b) / b if b else None
    return {
        "speed_rel_err": rel(p[0], g[0]),
        "duration_rel_err": rel(p[1], g[1]),
        "frac_plus_err": p[2] - g[2],
        "frac_minus_err": p[3] - g[3],
    }

Method = Callable[[np.ndarray], Sequence[Track]]


def _suite_bytes() -> bytes:
    return resources.files("kymotrace.data").joinpath(SUITE_FILE).read_bytes()


def suite_hash() -> str:
    """SHA-256 (hex) of the committed suite file."""
    return hashlib.sha256(_suite_bytes()).hexdigest()


def load_suite() -> dict:
    """The suite as a dict, its seeds checked against the bench seed range."""
    suite = json.loads(_suite_bytes().decode("utf-8"))
    for s in suite["sets"]:
        seeds.check_seed(s["seed"], "bench")
        seeds.check_seed(s["seed"] + s["n"] - 1, "bench")
    return suite


def _baseline(image: np.ndarray) -> list[Track]:
    from .baseline import trace_baseline

    return trace_baseline(image)


def _kymotrace(mode: str = "auto", threshold: float | None = None, decision: str = "auto", model=None, link: bool = True, uni_method: str = "assign", bi_method: str = "assign", relink: bool = True, mode_check: bool = True) -> Method:
    from .pipeline import analyze, get_models

    get_models(model)  # load once, before timing starts

    def method(image: np.ndarray, kind: str | None = None) -> list[Track]:
        m = (kind or "auto") if mode == "kind" else mode
        return analyze(image, mode=m, threshold=threshold, decision=decision, model=model, link=link, uni_method=uni_method, bi_method=bi_method, relink=relink, mode_check=mode_check).tracks

    method.wants_kind = True  # type: ignore[attr-defined]
    return method


#: name -> factory returning a method (image -> tracks); factories let methods load models once
METHODS: dict[str, Callable[..., Method]] = {
    "baseline": lambda **kw: _baseline,
    "kymotrace": _kymotrace,
}


def get_method(name: str, **options) -> Method:
    if name not in METHODS:
        raise OptionError(f"unknown method {name!r}; available: {', '.join(sorted(METHODS))}")
    return METHODS[name](**options)


def iter_set(spec: dict, limit: int | None = None) -> Iterator[tuple[int, object]]:
    """Yield ``(seed, SynthKymograph)`` for each kymograph of one suite set.

    Sets with ``"source": "movie"`` make a synthetic movie
    (:func:`kymotrace.synth.movie.generate_movie`, with the set's knobs) and yield the kymograph
    extracted along its path, with the ground truth in path coordinates.
    """
    from .synth import generate

    n = spec["n"] if limit is None else min(limit, spec["n"])
    for i in range(n):
        seed = spec["seed"] + i
        if spec.get("source") == "movie":  # a kymograph extracted from a synthetic movie along its path
            from .synth.movie import bench_kymograph

            yield seed, bench_kymograph(spec["kind"], seed, spec.get("knobs", {}))
            continue
        yield seed, generate(spec["kind"], rng=np.random.default_rng(seed), **spec.get("knobs", {}))


@dataclass
class BenchResult:
    """Per-kymograph rows and per-set medians of one bench run."""

    method: str
    suite_hash: str
    rows: list[dict] = field(default_factory=list)

    def medians(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for name in dict.fromkeys(r["set"] for r in self.rows):
            rs = [r for r in self.rows if r["set"] == name]
            med = {}
            for c in COLUMNS + DERIVED:
                vals = [r[c] for r in rs if r[c] is not None and np.isfinite(r[c])]
                med[c] = float(statistics.median(vals)) if vals else float("nan")
            med["n"] = len(rs)
            out[name] = med
        return out

    def to_json(self) -> dict:
        return {
            "method": self.method,
            "suite": SUITE_FILE,
            "suite_sha256": self.suite_hash,
            "medians": self.medians(),
            "kymographs": self.rows,
        }


def run_bench(
    method: str = "baseline",
    *,
    sets: Sequence[str] | None = None,
    limit: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    **method_options,
) -> BenchResult:
    """Run ``method`` over the suite (or the named ``sets``) and score it with the paper's metrics."""
    from .metrics import score

    suite = load_suite()
    known = [s["name"] for s in suite["sets"]]
    if sets:
        bad = [s for s in sets if s not in known]
        if bad:
            raise OptionError(f"unknown bench set(s) {', '.join(bad)}; available: {', '.join(known)}")
    fn = get_method(method, **method_options)
    result = BenchResult(method=method, suite_hash=suite_hash())
    for spec in suite["sets"]:
        if sets and spec["name"] not in sets:
            continue
        n = spec["n"] if limit is None else min(limit, spec["n"])
        for i, (seed, kymo) in enumerate(iter_set(spec, limit)):
            t0 = time.perf_counter()
            pred = list(fn(kymo.image, kind=spec["kind"]) if getattr(fn, "wants_kind", False) else fn(kymo.image))
            dt = time.perf_counter() - t0
            sc = score(kymo.tracks, pred, kymo.image.shape)
            row = {"set": spec["name"], "seed": seed, "seconds": dt}
            row.update(sc.as_dict())
            row.update(derived_errors(kymo.tracks, pred, spec["kind"]))
            result.rows.append(row)
            if progress is not None:
                progress(spec["name"], i + 1, n)
    return result


def format_table(result: BenchResult) -> str:
    """A plain-text (Markdown) table of per-set medians."""
    med = result.medians()
    head = ["set", "n"] + COLUMNS
    lines = [
        f"method: {result.method}    suite: {SUITE_FILE} sha256 {result.suite_hash[:16]}",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
    ]
    for name, m in med.items():
        cells = [name, str(m["n"])] + [
            ("n/a" if not np.isfinite(m[c]) else f"{m[c]:.3f}") for c in COLUMNS
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "derived quantities vs ground truth (medians; relative error of mean speed and duration, error of the +1/-1 direction fractions):",
        "| set | speed | duration | +1 fraction | -1 fraction |",
        "|---|---|---|---|---|",
    ]
    for name, m in med.items():
        cells = [("n/a" if not np.isfinite(m[c]) else f"{m[c]:+.3f}") for c in DERIVED]
        lines.append("| " + " | ".join([name] + cells) + " |")
    return "\n".join(lines)


def write_json(result: BenchResult | list[BenchResult], path: str | Path) -> None:
    """Write one result (or a threshold sweep's list of results) as JSON, atomically."""
    from .fileutil import atomic_open

    data = [r.to_json() for r in result] if isinstance(result, list) else result.to_json()
    with atomic_open(path) as fh:
        json.dump(data, fh, indent=1, default=float)
