"""#18: how close the default path runs to 1 / (t_encode + t_model), and where the rest goes.

On a real clip made grey (``video/clips/sam2_04_coffee.mp4``, 1280x720 H.264, its luma kept and
its chroma set neutral, re-encoded x264 veryfast CRF 12) and the same upscaled to 1920x1080,
measured side by side in one process, one after the other:

- (a) end to end: :func:`colorize_file` to ``.mkv`` with the bundled model at its CPU default
  (batch 8), the stabilizer on, libx264 CRF 18 with ``--preset`` (veryfast by default; the
  library's own default is no preset, i.e. x264's medium);
- (b) the same with the stabilizer off;
- (c) encode alone: the colorized frames (made as the pipeline makes them, kept in memory)
  encoded and muxed with the same encoder, options and pixel format (flush included); each
  run against its own frames: (a)'s stabilized ones, and (b)'s unstabilized ones, which
  x264 takes longer over (colour that flickers costs bits and time);
- (d) the model alone at the pipeline's batch size, with every core as onnxruntime's
  threads, its fastest alone (:func:`streamcolor.diagnostics.bench.model_alone`; the run's
  plan gives it fewer, beside the encoder);
- the limit 1 / (t_encode + t_model) and the share of it (a) and (b) reach;
- (e) the encoder as the issue measured it: FFmpeg's command line decoding (a)'s output (and
  (b)'s, for (b)) and encoding it again with the same encoder settings (FFmpeg's own
  threads), to a file; the limit with decode 1 / (t_(e) + t_model), the issue's definition,
  and the shares of it;
- (f) as (a) with the colour of the source's first frame given as a reference (the bundled
  model is guided: the reference is carried along the motion), and what the reference and
  the stabilizer cost per frame in wall time ((f) against (a), (a) against (b));
- a per-stage profile, each part alone on the same frames: decode (the pipeline's
  :class:`FileSource`), luma -> model input, the model (per frame of a batch of 8), the
  stabilizer, ab -> chroma planes, frame building (``colorize_frame`` less its chroma planes),
  encode, each with the process's CPU time (all threads) per frame; beside the pipeline's
  own busy time per stage in (a) and (b) and its CPU time per frame. Parts that run on
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
import subprocess
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
from streamcolor.diagnostics.bench import encode_frames_fps, limit_fps, model_alone, model_only_fps  # noqa: E402
from streamcolor.media.encoders import encoder_options  # noqa: E402
from streamcolor.media.frames import colorize_frame, plan_formats, plane_array, plane_spec  # noqa: E402
from streamcolor.media.sources import FileSource  # noqa: E402
from streamcolor.runtime import ModelRunner  # noqa: E402
from streamcolor.runtime.threads import apply as apply_threads  # noqa: E402
from streamcolor.runtime.threads import of as threads_of  # noqa: E402

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


def first_colour(source: pathlib.Path, size: tuple[int, int]) -> np.ndarray:
    """The source's first frame in colour (BGR, resized to ``size``): a reference picture."""
    with av.open(str(source)) as src:
        picture = next(src.decode(video=0)).to_ndarray(format="bgr24")
    return cv2.resize(picture, size, interpolation=cv2.INTER_AREA)


def end_to_end(clip: pathlib.Path, out: pathlib.Path, encode: EncodeConfig,
               temporal: bool, keep: bool = False, references: dict | None = None) -> dict:
    summary, others = quietly(lambda: colorize_file(
        clip, out, model=ModelConfig(provider="cpu"), encode=encode,
        temporal=TemporalConfig(enabled=temporal), references=references))
    if not keep:
        out.unlink(missing_ok=True)
    return {"fps": summary.fps, "frames": summary.frames, "seconds": summary.seconds,
            "cpu_percent": others.own_percent, "others_cpu_percent": others.percent,
            "cpu_ms": others.own_percent * 10 / summary.fps,
            "stage_ms": {k: 1000 * v / summary.frames for k, v in summary.stage_seconds.items()}}


def transcode_fps(colorized: pathlib.Path, encode: EncodeConfig, tmp: pathlib.Path) -> dict:
    """The issue's own measure of the encoder: the FFmpeg command line decoding the colorized
    output and encoding it again with the same encoder settings (FFmpeg's default threads),
    to a file; fps over the frames, and FFmpeg's CPU time per frame."""
    options = encoder_options("libx264", encode, None)
    out = tmp / "transcoded.mkv"
    command = ["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(colorized), "-an",
               "-c:v", "libx264", *(arg for k, v in options.items() for arg in (f"-{k}", v)),
               str(out)]
    with av.open(str(colorized)) as probe:
        frames = probe.streams.video[0].frames or sum(1 for _ in probe.decode(video=0))

    def run() -> tuple[float, float]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(command, check=True)
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        return seconds, cpu

    (seconds, cpu), others = quietly(run)
    out.unlink(missing_ok=True)
    return {"fps": frames / seconds, "cpu_ms": 1000 * cpu / frames, "command": command,
            "others_cpu_percent": others.percent}


class Part:
    """Wall (per-call ``perf_counter`` times) and process CPU seconds of one part, over its
    calls: ``with part: ...`` around each call; ``cpu_ms`` is CPU per item, all threads."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.cpu = 0.0

    def __enter__(self) -> Part:
        self._wall, self._cpu = time.perf_counter(), own_seconds()
        return self

    def __exit__(self, *exc) -> None:
        self.times.append(time.perf_counter() - self._wall)
        self.cpu += own_seconds() - self._cpu

    def median_ms(self, per: int = 1) -> float:
        return 1000 * statistics.median(self.times) / per

    def cpu_ms(self, items: int) -> float:
        return 1000 * self.cpu / items


def profile(clip: pathlib.Path, runner: ModelRunner, encode: EncodeConfig,
            tmp: pathlib.Path) -> dict:
    """Each part alone on the clip's frames; the colorized frames' encode last. -> (the
    figures, (the colorized frames with the stabilizer, and without))."""
    threads: dict[str, int] = {}
    parts = {name: Part() for name in ("decode", "model_input", "batch_stack", "model",
                                        "stabilizer", "chroma_planes", "colorize_frame",
                                        "encode")}
    # decode: the pipeline's own source (threaded FFmpeg decoder, working-format conversion)
    base = threads_now()
    with parts["decode"], FileSource(clip) as source:
        frames = []
        for item in source.items():
            if isinstance(item, av.VideoFrame):
                frames.append(item)
                threads.setdefault("decoder (gained while decoding)", threads_now() - base)
        rate = source.info.rate
    count = len(frames)
    plan = plan_formats(frames[0].format.name, None, encoder="libx264")
    size = runner.input_size

    spec = plane_spec(frames[0], plan)
    pictures = []
    for frame in frames:
        with parts["model_input"]:
            pictures.append(model_input(plane_array(frame.planes[0], spec.dtype), size, spec))

    batches = []
    for i in range(0, len(pictures), BATCH):
        with parts["batch_stack"]:
            batches.append(np.stack(pictures[i:i + BATCH])[:, None])
    runner.run(batches[0])
    abs_ = []
    for batch in batches:
        with parts["model"]:
            abs_.append(runner.run(batch))

    stabilizer, stabilized = Stabilizer(TemporalConfig()), []
    for batch, ab in zip(batches, abs_, strict=True):
        with parts["stabilizer"]:
            stabilized.extend(stabilizer(batch, ab))

    for frame, ab in zip(frames, stabilized, strict=True):
        luma = plane_array(frame.planes[0], spec.dtype)
        shape = (frame.planes[1].height, frame.planes[1].width)
        with parts["chroma_planes"]:
            chroma_planes(luma, ab, shape, spec)

    # what (b) encodes: copies, as colorize_frame fills a decoded frame's own chroma planes
    unstabilized = [ab for batch in abs_ for ab in batch]
    coloured_off = [colorize_frame(_copy(frame), ab, plan) for frame, ab
                    in zip(frames, unstabilized, strict=True)]
    coloured = []
    for frame, ab in zip(frames, stabilized, strict=True):
        with parts["colorize_frame"]:
            coloured.append(colorize_frame(frame, ab, plan))

    base = threads_now()
    counted: list[int] = []
    out_path = tmp / "encode_only.mkv"
    probe = _CountingList(coloured, lambda: counted.append(threads_now() - base))
    with parts["encode"]:
        encode_fps = encode_frames_fps(probe, encode, out_path, rate)
    out_path.unlink(missing_ok=True)
    threads["x264 encoder (gained while encoding)"] = max(counted, default=0)
    build = parts["colorize_frame"].median_ms()
    chroma = parts["chroma_planes"].median_ms()
    return {"frames": count, "decode_ms": 1000 * parts["decode"].times[0] / count,
            "model_input_ms": parts["model_input"].median_ms(),
            "batch_stack_ms": parts["batch_stack"].median_ms(BATCH),
            "model_ms": parts["model"].median_ms(BATCH),
            "stabilizer_ms": parts["stabilizer"].median_ms(BATCH),
            "chroma_planes_ms": chroma, "colorize_frame_ms": build,
            "frame_building_ms": build - chroma,
            "encode_ms": 1000 / encode_fps, "encode_fps": encode_fps,
            "cpu_ms": {name: part.cpu_ms(count) for name, part in parts.items()},
            "cuts": stabilizer.cuts, "threads": threads,
            "encoder_options": encoder_options("libx264", encode, rate),
            "pix_fmt": coloured[0].format.name, "rate": rate}, (coloured, coloured_off)


def _copy(frame: av.VideoFrame) -> av.VideoFrame:
    """A decoded frame's planes and timing in a frame of its own."""
    out = av.VideoFrame(frame.width, frame.height, frame.format.name)
    dtype = np.uint8 if frame.format.components[0].bits <= 8 else np.uint16
    for mine, theirs in zip(out.planes, frame.planes, strict=True):
        plane_array(mine, dtype)[:] = plane_array(theirs, dtype)
    out.pts, out.time_base = frame.pts, frame.time_base
    out.color_range, out.colorspace = frame.color_range, frame.colorspace
    return out


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
    runner = ModelRunner.for_config(ModelConfig(provider="cpu"))  # as a run loads it
    runner.run(np.full((BATCH, 1, runner.input_size, runner.input_size), 50, np.float32))
    ort_threads = threads_now() - base
    apply_threads(threads_of(runner))  # the parts alone get the run's OpenCV threads too
    alone = model_alone(ModelConfig(provider="cpu"))
    model_fps, others = quietly(lambda: model_only_fps(alone, BATCH, seconds=3.0))
    result = {
        "cpu": cpu_model(), "cpus_usable": len(os.sched_getaffinity(0)),
        "model": pathlib.Path(runner.path).name, "precision": runner.precision,
        "input_size": runner.input_size, "batch": BATCH,
        "encoder": f"libx264 {encoder_options('libx264', encode, None)}",
        "thread_plan": threads_of(runner).describe(),
        "model_alone_threads": threads_of(alone).inference,
        "onnxruntime_threads_gained": ort_threads, "cv2_threads": cv2.getNumThreads(),
        "model_fps": model_fps, "model_others_cpu_percent": others.percent, "resolutions": {}}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = pathlib.Path(tmp_name)
        for name, frames in (("720p", args.frames_720), ("1080p", args.frames_1080)):
            if frames <= 0:
                continue
            clip = grey_clip(args.source, tmp / f"grey_{name}.mp4", SIZES[name], frames)
            (parts, coloured), others = quietly(functools.partial(profile, clip, runner,
                                                                  encode, tmp))
            parts["others_cpu_percent"] = others.percent
            reference = {0: first_colour(args.source, SIZES[name])}
            rounds = []
            for number in range(args.rounds):
                rounds.append(one_round(clip, coloured, alone, encode, tmp, reference,
                                        parts["rate"]))
                print(f"{name} round {number + 1}: " + ", ".join(
                    f"{k} {v:.2f}" for k, v in rounds[-1]["ratios"].items()),
                    file=sys.stderr, flush=True)
            result["resolutions"][name] = summarize(rounds, parts, SIZES[name])
            del coloured
    return result


def one_round(clip: pathlib.Path, coloured: tuple[list, list], alone: ModelRunner,
              encode: EncodeConfig, tmp: pathlib.Path, reference: dict, rate) -> dict:
    """(a), (c), (e), (d), (b), (c) and (e) of (b)'s frames, and (f) once each, one after the
    other (what a ratio compares measured close together: this machine's speed drifts over
    minutes), and their ratios: (a) and (b) each against the encode of its own output."""
    def encode_fps_of(frames: list) -> float:
        fps, _ = quietly(lambda: encode_frames_fps(frames, encode, tmp / "enc.mkv", rate))
        (tmp / "enc.mkv").unlink(missing_ok=True)
        return fps

    on = end_to_end(clip, tmp / "out.mkv", encode, temporal=True, keep=True)
    encode_fps = encode_fps_of(coloured[0])
    transcode = transcode_fps(tmp / "out.mkv", encode, tmp)
    model_fps, _ = quietly(lambda: model_only_fps(alone, BATCH, seconds=3.0))
    off = end_to_end(clip, tmp / "out.mkv", encode, temporal=False, keep=True)
    encode_off_fps = encode_fps_of(coloured[1])
    transcode_off = transcode_fps(tmp / "out.mkv", encode, tmp)
    (tmp / "out.mkv").unlink()
    guided = end_to_end(clip, tmp / "out.mkv", encode, temporal=True, references=reference)
    limit, issue_limit = limit_fps(encode_fps, model_fps), limit_fps(transcode["fps"], model_fps)
    limit_off = limit_fps(encode_off_fps, model_fps)
    issue_limit_off = limit_fps(transcode_off["fps"], model_fps)
    return {"temporal_on": on, "temporal_off": off, "reference": guided, "transcode": transcode,
            "transcode_off": transcode_off, "encode_fps": encode_fps,
            "encode_off_fps": encode_off_fps, "model_fps": model_fps, "limit_fps": limit,
            "limit_off_fps": limit_off, "issue_limit_fps": issue_limit,
            "issue_limit_off_fps": issue_limit_off,
            "ratios": {"on_vs_limit": on["fps"] / limit, "off_vs_limit": off["fps"] / limit_off,
                       "on_vs_issue_limit": on["fps"] / issue_limit,
                       "off_vs_issue_limit": off["fps"] / issue_limit_off}}


def summarize(rounds: list[dict], parts: dict, size) -> dict:
    """Medians over the rounds: of each figure, and of each round's own ratios (each ratio
    compares figures measured seconds apart); the runs of the median round of (a) give the
    CPU and stage figures."""
    def median(get) -> float:
        return statistics.median(get(r) for r in rounds)

    def middle(key: str) -> dict:
        ordered = sorted(rounds, key=lambda r: r[key]["fps"])
        run = dict(ordered[len(ordered) // 2][key])
        run["fps"] = median(lambda r: r[key]["fps"])
        run["others_cpu_percent"] = max(r[key]["others_cpu_percent"] for r in rounds)
        return run

    result = {"size": size, "profile": parts, "rounds": len(rounds),
              "temporal_on": middle("temporal_on"), "temporal_off": middle("temporal_off"),
              "reference": middle("reference"), "transcode": middle("transcode"),
              "transcode_off": middle("transcode_off"),
              **{key: median(lambda r, key=key: r[key]) for key in (
                  "encode_fps", "encode_off_fps", "model_fps", "limit_fps", "limit_off_fps",
                  "issue_limit_fps", "issue_limit_off_fps")},
              "all_rounds": rounds}
    for key in rounds[0]["ratios"]:
        values = [r["ratios"][key] for r in rounds]
        result[key] = statistics.median(values)
        result[key + "_range"] = (min(values), max(values))
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
    row("rounds (figures are medians over them)", lambda r: str(r["rounds"]))
    row("(c) encode alone, (a)'s frames / (b)'s frames (fps)",
        lambda r: f"{r['encode_fps']:.1f} / {r['encode_off_fps']:.1f}")
    row(f"(d) model alone, batch {result['batch']}, onnxruntime "
        f"{result['model_alone_threads']} threads (fps)", lambda r: f"{r['model_fps']:.1f}")
    row("limit 1/(t_enc + t_model) for (a) / for (b) (fps)",
        lambda r: f"{r['limit_fps']:.1f} / {r['limit_off_fps']:.1f}")
    def ratio_row(label: str, key: str) -> None:
        row(f"**{label}** (lowest-highest round)", lambda r: f"**{r[key]:.2f}** "
            f"({r[key + '_range'][0]:.2f}-{r[key + '_range'][1]:.2f})")

    ratio_row("(a) / limit", "on_vs_limit")
    ratio_row("(b) / limit", "off_vs_limit")
    row("(e) FFmpeg transcode of (a)'s / (b)'s output, same encoder (fps)",
        lambda r: f"{r['transcode']['fps']:.1f} / {r['transcode_off']['fps']:.1f}")
    row("limit with decode, the issue's: 1/(t_(e) + t_model), (a) / (b) (fps)",
        lambda r: f"{r['issue_limit_fps']:.1f} / {r['issue_limit_off_fps']:.1f}")
    ratio_row("(a) / limit with decode", "on_vs_issue_limit")
    ratio_row("(b) / limit with decode", "off_vs_issue_limit")
    row("(f) as (a), with frame 0's colour as a reference carried (fps)",
        lambda r: f"{r['reference']['fps']:.1f}")
    row("the reference's cost: 1000/(f) - 1000/(a) (ms per frame)",
        lambda r: f"{1000 / r['reference']['fps'] - 1000 / r['temporal_on']['fps']:.2f}")
    row("the stabilizer's cost: 1000/(a) - 1000/(b) (ms per frame)",
        lambda r: f"{1000 / r['temporal_on']['fps'] - 1000 / r['temporal_off']['fps']:.2f}")
    row("CPU % during (a) / (b)", lambda r: f"{r['temporal_on']['cpu_percent']:.0f} / "
        f"{r['temporal_off']['cpu_percent']:.0f}")
    row("CPU ms per frame, (a) / (b) / (e)", lambda r: f"{r['temporal_on']['cpu_ms']:.1f} / "
        f"{r['temporal_off']['cpu_ms']:.1f} / {r['transcode']['cpu_ms']:.1f}")
    row("other processes' CPU % during (a) / (b) / profile",
        lambda r: f"{r['temporal_on']['others_cpu_percent']:.0f} / "
        f"{r['temporal_off']['others_cpu_percent']:.0f} / "
        f"{r['profile']['others_cpu_percent']:.0f}")
    rows += ["", "Per frame, each part alone on the same frames: wall ms (decode and encode: "
             "total / frames; others: medians) / CPU ms (all threads, total / frames):", "",
             "| part | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    parts = [("decode (FileSource, threaded)", "decode_ms"),
             ("luma -> model input (model_input)", "model_input_ms"),
             ("batch stacking (np.stack)", "batch_stack_ms"),
             ("model (batch of 8, per frame)", "model_ms"),
             ("stabilizer (per frame of a batch)", "stabilizer_ms"),
             ("ab -> chroma planes (chroma_planes)", "chroma_planes_ms"),
             ("frame building (colorize_frame less chroma_planes)", "frame_building_ms"),
             ("encode (libx264, threaded)", "encode_ms")]
    cpu_keys = {"decode_ms": "decode", "model_input_ms": "model_input",
                "batch_stack_ms": "batch_stack", "model_ms": "model",
                "stabilizer_ms": "stabilizer", "chroma_planes_ms": "chroma_planes",
                "encode_ms": "encode"}

    def cpu(r: dict, key: str) -> float:
        cpu_ms = r["profile"]["cpu_ms"]
        if key == "frame_building_ms":
            return cpu_ms["colorize_frame"] - cpu_ms["chroma_planes"]
        return cpu_ms[cpu_keys[key]]

    for label, key in parts:
        row(label, lambda r, key=key: f"{r['profile'][key]:.2f} / {cpu(r, key):.2f}")
    row("sum of parts", lambda r: f"{sum(r['profile'][k] for _, k in parts):.2f} / "
        f"{sum(cpu(r, k) for _, k in parts):.2f}")
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
    rows += ["", f"Threads of (a) and (b), the run's plan: {result['thread_plan']}. Parts alone: "
             f"the model session added {result['onnxruntime_threads_gained']} threads; "
             + "; ".join(f"{k}: {v}" for k, v in first.items())
             + f"; cv2.getNumThreads() = {result['cv2_threads']}."]
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
    parser.add_argument("--rounds", type=int, default=3,
                        help="repeat (a)-(f) this many times, interleaved; report medians")
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
