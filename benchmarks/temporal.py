"""Temporal stability of the colour: stabilizer on against ``--temporal off``, on real clips.

    python benchmarks/temporal.py [--datasets ../shared/datasets] [--max-frames 40]
                                  [--model NAME|PATH] [--json PATH] [--plot PATH]

Every clip of ``video/seq/*`` (frame sequences) and ``video/clips/*`` (files) is made grey
(lossless FFV1, the source's own luma), colorized both ways into lossless FFV1, and compared
with its colour original:

- flicker: the warping error of chroma (Lai et al. 2018, on a*b*): mean |ab(t) - warp(ab(t-1))|
  of low-passed a*b*, over pixels that optical flow on the grey frames tracks reliably
  (forward-backward consistent and luma-explained); the flow is this script's own (DIS
  "medium" at the analysis size), not the stabilizer's;
- PSNR (RGB) against the colour original: lag and ghosting lower it;
- colorfulness (Hasler and Suesstrunk 2003): washing colour out cannot pass for stability;
- with --baseline, the same for a naive flow-warped exponential average (the bar to beat);
- a hard cut (two clips spliced): how much the first frame after the cut differs from the
  frame-by-frame output (it must not differ: no colour crosses a cut).
Ratios are on / off per clip. Overall: mean flicker on over mean flicker off across clips
(so the fast clips, which flicker most, weigh most), the worst clip's ratio, and medians.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import tempfile
from unittest import mock

import av
import cv2
import numpy as np
from _machine import cpu_model

import streamcolor.api
from streamcolor import EncodeConfig, ModelConfig, TemporalConfig, colorize_file

_ANALYSIS_WIDTH = 320
_LOSSLESS = EncodeConfig(codec="ffv1", options=(("level", "3"),))


def _source_frames(item: pathlib.Path, limit: int, stride: int = 1) -> list[np.ndarray]:
    """The colour original as RGB arrays (even sizes, so 4:2:0 holds them): every
    ``stride``-th frame (``stride`` > 1 makes the motion that much faster), at most ``limit``."""
    if item.is_dir():
        pictures = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
                    for p in sorted(item.glob("*.jpg"))[::stride][:limit]]
    else:
        with av.open(str(item)) as container:
            pictures = []
            for index, frame in enumerate(container.decode(video=0)):
                if index % stride:
                    continue
                pictures.append(frame.to_ndarray(format="rgb24"))
                if len(pictures) == limit:
                    break
    return [p[: p.shape[0] // 2 * 2, : p.shape[1] // 2 * 2] for p in pictures]


def write_grey(pictures: list[np.ndarray], path: pathlib.Path, rate: int = 25) -> None:
    """Lossless grey video: the luma of each colour picture (BT.601, full range: grey as
    swscale makes it from R'G'B', untagged, which FFmpeg and streamcolor read as full range)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=rate)
        stream.width, stream.height = pictures[0].shape[1], pictures[0].shape[0]
        stream.pix_fmt = "gray"
        for picture in pictures:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
            out.mux(stream.encode(frame.reformat(format="gray")))
        out.mux(stream.encode(None))


def read_rgb(path: pathlib.Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _small(picture: np.ndarray) -> np.ndarray:
    height = round(picture.shape[0] * _ANALYSIS_WIDTH / picture.shape[1])
    return cv2.resize(picture, (_ANALYSIS_WIDTH, height), interpolation=cv2.INTER_AREA)


def _ab(rgb: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor(_small(rgb).astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    return cv2.GaussianBlur(lab[..., 1:], (0, 0), 2.0)  # low-passed: chroma, not grain


def _warp(picture: np.ndarray, flow: np.ndarray) -> np.ndarray:
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(picture, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def tracked_flows(grey: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each t >= 1: the flow from frame t back to t-1 and the mask of reliable pixels."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    small = [cv2.cvtColor(_small(g), cv2.COLOR_RGB2GRAY) for g in grey]
    out = []
    for previous, current in zip(small, small[1:], strict=False):
        back = dis.calc(current, previous, None)
        fwd = dis.calc(previous, current, None)
        trip = back + _warp(fwd, back)
        residual = np.abs(current.astype(np.float32) - _warp(previous.astype(np.float32), back))
        mask = (np.hypot(trip[..., 0], trip[..., 1]) < 0.5) & (residual < 6)
        h, w = mask.shape
        mask[:4], mask[-4:], mask[:, :4], mask[:, -4:] = False, False, False, False
        out.append((back, mask if mask.sum() > 0.05 * h * w else np.zeros_like(mask)))
    return out


def flicker_per_frame(rgb: list[np.ndarray], flows) -> list[float]:
    """Warping error of low-passed a*b* between consecutive frames (NaN where untracked)."""
    abs_ = [_ab(p) for p in rgb]
    errors = []
    for t, (back, mask) in enumerate(flows, start=1):
        if not mask.any():
            errors.append(float("nan"))
            continue
        diff = np.linalg.norm(abs_[t] - _warp(abs_[t - 1], back), axis=-1)
        errors.append(float(diff[mask].mean()))
    return errors


def psnr(rgb: list[np.ndarray], truth: list[np.ndarray]) -> float:
    values = []
    for a, b in zip(rgb, truth, strict=True):
        mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
        values.append(10 * np.log10(255.0**2 / max(mse, 1e-10)))
    return float(np.mean(values))


def colorfulness(rgb: list[np.ndarray]) -> float:
    """Hasler and Suesstrunk's colorfulness, mean over frames."""
    values = []
    for picture in rgb:
        r, g, b = (picture[..., i].astype(np.float64) for i in range(3))
        rg, yb = r - g, 0.5 * (r + g) - b
        values.append(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))
    return float(np.mean(values))


class NaiveEMA:
    """The baseline to beat: a flow-warped exponential average at model resolution with a
    constant weight (no confidence, no cut reset, bilinear warps)."""

    def __init__(self, _config=None, weight: float = 0.7) -> None:
        self.weight, self.previous, self.lightness = weight, None, None
        self.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)

    def __call__(self, lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
        out = []
        for picture, prediction in zip(lightness[:, 0], ab, strict=True):
            current = np.clip(picture * 2.55, 0, 255).astype(np.uint8)
            if self.previous is not None:
                back = self.flow.calc(current, self.lightness, None)
                size = prediction.shape[-1]
                flow = cv2.resize(back, (size, size)) * (size / current.shape[0])
                carried = _warp(np.ascontiguousarray(self.previous.transpose(1, 2, 0)), flow)
                prediction = self.weight * carried.transpose(2, 0, 1) + (
                    1 - self.weight) * prediction
            self.previous, self.lightness = prediction, current
            out.append(prediction)
        return np.stack(out)


def _colorize(grey: pathlib.Path, out: pathlib.Path, model: str | None, mode: str) -> None:
    if mode == "naive":  # the pipeline's own stabilizer swapped for the baseline
        with mock.patch.object(streamcolor.api, "Stabilizer", NaiveEMA):
            _colorize(grey, out, model, "on")
        return
    colorize_file(grey, out, model=ModelConfig(model=model), encode=_LOSSLESS,
                  temporal=TemporalConfig(enabled=mode != "off"))


def measure_clip(name: str, truth: list[np.ndarray], work: pathlib.Path,
                 model: str | None, modes: tuple[str, ...]) -> dict:
    grey = work / f"{name}_grey.mkv"
    write_grey(truth, grey)
    grey_rgb = read_rgb(grey)
    flows = tracked_flows(grey_rgb)
    row: dict = {"clip": name, "frames": len(truth)}
    for mode in modes:
        out = work / f"{name}_{mode}.mkv"
        _colorize(grey, out, model, mode)
        rgb = read_rgb(out)
        per_frame = flicker_per_frame(rgb, flows)
        row[mode] = {"flicker": float(np.nanmean(per_frame)), "psnr": psnr(rgb, truth),
                     "colorfulness": colorfulness(rgb), "flicker_per_frame": per_frame}
        out.unlink()
    row["flicker_ratio"] = row["on"]["flicker"] / row["off"]["flicker"]
    row["psnr_delta"] = row["on"]["psnr"] - row["off"]["psnr"]
    row["colorfulness_ratio"] = row["on"]["colorfulness"] / row["off"]["colorfulness"]
    if "naive" in row:
        row["naive_flicker_ratio"] = row["naive"]["flicker"] / row["off"]["flicker"]
        row["naive_colorfulness_ratio"] = (row["naive"]["colorfulness"]
                                           / row["off"]["colorfulness"])
    grey.unlink()
    return row


def chroma_planes(path: pathlib.Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [np.concatenate([np.asarray(f.planes[i]).ravel() for i in (1, 2)])
                for f in container.decode(video=0)]


def measure_cut(first: list[np.ndarray], second: list[np.ndarray], work: pathlib.Path,
                model: str | None) -> dict:
    """Splice two clips; compare the first frame after the cut with the frame-by-frame one."""
    height, width = first[0].shape[:2]
    second = [cv2.resize(p, (width, height), interpolation=cv2.INTER_AREA) for p in second]
    grey = work / "cut_grey.mkv"
    write_grey(first + second, grey)
    planes = {}
    for mode in ("off", "on"):
        out = work / f"cut_{mode}.mkv"
        _colorize(grey, out, model, mode)
        planes[mode] = chroma_planes(out)
    at = len(first)
    diff = np.abs(planes["on"][at].astype(int) - planes["off"][at].astype(int))
    before = np.abs(planes["on"][at - 1].astype(int) - planes["off"][at - 1].astype(int))
    return {"cut_frame": at, "max_chroma_diff_after_cut": int(diff.max()),
            "mean_chroma_diff_before_cut": float(before.mean())}


def _text(canvas, text: str, xy: tuple[int, int]) -> None:
    cv2.putText(canvas, text, xy, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)


def plot(row: dict, path: pathlib.Path) -> None:
    """Flicker per frame, off / naive / on, for one clip: a PNG drawn with OpenCV."""
    width, height, left, top_margin, margin = 760, 380, 70, 80, 50
    canvas = np.full((height, width, 3), 255, np.uint8)
    colours = {"off": (40, 40, 200), "naive": (40, 160, 40), "on": (200, 120, 30)}
    labels = {"off": "--temporal off", "naive": "naive EMA", "on": "--temporal on"}
    series = {m: row[m]["flicker_per_frame"] for m in colours if m in row}
    top = max(np.nanmax(v) for v in series.values()) * 1.1
    count = len(series["off"])
    x_of = lambda i: left + int(i * (width - left - margin) / max(1, count - 1))  # noqa: E731
    y_of = lambda v: height - margin - int(v / top * (height - margin - top_margin))  # noqa: E731
    cv2.line(canvas, (left, height - margin), (width - margin, height - margin), (0, 0, 0))
    cv2.line(canvas, (left, top_margin), (left, height - margin), (0, 0, 0))
    for i, (mode, values) in enumerate(series.items()):
        points = [(x_of(k + 1), y_of(v)) for k, v in enumerate(values) if np.isfinite(v)]
        for a, b in zip(points, points[1:], strict=False):
            cv2.line(canvas, a, b, colours[mode], 2, cv2.LINE_AA)
        x = left + 200 * i
        cv2.line(canvas, (x, 52), (x + 30, 52), colours[mode], 2)
        _text(canvas, labels[mode], (x + 38, 57))
    _text(canvas, f"{row['clip']}: chroma warping error per frame (lower is steadier)",
          (left, 25))
    _text(canvas, f"{top:.2f}", (10, top_margin + 5))
    _text(canvas, "0", (left - 20, height - margin + 5))
    _text(canvas, "frame", (width // 2, height - 15))
    cv2.imwrite(str(path), canvas)


def _table(rows: list[dict], cut: dict) -> str:
    lines = ["| clip | frames | flicker off | flicker on | on/off | PSNR off | PSNR on | "
             "colorfulness on/off |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['clip']} | {r['frames']} | {r['off']['flicker']:.3f} | "
                     f"{r['on']['flicker']:.3f} | {r['flicker_ratio']:.2f} | "
                     f"{r['off']['psnr']:.2f} | {r['on']['psnr']:.2f} | "
                     f"{r['colorfulness_ratio']:.3f} |")
    med = lambda key: statistics.median(r[key] for r in rows)  # noqa: E731
    lines.append(f"| **overall (median)** | {sum(r['frames'] for r in rows)} | | | "
                 f"**{med('flicker_ratio'):.2f}** | | {med('psnr_delta'):+.2f} dB | "
                 f"**{med('colorfulness_ratio'):.3f}** |")
    mean_on = statistics.fmean(r["on"]["flicker"] for r in rows)
    mean_off = statistics.fmean(r["off"]["flicker"] for r in rows)
    worst = max(rows, key=lambda r: r["flicker_ratio"])
    lines.append(f"\nOverall flicker, mean on / mean off across clips: "
                 f"**{mean_on / mean_off:.2f}x**; worst clip {worst['clip']} "
                 f"{worst['flicker_ratio']:.2f}x; lowest PSNR change "
                 f"{min(r['psnr_delta'] for r in rows):+.2f} dB; lowest colorfulness ratio "
                 f"{min(r['colorfulness_ratio'] for r in rows):.3f}.")
    if "naive_flicker_ratio" in rows[0]:
        lines.append(f"\nBaseline, a naive flow-warped exponential average (weight 0.7): "
                     f"flicker {med('naive_flicker_ratio'):.2f}x, colorfulness "
                     f"{med('naive_colorfulness_ratio'):.3f}x of off (medians).")
    lines.append(f"\nHard cut: max chroma difference of the first frame after the cut, on vs "
                 f"off: {cut['max_chroma_diff_after_cut']} code values (mean before the cut: "
                 f"{cut['mean_chroma_diff_before_cut']:.2f}).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = pathlib.Path(__file__).resolve().parent
    parser.add_argument("--datasets", type=pathlib.Path,
                        default=here.parent.parent / "shared" / "datasets")
    parser.add_argument("--max-frames", type=int, default=40)
    parser.add_argument("--stride", type=int, default=1,
                        help="keep every N-th frame: N times faster motion (fast-motion check)")
    parser.add_argument("--model", default=None, help="default: the bundled model")
    parser.add_argument("--only", default="", help="comma-separated clip names")
    parser.add_argument("--baseline", action="store_true",
                        help="also run a naive flow-warped exponential average")
    parser.add_argument("--json", type=pathlib.Path)
    parser.add_argument("--plot", type=pathlib.Path)
    args = parser.parse_args(argv)
    video = args.datasets / "video"
    if not video.is_dir():
        print(f"no datasets at {video}: pass --datasets", file=sys.stderr)
        return 2
    items = sorted(p for p in (video / "seq").iterdir() if p.is_dir())
    items += sorted(p for p in (video / "clips").iterdir() if p.is_file())
    only = {n for n in args.only.split(",") if n}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        for item in items:
            name = item.stem
            if only and name not in only:
                continue
            truth = _source_frames(item, args.max_frames, args.stride)
            if len(truth) < 8:
                continue
            modes = ("off", "on", "naive") if args.baseline else ("off", "on")
            rows.append(measure_clip(name, truth, work, args.model, modes))
            r = rows[-1]
            print(f"{name}: flicker {r['flicker_ratio']:.2f}x, PSNR {r['psnr_delta']:+.2f} dB, "
                  f"colorfulness {r['colorfulness_ratio']:.3f}x", file=sys.stderr, flush=True)
        seqs = [p for p in items if p.is_dir()]
        cut = measure_cut(_source_frames(seqs[0], 16), _source_frames(seqs[1], 16), work,
                          args.model)
    print(f"CPU: {cpu_model()}; {len(rows)} clips, up to {args.max_frames} frames each"
          + (f", every {args.stride}th frame (faster motion)" if args.stride > 1 else ""))
    print(_table(rows, cut))
    if args.json:
        args.json.write_text(json.dumps({"clips": rows, "cut": cut}, indent=1))
    if args.plot and rows:
        plot(max(rows, key=lambda r: r["frames"]), args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
