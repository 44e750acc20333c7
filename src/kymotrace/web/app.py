"""The web app: the drag-and-drop page and the JSON API it uses (FastAPI).

:func:`create_app` builds the app; ``kymotrace serve`` runs it with uvicorn. The page
(``static/index.html``, ``app.js``, ``style.css``) is served from the package, with nothing from
any other site (a Content-Security-Policy says so to the browser). The API is documented as
OpenAPI at ``/api/openapi.json`` and readable at ``/api/docs`` (a local page, no CDN).

API (all under ``/api``):

* ``GET /config``: the models' tuned thresholds, limits, allowed values.
* ``POST /jobs``: multipart ``files`` (one or more) and form fields ``threshold``, ``mode``,
  ``pixel_size``, ``frame_interval``, ``anterograde``; answers ``{"job_id": ...}`` (202).
* ``GET /jobs/{job_id}``: status and, per file, its status, results or error.
* ``GET /jobs/{job_id}/files/{index}``: one file's status and results.
* ``GET /jobs/{job_id}/files/{index}/{name}``: one output file (tracks.csv, overlay.png, ...).
* ``POST /jobs/{job_id}/rerun``: the stored uploads again with new settings; a new job id.
* ``GET /jobs/{job_id}/download``: every output as one ZIP.
* ``DELETE /jobs/{job_id}``: remove a job and its files now.

An unknown or expired job id answers 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from .. import __version__
from ..errors import KymotraceError, OptionError
from .jobs import FILE_STATUSES, JOB_STATUSES, JobManager, TooLarge, parse_settings

log = logging.getLogger(__name__)

__all__ = ["create_app", "STATIC_DIR"]

STATIC_DIR = Path(str(resources.files("kymotrace.web").joinpath("static")))
#: room for the form fields and multipart boundaries on top of the files themselves
_FORM_OVERHEAD = 256 * 1024
_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

# ------------------------------------------------------------------------------- API models

THRESHOLD_DOC = "Trackness threshold in (0, 1), or default: the model's tuned value (see GET /api/config)."
MODE_DOC = "auto (the classifier decides; a check on the traced tracks may overrule it when sure), uni or bi."
PIXEL_DOC = "Pixel size in µm per pixel; overrides the file's calibration. none: from the file, or unknown."
FRAME_DOC = "Frame interval in seconds per frame; overrides the file's calibration. none: from the file, or unknown."
ANTERO_DOC = "Which way along the path is anterograde: right (increasing position) or left."
MOVIE_DOC = "A time-lapse movie (TIFF stack or hyperstack) to make a kymograph from, along `path`."
PATH_DOC = "With `movie`: the path as \"x0,y0 x1,y1 ...\" in pixels (0-based pixel centres, as in ImageJ)."
WIDTH_DOC = "With `movie`: line width in px (samples across the path, averaged; default 1)."
CHANNEL_DOC = "With `movie`: the channel of a multi-channel movie (0-based)."


class JobCreated(BaseModel):
    job_id: str = Field(description="Unguessable id of the new job; poll GET /api/jobs/{job_id}.")
    status: str = Field(description="queued")
    url: str = Field(description="The job's status URL.")


class FileState(BaseModel):
    index: int = Field(description="Position of the file in the upload (0-based).")
    name: str = Field(description="The file's name as uploaded, sanitised.")
    kind: str = Field(description="kymograph, or movie (a kymograph is made along its path first).")
    movie: dict[str, Any] | None = Field(None, description="For a movie: path, width and channel.")
    output: str = Field(description="Name of the file's output folder (in the ZIP).")
    status: str = Field(description="queued, running, done or failed.")
    error: str | None = Field(None, description="Why the file failed (only when failed).")
    elapsed_s: float | None = Field(None, description="Analysis time in seconds.")
    result: dict[str, Any] | None = Field(None, description=(
        "When done: n_tracks, mode, mode_confidence, classifier {p_uni, p_bi} and mode_check {used, why, p_bi, overruled} (auto mode), threshold, "
        "threshold_source (model or user), anterograde, shape [frames, positions], calibration, polarity, "
        "notes, tracks [{track_id, points: [[frame, position_px, gap], ...]}], summary_columns, summary "
        "(one row per track, the columns of summary.csv), kymograph_summary, movie (how the kymograph was made "
        "from a movie, else null), outputs {file name: URL}."))


class JobState(BaseModel):
    job_id: str
    status: str = Field(description="queued, running, done (all files finished, one or more done) or failed (every file failed).")
    settings: dict[str, Any] = Field(description="The job's effective settings (threshold null: the model's tuned value).")
    rerun_of: str | None = Field(None, description="The job whose uploads this job re-analyses.")
    created: float = Field(description="Unix time the job was created.")
    expires_at: float = Field(description="Unix time after which the job and its files are removed (once finished).")
    counts: dict[str, int] = Field(description="Number of files per status.")
    download: str = Field(description="URL of the ZIP with every output.")
    files: list[FileState]


class Config(BaseModel):
    version: str
    thresholds: dict[str, float] = Field(description="The models' tuned thresholds per module (uni, bi).")
    models: dict[str, Any] = Field(description="Name, SHA-256 and threshold of each shipped model.")
    modes: list[str]
    anterograde: list[str]
    movie: bool = Field(description="Whether a movie with a path can be uploaded instead of a kymograph.")
    max_upload_mb: float = Field(description="Largest upload (all files of one job together), MB of 2^20 bytes.")
    max_files: int = Field(description="Most files in one job.")
    job_ttl_s: float = Field(description="How long a job is kept after it finished.")
    workers: int
    job_statuses: list[str]
    file_statuses: list[str]


def movie_available() -> bool:
    """True when :mod:`kymotrace.movie` (kymographs from movies) is part of this installation."""
    import importlib.util

    return importlib.util.find_spec("kymotrace.movie") is not None


def parse_movie(path: str | None, line_width: str | None, channel: str | None) -> dict:
    """The movie fields checked: ``{"path": text, "width": px, "channel": int or None}``."""
    if not movie_available():
        raise OptionError("this kymotrace cannot make kymographs from movies (no kymotrace.movie); upload kymographs")
    from ..movie import parse_path

    if path is None or not path.strip():
        raise OptionError('a movie needs a path: give path="x0,y0 x1,y1 ..." in pixels along the axon')
    pts = parse_path(path)
    if len(pts) < 2:
        raise OptionError(f"the path has {len(pts)} point; a path needs at least 2 (\"x0,y0 x1,y1\")")
    width = 1
    if line_width is not None and line_width.strip():
        try:
            width = int(line_width)
        except ValueError:
            raise OptionError(f"line_width must be a whole number of pixels, got {line_width!r}") from None
        if not 1 <= width <= 255:
            raise OptionError(f"line_width must be between 1 and 255 px, got {width}")
    ch = None
    if channel is not None and channel.strip():
        try:
            ch = int(channel)
        except ValueError:
            raise OptionError(f"channel must be a whole number (0-based), got {channel!r}") from None
        if ch < 0:
            raise OptionError(f"channel must be 0 or more, got {ch}")
    return {"path": " ".join(f"{x:.12g},{y:.12g}" for x, y in pts), "width": width, "channel": ch}


# ------------------------------------------------------------------------------- middleware


class _TooLargeBody(BaseException):
    """Raised from ``receive`` when a streamed body passes the limit (BaseException, so that the
    framework's body-parsing error handling does not turn it into a 400)."""


class _Guard:
    """ASGI middleware: security headers on every response; a request body over the upload
    limit answers 413 (from Content-Length at once, or when a streamed body passes it)."""

    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def send_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                for k, v in ((b"content-security-policy", _CSP.encode()), (b"x-content-type-options", b"nosniff"),
                             (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY")):
                    if k not in names:
                        headers.append((k, v))
                message = {**message, "headers": headers}
            await send(message)

        if scope["method"] in ("POST", "PUT", "PATCH"):
            length = dict(scope.get("headers") or []).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.limit:
                await _drain(receive)
                return await _send_413(send_headers, self.limit)
            seen = 0

            async def limited_receive():
                nonlocal seen
                message = await receive()
                if message["type"] == "http.request":
                    seen += len(message.get("body", b""))
                    if seen > self.limit:
                        raise _TooLargeBody()
                return message

            try:
                return await self.app(scope, limited_receive, send_headers)
            except _TooLargeBody:
                if not started:
                    await _drain(receive)
                    return await _send_413(send_headers, self.limit)
                raise RuntimeError("request body over the limit after the response started") from None
        return await self.app(scope, receive, send_headers)


async def _drain(receive, cap: int = 2**31) -> None:
    """Read and drop the rest of a refused body (up to ``cap`` bytes), so that the client, still
    sending, gets the 413 answer instead of a reset connection."""
    seen = 0
    while seen < cap:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _send_413(send, limit: int) -> None:
    mb = (limit - _FORM_OVERHEAD) / 2**20
    body = json.dumps({"detail": f"the upload is larger than this server's limit of {mb:g} MB; "
                                 "send fewer or smaller files, or start the server with a larger --max-upload-mb"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


# ------------------------------------------------------------------------------- the app


def create_app(
    *,
    data_dir: str | os.PathLike | None = None,
    workers: int | None = None,
    threads: int | None = None,
    max_upload_mb: float = 50.0,
    max_files: int = 50,
    job_ttl_s: float = 3600.0,
) -> FastAPI:
    """Build the web app.

    Parameters
    ----------
    data_dir : path, optional
        Where job folders go (default: a fresh temporary folder, removed at shutdown).
    workers : int, optional
        Analysis worker processes (default: up to 2).
    threads : int, optional
        torch threads per worker (default: CPU count // workers, at least 1).
    max_upload_mb : float
        Largest upload, all files of one job together (MB of 2^20 bytes).
    max_files : int
        Most files in one job.
    job_ttl_s : float
        Seconds a job and its files are kept after it finished.

    The worker pool starts with the app (its lifespan) and stops with it.
    """
    if not max_upload_mb > 0:
        raise OptionError(f"max_upload_mb must be positive, got {max_upload_mb}")
    if max_files < 1:
        raise OptionError(f"max_files must be at least 1, got {max_files}")
    manager = JobManager(data_dir, workers=workers, threads=threads, ttl_s=job_ttl_s,
                         max_upload_bytes=int(max_upload_mb * 2**20), max_files=max_files)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        await manager.start()
        try:
            yield
        finally:
            await manager.stop()

    app = FastAPI(
        title="kymotrace",
        version=__version__,
        summary="Trace particle tracks in kymographs: the API of the kymotrace web app.",
        description=(
            "Upload kymographs (TIFF, PNG or JPEG; recognised from their content), get tracks, per-track "
            "summaries, overlays, plots, ImageJ ROIs and a run record. Jobs run in a small worker pool on "
            "this machine and expire; their ids are unguessable. Nothing is sent anywhere else."
        ),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.jobs = manager
    app.add_middleware(_Guard, limit=manager.max_upload_bytes + _FORM_OVERHEAD)

    @app.exception_handler(KymotraceError)
    async def _option_error(request: Request, exc: KymotraceError):
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(TooLarge)
    async def _too_large(request: Request, exc: TooLarge):
        return JSONResponse({"detail": str(exc)}, status_code=413)

    def prefix(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    def find(job_id: str):
        job = manager.get(job_id)
        if job is None:
            raise HTTPException(404, f"unknown or expired job {job_id!r}; jobs are kept {manager.ttl_s / 60:g} minutes after they finish")
        return job

    # ---- pages

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC_DIR / "index.html", headers={"cache-control": "no-cache"})

    @app.get("/api/docs", include_in_schema=False)
    async def api_docs():
        return FileResponse(STATIC_DIR / "api.html", headers={"cache-control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # ---- API

    @app.get("/api/config", response_model=Config, tags=["config"], summary="Tuned thresholds, limits and allowed values")
    async def config():
        try:
            info = await manager.info()
        except Exception as exc:
            raise HTTPException(503, f"the analysis workers could not start: {exc}") from None
        return {
            "version": __version__, "thresholds": info["thresholds"], "models": info["models"],
            "modes": ["auto", "uni", "bi"], "anterograde": ["right", "left"], "movie": movie_available(),
            "max_upload_mb": manager.max_upload_bytes / 2**20, "max_files": manager.max_files,
            "job_ttl_s": manager.ttl_s, "workers": manager.workers,
            "job_statuses": list(JOB_STATUSES), "file_statuses": list(FILE_STATUSES),
        }

    @app.post(
        "/api/jobs", response_model=JobCreated, status_code=202, tags=["jobs"],
        summary="Upload kymographs and start a job",
        responses={413: {"description": "Upload over the size or file-count limit"},
                   422: {"description": "A setting outside what is allowed"},
                   503: {"description": "Server busy"}},
    )
    async def create_job(
        request: Request,
        files: list[UploadFile] | None = File(None, description="One or more kymographs (TIFF, PNG, JPEG)."),
        threshold: str | None = Form(None, description=THRESHOLD_DOC),
        mode: str | None = Form(None, description=MODE_DOC),
        pixel_size: str | None = Form(None, description=PIXEL_DOC),
        frame_interval: str | None = Form(None, description=FRAME_DOC),
        anterograde: str | None = Form(None, description=ANTERO_DOC),
        movie: UploadFile | None = File(None, description=MOVIE_DOC),
        path: str | None = Form(None, description=PATH_DOC),
        line_width: str | None = Form(None, description=WIDTH_DOC),
        channel: str | None = Form(None, description=CHANNEL_DOC),
    ):
        """Analyse each file on its own: a file that cannot be read fails alone, with its error in
        the job's status. Send `files`, or a `movie` with a `path` (or both). Answers at
        once; poll `GET /api/jobs/{job_id}`."""
        settings = parse_settings(dict(threshold=threshold, mode=mode, pixel_size=pixel_size,
                                       frame_interval=frame_interval, anterograde=anterograde))
        uploads: list[tuple[UploadFile, dict | None]] = [(f, None) for f in files or []]
        if movie is not None:
            uploads.append((movie, parse_movie(path, line_width, channel)))
        elif path is not None or line_width is not None or channel is not None:
            raise OptionError("path, line_width and channel go with a movie: send the movie too (field movie)")
        if not uploads:
            raise OptionError("nothing to analyse: send one or more kymographs (field files), or a movie with a path")
        manager.check_capacity(len(uploads))
        if manager.busy:
            raise HTTPException(503, "the server is busy with other jobs; try again in a few minutes")
        job = manager.new_job(settings)
        try:
            left = manager.max_upload_bytes
            for f, spec in uploads:
                entry = await asyncio.to_thread(job.add_upload, f.filename, f.file, left, spec)
                left -= entry.upload.stat().st_size
        except BaseException:
            manager.discard(job)
            raise
        finally:
            for f, _ in uploads:
                await f.close()
        manager.submit(job)
        return {"job_id": job.id, "status": job.status, "url": f"{prefix(request)}/api/jobs/{job.id}"}

    @app.get("/api/jobs/{job_id}", response_model=JobState, tags=["jobs"], summary="A job's status and results",
             responses={404: {"description": "Unknown or expired job"}})
    async def job_state(request: Request, job_id: str,
                        brief: bool = Query(False, description="Leave out the per-file results (for polling).")):
        job = find(job_id)
        d = manager.job_dict(job, prefix(request))
        if brief:
            for f in d["files"]:
                r = f["result"]
                f["result"] = None if r is None else {k: r[k] for k in ("n_tracks", "mode", "mode_confidence", "threshold")}
        return d

    @app.get("/api/jobs/{job_id}/files/{index}", response_model=FileState, tags=["jobs"],
             summary="One file's status and results", responses={404: {"description": "Unknown job or file"}})
    async def file_state(request: Request, job_id: str, index: int):
        job = find(job_id)
        if not 0 <= index < len(job.files):
            raise HTTPException(404, f"job {job_id} has no file {index}; it has {len(job.files)}")
        return manager.job_dict(job, prefix(request))["files"][index]

    @app.get("/api/jobs/{job_id}/files/{index}/{name}", tags=["jobs"], summary="One output file of one analysed file",
             response_class=FileResponse, responses={404: {"description": "Unknown job, file or output"}})
    async def output_file(job_id: str, index: int, name: str):
        """`name` is one of tracks.csv, summary.csv, kymobutler_summary.csv, overlay.png, plots.png,
        tracks_roi.zip, run.json."""
        job = find(job_id)
        p = manager.output_path(job, index, name)
        if p is None:
            raise HTTPException(404, f"no output {name!r} for file {index} of job {job_id} (is the file done?)")
        f = job.files[index]
        disposition = "inline" if name.endswith(".png") else "attachment"
        return FileResponse(p, filename=f"{f.stem}_{name}", content_disposition_type=disposition)

    @app.post("/api/jobs/{job_id}/rerun", response_model=JobCreated, status_code=202, tags=["jobs"],
              summary="Analyse a job's uploads again with new settings",
              responses={404: {"description": "Unknown or expired job"}, 422: {"description": "A setting outside what is allowed"}})
    async def rerun(
        request: Request,
        job_id: str,
        threshold: str | None = Form(None, description=THRESHOLD_DOC),
        mode: str | None = Form(None, description=MODE_DOC),
        pixel_size: str | None = Form(None, description=PIXEL_DOC),
        frame_interval: str | None = Form(None, description=FRAME_DOC),
        anterograde: str | None = Form(None, description=ANTERO_DOC),
    ):
        """Fields left out (or empty) keep the job's settings; `threshold=default` goes back to the
        model's tuned value, `pixel_size=none` / `frame_interval=none` to the file's calibration.
        The uploads are not sent again. Answers with a new job id."""
        job = find(job_id)
        settings = parse_settings(dict(threshold=threshold, mode=mode, pixel_size=pixel_size,
                                       frame_interval=frame_interval, anterograde=anterograde), base=job.settings)
        if manager.busy:
            raise HTTPException(503, "the server is busy with other jobs; try again in a few minutes")
        new = await manager.rerun(job, settings)
        return {"job_id": new.id, "status": new.status, "url": f"{prefix(request)}/api/jobs/{new.id}"}

    @app.get("/api/jobs/{job_id}/download", tags=["jobs"], summary="Every output of a job as one ZIP",
             response_class=FileResponse,
             responses={404: {"description": "Unknown or expired job"}, 409: {"description": "The job is still running"}})
    async def download(job_id: str):
        """One folder per analysed file (tracks.csv, summary.csv, kymobutler_summary.csv, overlay.png,
        plots.png, tracks_roi.zip, run.json) and kymographs.csv (one row per file: status, error,
        mode, track count, per-kymograph means)."""
        job = find(job_id)
        if not job.finished:
            raise HTTPException(409, f"job {job_id} is still {job.status}; download it when its status is done or failed")
        p = await manager.zip_path(job)
        return FileResponse(p, media_type="application/zip", filename=f"kymotrace-{job.id[:8]}.zip")

    @app.delete("/api/jobs/{job_id}", status_code=204, tags=["jobs"], summary="Remove a job and its files now",
                responses={404: {"description": "Unknown or expired job"}})
    async def delete(job_id: str):
        job = find(job_id)
        if not job.finished:
            raise HTTPException(409, f"job {job_id} is still {job.status}; delete it when it has finished")
        manager.discard(job)

    return app
