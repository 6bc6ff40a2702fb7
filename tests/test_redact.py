"""Passwords in URLs are redacted wherever streamcolor writes a URL."""

from __future__ import annotations

import logging

import pytest

from streamcolor.redact import RedactingFilter, redact


@pytest.mark.parametrize("text, expected", [
    ("rtsp://admin:secret@cam/stream", "rtsp://admin:***@cam/stream"),
    ("cannot open rtsp://admin:p%40ss@10.0.0.1:554/a?x=1: refused",
     "cannot open rtsp://admin:***@10.0.0.1:554/a?x=1: refused"),
    ("rtmp:/bob:hunter2@host/live/key", "rtmp:/bob:***@host/live/key"),  # as pathlib prints it
    ("rtmp://host/live?user=a&password=s3&x=1", "rtmp://host/live?user=a&password=***&x=1"),
    ("srt://host:9000?passphrase=longsecret", "srt://host:9000?passphrase=***"),
    ("rtsp://cam/stream", "rtsp://cam/stream"),
    ("rtsp://admin@cam/stream", "rtsp://admin@cam/stream"),
    ("at 12:30:11 x@y", "at 12:30:11 x@y"),
])
def test_redact(text, expected):
    assert redact(text) == expected


def test_logging_filter_redacts_formatted_messages():
    record = logging.LogRecord("libav.rtsp", logging.INFO, __file__, 1,
                               "opening %s", ("rtsp://u:pw@cam/x",), None)
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "opening rtsp://u:***@cam/x"
