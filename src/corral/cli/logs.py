"""Logging set-up: text for people, JSON lines for machines. Only the CLI configures logging.

Every line carries the context bound where it was logged (``corral.observability.logcontext``):
as keys of the JSON object, or as ``key=value`` after the text line's message.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from corral.observability.logcontext import ContextFilter, fields_of
from corral.secrets.redact import RedactFilter

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **fields_of(record),
        }
        if record.exc_info:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry)


class TextFormatter(logging.Formatter):
    """The line, then its context fields as ``key=value`` (before a traceback, which has lines of its own)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT, "%H:%M:%S")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        context = " ".join(f"{key}={_quoted(value)}" for key, value in fields_of(record).items())
        return f"{line} {context}" if context else line


def _quoted(value: str) -> str:
    plain = value and not any(char.isspace() or char in '"=' for char in value)
    return value if plain else json.dumps(value)


def configure_logging(fmt: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactFilter())  # secrets never reach the log, whichever logger wrote them
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpx2", "mcp", "uvicorn.error", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
