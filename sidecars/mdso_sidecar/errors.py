"""The sidecar's exception hierarchy: each request error carries its HTTP status and a message telling
the caller what to do. The HTTP layer maps them to JSON in one place (server.error_response).
"""

from __future__ import annotations

from typing import Any, ClassVar


class SidecarError(Exception):
    """Base of every error answered to the gateway. `type` in the JSON body is the class name."""

    status: ClassVar[int] = 500
    retry_after_s: ClassVar[int | None] = None
    fails_request: ClassVar[bool] = False
    """True when, raised on one page, it must fail the whole request (the pipeline starts no further
    page and answers this error) instead of being reported on that page only."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    @property
    def type_name(self) -> str:
        return type(self).__name__

    def to_json(self) -> dict[str, Any]:
        return {"error": self.message, "type": self.type_name, "details": self.details}


class BadOption(SidecarError):
    """A query parameter is unknown or has a value we cannot use."""

    status = 400


class FileTooLarge(SidecarError):
    status = 413


class UnsupportedFileType(SidecarError):
    status = 415


class EmptyFile(SidecarError):
    status = 422


class CorruptDocument(SidecarError):
    status = 422


class EncryptedDocument(SidecarError):
    status = 422


class TooManyPages(SidecarError):
    status = 422


class ImageTooLarge(SidecarError):
    status = 422


class NoPageRead(SidecarError):
    """Every requested page failed: never answered as a 200 with empty text."""

    status = 422


class QueueFull(SidecarError):
    status = 503
    retry_after_s = 5


class ServiceUnavailable(SidecarError):
    status = 503


class ServiceStarting(ServiceUnavailable):
    """The model is still loading; retrying shortly will work. Answered with type ServiceUnavailable."""

    retry_after_s = 5

    @property
    def type_name(self) -> str:
        return "ServiceUnavailable"


class GpuOutOfMemory(SidecarError):
    """The GPU ran out of memory on a page, even after a retry at lower resolution. The request fails;
    the sidecar stays up (its cache was emptied) and serves the next one."""

    status = 503
    retry_after_s = 10
    fails_request = True


class ModelEndpointUnavailable(SidecarError):
    """The model server (OPENAI-compatible endpoint, e.g. vLLM) could not be reached or kept failing
    after the retries: every page would fail the same way, so the request fails."""

    status = 503
    retry_after_s = 10
    fails_request = True


class ModelAnswerInvalid(SidecarError):
    """The model server answered something that is not a chat completion: that page fails."""

    status = 502


class DeadlineExceeded(SidecarError):
    status = 504


class InternalError(SidecarError):
    status = 500


class EngineUnavailable(Exception):
    """Raised by Engine.load() when the engine cannot run on this machine as configured (missing
    weights or language data, no GPU...). The message names what was searched and how to fix it.
    The sidecar stays up and reports state "unavailable" instead of crash-looping.
    """


class RequestCancelled(Exception):
    """The gateway closed the connection: nobody will read the answer, stop starting pages."""
