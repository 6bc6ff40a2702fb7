"""A real RTSP server on loopback for the live tests: GStreamer's RTSP server library.

Runs under Debian's system Python (python3-gi, gir1.2-gst-rtsp-server-1.0):

    /usr/bin/python3 tests/servers/rtsp_server.py --port 8554 --path /test [--size 320x240]
        [--audio pcma|pcmu]

serves a live grey test pattern (H.264, 25 fps; with --audio a sine tone too) at
rtsp://127.0.0.1:PORT/PATH until killed.
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

AUDIO = {
    "none": "",
    "pcma": " audiotestsrc is-live=true wave=sine freq=440 samplesperbuffer=160 ! "
            "audio/x-raw,rate=8000,channels=1 ! alawenc ! rtppcmapay name=pay1",
    "pcmu": " audiotestsrc is-live=true wave=sine freq=440 samplesperbuffer=160 ! "
            "audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay1",
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/test")
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--rate", type=int, default=25)
    parser.add_argument("--audio", choices=("none", "pcma", "pcmu"), default="none",
                        help="also serve a live sine tone in G.711 A-law or mu-law, 8 kHz "
                        "mono, as IP cameras send it")
    args = parser.parse_args()
    width, height = args.size.split("x")
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width={width},"
        f"height={height},framerate={args.rate}/1 ! videoconvert ! video/x-raw,format=GRAY8 ! "
        "videoconvert ! video/x-raw,format=I420 ! x264enc tune=zerolatency speed-preset=ultrafast "
        f"key-int-max={args.rate} ! rtph264pay name=pay0 pt=96 config-interval=1"
        f"{AUDIO[args.audio]} )")
    factory.set_shared(True)
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on port {args.port}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    signal.signal(signal.SIGTERM, lambda *_: loop.quit())
    print(f"ready rtsp://127.0.0.1:{args.port}{args.path}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
