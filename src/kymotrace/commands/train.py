"""`kymotrace train` (placeholder until implemented)."""

from __future__ import annotations

import argparse

from ..errors import KymotraceError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    raise KymotraceError("'kymotrace train' is not implemented yet")
