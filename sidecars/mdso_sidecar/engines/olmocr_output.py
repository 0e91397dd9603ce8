"""olmOCR's answer: a YAML front matter (primary_language, is_rotation_valid, rotation_correction,
is_table, is_diagram) then the page as markdown. Parsed here without a YAML library: the model writes
five flat `key: value` lines, and anything else is an invalid answer to retry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

FIELDS = ("primary_language", "is_rotation_valid", "rotation_correction", "is_table", "is_diagram")
ROTATIONS = (0, 90, 180, 270)

_FRONT_MATTER = re.compile(r"\A\s*---[ \t]*\n(?P<yaml>.*?)\n---[ \t]*(?:\n|\Z)(?P<text>.*)\Z", re.DOTALL)
_LINE = re.compile(r"^(?P<key>[A-Za-z_]+)\s*:\s*(?P<value>.*?)\s*$")


class FrontMatterError(ValueError):
    """The answer does not start with a valid front matter."""


@dataclass(frozen=True)
class PageAnswer:
    primary_language: str | None
    is_rotation_valid: bool
    rotation_correction: int
    is_table: bool
    is_diagram: bool
    text: str

    def meta(self) -> dict[str, Any]:
        return {
            "primary_language": self.primary_language,
            "is_rotation_valid": self.is_rotation_valid,
            "rotation_correction": self.rotation_correction,
            "is_table": self.is_table,
            "is_diagram": self.is_diagram,
        }


def _bool(key: str, raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("true", "yes"):
        return True
    if lowered in ("false", "no"):
        return False
    raise FrontMatterError(f"{key}: expected true or false, got {raw!r}")


def parse_answer(answer: str) -> PageAnswer:
    """Split and validate the answer; FrontMatterError says what is wrong."""
    match = _FRONT_MATTER.match(answer)
    if match is None:
        raise FrontMatterError("no front matter (--- ... ---) at the start of the answer")
    values: dict[str, str] = {}
    for line in match["yaml"].splitlines():
        if not line.strip():
            continue
        field = _LINE.match(line.strip())
        if field is None or field["key"] not in FIELDS:
            raise FrontMatterError(f"unexpected front matter line {line.strip()[:60]!r}")
        values[field["key"]] = field["value"].strip("'\"")
    missing = [key for key in FIELDS if key not in values]
    if missing:
        raise FrontMatterError(f"front matter lacks {', '.join(missing)}")
    raw_rotation = values["rotation_correction"]
    try:
        rotation = int(raw_rotation)
    except ValueError:
        raise FrontMatterError(f"rotation_correction: not a number: {raw_rotation!r}") from None
    if rotation not in ROTATIONS:
        raise FrontMatterError(f"rotation_correction: expected 0, 90, 180 or 270, got {rotation}")
    language = values["primary_language"]
    return PageAnswer(
        primary_language=None if language.lower() in ("", "null", "none", "~") else language,
        is_rotation_valid=_bool("is_rotation_valid", values["is_rotation_valid"]),
        rotation_correction=rotation,
        is_table=_bool("is_table", values["is_table"]),
        is_diagram=_bool("is_diagram", values["is_diagram"]),
        text=match["text"].strip(),
    )
