"""``make demo`` (``python -m streamcolor.cli.demo [FOLDER]``): colorize a grey clip with sound.

Writes FOLDER/clip_gray.mkv (10 s, 640x360, stereo audio, subtitles, chapters) and
colorizes it into FOLDER/clip_color.mkv with streamcolor's own bundled model, then says
where they are. An install without the bundled weights gets a tiny stand-in model instead
(needs the ``onnx`` package), which shows the pipeline but is no colorizer.
"""

from __future__ import annotations

import pathlib
import sys

from ..runtime import DEFAULT_MODEL
from ..testing import AudioTrack, ClipSpec, make_clip, make_model
from .main import main as cli_main

DEMO_CLIP = ClipSpec(
    width=640, height=360, frames=250, pix_fmt="yuv420p",
    audio=(AudioTrack(frequency=440.0, language="eng", title="Tone"),),
    subtitles=((0.5, 4.0, "A generated black-and-white clip"), (5.0, 9.0, "...now in colour")),
    chapters=((0.0, 5.0, "Part one"), (5.0, 10.0, "Part two")),
    metadata=(("title", "streamcolor demo"),),
)


def main(argv: list[str] | None = None) -> int:
    """Make the demo clip and model, then colorize the clip with the command line."""
    argv = sys.argv[1:] if argv is None else argv
    folder = pathlib.Path(argv[0] if argv else "demo")
    folder.mkdir(parents=True, exist_ok=True)
    clip, output = folder / "clip_gray.mkv", folder / "clip_color.mkv"
    make_clip(clip, DEMO_CLIP)
    model = ["--model", str(make_model(folder / "demo_model.onnx", input_size=64))] if (
        not DEFAULT_MODEL.is_file()) else []
    status = cli_main(["colorize", str(clip), "-o", str(output), *model])
    if status == 0:
        print(f"\nDemo done. Grey input: {clip}\nColorized output: {output}\n"
              f"Play it with: ffplay {output}   (or any video player)")
    return status


if __name__ == "__main__":
    sys.exit(main())
