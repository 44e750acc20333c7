"""Screenshots of the web app before and after analysing the bundled example kymograph
(docs/web_before.png, docs/web_after.png), taken with Debian's headless Chromium.

Run: python tools/web_screenshots.py [--out docs]   (needs the web extra, selenium, and
/usr/bin/chromium + /usr/bin/chromedriver: apt-get install chromium chromium-driver)
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WIDTH = 1280


def _driver(profile: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_MANAGER_PATH"] = "/nonexistent/selenium-manager"  # never download anything
    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
                 f"--window-size={WIDTH},900", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)


def _full_page(driver, path: Path, min_height: int = 900) -> None:
    height = driver.execute_script("return Math.ceil(document.documentElement.scrollHeight)")
    driver.set_window_size(WIDTH, max(min_height, int(height)))
    driver.execute_script("window.scrollTo(0, 0)")
    # the window's inner height can differ from its outer one: measure and grow once more
    inner = driver.execute_script("return window.innerHeight")
    if inner < height:
        driver.set_window_size(WIDTH, max(min_height, int(height)) + (int(height) - inner))
    driver.save_screenshot(str(path))


def main() -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from kymotrace.commands.demo import example_path
    from kymotrace.web.app import create_app
    from kymotrace.web.server import background_server

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, background_server(create_app(workers=2)) as url:
        driver = _driver(os.path.join(tmp, "profile"))
        try:
            driver.get(url + "/")
            WebDriverWait(driver, 120).until(lambda d: d.execute_script("return document.body.dataset.configLoaded === '1'"))
            _full_page(driver, out / "web_before.png")
            driver.set_window_size(WIDTH, 900)
            driver.find_element(By.ID, "file-input").send_keys(example_path())
            WebDriverWait(driver, 300).until(lambda d: d.execute_script(
                "const i = document.querySelector('.card .overlay-img');"
                "return !!(document.body.dataset.ready && i && i.complete && i.naturalWidth > 0)"))
            WebDriverWait(driver, 60).until(lambda d: d.execute_script(
                "const i = document.querySelector('.card .plots-img'); return !!(i && i.complete && i.naturalWidth > 0)"))
            # show the row-to-track highlight on one track
            rows = driver.find_elements(By.CSS_SELECTOR, ".card table.summary tbody tr")
            if rows:
                rows[min(3, len(rows) - 1)].click()
            ActionChains(driver).move_by_offset(0, 0).perform()
            _full_page(driver, out / "web_after.png")
        finally:
            driver.quit()
    print(f"wrote {out / 'web_before.png'} and {out / 'web_after.png'}")


if __name__ == "__main__":
    main()
