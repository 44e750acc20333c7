"""Regenerate the bundled example kymograph (src/kymotrace/data/example_kymograph.tif) and its
ground truth (example_tracks.csv). Run: python tools/make_example.py"""

from pathlib import Path

import numpy as np
import tifffile

from kymotrace.synth import generate
from kymotrace.tracksio import write_tracks_csv

SEED = 95_000_500  # kymotrace.seeds.TEST
KNOBS = dict(n_tracks=20, camera="poisson", dtype="uint16", offset=100, noise_counts=12, bleach=0.002,
             gradient=0.15, row_flicker=0.8, bands=0.3, psf="airy", defocus=0.4, brightness_spread=0.4)
PIXEL_SIZE_UM, FRAME_INTERVAL_S = 0.1, 0.5

data = Path(__file__).resolve().parents[1] / "src" / "kymotrace" / "data"
k = generate("bi", rng=np.random.default_rng(SEED), **KNOBS)
tifffile.imwrite(
    data / "example_kymograph.tif", k.image, imagej=True,
    resolution=(1 / PIXEL_SIZE_UM, 1 / PIXEL_SIZE_UM),
    metadata={"unit": "micron", "finterval": FRAME_INTERVAL_S, "axes": "YX"},
)
write_tracks_csv(data / "example_tracks.csv", k.tracks)
print(k.image.shape, k.image.dtype, len(k.tracks), "tracks")
