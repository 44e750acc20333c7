"""``kymotrace bench``: score a tracing method on the frozen synthetic suite."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", default="baseline", help="tracing method (default: baseline)")
    parser.add_argument("--sets", default=None, help="comma-separated subset of suite sets")
    parser.add_argument("--limit", type=int, default=None, help="at most this many kymographs per set")
    parser.add_argument("--json", dest="json_path", default=None, metavar="FILE", help="also write results as JSON")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..bench import format_table, run_bench, suite_hash, write_json
    from ..errors import OptionError

    if args.limit is not None and args.limit < 1:
        raise OptionError(f"--limit must be at least 1, got {args.limit}")
    sets = [s.strip() for s in args.sets.split(",") if s.strip()] if args.sets else None
    print(f"suite sha256: {suite_hash()}", file=sys.stderr)
    bar = tqdm(desc="bench", unit="kymo", file=sys.stderr, disable=None)

    def progress(name: str, i: int, n: int) -> None:
        bar.set_postfix_str(name)
        bar.update(1)

    try:
        result = run_bench(args.method, sets=sets, limit=args.limit, progress=progress)
    finally:
        bar.close()
    print(format_table(result))
    if args.json_path:
        write_json(result, args.json_path)
    return 0
