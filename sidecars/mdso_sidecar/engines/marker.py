"""marker (marker-pdf 1.10.2 on Surya models): converts whole documents to markdown, then splits the
answer back into one text per page so page breaks match the other services.

marker pins Pillow<11 and pypdfium2 4.30, so it runs in its own venv (.venv-marker, from
sidecars/requirements-marker.txt). Its weights are never downloaded at run time: they lie under
$MODEL_DIR/marker/ (filled by `scripts/download-models marker`), and marker, Surya and the Hugging Face
hub are pointed there, offline, before marker is imported.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import shutil
import sys
import tempfile
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import EngineUnavailable, GpuOutOfMemory, SidecarError
from ..intake import PDFIUM_LOCK, RenderPolicy
from ..log import get_logger
from ..models import Checkpoint, StoreFile, StoreWeights
from ..settings import Settings, bool_setting
from ..sniff import DocumentKind
from . import SERVICES
from .base import DocumentJob, Engine, EngineOptions, OptionSpec, PageText

log = get_logger(__name__)

MARKER_VERSION = "1.10.2"
# Its venv and its one requirement file, named in messages: the engine registry's (services.json).
VENV = SERVICES["marker"].venv
(REQUIREMENTS,) = SERVICES["marker"].requirements

DATALAB_STORE = "https://models.datalab.to"
# Every converter downloads this font on creation when FONT_PATH does not exist (marker/util.py,
# download_font), from ARTIFACT_URL; we pre-place it next to the models.
FONT_NAME = "GoNotoCurrent-Regular.ttf"
FONTS_SUBDIR = "fonts"
# What scripts/download-models fetches into $MODEL_DIR/marker, the one list of it. marker 1.10.2's
# create_model_dict() loads surya-ocr 0.17.1's checkpoints (surya/settings.py: each *_MODEL_CHECKPOINT
# setting is "s3://<path>" in Datalab's store). Surya keeps each one in <MODEL_CACHE_DIR>/<path>/ with
# a manifest.json listing its files, and only downloads when the manifest or a listed file is missing
# (surya/common/s3.py, check_manifest).
WEIGHTS = StoreWeights(
    package=f"marker-pdf {MARKER_VERSION}",
    store_url=DATALAB_STORE,
    checkpoints=(
        Checkpoint("layout", "LAYOUT_MODEL_CHECKPOINT", "layout/2025_09_23"),
        Checkpoint("recognition", "RECOGNITION_MODEL_CHECKPOINT", "text_recognition/2025_09_23"),
        Checkpoint("table_rec", "TABLE_REC_MODEL_CHECKPOINT", "table_recognition/2025_02_18"),
        Checkpoint("detection", "DETECTOR_MODEL_CHECKPOINT", "text_detection/2025_05_07"),
        Checkpoint("ocr_error", "OCR_ERROR_MODEL_CHECKPOINT", "ocr_error_detection/2025_02_18"),
    ),
    files=(StoreFile(f"{DATALAB_STORE}/artifacts/{FONT_NAME}", f"{FONTS_SUBDIR}/{FONT_NAME}"),),
    approx_size="3 GB",  # surya 0.17.1's checkpoints, approximate (not measured here)
)
CHECKPOINTS = {checkpoint.name: checkpoint.path for checkpoint in WEIGHTS.checkpoints}

# MarkdownRenderer's default page_separator: with paginate_output each page starts with
# "\n\n{<0-based page id>}<separator>\n\n" (marker/renderers/markdown.py, Markdownify.convert_div).
PAGE_SEPARATOR = "-" * 48

# marker renders every page of a call at 96 and 192 dpi before reading any: pages are sent in chunks
# so memory stays bounded on long documents and a cancelled request stops between chunks. Cross-page
# steps (tables continued on the next page) only see pages of the same chunk.
CHUNK_PAGES = 8

# Its default is the MARKER_FORCE_OCR setting's (true unless set), hence none here.
FORCE_OCR = OptionSpec(
    name="force_ocr",
    kind="bool",
    example="false",
    doc="`false` uses a page's text layer when it has one (default MARKER_FORCE_OCR=true: OCR every page).",
)


def weights_dir(settings: Settings) -> Path:
    """marker's model cache (Surya's MODEL_CACHE_DIR) and font: $MODEL_DIR/marker."""
    return WEIGHTS.root(settings)


def font_path(root: Path) -> Path:
    return root / FONTS_SUBDIR / FONT_NAME


def missing_weights(root: Path) -> list[str]:
    """What marker would have to download into `root` (paths relative to it); empty when complete.

    The same test Surya makes before it downloads (manifest.json present, every file it lists present),
    plus the font."""
    return WEIGHTS.missing(root)


def loaded_checkpoints(surya_settings: Any) -> set[str]:
    """The checkpoint paths this surya-ocr loads (its *_MODEL_CHECKPOINT settings, "s3://<path>"), to
    compare with CHECKPOINTS before loading or downloading."""
    return {str(getattr(surya_settings, c.setting)).removeprefix("s3://") for c in WEIGHTS.checkpoints}


def marker_environment(root: Path, device: str | None = None) -> dict[str, str]:
    """Environment variables that point marker, Surya and the HF hub at `root`. Read by their
    pydantic settings when first imported, so they must be set before `import marker`."""
    env = {
        "MODEL_CACHE_DIR": str(root),  # surya.settings: where s3:// checkpoints live
        "FONT_PATH": str(font_path(root)),  # marker.settings: the font download_font() checks
        "HF_HOME": str(root / "hf"),  # nothing should reach the hub; if something does, not ~/.cache
        "DISABLE_TQDM": "true",  # surya: progress bars would garble the JSON log on stderr
        "TOKENIZERS_PARALLELISM": "false",
    }
    if device is not None:
        env["TORCH_DEVICE"] = device  # marker and surya settings: batch sizes and dtypes follow it
    return env


def split_pages(markdown: str, pages: list[int]) -> dict[int, str]:
    """Split marker's paginated markdown into {1-based page: text} for the requested `pages`.

    A separator line counts only when its page id is one we asked for and comes after the previous
    one, so text that merely looks like a separator stays in its page. A requested page whose
    separator is missing gets empty text; text before the first separator goes to the first page.
    """
    wanted = {page - 1 for page in pages}
    pattern = re.compile(r"^\{(\d+)\}" + re.escape(PAGE_SEPARATOR) + r"[ \t]*$", re.MULTILINE)
    texts: dict[int, str] = {page: "" for page in pages}
    current = pages[0] if pages else None
    start, last_id = 0, -1
    preamble = ""
    for match in pattern.finditer(markdown):
        page_id = int(match.group(1))
        if page_id not in wanted or page_id <= last_id:
            continue
        chunk = markdown[start : match.start()]
        if last_id < 0:
            preamble = chunk
        elif current is not None:
            texts[current] = chunk
        current, start, last_id = page_id + 1, match.end(), page_id
    tail = markdown[start:]
    if last_id < 0:
        preamble = tail
    elif current is not None:
        texts[current] = tail
    texts = {page: text.strip() for page, text in texts.items()}
    if pages and preamble.strip():
        texts[pages[0]] = (preamble.strip() + "\n\n" + texts[pages[0]]).strip()
    return texts


@dataclass(frozen=True)
class _MarkerApi:
    """The two marker entry points a conversion uses, imported by load()."""

    converter: Any
    """marker.converters.pdf.PdfConverter (PDFs and images alike: it picks the provider by content)."""
    text_from_rendered: Any
    """marker.output.text_from_rendered: (markdown, "md", images) from a MarkdownOutput."""


def _installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


class MarkerEngine(Engine):
    name = "marker"
    # PDFs go to marker as they are (it renders them itself, at 96 and 192 dpi, and can read their text
    # layer); this policy only applies to images, which intake renders (EXIF rotation, transparency,
    # TIFF frames) before marker reads each one as a page.
    render_policy = RenderPolicy(
        pdf_dpi=192, image_max_side=4000, image_min_side=1600, image_max_upscale=2.0
    )
    # One converter over one set of models: marker documents no thread safety, and one conversion
    # already fills the GPU with its own batches.
    thread_safe = False
    whole_document = True
    page_seconds_prior = 4.0
    options = (FORCE_OCR,)
    formats = (*Engine.formats, "markdown")  # its text is markdown

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.force_ocr = bool_setting(settings.env, "MARKER_FORCE_OCR", True)  # SettingsError when bad
        self.root = weights_dir(settings)
        self.version = _installed_version("marker-pdf")
        self._device = "cpu"
        self._models: dict[str, Any] | None = None
        self._marker: _MarkerApi | None = None
        self._torch: Any = None

    def describe(self) -> str:
        return f"marker-pdf {self.version or MARKER_VERSION}"

    def device(self) -> str:
        return self._device

    def load(self) -> None:
        missing = missing_weights(self.root)
        if missing:
            shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
            raise EngineUnavailable(
                f"marker models not found in {self.root} (missing {shown}); on a machine with internet "
                f"access run `scripts/download-models marker` (MODEL_DIR={self.settings.model_dir}) and "
                f"copy {self.root} here"
            )
        if self.version is None:
            raise EngineUnavailable(
                f"marker-pdf is not installed in this Python ({sys.executable}); it runs in its own "
                f"venv: python3 -m venv {VENV} && {VENV}/bin/pip install -r {REQUIREMENTS} "
                "(scripts/bootstrap does it when marker is in ENABLED_SERVICES)"
            )
        try:
            # Not a plain import: torch may or may not be in the venv mypy checks with.
            torch: Any = importlib.import_module("torch")
        except ImportError as exc:
            raise EngineUnavailable(f"torch is not importable ({exc}); reinstall {REQUIREMENTS}") from None
        self._torch = torch
        device = "cuda" if torch.cuda.is_available() else "cpu"
        os.environ.update(marker_environment(self.root, device))
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        try:
            # Imported by name: heavy, absent from the main venv, and untyped.
            create_model_dict = importlib.import_module("marker.models").create_model_dict
            surya_settings = importlib.import_module("surya.settings").settings
            self._marker = _MarkerApi(
                converter=importlib.import_module("marker.converters.pdf").PdfConverter,
                text_from_rendered=importlib.import_module("marker.output").text_from_rendered,
            )
        except ImportError as exc:
            raise EngineUnavailable(
                f"marker-pdf cannot be imported ({exc}); reinstall {VENV} from {REQUIREMENTS}"
            ) from None
        _route_logs_to_ours()
        configured = loaded_checkpoints(surya_settings)
        if configured != set(CHECKPOINTS.values()):
            raise EngineUnavailable(
                f"this surya-ocr ({_installed_version('surya-ocr')}) loads {sorted(configured)}, not the "
                f"checkpoints marker-pdf {MARKER_VERSION} was checked against; reinstall {VENV} from "
                f"{REQUIREMENTS}"
            )
        try:
            self._models = create_model_dict(device=device)
        except Exception as exc:
            # Files present but unreadable (truncated copy, wrong files): re-downloading fixes it, a
            # restart would not. Anything else (out of memory...) is a crash, retried by the gateway.
            if not isinstance(exc, (OSError, ValueError)) and type(exc).__name__ != "SafetensorError":
                raise
            raise EngineUnavailable(
                f"marker models in {self.root} could not be loaded ({type(exc).__name__}: {exc}); "
                "they may be damaged: run `scripts/download-models marker` again and copy them here"
            ) from None
        self._device = f"cuda:{torch.cuda.current_device()}" if device == "cuda" else "cpu"
        log.info("marker models loaded", extra={"device": self._device, "models": str(self.root)})

    def _force_ocr(self, options: EngineOptions) -> bool:
        return options.get("force_ocr", "true" if self.force_ocr else "false") == "true"

    def recognize_document(self, job: DocumentJob) -> list[PageText | Exception]:
        if job.document.kind is DocumentKind.PDF:
            return self._read_pdf(job)
        return self._read_images(job)

    def _read_pdf(self, job: DocumentJob) -> list[PageText | Exception]:
        results: list[PageText | Exception] = []
        for first in range(0, len(job.pages), CHUNK_PAGES):
            if job.should_stop():
                break
            chunk = job.pages[first : first + CHUNK_PAGES]
            config = {"page_range": [page - 1 for page in chunk], "force_ocr": self._force_ocr(job.options)}
            # marker's PdfProvider and pdftext call pypdfium2 in this thread: PDFium is not thread-safe,
            # so they run under the lock every other PDFium call in this process takes.
            read = self._convert(str(job.document.path), chunk, config, PDFIUM_LOCK)
            results.extend(read)
            for page in chunk:
                job.page_done(page)
            if _fails_request(read):
                break
        return results

    def _read_images(self, job: DocumentJob) -> list[PageText | Exception]:
        # marker's ImageProvider reads one frame of a file as it is: each page is rendered by intake and
        # handed over as a PNG in a private directory next to the spool.
        results: list[PageText | Exception] = []
        workdir = Path(tempfile.mkdtemp(prefix="mdso-marker-", dir=self.settings.tmp_base))
        try:
            for page in job.pages:
                if job.should_stop():
                    break
                path = workdir / f"page-{page}.png"
                try:
                    image = job.document.render(page, self.render_policy)
                    try:
                        image.save(path, "PNG", compress_level=1)
                    finally:
                        image.close()
                except Exception as exc:  # noqa: BLE001 - the page fails, the others go on
                    results.append(exc)
                else:
                    # The image is page 1 of its own file; its text belongs to `page`.
                    read = self._convert(str(path), [1], {}, nullcontext())
                    results.extend(read)
                    path.unlink()
                    if _fails_request(read):
                        break
                job.page_done(page)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return results

    def _convert(
        self, path: str, pages: list[int], config: dict[str, Any], lock: AbstractContextManager[Any]
    ) -> list[PageText | Exception]:
        """One marker call over `pages` (1-based) of `path`: a text per page, or the error for all."""
        assert self._models is not None and self._marker is not None, "load() has not succeeded"
        full_config = {
            **config,
            "paginate_output": True,
            "page_separator": PAGE_SEPARATOR,
            # Invoice numbers and SIRET live in headers and footers: keep them, like the other services.
            "keep_pageheader_in_output": True,
            "keep_pagefooter_in_output": True,
            "extract_images": False,  # text only: no image files, no ![](...) links
            "pdftext_workers": 1,  # >1 forks worker processes from this (CUDA) process
            "disable_tqdm": True,
        }
        try:
            # A converter per call, on the shared models, as marker's own server does: its config
            # (page_range, force_ocr) is fixed when it is built.
            converter = self._marker.converter(artifact_dict=self._models, config=full_config)
            with lock:
                rendered = converter(path)
            markdown, _, _ = self._marker.text_from_rendered(rendered)
        except Exception as exc:  # noqa: BLE001 - reported on each page of the chunk
            out_of_memory = getattr(self._torch.cuda, "OutOfMemoryError", ())
            if isinstance(exc, out_of_memory):
                self._torch.cuda.empty_cache()  # the next request starts from a clean GPU
                exc = GpuOutOfMemory(
                    f"the GPU ran out of memory while marker read pages {pages[0]}-{pages[-1]}; retry "
                    "with a smaller page_range, or when the GPU is less busy",
                    {"pages": pages},
                )
            return [exc for _ in pages]
        methods = {
            int(stat["page_id"]): stat.get("text_extraction_method")
            for stat in rendered.metadata.get("page_stats", [])
        }
        texts = split_pages(str(markdown), pages)
        return [
            PageText(
                text=texts[page],
                source="text-layer" if methods.get(page - 1) == "pdftext" else "ocr",
            )
            for page in pages
        ]


def _fails_request(read: list[PageText | Exception]) -> bool:
    return any(isinstance(item, SidecarError) and item.fails_request for item in read)


def _route_logs_to_ours() -> None:
    """marker and surya install their own plain-text stderr handlers on import; send their records
    through the root logger instead, so the gateway reads one JSON object per line."""
    for name in ("marker", "surya"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True
