"""``kymotrace serve``: the drag-and-drop web app on this machine (or a lab server).

Drop kymographs on the page, get tracks, overlays, plots and tables; nothing is uploaded anywhere
else. No database or other service is needed: jobs live in memory and in a temporary folder and
expire. Needs the optional web extra (``pip install -e ".[web]"``).
"""

from __future__ import annotations

import argparse
import math
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every network)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--max-upload-mb", type=float, default=50.0, metavar="MB", help="largest upload, all files of one job together (default 50)")
    parser.add_argument("--max-files", type=int, default=50, metavar="N", help="most files in one job (default 50)")
    parser.add_argument("--workers", type=int, default=None, metavar="N", help="analysis worker processes (default: up to 2)")
    parser.add_argument("--job-ttl", type=float, default=60.0, metavar="MINUTES", help="minutes a finished job and its files are kept (default 60)")
    parser.add_argument("--data-dir", default=None, metavar="DIR", help="folder for uploads and results (default: a temporary folder, removed at exit)")


def run(args: argparse.Namespace) -> int:
    from ..errors import KymotraceError, OptionError
    from ..web import MISSING_EXTRA_HINT, missing_web_packages

    missing = missing_web_packages()
    if missing:
        raise KymotraceError(f"the web app needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed; {MISSING_EXTRA_HINT}")
    if not (math.isfinite(args.max_upload_mb) and args.max_upload_mb > 0):
        raise OptionError(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    if args.max_files < 1:
        raise OptionError(f"--max-files must be at least 1, got {args.max_files}")
    if args.workers is not None and args.workers < 1:
        raise OptionError(f"--workers must be at least 1, got {args.workers}")
    if not (math.isfinite(args.job_ttl) and args.job_ttl > 0):
        raise OptionError(f"--job-ttl must be a positive number of minutes, got {args.job_ttl}")

    if args.data_dir is not None:
        from pathlib import Path

        from ..fileutil import make_writable_dir

        d = Path(args.data_dir)
        try:
            make_writable_dir(d)
        except OSError as exc:
            raise OptionError(f"cannot write to --data-dir {d}: {exc.strerror or exc}; choose a writable folder") from None

    from ..web.app import create_app
    from ..web.server import bind, is_loopback, serve

    sock = bind(args.host, args.port)
    try:
        app = create_app(data_dir=args.data_dir, workers=args.workers, max_upload_mb=args.max_upload_mb,
                         max_files=args.max_files, job_ttl_s=args.job_ttl * 60)
        port = sock.getsockname()[1]
        shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        shown = f"[{shown}]" if ":" in shown else shown
        print(f"kymotrace web app: open http://{shown}:{port}/ in a browser (Ctrl-C stops it)", file=sys.stderr, flush=True)
        if not is_loopback(args.host):
            print(f"note: listening on {args.host}: anyone who can reach this machine on port {port} can use the app "
                  "(there are no accounts); use --host 127.0.0.1 to keep it to this machine", file=sys.stderr, flush=True)
        serve(app, sock)
    finally:
        sock.close()
    return 0
