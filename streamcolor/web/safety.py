"""What keeps the server safe to leave running: the token, paths kept under the root, the
upload limit, and errors answered as one line of JSON.

- :class:`TokenGate`: with a token, every request carries ``Authorization: Bearer T``,
  ``?token=T`` or the cookie a ``?token=T`` request set, else 401 (constant-time compare).
- :class:`BodyLimit`: a request body over ``max_upload`` bytes is 413: by its
  ``Content-Length`` before it is read, and by counting bytes as it arrives.
- :func:`resolve`: a path from a request, relative to the root, as a real path under it;
  ``..`` (also percent-encoded), absolute paths, NUL and symlinks that lead out -> 403.
- :func:`error_handlers`: :class:`WebError` with its status; ``StreamcolorError`` and
  ``ValueError`` 400 (not found 404); anything else 500. The server keeps serving.
"""

from __future__ import annotations

import contextlib
import http.cookies
import json
import logging
import pathlib
import secrets
import urllib.parse

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from ..errors import InputNotFoundError, StreamcolorError, describe
from ..redact import redact
from .settings import ServeSettings

__all__ = ["BodyLimit", "Conflict", "Forbidden", "NotFound", "TokenGate", "TooLarge",
           "Unauthorized", "Unsupported", "WebError", "error_handlers", "relative", "resolve"]

_log = logging.getLogger("streamcolor")
COOKIE = "streamcolor_token"


class WebError(Exception):
    """An error answered with its ``status`` and its one-line message."""

    status = 400


class Unauthorized(WebError):
    """No token, or the wrong one."""

    status = 401


class Forbidden(WebError):
    """A path that leads out of the root."""

    status = 403


class NotFound(WebError):
    """A path, job or session that does not exist."""

    status = 404


class Conflict(WebError):
    """A request the thing it names cannot take in its present state."""

    status = 409


class TooLarge(WebError):
    """A request body over the upload limit."""

    status = 413


class Unsupported(WebError):
    """A file of a kind the endpoint does not take."""

    status = 415


def resolve(settings: ServeSettings, rel: str) -> pathlib.Path:
    """The real path of ``rel`` (relative to the root, ``/``-separated; empty: the root), or
    :class:`Forbidden`. The path need not exist; its existing part must stay under the root
    once symlinks are followed."""
    if not isinstance(rel, str):
        raise Forbidden("a path must be a string relative to the served folder")
    decoded = rel
    for _ in range(3):  # %252e%252e is .. decoded twice
        decoded = urllib.parse.unquote(decoded)
    for text in (rel, decoded):
        if "\0" in text:
            raise Forbidden("a path must not contain NUL")
        parts = text.replace("\\", "/").split("/")
        if ".." in parts:
            raise Forbidden(f"{rel!r} leads out of the served folder ('..')")
        if text.startswith(("/", "\\")) or pathlib.PureWindowsPath(text).drive:
            raise Forbidden(f"{rel!r} is absolute: give a path relative to the served folder")
    root = settings.root.resolve()
    path = (root / rel).resolve()
    if not path.is_relative_to(root):
        raise Forbidden(f"{rel!r} leads out of the served folder (a symlink)")
    return path


def relative(settings: ServeSettings, path: pathlib.Path) -> str:
    """``path`` (under the root) as the app names it: relative, ``/``-separated."""
    return path.resolve().relative_to(settings.root.resolve()).as_posix()


def _json(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": redact(message)}, status_code=status)


async def _send_json(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class TokenGate:
    """ASGI middleware: with a token, refuse requests that do not carry it (401 JSON; a
    WebSocket is closed with 1008). A request that carries it in its query gets it back as an
    HttpOnly, SameSite=Strict cookie, which is then accepted too: the page's own style sheet,
    script and pictures load without the token in their URLs."""

    def __init__(self, app, token: str | None) -> None:
        self.app, self.token = app, token

    def _given(self, scope) -> tuple[str, bool]:
        """The token the request carries, and whether it came in the query."""
        headers = {}
        for key, value in scope.get("headers") or []:
            headers.setdefault(key, value.decode("latin-1"))
        auth = headers.get(b"authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip(), False
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if query.get("token"):
            return query["token"][0], True
        cookies = http.cookies.SimpleCookie()
        with contextlib.suppress(http.cookies.CookieError):
            cookies.load(headers.get(b"cookie", ""))
        return (cookies[COOKIE].value if COOKIE in cookies else ""), False

    async def __call__(self, scope, receive, send) -> None:
        if self.token is None or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given, in_query = self._given(scope)
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            else:
                await _send_json(send, 401, "this server needs its token: open the URL it "
                                 "printed (?token=...) or send Authorization: Bearer TOKEN")
            return
        if not in_query or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookie = (f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict").encode()

        async def with_cookie(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"set-cookie", cookie)]}
            await send(message)

        await self.app(scope, receive, with_cookie)


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is 413, by its Content-Length
    before anything is read, else by counting (the endpoint then raises :class:`TooLarge`)."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _send_json(send, 413, self.message())
            return
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise TooLarge(self.message())
            return message

        await self.app(scope, counted, send)

    def message(self) -> str:
        return f"the upload is larger than this server's limit of {self.limit} bytes " \
               "(--max-upload)"


async def _web_error(request: Request, error: WebError) -> JSONResponse:
    return _json(error.status, str(error))


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    return _json(error.status_code, str(error.detail))


async def _bad_request(request: Request, error: Exception) -> JSONResponse:
    status = 404 if isinstance(error, InputNotFoundError | FileNotFoundError) else 400
    return _json(status, _clean(request, describe(error)))


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    _log.error("%s %s failed: %r", request.method, request.url.path, error, exc_info=error)
    return _json(500, f"internal error: {type(error).__name__}: {describe(error)}")


def _clean(request: Request, message: str) -> str:
    """``message`` without the server's own folders: the root and upload scratch space."""
    folders = list(getattr(request.state, "hide", ()))
    settings = getattr(request.app.state, "settings", None)
    if settings is not None:
        folders += [settings.root.resolve(), settings.root.absolute()]
    for folder in folders:
        message = message.replace(str(folder) + "/", "").replace(str(folder), ".")
    return message


def error_handlers() -> dict:
    """The app's exception handlers (most specific first)."""
    return {WebError: _web_error, HTTPException: _http_error,
            StreamcolorError: _bad_request, ValueError: _bad_request,
            FileNotFoundError: _bad_request, Exception: _unexpected}
