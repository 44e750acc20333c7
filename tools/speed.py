"""Timings reported in the notes: batch wall time per 300x300 kymograph (start-up included),
a cold single CLI call, in-process analyze(), and 300x300 vs 3000x3000.

Usage: python tools/speed.py WORKDIR   (run on an otherwise idle machine)
"""

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import tifffile

from kymotrace.synth import generate

work = Path(sys.argv[1])
batch = work / "batch"
batch.mkdir(parents=True, exist_ok=True)
for i in range(20):
    kind = "bi" if i % 2 else "uni"
    k = generate(kind, rng=np.random.default_rng(95_000_600 + i))
    tifffile.imwrite(batch / f"k{i:02d}_{kind}.tif", k.image)
exe = str(Path(sys.executable).with_name("kymotrace"))


def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


for w in (1, 2):
    dt = timed([exe, "analyze", str(batch), "--out", str(work / f"out{w}"), "--workers", str(w)])
    print(f"batch of 20 (10 uni + 10 bi, mode auto), --workers {w}: {dt:.1f} s wall, {dt / 20:.2f} s per kymograph")
dt = timed([exe, "analyze", str(batch / "k01_bi.tif"), "--out", str(work / "single")])
print(f"single cold CLI call (one 300x300 bi): {dt:.2f} s")

from kymotrace.pipeline import analyze  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)
for kind in ("uni", "bi"):
    img = tifffile.imread(next(batch.glob(f"*_{kind}.tif")))
    analyze(img, mode=kind)
    ts = []
    for _ in range(5):
        t = time.perf_counter()
        analyze(img, mode=kind)
        ts.append(time.perf_counter() - t)
    print(f"in-process analyze(), 300x300 {kind}, 2 threads: median {np.median(ts):.3f} s")
for size, scale in ((300, 1), (3000, 100)):
    k = generate("uni", rng=np.random.default_rng(95_000_700), width=size, frames=size,
                 n_pos=30 * int(np.sqrt(scale)), n_neg=30 * int(np.sqrt(scale)))
    for mode in ("uni", "auto"):  # auto: the classifier and the mode check's bidirectional pass too
        t = time.perf_counter()
        r = analyze(k.image, mode=mode)
        dt = time.perf_counter() - t
        print(f"{size}x{size} uni, mode {mode}: {dt:.2f} s ({dt / size**2 * 1e6:.2f} us per pixel), {len(r.tracks)} tracks, analysed as {r.mode}")
