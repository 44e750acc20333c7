"""``kymotrace bench``: score a tracing method on the frozen synthetic suite."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", default="baseline", help="tracing method: baseline or kymotrace (default: baseline)")
    parser.add_argument("--sets", default=None, help="comma-separated subset of suite sets")
    parser.add_argument("--limit", type=int, default=None, help="at most this many kymographs per set")
    parser.add_argument("--json", dest="json_path", default=None, metavar="FILE", help="also write results as JSON")
    parser.add_argument("--mode", choices=["auto", "uni", "bi", "kind"], default="auto",
                        help="kymotrace method: auto (classifier), uni, bi, or kind (the module matching each set's kind, as the paper benchmarked)")
    parser.add_argument("--threshold", type=float, default=None, help="kymotrace method: trackness threshold (default: the model's)")
    parser.add_argument("--thresholds", default=None, metavar="T1,T2,...", help="kymotrace method: sweep these thresholds (the paper's 0.05..0.5)")
    parser.add_argument("--decision", choices=["auto", "net", "motion"], default="auto", help="kymotrace method: decision step")
    parser.add_argument("--model", default=None, help="kymotrace method: a model name/path replacing the shipped one of its module")
    parser.add_argument("--uni-method", choices=["assign", "components", "trace"], default="assign", help="kymotrace method: unidirectional tracing")
    parser.add_argument("--bi-method", choices=["assign", "skeleton"], default="assign", help="kymotrace method: bidirectional tracing")
    parser.add_argument("--no-link", action="store_true", help="kymotrace method: do not join track pieces across gaps by motion")
    parser.add_argument("--no-relink", action="store_true", help="kymotrace method: do not re-link tracks where particles meet (kymotrace.trace.relink; bidirectional and unidirectional)")
    parser.add_argument("--no-mode-check", action="store_true", help="kymotrace method, --mode auto: the classifier alone chooses the mode (no kymotrace.modecheck)")


def _floats(text: str) -> list[float]:
    from ..errors import OptionError

    try:
        vals = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise OptionError(f"--thresholds must be comma-separated numbers, got {text!r}") from None
    if not vals or any(not 0 < v < 1 for v in vals):
        raise OptionError(f"--thresholds must be numbers between 0 and 1, got {text!r}")
    return vals


def check_json_path(text: str | None) -> None:
    """Check the ``--json`` path before any benchmark runs, so that a bad path fails at once
    instead of after the whole run, with its results lost.

    Its folder must already exist (it is not created: a typo would otherwise create folders
    anywhere, e.g. at the filesystem root) and be writable, and the path must not be a folder.
    """
    import os
    from pathlib import Path

    from ..errors import OptionError

    if text is None:
        return
    if not text.strip():
        raise OptionError("--json needs a file name, got an empty one: give e.g. --json results.json")
    path = Path(text)
    if path.is_dir():
        raise OptionError(f"--json {text!r} is an existing folder: give a file name, e.g. --json {str(path / 'bench.json')!r}")
    folder = path.parent
    if not folder.is_dir():
        # the nearest existing part of the folder's path tells what is wrong
        existing = next((p for p in (folder, *folder.parents) if os.path.lexists(p)), None)
        if existing is not None and not existing.is_dir():
            kind = "a file" if existing.is_file() else "not a folder"
            raise OptionError(
                f"--json {text!r}: {str(existing)!r} is {kind}, so the JSON cannot be written there; "
                "choose a path inside an existing folder"
            )
        raise OptionError(
            f"--json {text!r}: its folder {str(folder)!r} does not exist and is not created for you; "
            f"create it first (mkdir -p {str(folder)!r}) or write the JSON into an existing folder"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OptionError(f"--json {text!r}: the folder {str(folder)!r} is not writable; choose a folder you can write to")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..bench import format_table, run_bench, suite_hash, write_json
    from ..errors import OptionError
    from .analyze import check_threshold

    if args.limit is not None and args.limit < 1:
        raise OptionError(f"--limit must be at least 1, got {args.limit}")
    check_threshold(args.threshold)
    check_json_path(args.json_path)
    sets = [s.strip() for s in args.sets.split(",") if s.strip()] if args.sets else None
    opts = {}
    if args.method == "kymotrace":
        opts = dict(mode=args.mode, decision=args.decision, model=args.model, link=not args.no_link, relink=not args.no_relink, mode_check=not args.no_mode_check, uni_method=args.uni_method, bi_method=args.bi_method)
    elif any(v is not None for v in (args.threshold, args.thresholds, args.model)) or args.mode != "auto" or args.decision != "auto":
        raise OptionError("--mode, --threshold(s), --decision and --model apply to --method kymotrace only")
    thresholds = _floats(args.thresholds) if args.thresholds else [args.threshold]
    print(f"suite sha256: {suite_hash()}", file=sys.stderr)
    results = []
    for thr in thresholds:
        if args.method == "kymotrace":
            opts["threshold"] = thr
        bar = tqdm(desc=f"bench{'' if thr is None else f' t={thr}'}", unit="kymo", file=sys.stderr, disable=None)

        def progress(name: str, i: int, n: int) -> None:
            bar.set_postfix_str(name)
            bar.update(1)

        try:
            result = run_bench(args.method, sets=sets, limit=args.limit, progress=progress, **opts)
        finally:
            bar.close()
        if thr is not None:
            result.method += f" (threshold {thr})"
        print(format_table(result))
        print()
        results.append(result)
    if args.json_path is not None:
        write_json(results[0] if len(results) == 1 else results, args.json_path)
    return 0
