"""The seed's approach, as a baseline: OpenCV frame by frame, full-resolution float Lab.

    python benchmarks/seed_baseline.py INPUT OUTPUT --model M.onnx [--frames N]

OpenCV ``VideoCapture`` reads a frame; the whole frame is converted to float Lab; L is
resized to the model's input and run through OpenCV DNN one frame at a time; ab is resized
back to full resolution; Lab -> BGR; OpenCV ``VideoWriter`` writes it. No audio, no
timestamps. Prints frames, seconds and fps; ``compare.py`` runs it beside streamcolor.
"""

from __future__ import annotations

import argparse
import sys
import time

import cv2
import numpy as np


def seed_colorize(source: str, target: str, model: str, *, size: int = 256,
                  limit: int | None = None) -> tuple[int, float]:
    """Colorize ``source`` into ``target`` the seed's way; return (frames, seconds)."""
    net = cv2.dnn.readNetFromONNX(model)
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        raise OSError(f"OpenCV cannot open {source}")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    writer = cv2.VideoWriter(target, cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    frames, started = 0, time.perf_counter()
    while limit is None or frames < limit:
        ok, frame = capture.read()
        if not ok:
            break
        lab = cv2.cvtColor(frame.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)
        lightness = cv2.resize(lab[..., 0], (size, size))
        net.setInput(lightness[None, None])
        ab = net.forward()[0].transpose(1, 2, 0)
        lab[..., 1:] = cv2.resize(ab, (width, height))
        bgr = cv2.cvtColor(lab, cv2.COLOR_Lab2BGR)
        writer.write(np.clip(bgr * 255.0, 0, 255).astype(np.uint8))
        frames += 1
    seconds = time.perf_counter() - started
    capture.release()
    writer.release()
    return frames, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--model", required=True)
    parser.add_argument("--frames", type=int)
    args = parser.parse_args()
    frames, seconds = seed_colorize(args.input, args.output, args.model, limit=args.frames)
    print(f"seed: {frames} frames in {seconds:.1f} s = {frames / seconds:.2f} fps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
