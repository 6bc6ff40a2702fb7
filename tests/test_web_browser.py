"""The ``streamcolor serve`` page in a real browser: Debian's chromium driven by Selenium.

The real server runs as a subprocess (stopped by its PID); the page is used as a person
would: tabs, a photo chosen in the file input, a hint clicked on it, a film job started from
the file browser and followed in the queue, a live test source. (The README's pictures of
the page come from ``benchmarks/web_screenshots.py``, with the bundled model on a real clip.)
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from live_servers import free_port, need
from streamcolor.testing import make_model, write_grey_video

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _tool(path: str, name: str) -> str:
    found = path if os.access(path, os.X_OK) else shutil.which(name)
    need(found is not None, f"{name} ({path}): install Debian's chromium and chromium-driver")
    return found


def _scene(width: int = 240, height: int = 160) -> np.ndarray:
    """A grey landscape: sky gradient, a sun, two hills, a house; 8-bit, one channel."""
    import cv2

    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    picture = np.repeat(200 - 60 * y, width, axis=1)
    cv2.circle(picture, (int(width * 0.78), int(height * 0.22)), height // 9, 245, -1)
    xs = np.arange(width)
    for base, amp, freq, shade in ((0.55, 0.08, 1.7, 150), (0.7, 0.06, 3.1, 110)):
        ridge = (height * (base + amp * np.sin(xs / width * freq * np.pi))).astype(int)
        for x, top in zip(xs, ridge, strict=True):
            picture[top:, x] = shade
    x0, y0 = int(width * 0.18), int(height * 0.55)
    cv2.rectangle(picture, (x0, y0), (x0 + width // 6, y0 + height // 5), 128, -1)
    roof = np.array([[x0 - 4, y0], [x0 + width // 12, y0 - height // 8], [x0 + width // 6 + 4, y0]])
    cv2.fillPoly(picture, [roof], 70)
    return np.clip(picture, 0, 255).astype(np.uint8)


@contextlib.contextmanager
def _serve(root: pathlib.Path, model: pathlib.Path, *extra: str):
    """``streamcolor serve`` on a free loopback port; stopped by its PID (SIGINT, then kill)."""
    port = free_port()
    log_path = root.parent / f"serve-{port}.log"
    command = [sys.executable, "-m", "streamcolor", "serve", "--port", str(port),
               "--root", str(root), "--model", str(model), *extra]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                text = log_path.read_text(errors="replace")
                pytest.fail(f"streamcolor serve exited with {process.returncode}:\n{text}")
            try:
                with urllib.request.urlopen(url + "static/app.js", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except urllib.error.HTTPError:
                break  # it answers (401 without the token)
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("streamcolor serve did not answer within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture(scope="module")
def guided_model(tmp_path_factory):
    return make_model(tmp_path_factory.mktemp("model") / "tiny_guided.onnx", guided=True)


@pytest.fixture(scope="module")
def served(tmp_path_factory, guided_model):
    """The server without a token, its root a fresh folder: (url, root)."""
    root = tmp_path_factory.mktemp("served")
    with _serve(root, guided_model) as url:
        yield url, root


@pytest.fixture(scope="module")
def browser():
    """Headless chromium at 1280x800."""
    chromium = _tool(CHROMIUM, "chromium")
    chromedriver = _tool(CHROMEDRIVER, "chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        need(False, "selenium (pip install -e .[dev])")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--window-size=1280,800", "--no-sandbox",
                     "--disable-dev-shm-usage", "--disable-gpu", "--force-device-scale-factor=1",
                     "--hide-scrollbars"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        # a 1280x800 page: the window is the page plus the browser's own frame
        driver.set_window_size(1280, 800)
        inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
        driver.set_window_size(1280 + 1280 - inner[0], 800 + 800 - inner[1])
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(served, browser):
    url, root = served
    browser.get(url)
    _wait(browser, lambda: browser.execute_script("return document.readyState") == "complete")
    return browser, root


def _wait(driver, condition, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = condition()
        except Exception as error:  # noqa: BLE001 - element not there yet
            last = error
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.1)
    message = driver.execute_script(
        "const m = document.getElementById('message'); return m && !m.hidden ? m.textContent : ''")
    raise AssertionError(f"timed out waiting for {what} (last: {last!r}; message bar: {message!r})")


PIXEL_JS = """
const img = document.querySelector(arguments[0]);
if (!img || !img.complete || !img.naturalWidth) return null;
const c = document.createElement('canvas');
c.width = img.naturalWidth; c.height = img.naturalHeight;
const ctx = c.getContext('2d');
ctx.drawImage(img, 0, 0);
const d = ctx.getImageData(arguments[1], arguments[2], 1, 1).data;
return [d[0], d[1], d[2], img.naturalWidth, img.naturalHeight, img.src];
"""

FRAME_HASH_JS = """
const img = document.querySelector(arguments[0]);
if (!img || !img.naturalWidth) return null;
const c = document.createElement('canvas');
c.width = img.naturalWidth; c.height = img.naturalHeight;
const ctx = c.getContext('2d');
ctx.drawImage(img, 0, 0);
const d = ctx.getImageData(0, 0, c.width, c.height).data;
let h = 0;
for (let i = 0; i < d.length; i += 7) h = (h * 31 + d[i]) >>> 0;
return [img.naturalWidth, img.naturalHeight, h];
"""


def _click_at(driver, selector: str, x: float, y: float, natural: tuple[int, int]) -> None:
    """Click the element at natural-pixel (x, y) of a picture shown scaled."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    element = driver.find_element(By.CSS_SELECTOR, selector)
    box = driver.execute_script(
        "const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", element)
    dx = (x + 0.5) * box[0] / natural[0] - box[0] / 2
    dy = (y + 0.5) * box[1] / natural[1] - box[1] / 2
    ActionChains(driver).move_to_element_with_offset(element, int(dx), int(dy)).click().perform()


def _drag_paint(driver, selector: str, points, natural: tuple[int, int]) -> None:
    """Press, move through ``points`` (natural pixels) and release on the element."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    element = driver.find_element(By.CSS_SELECTOR, selector)
    w, h = driver.execute_script(
        "const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", element)

    def offset(x, y):
        return int((x + 0.5) * w / natural[0] - w / 2), int((y + 0.5) * h / natural[1] - h / 2)

    chain = ActionChains(driver).move_to_element_with_offset(element, *offset(*points[0]))
    chain.click_and_hold()
    for x, y in points[1:]:
        chain.move_to_element_with_offset(element, *offset(x, y))
    chain.release().perform()


def _set_colour(driver, hex_colour: str, picker: str = "hint-color") -> None:
    driver.execute_script(
        "const i = document.getElementById(arguments[1]); i.value = arguments[0];"
        "i.dispatchEvent(new Event('input', {bubbles: true}));", hex_colour, picker)


def _css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def _visible(driver, selector: str) -> bool:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector).is_displayed()


# ------------------------------------------------------------------------------------ tests
def test_page_loads_with_three_tabs(page):
    from selenium.webdriver.common.by import By

    driver, _ = page
    assert "streamcolor" in driver.title
    for name in ("photos", "videos", "live"):
        assert _visible(driver, f"#tab-{name}"), name
    assert _visible(driver, "#view-photos") and not _visible(driver, "#view-videos")
    driver.find_element(By.ID, "tab-videos").click()
    assert _visible(driver, "#view-videos") and not _visible(driver, "#view-photos")
    assert _visible(driver, "#jobs-table")
    driver.find_element(By.ID, "tab-live").click()
    assert _visible(driver, "#live-source") and not _visible(driver, "#view-videos")
    # /api/info filled the model selects
    _wait(driver, lambda: driver.execute_script(
        "return document.querySelectorAll('#live-model option').length") >= 1, what="models")


def test_api_error_shows_in_message_bar(page, tmp_path):
    from selenium.webdriver.common.by import By

    driver, _ = page
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not a picture at all")
    assert not _visible(driver, "#message")
    driver.find_element(By.ID, "photo-input").send_keys(str(broken))
    _wait(driver, lambda: _visible(driver, "#message"), what="the message bar")
    text = driver.find_element(By.ID, "message-text").text
    assert text and "{" not in text, text  # the server's one-line error, not raw JSON


def test_photo_result_and_hint(page, tmp_path):
    import cv2
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver, _ = page
    picture = _scene()
    photo = tmp_path / "landscape.png"
    cv2.imwrite(str(photo), picture)
    height, width = picture.shape
    driver.find_element(By.ID, "photo-input").send_keys(str(photo))

    first = _wait(driver, lambda: driver.execute_script(PIXEL_JS, "#result-img", 5, 5),
                  what="the colorized result")
    assert first[3:5] == [width, height]
    assert first[5].startswith("blob:")
    assert _visible(driver, "#result-img") and _visible(driver, "#original-img")
    link = driver.find_element(By.ID, "download-btn")
    assert link.get_attribute("download") == "landscape_color.png"
    assert link.get_attribute("href").startswith("blob:")

    # a green hint in the middle of the sky (grey ~170): that spot turns green
    x, y = 60, 40
    before = driver.execute_script(PIXEL_JS, "#result-img", x, y)[:3]
    assert not (before[1] > before[0] + 25 and before[1] > before[2] + 15), before
    _set_colour(driver, "#20b040")
    _click_at(driver, "#photo-compare", x, y, (width, height))

    def green():
        r, g, b, *_ = driver.execute_script(PIXEL_JS, "#result-img", x, y)
        return (r, g, b) if g > r + 25 and g > b + 15 else None

    hinted = _wait(driver, green, what="a green result where the hint was clicked")
    assert max(abs(a - b) for a, b in zip(hinted, before, strict=True)) > 30
    # far from the hint, the picture keeps (about) its automatic colour
    far = driver.execute_script(PIXEL_JS, "#result-img", width - 10, height - 8)[:3]
    assert not (far[1] > far[0] + 25 and far[1] > far[2] + 15), far

    # a painted stroke (pointer dragged) over the near hill on the colour side
    _set_colour(driver, "#3a8a3a")
    _drag_paint(driver, "#photo-compare", [(150, 150), (175, 148), (200, 146), (225, 150)],
                (width, height))
    _wait(driver, lambda: (lambda p: p[1] > p[0] + 15)(
        driver.execute_script(PIXEL_JS, "#result-img", 200, 146)), what="the painted stroke")

    # Ctrl-Z takes the stroke back, then the Undo button the clicked hint
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.CONTROL, "z")
    _wait(driver, lambda: (lambda p: p[1] <= p[0] + 15)(
        driver.execute_script(PIXEL_JS, "#result-img", 200, 146)), what="the stroke undone")
    assert green(), "the first hint went too"
    driver.find_element(By.ID, "undo-btn").click()

    def back():
        now = driver.execute_script(PIXEL_JS, "#result-img", x, y)[:3]
        return now if max(abs(a - b) for a, b in zip(now, before, strict=True)) <= 6 else None

    _wait(driver, back, what="the hint undone")


def test_divider_drag_moves_the_split(page, tmp_path):
    import cv2
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver, _ = page
    photo = tmp_path / "small.png"
    cv2.imwrite(str(photo), _scene(120, 80))
    driver.find_element(By.ID, "photo-input").send_keys(str(photo))
    _wait(driver, lambda: driver.execute_script(PIXEL_JS, "#result-img", 1, 1), what="result")
    clip = driver.execute_script("return document.getElementById('result-img').style.clipPath")
    assert "50" in clip, clip
    handle = driver.find_element(By.ID, "compare-handle")
    width = driver.find_element(By.ID, "photo-compare").size["width"]
    ActionChains(driver).click_and_hold(handle).move_by_offset(-width // 4, 0).release().perform()
    clip = driver.execute_script("return document.getElementById('result-img').style.clipPath")
    share = float(clip.split("inset(")[1].split()[3].rstrip("%)"))
    assert 20 < share < 30, clip
    # dragging the divider is not a hint
    thumbs = "return document.querySelectorAll('#photo-list .thumb').length"
    assert driver.execute_script(thumbs) == 1


def test_video_job_runs_to_done(page):
    import cv2
    from selenium.webdriver.common.by import By

    driver, root = page
    frames = [cv2.resize(_scene(), (64, 48), interpolation=cv2.INTER_AREA) for _ in range(10)]
    for i, frame in enumerate(frames):
        frame[:, (i * 6) % 64] = 255   # something that moves
    write_grey_video(root / "clip.mkv", frames, rate=10)

    driver.find_element(By.ID, "tab-videos").click()
    driver.find_element(By.ID, "files-refresh").click()
    entry = _wait(driver, lambda: _css(driver, "#files-list li[data-path='clip.mkv']"),
                  what="clip.mkv in the file browser")
    entry.click()
    colour = _wait(driver, lambda: driver.execute_script(PIXEL_JS, "#frame-color", 2, 2),
                   what="the colorized preview frame")
    assert colour[3:5] == [64, 48]
    grey = driver.execute_script(PIXEL_JS, "#frame-orig", 2, 2)
    assert grey[3:5] == [64, 48] and grey[0] == grey[1] == grey[2]
    _wait(driver, lambda: "frames" in driver.find_element(By.ID, "estimate").text, what="estimate")
    assert driver.find_element(By.ID, "estimate").text.startswith("10 frames")

    # the frame slider shows another frame (its white column moved to x = 30)
    assert driver.execute_script(PIXEL_JS, "#frame-orig", 30, 10)[0] < 240
    driver.execute_script("const s = document.getElementById('frame-slider'); s.value = 5;"
                          "s.dispatchEvent(new Event('input', {bubbles: true}));")
    _wait(driver, lambda: driver.execute_script(PIXEL_JS, "#frame-orig", 30, 10)[0] > 240,
          what="frame 5 in the preview")
    assert _css(driver, "#frame-index").text == "5"

    # a hint on the preview, used as a reference for the job
    def blue():
        r, g, b, *_ = driver.execute_script(PIXEL_JS, "#frame-color", 20, 20)
        return b > r + 40 and b > g + 40

    assert not blue()
    _set_colour(driver, "#2040d0", "frame-hint-color")
    _click_at(driver, "#frame-compare", 20, 20, (64, 48))
    _wait(driver, blue, what="the hint in the preview")
    _wait(driver, lambda: driver.find_element(By.ID, "use-reference").is_enabled(), what="button")
    driver.find_element(By.ID, "use-reference").click()
    _wait(driver, lambda: driver.find_elements(By.CSS_SELECTOR, "#refs-list .chip"),
          what="reference chip")

    driver.find_element(By.ID, "start-job").click()
    row = _wait(driver, lambda: _css(driver, "#jobs-table tr.job"), what="queue row")
    _wait(driver, lambda: row.get_attribute("data-state") in ("done", "failed"), timeout=120,
          what="the job to finish")
    assert row.get_attribute("data-state") == "done", row.text
    assert row.get_attribute("data-progress") == "100"
    assert "100%" in row.text
    assert (root / "clip_color.mkv").is_file()
    assert (root / ".streamcolor-serve" / "refs" / "clip" / "000005.png").is_file()
    saved = json.loads((root / ".streamcolor-serve" / "jobs.json").read_text())
    jobs = saved["jobs"] if isinstance(saved, dict) else saved
    clip_jobs = [job for job in jobs if job.get("input") == "clip.mkv"]
    assert clip_jobs and "5" in (clip_jobs[-1].get("references") or {}), clip_jobs
    assert not driver.find_elements(By.CSS_SELECTOR, "#refs-list .chip")  # used by this job


def test_live_source_shows_frames(page):
    from selenium.webdriver.common.by import By

    driver, _ = page
    driver.find_element(By.ID, "tab-live").click()
    source = driver.find_element(By.ID, "live-source")
    source.clear()
    source.send_keys("lavfi:testsrc=size=160x120:rate=10")
    driver.find_element(By.ID, "live-start").click()
    first = _wait(driver, lambda: driver.execute_script(FRAME_HASH_JS, "#live-img"), timeout=60,
                  what="a first live frame")
    assert first[:2] == [160, 120]
    _wait(driver, lambda: driver.execute_script(FRAME_HASH_JS, "#live-img")[2] != first[2],
          what="the live picture to change")
    _wait(driver, lambda: _css(driver, "#live-state").text == "running", what="running")
    _wait(driver, lambda: int(_css(driver, "#live-frames").text) > 3, what="frame count")
    _wait(driver, lambda: float(_css(driver, "#live-fps").text) > 0, what="fps")
    time.sleep(1.5)
    driver.find_element(By.ID, "live-stop").click()
    _wait(driver, lambda: _css(driver, "#live-state").text == "stopped", what="stopped")
    assert not _visible(driver, "#live-img")


def test_queue_cancel_and_resume(page):
    """A queued job and a running one cancelled from their rows, then resumed to done."""
    import cv2
    from selenium.webdriver.common.by import By

    driver, root = page
    scene = cv2.resize(_scene(), (320, 240), interpolation=cv2.INTER_AREA)
    long_frames = []
    for i in range(900):
        frame = np.roll(scene, i % 320, axis=1)
        long_frames.append(frame)
    write_grey_video(root / "long.mkv", long_frames, rate=25)
    write_grey_video(root / "short.mkv", [scene[::4, ::4].copy() for _ in range(6)], rate=25)

    driver.find_element(By.ID, "tab-videos").click()
    driver.find_element(By.ID, "files-refresh").click()
    for name in ("long.mkv", "short.mkv"):
        _wait(driver, lambda n=name: driver.find_element(
            By.CSS_SELECTOR, f"#files-list li[data-path='{n}']"), what=name).click()
        _wait(driver, lambda n=name: driver.find_element(By.ID, "video-path").text == n
              and driver.find_element(By.ID, "start-job").is_enabled(), what="Start")
        driver.find_element(By.ID, "start-job").click()
        _wait(driver, lambda n=name: _row(driver, n), what=f"the queue row of {name}")

    def state(name):
        return _row(driver, name).get_attribute("data-state")

    _wait(driver, lambda: state("long.mkv") == "running", what="long.mkv running")
    assert state("short.mkv") == "queued"
    _row(driver, "short.mkv").find_element(By.CSS_SELECTOR, "button.cancel").click()
    _wait(driver, lambda: state("short.mkv") == "cancelled", what="the queued job cancelled")
    _wait(driver, lambda: int(_row(driver, "long.mkv").get_attribute("data-progress")) > 0,
          what="long.mkv progress")
    _row(driver, "long.mkv").find_element(By.CSS_SELECTOR, "button.cancel").click()
    _wait(driver, lambda: state("long.mkv") == "cancelled", what="the running job cancelled")
    for name in ("long.mkv", "short.mkv"):
        row = _row(driver, name)
        assert not row.find_element(By.CSS_SELECTOR, "button.cancel").is_displayed()
        row.find_element(By.CSS_SELECTOR, "button.resume").click()
    for name in ("long.mkv", "short.mkv"):
        _wait(driver, lambda n=name: state(n) == "done", timeout=180, what=f"{name} done")
        assert _row(driver, name).get_attribute("data-progress") == "100"
    assert (root / "long_color.mkv").is_file() and (root / "short_color.mkv").is_file()


def _row(driver, input_name: str):
    from selenium.webdriver.common.by import By

    for row in driver.find_elements(By.CSS_SELECTOR, "#jobs-table tr.job"):
        if row.get_attribute("data-input") == input_name:
            return row
    return None


def test_eyedropper_picks_a_reference_colour(page, tmp_path):
    import cv2
    from selenium.webdriver.common.by import By

    driver, _ = page
    reference = np.zeros((40, 80, 3), np.uint8)
    reference[:, :40] = (40, 160, 230)    # BGR: an orange left half
    reference[:, 40:] = (200, 90, 30)     # a blue right half
    path = tmp_path / "reference.png"
    cv2.imwrite(str(path), reference)
    driver.find_element(By.ID, "ref-input").send_keys(str(path))
    canvas = _wait(driver, lambda: driver.find_element(By.ID, "ref-canvas") if _visible(
        driver, "#ref-canvas") else None, what="the reference picture")
    width = canvas.size["width"]
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).move_to_element_with_offset(canvas, -width // 4, 0).click().perform()
    assert driver.find_element(By.ID, "hint-color").get_attribute("value") == "#e6a028"
    ActionChains(driver).move_to_element_with_offset(canvas, width // 4, 0).click().perform()
    assert driver.find_element(By.ID, "hint-color").get_attribute("value") == "#1e5ac8"
    assert driver.find_element(By.ID, "hint-color-value").text == "#1e5ac8"


def test_token_travels_with_every_request(browser, guided_model, tmp_path):
    """With --token the page works only with ?token=T: fetches send the Bearer header and
    the MJPEG <img> carries ?token=T (the server's cookie is deleted to be sure)."""
    import cv2
    from selenium.webdriver.common.by import By

    root = tmp_path / "root"
    root.mkdir()
    token = "s3cret-Token_1"
    with _serve(root, guided_model, "--token", token) as url:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + "api/info", timeout=5)
        assert refused.value.code == 401
        browser.get(url + "?token=" + token)
        _wait(browser, lambda: browser.execute_script(
            "return document.querySelectorAll('#photo-model option').length") >= 1, what="info")
        assert not _visible(browser, "#message")
        # the server also sets a cookie on a ?token=T request: without it, only what the
        # page sends (the Bearer header, ?token=T on <img>) gets in
        browser.delete_all_cookies()
        photo = tmp_path / "p.png"
        cv2.imwrite(str(photo), _scene(80, 60))
        browser.find_element(By.ID, "photo-input").send_keys(str(photo))
        done = _wait(browser, lambda: browser.execute_script(PIXEL_JS, "#result-img", 1, 1),
                     what="a result with the token")
        assert done[3:5] == [80, 60]
        browser.find_element(By.ID, "tab-live").click()
        source = browser.find_element(By.ID, "live-source")
        source.clear()
        source.send_keys("lavfi:testsrc=size=160x120:rate=10")
        browser.find_element(By.ID, "live-start").click()
        _wait(browser, lambda: browser.execute_script(FRAME_HASH_JS, "#live-img"), timeout=60,
              what="a live frame with the token")
        src = browser.find_element(By.ID, "live-img").get_attribute("src")
        assert "token=" + token in src
        browser.find_element(By.ID, "live-stop").click()
        _wait(browser, lambda: browser.find_element(By.ID, "live-state").text == "stopped",
              what="stopped")


DROP_JS = """
const [width, height, name] = arguments;
const c = document.createElement('canvas');
c.width = width; c.height = height;
const ctx = c.getContext('2d');
ctx.fillStyle = '#777'; ctx.fillRect(0, 0, width, height);
ctx.fillStyle = '#ddd'; ctx.fillRect(0, 0, width / 2, height / 2);
c.toBlob((blob) => {
  const data = new DataTransfer();
  data.items.add(new File([blob], name, {type: 'image/png'}));
  const zone = document.getElementById('photo-drop');
  for (const type of ['dragenter', 'dragover', 'drop']) {
    zone.dispatchEvent(new DragEvent(type, {dataTransfer: data, bubbles: true, cancelable: true}));
  }
}, 'image/png');
"""


def test_many_photos_chosen_and_dropped(page, tmp_path):
    import cv2
    from selenium.webdriver.common.by import By

    driver, _ = page
    paths = []
    for name, size in (("one.png", (90, 60)), ("two.jpg", (50, 70))):
        paths.append(tmp_path / name)
        cv2.imwrite(str(paths[-1]), cv2.resize(_scene(), size))
    driver.find_element(By.ID, "photo-input").send_keys("\n".join(map(str, paths)))
    _wait(driver, lambda: len(driver.find_elements(By.CSS_SELECTOR, "#photo-list .thumb")) == 2,
          what="two thumbnails")
    first = _wait(driver, lambda: driver.execute_script(PIXEL_JS, "#result-img", 1, 1),
                  what="the first result")
    assert first[3:5] == [90, 60]
    driver.find_elements(By.CSS_SELECTOR, "#photo-list .thumb")[1].click()
    _wait(driver, lambda: (driver.execute_script(PIXEL_JS, "#result-img", 1, 1) or [0] * 5)[3:5]
          == [50, 70], what="the second photo's result in the editor")
    assert _css(driver, "#download-btn").get_attribute("download") == "two_color.jpg"
    assert "two.jpg" in _css(driver, "#photo-name").text

    driver.execute_script(DROP_JS, 64, 32, "dropped.png")
    _wait(driver, lambda: len(driver.find_elements(By.CSS_SELECTOR, "#photo-list .thumb")) == 3,
          what="the dropped picture")
    _wait(driver, lambda: (driver.execute_script(PIXEL_JS, "#result-img", 1, 1) or [0] * 5)[3:5]
          == [64, 32], what="the dropped picture's result")
    assert _css(driver, "#download-btn").get_attribute("download") == "dropped_color.png"
