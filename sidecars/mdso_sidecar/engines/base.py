"""The Engine interface: what every OCR engine module implements, written as a contract.

The pipeline owns threads, cancellation, deadlines and page bookkeeping; an engine only turns a page
image (or, for whole-document engines, a document) into text. Engines never import the web framework.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from PIL import Image

from ..errors import BadOption
from ..intake import Document, RenderPolicy, TextLayer
from ..layout import PageGeometry, PageLayout
from ..output_format import FORMAT_OPTION
from ..page_range import PAGE_RANGE_OPTION
from ..settings import FALSE_WORDS, TRUE_WORDS, Settings

EngineOptions = Mapping[str, str]
"""Validated engine options (query parameters other than page_range), as returned by parse_options; the
pipeline-level `format` is added under output_format.FORMAT_OPTION when the request gives one (engines
read it through output_format.wants_layout)."""

OptionKind = Literal["enum", "bool", "int", "str"]
_OPTION_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_DIGITS = re.compile(r"[0-9]{1,18}")


@dataclass(frozen=True)
class OptionSpec:
    """One request option of an engine (a query parameter of POST /ocr/{service}), declared beside the
    engine that reads it, as OCRmyPDF's plugins declare theirs. Everything else comes from these
    declarations: the engine's validation (Engine.parse_options), the contract the sidecar prints
    (contract.py) and, from that, the gateway's validation and its OpenAPI document. Adding an option
    to an engine is one edit: its OptionSpec, in the engine's `options`.

    Values travel as strings. parse() gives the value the engine reads: an enum's choice, "true" or
    "false" for a bool (whatever word the client used), an int's digits without leading zeros, a str
    as it came (trimmed).
    """

    name: str
    kind: OptionKind
    doc: str
    """What it does, for the API documentation (markdown, one paragraph; the default said in it when a
    setting decides it)."""
    example: str
    """A value the engine takes, shown in the documentation (never filled in for the user)."""
    default: str | None = None
    """The value in force when the option is absent; None when a setting decides it."""
    choices: tuple[str, ...] = ()
    """enum: the values it takes."""
    pattern: str | None = None
    """str: a regular expression every value matches in full, written so that Python and JavaScript
    read it alike, in linear time (anchored, character classes and quantifiers: no back-references,
    look-arounds or nested quantifiers); the gateway checks it too. None: any value."""
    minimum: int | None = None
    """int: the smallest value it takes."""
    maximum: int | None = None
    """int: the largest value it takes."""

    def __post_init__(self) -> None:
        # A declaration the gateway could not enforce, or an example the engine would refuse, is a bug
        # found when the engine module is imported (tests/test_contract.py imports them all).
        if not _OPTION_NAME.fullmatch(self.name) or self.name in (PAGE_RANGE_OPTION, FORMAT_OPTION):
            raise ValueError(
                f"option name {self.name!r}: lower-case letters, digits and _, not page_range or format"
            )
        if (self.kind == "enum") != bool(self.choices):
            raise ValueError(f"option {self.name}: choices are an enum's, and an enum has some")
        anchored = self.pattern is None or (self.pattern.startswith("^") and self.pattern.endswith("$"))
        if (self.pattern is not None and self.kind != "str") or not anchored:
            raise ValueError(f"option {self.name}: a pattern is a str's, anchored with ^ and $")
        bounded = self.minimum is not None and self.maximum is not None and 0 <= self.minimum <= self.maximum
        if (self.kind == "int") != bounded:
            raise ValueError(f"option {self.name}: an int has bounds (0 <= minimum <= maximum), only an int")
        if not self.doc.strip():
            raise ValueError(f"option {self.name}: say what it does (doc)")
        for value in (self.example, self.default):
            if value is not None:
                self.parse(value)

    def parse(self, raw: str) -> str:
        """The value as the engine reads it; BadOption naming the option and what it takes otherwise."""
        value = raw.strip()
        if self.kind == "enum":
            if value in self.choices:
                return value
            *others, last = self.choices
            expected = f"{', '.join(others)} or {last}" if others else last
            raise self._bad(raw, f"expected {expected}", {"accepted": list(self.choices)})
        if self.kind == "bool":
            word = value.lower()
            if word in TRUE_WORDS or word in FALSE_WORDS:
                return "true" if word in TRUE_WORDS else "false"
            raise self._bad(raw, "expected true or false", {"accepted": ["true", "false"]})
        if self.kind == "int":
            assert self.minimum is not None and self.maximum is not None
            number = value.lstrip("0") or "0"
            if _DIGITS.fullmatch(number) and self.minimum <= int(number) <= self.maximum:
                return number
            raise self._bad(raw, f"expected a whole number from {self.minimum} to {self.maximum}", {})
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise self._bad(raw, f"not of the expected form, e.g. {self.example}", {})
        return value

    def _bad(self, raw: str, expected: str, details: dict[str, Any]) -> BadOption:
        shown = raw[:100]
        details = {"option": self.name, "value": shown, **details}
        return BadOption(f"{self.name} {shown!r}: {expected}", details)

    def describe(self) -> dict[str, Any]:
        """This declaration in the sidecar's contract (contract.py): only the fields of its kind, the
        example and default as parse() reads them ("true" for a bool declared "yes")."""
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.kind,
            "doc": self.doc,
            "example": self.parse(self.example),
            "default": None if self.default is None else self.parse(self.default),
        }
        if self.kind == "enum":
            out["choices"] = list(self.choices)
        elif self.kind == "int":
            out.update(minimum=self.minimum, maximum=self.maximum)
        elif self.kind == "str":
            out["pattern"] = self.pattern
        return out


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
    layout: PageLayout | None = None
    """Where the text stands on the page (layout.py): computed only when the request asks for it
    (output_format.wants_layout); None otherwise, and from engines that know no positions (the
    pipeline then gives the page-level layout)."""


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
    layout: PageLayout | None = None
    """Only when the request asked for a layout (format=json...)."""
    geometry: PageGeometry | None = None
    """The render the engine was handed (size, dpi): with layout only."""


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

    options: ClassVar[tuple[OptionSpec, ...]] = ()
    """The request options this engine takes, besides page_range and format (the pipeline's): see
    OptionSpec."""

    formats: ClassVar[tuple[str, ...]] = ("text", "json", "hocr", "alto", "pdf")
    """The answer formats this engine offers (output_format.py): every engine gives text and a layout
    (page-level at least); engines that write markdown add "markdown"."""

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

    def parse_options(self, params: Mapping[str, str]) -> EngineOptions:
        """Validate the request's options (query parameters except page_range) against `options`, then
        check_options(), before the upload is read: BadOption naming the parameter for an unknown one
        or a bad value. Called only once load() succeeded. Engines declare options, they do not
        override this."""
        specs = {spec.name: spec for spec in self.options}
        parsed: dict[str, str] = {}
        for key, value in params.items():
            spec = specs.get(key)
            if spec is None:
                accepted = [PAGE_RANGE_OPTION, FORMAT_OPTION, *specs]
                raise BadOption(
                    f"unknown option {key[:40]!r}; {self.name} accepts: {', '.join(accepted)}",
                    {"option": key[:40], "accepted": accepted},
                )
            parsed[key] = spec.parse(value)
        return self.check_options(parsed)

    def check_options(self, options: dict[str, str]) -> EngineOptions:
        """What the declarations cannot say about the request's options, each already parsed by its
        OptionSpec (a language installed on this machine): raise BadOption naming the option. May
        rewrite values. Default: nothing more to check."""
        return options

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
