"""Jobs of the web app: their folders, settings, worker pool, results, ZIP and expiry.

A job is one upload of one or more files analysed with one set of settings. It lives in its own
folder ``DATA_DIR/<job id>/`` (``uploads/<n>/<name>`` as received, ``out/<stem>/`` the outputs of
``kymotrace analyze``, ``results.zip`` once downloaded); its id is unguessable
(:func:`secrets.token_urlsafe`); it expires ``ttl_s`` seconds after it was created or last
finished, whichever is later, and its folder is removed then.

Files are analysed in a pool of worker processes (``spawn`` context; each sets torch to its share
of the CPU threads and loads the models once) fed by one dispatcher coroutine per worker, so
exactly ``workers`` files run at a time, in the order they arrived, whichever client sent them,
and a file's ``running`` status is true. Job state lives in memory and is only changed on the
event loop; the analysis never runs on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
import math
import os
import re
import secrets
import shutil
import tempfile
import time
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import OptionError
from ..fileutil import atomic_path

log = logging.getLogger(__name__)

__all__ = [
    "FILE_STATUSES",
    "JOB_STATUSES",
    "FileEntry",
    "Job",
    "JobManager",
    "TooLarge",
    "parse_settings",
    "sanitize_filename",
    "unique_stems",
]

JOB_STATUSES = ("queued", "running", "done", "failed")
FILE_STATUSES = ("queued", "running", "done", "failed")
MODES = ("auto", "uni", "bi")
ANTEROGRADE = ("right", "left")
DEFAULT_SETTINGS = {"threshold": None, "mode": "auto", "pixel_size": None, "frame_interval": None, "anterograde": "right"}
#: output name of the kymograph made from a movie
MOVIE_KYMOGRAPH = "kymograph.tif"
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_NAME_MAX = 100
_CHUNK = 1 << 20


class TooLarge(Exception):
    """An upload is over the size or count limit (HTTP 413)."""


# ------------------------------------------------------------------------------------ helpers


def sanitize_filename(name: str | None, fallback: str = "upload") -> str:
    """A safe file name from what a client sent: its last path component, ASCII letters, digits,
    ``.``, ``_`` and ``-`` only, no leading dot, at most 100 characters (extension kept).

    ``"../../etc/passwd"`` becomes ``"passwd"``, ``"C:\\\\data\\\\kymo 1.tif"`` ``"kymo_1.tif"``,
    ``".."`` or ``""`` the ``fallback``.
    """
    base = re.split(r"[\\/]", str(name or ""))[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._-")
    base = re.sub(r"\.{2,}", ".", base)
    if not base:
        return fallback
    if len(base) > _NAME_MAX:
        stem, dot, ext = base.rpartition(".")
        ext = ext[:10] if dot and stem else ""
        base = base[: _NAME_MAX - len(ext) - 1].rstrip("._-") + ("." + ext if ext else "")
    return base


def unique_stems(names: list[str]) -> list[str]:
    """Output folder names for ``names`` (extension dropped), unique within one job."""
    seen: set[str] = set()
    out = []
    for n in names:
        base = n.rsplit(".", 1)[0] if "." in n else n
        base = base or "file"
        stem, k = base, 1
        while stem.lower() in seen:
            k += 1
            stem = f"{base}-{k}"
        seen.add(stem.lower())
        out.append(stem)
    return out


def _number(name: str, value: Any, *, open_unit: bool = False) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null", "default", "auto")):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise OptionError(f"{name} must be a finite number, got {value!r}")
    if open_unit and not 0 < v < 1:
        raise OptionError(f"{name} must be between 0 and 1 (exclusive), got {value!r}; leave it empty for the model's tuned value")
    if not open_unit and not v > 0:
        raise OptionError(f"{name} must be positive, got {value!r}; leave it empty when unknown")
    return v


def parse_settings(form: dict[str, Any], base: dict | None = None) -> dict:
    """Validated analysis settings from form fields; fields not given (None) keep ``base``'s values.

    ``threshold`` (0..1 exclusive; ``default``, ``auto`` or empty: the model's tuned value),
    ``mode`` (auto/uni/bi), ``pixel_size`` (µm/px) and ``frame_interval`` (s/frame) (positive;
    ``none`` or empty: from the file, or unknown), ``anterograde`` (right/left). (FastAPI passes
    an empty form field as not given.)

    Raises
    ------
    OptionError
        A value outside what is allowed; the message says what is.
    """
    s = dict(DEFAULT_SETTINGS if base is None else base)
    if form.get("threshold") is not None:
        s["threshold"] = _number("threshold", form["threshold"], open_unit=True)
    for k in ("pixel_size", "frame_interval"):
        if form.get(k) is not None:
            s[k] = _number(k, form[k])
    if form.get("mode") is not None:
        mode = str(form["mode"]).strip().lower() or "auto"
        if mode not in MODES:
            raise OptionError(f"mode must be one of {', '.join(MODES)}, got {form['mode']!r}")
        s["mode"] = mode
    if form.get("anterograde") is not None:
        a = str(form["anterograde"]).strip().lower() or "right"
        if a not in ANTEROGRADE:
            raise OptionError(f"anterograde must be 'right' (toward increasing position) or 'left', got {form['anterograde']!r}")
        s["anterograde"] = a
    return s


# ------------------------------------------------------------------------------------ state


@dataclass
class FileEntry:
    """One file of a job."""

    index: int
    name: str  #: sanitised name as the user gave it
    stem: str  #: output folder name, unique within the job
    upload: Path
    status: str = "queued"
    error: str | None = None
    result: dict | None = None
    elapsed_s: float | None = None
    #: for a movie: {"path": "x0,y0 x1,y1 ...", "width": px, "channel": int or None}; the worker
    #: makes the kymograph along the path, then analyses it
    movie: dict | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


@dataclass
class Job:
    """One upload analysed with one set of settings."""

    id: str
    folder: Path
    settings: dict
    created: float
    files: list[FileEntry] = field(default_factory=list)
    rerun_of: str | None = None
    finished_at: float | None = None
    zip_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def out_dir(self) -> Path:
        return self.folder / "out"

    @property
    def status(self) -> str:
        """queued (nothing started), running, done (all finished, one or more done) or failed
        (all finished, every file failed)."""
        st = [f.status for f in self.files]
        if st and all(s in ("done", "failed") for s in st):
            return "done" if "done" in st else "failed"
        if all(s == "queued" for s in st):
            return "queued"
        return "running"

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")

    def add_upload(self, name: str | None, src: BinaryIO, limit: int | None = None, movie: dict | None = None) -> FileEntry:
        """Store one uploaded file (read from ``src``) as ``uploads/<n>/<sanitised name>``;
        ``movie`` (a path spec) makes it a movie to make a kymograph from.

        Raises
        ------
        TooLarge
            More than ``limit`` bytes (the partial file is removed).
        """
        index = len(self.files)
        safe = sanitize_filename(name, fallback=f"upload-{index + 1}")
        folder = self.folder / "uploads" / str(index)
        folder.mkdir(parents=True, exist_ok=False)
        dest = folder / safe
        size = 0
        with open(dest, "xb") as fh:
            while True:
                chunk = src.read(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if limit is not None and size > limit:
                    fh.close()
                    dest.unlink()
                    raise TooLarge(f"{safe}: the upload is larger than the server's limit of {limit / 2**20:g} MB")
                fh.write(chunk)
        entry = FileEntry(index=index, name=safe, stem="", upload=dest, movie=movie)
        self.files.append(entry)
        return entry

    def assign_stems(self) -> None:
        for f, stem in zip(self.files, unique_stems([f.name for f in self.files])):
            f.stem = stem


# ------------------------------------------------------------------------------------ manager


class JobManager:
    """Creates, runs, reports and expires jobs.

    Parameters
    ----------
    data_dir : path, optional
        Where job folders go; default a fresh temporary folder, removed on :meth:`stop`.
    workers : int, optional
        Worker processes (default: up to 2, at most the CPU count).
    threads : int, optional
        torch threads per worker (default: CPU count // workers, at least 1).
    ttl_s : float
        A job expires this long after it was created or last finished.
    max_upload_bytes : int
        Largest upload (all files of one request together).
    max_files : int
        Most files in one job.
    max_queued_files : int
        Files waiting or running over all jobs before new jobs are refused (server busy).
    """

    def __init__(
        self,
        data_dir: str | os.PathLike | None = None,
        *,
        workers: int | None = None,
        threads: int | None = None,
        ttl_s: float = 3600.0,
        max_upload_bytes: int = 50 * 2**20,
        max_files: int = 50,
        max_queued_files: int = 1000,
    ) -> None:
        ncpu = os.cpu_count() or 1
        self.workers = int(workers or min(2, ncpu))
        if self.workers < 1:
            raise OptionError(f"workers must be at least 1, got {workers}")
        self.threads = int(threads or max(1, ncpu // self.workers))
        if not ttl_s > 0:
            raise OptionError(f"the job lifetime must be positive, got {ttl_s}")
        self.ttl_s = float(ttl_s)
        self.max_upload_bytes = int(max_upload_bytes)
        self.max_files = int(max_files)
        self.max_queued_files = int(max_queued_files)
        self._data_dir_arg = data_dir
        self.data_dir: Path | None = None
        self._owns_data_dir = False
        self.jobs: dict[str, Job] = {}
        self._queue: asyncio.Queue | None = None
        self._tasks: list[asyncio.Task] = []
        self._pool = None
        self._info: asyncio.Future | None = None
        self._pending = 0

    # -- lifecycle

    async def start(self) -> None:
        """Create the data folder and the worker pool; start dispatchers and the expiry task."""
        if self._data_dir_arg is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="kymotrace-web-"))
            self._owns_data_dir = True
        else:
            self.data_dir = Path(self._data_dir_arg)
            try:
                self.data_dir.mkdir(parents=True, exist_ok=True)
                probe = self.data_dir / f".kymotrace-write-test-{os.getpid()}"
                probe.write_bytes(b"")
                probe.unlink()
            except OSError as exc:
                raise OptionError(f"cannot write to data folder {self.data_dir}: {exc.strerror or exc}; choose a writable --data-dir") from None
        self._queue = asyncio.Queue()
        self._pool = self._new_pool()
        loop = asyncio.get_running_loop()
        # one warm-up call per worker starts every process now (models load in the initializer)
        warm = [loop.run_in_executor(self._pool, _model_info) for _ in range(self.workers)]
        self._info = asyncio.ensure_future(_first(warm))
        self._tasks = [asyncio.create_task(self._dispatch(), name=f"kymotrace-dispatch-{i}") for i in range(self.workers)]
        self._tasks.append(asyncio.create_task(self._expire_loop(), name="kymotrace-expire"))

    async def stop(self) -> None:
        """Stop dispatching, shut the pool down and remove every job folder."""
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []
        if self._info is not None and not self._info.done():
            self._info.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._info
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
        for job in list(self.jobs.values()):
            self._remove(job)
        if self._owns_data_dir and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def _new_pool(self):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        from .worker import init_worker

        return ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"), initializer=init_worker, initargs=(self.threads,))

    async def info(self) -> dict:
        """The models' tuned thresholds and hashes (from a worker; torch stays out of the server)."""
        assert self._info is not None, "JobManager.start() was not called"
        return await asyncio.shield(self._info)

    # -- jobs

    def new_job(self, settings: dict, rerun_of: str | None = None) -> Job:
        """A new job with its own folder (not yet queued; add uploads, then :meth:`submit`)."""
        if self.data_dir is None:
            raise RuntimeError("JobManager.start() was not called")
        while True:
            jid = secrets.token_urlsafe(18)
            folder = self.data_dir / jid
            try:
                folder.mkdir()
                break
            except FileExistsError:  # pragma: no cover - 144 random bits
                continue
        return Job(id=jid, folder=folder, settings=dict(settings), created=time.time(), rerun_of=rerun_of)

    def check_capacity(self, n_files: int) -> None:
        """Raise :class:`TooLarge` when ``n_files`` is over the per-job limit."""
        if n_files > self.max_files:
            raise TooLarge(f"{n_files} files in one job; this server takes at most {self.max_files} (start it with --max-files to change that)")

    @property
    def busy(self) -> bool:
        return self._pending >= self.max_queued_files

    def submit(self, job: Job) -> None:
        """Register ``job`` and queue its files."""
        assert self._queue is not None
        job.assign_stems()
        self.jobs[job.id] = job
        for entry in job.files:
            self._pending += 1
            self._queue.put_nowait((job, entry))

    def discard(self, job: Job) -> None:
        """Drop a job that was never submitted (or is being expired) and remove its folder."""
        self.jobs.pop(job.id, None)
        self._remove(job)

    def get(self, job_id: str) -> Job | None:
        """The job, or None when unknown or expired."""
        if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
            return None
        job = self.jobs.get(job_id)
        if job is not None and self._expired(job, time.time()):
            self.discard(job)
            return None
        return job

    async def rerun(self, job: Job, settings: dict) -> Job:
        """A new job analysing ``job``'s stored uploads with ``settings``."""
        new = self.new_job(settings, rerun_of=job.id)
        try:
            for f in job.files:
                dest_dir = new.folder / "uploads" / str(f.index)
                dest_dir.mkdir(parents=True)
                dest = dest_dir / f.name
                try:
                    os.link(f.upload, dest)
                except OSError:
                    await asyncio.to_thread(shutil.copyfile, f.upload, dest)
                new.files.append(FileEntry(index=f.index, name=f.name, stem="", upload=dest, movie=f.movie))
        except BaseException:
            self.discard(new)
            raise
        self.submit(new)
        return new

    def expires_at(self, job: Job) -> float:
        return max(job.created, job.finished_at or 0.0) + self.ttl_s

    def _expired(self, job: Job, now: float) -> bool:
        return job.finished and now >= self.expires_at(job)

    def _remove(self, job: Job) -> None:
        shutil.rmtree(job.folder, ignore_errors=True)

    def expire(self, now: float | None = None) -> int:
        """Remove every finished job past its lifetime; returns how many."""
        now = time.time() if now is None else now
        old = [j for j in self.jobs.values() if self._expired(j, now)]
        for j in old:
            self.discard(j)
        return len(old)

    async def _expire_loop(self) -> None:
        interval = min(60.0, max(0.5, self.ttl_s / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                n = self.expire()
                if n:
                    log.info("expired %d job(s)", n)
            except Exception:  # pragma: no cover - never let cleanup die
                log.exception("job expiry failed")

    async def _dispatch(self) -> None:
        from concurrent.futures.process import BrokenProcessPool

        from .worker import analyze_file

        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            job, entry = await self._queue.get()
            try:
                if self.jobs.get(job.id) is not job:  # expired or discarded meanwhile
                    continue
                entry.status = "running"
                pool = self._pool
                try:
                    out = await loop.run_in_executor(
                        pool, analyze_file, str(entry.upload), str(job.out_dir), entry.stem, entry.name, job.settings,
                        entry.movie,
                    )
                except BrokenProcessPool:
                    out = {"status": "failed", "result": None, "elapsed_s": None,
                           "error": f"{entry.name}: the analysis process stopped unexpectedly (out of memory?); try a smaller kymograph"}
                    if self._pool is pool:  # the first dispatcher to notice replaces the pool
                        self._restart_pool()
                except Exception as exc:  # pragma: no cover - analyze_file catches its own errors
                    out = {"status": "failed", "result": None, "elapsed_s": None,
                           "error": f"{entry.name}: internal error ({type(exc).__name__}: {exc}); please report it"}
                entry.status = out["status"]
                entry.error = out.get("error")
                entry.result = out.get("result")
                entry.elapsed_s = out.get("elapsed_s")
                if job.finished:
                    job.finished_at = time.time()
            finally:
                self._pending -= 1
                self._queue.task_done()

    def _restart_pool(self) -> None:
        old, self._pool = self._pool, self._new_pool()
        if old is not None:
            old.shutdown(wait=False, cancel_futures=True)

    # -- reporting

    def job_dict(self, job: Job, prefix: str = "") -> dict:
        """What ``GET /api/jobs/{id}`` answers."""
        base = f"{prefix}/api/jobs/{job.id}"
        files = []
        for f in job.files:
            d: dict[str, Any] = {"index": f.index, "name": f.name, "kind": "movie" if f.movie else "kymograph",
                                 "output": f.stem, "status": f.status, "error": f.error, "elapsed_s": f.elapsed_s,
                                 "result": None}
            if f.movie:
                d["movie"] = dict(f.movie)
            if f.result is not None:
                d["result"] = {**f.result, "outputs": {n: f"{base}/files/{f.index}/{n}" for n in _outputs(f)}}
            files.append(d)
        counts = {s: sum(1 for f in job.files if f.status == s) for s in FILE_STATUSES}
        return {
            "job_id": job.id,
            "status": job.status,
            "settings": job.settings,
            "rerun_of": job.rerun_of,
            "created": job.created,
            "expires_at": self.expires_at(job),
            "counts": counts,
            "download": f"{base}/download",
            "files": files,
        }

    def output_path(self, job: Job, index: int, name: str) -> Path | None:
        """The path of one output file of a finished, successful file of ``job``, or None."""
        if not 0 <= index < len(job.files):
            return None
        f = job.files[index]
        if name not in _outputs(f) or f.status != "done":
            return None
        p = job.out_dir / f.stem / name
        return p if p.is_file() else None

    async def zip_path(self, job: Job) -> Path:
        """``results.zip`` of a finished job (built once): every output folder and kymographs.csv."""
        async with job.zip_lock:
            dest = job.folder / "results.zip"
            if not dest.is_file():
                await asyncio.to_thread(_write_zip, dest, job)
            return dest


def _outputs(f: FileEntry) -> tuple[str, ...]:
    """The output files of one file: kymotrace analyze's, plus the kymograph made from a movie."""
    from ..outputs import OUTPUT_FILES

    return OUTPUT_FILES + (MOVIE_KYMOGRAPH,) if f.movie else OUTPUT_FILES


async def _first(futs: list) -> dict:
    done = await asyncio.gather(*futs)
    return done[0]


def _model_info() -> dict:
    from .worker import model_info

    return model_info()


def _table(job: Job) -> str:
    rows = []
    for f in job.files:
        r = f.result or {}
        row: dict[str, Any] = {
            "file": f.name, "output": f.stem if f.status == "done" else "", "status": "ok" if f.status == "done" else "failed",
            "error": f.error or "", "mode": r.get("mode", ""),
            "mode_confidence": "" if r.get("mode_confidence") is None else round(r["mode_confidence"], 4),
            "n_tracks": r.get("n_tracks", ""), "threshold": r.get("threshold", ""),
        }
        for k, v in (r.get("kymograph_summary") or {}).items():
            if k not in row and (v is None or isinstance(v, (int, float, str))):
                row[k] = "" if v is None else v
        rows.append(row)
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def _write_zip(dest: Path, job: Job) -> None:
    with atomic_path(dest) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("kymographs.csv", _table(job))
            for f in job.files:
                folder = job.out_dir / f.stem
                if f.status != "done" or not folder.is_dir():
                    continue
                for p in sorted(folder.iterdir()):
                    if p.is_file():
                        # PNG and ZIP are compressed already
                        ct = zipfile.ZIP_STORED if p.suffix in (".png", ".zip") else zipfile.ZIP_DEFLATED
                        zf.write(p, f"{f.stem}/{p.name}", compress_type=ct)
