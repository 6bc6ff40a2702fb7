"""Secrets out of messages: camera and server URLs carry passwords.

    rtsp://admin:secret@cam/stream           -> rtsp://admin:***@cam/stream
    rtmp://host/live?user=a&password=secret  -> rtmp://host/live?user=a&password=***
    srt://host:9000?passphrase=secret        -> srt://host:9000?passphrase=***

:func:`redact` is applied to every message, progress line, log line and metrics record that
can hold a URL; the user name stays (it says which account), the password goes.
"""

from __future__ import annotations

import logging
import re

__all__ = ["redact", "RedactingFilter"]

# scheme://user:password@  (the password may hold anything but '@', '/' and whitespace);
# also scheme:/user:password@, the way pathlib.Path prints a URL
_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*:/{1,2}[^\s:/@]*):(?P<secret>[^\s@/]+)@")
# ?password=... or &token=... in a query string
_QUERY = re.compile(r"(?P<head>[?&](?:pass(?:word|wd|phrase)?|pwd|token|key|secret|auth"
                    r"|sig(?:nature)?)=)(?P<secret>[^&\s'\"]+)", re.IGNORECASE)


def redact(text: object) -> str:
    """``text`` (anything, turned into a string) with URL passwords replaced by ``***``."""
    text = str(text)
    text = _USERINFO.sub(lambda m: f"{m['head']}:***@", text)
    return _QUERY.sub(lambda m: f"{m['head']}***", text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's message (for FFmpeg's log under --debug)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True
