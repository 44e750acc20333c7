"""What the web app's worker processes run: one kymograph in, outputs and a JSON-ready result out.

Each worker process sets torch to its share of the CPU threads and loads the models once
(:func:`init_worker`); :func:`analyze_file` then runs :func:`kymotrace.pipeline.analyze` and
:func:`kymotrace.outputs.write_outputs`, exactly as ``kymotrace analyze`` does, and returns what
the page shows (tracks with their points, the per-track summary, the classifier's choice). A bad
file never raises: its result has ``status="failed"`` and an ``error`` naming the file by the
name the user gave it, never by its path on the server.
"""

from __future__ import annotations

import logging
import math
import signal
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["init_worker", "model_info", "analyze_file"]


def init_worker(threads: int = 1) -> None:
    """Pool initializer: ignore Ctrl-C (the server handles it), set torch threads, load models."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(max(1, int(threads)))
    from ..pipeline import get_models

    get_models()


def model_info() -> dict:
    """The shipped models' names, hashes and tuned thresholds (for ``GET /api/config``)."""
    from ..pipeline import get_models

    ms = get_models()
    described = ms.describe()
    return {
        "thresholds": {m: described[m]["threshold"] for m in ("uni", "bi") if described.get(m)},
        "models": described,
        "classifier": ms.classifier is not None,
    }


def _clean(v: Any) -> Any:
    """JSON-safe: NaN/inf -> None, numpy scalars -> Python, containers recursively."""
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            v = v.item()
        except (TypeError, ValueError):
            return str(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def _summary_rows(path: Path) -> tuple[list[str], list[dict]]:
    """summary.csv as written, read back into JSON-ready rows."""
    import pandas as pd

    df = pd.read_csv(path)
    cols = [str(c) for c in df.columns]
    return cols, [_clean(dict(zip(cols, rec))) for rec in df.itertuples(index=False, name=None)]


def _movie_kymograph(upload: str, movie: dict, settings: dict) -> tuple[str, dict]:
    """Make the kymograph of a movie along its path (:func:`kymotrace.movie.make_kymograph`) and
    save it as a calibrated TIFF beside the upload; its path and how it was made."""
    from ..movie import make_kymograph, parse_path, save_kymograph_tiff

    mk = make_kymograph(upload, parse_path(movie["path"]), width=int(movie.get("width") or 1),
                        channel=movie.get("channel"), pixel_size=settings.get("pixel_size"),
                        frame_interval=settings.get("frame_interval"))
    dest = Path(upload).parent / "made" / "kymograph.tif"
    dest.parent.mkdir(exist_ok=True)
    save_kymograph_tiff(dest, mk.image, mk.image.shape, mk.calibration)
    return str(dest), dict(mk.source)


def analyze_file(upload: str, out_dir: str, stem: str, display_name: str, settings: dict, movie: dict | None = None) -> dict:
    """Analyse one uploaded file and write its outputs into ``out_dir/stem``.

    Parameters
    ----------
    upload : str
        The stored upload (its format is recognised from its content, not its name).
    out_dir, stem : str
        Outputs go to ``out_dir/stem/`` (written atomically by :func:`write_outputs`).
    display_name : str
        The file's (sanitised) name as the user gave it: used in messages and run.json.
    settings : dict
        ``threshold`` (None: the model's tuned value), ``mode``, ``pixel_size``,
        ``frame_interval``, ``anterograde``.
    movie : dict, optional
        The upload is a movie: make its kymograph along ``movie["path"]`` (text ``"x0,y0 x1,y1
        ..."``, ``width`` px, ``channel``) first; the kymograph is also written to the outputs as
        ``kymograph.tif``.

    Returns
    -------
    dict
        ``status`` ("done" or "failed"), ``error`` (a message or None), ``elapsed_s`` and, when
        done, ``result``: mode, classifier probabilities, threshold, shape, calibration,
        tracks with their points ``[frame, position, gap]``, the summary table and the
        kymograph-level summary.
    """
    from ..analysis import MotionSettings
    from ..errors import KymotraceError
    from ..outputs import write_outputs
    from ..pipeline import analyze

    t0 = time.perf_counter()
    out: dict = {"status": "failed", "error": None, "result": None}
    made = None
    try:
        source = None
        if movie is not None:
            made, source = _movie_kymograph(upload, movie, settings)
            source["movie"] = display_name
        res = analyze(
            made or upload, threshold=settings.get("threshold"), mode=settings.get("mode", "auto"),
            pixel_size=settings.get("pixel_size"), frame_interval=settings.get("frame_interval"),
        )
        motion = MotionSettings(anterograde=settings.get("anterograde", "right"), kind=res.mode)
        per = write_outputs(res, out_dir, stem=stem, motion=motion, source=display_name)
        if made is not None:
            import shutil

            shutil.copyfile(made, Path(out_dir) / stem / "kymograph.tif")
        cols, rows = _summary_rows(Path(out_dir) / stem / "summary.csv")
        cal = res.calibration
        s = res.settings
        out["result"] = _clean({
            "n_tracks": len(res.tracks),
            "mode": res.mode,
            "mode_requested": s.get("mode_requested"),
            "mode_confidence": res.mode_confidence,
            "classifier": s.get("classifier"),
            "mode_check": {k: v for k, v in (s.get("mode_check") or {}).items() if k in ("used", "why", "p_bi", "overruled")} or None,
            "threshold": s.get("threshold"),
            "threshold_source": s.get("threshold_source"),
            "anterograde": motion.anterograde,
            "shape": list(res.kymograph.shape),
            "calibration": {"pixel_size_um": cal.pixel_size, "frame_interval_s": cal.frame_interval, "source": cal.source},
            "polarity": res.kymograph.polarity,
            "notes": list(res.kymograph.notes),
            "tracks": [
                {
                    "track_id": int(t.track_id),
                    "points": [[int(f), float(x), int(bool(g))] for f, x, g in zip(t.frames, t.positions, t.gap)],
                }
                for t in sorted(res.tracks, key=lambda t: int(t.track_id))
            ],
            "movie": source,
            "summary_columns": cols,
            "summary": rows,
            "kymograph_summary": per,
        })
        out["status"] = "done"
    except KymotraceError as exc:
        out["error"] = str(exc)
    except MemoryError:
        out["error"] = f"{upload}: out of memory; analyse a smaller kymograph or crop it"
    except Exception as exc:  # one bad file must never take down the worker or the job
        log.debug("internal error on %s", upload, exc_info=True)
        out["error"] = f"{upload}: internal error ({type(exc).__name__}: {exc}); please report it"
    if out["error"]:
        if made is not None:
            out["error"] = out["error"].replace(made, f"{display_name} (kymograph)")
        out["error"] = out["error"].replace(str(upload), display_name)
    out["elapsed_s"] = round(time.perf_counter() - t0, 3)
    return out
