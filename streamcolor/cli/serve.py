"""``streamcolor serve``: the web app on this machine (or, with a token, on the network).

Part of the command line (it prints). Binds 127.0.0.1 by default; any other host needs a
token, generated if not given. Ctrl-C stops the server: running film jobs are stopped and
resume when started again (see :mod:`streamcolor.web.jobs`).
"""

from __future__ import annotations

import argparse
import pathlib
import secrets
import signal
import sys

from .args import positive

__all__ = ["add_serve_parser", "run_serve"]


def _size(text: str) -> int:
    from ..web.settings import parse_size

    try:
        return parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_serve_parser(commands) -> None:
    """Add ``serve`` with its options."""
    serve = commands.add_parser("serve", help="a web page to colorize photos and videos, "
                                "run film jobs and preview live sources",
                                description="Serve the web app for the files under --root. "
                                "Needs `pip install 'streamcolor[web]'`.")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: 127.0.0.1, this machine only; "
                       "any other needs a token, generated if --token is not given)")
    serve.add_argument("--port", type=int, default=8765, help="port (default: 8765)")
    serve.add_argument("--root", default=".", metavar="DIR",
                       help="the folder the page may read and write (default: the current one)")
    serve.add_argument("--token", help="every request must carry this token "
                       "(?token=T or Authorization: Bearer T)")
    serve.add_argument("--max-upload", type=_size, default="200M", metavar="SIZE",
                       help="largest upload, e.g. 200M, 2G or bytes (default: 200M)")
    serve.add_argument("--jobs", type=positive, default=1, metavar="N",
                       help="film jobs run at once (default: 1)")
    serve.add_argument("--model", metavar="NAME_OR_PATH",
                       help="the default model (default: the bundled one)")
    serve.add_argument("-q", "--quiet", action="store_true", help="print only the URL")


def run_serve(args) -> int:
    """Run the server until Ctrl-C or SIGTERM; 0 when it stopped cleanly."""
    try:
        import uvicorn

        from ..web import create_app
        from ..web.settings import LOOPBACK, ServeSettings
    except ImportError as error:
        print(f"streamcolor: error: serve needs the web extra ({error.name} is missing): "
              "pip install 'streamcolor[web]'", file=sys.stderr)
        return 1
    token = args.token
    if token is None and args.host not in LOOPBACK:
        token = secrets.token_urlsafe(24)
    try:
        settings = ServeSettings(root=pathlib.Path(args.root).resolve(), token=token,
                                 host=args.host, port=args.port, max_upload=args.max_upload,
                                 jobs=args.jobs, model=args.model)
    except ValueError as error:
        args.usage_error(str(error))
    app = create_app(settings)
    print(f"streamcolor serve: {settings.root} at {settings.url()}", flush=True)
    config = uvicorn.Config(app, host=args.host, port=args.port, lifespan="on",
                            log_level="warning" if args.quiet else "info")
    server = _stopping_live(uvicorn.Server)(config)
    quiet = {number: signal.signal(number, _ignore) for number in _STOPS}
    try:  # uvicorn stops on them, then raises them again: to a handler that ignores them
        server.run()
    finally:
        for number, handler in quiet.items():
            signal.signal(number, handler)
    return 0 if server.started else 1


_STOPS = (signal.SIGINT, signal.SIGTERM)


def _stopping_live(server_class):
    """uvicorn's Server that, on Ctrl-C, first ends the live previews: uvicorn waits for open
    responses before the app's shutdown, and an MJPEG stream never ends by itself."""
    from ..web.live import stop_all

    class Server(server_class):
        def handle_exit(self, sig, frame) -> None:
            stop_all()
            super().handle_exit(sig, frame)

    return Server


def _ignore(signum, frame) -> None:
    """A stop signal uvicorn has already acted on (it stopped the server cleanly)."""
