"""The web app's JSON API against a real server (uvicorn in a thread, 2 worker processes).

Expected results come from running :func:`kymotrace.pipeline.analyze` in the test process on the
same files with the same settings (both with one torch thread, so the results are identical).
"""

from __future__ import annotations

import csv
import io
import re
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tifffile

pytest.importorskip("torch")
pytest.importorskip("fastapi")
pytest.importorskip("multipart")
httpx = pytest.importorskip("httpx")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

SEEDS = [95_120_000 + i for i in range(10)]
LIMIT_MB = 1.0
MAX_FILES = 12


def _kymo_bytes(seed: int, kind: str | None = None) -> bytes:
    from kymotrace.synth import generate

    kind = kind or ("uni" if seed % 2 == 0 else "bi")
    k = generate(kind, rng=np.random.default_rng(seed), width=120, frames=120)
    buf = io.BytesIO()
    tifffile.imwrite(buf, k.image)
    return buf.getvalue()


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """seed -> (TIFF bytes, path of the same bytes on disk)."""
    d = tmp_path_factory.mktemp("web_inputs")
    out = {}
    for s in SEEDS:
        data = _kymo_bytes(s)
        p = d / f"k{s}.tif"
        p.write_bytes(data)
        out[s] = (data, p)
    return out


_EXPECTED: dict = {}


def expected(path, **settings):
    """Tracks as kymotrace.analyze finds them here: [(track_id, frames, positions, gaps)]."""
    from kymotrace.pipeline import analyze

    key = (str(path), tuple(sorted(settings.items())))
    if key not in _EXPECTED:
        res = analyze(str(path), **settings)
        _EXPECTED[key] = [(int(t.track_id), t.frames.tolist(), t.positions.tolist(), t.gap.astype(int).tolist())
                          for t in sorted(res.tracks, key=lambda t: t.track_id)]
    return _EXPECTED[key]


def as_tuples(result: dict) -> list:
    return [(t["track_id"], [p[0] for p in t["points"]], [p[1] for p in t["points"]], [p[2] for p in t["points"]])
            for t in result["tracks"]]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from kymotrace.web.app import create_app
    from kymotrace.web.server import background_server

    data = tmp_path_factory.mktemp("web_data")
    app = create_app(data_dir=data, workers=2, threads=1, max_upload_mb=LIMIT_MB, max_files=MAX_FILES, job_ttl_s=3600)
    with background_server(app) as url:
        with httpx.Client(base_url=url, timeout=60) as c:
            assert c.get("/api/config").status_code == 200  # waits until the workers are up
        yield url, app, data


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server[0], timeout=60) as c:
        yield c


def wait(client, job_id: str, timeout: float = 180.0) -> dict:
    t0 = time.monotonic()
    seen = set()
    while True:
        r = client.get(f"/api/jobs/{job_id}")
        assert r.status_code == 200, r.text
        job = r.json()
        seen.add(job["status"])
        assert job["status"] in ("queued", "running", "done", "failed")
        if job["status"] in ("done", "failed"):
            return job
        assert time.monotonic() - t0 < timeout, f"job {job_id} did not finish in {timeout} s: {job}"
        time.sleep(0.1)


def post(client, files, **form):
    return client.post("/api/jobs", files=[("files", f) for f in files], data={k: str(v) for k, v in form.items()})


def test_config_gives_the_models_tuned_thresholds(client):
    from kymotrace.pipeline import get_models

    cfg = client.get("/api/config").json()
    ms = get_models()
    assert cfg["thresholds"] == {"uni": ms.uni.threshold, "bi": ms.bi.threshold}
    assert cfg["models"]["bi"]["sha256"] == ms.bi.sha256
    assert cfg["max_files"] == MAX_FILES and cfg["max_upload_mb"] == LIMIT_MB
    spec = client.get("/api/openapi.json").json()
    for path in ("/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/rerun", "/api/jobs/{job_id}/download", "/api/config"):
        assert path in spec["paths"]
    form = spec["components"]["schemas"][spec["paths"]["/api/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[1]]
    assert {"files", "threshold", "mode", "pixel_size", "frame_interval", "anterograde"} <= set(form["properties"])


def test_one_job(client, images):
    data, path = images[SEEDS[0]]
    r = post(client, [("kymo.tif", data, "image/tiff")])
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    assert len(job_id) >= 22
    job = wait(client, job_id)
    assert job["status"] == "done" and job["counts"]["done"] == 1
    (f,) = job["files"]
    assert f["status"] == "done" and f["error"] is None and f["name"] == "kymo.tif"
    res = f["result"]
    want = expected(path)
    assert res["n_tracks"] == len(want) > 0
    assert as_tuples(res) == want
    assert res["threshold_source"] == "model" and res["mode_requested"] == "auto"
    assert res["mode"] in ("uni", "bi") and 0 <= res["mode_confidence"] <= 1
    assert res["shape"] == [120, 120]
    assert [row["track_id"] for row in res["summary"]] == [t[0] for t in want]
    # every output is served; tracks.csv is the same tracks
    for name, url in res["outputs"].items():
        got = client.get(url)
        assert got.status_code == 200 and len(got.content) > 0, name
    rows = list(csv.DictReader(io.StringIO(client.get(res["outputs"]["tracks.csv"]).text)))
    assert sorted({int(r["track_id"]) for r in rows}) == [t[0] for t in want]
    assert len(rows) == sum(len(t[1]) for t in want)
    run = client.get(res["outputs"]["run.json"]).json()
    assert run["n_tracks"] == len(want) and run["input"] == "kymo.tif"
    assert client.get(res["outputs"]["overlay.png"]).content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get(f"/api/jobs/{job_id}/files/0/etc_passwd").status_code == 404


def test_many_files_and_settings(client, images):
    seeds = SEEDS[1:4]
    files = [(f"k{i}.tif", images[s][0], "image/tiff") for i, s in enumerate(seeds)]
    r = post(client, files, mode="bi", threshold=0.6, pixel_size=0.1, frame_interval=0.5, anterograde="left")
    job = wait(client, r.json()["job_id"])
    assert job["status"] == "done"
    assert job["settings"] == {"threshold": 0.6, "mode": "bi", "pixel_size": 0.1, "frame_interval": 0.5, "anterograde": "left"}
    assert [f["name"] for f in job["files"]] == ["k0.tif", "k1.tif", "k2.tif"]
    for f, s in zip(job["files"], seeds):
        res = f["result"]
        assert f["status"] == "done"
        assert as_tuples(res) == expected(images[s][1], mode="bi", threshold=0.6, pixel_size=0.1, frame_interval=0.5)
        assert res["mode"] == "bi" and res["mode_confidence"] is None and res["threshold"] == 0.6
        assert res["calibration"]["pixel_size_um"] == 0.1 and res["calibration"]["frame_interval_s"] == 0.5
        assert "mean_speed_um_per_s" in res["summary_columns"] and res["anterograde"] == "left"
        # the summary is kymotrace's, with anterograde to the left
        from kymotrace.analysis import MotionSettings, track_summary
        from kymotrace.io import Calibration
        from kymotrace.track import Track

        tracks = [Track(tid, frames=fr, positions=x, gap=g) for tid, fr, x, g in as_tuples(res)]
        cal = Calibration(pixel_size=0.1, frame_interval=0.5)
        left = track_summary(tracks, calibration=cal, settings=MotionSettings(anterograde="left", kind="bi"), shape=(120, 120))
        right = track_summary(tracks, calibration=cal, settings=MotionSettings(anterograde="right", kind="bi"), shape=(120, 120))
        assert [r["label"] for r in res["summary"]] == left["label"].tolist()
        assert [r["direction"] for r in res["summary"]] == left["direction"].tolist() == (-right["direction"]).tolist()
        assert [r["n_frames"] for r in res["summary"]] == left["n_frames"].tolist()


def test_bad_file_fails_alone(server, client, images):
    url, app, data_dir = server
    good, path = images[SEEDS[4]]
    files = [
        ("good.tif", good, "image/tiff"),
        ("broken.tif", b"II*\x00 this is not really a tiff", "image/tiff"),
        ("notes.png", b"hello, I am text with a .png name", "image/png"),
        ("empty.jpg", b"", "image/jpeg"),
    ]
    job = wait(client, post(client, files).json()["job_id"])
    assert job["status"] == "done" and job["counts"] == {"queued": 0, "running": 0, "done": 1, "failed": 3}
    ok, *bad = job["files"]
    assert ok["status"] == "done" and as_tuples(ok["result"]) == expected(path)
    for f in bad:
        assert f["status"] == "failed" and f["result"] is None
        assert f["error"].startswith(f["name"] + ":"), f["error"]
        assert str(data_dir) not in f["error"]  # the server's paths stay private
    z = zipfile.ZipFile(io.BytesIO(client.get(f"/api/jobs/{job['job_id']}/download").content))
    assert {n.split("/")[0] for n in z.namelist()} == {"good", "kymographs.csv"}
    table = list(csv.DictReader(io.StringIO(z.read("kymographs.csv").decode())))
    assert [r["status"] for r in table] == ["ok", "failed", "failed", "failed"]
    assert int(table[0]["n_tracks"]) == len(expected(path))


def test_all_files_bad_is_a_failed_job(client):
    job = wait(client, post(client, [("x.tif", b"\x00" * 100, "image/tiff")]).json()["job_id"])
    assert job["status"] == "failed" and job["files"][0]["status"] == "failed"


def test_over_size_upload_and_too_many_files_are_refused(server, client, images):
    url, app, data_dir = server
    before = set(p.name for p in data_dir.iterdir())
    big = np.random.default_rng(SEEDS[0]).random((800, 400)).astype(np.float32)  # 1.2 MB
    buf = io.BytesIO()
    tifffile.imwrite(buf, big)
    assert len(buf.getvalue()) > LIMIT_MB * 2**20
    r = post(client, [("big.tif", buf.getvalue(), "image/tiff")])
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    # two files under the limit each, over it together
    half = buf.getvalue()[: len(buf.getvalue()) * 2 // 3]
    r = post(client, [("a.tif", half, "image/tiff"), ("b.tif", half, "image/tiff")])
    assert r.status_code == 413
    # a streamed (chunked) body without a length is cut off when it passes the limit
    def chunks():
        yield b'--XyZ\r\nContent-Disposition: form-data; name="files"; filename="a.tif"\r\n\r\n'
        for _ in range(40):
            yield bytes(65536)
        yield b"\r\n--XyZ--\r\n"

    r = client.post("/api/jobs", content=chunks(), headers={"content-type": "multipart/form-data; boundary=XyZ"})
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    small = images[SEEDS[0]][0]
    r = post(client, [(f"f{i}.tif", small[:100], "image/tiff") for i in range(MAX_FILES + 1)])
    assert r.status_code == 413 and str(MAX_FILES) in r.json()["detail"]
    assert set(p.name for p in data_dir.iterdir()) == before  # nothing left behind


def test_traversal_style_names_are_sanitised(server, client, images, tmp_path):
    url, app, data_dir = server
    data, path = images[SEEDS[5]]
    names = ["../../../../tmp/evil.tif", "..\\..\\windows\\evil.tif", "..", "/etc/passwd", "evil.tif"]
    job = wait(client, post(client, [(n, data, "image/tiff") for n in names]).json()["job_id"])
    assert job["status"] == "done"
    got = [f["name"] for f in job["files"]]
    assert got == ["evil.tif", "evil.tif", "upload-3", "passwd", "evil.tif"]
    outputs = [f["output"] for f in job["files"]]
    assert len(set(outputs)) == 5  # same name, separate output folders: nothing overwritten
    want = expected(path)
    for f in job["files"]:
        assert f["status"] == "done" and as_tuples(f["result"]) == want
    folder = data_dir / job["job_id"]
    stored = sorted(p for p in folder.rglob("*") if p.is_file())
    assert all(folder in p.parents for p in stored)
    assert not (data_dir.parent / "evil.tif").exists()
    assert not any(p.name == "evil.tif" for p in data_dir.iterdir())
    z = zipfile.ZipFile(io.BytesIO(client.get(f"/api/jobs/{job['job_id']}/download").content))
    assert all(".." not in n and not n.startswith("/") for n in z.namelist())
    assert sum(n.endswith("/tracks.csv") for n in z.namelist()) == 5


def test_rerun(client, images):
    s1, s2 = SEEDS[6], SEEDS[7]
    files = [("a.tif", images[s1][0], "image/tiff"), ("b.tif", images[s2][0], "image/tiff")]
    first = wait(client, post(client, files, anterograde="left").json()["job_id"])
    r = client.post(f"/api/jobs/{first['job_id']}/rerun", data={"threshold": "0.5", "mode": "uni"})
    assert r.status_code == 202, r.text
    new_id = r.json()["job_id"]
    assert new_id != first["job_id"]
    second = wait(client, new_id)
    assert second["rerun_of"] == first["job_id"]
    # fields left out keep the first job's settings
    assert second["settings"] == {**first["settings"], "threshold": 0.5, "mode": "uni"}
    for f, s in zip(second["files"], (s1, s2)):
        assert as_tuples(f["result"]) == expected(images[s][1], threshold=0.5, mode="uni")
        assert f["result"]["threshold_source"] == "user" and f["result"]["anterograde"] == "left"
    # the first job is unchanged; threshold=default goes back to the model's value
    again = client.get(f"/api/jobs/{first['job_id']}").json()
    assert [as_tuples(f["result"]) for f in again["files"]] == [expected(images[s][1]) for s in (s1, s2)]
    third = wait(client, client.post(f"/api/jobs/{new_id}/rerun", data={"threshold": "default"}).json()["job_id"])
    assert third["files"][0]["result"]["threshold_source"] == "model"
    assert as_tuples(third["files"][0]["result"]) == expected(images[s1][1], mode="uni")


def test_bad_settings_answer_422(client, images):
    data = images[SEEDS[0]][0]
    for form, word in (({"threshold": "1.5"}, "threshold"), ({"mode": "sideways"}, "mode"),
                       ({"pixel_size": "-1"}, "pixel_size"), ({"anterograde": "up"}, "anterograde"),
                       ({"frame_interval": "abc"}, "frame_interval")):
        r = post(client, [("k.tif", data, "image/tiff")], **form)
        assert r.status_code == 422 and word in r.json()["detail"], (form, r.text)


def test_unknown_and_expired_jobs_answer_404(server, client, images):
    url, app, data_dir = server
    for path in ("/api/jobs/nope", "/api/jobs/AAAAAAAAAAAAAAAAAAAAAAAA", "/api/jobs/AAAAAAAAAAAAAAAAAAAAAAAA/download",
                 "/api/jobs/AAAAAAAAAAAAAAAAAAAAAAAA/files/0/tracks.csv", "/api/jobs/..%2F..%2Fetc/download"):
        assert client.get(path).status_code == 404, path
    assert client.post("/api/jobs/AAAAAAAAAAAAAAAAAAAAAAAA/rerun", data={"threshold": "0.5"}).status_code == 404
    job = wait(client, post(client, [("k.tif", images[SEEDS[0]][0], "image/tiff")]).json()["job_id"])
    folder = data_dir / job["job_id"]
    assert folder.is_dir()
    # the job was made and finished longer ago than the lifetime: it is gone, with its files
    manager = app.state.jobs
    j = manager.jobs[job["job_id"]]
    j.created = j.finished_at = time.time() - manager.ttl_s - 1
    assert client.get(f"/api/jobs/{job['job_id']}").status_code == 404
    assert client.get(f"/api/jobs/{job['job_id']}/download").status_code == 404
    assert not folder.exists()


def test_ten_concurrent_jobs(server, images):
    url = server[0]
    barrier = threading.Barrier(10)

    def one(seed: int) -> tuple[int, dict]:
        with httpx.Client(base_url=url, timeout=60) as c:  # one client each
            barrier.wait()
            r = post(c, [(f"k{seed}.tif", images[seed][0], "image/tiff")])
            assert r.status_code == 202
            return seed, wait(c, r.json()["job_id"], timeout=300)

    t0 = time.monotonic()
    with ThreadPoolExecutor(10) as ex:
        results = list(ex.map(one, SEEDS))
    elapsed = time.monotonic() - t0
    assert len({job["job_id"] for _, job in results}) == 10
    for seed, job in results:
        (f,) = job["files"]
        want = expected(images[seed][1])
        assert job["status"] == "done" and f["result"]["n_tracks"] == len(want), seed
        assert as_tuples(f["result"]) == want
    assert elapsed < 300


def test_pages_are_local(client):
    html = client.get("/")
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    assert "default-src 'self'" in html.headers["content-security-policy"]
    # every linked resource is on this server: no CDN, no other site
    for page in ("/", "/api/docs"):
        links = re.findall(r'(?:src|href)="([^"]*)"', client.get(page).text)
        assert links and all(u.startswith(("/", "#")) for u in links), links
        for u in links:
            if u.startswith("/"):
                assert client.get(u).status_code == 200, u
    for asset in ("/static/app.js", "/static/docs.js", "/static/style.css"):
        text = client.get(asset).text
        assert "https://" not in text and "@import" not in text and "url(http" not in text, asset
        assert set(re.findall(r"http://[^\s\"']+", text)) <= {"http://www.w3.org/2000/svg"}, asset


def test_serve_without_the_web_extra_says_how_to_install(monkeypatch, capsys):
    import kymotrace.web as web
    from kymotrace.cli import main

    monkeypatch.setattr(web, "missing_web_packages", lambda: ["fastapi", "uvicorn"])
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert 'pip install -e ".[web]"' in err and "fastapi" in err and "Traceback" not in err


def test_serve_refuses_a_port_in_use(capsys):
    from kymotrace.cli import main
    from kymotrace.web.server import bind

    sock = bind("127.0.0.1", 0)
    try:
        assert main(["serve", "--port", str(sock.getsockname()[1])]) == 2
    finally:
        sock.close()
    assert "in use" in capsys.readouterr().err


def _movie_bytes() -> tuple[bytes, np.ndarray]:
    """A small movie (T, Y, X) whose row y=10, x=5..64 carries a synthetic kymograph."""
    from kymotrace.synth import generate

    k = generate("bi", rng=np.random.default_rng(95_120_100), width=60, frames=48)
    mov = np.full((48, 21, 70), k.image.min(), np.float32)
    for dy, w in ((-1, 0.5), (0, 1.0), (1, 0.5)):
        mov[:, 10 + dy, 5:65] = k.image * w
    buf = io.BytesIO()
    tifffile.imwrite(buf, mov)
    return buf.getvalue(), mov


def test_movie_with_a_path(client, tmp_path):
    movie = pytest.importorskip("kymotrace.movie")
    from kymotrace.pipeline import analyze

    data, mov = _movie_bytes()
    (tmp_path / "mov.tif").write_bytes(data)
    mk = movie.make_kymograph(tmp_path / "mov.tif", movie.parse_path("5,10 64,10"), width=3)
    want = analyze(mk.image, threshold=0.6)
    r = client.post("/api/jobs", files=[("movie", ("mov.tif", data, "image/tiff"))],
                    data={"path": "5,10 64,10", "line_width": "3", "threshold": "0.6"})
    assert r.status_code == 202, r.text
    job = wait(client, r.json()["job_id"])
    (f,) = job["files"]
    assert f["kind"] == "movie" and f["status"] == "done", f["error"]
    res = f["result"]
    assert res["shape"] == [48, 60] and res["movie"]["width_px"] == 3 and res["movie"]["movie"] == "mov.tif"
    assert res["n_tracks"] == len(want.tracks) and as_tuples(res) == [
        (int(t.track_id), t.frames.tolist(), t.positions.tolist(), t.gap.astype(int).tolist()) for t in want.tracks]
    made = tifffile.imread(io.BytesIO(client.get(res["outputs"]["kymograph.tif"]).content))
    np.testing.assert_array_equal(made, mk.image)
    # a path outside the movie fails that file alone, with a message; a movie without a path is refused
    r = client.post("/api/jobs", files=[("movie", ("mov.tif", data, "image/tiff")), ("files", ("x.png", b"nope", "image/png"))],
                    data={"path": "5,10 640,10"})
    job = wait(client, r.json()["job_id"])
    assert [f["status"] for f in job["files"]] == ["failed", "failed"]
    assert "outside the image" in job["files"][1]["error"] and job["files"][1]["error"].startswith("mov.tif")
    r = client.post("/api/jobs", files=[("movie", ("mov.tif", data, "image/tiff"))])
    assert r.status_code == 422 and "path" in r.json()["detail"]
    r = client.post("/api/jobs", files=[("movie", ("mov.tif", data, "image/tiff"))], data={"path": "5,10 oops"})
    assert r.status_code == 422
