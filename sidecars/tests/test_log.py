"""The sidecar's JSON log lines: the fields the gateway's relay (sidecar-supervisor.ts relayLogs) reads."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from mdso_sidecar.log import JsonFormatter, configure_logging, get_logger


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """Formats every record of the `mdso.test` logger into a buffer, one line each."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter("hybrid"))
    logger = get_logger("mdso.test")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield buffer
    logger.removeHandler(handler)
    logger.propagate = True


def records(buffer: io.StringIO) -> list[dict[str, Any]]:
    text = buffer.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_fields_the_gateway_reads(lines: io.StringIO) -> None:
    get_logger("mdso.test").info("page %d read", 3, extra={"request_id": "r-1", "pages": 2, "ratio": 0.5})
    (entry,) = records(lines)
    assert entry == {
        "level": "info",
        "msg": "page 3 read",
        "ts": entry["ts"],
        "service": "hybrid",
        "logger": "mdso.test",
        "request_id": "r-1",
        "pages": 2,
        "ratio": 0.5,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["ts"])


def test_levels_are_the_gateways_words(lines: io.StringIO) -> None:
    log = get_logger("mdso.test")
    log.debug("a")
    log.warning("b")
    log.error("c")
    log.critical("d")
    assert [e["level"] for e in records(lines)] == ["debug", "warning", "error", "error"]


def test_traceback_and_odd_values_stay_on_one_line(lines: io.StringIO) -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque"

    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        get_logger("mdso.test").exception("failed: Pompe à chaleur", extra={"thing": Opaque()})
    raw = lines.getvalue()
    assert raw.count("\n") == 1 and "Pompe à chaleur" in raw  # not \u-escaped
    (entry,) = records(lines)
    assert entry["level"] == "error"
    assert entry["exc"].startswith("Traceback") and "ValueError: bad\nvalue" in entry["exc"]
    assert entry["thing"] == "opaque"
    assert "exc_info" not in entry and "color_message" not in entry


def test_configure_logging_routes_everything_through_one_json_handler() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging("tesseract", "warning")
        (handler,) = root.handlers
        assert isinstance(handler.formatter, JsonFormatter)
        assert root.level == logging.WARNING
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
