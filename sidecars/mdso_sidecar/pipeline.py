"""Runs the engine over a document's pages: the worker pool, cancellation, the deadline, and the rule
that a request where no page could be read fails instead of answering empty text.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from .engines.base import DocumentJob, Engine, EngineOptions, PageResult, PageText
from .errors import (
    CorruptDocument,
    DeadlineExceeded,
    ImageTooLarge,
    NoPageRead,
    RequestCancelled,
    SidecarError,
)
from .intake import Document, DocumentKind, open_document, select_pages
from .log import get_logger
from .page_range import PageRange

log = get_logger(__name__)

# A page's answer, with the error that made it fail (kept to answer a document-level error).
_Outcome = tuple[PageResult, SidecarError | None]

# Page errors that mean the file itself is bad: when every page fails with one of these, the request
# is answered with that error (422 CorruptDocument...) rather than NoPageRead.
_DOCUMENT_ERRORS = (CorruptDocument, ImageTooLarge)
# Shown for unexpected page failures; the traceback goes to the log only.
_INTERNAL_PAGE_ERROR = "the engine failed on this page (internal error)"


@dataclass
class JobControl:
    """Shared between the HTTP handler (which cancels) and the worker threads (which check)."""

    request_id: str
    deadline: float | None = None
    """Unix time (seconds) after which nobody waits for the answer."""
    cancelled: threading.Event = field(default_factory=threading.Event)
    pages_total: int = 0
    pages_done: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def cancel(self) -> None:
        self.cancelled.set()

    def deadline_passed(self) -> bool:
        return self.deadline is not None and time.time() >= self.deadline

    def should_stop(self) -> bool:
        return self.cancelled.is_set() or self.deadline_passed()

    def raise_if_stopped(self) -> None:
        if self.cancelled.is_set():
            raise RequestCancelled
        if self.deadline_passed():
            raise DeadlineExceeded(
                "the deadline (x-deadline-ms) passed before every page was read; "
                "retry with a longer timeout or a smaller page_range",
                {"pages_done": self.pages_done, "pages_total": self.pages_total},
            )

    def page_done(self, _page: int = 0) -> None:
        with self._lock:
            self.pages_done += 1


@dataclass(frozen=True)
class OcrResult:
    pages: list[PageResult]
    document_pages: int


class Pipeline:
    """Owns the worker pool shared by all requests of this sidecar."""

    def __init__(self, engine: Engine, max_pages: int) -> None:
        self.engine = engine
        self.max_pages = max_pages
        self.workers = max(1, engine.max_parallel_pages())
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="ocr")

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def process(
        self,
        path: Path,
        kind: DocumentKind,
        page_range: PageRange | None,
        options: EngineOptions,
        control: JobControl,
    ) -> OcrResult:
        """Blocking: open, read the selected pages, close. Runs in a thread, never the event loop.

        Raises RequestCancelled / DeadlineExceeded when stopped (after the pages already started have
        finished, so the document is never closed under a running render), the intake errors, or
        NoPageRead / the document error when every page failed.
        """
        control.raise_if_stopped()
        document = open_document(path, kind)
        try:
            pages = select_pages(document.page_count, page_range, self.max_pages)
            control.pages_total = len(pages)
            if self.engine.whole_document:
                outcomes = self._run_whole_document(document, pages, options, control)
            else:
                outcomes = self._run_pages(document, pages, options, control)
        finally:
            document.close()
        control.raise_if_stopped()
        _fail_if_nothing_read(outcomes)
        return OcrResult(pages=[result for result, _ in outcomes], document_pages=document.page_count)

    def _run_pages(
        self, document: Document, pages: list[int], options: EngineOptions, control: JobControl
    ) -> list[_Outcome]:
        # At most `workers` pages of one request are queued in the shared pool at a time, so pages of
        # concurrent requests interleave and at most `workers` rendered pages are in memory per request.
        pending = deque(pages)
        running: dict[Future[_Outcome], int] = {}
        results: dict[int, _Outcome] = {}
        fatal: SidecarError | None = None
        while pending or running:
            while pending and len(running) < self.workers and not control.should_stop() and not fatal:
                page = pending.popleft()
                running[self._pool.submit(self._read_page, document, page, options, control)] = page
            if not running:
                break  # stopped: the remaining pages are skipped
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                outcome = results[running.pop(future)] = future.result()
                if fatal is None and outcome[1] is not None and outcome[1].fails_request:
                    fatal = outcome[1]
        if fatal is not None:
            # Raised only once every started page has returned: the document is never closed under
            # a running render.
            raise fatal
        return [results[page] for page in pages if page in results]

    def _read_page(
        self, document: Document, page: int, options: EngineOptions, control: JobControl
    ) -> _Outcome:
        started = time.monotonic()
        if control.should_stop():
            return _failed(page, started, "skipped: request stopped"), None
        cause: SidecarError | None = None
        try:
            image = document.render(page, self.engine.render_policy)
            try:
                read = self.engine.recognize_page(image, options)
            finally:
                image.close()
        except SidecarError as exc:
            result, cause = _failed(page, started, exc.message), exc
        except Exception:
            log.exception("page failed", extra={"request_id": control.request_id, "page": page})
            result = _failed(page, started, _INTERNAL_PAGE_ERROR)
        else:
            result = _page_result(page, started, read)
        control.page_done(page)
        log.debug(
            "page done",
            extra={
                "request_id": control.request_id,
                "page": page,
                "ms": result.ms,
                "failed": result.error is not None,
                "pages_done": control.pages_done,
                "pages_total": control.pages_total,
            },
        )
        return result, cause

    def _run_whole_document(
        self, document: Document, pages: list[int], options: EngineOptions, control: JobControl
    ) -> list[_Outcome]:
        started = time.monotonic()
        job = DocumentJob(
            document=document,
            pages=pages,
            options=options,
            should_stop=control.should_stop,
            page_done=control.page_done,
        )
        outcome = self._pool.submit(self.engine.recognize_document, job).result()
        for read in outcome:
            if isinstance(read, SidecarError) and read.fails_request:
                raise read
        results: list[_Outcome] = []
        for page, read in zip(pages, outcome, strict=False):
            if isinstance(read, SidecarError):
                results.append((_failed(page, started, read.message), read))
            elif isinstance(read, Exception):
                log.error(
                    "page failed",
                    exc_info=read,
                    extra={"request_id": control.request_id, "page": page},
                )
                results.append((_failed(page, started, _INTERNAL_PAGE_ERROR), None))
            else:
                results.append((_page_result(page, started, read), None))
        return results


def _failed(page: int, started: float, message: str) -> PageResult:
    return PageResult(
        page=page,
        text="",
        source="ocr",
        ms=int((time.monotonic() - started) * 1000),
        error=message,
        blank=False,
        rotation=0,
    )


def _page_result(page: int, started: float, read: PageText) -> PageResult:
    return PageResult(
        page=page,
        text=read.text,
        source=read.source,
        ms=int((time.monotonic() - started) * 1000),
        error=None,
        blank=not read.text.strip(),
        rotation=read.rotation,
        meta=read.meta,
    )


def _fail_if_nothing_read(outcomes: list[_Outcome]) -> None:
    if not outcomes or any(result.error is None for result, _ in outcomes):
        return
    details = {"pages": [{"page": result.page, "error": result.error} for result, _ in outcomes]}
    first = outcomes[0][1]
    if isinstance(first, _DOCUMENT_ERRORS) and all(type(cause) is type(first) for _, cause in outcomes):
        raise type(first)(first.message, {**first.details, **details})
    raise NoPageRead("no page could be read; see details.pages for each page's error", details)
