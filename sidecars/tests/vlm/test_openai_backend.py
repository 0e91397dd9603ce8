"""The openai backend against a small OpenAI-compatible server run by the test on 127.0.0.1."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from PIL import Image

from mdso_sidecar.engines.nanonets import PROMPT, SYSTEM, NanonetsEngine
from mdso_sidecar.engines.vlm.backend import ChatRequest
from mdso_sidecar.engines.vlm.openai_backend import OpenAIBackend
from mdso_sidecar.errors import EngineUnavailable, ModelAnswerInvalid, ModelEndpointUnavailable
from mdso_sidecar.settings import load_settings

SERVED = "nanonets/Nanonets-OCR-s"


class FakeOpenAI(BaseHTTPRequestHandler):
    """Plays the answers queued in `script` (status, body, delay); records the request bodies."""

    script: ClassVar[list[tuple[int, str, float]]] = []
    bodies: ClassVar[list[dict[str, Any]]] = []
    headers_seen: ClassVar[list[str]] = []
    arrivals: ClassVar[list[float]] = []

    def log_message(self, *_args: Any) -> None:
        pass

    def _send(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send(200, json.dumps({"object": "list", "data": [{"id": SERVED, "object": "model"}]}))

    def do_POST(self) -> None:
        FakeOpenAI.arrivals.append(time.monotonic())
        length = int(self.headers["Content-Length"])
        FakeOpenAI.bodies.append(json.loads(self.rfile.read(length)))
        FakeOpenAI.headers_seen.append(self.headers.get("Authorization", ""))
        status, body, delay = FakeOpenAI.script.pop(0) if FakeOpenAI.script else (200, completion("ok"), 0)
        time.sleep(delay)
        with contextlib.suppress(OSError):  # the client gave up (timeout)
            self._send(status, body)


def completion(text: str, finish: str = "stop") -> str:
    message = {"role": "assistant", "content": text}
    return json.dumps({"choices": [{"index": 0, "message": message, "finish_reason": finish}]})


def serve_fake(handler: type[FakeOpenAI]) -> Iterator[str]:
    """A fake OpenAI-compatible server answering with `handler` (FakeOpenAI or a subclass), its
    script and records emptied; yields its base URL, and stops it after the test."""
    FakeOpenAI.script, FakeOpenAI.bodies, FakeOpenAI.headers_seen, FakeOpenAI.arrivals = [], [], [], []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def server() -> Iterator[str]:
    yield from serve_fake(FakeOpenAI)


def nanonets(endpoint: str, **env: str) -> NanonetsEngine:
    settings = load_settings(
        "nanonets",
        {"NANONETS_BACKEND": "openai", "NANONETS_ENDPOINT": endpoint, "NANONETS_REQUEST_TIMEOUT": "1", **env},
    )
    engine = NanonetsEngine(settings)
    engine.load()
    assert isinstance(engine.backend, OpenAIBackend)
    engine.backend.backoff_s = 0.01
    return engine


@pytest.fixture
def page() -> Iterator[Image.Image]:
    image = Image.new("RGB", (300, 400), "white")
    yield image
    image.close()


def test_request_carries_image_prompt_and_limits(server: str, page: Image.Image) -> None:
    engine = nanonets(server, NANONETS_ENDPOINT_API_KEY="k3y", NANONETS_MAX_NEW_TOKENS="1234")
    assert engine.max_parallel_pages() == 8 and engine.device() == "remote"
    FakeOpenAI.script.append((200, completion("# Devis\n<page_number>1</page_number>"), 0))
    read = engine.recognize_page(page, {"format": "text"})
    assert read.text == "Devis\n1"
    (body,) = FakeOpenAI.bodies
    assert body["model"] == SERVED and body["temperature"] == 0.0 and body["max_tokens"] == 1234
    system, user = body["messages"]
    assert system == {"role": "system", "content": SYSTEM}
    image_part, text_part = user["content"]
    assert text_part == {"type": "text", "text": PROMPT}
    url = image_part["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size == (300, 400)
    assert FakeOpenAI.headers_seen == ["Bearer k3y"]


def test_server_error_is_retried(server: str, page: Image.Image) -> None:
    engine = nanonets(server)
    FakeOpenAI.script += [(500, "{}", 0), (503, "{}", 0), (200, completion("fine"), 0)]
    assert engine.recognize_page(page, {}).text == "fine"
    assert len(FakeOpenAI.bodies) == 3


def test_busy_server_is_retried_with_doubling_delays(server: str, page: Image.Image) -> None:
    engine = nanonets(server)
    assert isinstance(engine.backend, OpenAIBackend)
    engine.backend.backoff_s = 0.2
    FakeOpenAI.script += [(429, "{}", 0), (503, "{}", 0), (200, completion("fine"), 0)]
    assert engine.recognize_page(page, {}).text == "fine"
    first, second, third = FakeOpenAI.arrivals
    assert second - first >= 0.2 and third - second >= 0.4


def test_refused_page_is_not_retried(server: str, page: Image.Image) -> None:
    engine = nanonets(server, NANONETS_ENDPOINT_RETRIES="3")
    FakeOpenAI.script += [(400, '{"error": "too many tokens"}', 0), (200, completion("never"), 0)]
    with pytest.raises(ModelAnswerInvalid, match="refused the page: HTTP 400") as caught:
        engine.recognize_page(page, {})
    assert caught.value.details == {"status": 400}
    assert len(FakeOpenAI.bodies) == 1


def test_no_retries_means_one_call(server: str, page: Image.Image) -> None:
    engine = nanonets(server, NANONETS_ENDPOINT_RETRIES="0")
    FakeOpenAI.script += [(502, "{}", 0), (200, completion("never"), 0)]
    with pytest.raises(ModelEndpointUnavailable, match=r"failed 1 time\(s\) \(last: HTTP 502\)"):
        engine.recognize_page(page, {})
    assert len(FakeOpenAI.bodies) == 1


def test_endpoint_down_fails_the_request(server: str, page: Image.Image) -> None:
    engine = nanonets(server, NANONETS_ENDPOINT_RETRIES="1")
    FakeOpenAI.script += [(500, "{}", 0), (502, "{}", 0)]
    with pytest.raises(ModelEndpointUnavailable, match="failed 2 time") as caught:
        engine.recognize_page(page, {})
    assert caught.value.status == 503 and caught.value.fails_request


def test_slow_server_times_out(server: str, page: Image.Image) -> None:
    engine = nanonets(server, NANONETS_REQUEST_TIMEOUT="0.2", NANONETS_ENDPOINT_RETRIES="1")
    FakeOpenAI.script += [(200, completion("late"), 1.0), (200, completion("late"), 1.0)]
    started = time.monotonic()
    with pytest.raises(ModelEndpointUnavailable, match=r"no answer within 0\.2 s"):
        engine.recognize_page(page, {})
    assert time.monotonic() - started < 2.0


def test_slow_then_fast_is_retried(server: str, page: Image.Image) -> None:
    engine = nanonets(server, NANONETS_REQUEST_TIMEOUT="0.2")
    FakeOpenAI.script += [(200, completion("late"), 1.0), (200, completion("in time"), 0)]
    assert engine.recognize_page(page, {}).text == "in time"


@pytest.mark.parametrize(
    "body",
    ["not json", json.dumps({"choices": []}), json.dumps({"choices": [{"message": {"content": None}}]})],
)
def test_malformed_answer_fails_the_page(server: str, page: Image.Image, body: str) -> None:
    engine = nanonets(server)
    FakeOpenAI.script.append((200, body, 0))
    with pytest.raises(ModelAnswerInvalid, match=r"chat completion|without text"):
        engine.recognize_page(page, {})


def test_truncated_answer_reports_length(server: str, page: Image.Image) -> None:
    engine = nanonets(server)
    assert engine.backend is not None
    FakeOpenAI.script.append((200, completion("partial", finish="length"), 0))
    request = ChatRequest(page, "p", None, False, 0.1, 10)
    assert engine.backend.generate(request).finish_reason == "length"


def test_wrong_served_model_is_unavailable(server: str) -> None:
    with pytest.raises(EngineUnavailable, match="does not serve 'other'"):
        nanonets(server, NANONETS_SERVED_MODEL="other")


def test_unreachable_endpoint_still_loads() -> None:
    # Nothing listens on port 9 of localhost: the service becomes ready and fails requests until it is up.
    engine = nanonets("http://127.0.0.1:9/v1")
    assert engine.describe() == f"{SERVED} (openai endpoint http://127.0.0.1:9/v1, model {SERVED})"
