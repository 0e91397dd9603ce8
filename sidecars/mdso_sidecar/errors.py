"""The sidecar's exception hierarchy: each request error carries its HTTP status and a message telling
the caller what to do. The HTTP layer maps them to JSON in one place (server.error_response).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

# What an answer must never show: libraries put file names, object reprs and even stack frames in
# their exception text, and an engine or intake message that quotes it would hand the caller the
# spool file's path (its dir carries the sidecar's pid), the temp dir, the install layout. Every
# message, detail and page error is scrubbed here, once, whoever wrote it.
_TRACEBACK_HEADER = re.compile(r"Traceback \(most recent call last\):\s*")
# A stack frame ("File "/x.py", line 3, in f") and the indented source line printed under it.
_STACK_FRAME = re.compile(r'[ \t]*File "[^"\n]*", line \d+[^\n]*(?:\n[ \t]+[^\n]*)?\n?')
_CODE_REPR = re.compile(
    r"<(?:class|module|function|built-in function|bound method|method|frame|code object) [^<>\n]*>"
)
_OBJECT_REPR = re.compile(r"<_?[A-Za-z]\w*(?:\.\w+)+(?:\s[^<>\n]*)?>|<[^<>\n]*\bat 0x[0-9A-Fa-f]+>")
# An object repr naming a file or an image is, in an answer about a document, that document.
_DOCUMENT_REPR = re.compile(r"name=|Reader|Writer|File|Image|Document|Pdf|Stream", re.IGNORECASE)
# "PIL.UnidentifiedImageError", "pypdfium2._helpers.misc.PdfiumError": the class name says enough.
_QUALIFIED_EXCEPTION = re.compile(r"\b(?:[A-Za-z_]\w*\.)+([A-Z]\w*(?:Error|Exception|Warning))\b")
_QUOTED_PATH = re.compile(r"""(['"])(?:/|~/|file://)[^'"\n]*\1""")
# Not after a word, dot, colon or slash: "EXE/DLL", "1/2", "http://host/v1/chat" are no paths.
_BARE_PATH = re.compile(r"""(?<![\w.:/~<>-])(?:file://|~)?/[^\s'"<>(),;]+""")
_SINGLE_SEGMENT_ROOTS = frozenset(
    ("tmp", "var", "home", "root", "work", "usr", "opt", "srv", "proc", "dev", "run", "mnt", "etc", "lib")
)
# Distribution data (tesseract's tessdata under /usr/share) is the same on every machine of that
# distribution: naming it tells the operator which package to install and reveals nothing else.
_PUBLIC_PREFIXES = ("/usr/share/",)
_SPOOL_FILE = re.compile(r"mdso-ocr-spool-|\.upload\b")
# A spool file named without its dir.
_SPOOL_NAME = re.compile(r"\b[0-9a-f]{32}\.upload\b")
_SPACES = re.compile(r"[ \t]{2,}")


def _is_public(path: str) -> bool:
    return path.startswith(_PUBLIC_PREFIXES) and "/.." not in path


def _path_word(path: str) -> str:
    return "the document" if _SPOOL_FILE.search(path) else "a server path"


def _replace_quoted_path(match: re.Match[str]) -> str:
    path = match.group(0)[1:-1]
    if _is_public(path):
        return match.group(0)
    return _path_word(path)


def _replace_bare_path(match: re.Match[str]) -> str:
    path = match.group(0).rstrip(".:")
    tail = match.group(0)[len(path) :]
    if _is_public(path):
        return match.group(0)
    bare = path.removeprefix("file://").removeprefix("~")
    if bare.count("/") < 2 and bare.strip("/") not in _SINGLE_SEGMENT_ROOTS:
        return match.group(0)  # "/ocr", "/health": a route, not a place on disk
    return _path_word(path) + tail


def _replace_repr(match: re.Match[str]) -> str:
    return "the document" if _DOCUMENT_REPR.search(match.group(0)) else "an internal object"


def scrub(text: str) -> str:
    """`text` without file system paths, Python object reprs, module-qualified exception names and
    stack traces: a spool file becomes "the document", any other path "a server path". What the
    message says is wrong and what to do stay as they were."""
    original = text
    text = _TRACEBACK_HEADER.sub("", text)
    text = _STACK_FRAME.sub("", text)
    text = _CODE_REPR.sub("an internal object", text)
    text = _OBJECT_REPR.sub(_replace_repr, text)
    text = _QUALIFIED_EXCEPTION.sub(r"\1", text)
    text = _QUOTED_PATH.sub(_replace_quoted_path, text)
    text = _BARE_PATH.sub(_replace_bare_path, text)
    text = _SPOOL_NAME.sub("the document", text)
    # Untouched text (a caller's own value echoed in details) is answered exactly as it was.
    return original if text == original else _SPACES.sub(" ", text).strip()


def scrub_value(value: Any) -> Any:
    """`value` (an error's details: str, number, list, dict...) with every string in it scrubbed."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {key: scrub_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_value(item) for item in value]
    return value


class SidecarError(Exception):
    """Base of every error answered to the gateway. `type` in the JSON body is the class name."""

    status: ClassVar[int] = 500
    retry_after_s: ClassVar[int | None] = None
    when: ClassVar[str] = ""
    """When a client gets it, for the API documentation (the sidecar's contract lists every type that
    says so, with its status: contract.py)."""
    answered_as: ClassVar[str | None] = None
    """The type another error answers as (ServiceStarting is a ServiceUnavailable); None: its own."""
    fails_request: ClassVar[bool] = False
    """True when, raised on one page, it must fail the whole request (the pipeline starts no further
    page and answers this error) instead of being reported on that page only."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def retry_after(self) -> int | None:
        """Seconds for the Retry-After header of this answer (None: no header)."""
        return self.retry_after_s

    @property
    def type_name(self) -> str:
        return self.answered_as or type(self).__name__

    def to_json(self) -> dict[str, Any]:
        """The answer's body: message and details scrubbed of server paths, reprs and tracebacks."""
        return {"error": scrub(self.message), "type": self.type_name, "details": scrub_value(self.details)}


class BadOption(SidecarError):
    """A query parameter is unknown or has a value we cannot use."""

    status = 400
    when = "an option the service does not take, or a bad value (named in details.option)"


class FileTooLarge(SidecarError):
    status = 413
    when = "the file is over MAX_UPLOAD_MB"


class UnsupportedFileType(SidecarError):
    status = 415
    when = "not a PDF, PNG, JPEG, TIFF, BMP, GIF or WebP (the message says what it looks like)"


class EmptyFile(SidecarError):
    status = 422
    when = "the file is empty"


class CorruptDocument(SidecarError):
    status = 422
    when = "truncated or corrupt file"


class EncryptedDocument(SidecarError):
    status = 422
    when = "password-protected PDF"


class TooManyPages(SidecarError):
    status = 422
    when = "more than MAX_PAGES pages"


class ImageTooLarge(SidecarError):
    status = 422
    when = "an image too large to decode (decompression bomb guard)"


class NoPageRead(SidecarError):
    """Every requested page failed: never answered as a 200 with empty text."""

    status = 422
    when = "no page could be read"


class QueueFull(SidecarError):
    """Refused at admission: the request would not be read before its deadline (the expected wait of
    the pages queued ahead does not fit), or the hard bound SIDECAR_MAX_QUEUE is reached."""

    status = 503
    when = "the service's queue is full (Retry-After)"
    retry_after_s = 5

    def __init__(
        self, message: str, details: dict[str, Any] | None = None, retry_after_s: int | None = None
    ) -> None:
        super().__init__(message, details)
        self._retry_after_s = retry_after_s

    def retry_after(self) -> int | None:
        return self._retry_after_s if self._retry_after_s is not None else self.retry_after_s


class StorageFull(SidecarError):
    """The disk (or the user's quota) holding the spool dir filled up while the upload was written:
    nothing is wrong with the document, another try once space is freed will work."""

    status = 503
    when = "the service's disk filled up while the upload was written (Retry-After)"
    retry_after_s = 30


class ServiceUnavailable(SidecarError):
    status = 503
    when = "the service is starting (Retry-After) or cannot run"


class ServiceStarting(ServiceUnavailable):
    """The model is still loading; retrying shortly will work. Answered with type ServiceUnavailable."""

    retry_after_s = 5
    answered_as = "ServiceUnavailable"


class GpuOutOfMemory(SidecarError):
    """The GPU ran out of memory on a page, even after a retry at lower resolution. The request fails;
    the sidecar stays up (its cache was emptied) and serves the next one."""

    status = 503
    when = "CUDA out of memory even after a retry at lower resolution (Retry-After)"
    retry_after_s = 10
    fails_request = True


class ModelEndpointUnavailable(SidecarError):
    """The model server (OPENAI-compatible endpoint, e.g. vLLM) could not be reached or kept failing
    after the retries: every page would fail the same way, so the request fails."""

    status = 503
    when = "the OpenAI-compatible model server (vLLM) cannot be reached (Retry-After)"
    retry_after_s = 10
    fails_request = True


class ModelAnswerInvalid(SidecarError):
    """The model server answered something that is not a chat completion: that page fails."""

    status = 502
    when = "the model server answered something that is not a completion"


class DeadlineExceeded(SidecarError):
    status = 504
    when = "the deadline passed before every page was read"


class InternalError(SidecarError):
    status = 500
    when = "a bug in the sidecar; the request id identifies it in the log"


def error_types() -> list[type[SidecarError]]:
    """Every error type a sidecar answers, under its own name (not ServiceStarting: a
    ServiceUnavailable), in the order they are defined."""
    found: list[type[SidecarError]] = []
    pending: list[type[SidecarError]] = list(SidecarError.__subclasses__())
    while pending:
        cls = pending.pop(0)
        if cls.answered_as is None and cls not in found:
            found.append(cls)
        pending[0:0] = cls.__subclasses__()
    return found


class EngineUnavailable(Exception):
    """Raised by Engine.load() when the engine cannot run on this machine as configured (missing
    weights or language data, no GPU...). The message names what was searched and how to fix it.
    The sidecar stays up and reports state "unavailable" instead of crash-looping.
    """


class RequestCancelled(Exception):
    """The gateway closed the connection: nobody will read the answer, stop starting pages."""
