"""The one GPU check: everything a GPU machine should show, in one run of under 8 minutes.

    make gpu-check                                  # = PYTHONPATH=. python3 benchmarks/gpu_check.py
    python3 benchmarks/gpu_check.py --out gpu-check --budget 420

Steps: ``streamcolor doctor``; the GPU tests with skips turned into failures
(STREAMCOLOR_REQUIRE_GPU=1); model-only fps of the bundled model and of ECCV16 (random weights:
speed does not depend on the weights' values; exported once), fp16 and fp32, batch 1/8/32, on
CUDA and TensorRT, each cell in a child process that is stopped where a TensorRT engine build
would overrun the budget; the device checks of issue 21 (:mod:`gpu_probes`: frame graphs' parity
without TF32 and per batch against per frame, what two batches in flight overlap, partial
batch shapes, warm-up per thread, a fixed-batch TensorRT engine, NVDEC's context and NV12
download); 1080p end to end against standalone decode and standalone encode; GPU memory and
utilization sampled throughout. Writes gpu_check.json and gpu_check.md under --out.

It never installs anything and runs from a plain checkout with PYTHONPATH: a step whose
packages are missing (PyAV, onnx, pytest...) is reported as missing, not a crash. Exit 1 if a
step that could run failed, else 0.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import gpu_probes  # noqa: E402 - beside this script

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("numpy", "cv2", "onnxruntime", "onnx", "av", "pytest", "torch")
GPU_TESTS = ["tests/test_gpu.py", "tests/test_providers.py", "tests/test_frame_graphs.py",
             "tests/test_precision.py", "tests/test_doctor.py", "tests/test_gpu_review.py"]
# what importing streamcolor's runtime needs: the colour math and the frame graphs import cv2
RUNTIME = ("numpy", "cv2", "onnxruntime")


def _have(name: str) -> bool:
    with contextlib.suppress(ImportError, ValueError):
        return importlib.util.find_spec(name) is not None
    return False


def _bare_package() -> None:
    """Import streamcolor's parts without its __init__ (which needs PyAV for the pipeline)."""
    sys.path.insert(0, str(ROOT))
    if _have("av"):
        return
    package = types.ModuleType("streamcolor")
    package.__path__ = [str(ROOT / "streamcolor")]
    sys.modules.setdefault("streamcolor", package)


class Report:
    """Steps with their status (ok, missing, failed, skipped), figures, and a deadline."""

    def __init__(self, budget: float) -> None:
        self.deadline = time.monotonic() + budget
        self.steps: dict[str, dict] = {}

    def left(self) -> float:
        return self.deadline - time.monotonic()

    @contextlib.contextmanager
    def step(self, name: str, needs: tuple[str, ...] = ()):
        missing = [n for n in needs if not _have(n)]
        entry = self.steps.setdefault(name, {})
        if missing:
            entry.update(status="missing", detail=f"needs {', '.join(missing)} (not installed)")
            yield None
            return
        started = time.monotonic()
        try:
            yield entry
            entry.setdefault("status", "ok")
        except Exception as error:  # a check reports; it does not crash
            entry.update(status="failed", detail=f"{type(error).__name__}: {error}")
        entry["seconds"] = round(time.monotonic() - started, 1)


class Sampler:
    """GPU utilization and memory sampled in a thread (NVML) while a step runs."""

    def __init__(self) -> None:
        from streamcolor.runtime import libraries

        self._read, self.samples = libraries.utilization, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(0.25):
            self.samples.extend(self._read()[:1])

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        if not self.samples:
            return {"gpu_util_mean": None, "gpu_memory_peak_mib": None}
        return {"gpu_util_mean": round(statistics.mean(s[0] for s in self.samples), 1),
                "gpu_memory_peak_mib": max(s[1] for s in self.samples)}


def run_doctor(report: Report) -> None:
    with report.step("doctor", RUNTIME) as entry:
        if entry is not None:
            from streamcolor.diagnostics.doctor import collect

            entry["report"] = collect()
            entry["verdicts"] = {v["path"]: v for v in entry["report"]["verdicts"]}


def run_tests(report: Report) -> None:
    with report.step("gpu tests", ("pytest", "av", "numpy", "cv2", "onnx")) as entry:
        if entry is not None:
            env = dict(os.environ, STREAMCOLOR_REQUIRE_GPU="1", PYTHONPATH=str(ROOT))
            done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                   *GPU_TESTS], cwd=ROOT, env=env, capture_output=True,
                                  text=True, timeout=max(30, min(240, report.left() - 200)))
            lines = done.stdout.strip().splitlines()
            entry["summary"] = lines[-1] if lines else done.stderr[-500:]
            entry["failures"] = [line for line in lines if line.startswith("FAILED")]
            if done.returncode != 0:
                entry.update(status="failed", detail=entry["summary"])


def _models(folder: pathlib.Path) -> dict[str, pathlib.Path]:
    """The bundled model, and ECCV16 with random weights (fp32 + fp16 beside it) if onnx is."""
    from streamcolor.runtime import DEFAULT_MODEL

    models = {"streamcolor-compact": DEFAULT_MODEL}
    if _have("onnx"):
        from streamcolor.zoo.architectures import random_state_dict
        from streamcolor.zoo.export import export_onnx

        state = random_state_dict("eccv16")
        models["eccv16"] = export_onnx("eccv16", state, folder / "eccv16.onnx")
        export_onnx("eccv16", state, folder / "eccv16-fp16.onnx", dtype="float16")
    return models


def _engines() -> pathlib.Path:
    """TensorRT engines, shared by every step and kept between runs (see main's --out)."""
    return pathlib.Path(os.environ["STREAMCOLOR_CACHE"]) / "tensorrt"


def _fps(runner, batch: int, seconds: float) -> float:
    import numpy as np

    size = runner.input_size
    feed = np.random.default_rng(0).uniform(0, 100, (batch, 1, size, size)).astype(np.float32)
    runner.run(feed)
    times, started = [], time.perf_counter()
    while len(times) < 3 or time.perf_counter() - started < seconds:
        begin = time.perf_counter()
        runner.run(feed)
        times.append(time.perf_counter() - begin)
    return round(batch / statistics.median(times), 1)


def run_models(report: Report, folder: pathlib.Path, batches=(1, 8, 32)) -> None:
    """Model-only fps; fp16 before fp32 and CUDA before TensorRT, until the budget ends."""
    with report.step("model-only fps", RUNTIME) as entry:
        if entry is None:
            return
        rows = entry.setdefault("rows", [])
        models = _models(folder)  # exported once, not once per cell
        cells = [(m, p, q) for q in ("fp16", "fp32") for p in ("cuda", "tensorrt")
                 for m in models.items()]
        for (name, path), provider, precision in cells:
            row = {"model": name, "provider": provider, "precision": precision}
            rows.append(row)
            if report.left() < 150:
                row["skipped"] = "time budget"
                continue
            row.update(_cell_in_child(path, provider, precision, batches, report.left() - 120))


def _cell_in_child(path: pathlib.Path, provider: str, precision: str, batches, seconds: float
                   ) -> dict:
    """One model-only cell in a child process, stopped after ``seconds``: a TensorRT engine
    build cannot be interrupted inside onnxruntime, a process can (its cache stays for the
    next run)."""
    cell = json.dumps({"path": str(path), "provider": provider, "precision": precision,
                       "batches": list(batches)})
    try:
        done = subprocess.run([sys.executable, __file__, "--cell", cell], capture_output=True,
                              text=True, timeout=max(1.0, seconds), cwd=ROOT,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)))
    except subprocess.TimeoutExpired:
        return {"skipped": f"stopped after {seconds:.0f} s (a TensorRT engine build ran past "
                           "the budget; its cache is kept: run again)"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(lines[-1])


def run_cell(cell: dict) -> dict:
    """The child's side of :func:`_cell_in_child`: fps per batch size, GPU use."""
    from streamcolor.runtime import ModelRunner

    row: dict = {}
    try:
        with Sampler() as sampler:
            runner = ModelRunner(cell["path"], provider=cell["provider"],
                                 precision=cell["precision"], max_batch=max(cell["batches"]),
                                 cache_dir=_engines())
            row.update({f"batch{b}": _fps(runner, b, 1.5) for b in cell["batches"]})
        row.update(sampler.summary(), ran_on=runner.provider, file=runner.path.name)
    except Exception as error:  # the row says why; the next cell still runs
        row["error"] = f"{type(error).__name__}: {error}"
    return row


def _decode_fps(av, clip: pathlib.Path, mode: str) -> float:
    """Decode alone, the way the pipeline decodes (``--hwaccel`` auto: NVDEC where it works)."""
    from streamcolor.media.hwaccel import decode_options

    started, frames = time.perf_counter(), 0
    with av.open(str(clip), **decode_options(mode)) as container:
        container.streams.video[0].thread_type = "AUTO"
        for _ in container.decode(video=0):
            frames += 1
    return round(frames / (time.perf_counter() - started), 1)


def _pictures(av, path: pathlib.Path) -> list:
    """The colorized output's frames, in memory: standalone encode encodes the same pictures."""
    with av.open(str(path)) as container:
        return [frame.reformat(format="yuv420p") for frame in container.decode(video=0)]


def _encode_fps(av, pictures: list, preset: str, thread_type: str | None = None) -> float:
    """libx264 alone at 1080p (CRF 18), the encoder's own threads (every core)."""
    frames = len(pictures)
    with tempfile.TemporaryDirectory() as tmp, av.open(f"{tmp}/e.mkv", "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"preset": preset, "crf": "18"})
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        if thread_type:
            stream.codec_context.thread_type = thread_type
        started = time.perf_counter()
        for index in range(frames):
            picture = pictures[index % len(pictures)]
            picture.pts = index
            out.mux(stream.encode(picture))
        out.mux(stream.encode())
        return round(frames / (time.perf_counter() - started), 1)


def run_presets(report: Report, pictures: list) -> None:
    """Which x264 preset keeps up at 1080p on this machine's cores (slice vs frame threads)."""
    with report.step("x264 presets 1080p", ("av", "numpy")) as entry:
        if entry is None:
            return
        import av

        rows = entry.setdefault("rows", [])
        for preset in ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium"):
            if report.left() < 90:
                rows.append({"preset": preset, "skipped": "time budget"})
                continue
            rows.append({"preset": preset, "fps": _encode_fps(av, pictures, preset),
                         "fps_frame_threads": _encode_fps(av, pictures, preset, "FRAME")})


def run_end_to_end(report: Report, folder: pathlib.Path, frames: int, preset: str) -> list:
    """1080p end to end against decode alone and encode alone (of the same pictures); returns
    the colorized pictures for the preset table."""
    with report.step("1080p end to end", ("av", *RUNTIME)) as entry:
        if entry is None:
            return []
        if report.left() < 60:
            entry.update(status="skipped", detail="time budget")
            return []
        import av

        from streamcolor import EncodeConfig, ModelConfig, PipelineConfig, colorize_file
        from streamcolor.testing import ClipSpec, make_clip

        clip = make_clip(folder / "in1080.mkv", ClipSpec(width=1920, height=1080, frames=frames,
                                                         codec="libx264"))
        entry["decode_fps"] = _decode_fps(av, clip, "auto")
        entry["decode_fps_cpu"] = _decode_fps(av, clip, "none")
        with Sampler() as sampler:
            summary = colorize_file(clip, folder / "out.mkv", model=ModelConfig(batch_size=32),
                                    encode=EncodeConfig(preset=preset),
                                    pipeline=PipelineConfig(hwaccel="auto"))
        pictures = _pictures(av, folder / "out.mkv")
        entry["encode_fps"] = _encode_fps(av, pictures, preset)
        slower = min(entry["decode_fps"], entry["encode_fps"])
        entry.update(end_to_end_fps=round(summary.fps, 1), provider=summary.provider,
                     ratio_to_slower=round(summary.fps / slower, 2), preset=preset,
                     stage_seconds=summary.stage_seconds, **sampler.summary())
        return pictures


_PLAIN = ("status", "detail", "seconds")


def markdown(result: dict) -> str:
    """The report as a markdown table per section."""
    lines = [f"# GPU check {result['date']}", "", f"- machine: {result['machine']}",
             f"- packages: {result['packages']}", "", "| step | status | detail |",
             "| --- | --- | --- |"]
    for name, step in result["steps"].items():
        detail = step.get("detail") or step.get("summary") or ""
        lines.append(f"| {name} | {step.get('status')} | {detail} |")
    verdicts = result["steps"].get("doctor", {}).get("verdicts", {})
    if verdicts:
        lines += ["", "| path | ready | detail | fix |", "| --- | --- | --- | --- |"]
        lines += [f"| {p} | {'yes' if v['ok'] else 'no'} | {v['detail']} | {v['fix'] or ''} |"
                  for p, v in verdicts.items()]
    rows = result["steps"].get("model-only fps", {}).get("rows", [])
    if rows:
        lines += ["", "| model | provider | precision | ran on | b1 | b8 | b32 | util % | "
                  "peak MiB | note |", "| --- " * 10 + "|"]
        for r in rows:
            note = r.get("error") or r.get("skipped") or ""
            lines.append(f"| {r['model']} | {r['provider']} | {r['precision']} | "
                         f"{r.get('ran_on', '')} | {r.get('batch1', '')} | {r.get('batch8', '')} "
                         f"| {r.get('batch32', '')} | {r.get('gpu_util_mean', '')} | "
                         f"{r.get('gpu_memory_peak_mib', '')} | {note} |")
    probes = [(name, {k: v for k, v in step.items() if k not in _PLAIN})
              for name, step in result["steps"].items() if name in gpu_probes.NAMES]
    lines += ["", "Device probes (issue 21):"] if any(f for _, f in probes) else []
    lines += [f"- {name}: " + ", ".join(f"{k}={v}" for k, v in figures.items())
              for name, figures in probes if figures]
    e2e = result["steps"].get("1080p end to end", {})
    if "end_to_end_fps" in e2e:
        lines += ["", f"1080p: decode {e2e['decode_fps']} fps, encode ({e2e['preset']}) "
                  f"{e2e['encode_fps']} fps, end to end {e2e['end_to_end_fps']} fps on "
                  f"{e2e['provider']} = {e2e['ratio_to_slower']} of the slower"]
    presets = result["steps"].get("x264 presets 1080p", {}).get("rows", [])
    if presets:
        lines += ["", "| x264 preset (1080p) | fps, slice threads | fps, frame threads |",
                  "| --- | --- | --- |"]
        lines += [f"| {r['preset']} | {r.get('fps', r.get('skipped'))} | "
                  f"{r.get('fps_frame_threads', '')} |" for r in presets]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("gpu-check"))
    parser.add_argument("--budget", type=float, default=420, help="seconds for everything")
    parser.add_argument("--frames", type=int, default=240, help="1080p frames end to end")
    parser.add_argument("--preset", default="veryfast", help="x264 preset end to end")
    parser.add_argument("--skip-tests", action="store_true")
    parser.add_argument("--cell", help=argparse.SUPPRESS)  # one model-only cell (a child)
    args = parser.parse_args(argv)
    _bare_package()
    if args.cell:
        print(json.dumps(run_cell(json.loads(args.cell)), default=str))
        return 0
    report = Report(args.budget)
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ["STREAMCOLOR_CACHE"] = str((args.out / "cache").resolve())
    with tempfile.TemporaryDirectory() as tmp:
        run_doctor(report)
        if not args.skip_tests:
            run_tests(report)
        run_models(report, pathlib.Path(tmp))
        gpu_probes.run_all(report, pathlib.Path(tmp))
        pictures = run_end_to_end(report, pathlib.Path(tmp), args.frames, args.preset)
        if pictures:
            run_presets(report, pictures[:120])
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
                         f"{os.cpu_count()} cores, Python {platform.python_version()}",
              "packages": {name: _have(name) for name in PACKAGES}, "steps": report.steps}
    (args.out / "gpu_check.json").write_text(json.dumps(result, indent=2, default=str))
    (args.out / "gpu_check.md").write_text(markdown(result))
    print(markdown(result))
    return 1 if any(s.get("status") == "failed" for s in report.steps.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
