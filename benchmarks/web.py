"""The web app's targets, measured against a real ``streamcolor serve`` with the bundled model:
page load, a 1-megapixel photo, a hint update, 20 requests at once, and the server's memory
over many requests.

    python benchmarks/web.py [--photo PATH] [--repeats 10] [--concurrent 20]
                             [--memory-requests 200] [--browser-loads 5] [--json PATH]

The server is started as a subprocess (``python -m streamcolor serve -q`` on 127.0.0.1, a free
port, a scratch root, no ``--model``: the bundled streamcolor-compact) and stopped by its PID
with SIGINT. Every figure is wall-clock time on this machine, client and server sharing its
CPUs:

- page load: GET / and its static assets (index.html, static/app.js, static/app.css) in turn
  on one connection, median of ``--repeats``; and, where Debian's chromium and chromedriver
  and selenium are here, the browser's navigation timing (loadEventEnd - navigationStart,
  headless, a fresh page each time), median of ``--browser-loads``. Target < 1 s.
- photo: POST /api/colorize of a 1224x816 JPEG (a real photo from
  ../shared/datasets/photos/val, resized, or a generated one), the first request (cold: the
  model loads) apart, then one warm-up, then median and worst of ``--repeats``. Target < 1 s.
- hint update: the same photo with an RGBA PNG of a few strokes as ``hints``, median of
  ``--repeats``. This is the API round trip (upload, colorize, download), not the page's
  redraw. Target < 0.5 s.
- concurrency: ``--concurrent`` POST /api/colorize at once (one thread and connection each,
  released together): how many answered 200, the total wall time and the slowest.
- memory: the server's RSS (VmRSS of its process and any children) after every 20 of
  ``--memory-requests`` sequential photo requests: the first sample, the last, the largest and
  the least-squares slope in MB per 100 requests. Target: flat.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import pathlib
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import cv2
import httpx
import numpy as np
from _machine import cpu_model

ROOT = pathlib.Path(__file__).resolve().parents[1]
PHOTOS = ROOT.parent / "shared/datasets/photos/val"
SIZE = (1224, 816)  # width, height: 1.0 megapixel
ASSETS = ("/", "/static/app.js", "/static/app.css")
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_photo(path: pathlib.Path, source: pathlib.Path | None) -> str:
    """A 1224x816 JPEG at ``path``: ``source``, else the first landscape photo of the
    dataset's val set, cropped to 3:2 and resized; else a generated scene. Its origin."""
    if source is None and PHOTOS.is_dir():
        for candidate in sorted(PHOTOS.glob("*.jpg")):
            shape = cv2.imread(str(candidate)).shape
            if shape[1] >= 1.4 * shape[0]:
                source = candidate
                break
    if source is not None:
        picture = cv2.imread(str(source))
        height, width = picture.shape[:2]
        crop_w = min(width, round(height * 1.5))
        crop_h = min(height, round(crop_w / 1.5))
        top, left = (height - crop_h) // 2, (width - crop_w) // 2
        picture = cv2.resize(picture[top : top + crop_h, left : left + crop_w], SIZE,
                             interpolation=cv2.INTER_CUBIC)
        origin = f"{source.name}, {width}x{height} resized to {SIZE[0]}x{SIZE[1]}"
    else:
        rng = np.random.default_rng(0)
        noise = rng.uniform(0, 255, (SIZE[1], SIZE[0], 3)).astype(np.float32)
        picture = cv2.GaussianBlur(noise, (0, 0), 12)
        picture = cv2.normalize(picture, None, 10, 245, cv2.NORM_MINMAX).astype(np.uint8)
        cv2.circle(picture, (400, 300), 150, (40, 160, 220), -1)
        origin = f"generated {SIZE[0]}x{SIZE[1]}"
    cv2.imwrite(str(path), picture, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return origin


def make_hints(path: pathlib.Path) -> None:
    """An RGBA PNG of the photo's size, transparent but for a few coloured strokes."""
    hints = np.zeros((SIZE[1], SIZE[0], 4), np.uint8)  # BGRA for OpenCV
    strokes = [((100, 60), (1100, 80), (235, 170, 80)),  # a blue sky
               ((150, 700), (1000, 760), (60, 150, 60)),  # green ground
               ((600, 300), (660, 520), (60, 60, 200)),  # something red
               ((300, 400), (420, 430), (80, 200, 230))]  # something yellow
    for start, end, (blue, green, red) in strokes:
        cv2.line(hints, start, end, (blue, green, red, 255), 12)
    cv2.imwrite(str(path), hints)


def rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` and of its descendants, in MB (10**6 bytes)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        status = pathlib.Path(f"/proc/{current}/status")
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            for task in pathlib.Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(child) for child in children)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 1e6


class Server:
    """``streamcolor serve`` in a subprocess, stopped by PID with SIGINT."""

    def __init__(self, root: pathlib.Path, log: pathlib.Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log.open("w")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamcolor", "serve", "--port", str(self.port),
             "--root", str(root), "-q"], cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = started + 60
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"the server exited ({self.process.returncode}); see "
                                 f"{self.log.name}")
            try:
                if httpx.get(self.url + "/api/info", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.perf_counter() > deadline:
                self.stop()
                raise SystemExit("the server did not answer within 60 s")
            time.sleep(0.1)
        self.startup = time.perf_counter() - started

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> int | None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()
        return self.process.returncode


def colorize(client: httpx.Client, photo: bytes, hints: bytes | None = None,
             check: bool = False) -> float:
    files = {"image": ("photo.jpg", photo, "image/jpeg")}
    if hints is not None:
        files["hints"] = ("hints.png", hints, "image/png")
    started = time.perf_counter()
    response = client.post("/api/colorize", files=files)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"POST /api/colorize answered {response.status_code}: "
                         f"{response.text[:200]}")
    if check:  # a colour JPEG of the photo's size came back
        picture = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
        if (response.headers["content-type"] != "image/jpeg" or picture is None
                or picture.shape[1::-1] != SIZE):
            raise SystemExit(f"POST /api/colorize answered {response.headers['content-type']}"
                             f" that is not a {SIZE[0]}x{SIZE[1]} JPEG")
    return elapsed


def page_load(client: httpx.Client, repeats: int) -> float:
    times = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        for asset in ASSETS:
            response = client.get(asset)
            response.raise_for_status()
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])


def browser_load(url: str, loads: int) -> float | str:
    """Median navigation time (s) of the page in headless chromium, or why it was skipped."""
    if not (pathlib.Path(CHROMIUM).is_file() and pathlib.Path(CHROMEDRIVER).is_file()):
        return "skipped: no /usr/bin/chromium and /usr/bin/chromedriver"
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return "skipped: selenium is not installed"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        times = []
        for _ in range(loads + 1):
            driver.get("about:blank")
            driver.get(url + "/")
            deadline = time.perf_counter() + 30
            while True:
                timing = driver.execute_script(
                    "const t = performance.timing;"
                    "return [t.navigationStart, t.loadEventEnd];")
                if timing[1] > 0 or time.perf_counter() > deadline:
                    break
                time.sleep(0.02)
            times.append((timing[1] - timing[0]) / 1000)
        return statistics.median(times[1:])  # the first load fills chromium's own caches
    finally:
        driver.quit()


def concurrent_posts(url: str, photo: bytes, count: int) -> dict:
    """``count`` POSTs at once, one thread and connection each; the clients are made first,
    so the wall time counts the requests and not httpx's setup."""
    clients = [httpx.Client(base_url=url, timeout=600) for _ in range(count)]
    go = threading.Barrier(count + 1)

    def one(client: httpx.Client) -> tuple[int, float]:
        go.wait()
        started = time.perf_counter()
        response = client.post("/api/colorize",
                               files={"image": ("photo.jpg", photo, "image/jpeg")})
        return response.status_code, time.perf_counter() - started

    try:
        with concurrent.futures.ThreadPoolExecutor(count) as pool:
            futures = [pool.submit(one, client) for client in clients]
            go.wait()
            started = time.perf_counter()
            results = [future.result() for future in futures]
            wall = time.perf_counter() - started
    finally:
        for client in clients:
            client.close()
    statuses: dict[str, int] = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {"requests": count, "statuses": statuses, "ok": statuses.get("200", 0),
            "wall_s": wall, "slowest_s": max(elapsed for _, elapsed in results)}


def memory(client: httpx.Client, pid: int, photo: bytes, requests: int, every: int = 20) -> dict:
    samples = []
    for done in range(1, requests + 1):
        colorize(client, photo)
        if done % every == 0:
            samples.append((done, rss_mb(pid)))
    counts = np.array([done for done, _ in samples], np.float64)
    values = np.array([value for _, value in samples], np.float64)
    slope = float(np.polyfit(counts, values, 1)[0] * 100) if len(samples) > 1 else 0.0
    return {"samples": samples, "first_mb": values[0], "last_mb": values[-1],
            "max_mb": float(values.max()), "slope_mb_per_100": slope}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", type=pathlib.Path,
                        help="a picture to resize to 1224x816 (default: one of the dataset)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--memory-requests", type=int, default=200)
    parser.add_argument("--browser-loads", type=int, default=5)
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args()

    scratch = pathlib.Path(tempfile.mkdtemp(prefix="streamcolor-web-bench-"))
    try:
        origin = make_photo(scratch / "photo.jpg", args.photo)
        make_hints(scratch / "hints.png")
        photo = (scratch / "photo.jpg").read_bytes()
        hints = (scratch / "hints.png").read_bytes()
        (scratch / "root").mkdir()
        server = Server(scratch / "root", scratch / "serve.log")
        try:
            with httpx.Client(base_url=server.url, timeout=600) as client:
                rss_idle = rss_mb(server.pid)
                page = page_load(client, args.repeats)
                browser = browser_load(server.url, args.browser_loads)
                cold = colorize(client, photo, check=True)
                colorize(client, photo)
                warm = [colorize(client, photo) for _ in range(args.repeats)]
                colorize(client, photo, hints, check=True)
                hinted = [colorize(client, photo, hints) for _ in range(args.repeats)]
                crowd = concurrent_posts(server.url, photo, args.concurrent)
                rss = memory(client, server.pid, photo, args.memory_requests)
        finally:
            returncode = server.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    result = {
        "cpu": cpu_model(), "load_average": os.getloadavg(), "photo": origin,
        "photo_bytes": len(photo), "server_startup_s": server.startup,
        "server_exit_code": returncode, "rss_idle_mb": rss_idle,
        "page_load_s": page, "browser_load_s": browser,
        "photo_cold_s": cold, "photo_median_s": statistics.median(warm),
        "photo_worst_s": max(warm), "hints_median_s": statistics.median(hinted),
        "hints_worst_s": max(hinted), "concurrent": crowd, "memory": rss,
    }
    browser_text = (f"{browser * 1000:.0f} ms" if isinstance(browser, float) else browser)
    rows = [
        ("page load, GET / + app.js + app.css (median)", f"{page * 1000:.1f} ms", "< 1 s"),
        ("page load, headless chromium (median)", browser_text, "< 1 s"),
        ("photo 1224x816, first request (model loads)", f"{cold:.2f} s", ""),
        ("photo 1224x816, median / worst", f"{statistics.median(warm):.2f} / "
         f"{max(warm):.2f} s", "< 1 s"),
        ("hint update, API round trip (median / worst)", f"{statistics.median(hinted):.2f} / "
         f"{max(hinted):.2f} s", "< 0.5 s"),
        (f"{crowd['requests']} at once: 200s, wall, slowest",
         f"{crowd['ok']}/{crowd['requests']}, {crowd['wall_s']:.1f} s, "
         f"{crowd['slowest_s']:.1f} s", "all succeed"),
        (f"RSS over {args.memory_requests} requests: first / last / max",
         f"{rss['first_mb']:.0f} / {rss['last_mb']:.0f} / {rss['max_mb']:.0f} MB", ""),
        ("RSS slope", f"{rss['slope_mb_per_100']:+.1f} MB per 100 requests", "flat"),
    ]
    width = max(len(row[0]) for row in rows)
    print(f"streamcolor serve, bundled model; photo: {origin} ({len(photo)} bytes)")
    print(f"server up in {server.startup:.1f} s, idle RSS {rss_idle:.0f} MB, "
          f"exit code {returncode} after SIGINT")
    for name, value, target in rows:
        print(f"  {name:<{width}}  {value:<30} {target}")
    print(f"CPU: {result['cpu']}; load average at the end "
          f"{', '.join(f'{x:.2f}' for x in result['load_average'])}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
