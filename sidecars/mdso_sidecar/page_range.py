"""The `page_range` option: parsed before any work ("1-3,7", "5-"), resolved once the page count is known
into the pages a request reads (select_pages, bounded by MAX_PAGES). The one parser of a page range: the
gateway checks only a value's length and characters (PAGE_RANGE_PATTERN, from the contract) and relays
this module's 400s."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import BadOption, TooManyPages

PAGE_RANGE_OPTION = "page_range"
# The public API's other spelling: `pages=1-3,7` selects pages too (the gateway keeps `pages=true`, the
# per-page detail, to itself, and forwards a range under the name the client used, which errors name).
PAGE_RANGE_NAMES = (PAGE_RANGE_OPTION, "pages")
# The characters a range is made of. Checked first, and by the gateway before it forwards a range.
PAGE_RANGE_PATTERN = r"^[0-9 ,-]+$"
PAGE_RANGE_EXAMPLE = "1-3,7"
PAGE_RANGE_DOC = (
    "OCR only these pages (1-based, inclusive; `5-` = page 5 to the end; spans separated by commas). "
    "A range outside the document answers 400."
)

# Matched against a stripped part: no two runs of spaces meet, so no input makes it backtrack.
_PART = re.compile(r"(\d+)(?:\s*(-)\s*(\d*))?")
_MAX_PARTS = 1000
# Python refuses int() of more than 4300 digits (ValueError: was a 500). No document has a billion
# pages: a longer number is read as this, which is past the end of any document (400 naming it).
_MAX_DIGITS = 9
_BEYOND_ANY_DOCUMENT = 10**_MAX_DIGITS


def _page_number(digits: str) -> int:
    significant = digits.lstrip("0") or "0"
    return int(significant) if len(significant) <= _MAX_DIGITS else _BEYOND_ANY_DOCUMENT


@dataclass(frozen=True)
class PageRange:
    """Inclusive 1-based spans; `end` None means "to the last page"."""

    spans: tuple[tuple[int, int | None], ...]
    text: str
    option: str = PAGE_RANGE_OPTION
    """The name the request used (errors name it)."""

    def resolve(self, page_count: int) -> list[int]:
        """Sorted, de-duplicated 1-based page numbers. BadOption when a span starts past the end."""
        pages: set[int] = set()
        for start, end in self.spans:
            last = page_count if end is None else end
            if start > page_count or last > page_count:
                raise BadOption(
                    f"{self.option} {self.text[:100]!r} asks for pages beyond the document: "
                    f"it has {page_count} page{'s' if page_count != 1 else ''}",
                    {"option": self.option, "value": self.text[:100], "document_pages": page_count},
                )
            pages.update(range(start, last + 1))
        return sorted(pages)


def describe_page_range() -> dict[str, Any]:
    """The page range option in the sidecar's contract (contract.py)."""
    return {
        "names": list(PAGE_RANGE_NAMES),
        "doc": PAGE_RANGE_DOC,
        "example": PAGE_RANGE_EXAMPLE,
        "pattern": PAGE_RANGE_PATTERN,
    }


def take_page_range(params: dict[str, str]) -> PageRange | None:
    """Removes the page range from a request's `params` (under either of PAGE_RANGE_NAMES) and parses
    it; None when there is none. BadOption when it is given twice or is not a page range."""
    given = [name for name in PAGE_RANGE_NAMES if name in params]
    if len(given) > 1:
        raise BadOption(
            f"give the page range once (in {' or '.join(PAGE_RANGE_NAMES)}), not both",
            {"option": given[-1]},
        )
    return parse_page_range(params.pop(given[0]), given[0]) if given else None


def parse_page_range(text: str, option: str = PAGE_RANGE_OPTION) -> PageRange:
    """Parse "1-3,7" / "5-" / "2". Raises BadOption naming `option` (the name the request used) and the
    bad part."""
    shown = text[:100]
    parts = text.split(",")
    if not text.strip() or len(parts) > _MAX_PARTS or not re.fullmatch(PAGE_RANGE_PATTERN, text):
        raise BadOption(
            f"{option} must look like 1-3,7 or 5- (1-based pages, inclusive)",
            {"option": option, "value": shown},
        )
    spans: list[tuple[int, int | None]] = []
    for part in parts:
        match = _PART.fullmatch(part.strip())
        if match is None:
            raise BadOption(
                f"{option} part {part.strip()[:40]!r} is not a page or a range like 1-3 or 5-",
                {"option": option, "value": shown},
            )
        start = _page_number(match.group(1))
        if match.group(2) is None:
            end: int | None = start
        elif match.group(3):
            end = _page_number(match.group(3))
        else:
            end = None
        if start < 1 or (end is not None and end < start):
            raise BadOption(
                f"{option} part {part.strip()[:40]!r} is empty or starts before page 1",
                {"option": option, "value": shown},
            )
        spans.append((start, end))
    return PageRange(tuple(spans), text, option)


def select_pages(page_count: int, page_range: PageRange | None, max_pages: int) -> list[int]:
    """The 1-based pages to read. TooManyPages when more than max_pages would be read: the limit
    bounds work, so a long document with a page_range inside the limit is accepted."""
    pages = page_range.resolve(page_count) if page_range else list(range(1, page_count + 1))
    if len(pages) > max_pages:
        raise TooManyPages(
            f"the document has {page_count} pages, more than the {max_pages} allowed (MAX_PAGES); "
            "split it or send a page_range",
            {"document_pages": page_count, "requested_pages": len(pages), "max_pages": max_pages},
        )
    return pages
