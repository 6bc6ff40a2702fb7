"""A before/after strip for the README: one frame of a real clip, grey, automatic, carried from
the true colour of frame 0, and the original.

    python benchmarks/guided_strip.py --model GUIDED.onnx [--clip ../shared/datasets/video/seq/X]
                                      [--frame 40] [-o docs/guided_strip.png]

The clip is made grey as ``benchmarks/guided_video.py`` does and colorized twice with the
defaults; the strip shows frame ``--frame`` of each, labelled, 240 px high.
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile

import cv2
import numpy as np
from temporal import _source_frames, read_rgb, write_grey

from streamcolor import EncodeConfig, ModelConfig, colorize_file

DEFAULT_CLIP = (pathlib.Path(__file__).resolve().parents[2]
                / "shared/datasets/video/seq/vid4_foliage")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--clip", type=pathlib.Path, default=DEFAULT_CLIP)
    parser.add_argument("--frame", type=int, default=30)
    parser.add_argument("-o", "--output", type=pathlib.Path, default=pathlib.Path(
        "docs/guided_strip.png"))
    args = parser.parse_args()
    truth = _source_frames(args.clip, args.frame + 1)
    with tempfile.TemporaryDirectory() as scratch:
        work = pathlib.Path(scratch)
        write_grey(truth, work / "grey.mkv")
        panels = {"grey": cv2.cvtColor(cv2.cvtColor(truth[-1], cv2.COLOR_RGB2GRAY),
                                       cv2.COLOR_GRAY2RGB)}
        for name, references in (("automatic", None), (
                "reference: frame 0", {0: cv2.cvtColor(truth[0], cv2.COLOR_RGB2BGR)})):
            out = work / "out.mkv"
            colorize_file(work / "grey.mkv", out, model=ModelConfig(model=args.model,
                                                                    provider="cpu"),
                          encode=EncodeConfig(codec="ffv1"), references=references)
            panels[name] = read_rgb(out)[-1]
        panels["original"] = truth[-1]
    height = 240
    tiles = []
    for label, rgb in panels.items():
        width = round(rgb.shape[1] * height / rgb.shape[0])
        tile = cv2.cvtColor(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA),
                            cv2.COLOR_RGB2BGR)
        cv2.rectangle(tile, (0, 0), (width, 22), (255, 255, 255), -1)
        cv2.putText(tile, f"{label} (frame {args.frame})" if label == "grey" else label,
                    (6, 16), 0, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(tile)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.output), np.hstack(tiles))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
