"""`kymotrace synth` (placeholder until implemented)."""

from __future__ import annotations

import argparse

from ..errors import KymotraceError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    raise KymotraceError("'kymotrace synth' is not implemented yet")
