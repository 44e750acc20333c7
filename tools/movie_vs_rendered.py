"""Track F1 on kymographs extracted from synthetic movies vs directly rendered kymographs.

For every seed of the bench suite's movie sets (``movie_uni``, ``movie_bi``), the movie's
kymograph (extracted along the curved path with ``make_kymograph``, width 5, mean) and the
kymograph rendered directly by ``synth.generate`` with the same kind, knobs and seed are traced
with the shipped models and scored against their ground truth. The two share their ground truth
exactly (the movie generator draws the motion like ``generate`` does), so the comparison is
paired: only image formation and extraction differ.

Usage::

    OMP_NUM_THREADS=1 python tools/movie_vs_rendered.py [--limit N] [--out docs/bench/movie_vs_rendered.md]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from kymotrace.bench import _kymotrace, load_suite, suite_hash
from kymotrace.metrics import score
from kymotrace.synth import generate
from kymotrace.synth.movie import MOVIE_KNOBS, bench_kymograph


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="at most this many seeds per set")
    ap.add_argument("--out", default="docs/bench/movie_vs_rendered.md")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    methods = {"auto": _kymotrace(mode="auto"), "kind": _kymotrace(mode="kind")}
    suite = load_suite()
    rows = []
    t_start = time.time()
    for spec in suite["sets"]:
        if spec.get("source") != "movie":
            continue
        kind = spec["kind"]
        knobs = spec.get("knobs", {})
        kymo_knobs = {k: v for k, v in knobs.items() if k not in MOVIE_KNOBS}
        n = spec["n"] if args.limit is None else min(args.limit, spec["n"])
        for i in range(n):
            seed = spec["seed"] + i
            movie_k = bench_kymograph(kind, seed, knobs)
            rendered = generate(kind, rng=np.random.default_rng(seed), width=knobs.get("length", 300), **kymo_knobs)
            same_gt = len(movie_k.tracks) == len(rendered.tracks) and all(
                np.array_equal(a.frames, b.frames) and np.allclose(a.positions, b.positions)
                for a, b in zip(movie_k.tracks, rendered.tracks))
            row = {"set": spec["name"], "kind": kind, "seed": seed, "n_gt": len(movie_k.tracks), "same_gt": same_gt}
            for source, item in (("movie", movie_k), ("rendered", rendered)):
                for mname, fn in methods.items():
                    pred = fn(item.image, kind=kind)
                    sc = score(item.tracks, pred, item.image.shape)
                    row[f"{source}_{mname}_f1"] = sc.f1
                    row[f"{source}_{mname}_recall"] = sc.recall
                    row[f"{source}_{mname}_precision"] = sc.precision
            rows.append(row)
            print(f"{spec['name']} {seed}: movie F1 {row['movie_auto_f1']:.3f} / rendered {row['rendered_auto_f1']:.3f} "
                  f"(auto); {row['movie_kind_f1']:.3f} / {row['rendered_kind_f1']:.3f} (kind)", file=sys.stderr)
    elapsed = time.time() - t_start
    text = _report(rows, elapsed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps({"suite_sha256": suite_hash(), "rows": rows}, indent=1, default=float),
                                        encoding="utf-8")
    print(text)
    return 0


def _report(rows: list[dict], elapsed: float) -> str:
    lines = [
        "# Movie-derived vs directly rendered kymographs",
        "",
        "Made by `tools/movie_vs_rendered.py` (shipped models, CPU). Suite `bench_suite.json` sha256 "
        f"`{suite_hash()[:16]}`, sets `movie_uni` and `movie_bi`: for each seed a synthetic movie "
        "(300 frames, a 20 px wide cell around a curved 300 px path, `kymotrace.synth.movie`) is turned "
        "into a kymograph with `make_kymograph` (width 5, mean) and compared with the kymograph that "
        "`synth.generate` renders directly for the same kind, knobs and seed. Both have the same "
        "ground-truth tracks (paired comparison) and the same contrast figures (snr, cnr) by construction.",
        "",
        "`auto`: the classifier picks the module (as users run it); `kind`: the module matching the set's kind.",
        "",
        "| set | n | same ground truth | F1 movie (auto) | F1 rendered (auto) | difference | F1 movie (kind) | F1 rendered (kind) | difference |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(r["set"] for r in rows):
        rs = [r for r in rows if r["set"] == name]
        med = {k: statistics.median(r[k] for r in rs) for k in ("movie_auto_f1", "rendered_auto_f1", "movie_kind_f1", "rendered_kind_f1")}
        mean_diff_auto = statistics.mean(r["movie_auto_f1"] - r["rendered_auto_f1"] for r in rs)
        mean_diff_kind = statistics.mean(r["movie_kind_f1"] - r["rendered_kind_f1"] for r in rs)
        lines.append(
            f"| {name} | {len(rs)} | {all(r['same_gt'] for r in rs)} | {med['movie_auto_f1']:.3f} | {med['rendered_auto_f1']:.3f} | "
            f"{med['movie_auto_f1'] - med['rendered_auto_f1']:+.3f} (mean of pairs {mean_diff_auto:+.3f}) | "
            f"{med['movie_kind_f1']:.3f} | {med['rendered_kind_f1']:.3f} | "
            f"{med['movie_kind_f1'] - med['rendered_kind_f1']:+.3f} (mean of pairs {mean_diff_kind:+.3f}) |")
    lines += ["", "F1 values are medians over seeds; the difference is movie minus rendered.", "",
              "Per seed:", "", "| set | seed | GT tracks | movie auto | rendered auto | movie kind | rendered kind |",
              "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['set']} | {r['seed']} | {r['n_gt']} | {r['movie_auto_f1']:.3f} | {r['rendered_auto_f1']:.3f} | "
                     f"{r['movie_kind_f1']:.3f} | {r['rendered_kind_f1']:.3f} |")
    lines += ["", f"Run time {elapsed:.0f} s.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
