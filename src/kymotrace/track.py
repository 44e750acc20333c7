"""The Track data model shared by synthetic ground truth, tracing, metrics and files.

A track is one particle's path through a kymograph ``image[t, x]``: one float position
(column, 0-based px) for every frame (row, 0-based) of its life, consecutive frames only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

__all__ = ["Track", "renumber"]


@dataclass
class Track:
    """One particle track.

    Attributes
    ----------
    track_id : int
        Identifier, unique within one kymograph.
    frames : ndarray of int, shape (n,)
        Consecutive frame indices (rows), increasing by exactly 1.
    positions : ndarray of float, shape (n,)
        Position (column, px, 0-based, sub-pixel) in each frame.
    gap : ndarray of bool, shape (n,)
        True where the frame lies in a gap: for ground truth the particle's signal is blanked
        there; for a traced track the position was interpolated across missing signal.
    size : float or None
        Ground truth: the particle's PSF size (px, Gaussian sigma-equivalent as documented by the
        generator). None for traced tracks unless estimated.
    brightness : float or None
        Ground truth: the particle's peak amplitude relative to the background noise scale.
    confidence : float or None
        Traced tracks: mean decision/trackness confidence in [0, 1].
    """

    track_id: int
    frames: np.ndarray
    positions: np.ndarray
    gap: np.ndarray = field(default=None)  # type: ignore[assignment]
    size: float | None = None
    brightness: float | None = None
    confidence: float | None = None

    def __post_init__(self) -> None:
        self.frames = np.asarray(self.frames, dtype=np.int64).ravel()
        self.positions = np.asarray(self.positions, dtype=np.float64).ravel()
        if self.frames.shape != self.positions.shape:
            raise ValueError(
                f"track {self.track_id}: {self.frames.size} frames but {self.positions.size} positions"
            )
        if self.frames.size > 1 and not np.all(np.diff(self.frames) == 1):
            raise ValueError(f"track {self.track_id}: frames must be consecutive and increasing")
        if self.gap is None:
            self.gap = np.zeros(self.frames.shape, dtype=bool)
        else:
            self.gap = np.asarray(self.gap, dtype=bool).ravel()
            if self.gap.shape != self.frames.shape:
                raise ValueError(f"track {self.track_id}: gap flags do not match frames")

    def __len__(self) -> int:
        return int(self.frames.size)

    @property
    def start(self) -> int:
        """First frame."""
        return int(self.frames[0])

    @property
    def end(self) -> int:
        """Last frame (inclusive)."""
        return int(self.frames[-1])

    @property
    def visible(self) -> np.ndarray:
        """Boolean per frame: True where the particle is not in a gap."""
        return ~self.gap

    def gaps(self) -> list[tuple[int, int]]:
        """Gaps as ``(first_frame, last_frame)`` inclusive runs of gap frames."""
        runs: list[tuple[int, int]] = []
        g = self.gap
        i = 0
        n = g.size
        while i < n:
            if g[i]:
                j = i
                while j + 1 < n and g[j + 1]:
                    j += 1
                runs.append((int(self.frames[i]), int(self.frames[j])))
                i = j + 1
            else:
                i += 1
        return runs

    def copy(self, **changes) -> "Track":
        """A deep copy with optional field changes."""
        kw = dict(
            track_id=self.track_id,
            frames=self.frames.copy(),
            positions=self.positions.copy(),
            gap=self.gap.copy(),
            size=self.size,
            brightness=self.brightness,
            confidence=self.confidence,
        )
        kw.update(changes)
        return Track(**kw)


def renumber(tracks: Iterable[Track], start: int = 1) -> list[Track]:
    """Copies of ``tracks`` sorted by (start frame, first position) and numbered from ``start``."""
    ordered = sorted(tracks, key=lambda t: (t.start, float(t.positions[0])))
    return [t.copy(track_id=start + i) for i, t in enumerate(ordered)]
