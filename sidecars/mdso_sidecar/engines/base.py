"""The Engine interface: what every OCR engine module implements, written as a contract.

The pipeline owns threads, cancellation, deadlines and page bookkeeping; an engine only turns a page
image (or, for whole-document engines, a document) into text. Engines never import the web framework.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from PIL import Image

from ..errors import BadOption
from ..intake import Document, RenderPolicy, TextLayer
from ..settings import Settings

EngineOptions = Mapping[str, str]
"""Validated engine options (query parameters other than page_range), as returned by parse_options."""


@dataclass(frozen=True)
class PageText:
    """What an engine read on one page."""

    text: str
    rotation: int = 0
    """Clockwise degrees (0, 90, 180, 270) the engine turned the page to make it upright."""
    source: str = "ocr"
    """"ocr", or "text-layer" when the text came from the PDF itself; engines with fallbacks may
    name the reader that produced the page."""
    meta: Mapping[str, Any] | None = None
    """Engine-specific facts about the page (olmOCR's front matter: primary_language, is_table...),
    answered as the page's "meta" object; None when the engine has none."""


@dataclass(frozen=True)
class PageResult:
    """One page of the answer. Exactly one of (text, error) is meaningful: a failed page has error set
    and empty text."""

    page: int
    text: str
    source: str
    ms: int
    error: str | None
    blank: bool
    rotation: int
    meta: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class DocumentJob:
    """Everything a whole-document engine gets (see Engine.recognize_document)."""

    document: Document
    pages: list[int]
    """1-based pages to read, ascending."""
    options: EngineOptions
    should_stop: Callable[[], bool]
    """True once the client left or the deadline passed: start no further page."""
    page_done: Callable[[int], None]
    """Call with the page number each time a page is finished (progress shown by /health)."""


class Engine(ABC):
    """One OCR engine, loaded once per sidecar process and shared by every request.

    Lifecycle: constructed with the validated Settings (cheap: no model loading, no heavy imports),
    then load() once in a background thread while /health answers "starting", then used by many
    requests at once until the process exits.

    Two ways to read a document:
    - page engines (default): implement recognize_page(). The pipeline renders each page with
      `render_policy` and calls recognize_page() from its worker threads, up to
      max_parallel_pages() pages at once across all requests.
    - whole-document engines (marker-like converters): set `whole_document = True` and implement
      recognize_document(); the pipeline calls it once per request from one worker thread.
    """

    name: ClassVar[str]
    """Service name as in ENABLED_SERVICES and --service."""

    render_policy: ClassVar[RenderPolicy] = RenderPolicy()
    """How pages are rasterised for this engine (resolution, size bounds, colour)."""

    thread_safe: ClassVar[bool] = True
    """False when recognize_page() must never run twice at once (one model instance, a GPU that can
    only take one batch): the pipeline then reads one page at a time, across all requests."""

    whole_document: ClassVar[bool] = False

    page_seconds_prior: ClassVar[float] = 2.0
    """A page's time on one thread before any is measured (admission's expected wait starts from it;
    the sidecar's own measure replaces it within a few pages)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def max_parallel_pages(self) -> int:
        """How many pages may be recognised at once (size of the worker pool)."""
        return self.settings.ocr_threads if self.thread_safe else 1

    @abstractmethod
    def load(self) -> None:
        """Load models/weights. Runs once, in a background thread, after the server listens.

        Raise errors.EngineUnavailable(message) when the engine cannot work here as configured
        (weights or language data missing, no GPU): the message names what was searched and how to
        fix it, and the sidecar keeps running in state "unavailable". Any other exception is a crash:
        the sidecar exits 1 and the gateway restarts it with backoff.
        """

    @abstractmethod
    def describe(self) -> str:
        """Model description for /health and answers, e.g. "tesseract 5.5.4 (fra+eng)"."""

    def device(self) -> str:
        """Where inference runs: "cpu", "cuda:0"..."""
        return "cpu"

    def languages(self) -> list[str]:
        """Languages this engine can read here (empty when it does not select languages)."""
        return []

    def parse_options(self, params: Mapping[str, str]) -> EngineOptions:
        """Validate the request's options (query parameters except page_range), before the upload is
        read. Raise BadOption naming the parameter for an unknown one or a bad value. Called only
        once load() succeeded. Default: the engine takes no option."""
        for key in params:
            raise BadOption(
                f"unknown option {key!r}; {self.name} accepts: page_range",
                {"option": key, "accepted": ["page_range"]},
            )
        return {}

    def wants_text_layer(self, options: EngineOptions) -> bool:
        """True when this request may use the pages' own text (PDF text layer) instead of OCR: the
        pipeline then calls from_text_layer() for each page before rendering it. Default: never."""
        return False

    def from_text_layer(self, layer: TextLayer | None, options: EngineOptions) -> PageText | None:
        """Decide from a page's text layer (None: the document has none, e.g. an image): return the
        page's answer to skip OCR, or None to render and recognise the page. Runs in the pipeline's
        render thread; must be cheap (no OCR here)."""
        return None

    def recognize_page(self, image: Image.Image, options: EngineOptions) -> PageText:
        """Read one rendered page. Runs in a pipeline worker thread, possibly concurrently with other
        calls when thread_safe is True; must not start threads or processes of its own (the pipeline
        owns parallelism). Must not keep the image. Raise on failure: the page is reported with an
        error and the other pages go on, unless the error's `fails_request` is set (GPU out of
        memory, model server down): then no further page is started and the request fails with it."""
        raise NotImplementedError(f"{type(self).__name__} reads whole documents")

    def recognize_rendered(
        self, image: Image.Image, options: EngineOptions, render: Callable[[RenderPolicy], Image.Image]
    ) -> PageText:
        """Read one page rendered with `render_policy`; `render(policy)` renders the same page again with
        another policy, for engines that combine readers wanting different renders (hybrid.py). The
        caller closes `image`; an image from `render` is the engine's to close. Default:
        recognize_page(image, options)."""
        return self.recognize_page(image, options)

    def recognize_document(self, job: DocumentJob) -> list[PageText | Exception]:
        """Read the job's pages in one go (whole_document engines only). Runs in one pipeline worker
        thread. Returns one entry per job.pages item, in order: the page's text, or the exception that
        made that page fail. Check job.should_stop() between pages and stop early when it is true
        (pages not read are then dropped by the pipeline); call job.page_done(page) as pages finish.
        Render pages with job.document.render(page, self.render_policy) or read job.document itself.
        """
        raise NotImplementedError(f"{type(self).__name__} reads page by page")
