"""``kymotrace analyze INPUT... --out DIR``: trace kymographs and write every output.

Inputs may be files or folders (their TIFF/PNG/JPEG files, not recursive). A failing file is
reported and skipped; the rest of the batch completes; the exit code is 1 if any file failed.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
from pathlib import Path

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".tif", ".tiff", ".png", ".jpg", ".jpeg"}
#: the batch table written into --out
TABLE = "kymographs.csv"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="kymograph files or folders of them")
    parser.add_argument("--out", required=True, help="output folder (one subfolder per input)")
    parser.add_argument("--threshold", type=float, default=None, help="trackness threshold in (0, 1); default: the model's tuned value")
    parser.add_argument("--mode", choices=["auto", "uni", "bi"], default="auto", help="auto: the classifier decides; a check on the traced tracks may overrule it when sure (see --no-mode-check)")
    parser.add_argument(
        "--model", action="append", default=None, metavar="NAME|PATH|MODULE=PATH",
        help="a model name or file replacing the shipped one of its module; repeat as MODULE=PATH (e.g. bi=my_bi.pt) for several",
    )
    parser.add_argument("--tracer", choices=["assign", "paper"], default="assign",
                        help="assign (default): per-frame detection and global assignment by motion; paper: KymoButler's skeleton components (uni) / skeleton walk (bi)")
    parser.add_argument("--decision", choices=["auto", "net", "motion"], default="auto", help="with --tracer paper: how the bidirectional skeleton walk decides at crossings and gaps")
    parser.add_argument("--min-size", type=int, default=3, help="drop tracks with fewer pixels (default 3)")
    parser.add_argument("--min-frames", type=int, default=3, help="drop tracks with fewer frames (default 3)")
    parser.add_argument("--pixel-size", type=float, default=None, metavar="UM", help="µm per pixel (overrides the file)")
    parser.add_argument("--frame-interval", type=float, default=None, metavar="S", help="seconds per frame (overrides the file)")
    parser.add_argument("--channel", type=int, default=None, help="channel of a colour image to analyse")
    parser.add_argument("--axes", choices=["TX", "XT"], default="TX", help="TX: rows are frames (default); XT: rows are positions")
    parser.add_argument("--invert", choices=["auto", "yes", "no"], default="auto", help="dark-on-light input: detect (auto) or force")
    parser.add_argument("--anterograde", choices=["right", "left"], default="right", help="which way along the path is anterograde (default right: increasing position)")
    parser.add_argument("--keep-static", action="store_true",
                        help="do not subtract the static background (unidirectional: what stays put in a column for over 75%% of the frames; "
                             "bidirectional: the smooth floor and static bands wider than particles)")
    parser.add_argument("--no-hysteresis", action="store_true",
                        help="unidirectional kymographs: trace at the threshold only, instead of following tracks down to 0.83 x the threshold")
    parser.add_argument("--no-relink", action="store_true",
                        help="keep the frame-by-frame tracer's tracks instead of re-linking them where particles meet with the learned linkers (bidirectional: all tracks; unidirectional: those moving the same way)")
    parser.add_argument("--no-mode-check", action="store_true",
                        help="--mode auto: let the classifier alone choose, instead of combining its call with what the traced tracks do (pauses, reversals, steady runs)")
    parser.add_argument("--keep-spikes", action="store_true",
                        help="do not replace single-pixel spikes (hot pixels, cosmic rays) before segmentation")
    parser.add_argument("--workers", type=int, default=None, help="parallel worker processes (default: up to 2)")


def write_table(rows: list[dict], path: Path) -> None:
    """Write one row per input (the union of the rows' keys as columns), atomically."""
    import csv

    from ..fileutil import atomic_open

    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    with atomic_open(path) as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow(r)


def check_calibration_and_out(args: argparse.Namespace) -> None:
    """The ``--pixel-size``, ``--frame-interval`` and ``--out`` checks shared by analyze and kymograph."""
    from ..errors import OptionError

    for name in ("pixel_size", "frame_interval"):
        v = getattr(args, name, None)
        if v is not None and not (v > 0 and math.isfinite(v)):
            raise OptionError(f"--{name.replace('_', '-')} must be positive (a finite number above 0), got {v}")
    if not str(args.out).strip():
        raise OptionError("--out must name a folder, got an empty string")


def check_threshold(value: float | None) -> None:
    """The ``--threshold`` check shared by analyze, kymograph and bench."""
    from ..errors import OptionError

    if value is not None and not 0 < value < 1:
        raise OptionError(f"--threshold must be between 0 and 1 (exclusive), got {value}; the paper's default is 0.2")


def _collect(inputs: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    files, missing = [], []
    for s in inputs:
        p = Path(s)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES and not q.name.startswith("."))
            if not found:
                missing.append((s, f"folder {s} contains no .tif/.tiff/.png/.jpg/.jpeg files"))
            files += found
        elif p.is_file():
            files.append(p)
        elif p.exists():
            missing.append((s, f"{s}: not a regular file (a device, pipe or socket); give an image file or a folder"))
        else:
            missing.append((s, f"{s}: no such file or folder"))
    return files, missing


#: output names that would clash with the batch table
_RESERVED = {TABLE.casefold()}


def _stems(files: list[Path]) -> list[str]:
    """One output folder name per input: its sanitised stem (:func:`kymotrace.outputs.safe_stem`),
    with ``-2``, ``-3``... added where two inputs share it. Names are compared case-insensitively
    (two folders differing only in case are one folder on some file systems), a generated name
    never takes another input's own stem, and none names the batch table."""
    from ..outputs import safe_stem

    bases = [safe_stem(f.stem) for f in files]
    taken = set(_RESERVED)
    first = {}
    for i, b in enumerate(bases):
        key = b.casefold()
        if key not in taken and key not in first:
            first[key] = i
    taken |= set(first)
    out = []
    for i, b in enumerate(bases):
        if first.get(b.casefold()) == i:
            out.append(b)
            continue
        n = 2
        while f"{b}-{n}".casefold() in taken:
            n += 1
        out.append(f"{b}-{n}")
        taken.add(f"{b}-{n}".casefold())
    return out


_OPTS: dict = {}


def _terminated(signum, frame):  # pragma: no cover - runs in a worker process being stopped
    raise SystemExit(128 + signum)  # unwinds, so output_folder removes its temporary folder


def _one_in_worker(path: str, stem: str) -> dict:  # pragma: no cover - runs in a worker process
    """:func:`_one` in a pool worker: a worker stopped by SIGTERM mid-file exits once its temporary
    folder is gone, so the pool reports it broken (and the batch goes on) instead of handing the
    exit back to the parent as this file's result."""
    try:
        return _one(path, stem)
    except SystemExit as exc:
        os._exit(exc.code if isinstance(exc.code, int) else 1)


def _init_worker(opts: dict, threads: int, in_pool: bool = True) -> None:
    if in_pool:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
        signal.signal(signal.SIGTERM, _terminated)  # the parent stops workers with SIGTERM
    _OPTS.clear()
    _OPTS.update(opts)
    import torch

    torch.set_num_threads(max(1, threads))


def _one(path: str, stem: str) -> dict:
    """Analyse one file and write its outputs; never raises for a bad file."""
    from ..analysis import MotionSettings
    from ..errors import KymotraceError
    from ..outputs import write_outputs
    from ..pipeline import analyze

    o = _OPTS
    row = {"file": path, "output": stem, "status": "ok", "error": "", "mode": "", "mode_confidence": "", "n_tracks": ""}
    try:
        res = analyze(
            path, threshold=o["threshold"], mode=o["mode"], min_size=o["min_size"], min_frames=o["min_frames"],
            model=o["model"], decision=o["decision"], uni_method=o["uni_method"], bi_method=o["bi_method"], invert=o["invert"], axes=o["axes"], channel=o["channel"],
            pixel_size=o["pixel_size"], frame_interval=o["frame_interval"],
            static=o["static"], despike=o["despike"], hysteresis=o["hysteresis"], relink=o["relink"],
            mode_check=o["mode_check"],
        )
        motion = MotionSettings(anterograde=o["anterograde"], kind=res.mode)
        per = write_outputs(res, o["out"], stem=stem, motion=motion, source=path)
        row.update(mode=res.mode, mode_confidence="" if res.mode_confidence is None else round(res.mode_confidence, 4), n_tracks=len(res.tracks))
        row.update({k: v for k, v in per.items() if isinstance(v, (int, float, str)) and k not in row})
    except KymotraceError as exc:
        row.update(status="failed", error=str(exc))
    except MemoryError:
        row.update(status="failed", error=f"{path}: out of memory; analyse a smaller kymograph or crop it")
    except Exception as exc:  # one bad file must never take down the batch
        log.debug("internal error on %s", path, exc_info=True)
        row.update(status="failed", error=f"{path}: internal error ({type(exc).__name__}: {exc}); please report it")
    return row


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..errors import OptionError
    from ..fileutil import make_writable_dir
    from ..outputs import sweep_partials

    check_threshold(args.threshold)
    for name in ("min_size", "min_frames"):
        if getattr(args, name) < 1:
            raise OptionError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    check_calibration_and_out(args)
    if args.channel is not None and args.channel < 0:
        raise OptionError(f"--channel must be 0 or more (0 is the first channel), got {args.channel}")
    if args.workers is not None and args.workers < 1:
        raise OptionError(f"--workers must be at least 1, got {args.workers}")
    model = check_model_option(args.model)
    out = Path(args.out)
    try:
        make_writable_dir(out)
    except OSError as exc:
        raise OptionError(f"cannot write to output folder {out}: {exc.strerror or exc}; choose a writable --out") from None
    if (out / TABLE).is_dir() or (out / TABLE).is_symlink():
        raise OptionError(f"{out / TABLE} is a folder or link, so the batch table cannot be written there; choose another --out")

    files, missing = _collect(args.inputs)
    rows = [{"file": s, "output": "", "status": "failed", "error": msg} for s, msg in missing]
    for r in rows:
        print(f"failed: {r['error']}", file=sys.stderr)
    opts = dict(
        threshold=args.threshold, mode=args.mode, min_size=args.min_size, min_frames=args.min_frames,
        model=args.model, decision=args.decision, invert={"auto": "auto", "yes": True, "no": False}[args.invert],
        axes=args.axes, channel=args.channel, pixel_size=args.pixel_size, frame_interval=args.frame_interval,
        anterograde=args.anterograde, out=str(out), static=not args.keep_static, despike=not args.keep_spikes,
        hysteresis=not args.no_hysteresis, relink=not args.no_relink, mode_check=not args.no_mode_check,
        uni_method="assign" if args.tracer == "assign" else "components",
        bi_method="assign" if args.tracer == "assign" else "skeleton",
    )
    opts["model"] = model
    stems = _stems(files)
    ncpu = os.cpu_count() or 1
    workers = args.workers or min(2, ncpu, max(1, len(files)))
    workers = min(workers, max(1, len(files)))
    bar = tqdm(total=len(files), desc="analyze", unit="file", file=sys.stderr, disable=None)
    jobs = [(str(f), stem) for f, stem in zip(files, stems)]
    try:
        if workers <= 1:
            _init_worker(opts, ncpu, in_pool=False)
            for path, stem in jobs:
                rows.append(_one(path, stem))
                _report(rows[-1], bar)
        else:
            rows += _run_pool(jobs, opts, workers, max(1, ncpu // workers), bar)
    finally:
        bar.close()
        # a worker killed outright cannot remove its temporary folder: remove them here
        sweep_partials(out, stems)
    try:
        write_table(rows, out / TABLE)
    except OSError as exc:
        raise OptionError(f"cannot write the batch table {out / TABLE}: {exc.strerror or exc}; the outputs of each input are complete in {out}/") from None
    failed = [r for r in rows if r["status"] != "ok"]
    ok = len(rows) - len(failed)
    print(f"analysed {ok} of {len(rows)} input(s); outputs in {out}/ (table: {out / TABLE})")
    if failed:  # each was printed as it failed
        print(f"{len(failed)} input(s) failed (listed above and in {out / TABLE})", file=sys.stderr)
    return 1 if failed else 0


def _new_pool(opts: dict, workers: int, threads: int):
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing as mp

    return ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker, initargs=(opts, threads))


def _stop_pool(ex) -> None:
    """Shut a pool down now: cancel what has not started and end its worker processes (SIGTERM,
    which they answer by cleaning up; then wait a moment for them)."""
    procs = list((getattr(ex, "_processes", None) or {}).values())  # before shutdown() forgets them
    ex.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        try:
            p.terminate()
        except (OSError, ValueError, AttributeError):
            pass
    for p in procs:
        try:
            p.join(timeout=5)
        except (OSError, ValueError, AttributeError, AssertionError):
            pass


def _crashed_row(path: str, stem: str) -> dict:
    return {"file": path, "output": stem, "status": "failed", "mode": "", "mode_confidence": "", "n_tracks": "",
            "error": f"{path}: the worker process analysing it died (killed, or out of memory); analyse it alone, or a cropped copy"}


def _run_pool(jobs: list[tuple[str, str]], opts: dict, workers: int, threads: int, bar) -> list[dict]:
    """Analyse ``jobs`` in ``workers`` processes; rows in input order.

    A worker that dies (killed, out of memory) breaks the pool. The files that may have been in
    flight then run again one at a time, each in a fresh one-process pool, so that a file whose
    worker dies again is reported as failed; the rest of the batch carries on in a fresh pool.
    """
    from concurrent.futures.process import BrokenProcessPool

    done: dict[int, dict] = {}
    suspects: list[int] = []
    pending = list(range(len(jobs)))
    while pending:
        if suspects:
            i = suspects.pop(0)
            ex = _new_pool(opts, 1, threads)
            try:
                try:
                    done[i] = ex.submit(_one_in_worker, *jobs[i]).result()
                except BrokenProcessPool:
                    done[i] = _crashed_row(*jobs[i])
                _report(done[i], bar)
            finally:
                _stop_pool(ex)
        else:
            ex = _new_pool(opts, workers, threads)
            try:
                futs = {i: ex.submit(_one_in_worker, *jobs[i]) for i in pending}
                for i in pending:
                    try:
                        done[i] = futs[i].result()
                    except BrokenProcessPool:
                        log.warning("a worker process died (killed, or out of memory); the files it may have "
                                    "been analysing run again one at a time")
                        for j in pending:  # keep what finished before the pool broke
                            f = futs[j]
                            if j not in done and f.done() and not f.cancelled() and f.exception() is None:
                                done[j] = f.result()
                                _report(done[j], bar)
                        # files run in order: the first unfinished ones were in flight
                        suspects = [j for j in pending if j not in done][: workers + 1]
                        break
                    _report(done[i], bar)
            finally:
                _stop_pool(ex)
        pending = [i for i in pending if i not in done]
    return [done[i] for i in range(len(jobs))]


def check_model_option(values: list[str] | None):
    """The parsed --model values (:func:`_model_option`); fails before any work when one names no
    shipped model and no existing file, or a given model file cannot be used."""
    from ..errors import OptionError
    from ..models.registry import available_models

    parsed = _model_option(values)
    if parsed is None:
        return None
    names = parsed.values() if isinstance(parsed, dict) else [parsed]
    known = available_models()
    for name in names:
        p = Path(name)
        if p.is_dir():
            raise OptionError(f"--model {name}: is a folder; give a model file (.pt) or one of: {', '.join(known)}")
        if not p.is_file() and name not in known:
            raise OptionError(f"--model {name}: no such model file, and no shipped model of that name; shipped: {', '.join(known)}")
    if any(Path(n).is_file() for n in names):
        # a user's model file is read once here, so a broken one fails the run up front, not every file
        from ..errors import KymotraceError
        from ..pipeline import get_models

        try:
            get_models(parsed)
        except KymotraceError as exc:
            raise OptionError(f"--model: {exc}") from None
    return parsed


def _model_option(values: list[str] | None):
    """--model values -> None, a single name/path, or a {module: name_or_path} dict."""
    from ..errors import OptionError

    if not values:
        return None
    if len(values) == 1 and "=" not in values[0]:
        return values[0]
    out = {}
    for v in values:
        module, sep, path = v.partition("=")
        if not sep or module not in ("classifier", "uni", "bi", "decision") or not path:
            raise OptionError(f"--model {v!r}: with several models use MODULE=PATH, MODULE one of classifier, uni, bi, decision")
        out[module] = path
    return out


def _report(row: dict, bar) -> None:
    bar.update(1)
    if row["status"] != "ok":
        bar.write(f"failed: {row['error']}", file=sys.stderr)
