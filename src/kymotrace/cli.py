"""The ``kymotrace`` command line: one console command built from subcommands.

Each subcommand lives in ``kymotrace.commands.<name>`` with two functions,
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported lazily so that
``kymotrace --help`` stays instant (no torch import).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from . import __version__
from .errors import KymotraceError

#: (name, one-line help) of every subcommand, in the order ``--help`` lists them
SUBCOMMANDS = [
    ("analyze", "trace kymographs (files or folders) and write tracks, summaries, overlays, plots and ROIs"),
    ("kymograph", "make kymographs from a time-lapse movie along a drawn path (polyline or ImageJ ROIs)"),
    ("demo", "trace a seeded example kymograph and score it against its ground truth"),
    ("synth", "write seeded synthetic kymographs with ground-truth tracks"),
    ("bench", "score a tracing method on the frozen synthetic benchmark suite"),
    ("train", "train a neural module on synthetic data"),
    ("serve", "start the drag-and-drop web app on this machine (needs the web extra)"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kymotrace",
        description="Trace particle tracks in kymographs automatically.",
    )
    parser.add_argument("--version", action="version", version=f"kymotrace {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_ in SUBCOMMANDS:
        p = sub.add_parser(name, help=help_, description=help_)
        _module(name).add_arguments(p)
    return parser


def _module(name: str):
    return importlib.import_module(f"kymotrace.commands.{name}")


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except KeyboardInterrupt:  # Ctrl-C while the command modules load
        print("kymotrace: interrupted", file=sys.stderr)
        return 130
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s: %(message)s",
    )
    try:
        return int(_module(args.command).run(args) or 0)
    except KymotraceError as exc:
        print(f"kymotrace {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"kymotrace {args.command}: interrupted; no partial files were left behind.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except MemoryError:
        print(f"kymotrace {args.command}: error: out of memory; try a smaller input or smaller options", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
