"""Write every output of one analysed kymograph into ``OUT/<stem>/``, all or nothing.

The files are written into a hidden temporary folder beside the final one, which is renamed into
place only when every file is complete: an interrupted or failed run never leaves a half-written
output folder under its final name.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from pathlib import Path

from . import FORMAT_VERSION, __version__
from .errors import InputError

__all__ = ["OUTPUT_FILES", "write_outputs", "output_folder", "foreign_content", "refuse_if_holds_input", "safe_stem", "sweep_partials"]

OUTPUT_FILES = (
    "tracks.csv",
    "summary.csv",
    "kymobutler_summary.csv",
    "overlay.png",
    "plots.png",
    "tracks_roi.zip",
    "run.json",
)


#: files a kymotrace command writes into an output folder besides OUTPUT_FILES (the kymograph
#: command's record; its ``<stem>.tif`` and ``<stem>.png`` are allowed by name)
_OTHER_OUTPUTS = ("kymograph.json",)
_MARKERS = ("run.json", "kymograph.json")


def foreign_content(final: Path) -> str | None:
    """Why ``final`` must not be replaced by a new output folder, or None when it may be: it does
    not exist, or it is a folder that kymotrace wrote (a ``run.json`` or ``kymograph.json`` from
    kymotrace and nothing but kymotrace's own output files)."""
    final = Path(final)
    if not final.exists() and not final.is_symlink():
        return None
    if final.is_symlink() or not final.is_dir():
        return f"{final} exists and is not a folder"
    allowed = set(OUTPUT_FILES) | set(_OTHER_OUTPUTS) | {f"{final.name}.tif", f"{final.name}.png"}
    try:
        entries = list(final.iterdir())
    except OSError as exc:
        return f"{final} cannot be read ({exc.strerror})"
    others = sorted(e.name for e in entries if e.name not in allowed or not e.is_file())
    if others:
        return f"{final} already exists and holds files kymotrace did not write ({', '.join(others[:3])}{', ...' if len(others) > 3 else ''})"
    import json

    for name in _MARKERS:
        try:
            info = json.loads((final / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and "kymotrace_version" in info:
            return None
    return f"{final} already exists and is not a kymotrace output folder (no run.json or kymograph.json from kymotrace)"


def refuse_if_holds_input(final: Path, inputs) -> None:
    """Raise :class:`InputError` when one of ``inputs`` (paths) lies inside folder ``final`` (or is
    it): writing an output folder there would replace the input."""
    target = Path(final).resolve()
    for src in inputs:
        if src is None:
            continue
        p = Path(src).resolve()
        if p == target or target in p.parents:
            raise InputError(f"the output folder {final} holds the input file {src}; writing there would replace it: "
                             "choose another --out (e.g. a new folder)")


@contextlib.contextmanager
def output_folder(final: Path, *, inputs=()):
    """Yield a temporary folder that replaces ``final`` when the block succeeds.

    An existing ``final`` is replaced only if it is an earlier kymotrace output folder
    (:func:`foreign_content`) that holds none of ``inputs`` (the files being analysed); anything
    else raises :class:`InputError` before any file is written, so a user's own folder, or the
    folder holding the input, is never deleted.
    """
    final = Path(final)
    refuse_if_holds_input(final, inputs)
    why = foreign_content(final)
    if why:
        raise InputError(f"{why}; kymotrace will not replace it: choose another --out or move it away")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    except OSError as exc:
        raise InputError(f"cannot write to output folder {final.parent}: {exc.strerror}; choose a writable --out") from None
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if final.exists() or final.is_symlink():
            why = foreign_content(final)  # it may have appeared while the outputs were written
            if why:
                raise InputError(f"{why}; kymotrace will not replace it: choose another --out or move it away")
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sweep_partials(out_dir: Path, stems) -> int:
    """Remove the hidden temporary folders that :func:`output_folder` made for ``stems`` under
    ``out_dir`` (left behind when a worker process was killed before it could clean up).
    Returns how many were removed."""
    n = 0
    for stem in stems:
        for tmp in Path(out_dir).glob(f".{glob.escape(stem)}.*.partial"):
            rand = tmp.name[len(stem) + 2 : -len(".partial")]  # mkdtemp's random part has no dot:
            if "." in rand:  # '.a.b.xyz.partial' belongs to stem 'a.b', not 'a'
                continue
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp, ignore_errors=True)
                n += 1
    return n


def safe_stem(name: str, default: str = "kymograph") -> str:
    """A name for an output file or folder from a file stem or label: without leading and trailing
    dots, underscores and white space (a stem of '.' or '..' would name the output folder's parent
    or itself, and a leading dot would hide it), or ``default`` if nothing is left."""
    return str(name).strip("._ \t\r\n\f\v") or default


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def write_outputs(result, out_dir: str | os.PathLike, *, stem: str, motion=None, source: str | None = None) -> dict:
    """Write tracks.csv, summary.csv, kymobutler_summary.csv, overlay.png, plots.png,
    tracks_roi.zip and run.json for one :class:`kymotrace.pipeline.Result`.

    Returns the per-kymograph summary dict (for the batch table ``kymographs.csv``).
    """
    from .analysis import MotionSettings, kymobutler_summary, kymograph_summary, track_summary
    from .report import save_overlay, save_plots
    from .roi import save_roi_zip
    from .tracksio import write_run_json, write_tracks_csv

    motion = motion or MotionSettings(kind=result.mode)
    cal = result.calibration
    shape = result.kymograph.image.shape
    tracks = result.tracks
    summary = track_summary(tracks, calibration=cal, settings=motion, shape=shape)
    kb = kymobutler_summary(tracks, calibration=cal, kind=result.mode)
    per_kymo = kymograph_summary(tracks, calibration=cal, settings=motion, shape=shape, table=summary)
    calibrated = bool(cal is not None and cal.pixel_size and cal.frame_interval)
    final = Path(out_dir) / stem
    with output_folder(final, inputs=[source]) as tmp:
        write_tracks_csv(tmp / "tracks.csv", tracks, calibration=cal)
        summary.to_csv(tmp / "summary.csv", index=False)
        kb.to_csv(tmp / "kymobutler_summary.csv", index=False)
        save_overlay(tmp / "overlay.png", result.kymograph.image, tracks)
        save_plots(tmp / "plots.png", summary, calibrated=calibrated)
        save_roi_zip(tmp / "tracks_roi.zip", tracks)
        run = {
            "kymotrace_version": __version__,
            "format_version": FORMAT_VERSION,
            "input": source,
            "shape_frames_positions": list(shape),
            "n_tracks": len(tracks),
            **result.settings,
            "calibration": {
                "pixel_size_um": cal.pixel_size,
                "frame_interval_s": cal.frame_interval,
                "source": cal.source,
            },
            "input_notes": list(result.kymograph.notes),
            "motion": motion.__dict__ if hasattr(motion, "__dict__") else str(motion),
            "summary": per_kymo,
        }
        write_run_json(tmp / "run.json", run)
    return per_kymo
