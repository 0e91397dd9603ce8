"""Remote backend: an OpenAI-compatible chat-completions server (vLLM's `vllm serve`), same prompts as
in-process. The page goes as a PNG data URL; connection errors, timeouts, 5xx and 429 answers are
retried with exponential backoff (tenacity), then fail the request (503): every other page would fail
the same way.

Start-up: load() asks GET {endpoint}/models. A server that answers but does not serve the configured
model makes the service unavailable (configuration error). A server that does not answer yet (vLLM
takes minutes to load weights) does not: the service becomes ready, requests fail with 503 naming the
URL until the server is up, and then work without restarting anything.
"""

from __future__ import annotations

import base64
import importlib
import io
from typing import Any

from ...errors import EngineUnavailable, ModelAnswerInvalid, ModelEndpointUnavailable
from ...log import get_logger
from .backend import Backend, ChatRequest, Generation
from .config import VlmSettings

log = get_logger(__name__)

PROBE_TIMEOUT_S = 5.0


def image_data_url(request: ChatRequest) -> str:
    buffer = io.BytesIO()
    request.image.convert("RGB").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class _RetryableFailure(Exception):
    """A call that failed in a way the next one may not (the server is down, busy or slow)."""


class OpenAIBackend(Backend):
    concurrent = True
    backoff_s = 0.5
    """First retry delay; doubled at each retry."""

    def __init__(self, settings: VlmSettings) -> None:
        assert settings.endpoint is not None
        self.settings = settings
        self.endpoint = settings.endpoint
        self._client: Any = None
        self._httpx: Any = None
        self._tenacity: Any = None

    def describe(self) -> str:
        return f"openai endpoint {self.endpoint}, model {self.settings.served_model}"

    def device(self) -> str:
        return "remote"

    def load(self) -> None:
        try:
            httpx: Any = importlib.import_module("httpx")
            self._tenacity = importlib.import_module("tenacity")
        except ImportError as exc:
            raise EngineUnavailable(
                f"the Python package {exc.name or exc} is not installed; install the VLM requirements: "
                f"{self.settings.install}"
            ) from None
        self._httpx = httpx
        headers = {"Authorization": f"Bearer {self.settings.api_key}"} if self.settings.api_key else {}
        self._client = httpx.Client(
            headers=headers,
            timeout=self.settings.request_timeout_s,
            limits=httpx.Limits(max_connections=self.settings.concurrency),
        )
        try:
            response = self._client.get(f"{self.endpoint}/models", timeout=PROBE_TIMEOUT_S)
        except httpx.HTTPError as exc:
            log.warning(
                "model endpoint not reachable yet; requests will fail with 503 until it is up",
                extra={"endpoint": self.endpoint, "error": f"{type(exc).__name__}: {exc}"},
            )
            return
        if response.status_code in (401, 403):
            raise EngineUnavailable(
                f"the model endpoint {self.endpoint} refused our credentials ({response.status_code}); "
                f"set {self._var('ENDPOINT_API_KEY')} to a key it accepts"
            )
        if response.status_code != 200:
            log.warning(
                "model endpoint answered /models with an error; going on",
                extra={"endpoint": self.endpoint, "status": response.status_code},
            )
            return
        try:
            served = [str(entry["id"]) for entry in response.json()["data"]]
        except (ValueError, KeyError, TypeError):
            log.warning(
                "model endpoint /models answer not understood; going on", extra={"endpoint": self.endpoint}
            )
            return
        if self.settings.served_model not in served:
            raise EngineUnavailable(
                f"the model endpoint {self.endpoint} does not serve {self.settings.served_model!r} "
                f"(it serves: {', '.join(served) or 'nothing'}); set {self._var('SERVED_MODEL')} to the "
                "name given to vllm serve --served-model-name"
            )

    def _var(self, suffix: str) -> str:
        return f"{self.settings.prefix}_{suffix}"

    def payload(self, request: ChatRequest) -> dict[str, Any]:
        image_part = {"type": "image_url", "image_url": {"url": image_data_url(request)}}
        return {
            "model": self.settings.served_model,
            "messages": request.messages(image_part, request.image_placeholder),
            "temperature": request.temperature,
            "max_tokens": request.max_new_tokens,
        }

    def generate(self, request: ChatRequest) -> Generation:
        url = f"{self.endpoint}/chat/completions"
        body = self.payload(request)
        attempts = self.settings.endpoint_retries + 1
        tenacity = self._tenacity
        # Read at each call: tests shorten backoff_s on the instance.
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(attempts),
            wait=tenacity.wait_exponential(multiplier=self.backoff_s, exp_base=2),
            retry=tenacity.retry_if_exception_type(_RetryableFailure),
            reraise=True,
        )
        try:
            response = retrying(self._post, url, body)
        except _RetryableFailure as last:
            raise ModelEndpointUnavailable(
                f"the model endpoint {url} failed {attempts} time(s) (last: {last}); check that the "
                "server is up and reachable from the sidecar",
                {"endpoint": self.endpoint, "attempts": attempts},
            ) from None
        return _parse_completion(response, url)

    def _post(self, url: str, body: dict[str, Any]) -> Any:
        """One call: the 200 answer; _RetryableFailure saying what failed, or ModelAnswerInvalid for
        an answer that another try would not change (4xx other than 429)."""
        httpx = self._httpx
        try:
            response = self._client.post(url, json=body)
        except httpx.TimeoutException:
            raise _RetryableFailure(f"no answer within {self.settings.request_timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise _RetryableFailure(f"{type(exc).__name__}: {exc}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise _RetryableFailure(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise ModelAnswerInvalid(
                f"the model endpoint {url} refused the page: HTTP {response.status_code} "
                f"{response.text[:300]}",
                {"status": response.status_code},
            )
        return response


def _parse_completion(response: Any, url: str) -> Generation:
    try:
        choice = response.json()["choices"][0]
        content = choice["message"]["content"]
        reason = choice.get("finish_reason") or "stop"
    except (ValueError, KeyError, IndexError, TypeError):
        raise ModelAnswerInvalid(
            f"the model endpoint {url} answered something that is not a chat completion: "
            f"{response.text[:200]!r}"
        ) from None
    if not isinstance(content, str):
        raise ModelAnswerInvalid(f"the model endpoint {url} answered a completion without text")
    return Generation(text=content, finish_reason="stop" if reason == "stop" else "length")
