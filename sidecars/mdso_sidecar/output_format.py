"""The `format` option: what shape a request's answer takes. Like page_range it is the pipeline's, not an
engine's (no engine declares it as an OptionSpec): the sidecar takes it out of the query before the
engine parses its own options (take_format), then hands it to the engine inside its options under
FORMAT_OPTION, where engines read it through wants_layout(). The default, `text`, is never put there: an
engine that is not asked for a layout does exactly what it did before the option existed.

- text: the text alone (the default; the client contract's answer).
- json: the text, and each page's layout (layout.py): blocks → lines → words with boxes and confidences.
- markdown: the markdown of engines that produce it (marker, nanonets, olmOCR): Engine.formats says.
- hocr, alto, pdf: structured outputs built from the layout (render/, not here yet: refused with 400).
"""

from __future__ import annotations

from collections.abc import Mapping

from .errors import BadOption

FORMAT_OPTION = "format"
FORMATS = ("text", "json", "markdown", "hocr", "alto", "pdf")
DEFAULT_FORMAT = "text"
LAYOUT_FORMATS = frozenset({"json", "hocr", "alto", "pdf"})
"""The formats built from each page's layout: an engine computes one only for these."""
NOT_YET = frozenset({"hocr", "alto", "pdf"})
"""Accepted by the gateway, not built here yet: refused with a 400 saying so."""
FORMAT_DOC = (
    "The answer's shape: `text` (default) the text alone; `json` adds each page's layout (blocks, lines, "
    "words with boxes and confidences); `markdown` the markdown of services that write it."
)


def take_format(params: dict[str, str], offered: tuple[str, ...], service: str) -> str | None:
    """Removes `format` from the request's options and checks it against FORMATS and what `service`
    offers; None when absent (the default). BadOption naming the accepted values otherwise."""
    raw = params.pop(FORMAT_OPTION, None)
    if raw is None:
        return None
    value = raw.strip().lower()
    shown = raw[:40]
    if value not in FORMATS:
        raise BadOption(
            f"format {shown!r}: expected one of {', '.join(FORMATS)}",
            {"option": FORMAT_OPTION, "value": shown, "accepted": list(FORMATS)},
        )
    if value in NOT_YET:
        raise BadOption(
            f"format={value} is not available yet",
            {"option": FORMAT_OPTION, "value": value, "accepted": [f for f in offered if f not in NOT_YET]},
        )
    if value not in offered:
        available = [f for f in offered if f not in NOT_YET]
        raise BadOption(
            f"format={value} is not offered by {service}; it offers {', '.join(available)}",
            {"option": FORMAT_OPTION, "value": value, "accepted": available},
        )
    return value


def requested_format(options: Mapping[str, str]) -> str:
    """The format a request asked for (its engine options carry it when it is not the default)."""
    return options.get(FORMAT_OPTION, DEFAULT_FORMAT)


def wants_layout(options: Mapping[str, str]) -> bool:
    """Whether the engine reading a page for these options must compute its layout."""
    return options.get(FORMAT_OPTION) in LAYOUT_FORMATS
