"""#18: how close the default path runs to 1 / (t_encode + t_model), and where the rest goes.

On a real clip made grey (``video/clips/sam2_04_coffee.mp4``, 1280x720 H.264, its luma kept and
its chroma set neutral, re-encoded x264 veryfast CRF 12) and the same upscaled to 1920x1080,
measured side by side in one process, one after the other:

- (a) end to end: :func:`colorize_file` to ``.mkv`` with the bundled model at its CPU default
  (batch 8), the stabilizer on, libx264 CRF 18 with ``--preset`` (veryfast by default; the
  library's own default is no preset, i.e. x264's medium);
- (b) the same with the stabilizer off;
- (c) encode alone: the colorized frames (made as the pipeline makes them, kept in memory)
  encoded and muxed with the same encoder, options and pixel format (flush included);
- (d) the model alone at the pipeline's batch size
  (:func:`streamcolor.diagnostics.bench.model_only_fps`);
- the limit 1 / (t_encode + t_model) and the share of it (a) and (b) reach;
- a per-stage profile, each part alone on the same frames: decode (the pipeline's
  :class:`FileSource`), luma -> model input, the model (per frame of a batch of 8), the
  stabilizer, ab -> chroma planes, frame building (``colorize_frame`` less its chroma planes),
  encode; beside the pipeline's own busy time per stage in (a) and (b). Parts that run on
  one thread are medians of per-frame (or per-batch / 8) ``perf_counter`` times; decode and
  encode, which FFmpeg pipelines across calls and threads, are their total over the frames;
- the threads of each part: onnxruntime's intra-op setting, the threads the process gains
  when the model session, the decoder and the encoder start (counted in /proc/self/task),
  ``cv2.getNumThreads()``, the CPUs this process may use.

    .venv/bin/python benchmarks/efficiency.py [--frames-720 240] [--frames-1080 150]
        [--preset veryfast] [--wait-quiet 60 --tries 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import pathlib
import resource
import statistics
import sys
import tempfile
import time

import av
import cv2
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _machine import cpu_model  # noqa: E402

from streamcolor.api import colorize_file  # noqa: E402
from streamcolor.color.lab import chroma_planes, model_input  # noqa: E402
from streamcolor.color.temporal import Stabilizer  # noqa: E402
from streamcolor.config import EncodeConfig, ModelConfig, TemporalConfig  # noqa: E402
from streamcolor.diagnostics.bench import encode_frames_fps, limit_fps, model_only_fps  # noqa: E402
from streamcolor.media.encoders import encoder_options  # noqa: E402
from streamcolor.media.frames import colorize_frame, plan_formats, plane_array, plane_spec  # noqa: E402
from streamcolor.media.sources import FileSource  # noqa: E402
from streamcolor.runtime import ModelRunner  # noqa: E402

DATASETS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "datasets"
SOURCE = DATASETS / "video" / "clips" / "sam2_04_coffee.mp4"
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}
BATCH = ModelConfig().batch_size


def busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all processes, from /proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Others:
    """CPU % of other processes on the machine while the block runs (they skew timings)."""

    def __enter__(self) -> Others:
        self.wall, self.busy, self.own = time.perf_counter(), busy_seconds(), own_seconds()
        return self

    def __exit__(self, *exc) -> None:
        wall = time.perf_counter() - self.wall
        own = own_seconds() - self.own
        self.own_percent = 100 * own / wall
        self.percent = max(0.0, 100 * (busy_seconds() - self.busy - own) / wall)


QUIET = {"wait": 0.0, "tries": 1}  # set from --wait-quiet / --tries


def wait_quiet(limit: float, threshold: float = 15.0) -> None:
    """Wait (at most ``limit`` s) until the machine is near idle over 2 s: other processes
    (tests, other benchmarks) on the same cores skew every figure."""
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        before, started = busy_seconds(), time.perf_counter()
        time.sleep(2.0)
        if 100 * (busy_seconds() - before) / (time.perf_counter() - started) < threshold:
            return


def quietly(work):
    """``work()`` run when the machine is quiet; again (up to --tries) if other processes
    took more than 20% CPU meanwhile. Returns its result and those processes' CPU %."""
    for _ in range(max(1, QUIET["tries"])):
        wait_quiet(QUIET["wait"])
        with Others() as others:
            result = work()
        if others.percent < 20:
            break
    return result, others


def threads_now() -> int:
    return len(os.listdir("/proc/self/task"))


def grey_clip(source: pathlib.Path, path: pathlib.Path, size: tuple[int, int],
              frames: int) -> pathlib.Path:
    """The source's first ``frames`` frames, luma only (resized to ``size`` if needed),
    chroma neutral, as H.264 yuv420p (x264 veryfast CRF 12) at the source's rate."""
    width, height = size
    with av.open(str(source)) as src, av.open(str(path), "w") as out:
        stream = src.streams.video[0]
        video = out.add_stream("libx264", rate=stream.average_rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.options = {"preset": "veryfast", "crf": "12"}
        for i, frame in enumerate(src.decode(stream)):
            if i == frames:
                break
            luma = plane_array(frame.reformat(format="yuv420p").planes[0], np.uint8)
            if luma.shape != (height, width):
                luma = cv2.resize(luma, (width, height), interpolation=cv2.INTER_CUBIC)
            grey = av.VideoFrame(width, height, "yuv420p")
            plane_array(grey.planes[0], np.uint8)[:] = luma
            plane_array(grey.planes[1], np.uint8)[:] = 128
            plane_array(grey.planes[2], np.uint8)[:] = 128
            grey.pts = i
            out.mux(video.encode(grey))
        out.mux(video.encode(None))
    return path


def end_to_end(clip: pathlib.Path, out: pathlib.Path, encode: EncodeConfig,
               temporal: bool) -> dict:
    summary, others = quietly(lambda: colorize_file(
        clip, out, model=ModelConfig(provider="cpu"), encode=encode,
        temporal=TemporalConfig(enabled=temporal)))
    out.unlink(missing_ok=True)
    return {"fps": summary.fps, "frames": summary.frames, "seconds": summary.seconds,
            "cpu_percent": others.own_percent, "others_cpu_percent": others.percent,
            "stage_ms": {k: 1000 * v / summary.frames for k, v in summary.stage_seconds.items()}}


def median_ms(times: list[float]) -> float:
    return 1000 * statistics.median(times)


def profile(clip: pathlib.Path, runner: ModelRunner, encode: EncodeConfig,
            tmp: pathlib.Path) -> dict:
    """Each part alone on the clip's frames; the colorized frames' encode last."""
    threads: dict[str, int] = {}
    # decode: the pipeline's own source (threaded FFmpeg decoder, working-format conversion)
    base = threads_now()
    with FileSource(clip) as source:
        frames, started = [], time.perf_counter()
        for item in source.items():
            if isinstance(item, av.VideoFrame):
                frames.append(item)
                threads.setdefault("decoder (gained while decoding)", threads_now() - base)
        decode = (time.perf_counter() - started) / len(frames)
        rate = source.info.rate
    plan = plan_formats(frames[0].format.name, None, encoder="libx264")
    size = runner.input_size

    spec = plane_spec(frames[0], plan)
    pictures, times = [], []
    for frame in frames:
        started = time.perf_counter()
        pictures.append(model_input(plane_array(frame.planes[0], spec.dtype), size, spec))
        times.append(time.perf_counter() - started)
    to_input = median_ms(times)

    batches, stack_times = [], []
    for i in range(0, len(pictures), BATCH):
        started = time.perf_counter()
        batches.append(np.stack(pictures[i:i + BATCH])[:, None])
        stack_times.append((time.perf_counter() - started) / len(pictures[i:i + BATCH]))
    runner.run(batches[0])
    abs_, times = [], []
    for batch in batches:
        started = time.perf_counter()
        abs_.append(runner.run(batch))
        times.append((time.perf_counter() - started) / len(batch))
    model = median_ms(times)

    stabilizer, stabilized, times = Stabilizer(TemporalConfig()), [], []
    for batch, ab in zip(batches, abs_, strict=True):
        started = time.perf_counter()
        stabilized.extend(stabilizer(batch, ab))
        times.append((time.perf_counter() - started) / len(batch))
    stabilize = median_ms(times)

    times = []
    for frame, ab in zip(frames, stabilized, strict=True):
        luma = plane_array(frame.planes[0], spec.dtype)
        shape = (frame.planes[1].height, frame.planes[1].width)
        started = time.perf_counter()
        chroma_planes(luma, ab, shape, spec)
        times.append(time.perf_counter() - started)
    chroma = median_ms(times)

    coloured, times = [], []
    for frame, ab in zip(frames, stabilized, strict=True):
        started = time.perf_counter()
        coloured.append(colorize_frame(frame, ab, plan))
        times.append(time.perf_counter() - started)
    build = median_ms(times)

    base = threads_now()
    counted: list[int] = []
    out_path = tmp / "encode_only.mkv"
    probe = _CountingList(coloured, lambda: counted.append(threads_now() - base))
    encode_fps = encode_frames_fps(probe, encode, out_path, rate)
    out_path.unlink(missing_ok=True)
    threads["x264 encoder (gained while encoding)"] = max(counted, default=0)
    return {"frames": len(frames), "decode_ms": 1000 * decode,
            "model_input_ms": to_input, "batch_stack_ms": 1000 * statistics.median(stack_times),
            "model_ms": model, "stabilizer_ms": stabilize, "chroma_planes_ms": chroma,
            "colorize_frame_ms": build, "frame_building_ms": build - chroma,
            "encode_ms": 1000 / encode_fps, "encode_fps": encode_fps,
            "cuts": stabilizer.cuts, "threads": threads,
            "encoder_options": encoder_options("libx264", encode, rate),
            "pix_fmt": coloured[0].format.name}


class _CountingList(list):
    """A list whose iteration calls ``probe`` every 16 items (to count threads mid-encode)."""

    def __init__(self, items, probe) -> None:
        super().__init__(items)
        self._probe = probe

    def __iter__(self):
        for i, item in enumerate(super().__iter__()):
            if i % 16 == 15:
                self._probe()
            yield item


def measure(args: argparse.Namespace) -> dict:
    encode = EncodeConfig(preset=args.preset or None)
    base = threads_now()
    runner = ModelRunner.for_config(ModelConfig(provider="cpu"))
    runner.run(np.full((BATCH, 1, runner.input_size, runner.input_size), 50, np.float32))
    ort_threads = threads_now() - base
    model_fps, others = quietly(lambda: model_only_fps(runner, BATCH, seconds=3.0))
    result = {
        "cpu": cpu_model(), "cpus_usable": len(os.sched_getaffinity(0)),
        "model": pathlib.Path(runner.path).name, "precision": runner.precision,
        "input_size": runner.input_size, "batch": BATCH,
        "encoder": f"libx264 {encoder_options('libx264', encode, None)}",
        "onnxruntime_intra_op_threads_setting": ModelConfig().threads,
        "onnxruntime_threads_gained": ort_threads, "cv2_threads": cv2.getNumThreads(),
        "model_fps": model_fps, "model_others_cpu_percent": others.percent, "resolutions": {}}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = pathlib.Path(tmp_name)
        for name, frames in (("720p", args.frames_720), ("1080p", args.frames_1080)):
            if frames <= 0:
                continue
            clip = grey_clip(args.source, tmp / f"grey_{name}.mp4", SIZES[name], frames)
            parts, others = quietly(functools.partial(profile, clip, runner, encode, tmp))
            parts["others_cpu_percent"] = others.percent
            on = end_to_end(clip, tmp / "out.mkv", encode, temporal=True)
            off = end_to_end(clip, tmp / "out.mkv", encode, temporal=False)
            limit = limit_fps(parts["encode_fps"], model_fps)
            result["resolutions"][name] = {
                "size": SIZES[name], "profile": parts, "temporal_on": on, "temporal_off": off,
                "limit_fps": limit, "on_vs_limit": on["fps"] / limit,
                "off_vs_limit": off["fps"] / limit}
            print(f"{name}: e2e {on['fps']:.1f} / {off['fps']:.1f} fps, encode "
                  f"{parts['encode_fps']:.1f}, model {model_fps:.1f}, limit {limit:.1f}",
                  file=sys.stderr, flush=True)
    return result


def table(result: dict) -> str:
    names = list(result["resolutions"])
    rows = [f"CPU: {result['cpu']} ({result['cpus_usable']} usable); model "
            f"{result['model']} ({result['precision']}, {result['input_size']} px, batch "
            f"{result['batch']}); encoder {result['encoder']}; other processes used "
            f"{result['model_others_cpu_percent']:.0f}% CPU while (d) ran", "",
            "| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]

    def row(label: str, value) -> None:
        rows.append(f"| {label} | " + " | ".join(value(result["resolutions"][n])
                                                 for n in names) + " |")

    row("frames", lambda r: str(r["profile"]["frames"]))
    row("(a) end to end, stabilizer on (fps)", lambda r: f"{r['temporal_on']['fps']:.1f}")
    row("(b) end to end, stabilizer off (fps)", lambda r: f"{r['temporal_off']['fps']:.1f}")
    row("(c) encode alone (fps)", lambda r: f"{r['profile']['encode_fps']:.1f}")
    row(f"(d) model alone, batch {result['batch']} (fps)", lambda r: f"{result['model_fps']:.1f}")
    row("limit 1/(t_enc + t_model) (fps)", lambda r: f"{r['limit_fps']:.1f}")
    row("**(a) / limit**", lambda r: f"**{r['on_vs_limit']:.2f}**")
    row("**(b) / limit**", lambda r: f"**{r['off_vs_limit']:.2f}**")
    row("CPU % during (a) / (b)", lambda r: f"{r['temporal_on']['cpu_percent']:.0f} / "
        f"{r['temporal_off']['cpu_percent']:.0f}")
    row("other processes' CPU % during (a) / (b) / profile",
        lambda r: f"{r['temporal_on']['others_cpu_percent']:.0f} / "
        f"{r['temporal_off']['others_cpu_percent']:.0f} / "
        f"{r['profile']['others_cpu_percent']:.0f}")
    rows += ["", "Per frame, each part alone on the same frames (ms; decode and encode: total / "
             "frames; others: medians):", "",
             "| part | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    parts = [("decode (FileSource, threaded)", "decode_ms"),
             ("luma -> model input (model_input)", "model_input_ms"),
             ("batch stacking (np.stack)", "batch_stack_ms"),
             ("model (batch of 8, per frame)", "model_ms"),
             ("stabilizer (per frame of a batch)", "stabilizer_ms"),
             ("ab -> chroma planes (chroma_planes)", "chroma_planes_ms"),
             ("frame building (colorize_frame less chroma_planes)", "frame_building_ms"),
             ("encode (libx264, threaded)", "encode_ms")]
    for label, key in parts:
        row(label, lambda r, key=key: f"{r['profile'][key]:.2f}")
    row("sum of parts", lambda r: f"{sum(r['profile'][k] for _, k in parts):.2f}")
    row("1000 / (a) fps: wall per frame, stabilizer on",
        lambda r: f"{1000 / r['temporal_on']['fps']:.2f}")
    row("1000 / (b) fps: wall per frame, stabilizer off",
        lambda r: f"{1000 / r['temporal_off']['fps']:.2f}")
    rows += ["", "The pipeline's own busy time per stage (ms per frame; (a) / (b)); stages run "
             "in parallel threads on the same cores:", "",
             "| stage | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for stage in ("decode", "preprocess", "inference", "postprocess", "encode", "mux"):
        row(stage, lambda r, s=stage: f"{r['temporal_on']['stage_ms'].get(s, 0):.2f} / "
            f"{r['temporal_off']['stage_ms'].get(s, 0):.2f}")
    row("sum of busy", lambda r: f"{sum(r['temporal_on']['stage_ms'].values()):.2f} / "
        f"{sum(r['temporal_off']['stage_ms'].values()):.2f}")
    first = result["resolutions"][names[0]]["profile"]["threads"] if names else {}
    rows += ["", f"Threads: onnxruntime intra_op_num_threads = "
             f"{result['onnxruntime_intra_op_threads_setting']} (its default: one per physical "
             f"core), the session added {result['onnxruntime_threads_gained']} threads; "
             + "; ".join(f"{k}: {v}" for k, v in first.items())
             + f"; cv2.getNumThreads() = {result['cv2_threads']}; plus the pipeline's 5 stage "
             "threads and the caller's."]
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames-720", type=int, default=240)
    parser.add_argument("--frames-1080", type=int, default=150)
    parser.add_argument("--preset", default="veryfast",
                        help="x264 preset ('' for the library default: x264's medium)")
    parser.add_argument("--source", type=pathlib.Path, default=SOURCE,
                        help="the colour clip made grey (default: shared datasets' "
                        "video/clips/sam2_04_coffee.mp4)")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                        help="before each measurement wait up to S s for the machine to idle")
    parser.add_argument("--tries", type=int, default=1,
                        help="measure again (up to this many times) when other processes "
                        "took over 20%% CPU meanwhile")
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args()
    QUIET.update(wait=args.wait_quiet, tries=args.tries)
    if not args.source.is_file():
        print(f"needs {args.source}", file=sys.stderr)
        return 2
    result = measure(args)
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
