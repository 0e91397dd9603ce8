"""Runs the engine over a document's pages: the worker pool, cancellation, the deadline, and the rule
that a request where no page could be read fails instead of answering empty text.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from PIL import Image

from .engines.base import DocumentJob, Engine, EngineOptions, PageResult, PageText
from .errors import (
    CorruptDocument,
    DeadlineExceeded,
    ImageTooLarge,
    NoPageRead,
    RequestCancelled,
    ServiceUnavailable,
    SidecarError,
    scrub,
)
from .intake import Document, RenderPolicy, open_document
from .layout import PageGeometry, PageLayout, page_level, turned, upright_size
from .log import get_logger
from .output_format import wants_layout
from .page_range import PageRange, select_pages
from .sniff import DocumentKind

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
    on_page_done: Callable[[], None] | None = None
    """Called from the worker thread after each page (the sidecar's page-rate clock)."""
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
        if self.on_page_done is not None:
            self.on_page_done()


@dataclass(frozen=True)
class OcrResult:
    pages: list[PageResult]
    document_pages: int


@dataclass(eq=False)
class _Job:
    """One request's pages inside the scheduler."""

    document: Document
    options: EngineOptions
    control: JobControl
    pending: deque[int]
    results: dict[int, _Outcome] = field(default_factory=dict)
    outstanding: int = 0
    """Pages taken for rendering and not yet answered (rendering, rendered and waiting, or being read).
    The document is closed only once this is 0."""
    fatal: SidecarError | None = None

    def runnable(self) -> bool:
        return bool(self.pending) and self.fatal is None and not self.control.should_stop()

    def finished(self) -> bool:
        return self.outstanding == 0 and not self.runnable()


@dataclass(eq=False)
class _Rendered:
    job: _Job
    page: int
    image: Image.Image
    render_s: float


class PageScheduler:
    """Page-level scheduling shared by every request of the sidecar.

    - Fair: the next page to render is taken round-robin across the requests in progress (not FIFO),
      so a one-page request started while a 200-page one runs waits for about one page per thread,
      not for the big one to finish.
    - Pipelined: one render thread rasterises the next pages (PDFium is serialised by PDFIUM_LOCK
      anyway) while `workers` reader threads recognise, so rendering page n+1 overlaps reading page n
      even with OCR_THREADS=1. At most `workers` rendered pages wait, so memory stays bounded by
      2 x workers + 1 page images whatever the number of requests.
    - Threads start on first use and stop at shutdown(); each reader thread keeps its engine state
      (tesseract: its own loaded API per language, created once per thread).
    """

    def __init__(self, engine: Engine, workers: int) -> None:
        self.engine = engine
        self.workers = workers
        self._cond = threading.Condition()
        self._ring: deque[_Job] = deque()
        self._ready: deque[_Rendered] = deque()
        self._threads: list[threading.Thread] = []
        self._closing = False

    # -- request side ---------------------------------------------------------------------------

    def run(self, job: _Job) -> None:
        """Blocks until every page of `job` is read, or it stopped and no page of it is in flight."""
        with self._cond:
            if self._closing:
                raise _shutting_down()
            self._start_threads()
            self._ring.append(job)
            self._cond.notify_all()
            try:
                while not job.finished():
                    if self._stopped():
                        raise _shutting_down()
                    # Timeout: cancellation and deadlines change should_stop() without notifying.
                    self._cond.wait(timeout=0.1)
                    if job.control.should_stop() or job.fatal is not None:
                        job.pending.clear()
            finally:
                self._ring.remove(job)

    def _stopped(self) -> bool:
        """Shut down: nothing will read the remaining pages."""
        return self._closing and not self._threads

    def shutdown(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join()
        with self._cond:
            while self._ready:
                self._drop(self._ready.popleft())
            self._cond.notify_all()

    # -- threads ---------------------------------------------------------------------------------

    def _start_threads(self) -> None:
        if self._threads:
            return
        self._threads = [threading.Thread(target=self._render_loop, name="ocr-render", daemon=True)]
        self._threads += [
            threading.Thread(target=self._read_loop, name=f"ocr-{i}", daemon=True)
            for i in range(self.workers)
        ]
        for thread in self._threads:
            thread.start()

    def _next_page(self) -> tuple[_Job, int] | None:
        """Round-robin: the first runnable request after the one served last. Called with the lock."""
        for _ in range(len(self._ring)):
            job = self._ring[0]
            self._ring.rotate(-1)
            if job.runnable():
                job.outstanding += 1
                return job, job.pending.popleft()
        return None

    def _render_loop(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closing:
                        return
                    taken = self._next_page() if len(self._ready) < self.workers else None
                    if taken is not None:
                        break
                    self._cond.wait()
            job, page = taken
            started = time.monotonic()
            image: Image.Image | None = None
            outcome: _Outcome | None = None
            try:
                if self.engine.wants_text_layer(job.options):
                    # The page's own text may make OCR needless (born-digital pages): no render then.
                    read = self.engine.from_text_layer(job.document.text_layer(page), job.options)
                    if read is not None:
                        geometry = None
                        if wants_layout(job.options):
                            read, geometry = _text_layer_layout(job.document, page, read, self.engine)
                        outcome = _page_result(page, started, read, geometry), None
                if outcome is None:
                    image = job.document.render(page, self.engine.render_policy)
            except SidecarError as exc:
                outcome = _failed(page, started, exc.message), exc
            except Exception:
                log.exception(
                    "page render failed", extra={"request_id": job.control.request_id, "page": page}
                )
                outcome = _failed(page, started, _INTERNAL_PAGE_ERROR), None
            with self._cond:
                if image is not None:
                    self._ready.append(_Rendered(job, page, image, time.monotonic() - started))
                else:
                    assert outcome is not None
                    self._finish(job, page, outcome)
                self._cond.notify_all()

    def _read_loop(self) -> None:
        while True:
            with self._cond:
                while not self._ready and not self._closing:
                    self._cond.wait()
                if self._closing:
                    return
                item = self._ready.popleft()
                self._cond.notify_all()  # room for the renderer
            job = item.job
            if job.control.should_stop() or job.fatal is not None:
                with self._cond:
                    self._drop(item)
                    self._cond.notify_all()
                continue
            outcome = self._read(item)
            with self._cond:
                self._finish(job, item.page, outcome)
                self._cond.notify_all()

    def _read(self, item: _Rendered) -> _Outcome:
        job, page = item.job, item.page
        # A page's ms is its own work (render + recognition), not the time it waited in the queue.
        started = time.monotonic() - item.render_s
        size = item.image.size
        try:
            try:
                read = self.engine.recognize_rendered(
                    item.image, job.options, lambda policy: job.document.render(page, policy)
                )
            finally:
                item.image.close()
            geometry = None
            if wants_layout(job.options):
                # The render's own size; its density as the document gives it.
                dpi = job.document.geometry(page, self.engine.render_policy).dpi
                geometry = PageGeometry(size[0], size[1], dpi)
                read = _with_layout(read, geometry)
        except SidecarError as exc:
            return _failed(page, started, exc.message), exc
        except Exception:
            log.exception("page failed", extra={"request_id": job.control.request_id, "page": page})
            return _failed(page, started, _INTERNAL_PAGE_ERROR), None
        return _page_result(page, started, read, geometry), None

    def _finish(self, job: _Job, page: int, outcome: _Outcome) -> None:
        """Record a page's answer. Called with the lock."""
        job.results[page] = outcome
        job.outstanding -= 1
        cause = outcome[1]
        if job.fatal is None and cause is not None and cause.fails_request:
            job.fatal = cause
        job.control.page_done(page)
        result = outcome[0]
        log.info(
            "page done",
            extra={
                "request_id": job.control.request_id,
                "page": page,
                "ms": result.ms,
                "failed": result.error is not None,
                "pages_done": job.control.pages_done,
                "pages_total": job.control.pages_total,
            },
        )

    def _drop(self, item: _Rendered) -> None:
        """A rendered page nobody will read (request stopped, shutdown). Called with the lock."""
        item.image.close()
        item.job.outstanding -= 1


def _shutting_down() -> ServiceUnavailable:
    return ServiceUnavailable("the OCR service is shutting down; retry shortly")


class Pipeline:
    """Owns the page scheduler (page engines) or the worker pool (whole-document engines) shared by
    all requests of this sidecar."""

    def __init__(self, engine: Engine, max_pages: int) -> None:
        self.engine = engine
        self.max_pages = max_pages
        self.workers = max(1, engine.max_parallel_pages())
        self._scheduler = PageScheduler(engine, self.workers)
        self._pool: ThreadPoolExecutor | None = None
        if engine.whole_document:
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="ocr")

    def request_slots(self, accepted: int) -> int:
        """How many accepted requests may be in progress at once. Page engines take every accepted
        request: the scheduler shares pages round-robin, and memory is bounded per page, not per
        request. Whole-document engines run one request per worker."""
        return self.workers if self.engine.whole_document else max(accepted, self.workers)

    def shutdown(self) -> None:
        self._scheduler.shutdown()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def inspect(self, path: Path, kind: DocumentKind, page_range: PageRange | None) -> tuple[int, int]:
        """Blocking: open the document and select its pages as process() would (raising what it would
        raise before a page is read); (pages selected, pages of the document)."""
        document = open_document(path, kind)
        try:
            return len(select_pages(document.page_count, page_range, self.max_pages)), document.page_count
        finally:
            document.close()

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
        job = _Job(document=document, options=options, control=control, pending=deque(pages))
        self._scheduler.run(job)
        if job.fatal is not None:
            # Raised only once every started page has returned: the document is never closed under
            # a running render.
            raise job.fatal
        return [job.results[page] for page in pages if page in job.results]

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
        assert self._pool is not None
        outcome = self._pool.submit(self.engine.recognize_document, job).result()
        for read in outcome:
            if isinstance(read, SidecarError) and read.fails_request:
                raise read
        results: list[_Outcome] = []
        layout = wants_layout(options)
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
                geometry = None
                if layout:
                    # A whole-document engine reads pages its own way: their size is the render's its
                    # policy would give.
                    try:
                        geometry = document.geometry(page, self.engine.render_policy)
                    except SidecarError:
                        geometry = None
                answer = read if geometry is None else _with_layout(read, geometry)
                results.append((_page_result(page, started, answer, geometry), None))
        return results


def _failed(page: int, started: float, message: str) -> PageResult:
    """A failed page; its error, answered in a 200, is scrubbed like every error answer (errors.scrub)."""
    return PageResult(
        page=page,
        text="",
        source="ocr",
        ms=int((time.monotonic() - started) * 1000),
        error=scrub(message),
        blank=False,
        rotation=0,
    )


def _with_layout(read: PageText, geometry: PageGeometry) -> PageText:
    """The page's reading with a layout: its engine's, or the page-level one of a reader that gives
    no positions (VLMs, marker), in the upright page's pixels."""
    if read.layout is not None:
        return read
    width, height = upright_size(read.rotation, geometry.input_width, geometry.input_height)
    to_input = turned(read.rotation, geometry.input_width, geometry.input_height)
    return replace(read, layout=page_level(read.text, width, height, to_input))


def _text_layer_layout(
    document: Document, page: int, read: PageText, engine: Engine
) -> tuple[PageText, PageGeometry]:
    """A page answered from its text layer, with that layer's character boxes as its layout, in the
    pixels of the render the engine would have read."""
    policy: RenderPolicy = engine.render_policy
    geometry = document.geometry(page, policy)
    layout: PageLayout | None = None
    if read.layout is None and read.source == "text-layer" and read.text.strip():
        layout = document.text_layer_layout(page, policy)
    if layout is None:
        return _with_layout(read, geometry), geometry
    return replace(read, layout=layout), geometry


def _page_result(
    page: int, started: float, read: PageText, geometry: PageGeometry | None = None
) -> PageResult:
    return PageResult(
        page=page,
        text=read.text,
        source=read.source,
        ms=int((time.monotonic() - started) * 1000),
        error=None,
        blank=not read.text.strip(),
        rotation=read.rotation,
        meta=read.meta,
        layout=read.layout if geometry is not None else None,
        geometry=geometry,
    )


def _fail_if_nothing_read(outcomes: list[_Outcome]) -> None:
    if not outcomes or any(result.error is None for result, _ in outcomes):
        return
    details = {"pages": [{"page": result.page, "error": result.error} for result, _ in outcomes]}
    first = outcomes[0][1]
    if isinstance(first, _DOCUMENT_ERRORS) and all(type(cause) is type(first) for _, cause in outcomes):
        raise type(first)(first.message, {**first.details, **details})
    raise NoPageRead("no page could be read; see details.pages for each page's error", details)
