"""``streamcolor serve``: a small web app over the same Python API as the command line.

    settings.py  what the server was started with (root, token, limits, model)
    safety.py    the token, paths kept under the root, upload limits, JSON errors
    photos.py    photos colorized in memory, one loaded model per name; one video frame
    jobs.py      film jobs, queued and run one at a time in child processes, persisted
    app.py       the Starlette app: routes, lifespan, error handlers
    live.py      live sources previewed as MJPEG
    static/      the page (plain HTML, CSS and JavaScript)

Needs the ``web`` extra (``pip install 'streamcolor[web]'``).
"""

from .settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]


def create_app(settings: ServeSettings):
    """The Starlette app of ``settings`` (see :mod:`.app`)."""
    from .app import create_app as create

    return create(settings)
