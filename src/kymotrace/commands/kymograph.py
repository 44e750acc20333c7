"""``kymotrace kymograph MOVIE (--path "x0,y0 x1,y1 ..." | --roi FILE) --out DIR``: make kymographs.

One kymograph per path (a RoiSet gives one per ROI) and per channel (``--channel all``). Each
goes to ``DIR/<name>/``: ``<name>.tif`` (float32, ImageJ calibration: µm along x, s down y),
``<name>.png`` (preview) and ``kymograph.json`` (movie, path, width, channel, calibration). The
movie is read one frame at a time and the TIFF written row by row, so memory does not grow with
the movie's length. With ``--analyze`` each kymograph is then traced like ``kymotrace analyze``
does and its outputs (tracks.csv, summary.csv, overlay.png, ...) are added to the same folder;
``DIR/kymographs.csv`` lists every kymograph with its analysis status.

Names: ``<movie>`` for a ``--path``; ``<movie>_<roi name>`` for ROIs; ``_c<C>`` is appended with
``--channel all`` on a multi-channel movie. ``<movie>`` is the movie's file name without its
extension and without dots, underscores or spaces at its ends (``movie`` if nothing is left).
A kymograph folder never replaces a folder that holds the movie or the ROI file.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("movie", metavar="MOVIE", help="time-lapse TIFF stack or hyperstack (ImageJ/OME)")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--path", metavar='"x0,y0 x1,y1 ..."',
                     help="polyline in pixel coordinates (0-based pixel centres, as in ImageJ)")
    src.add_argument("--roi", metavar="FILE",
                     help="ImageJ line/segmented/freehand ROI (.roi) or RoiSet (.zip): one kymograph per ROI")
    parser.add_argument("--width", type=int, default=None,
                        help="line width in px: samples across the path, 1 px apart (default: the ROI's line width, else 1)")
    parser.add_argument("--reduce", choices=["mean", "max"], default="mean", help="across the width (default mean)")
    parser.add_argument("--channel", default=None, metavar="C|all",
                        help="channel of a multi-channel movie (0-based), or 'all' for one kymograph per channel")
    parser.add_argument("--z", default="max", metavar="max|N", help="z-stacks: maximum projection (default) or plane N")
    parser.add_argument("--pixel-size", type=float, default=None, metavar="UM", help="µm per pixel (overrides the movie)")
    parser.add_argument("--frame-interval", type=float, default=None, metavar="S",
                        help="seconds per frame (overrides the movie)")
    parser.add_argument("--out", default=".", help="output folder (one subfolder per kymograph; default: current folder)")
    parser.add_argument("--analyze", action="store_true", help="also trace each kymograph and write the analysis outputs")
    parser.add_argument("--mode", choices=["auto", "uni", "bi"], default="auto", help="with --analyze: auto lets the classifier decide")
    parser.add_argument("--threshold", type=float, default=None, help="with --analyze: trackness threshold in (0, 1)")
    parser.add_argument("--model", action="append", default=None, metavar="NAME|PATH|MODULE=PATH",
                        help="with --analyze: models replacing the shipped ones (as in kymotrace analyze)")


def _channels(text: str | None, movie) -> list[int | None]:
    from ..errors import OptionError

    if text is None:
        return [None]
    if text.strip().lower() == "all":
        return list(range(movie.n_channels)) if movie.n_channels > 1 else [None]
    try:
        c = int(text)
    except ValueError:
        raise OptionError(f"--channel {text!r}: give a 0-based channel number or 'all'") from None
    if c < 0:
        raise OptionError(f"--channel {text!r}: channel numbers start at 0")
    return [c]


def _z(text: str):
    from ..errors import OptionError

    if str(text).strip().lower() == "max":
        return "max"
    try:
        z = int(text)
    except ValueError:
        raise OptionError(f"--z {text!r}: use 'max' (maximum projection) or a plane number") from None
    return z


def _write_one(job, folder_parent: Path, stem: str) -> Path:
    """Write the kymograph folder ``folder_parent/stem`` (TIFF, preview, JSON), all or nothing."""
    from .. import __version__
    from ..movie import _Preview, _source, iter_kymograph_rows, save_kymograph_tiff, save_preview_png
    from ..outputs import output_folder
    from ..tracksio import write_run_json

    g = job.geometry
    shape = (job.movie.n_frames, g.n_columns)
    preview = _Preview(*shape)
    final = folder_parent / stem
    with output_folder(final) as tmp:
        save_kymograph_tiff(tmp / f"{stem}.tif", iter_kymograph_rows(job), shape, job.calibration, on_row=preview.add)
        save_preview_png(tmp / f"{stem}.png", preview.image())
        cal = job.calibration
        info = {
            "kymotrace_version": __version__,
            "kymograph": f"{stem}.tif",
            "shape_frames_positions": list(shape),
            **_source(job),
            "calibration": {"pixel_size_um": cal.pixel_size, "frame_interval_s": cal.frame_interval,
                            "source": cal.source},
            "notes": list(job.notes),
        }
        write_run_json(tmp / "kymograph.json", info)
    return final


def _analyze_into(folder: Path, stem: str, analyze_args: list[str]) -> dict:
    """Trace ``folder/<stem>.tif`` exactly as ``kymotrace analyze`` does (its own option handling and
    per-file function, into a hidden staging folder) and move the outputs into ``folder``."""
    import contextlib
    import csv
    import io
    import shutil

    from . import analyze as an

    staging = folder / f".analysis-{os.getpid()}"
    parser = argparse.ArgumentParser(prog="kymotrace analyze")
    an.add_arguments(parser)
    ns = parser.parse_args([str(folder / f"{stem}.tif"), "--out", str(staging), "--workers", "1", *analyze_args])
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            an.run(ns)
        rows = list(csv.DictReader((staging / "kymographs.csv").read_text(encoding="utf-8").splitlines()))
        row = rows[0]
        made = staging / stem
        if row.get("status") == "ok" and made.is_dir():
            for f in sorted(made.iterdir()):
                os.replace(f, folder / f.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return row


def run(args: argparse.Namespace) -> int:
    """Run the command; an output folder this run created stays only if something was written to it."""
    out = Path(args.out) if str(args.out).strip() else None
    existed = out is None or out.exists()
    try:
        return _run(args)
    except BaseException:
        if not existed and out.is_dir() and not any(out.iterdir()):
            try:
                out.rmdir()
            except OSError:
                pass
        raise


def _run(args: argparse.Namespace) -> int:
    from ..errors import InputError, KymotraceError, OptionError
    from ..movie import MAX_WIDTH, Movie, _prepare, parse_path, read_roi_paths, width_limit
    from ..outputs import refuse_if_holds_input, safe_stem
    from .analyze import check_calibration_and_out, check_threshold

    if args.width is not None and args.width < 1:
        raise OptionError(f"--width must be at least 1 px, got {args.width}")
    if args.width is not None and args.width > MAX_WIDTH:
        raise OptionError(f"--width {args.width} is too wide: the line width may be at most {MAX_WIDTH} px (and no "
                          "more than the movie's larger side); give a smaller --width")
    check_threshold(args.threshold)
    if not args.analyze and (args.threshold is not None or args.model or args.mode != "auto"):
        raise OptionError("--mode, --threshold and --model apply with --analyze only")
    check_calibration_and_out(args)
    for what, f in (("movie", args.movie), ("ROI file", args.roi)):
        if f is not None and Path(f).exists() and not Path(f).is_file():
            kind = "a folder" if Path(f).is_dir() else "not a regular file (a device, pipe or socket)"
            raise InputError(f"{what} {f} is {kind}; give a file")
    if args.analyze:
        from .analyze import check_model_option

        check_model_option(args.model)
    z = _z(args.z)
    # paths first: a bad path or ROI file fails before the movie is touched
    if args.path is not None:
        paths = [(None, parse_path(args.path), None)]
    else:
        paths = [(r.name, r.points, r.line_width) for r in read_roi_paths(args.roi)]
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OptionError(f"cannot create output folder {out}: {exc.strerror or exc}; choose a writable --out") from None

    with Movie(args.movie) as movie:
        log.info("%s", movie.describe())
        channels = _channels(args.channel, movie)
        limit = width_limit((movie.height, movie.width))
        size = f"{movie.width} x {movie.height} px"
        if args.width is not None and args.width > limit:
            raise OptionError(f"--width {args.width} is wider than the movie {args.movie} ({size}): the line width "
                              f"may be at most {limit} px, the movie's larger side; give a smaller --width")
        # the movie's file name without dots, underscores or spaces at its ends names the outputs
        # ('..tif' would otherwise name the output folder itself, or its parent)
        base = safe_stem(Path(args.movie).stem, "movie")
        jobs, rows = [], []
        for roi_name, pts, roi_width in paths:
            width = args.width if args.width is not None else (int(round(roi_width)) if roi_width else 1)
            for c in channels:
                stem = base if roi_name is None else f"{base}_{roi_name}"
                if len(channels) > 1:
                    stem += f"_c{c}"
                label = f"{args.movie}: " + ("path" if roi_name is None else f"ROI {roi_name!r}")
                try:
                    if width > limit:  # only a ROI's own width gets here: --width was checked above
                        raise InputError(f"ROI file {args.roi}: ROI {roi_name!r} has a line width of {width} px, wider "
                                         f"than the movie {args.movie} ({size}; at most {limit} px); give a smaller "
                                         "--width or redraw the ROI")
                    job = _prepare(movie, pts, width, args.reduce, c, z, args.pixel_size, args.frame_interval, name=label)
                except InputError as exc:
                    if len(paths) == 1:
                        raise
                    rows.append({"kymograph": stem, "status": "failed", "error": str(exc)})
                    print(f"failed: {exc}", file=sys.stderr)
                    continue
                if roi_width and args.width is None and width > 1:
                    job.notes.info(f"line width {width} px taken from the ROI")
                jobs.append((stem, job))
        if len({s.lower() for s, _ in jobs}) != len(jobs):  # pragma: no cover - names are made unique
            raise InputError("two kymographs would get the same name; rename the ROIs")
        for stem, _ in jobs:  # before anything is written
            refuse_if_holds_input(out / stem, [args.movie, args.roi])
        analyze_args: list[str] = ["--mode", args.mode]
        if args.threshold is not None:
            analyze_args += ["--threshold", str(args.threshold)]
        for m in args.model or []:
            analyze_args += ["--model", m]
        for stem, job in jobs:
            job.notes.log(stem)
            folder = _write_one(job, out, stem)
            g = job.geometry
            row = {"kymograph": stem, "status": "ok", "error": "", "folder": str(folder),
                   "frames": movie.n_frames, "positions": g.n_columns, "width_px": g.width,
                   "channel": job.channel, "pixel_size_um": job.calibration.pixel_size or "",
                   "frame_interval_s": job.calibration.frame_interval or ""}
            print(f"{folder / (stem + '.tif')}: {movie.n_frames} frames x {g.n_columns} positions"
                  f" ({job.calibration.describe()})")
            if args.analyze:
                res = _analyze_into(folder, stem, analyze_args)
                row.update(status=res["status"], error=res.get("error", ""), mode=res.get("mode", ""),
                           n_tracks=res.get("n_tracks", ""))
                if res["status"] != "ok":
                    print(f"failed: {res['error']}", file=sys.stderr)
                else:
                    print(f"  analysed: {res['n_tracks']} tracks ({res['mode']}) in {folder}/")
            rows.append(row)
    if args.analyze:
        from .analyze import write_table

        write_table(rows, out / "kymographs.csv")
    failed = [r for r in rows if r["status"] != "ok"]
    if not jobs and not failed:
        raise KymotraceError("nothing to do: no path")
    return 1 if failed else 0
