"""``kymotrace synth``: write seeded synthetic kymographs with their ground-truth tracks.

For each ``i`` in ``0..n-1`` the kymograph with seed ``s = seed + i`` is drawn with
``generate(kind, rng=numpy.random.default_rng(s), **knobs)`` (after ``sample_knobs`` with the
same generator when ``--sample`` is given) and written as ``DIR/<kind>_<s>.tif`` (the image),
``DIR/<kind>_<s>_tracks.csv`` (ground truth) and ``DIR/<kind>_<s>.json`` (every knob value).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .. import seeds

    parser.add_argument("--kind", choices=["uni", "bi"], required=True, help="uni- or bidirectional motion")
    parser.add_argument("-n", type=int, default=1, help="number of kymographs (default 1)")
    parser.add_argument(
        "--seed", type=int, default=seeds.TEST.start,
        help=f"seed of the first kymograph; kymograph i uses seed+i (default {seeds.TEST.start})",
    )
    parser.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder (created if missing)")
    parser.add_argument(
        "--sample", choices=["varied", "paper"], default=None,
        help="draw random knobs per kymograph (training variety); --knob values override them",
    )
    parser.add_argument(
        "--knob", action="append", default=[], metavar="KEY=VALUE",
        help="set a generator knob, e.g. --knob snr=1.5 --knob size=2,5 --knob camera=poisson "
        "(repeatable; --knob help lists them all)",
    )


def parse_knob(text: str) -> tuple[str, Any]:
    """``'key=value'`` -> ``(key, value)``; the value is JSON if it parses, a comma-separated
    list of numbers, or else the plain string."""
    from ..errors import OptionError

    if "=" not in text:
        raise OptionError(f"--knob {text!r}: expected KEY=VALUE, e.g. --knob snr=1.5")
    key, _, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not key:
        raise OptionError(f"--knob {text!r}: the knob name is empty")
    try:
        return key, json.loads(raw)
    except ValueError:
        pass
    if "," in raw:
        try:
            return key, [float(p) for p in raw.split(",")]
        except ValueError:
            pass
    return key, raw


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np
    import tifffile

    from ..errors import InputError, OptionError
    from ..fileutil import atomic_open, atomic_path
    from ..synth import KNOB_DOCS, defaults, generate, sample_knobs
    from ..synth.knobs import resolve_knobs
    from ..tracksio import write_tracks_csv

    if any(k.strip() == "help" for k in args.knob):
        for name, value in sorted(defaults(args.kind).items()):
            print(f"{name:18s} {value!s:12s} {KNOB_DOCS.get(name, '')}")
        return 0
    if args.n < 1:
        raise OptionError(f"-n must be at least 1, got {args.n}")
    if args.seed < 0:
        raise OptionError(f"--seed must be >= 0, got {args.seed}")
    knobs = dict(parse_knob(t) for t in args.knob)
    resolve_knobs(args.kind, knobs)  # validate before writing anything
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output folder {out}: {exc.strerror}; choose another -o") from None
    for i in range(args.n):
        seed = args.seed + i
        rng = np.random.default_rng(seed)
        kn = sample_knobs(args.kind, rng, style=args.sample) if args.sample else {}
        kn.update(knobs)
        kymo = generate(args.kind, rng=rng, **kn)
        stem = out / f"{args.kind}_{seed}"
        params = dict(kymo.params, seed=seed, sample=args.sample)
        # ground truth first, the image last: an interrupted run never leaves an image without truth
        write_tracks_csv(stem.with_name(stem.name + "_tracks.csv"), kymo.tracks)
        with atomic_open(stem.with_name(stem.name + ".json")) as fh:
            json.dump(params, fh, indent=1)
            fh.write("\n")
        with atomic_path(stem.with_name(stem.name + ".tif")) as tmp:
            tifffile.imwrite(tmp, kymo.image)
        shape = f"{kymo.image.shape[1]} positions x {kymo.image.shape[0]} frames"
        print(f"{stem.name}.tif: {shape}, {len(kymo.tracks)} tracks", file=sys.stderr)
    return 0
