"""JSON-lines logging to stderr: one object per line, {"level", "msg", "ts", ...extra}, read by the
gateway (sidecar-supervisor.ts relayLogs); python-json-logger writes them.

Callers pass structured fields with `extra={...}`; never put document text or file contents in a log.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as LibraryJsonFormatter

_LEVEL_NAMES = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "error",
}


class JsonFormatter(LibraryJsonFormatter):
    """One JSON object per record: level, msg, ts (UTC, milliseconds), service, logger, then the
    record's `extra=` fields; a traceback goes in an "exc" field, still on one line."""

    def __init__(self, service: str) -> None:
        super().__init__(
            "%(levelname)s %(message)s %(asctime)s %(name)s",
            rename_fields={
                "levelname": "level",
                "message": "msg",
                "asctime": "ts",
                "name": "logger",
                "exc_info": "exc",
            },
            static_fields={"service": service},
            # uvicorn adds color_message to its records: the same text, with terminal colours.
            reserved_attrs=[*RESERVED_ATTRS, "color_message", "taskName"],
            json_ensure_ascii=False,
            json_serializer=functools.partial(json.dumps, separators=(",", ":")),
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # UTC with milliseconds, as the gateway's own lines.
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        # The gateway's level words (sidecar-supervisor.ts maps them onto winston's).
        log_data["level"] = _LEVEL_NAMES.get(record.levelno, "info")


def configure_logging(service: str, level: str) -> None:
    """Route every logger (ours, uvicorn's) to one JSON handler on stderr at `level`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn's own handlers are disabled (log_config=None); its access log would duplicate our
    # per-request outcome line, so it is only visible at debug.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = True
    access.setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
    # Libraries' chunk-by-chunk decoder chatter drowns our own debug lines; their warnings still show.
    for name in ("PIL", "asyncio", "pypdfium2", "urllib3", "httpx", "httpcore", "filelock"):
        logging.getLogger(name).setLevel(logging.INFO)


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
