"""The README's pictures of the web page: the three views of a real ``streamcolor serve`` with the
bundled model, on the black-and-white Chaplin clip of the shared data, in headless chromium.

    python benchmarks/web_screenshots.py [--datasets ../shared/datasets] [--out docs]

Writes ``web_photos.png`` (a frame of the clip as a photo, a green stroke painted on the lawn),
``web_videos.png`` (the clip picked, its preview, a film job running in the queue) and
``web_live.png`` (the clip played as a live source). Needs Debian's chromium and
chromium-driver and selenium. The server is started and stopped by its PID.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import av
import cv2

ROOT = pathlib.Path(__file__).resolve().parents[1]
CLIP = "video/bw/moviepy_chaplin.mp4"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait(condition, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception:  # noqa: BLE001 - not there yet
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"timed out waiting for {what}")


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--force-device-scale-factor=1", "--hide-scrollbars"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_window_size(1280, 800)
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    driver.set_window_size(2560 - inner[0], 1600 - inner[1])  # a 1280x800 page
    return driver


def _paint(driver, selector: str, points, natural: tuple[int, int]) -> None:
    """Press, move through ``points`` (the picture's own pixels) and release."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    element = driver.find_element(By.CSS_SELECTOR, selector)
    width, height = element.size["width"], element.size["height"]

    def offset(x, y):
        return (int((x + 0.5) * width / natural[0] - width / 2),
                int((y + 0.5) * height / natural[1] - height / 2))

    chain = ActionChains(driver).move_to_element_with_offset(element, *offset(*points[0]))
    chain.click_and_hold()
    for point in points[1:]:
        chain.move_to_element_with_offset(element, *offset(*point))
    chain.release().perform()


def shoot(url: str, root: pathlib.Path, out: pathlib.Path) -> None:
    from selenium.webdriver.common.by import By

    driver = _browser()
    try:
        driver.get(url)
        _wait(lambda: driver.execute_script("return document.readyState") == "complete")
        photo = root / "photos" / "chaplin.png"
        driver.find_element(By.ID, "photo-input").send_keys(str(photo))
        first = _wait(lambda: driver.execute_script(
            "const i = document.getElementById('result-img');"
            "return i && i.complete && i.naturalWidth ? i.src : null"), what="the result")
        driver.execute_script(
            "const i = document.getElementById('hint-color'); i.value = '#3f8f3a';"
            "i.dispatchEvent(new Event('input', {bubbles: true}));")
        size = cv2.imread(str(photo)).shape[1::-1]
        height = size[1]
        _paint(driver, "#result-img", [(40, height - 40), (300, height - 30),
                                       (600, height - 35)], size)
        _wait(lambda: driver.execute_script(
            "return document.getElementById('result-img').src") != first, what="the update")
        time.sleep(1.0)
        driver.save_screenshot(str(out / "web_photos.png"))

        driver.find_element(By.ID, "tab-videos").click()
        driver.find_element(By.ID, "files-refresh").click()
        _wait(lambda: driver.find_element(By.CSS_SELECTOR, "#files-list li[data-path='films']"),
              what="the films folder").click()
        _wait(lambda: driver.find_element(
            By.CSS_SELECTOR, "#files-list li[data-path='films/chaplin.mp4']"),
            what="the clip").click()
        _wait(lambda: "frames" in driver.find_element(By.ID, "estimate").text, what="estimate")
        time.sleep(2.0)  # the colour preview
        driver.find_element(By.ID, "start-job").click()
        _wait(lambda: int(driver.find_element(By.CSS_SELECTOR, "#jobs-table tbody tr")
                          .get_attribute("data-progress") or 0) >= 30, timeout=120,
              what="the job under way")
        driver.save_screenshot(str(out / "web_videos.png"))

        driver.find_element(By.ID, "tab-live").click()
        source = driver.find_element(By.ID, "live-source")
        source.clear()
        source.send_keys("films/chaplin.mp4")
        driver.find_element(By.ID, "live-start").click()
        _wait(lambda: int(driver.find_element(By.ID, "live-frames").text or 0) > 40,
              timeout=60, what="live frames")
        driver.save_screenshot(str(out / "web_live.png"))
        driver.find_element(By.ID, "live-stop").click()
    finally:
        driver.quit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=pathlib.Path, default=ROOT.parent / "shared/datasets")
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "docs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = pathlib.Path(scratch)
        (root / "films").mkdir()
        (root / "photos").mkdir()
        shutil.copy(args.datasets / CLIP, root / "films" / "chaplin.mp4")
        with av.open(str(root / "films" / "chaplin.mp4")) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if index == 100:
                    cv2.imwrite(str(root / "photos" / "chaplin.png"),
                                frame.to_ndarray(format="gray"))
                    break
        port = _free_port()
        server = subprocess.Popen([sys.executable, "-m", "streamcolor", "serve", "--port",
                                   str(port), "--root", str(root), "-q"])
        try:
            import httpx

            _wait(lambda: httpx.get(f"http://127.0.0.1:{port}/api/info").status_code == 200,
                  what="the server")
            args.out.mkdir(exist_ok=True)
            shoot(f"http://127.0.0.1:{port}/", root, args.out)
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    print(f"wrote {args.out}/web_photos.png, web_videos.png, web_live.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
