"""HTTP layer (Starlette, served by uvicorn on the private Unix socket): /health, /ocr and /inspect,
admission control, client-disconnect detection, and the one place where errors become JSON answers.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import anyio.to_thread
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .admission import DISCONNECT_POLL_S, Admission, PageClock
from .engines.base import Engine, EngineOptions, PageResult
from .errors import (
    BadOption,
    FileTooLarge,
    InternalError,
    RequestCancelled,
    ServiceStarting,
    ServiceUnavailable,
    SidecarError,
)
from .gpu import gpu_stats
from .identifiers import find_identifiers
from .layout import layout_json
from .log import get_logger
from .output_format import FORMAT_OPTION, requested_format, take_format
from .page_range import PageRange, take_page_range
from .pipeline import JobControl, OcrResult, Pipeline
from .render.files import FILE_FORMATS, FileRequest, page_headers, render_file
from .settings import Settings
from .sniff import DocumentKind
from .spool import SpoolDir, SpoolWriter

log = get_logger(__name__)

STARTING, READY, UNAVAILABLE = "starting", "ready", "unavailable"
_REQUEST_ID = re.compile(r"[^A-Za-z0-9._:/-]")
_FILE_CHUNK = 1 << 20
"""Bytes of a file answer read and sent at a time."""


def error_response(exc: SidecarError) -> JSONResponse:
    retry_after = exc.retry_after()
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse(exc.to_json(), status_code=exc.status, headers=headers)


def _page_json(page: PageResult) -> dict[str, Any]:
    body: dict[str, Any] = {
        "page": page.page,
        "text": page.text,
        "source": page.source,
        "ms": page.ms,
        "error": page.error,
        "blank": page.blank,
        "rotation": page.rotation,
    }
    if page.meta is not None:
        body["meta"] = dict(page.meta)  # engine-specific page facts, only for engines that have them
    if page.geometry is not None:
        # format=json (and the formats built from a layout): where the text stands on the page.
        body["layout"] = None if page.layout is None else layout_json(page.layout, page.geometry.dpi)
        # The SIRET, VAT numbers, IBANs... on it, checked, with their boxes (identifiers.py).
        body["identifiers"] = [] if page.layout is None else [
            found.to_json() for found in find_identifiers(page.layout)]
    return body


def _request_id(raw: str | None) -> str:
    cleaned = _REQUEST_ID.sub("", raw or "")[:128]
    return cleaned or uuid.uuid4().hex


def _printable(raw: str, limit: int = 200) -> str:
    """A client-supplied name made safe for one log line."""
    text = unquote(raw, errors="replace")[:limit]
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)


def _parse_deadline(raw: str | None) -> float | None:
    if raw is None or not raw.strip():
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        raise BadOption(
            "x-deadline-ms must be a Unix time in milliseconds", {"header": "x-deadline-ms", "value": raw}
        ) from None
    return value / 1000.0


@dataclass(frozen=True)
class _Upload:
    """A request read whole: its options, and its document spooled to a private file."""

    path: Path
    kind: DocumentKind
    size: int
    page_range: PageRange | None
    options: EngineOptions


class _Outcome:
    """What one /ocr request's closing log line says, filled in as the request goes; `write` logs it
    (at warning for a 5xx other than QueueFull)."""

    def __init__(self, request_id: str) -> None:
        self.started = time.monotonic()
        self.fields: dict[str, Any] = {"request_id": request_id}

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    def read(self, upload: _Upload) -> None:
        self.fields.update(kind=upload.kind.value, bytes=upload.size)

    def answered(self, result: OcrResult) -> None:
        failed = sum(p.error is not None for p in result.pages)
        self.fields.update(status=200, pages=len(result.pages), failed_pages=failed)

    def cancelled(self) -> None:
        self.fields.update(status=499, cancelled=True)

    def failed(self, status: int, type_name: str) -> None:
        self.fields.update(status=status, type=type_name)

    def write(self, control: JobControl) -> None:
        self.fields.update(ms=self.elapsed_ms())
        if self.fields.get("cancelled"):
            log.info(
                "request cancelled",
                extra={**self.fields, "pages_done": control.pages_done, "pages_total": control.pages_total},
            )
        elif self.fields.get("status", 500) >= 500 and self.fields.get("type") != "QueueFull":
            log.warning("request done", extra=self.fields)
        else:
            log.info("request done", extra=self.fields)


class Sidecar:
    """The running service: engine state, pipeline, admission and the HTTP routes over them."""

    def __init__(self, settings: Settings, engine: Engine, spool: SpoolDir) -> None:
        self.settings = settings
        self.engine = engine
        self.spool = spool
        self.pipeline = Pipeline(engine, settings.max_pages)
        # Until pages are measured, the engine's own guess of a page's time, shared by its threads.
        clock = PageClock(engine.page_seconds_prior / self.pipeline.workers)
        self.admission = Admission(settings.max_queue, self.pipeline.request_slots(settings.max_queue), clock)
        self.state = STARTING
        self.message: str | None = None
        self.in_flight: dict[int, JobControl] = {}

    # -- lifecycle -----------------------------------------------------------------------------

    def mark_ready(self) -> None:
        self.state, self.message = READY, None

    def mark_unavailable(self, message: str) -> None:
        self.state, self.message = UNAVAILABLE, message

    # -- routes --------------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/health", self.health, methods=["GET"]),
                Route("/ocr", self.ocr, methods=["POST"]),
                Route("/inspect", self.inspect, methods=["POST"]),
            ],
            exception_handlers={HTTPException: self._http_error, Exception: self._unexpected_error},
        )

    async def health(self, _request: Request) -> JSONResponse:
        return JSONResponse(self.health_snapshot())

    def health_snapshot(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "service": self.settings.service,
            "model": self.engine.describe(),
            "device": self.engine.device(),
            "pid": os.getpid(),
            "message": self.message,
            "queue": self._queue_stats(),
            "gpu": gpu_stats(),
            "in_flight": [
                {"request_id": c.request_id, "pages_done": c.pages_done, "pages_total": c.pages_total}
                for c in list(self.in_flight.values())
            ],
        }

    async def ocr(self, request: Request) -> Response:
        request_id = _request_id(request.headers.get("x-request-id"))
        outcome = _Outcome(request_id)
        control = JobControl(request_id, on_page_done=self.admission.clock.page_done)
        upload: _Upload | None = None
        if "x-filename" in request.headers:
            log.debug(
                "upload",
                extra={"request_id": request_id, "upload_name": _printable(request.headers["x-filename"])},
            )
        try:
            upload = await self._read(request, control)
            outcome.read(upload)
            result = await self._process(request, upload, control)
            answer_format = requested_format(upload.options)
            if answer_format in FILE_FORMATS:
                response = await self._file_answer(request, answer_format, upload, result)
                self.admission.clock.request_done(len(result.pages))
                outcome.answered(result)
                return response
            body = {
                "pages": [_page_json(p) for p in result.pages],
                "service": self.settings.service,
                "model": self.engine.describe(),
                "ms": outcome.elapsed_ms(),
                "document_pages": result.document_pages,
            }
            self.admission.clock.request_done(len(result.pages))
            outcome.answered(result)
            return JSONResponse(body)
        except (RequestCancelled, ClientDisconnect):
            outcome.cancelled()
            # Nobody reads this answer: the gateway has gone.
            return Response(status_code=499)
        except SidecarError as exc:
            outcome.failed(exc.status, exc.type_name)
            return error_response(exc)
        except Exception:
            log.exception("request failed", extra={"request_id": request_id})
            outcome.failed(500, "InternalError")
            return error_response(
                InternalError("internal error in the OCR sidecar; see its log", {"request_id": request_id})
            )
        finally:
            if upload is not None:
                upload.path.unlink(missing_ok=True)
            outcome.write(control)

    async def _file_answer(
        self, request: Request, answer_format: str, upload: _Upload, result: OcrResult
    ) -> Response:
        """The document as an hOCR, ALTO or searchable PDF file, built in a thread from what the
        engine read (the upload is still there: the PDF is made from it), written to a spool file
        and streamed from it."""
        raw_name = request.headers.get("x-filename")
        file_request = FileRequest(
            format=answer_format,
            source=upload.path,
            is_pdf=upload.kind is DocumentKind.PDF,
            system=self.engine.describe(),
            lang=upload.options.get("lang") or self.settings.tesseract.lang,
            filename=unquote(raw_name, errors="replace")[:512] if raw_name else None,
        )
        out = self.spool.new_file_path()
        try:
            await anyio.to_thread.run_sync(render_file, file_request, result.pages, out)
            # Opened and unlinked at once: the file goes with the last reference to it, whether the
            # answer is sent whole or the gateway leaves mid-way.
            handle = out.open("rb")
        finally:
            out.unlink(missing_ok=True)
        size = os.fstat(handle.fileno()).st_size

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while chunk := await anyio.to_thread.run_sync(handle.read, _FILE_CHUNK):
                    yield chunk
            finally:
                handle.close()

        headers = {**page_headers(result.pages, result.document_pages), "Content-Length": str(size)}
        return StreamingResponse(chunks(), media_type=FILE_FORMATS[answer_format], headers=headers)

    async def inspect(self, request: Request) -> Response:
        """What /ocr would refuse before reading a page, without reading one: the options, the type,
        the damage that stops a document from opening, and MAX_PAGES. The gateway's durable jobs ask
        it before they answer 202, so a job is refused with the very 4xx the synchronous route gives.
        Answers the pages the request would read."""
        control = JobControl(_request_id(request.headers.get("x-request-id")))
        upload: _Upload | None = None
        try:
            upload = await self._read(request, control)
            selected, document_pages = await anyio.to_thread.run_sync(
                self.pipeline.inspect, upload.path, upload.kind, upload.page_range
            )
            return JSONResponse(
                {"kind": upload.kind.value, "pages_total": selected, "document_pages": document_pages}
            )
        except ClientDisconnect:
            return Response(status_code=499)
        except SidecarError as exc:
            return error_response(exc)
        finally:
            if upload is not None:
                upload.path.unlink(missing_ok=True)

    async def _read(self, request: Request, control: JobControl) -> _Upload:
        """Checks the request and spools its body: the document, ready for a slot. The spool file is
        the caller's to remove once this returns; if it raises, there is none left."""
        self._require_ready()
        page_range, options = self._parse_options(request.query_params)
        control.deadline = _parse_deadline(request.headers.get("x-deadline-ms"))
        control.raise_if_stopped()
        self._check_declared_length(request.headers)

        # The upload is spooled before it takes a slot: a slow sender holds a file, never a slot
        # a complete request could use (the gateway cuts uploads that stall or trickle).
        path = self.spool.new_file_path()
        try:
            kind, size = await self._spool(request, path)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return _Upload(path, kind, size, page_range, options)

    async def _process(self, request: Request, upload: _Upload, control: JobControl) -> OcrResult:
        """Admits the read document, waits for a slot and runs the pipeline on it, watching for the
        gateway going away meanwhile."""
        control.raise_if_stopped()
        self.admission.admit(list(self.in_flight.values()), control.deadline)
        watcher: asyncio.Task[None] | None = None
        try:
            watcher = asyncio.create_task(self._watch_disconnect(request, control))
            self.in_flight[id(control)] = control
            async with self.admission.run_slot(control):
                # Not cancellable: the worker thread always finishes before the file is removed.
                return await anyio.to_thread.run_sync(
                    self.pipeline.process,
                    upload.path,
                    upload.kind,
                    upload.page_range,
                    upload.options,
                    control,
                )
        finally:
            if watcher is not None:
                watcher.cancel()
            self.in_flight.pop(id(control), None)
            self.admission.leave()

    # -- helpers -------------------------------------------------------------------------------

    def _queue_stats(self) -> dict[str, Any]:
        backlog = self.admission.backlog(list(self.in_flight.values()))
        return {
            "active": self.admission.active,
            "waiting": self.admission.waiting,
            "limit": self.admission.limit,
            "pages_queued": round(backlog.pages, 1),
            "page_s": round(backlog.page_s, 3),
            "expected_wait_s": round(backlog.wait_s, 1),
        }

    def _require_ready(self) -> None:
        if self.state == READY:
            return
        if self.state == STARTING:
            raise ServiceStarting(
                f"the {self.settings.service} engine is still loading; retry in a few seconds",
                {"state": STARTING},
            )
        raise ServiceUnavailable(self.message or "the engine is unavailable", {"state": self.state})

    def _parse_options(self, query: QueryParams) -> tuple[PageRange | None, EngineOptions]:
        params: dict[str, str] = {}
        for key, value in query.multi_items():
            if key in params:
                raise BadOption(f"option {key!r} given more than once", {"option": key})
            params[key] = value
        page_range = take_page_range(params)
        # The pipeline's option, like page_range: the engine finds it in its options (output_format.py).
        answer_format = take_format(params, self.engine.formats, self.settings.service)
        options = self.engine.parse_options(params)
        if answer_format is not None:
            options = {**options, FORMAT_OPTION: answer_format}
        return page_range, options

    def _check_declared_length(self, headers: Mapping[str, str]) -> None:
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.settings.max_upload_bytes:
            raise FileTooLarge(
                f"the file is larger than the {self.settings.max_upload_bytes // (1024 * 1024)} MB limit "
                "(MAX_UPLOAD_MB); split it or compress its images",
                {"limit_bytes": self.settings.max_upload_bytes, "content_length": int(declared)},
            )

    async def _spool(self, request: Request, path: Path) -> tuple[DocumentKind, int]:
        writer = SpoolWriter(path, self.settings.max_upload_bytes)
        try:
            async for chunk in request.stream():
                writer.write(chunk)
            return writer.finish(), writer.size
        finally:
            writer.close()

    async def _watch_disconnect(self, request: Request, control: JobControl) -> None:
        while not control.cancelled.is_set():
            if await request.is_disconnected():
                control.cancel()
                return
            await asyncio.sleep(DISCONNECT_POLL_S)

    async def _http_error(self, _request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        body: dict[str, Any] = {
            "error": f"{exc.detail}: this sidecar serves GET /health and POST /ocr",
            "type": "NotFound" if exc.status_code == 404 else "MethodNotAllowed",
            "details": {},
        }
        return JSONResponse(body, status_code=exc.status_code)

    async def _unexpected_error(self, _request: Request, exc: Exception) -> Response:
        log.error("unhandled error", exc_info=exc)
        return error_response(InternalError("internal error in the OCR sidecar; see its log"))
