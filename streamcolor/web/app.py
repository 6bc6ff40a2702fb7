"""The Starlette app of ``streamcolor serve``: the page, the photo and file API, film jobs,
and the live routes of :mod:`.live`.

Every path a request names is relative to the served folder and checked by
:func:`.safety.resolve`; every error is one line of JSON (:func:`.safety.error_handlers`).
Model work blocks, so it runs in worker threads; film jobs run in child processes
(:mod:`.jobs`).
"""

from __future__ import annotations

import contextlib
import pathlib
import shutil

import cv2
import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import __version__
from ..errors import InputError
from ..images import IMAGE_SUFFIXES
from . import live
from .jobs import CONTAINERS, JobQueue
from .photos import Models, colorize_photo, estimate, frame_png, photo_suffix, scratch
from .safety import BodyLimit, NotFound, TokenGate, error_handlers, relative, resolve
from .settings import ServeSettings

__all__ = ["create_app"]

STATIC = pathlib.Path(__file__).parent / "static"
VIDEO_SUFFIXES = {".mkv", ".mp4", ".mov", ".m4v", ".avi", ".webm", ".ts", ".mts", ".m2ts",
                  ".mpg", ".mpeg", ".wmv", ".flv", ".ogv", ".mxf", ".vob", ".3gp"}
CHUNK = 1 << 20

def _settings(request: Request) -> ServeSettings:
    return request.app.state.settings

def _kind(path: pathlib.Path) -> str:
    if path.is_dir():
        return "dir"
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return "image" if suffix in (*IMAGE_SUFFIXES, ".gif") else "other"

async def _form(request: Request):
    return await request.form(max_files=4, max_fields=16)

def _upload(form, name: str, required: bool = True):
    item = form.get(name)
    if item is None or isinstance(item, str):
        if required:
            raise InputError(f"the form needs a file field {name!r}")
        return None
    return item

def _save(upload, target: pathlib.Path) -> None:
    upload.file.seek(0)
    with open(target, "xb") as out:
        shutil.copyfileobj(upload.file, out, CHUNK)

async def index(request: Request) -> Response:
    page = STATIC / "index.html"
    if not page.is_file():
        return Response("<!doctype html><title>streamcolor</title><p>the page is missing",
                        media_type="text/html")
    return FileResponse(page, headers={"Cache-Control": "no-cache"})

async def info(request: Request) -> JSONResponse:
    settings, models = _settings(request), request.app.state.models
    return JSONResponse({"version": __version__, "models": await run_in_threadpool(models.names),
                         "default_model": models.default, "containers": list(CONTAINERS),
                         "root": str(settings.root), "max_upload": settings.max_upload})

async def colorize(request: Request) -> Response:
    form = await _form(request)
    image, hints = _upload(form, "image"), _upload(form, "hints", required=False)
    suffix = photo_suffix(image.filename)
    model = form.get("model") if isinstance(form.get("model"), str) else None
    with scratch() as folder:
        folder = pathlib.Path(folder)
        request.state.hide = [folder]
        photo = folder / ("photo" + suffix)
        await run_in_threadpool(_save, image, photo)
        hints_path = None
        if hints is not None:
            hint_suffix = pathlib.PurePosixPath(hints.filename or "").suffix.lower()
            hints_path = folder / ("hints" + (hint_suffix if hint_suffix in IMAGE_SUFFIXES
                                              else ".png"))
            await run_in_threadpool(_save, hints, hints_path)
        data, media_type = await run_in_threadpool(colorize_photo, request.app.state.models,
                                                   photo, hints_path, model)
    return Response(data, media_type=media_type)

async def files(request: Request) -> JSONResponse:
    settings = _settings(request)
    rel = request.query_params.get("dir", "")
    folder = resolve(settings, rel)
    if not folder.is_dir():
        raise NotFound(f"{rel!r} is not a folder under the root")
    root = settings.root.resolve()
    base = "" if folder == root else relative(settings, folder)
    entries = []
    for path in sorted(folder.iterdir(), key=lambda p: (not p.is_dir(), p.name.lower())):
        if path.name.startswith(".") or not path.resolve().is_relative_to(root):
            continue  # hidden (job folders, the server's state) or a link out of the root
        with contextlib.suppress(OSError):
            entries.append({"name": path.name, "path": f"{base}/{path.name}".lstrip("/"),
                            "kind": _kind(path),
                            "size": 0 if path.is_dir() else path.stat().st_size})
    return JSONResponse({"dir": base, "entries": entries})


def _free_name(folder: pathlib.Path, name: str) -> pathlib.Path:
    target, stem, suffix, number = folder / name, pathlib.Path(name).stem, \
        pathlib.Path(name).suffix, 2
    while target.exists():
        target, number = folder / f"{stem}-{number}{suffix}", number + 1
    return target

async def upload(request: Request) -> JSONResponse:
    settings = _settings(request)
    form = await _form(request)
    item = _upload(form, "file")
    name = pathlib.PurePosixPath((item.filename or "").replace("\\", "/")).name
    if not name or name.startswith(".") or "\0" in name:
        raise InputError("the uploaded file needs a name (not starting with '.')")
    rel = form.get("dir") if isinstance(form.get("dir"), str) and form.get("dir") else "uploads"
    folder = resolve(settings, rel)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{rel!r} is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    target = _free_name(folder, name)
    await run_in_threadpool(_save, item, target)
    return JSONResponse({"path": relative(settings, target)}, status_code=201)

def _video(request: Request) -> pathlib.Path:
    rel = request.query_params.get("path")
    if not rel:
        raise InputError("give ?path=REL, a video under the root")
    path = resolve(_settings(request), rel)
    if not path.is_file():
        raise NotFound(f"{rel!r} is not a file under the root")
    return path

def _index(text: str | None) -> int:
    if text is None or not text.strip().isdigit():
        raise InputError("index must be a frame number (0-based)")
    return int(text)

async def frame(request: Request) -> Response:
    path, query = _video(request), request.query_params
    coloured = query.get("colorize", "0") in ("1", "true", "yes")
    data = await run_in_threadpool(frame_png, request.app.state.models, path,
                                   _index(query.get("index", "0")), coloured, query.get("model"))
    return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})

async def estimate_route(request: Request) -> JSONResponse:
    path = _video(request)
    return JSONResponse(await run_in_threadpool(estimate, request.app.state.models, path,
                                                request.query_params.get("model")))

async def references(request: Request) -> JSONResponse:
    settings = _settings(request)
    form = await _form(request)
    image = _upload(form, "image")
    rel = form.get("path")
    if not isinstance(rel, str) or not rel:
        raise InputError("the form needs 'path', the video the reference is a frame of")
    video = resolve(settings, rel)
    if not video.is_file():
        raise NotFound(f"{rel!r} is not a file under the root")
    index = _index(form.get("index") if isinstance(form.get("index"), str) else None)
    data = await image.read()
    picture = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if picture is None:
        raise InputError(f"{image.filename or 'the reference'} is not a picture OpenCV can read")
    folder = settings.state_dir / "refs" / video.stem
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{index:06d}.png"
    if not cv2.imwrite(str(target), picture):
        raise InputError(f"cannot write {target.name}")
    return JSONResponse({"path": relative(settings, target)}, status_code=201)

def _check_model(request: Request, name) -> None:
    if name is not None and name not in request.app.state.models.names():
        raise InputError(f"unknown model {name!r}: choose one of "
                         f"{', '.join(request.app.state.models.names())}")

async def jobs_list(request: Request) -> JSONResponse:
    return JSONResponse({"jobs": request.app.state.jobs.list()})

async def jobs_create(request: Request) -> JSONResponse:
    try:
        body = await request.json()
    except ValueError:
        raise InputError("the body must be a JSON object") from None
    if isinstance(body, dict) and body.get("model"):
        await run_in_threadpool(_check_model, request, body["model"])
    job = await run_in_threadpool(request.app.state.jobs.submit, body)
    return JSONResponse(job, status_code=201)

async def job_get(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.jobs.get(request.path_params["id"]))

async def job_cancel(request: Request) -> JSONResponse:
    return JSONResponse(await run_in_threadpool(request.app.state.jobs.cancel,
                                                request.path_params["id"]))

async def job_start(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.jobs.start(request.path_params["id"]))

def _routes(settings: ServeSettings) -> list:
    return [
        Route("/", index),
        Mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static"),
        Route("/api/info", info),
        Route("/api/colorize", colorize, methods=["POST"]),
        Route("/api/files", files),
        Route("/api/upload", upload, methods=["POST"]),
        Route("/api/frame", frame),
        Route("/api/estimate", estimate_route),
        Route("/api/references", references, methods=["POST"]),
        Route("/api/jobs", jobs_list, methods=["GET"]),
        Route("/api/jobs", jobs_create, methods=["POST"]),
        Route("/api/jobs/{id}", job_get, methods=["GET"]),
        Route("/api/jobs/{id}", job_cancel, methods=["DELETE"]),
        Route("/api/jobs/{id}/start", job_start, methods=["POST"]),
        *live.live_routes(settings),
    ]

def create_app(settings: ServeSettings) -> Starlette:
    """The app serving ``settings.root``: film jobs start with it (lifespan) and are
    stopped, with every live session, when it stops."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        app.state.jobs = await run_in_threadpool(JobQueue, settings, settings.model)
        try:
            yield
        finally:
            await run_in_threadpool(app.state.jobs.close)
            await run_in_threadpool(live.close_all)

    app = Starlette(routes=_routes(settings), lifespan=lifespan,
                    exception_handlers=error_handlers(),
                    middleware=[Middleware(TokenGate, token=settings.token),
                                Middleware(BodyLimit, limit=settings.max_upload)])
    app.state.settings = settings
    app.state.models = Models(settings)
    return app
