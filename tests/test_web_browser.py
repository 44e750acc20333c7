"""The web page in a real browser: Debian's headless Chromium driven by Selenium.

Drop a kymograph on the page, wait for the overlay, move the threshold and re-run, download the
ZIP and check its tracks.csv against the API's result; then a good and a bad file together, the
bad one failing alone with its error on the page. Chromium and chromedriver are Debian's
(``.ci/run`` installs them); Selenium is pointed at them so Selenium Manager never runs.
"""

from __future__ import annotations

import base64
import csv
import io
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    pytest.skip(f"{CHROMIUM} or {CHROMEDRIVER} is missing: apt-get install chromium chromium-driver (.ci/run does)",
                allow_module_level=True)
pytest.importorskip("torch")
pytest.importorskip("fastapi")
webdriver = pytest.importorskip("selenium.webdriver")
httpx = pytest.importorskip("httpx")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

TIMEOUT = 120


@pytest.fixture(scope="module")
def kymograph(tmp_path_factory) -> Path:
    """A small bidirectional synthetic kymograph saved as an 8-bit PNG."""
    from PIL import Image

    from kymotrace.synth import generate

    k = generate("bi", rng=np.random.default_rng(95_130_001), width=120, frames=120)
    img = k.image.astype(np.float64)
    lo, hi = np.percentile(img, [0.1, 99.9])
    u8 = np.clip((img - lo) / (hi - lo) * 255, 0, 255).astype(np.uint8)
    p = tmp_path_factory.mktemp("browser_in") / "kymo.png"
    Image.fromarray(u8).save(p)
    return p


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from kymotrace.web.app import create_app
    from kymotrace.web.server import background_server

    app = create_app(data_dir=tmp_path_factory.mktemp("browser_data"), workers=2, threads=1)
    with background_server(app) as url:
        yield url


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def driver(tmp_path_factory, downloads):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    mp = pytest.MonkeyPatch()
    mp.setenv("SE_MANAGER_PATH", "/nonexistent/selenium-manager")  # never fetch a browser or driver
    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1300,1000",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                           "download.prompt_for_download": False})
    d = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    d.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    try:
        yield d
    finally:
        d.quit()
        mp.undo()


def no_console_errors(driver) -> None:
    """The page logged no errors (script errors, refused resources, failed requests)."""
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe


def ready(driver, previous: str | None = None) -> str:
    """Wait until the page shows a finished job other than ``previous``; its id."""
    def done(d):
        jid = d.execute_script("return document.body.dataset.ready || null")
        return jid if jid and jid != previous else False

    return WebDriverWait(driver, TIMEOUT).until(done)


def overlay_loaded(driver, index: int = 0) -> bool:
    return driver.execute_script(
        "const c = document.querySelector(`.card[data-index='${arguments[0]}']`);"
        "const i = c && c.querySelector('.overlay-img');"
        "return !!(i && i.complete && i.naturalWidth > 0 && c.dataset.status === 'done');", index)


def drop(driver, path: Path) -> None:
    """A real drop event on the drop zone, carrying the file (as a user's drag and drop does)."""
    data = base64.b64encode(path.read_bytes()).decode()
    driver.execute_script(
        """
        const [b64, name, target] = arguments;
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name, {type: "image/png"}));
        for (const type of ["dragenter", "dragover", "drop"]) {
          target.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
        }
        """, data, path.name, driver.find_element(By.ID, "dropzone"))


def test_drop_rerun_download(server, driver, kymograph, downloads, tmp_path):
    from kymotrace.pipeline import analyze

    api = httpx.Client(base_url=server, timeout=60)
    cfg = api.get("/api/config").json()
    driver.get(server + "/")
    WebDriverWait(driver, TIMEOUT).until(lambda d: d.execute_script("return document.body.dataset.configLoaded === '1'"))
    slider = driver.find_element(By.ID, "threshold")
    # auto mode: the slider starts at the tuned value, and says so
    assert float(slider.get_attribute("value")) == pytest.approx(cfg["thresholds"]["bi"])
    assert "tuned" in driver.find_element(By.ID, "threshold-source").text

    # 1. drop a kymograph; wait for the overlay
    drop(driver, kymograph)
    first = ready(driver)
    WebDriverWait(driver, TIMEOUT).until(lambda d: overlay_loaded(d))
    job = api.get(f"/api/jobs/{first}").json()
    res = job["files"][0]["result"]
    assert job["status"] == "done" and res["n_tracks"] > 0
    card = driver.find_element(By.CSS_SELECTOR, ".card[data-index='0']")
    assert card.get_attribute("data-ntracks") == str(res["n_tracks"])
    assert f"{res['n_tracks']} tracks" in card.find_element(By.CLASS_NAME, "ntracks").text
    assert "classifier" in card.find_element(By.CLASS_NAME, "mode").text
    rows = card.find_elements(By.CSS_SELECTOR, "table.summary tbody tr")
    assert len(rows) == res["n_tracks"]
    assert driver.execute_script("return arguments[0].querySelector('.plots-img').naturalWidth", card) > 0
    assert len(card.find_elements(By.CSS_SELECTOR, ".downloads a.dl")) == 7
    # a table row highlights its track on the overlay
    row = rows[min(2, len(rows) - 1)]
    tid = row.get_attribute("data-id")
    ActionChains(driver).move_to_element(row).perform()
    hl = card.find_elements(By.CSS_SELECTOR, "svg.tracks-layer polyline.hl")
    assert [e.get_attribute("data-id") for e in hl] == [tid]

    # 2. move the threshold and re-run (no new upload)
    slider.click()
    start = float(slider.get_attribute("value"))
    for _ in range(10):
        slider.send_keys(Keys.ARROW_LEFT)
    moved = float(slider.get_attribute("value"))
    assert moved == pytest.approx(start - 0.10)
    assert driver.find_element(By.ID, "threshold-source").text == "yours"
    driver.find_element(By.ID, "rerun").click()
    second = ready(driver, previous=first)
    WebDriverWait(driver, TIMEOUT).until(lambda d: overlay_loaded(d))
    job2 = api.get(f"/api/jobs/{second}").json()
    assert job2["rerun_of"] == first
    res2 = job2["files"][0]["result"]
    assert res2["threshold"] == pytest.approx(moved) and res2["threshold_source"] == "user"
    direct = analyze(str(kymograph), threshold=float(f"{moved:.2f}"))
    assert res2["n_tracks"] == len(direct.tracks)
    card = driver.find_element(By.CSS_SELECTOR, ".card[data-index='0']")
    assert card.get_attribute("data-ntracks") == str(res2["n_tracks"])

    # 3. download everything as one ZIP; its tracks.csv is the API's result
    link = driver.find_element(By.ID, "download-all")
    assert link.get_attribute("aria-disabled") is None
    link.click()
    deadline = time.monotonic() + TIMEOUT
    while True:
        zips = [p for p in downloads.glob("*.zip")]
        if zips and not list(downloads.glob("*.crdownload")):
            break
        assert time.monotonic() < deadline, f"no ZIP downloaded: {list(downloads.iterdir())}"
        time.sleep(0.1)
    (zpath,) = zips
    assert zpath.name == f"kymotrace-{second[:8]}.zip"
    with zipfile.ZipFile(zpath) as z:
        table = z.read("kymo/tracks.csv").decode()
        assert {"kymographs.csv", "kymo/overlay.png", "kymo/summary.csv", "kymo/run.json"} <= set(z.namelist())
    parsed: dict[int, list] = {}
    for r in csv.DictReader(io.StringIO(table)):
        parsed.setdefault(int(r["track_id"]), []).append((int(r["frame"]), float(r["position"]), int(r["gap"])))
    from_api = {t["track_id"]: [tuple(p) for p in t["points"]] for t in res2["tracks"]}
    assert parsed == from_api and len(parsed) == res2["n_tracks"]
    api.close()
    no_console_errors(driver)


def test_choose_files_bad_one_fails_alone(server, driver, kymograph, tmp_path):
    bad = tmp_path / "notes.tif"
    bad.write_text("this is a text file, not a TIFF")
    driver.get(server + "/")
    WebDriverWait(driver, TIMEOUT).until(lambda d: d.execute_script("return document.body.dataset.configLoaded === '1'"))
    # the file picker route (the drop zone opens it on a click)
    driver.find_element(By.ID, "file-input").send_keys(f"{kymograph}\n{bad}")
    ready(driver)
    WebDriverWait(driver, TIMEOUT).until(lambda d: overlay_loaded(d, 0))
    cards = driver.find_elements(By.CSS_SELECTOR, ".card.file")
    assert [c.get_attribute("data-status") for c in cards] == ["done", "failed"]
    WebDriverWait(driver, TIMEOUT).until(lambda d: cards[1].find_element(By.CLASS_NAME, "error").is_displayed())
    err = cards[1].find_element(By.CLASS_NAME, "error").text
    assert err.startswith("notes.tif:") and "TIFF" in err
    assert not cards[0].find_element(By.CLASS_NAME, "error").is_displayed()
    assert driver.find_element(By.ID, "job-status").text.lower() == "done"
    no_console_errors(driver)
