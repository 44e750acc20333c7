"""Peak memory of ``kymotrace kymograph`` on movies of 500 and 5,000 frames of the same frame size.

Writes two ImageJ TIFF movies (uint16, frames of ``--size`` x ``--size`` px, written one frame at a
time so this script itself stays small) to ``--tmp`` (default /tmp; the 5,000-frame movie is
about 650 MB at 256 x 256 and is deleted at the end unless ``--keep``), then runs
``kymotrace kymograph`` on each in a fresh process along a curved polyline (width 5) and reports
the child's peak resident memory (``ru_maxrss``), its wall time, and the movie's size on disk
(what loading it whole would take at least).

Usage::

    python tools/movie_memory.py [--frames 500,5000] [--size 256] [--tmp /tmp] [--keep]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def write_movie(path: Path, frames: int, size: int, seed: int = 95_000_123) -> None:
    import tifffile

    rng = np.random.default_rng(seed)
    base = rng.normal(500.0, 20.0, (size, size))

    def gen():
        for t in range(frames):
            yield np.clip(base + rng.normal(0.0, 30.0, (size, size)), 0, 65535).astype(np.uint16)

    tifffile.imwrite(path, data=gen(), shape=(frames, size, size), dtype="uint16", imagej=True,
                     resolution=(1 / 0.16, 1 / 0.16), metadata={"axes": "TYX", "unit": "um", "finterval": 0.5})


def measure(movie: Path, out: Path, size: int) -> dict:
    m = size - 16
    path = f"8,{size // 2} {size // 3},{size // 4} {2 * size // 3},{3 * size // 4} {m},{size // 2}"
    code = (
        "import resource, sys, time\n"
        "from kymotrace.cli import main\n"
        "t = time.time()\n"
        f"rc = main(['kymograph', {str(movie)!r}, '--path', {path!r}, '--width', '5', '--out', {str(out)!r}])\n"
        "print('RESULT', rc, time.time() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    baseline = ("import resource\nimport numpy, scipy.ndimage, tifffile, kymotrace.movie, kymotrace.cli\n"
                "print('RESULT', 0, 0.0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
    res = {}
    for label, src in (("imports", baseline), ("run", code)):
        p = subprocess.run([sys.executable, "-c", src], capture_output=True, text=True, check=True)
        line = next(ln for ln in p.stdout.splitlines() if ln.startswith("RESULT"))
        _, rc, secs, kb = line.split()
        res[label] = {"rc": int(rc), "seconds": float(secs), "peak_rss_mb": int(kb) / 1024.0}
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", default="500,5000")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--tmp", default=tempfile.gettempdir())
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="kymotrace-movie-memory-", dir=args.tmp))
    print(f"| frames | frame size | movie on disk | peak RSS (kymograph run) | peak RSS (imports only) | wall time |")
    print("|---|---|---|---|---|---|")
    try:
        for n in (int(v) for v in args.frames.split(",")):
            movie = work / f"movie_{n}.tif"
            write_movie(movie, n, args.size)
            r = measure(movie, work / f"out_{n}", args.size)
            assert r["run"]["rc"] == 0, r
            print(f"| {n} | {args.size} x {args.size} uint16 | {movie.stat().st_size / 2**20:.0f} MB | "
                  f"{r['run']['peak_rss_mb']:.0f} MB | {r['imports']['peak_rss_mb']:.0f} MB | {r['run']['seconds']:.1f} s |",
                  flush=True)
            if not args.keep:
                movie.unlink()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
