"""The `page_range` option: parsed before any work ("1-3,7", "5-"), resolved once the page count is known
into the pages a request reads (select_pages, bounded by MAX_PAGES)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import BadOption, TooManyPages

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

    def resolve(self, page_count: int) -> list[int]:
        """Sorted, de-duplicated 1-based page numbers. BadOption when a span starts past the end."""
        pages: set[int] = set()
        for start, end in self.spans:
            last = page_count if end is None else end
            if start > page_count or last > page_count:
                raise BadOption(
                    f"page_range {self.text!r} asks for pages beyond the document: "
                    f"it has {page_count} page{'s' if page_count != 1 else ''}",
                    {"option": "page_range", "value": self.text, "document_pages": page_count},
                )
            pages.update(range(start, last + 1))
        return sorted(pages)


def parse_page_range(text: str) -> PageRange:
    """Parse "1-3,7" / "5-" / "2". Raises BadOption naming the bad part."""
    parts = text.split(",")
    if not text.strip() or len(parts) > _MAX_PARTS:
        raise BadOption(
            "page_range must look like 1-3,7 or 5- (1-based pages, inclusive)",
            {"option": "page_range", "value": text},
        )
    spans: list[tuple[int, int | None]] = []
    for part in parts:
        match = _PART.fullmatch(part.strip())
        if match is None:
            raise BadOption(
                f"page_range part {part.strip()!r} is not a page or a range like 1-3 or 5-",
                {"option": "page_range", "value": text},
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
                f"page_range part {part.strip()!r} is empty or starts before page 1",
                {"option": "page_range", "value": text},
            )
        spans.append((start, end))
    return PageRange(tuple(spans), text)


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
