"""Live preview: a live source colorized by the CLI's live pipeline, watched as MJPEG.

    POST   /api/live             {"source", "model", "record"} -> 201 {"id", "stream", ...}
    GET    /api/live/{id}        state, fps, latency_ms, drops, frames, recording, error
    GET    /api/live/{id}/mjpeg  multipart/x-mixed-replace JPEG stream (several viewers)
    DELETE /api/live/{id}        stops it (the recording, if any, is finalized)

Each session is one thread running :class:`~streamcolor.pipeline.Pipeline` in live mode,
as ``streamcolor colorize SOURCE --live`` does: a :class:`~streamcolor.live.LiveSource`
(reconnecting network streams, cameras, ``lavfi:`` graphs, or a file under the root read
in real time), batches of one frame, stale frames dropped and counted, the temporal
stabilizer on. Its sink JPEG-encodes every colorized frame into one shared slot that the
viewers wait on; a recording, if asked for, is a second sink (a file under the root) fed
the same frames. A source that cannot be opened or fails leaves the session "failed" with
a one-line error; the server carries on. :func:`close_all` stops every session.
"""

from __future__ import annotations

import asyncio
import collections
import pathlib
import re
import secrets
import threading
import time
from urllib.parse import urlsplit

import av
import cv2
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from ..api import _warm_runner
from ..color.temporal import Stabilizer
from ..config import EncodeConfig, LiveConfig, ModelConfig, TemporalConfig
from ..live.outputs import TeeSink, open_outputs
from ..live.source import LiveSource, SourceSpec, parse_source
from ..media.frames import plan_formats
from ..media.sinks import check_output_path
from ..pipeline import Pipeline
from ..redact import redact
from .safety import WebError, resolve

__all__ = ["live_routes", "close_all", "stop_all", "LiveSession", "MAX_RUNNING"]

MAX_RUNNING = 4  # live sessions running at once (each holds a model and five threads)
_KEEP_FINISHED = 16  # finished sessions kept for their stats
_BOUNDARY = "frame"
_JPEG_QUALITY = 80
_FPS_WINDOW = 2.0  # seconds of published frames that fps and latency are measured over
_STOP_WAIT = 15.0  # seconds DELETE and close_all wait for a session's thread
# Test sources a page may ask for, and harmless filters after them. Anything else could
# read or write files (movie=, drawtext=textfile=, life=filename=, stats files ...).
_LAVFI_FILTERS = frozenset({
    "testsrc", "testsrc2", "smptebars", "smptehdbars", "rgbtestsrc", "yuvtestsrc",
    "pal75bars", "pal100bars", "color", "nullsrc", "mandelbrot", "gradients", "zoneplate",
    "sierpinski", "allrgb", "allyuv", "format", "scale", "fps", "hue", "eq", "negate",
    "hflip", "vflip", "transpose", "crop", "pad", "setsar", "noise", "boxblur", "gblur",
})
_CAMERA_FORMATS = ("v4l2", "avfoundation", "dshow")
_V4L2_DEVICE = re.compile(r"^/dev/video\d+$")

_sessions: dict[str, LiveSession] = {}
_registry_lock = threading.Lock()


class _Refused(Exception):
    """A request the API answers with a JSON error (``status``, one-line message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _one_line(error: BaseException | str, root: pathlib.Path | None = None) -> str:
    """The error on one line, URL passwords redacted and the server's root left out."""
    text = " ".join(str(error).split()) or type(error).__name__
    if root is not None:
        for folder in {str(root.resolve()), str(root.absolute())}:
            text = text.replace(folder + "/", "").replace(folder, ".")
    return redact(text)


# -- the frame slot and its sink --------------------------------------------------------
class _Viewer:
    """One MJPEG client: woken (in its event loop) whenever a new frame is published."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.event = asyncio.Event()
        self.seq = 0

    def wake(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self.event.set)
        except RuntimeError:  # the loop has closed: the viewer is gone
            pass


class _JpegSink:
    """A pipeline sink that JPEG-encodes each colorized frame into its session's slot."""

    def __init__(self, plan, session: LiveSession) -> None:
        self.plan = plan
        self.session = session
        self.notes: list[str] = []
        self.codecs: list[str] = []

    def write(self, frame: av.VideoFrame) -> None:
        bgr = frame.to_ndarray(format="bgr24")
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
        if ok:
            arrival = frame.opaque if isinstance(frame.opaque, float) else None
            self.session.publish(data.tobytes(), arrival)

    def copy(self, packet) -> None:
        pass  # the preview is pictures only

    def finish(self) -> None:
        pass

    def commit(self) -> None:
        pass

    def abort(self) -> None:
        pass


# -- a session ------------------------------------------------------------------------------
class LiveSession:
    """One live source colorized in a thread of its own; see the module docstring."""

    def __init__(self, *, spec: SourceSpec, source_text: str, model: str | None,
                 provider: str = "auto", root: pathlib.Path | None = None,
                 record: pathlib.Path | None = None, record_rel: str | None = None,
                 input_path: pathlib.Path | None = None) -> None:
        self.id = secrets.token_hex(6)
        self.spec = spec
        self.source_text = redact(source_text)
        self.model = model
        self.provider = provider
        self.root = root
        self.record, self.record_rel, self.input_path = record, record_rel, input_path
        self.state = "starting"
        self.error: str | None = None
        self.created = time.time()
        self._lock = threading.Lock()
        self._stopping = False
        self._source: LiveSource | None = None
        self._pipeline: Pipeline | None = None
        self._finished = threading.Event()
        self._viewers: set[_Viewer] = set()
        self._seq = 0
        self._jpeg: bytes | None = None
        self._frames = 0
        self._viewer_drops = 0
        self._recent: collections.deque[tuple[float, float | None]] = collections.deque()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"streamcolor-live-{self.id}")

    # -- lifetime ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Ask the session to end: its source stops at the next frame (or reconnection
        wait), the pipeline drains, a recording is finalized. Returns at once."""
        with self._lock:
            self._stopping = True
            source = self._source
        if source is not None:
            source.stop()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread (after :meth:`stop`); whether it has ended."""
        if self._thread.ident is not None:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        source = None
        try:
            runner = _warm_runner(ModelConfig(model=self.model, provider=self.provider,
                                              batch_size=1))
            if self._stopping:
                return
            source = LiveSource(self.spec)
            with self._lock:
                self._source = source
                stopping = self._stopping
            if stopping:
                source.stop()
            sink = self._open_sink(source)
            pipeline = Pipeline(source, runner, sink, batch_size=1, live=LiveConfig(),
                                stabilizer=Stabilizer(TemporalConfig()))
            with self._lock:
                self._pipeline = pipeline
                if not self._stopping:
                    self.state = "running"
            pipeline.run()
        except Exception as error:  # noqa: BLE001 - reported in the session's state
            with self._lock:
                self.state, self.error = "failed", _one_line(error, self.root)
        finally:
            if source is not None:
                source.close()
            with self._lock:
                if self.state != "failed":
                    self.state = "stopped" if self._stopping else "done"
                viewers = list(self._viewers)
            self._finished.set()
            for viewer in viewers:
                viewer.wake()

    def _open_sink(self, source: LiveSource):
        preview_plan = plan_formats(source.info.pix_fmt, None, color_range=source.info.color_range)
        if self.record is None:
            return _JpegSink(preview_plan, self)
        self.record.parent.mkdir(parents=True, exist_ok=True)
        check_output_path(self.record, [self.input_path] if self.input_path else [])
        recording = open_outputs([str(self.record)], source, EncodeConfig(live=True))
        return TeeSink([recording, _JpegSink(recording.plan, self)])

    # -- frames and viewers -----------------------------------------------------------------
    def publish(self, jpeg: bytes, arrival: float | None) -> None:
        """A new colorized frame (from the pipeline's encode stage)."""
        now = time.perf_counter()
        with self._lock:
            self._seq += 1
            self._jpeg = jpeg
            self._frames += 1
            self._recent.append((now, None if arrival is None else now - arrival))
            while self._recent and self._recent[0][0] < now - _FPS_WINDOW:
                self._recent.popleft()
            viewers = list(self._viewers)
        for viewer in viewers:
            viewer.wake()

    def latest(self) -> tuple[int, bytes | None]:
        with self._lock:
            return self._seq, self._jpeg

    def add_viewer(self, viewer: _Viewer) -> None:
        with self._lock:
            self._viewers.add(viewer)

    def remove_viewer(self, viewer: _Viewer) -> None:
        with self._lock:
            self._viewers.discard(viewer)

    def count_viewer_drops(self, skipped: int) -> None:
        with self._lock:
            self._viewer_drops += skipped

    # -- stats ------------------------------------------------------------------------------
    def stats(self) -> dict:
        now = time.perf_counter()
        with self._lock:
            recent = [(t, lat) for t, lat in self._recent if t >= now - _FPS_WINDOW]
            pipeline = self._pipeline
            dropped = pipeline.metrics.dropped if pipeline and pipeline.metrics else 0
            latencies = [lat for _, lat in recent if lat is not None]
            running = self.state == "running"
            return {
                "id": self.id,
                "source": self.source_text,
                "state": self.state,
                "fps": round(len(recent) / _FPS_WINDOW, 2) if running else 0.0,
                "latency_ms": (round(1000 * sum(latencies) / len(latencies), 1)
                               if latencies and running else None),
                "drops": dropped + self._viewer_drops,
                "frames": self._frames,
                "viewers": len(self._viewers),
                "recording": self.record_rel,
                "error": self.error,
                "stream": f"/api/live/{self.id}/mjpeg",
            }


# -- requests -------------------------------------------------------------------------------
def _resolve(settings, rel: str) -> pathlib.Path:
    """``rel`` under the served root (:func:`.safety.resolve`); 403 for anything leading
    out of it."""
    try:
        path = resolve(settings, rel)
    except WebError as error:
        raise _Refused(error.status, str(error)) from None
    if not path.is_relative_to(pathlib.Path(settings.root).resolve()):
        raise _Refused(403, f"{rel!r} leads out of the served folder")
    return path


def _check_graph(graph: str) -> None:
    if not graph or any(c in graph for c in ";[]\\'\"\n\r"):
        raise _Refused(400, "a lavfi source is one chain of filters, without labels, "
                            "quotes or escapes")
    for part in graph.split(","):
        name = part.split("=", 1)[0].strip()
        if name not in _LAVFI_FILTERS:
            raise _Refused(400, f"lavfi filter {name!r} is not offered here; use one of "
                                f"{', '.join(sorted(_LAVFI_FILTERS))}")


def _source_spec(settings, text: str) -> tuple[SourceSpec, pathlib.Path | None]:
    """The spec of a source the page asked for, and the file if it is one under the root."""
    spec = parse_source(text)
    if spec.kind == "network":
        return spec, None
    if spec.kind == "lavfi":
        _check_graph(spec.url)
        return spec, None
    if spec.kind == "device":
        if spec.format not in _CAMERA_FORMATS:
            raise _Refused(400, f"{spec.format} sources are not offered here; give a camera "
                                "(/dev/video0, avfoundation:0, dshow:video=NAME), a stream "
                                "URL, a lavfi: test source or a file under the root")
        if spec.format == "v4l2" and not _V4L2_DEVICE.match(spec.url):
            raise _Refused(400, f"{spec.url!r} is not a camera device (/dev/videoN)")
        return spec, None
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text):
        scheme = urlsplit(text).scheme
        raise _Refused(400, f"{scheme}:// sources are not supported; use rtsp, rtmp, srt, "
                            "udp, tcp, rtp or http(s)")
    path = _resolve(settings, text)
    if not path.is_file():
        raise _Refused(404, f"no such file under the root: {text}")
    return SourceSpec(url=str(path), kind="file"), path


def _model(settings, name: object) -> str | None:
    """The model a session runs (None: the bundled one): the server's default or a model
    it offers (as for photos: a request never names a file to load)."""
    from .photos import DEFAULT_NAME, Models

    if name is not None and not isinstance(name, str):
        raise _Refused(400, "model must be a name or null")
    default = settings.model or DEFAULT_NAME
    name = name or default
    if name != default:
        offered = Models(settings).names()
        if name not in offered:
            raise _Refused(400, f"unknown model {name!r}: choose one of {', '.join(offered)}")
    return None if name == DEFAULT_NAME else name


def _record_path(settings, rel: object) -> tuple[pathlib.Path | None, str | None]:
    if rel is None or rel == "":
        return None, None
    if not isinstance(rel, str):
        raise _Refused(400, "record must be a path relative to the root, or null")
    path = _resolve(settings, rel)
    if path.suffix.lower() not in (".mkv", ".mp4", ".mov", ".ts", ".m3u8"):
        raise _Refused(400, f"record {rel!r}: name a .mkv, .mp4, .mov or .ts file")
    if path.is_dir():
        raise _Refused(400, f"record {rel!r} is a folder")
    return path, rel


def _register(session: LiveSession) -> None:
    with _registry_lock:
        running = [s for s in _sessions.values() if not s.finished]
        if len(running) >= MAX_RUNNING:
            raise _Refused(429, f"{MAX_RUNNING} live sessions are running already; stop one "
                                "first (DELETE /api/live/ID)")
        if session.record is not None and any(
                s.record == session.record for s in running):
            raise _Refused(409, f"another live session is recording to {session.record_rel}")
        finished = [s for s in _sessions.values() if s.finished]
        for old in sorted(finished, key=lambda s: s.created)[:max(0, len(finished)
                                                                   - _KEEP_FINISHED + 1)]:
            del _sessions[old.id]
        _sessions[session.id] = session
        session.start()


def _get(session_id: str) -> LiveSession:
    with _registry_lock:
        session = _sessions.get(session_id)
    if session is None:
        raise _Refused(404, f"no live session {session_id!r}")
    return session


def _error(refused: _Refused) -> JSONResponse:
    return JSONResponse({"error": str(refused)}, status_code=refused.status)


async def _mjpeg_parts(session: LiveSession):
    """The latest frame whenever there is a new one, until the session ends (or the
    client goes: Starlette then cancels this generator at its ``await``)."""
    viewer = _Viewer(asyncio.get_running_loop())
    session.add_viewer(viewer)
    try:
        while True:
            seq, jpeg = session.latest()
            if jpeg is not None and seq > viewer.seq:
                if viewer.seq:
                    session.count_viewer_drops(seq - viewer.seq - 1)
                viewer.seq = seq
                yield (f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                       f"Content-Length: {len(jpeg)}\r\n\r\n").encode() + jpeg + b"\r\n"
                continue
            if session.finished:
                return
            viewer.event.clear()
            if session.latest()[0] > viewer.seq or session.finished:
                continue
            try:
                await asyncio.wait_for(viewer.event.wait(), 1.0)
            except TimeoutError:
                pass
    finally:
        session.remove_viewer(viewer)


def live_routes(settings, *, provider: str = "auto") -> list[Route]:
    """The live routes for a server of ``settings`` (its ``root`` and default ``model``);
    ``provider`` is the onnxruntime provider the sessions' models run on."""

    async def start(request: Request) -> JSONResponse:
        try:
            try:
                body = await request.json()
            except ValueError:  # not JSON, or not UTF-8
                raise _Refused(400, "the body must be JSON: {\"source\": ..., \"model\": ..., "
                                    "\"record\": ...}") from None
            if not isinstance(body, dict):
                raise _Refused(400, "the body must be a JSON object")
            text = body.get("source")
            if not isinstance(text, str) or not text.strip() or len(text) > 4096:
                raise _Refused(400, "source is required: a stream URL, a camera, "
                                    "lavfi:GRAPH or a file under the root")
            text = text.strip()
            model = _model(settings, body.get("model"))
            spec, input_path = _source_spec(settings, text)
            record, record_rel = _record_path(settings, body.get("record"))
            session = LiveSession(spec=spec, source_text=text, model=model, provider=provider,
                                  root=settings.root, record=record, record_rel=record_rel,
                                  input_path=input_path)
            _register(session)
        except _Refused as refused:
            return _error(refused)
        return JSONResponse(session.stats(), status_code=201)

    async def stats(request: Request) -> JSONResponse:
        try:
            return JSONResponse(_get(request.path_params["id"]).stats())
        except _Refused as refused:
            return _error(refused)

    async def mjpeg(request: Request):
        try:
            session = _get(request.path_params["id"])
        except _Refused as refused:
            return _error(refused)
        return StreamingResponse(
            _mjpeg_parts(session), media_type=f"multipart/x-mixed-replace; boundary={_BOUNDARY}",
            headers={"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache",
                     "X-Accel-Buffering": "no"})

    async def stop(request: Request) -> JSONResponse:
        try:
            session = _get(request.path_params["id"])
        except _Refused as refused:
            return _error(refused)
        session.stop()
        deadline = time.monotonic() + _STOP_WAIT
        while session.alive and time.monotonic() < deadline:
            await asyncio.sleep(0.02)  # never block the server while the source drains
        return JSONResponse(session.stats())

    return [
        Route("/api/live", start, methods=["POST"]),
        Route("/api/live/{id}", stats, methods=["GET"]),
        Route("/api/live/{id}", stop, methods=["DELETE"]),
        Route("/api/live/{id}/mjpeg", mjpeg, methods=["GET"]),
    ]


def stop_all() -> list[LiveSession]:
    """Ask every live session to stop, without waiting: their MJPEG streams end as they do.
    For a server that is about to shut down: uvicorn waits for open responses (an MJPEG
    stream never ends by itself) before the app's lifespan shutdown calls :func:`close_all`."""
    with _registry_lock:
        sessions = list(_sessions.values())
    for session in sessions:
        session.stop()
    return sessions


def close_all(timeout: float = _STOP_WAIT) -> None:
    """Stop every live session and wait for their threads (sources closed, recordings
    finalized); called by the app on shutdown."""
    sessions = stop_all()
    deadline = time.monotonic() + timeout
    for session in sessions:
        session.join(max(0.0, deadline - time.monotonic()))
