"""Real films from ../shared/datasets: every frame, the same timestamps, the same audio bytes."""

from __future__ import annotations

import pathlib

import av
import pytest

from helpers import packets, require, video_pts
from streamcolor import EncodeConfig, ModelConfig, colorize_file

DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "datasets" / "video"
FILMS = ["bw/moviepy_chaplin.mp4", "clips/dvt_poppins_5.1audio.mp4",
         "clips/decord_flipping_a_pancake.mkv", "clips/moviepy_clip1024_turtle.flv"]


@pytest.mark.parametrize("name", FILMS)
def test_real_film_round_trip_in_its_own_container(name, tmp_path, model_path, ffprobe):
    source = DATA / name
    require(source.is_file(), f"real media not found: {source} (the shared datasets folder, "
            "which CI lays beside the clone)")
    output = tmp_path / f"out{source.suffix}"
    # FLV cannot store negative decode timestamps: x264's B-frames would delay every stream
    # by their reorder depth, so keep timestamps exact there with bf=0.
    options = (("bf", "0"),) if source.suffix == ".flv" else ()
    summary = colorize_file(source, output, model=ModelConfig(model=str(model_path)),
                            encode=EncodeConfig(options=options))
    assert video_pts(output) == video_pts(source) and summary.frames == len(video_pts(source))
    with av.open(str(source)) as c:
        audio = [s.index for s in c.streams if s.type == "audio"]
        tb = c.streams.video[0].time_base
    for index in audio:
        assert packets(output, index) == packets(source, index)
    with av.open(str(output)) as c:
        assert c.streams.video[0].time_base == tb
    count = lambda p: ffprobe(p, "-count_frames", "-select_streams", "v:0",  # noqa: E731
                              "-show_entries", "stream=nb_read_frames")["streams"][0]
    assert count(output) == count(source)
