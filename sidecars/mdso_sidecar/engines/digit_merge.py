"""Bills: which pages are figure-dense, and how the hybrid puts the two readings of such a page together
(docs/ACCURACY.md, "Bills, line by line").

In narrow type (bills' tables) Tesseract's LSTM drops the spaces inside digit groups (`01 46 39 51 22`
read `0146395122`, `1 251` read `1251`) and the comma of 4-decimal prices (`0,2535` read `02535`), at
a confidence (91-93) that never sent those pages to rapidocr, whose detector finds those spaces and
whose recogniser keeps the commas. So a page Tesseract reads as mostly figures (`figure_dense`) is read
by rapidocr too and answered with rapidocr's text; where rapidocr in turn glued a group Tesseract kept
apart (`1890` for "1 890", `PDL:39290650746106`), `merged` puts Tesseract's space back. The two
readings are aligned character by character with whitespace left out (both are put in rows by
reading_order.rows_text, so their orders agree but where rows meet); only characters both read alike,
next to each other in both, take anything from the other reading.

Pure strings, tested without an engine.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

# Measured on the eval's pages (tools/mdso_tools/bills_study.py; docs/ACCURACY.md, "Bills, line by
# line"): Tesseract's readings of the bill pages hold 410-833 tokens of which 43-92 % hold a digit; the
# quotes' pages (scan, rotated, fax, photo, phone, mixed, digital) 176-251 tokens, 27-36 %.
DENSE_SHARE = 0.4
DENSE_MIN_TOKENS = 100
_DIGIT = re.compile(r"[0-9]")


def figure_dense(text: str) -> bool:
    """Whether Tesseract's reading `text` is a page of figures in tables (a bill): at least
    DENSE_MIN_TOKENS tokens of which at least DENSE_SHARE hold a digit."""
    tokens = text.split()
    if len(tokens) < DENSE_MIN_TOKENS:
        return False
    return sum(bool(_DIGIT.search(t)) for t in tokens) >= DENSE_SHARE * len(tokens)


def merged(first: str, second: str, spaces: str = "digits", commas: bool = True) -> str:
    """`first` (the landed use: rapidocr's page; the study also tried Tesseract's) with, between two
    of its characters that `second` (the other reader's) read alike, the space `second` has there and
    `first` lacks (spaces="digits": between two digits; "digit-side": next to a digit; "none": never),
    and (commas) the `,` or `.` `second` has between two digits where `first` has none or the other."""
    a_chars, a_at = _solid(first)
    b_chars, b_at = _solid(second)
    matcher = SequenceMatcher(None, a_chars, b_chars, autojunk=False)
    # For each solid character of `first`, its partner in `second` when both read it alike.
    partner: dict[int, int] = {}
    inserts: dict[int, str] = {}  # before first's solid character i: what to put there
    replaced: dict[int, str] = {}
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                partner[i1 + k] = j1 + k
        elif commas and 0 < i1 < len(a_chars) and _between_digits(a_chars, i1 - 1, i2):
            mark = b_chars[j1:j2]
            if tag == "insert" and mark in (",", "."):
                inserts[i1] = mark
            elif tag == "replace" and i2 - i1 == 1 and mark in (",", ".") and a_chars[i1] in ",.":
                replaced[i1] = mark
    out: list[str] = []
    previous_end = 0
    for i, at in enumerate(a_at):
        gap = first[previous_end:at]
        if i in inserts:
            out.append(gap + inserts[i])
        elif i > 0 and not gap and spaces != "none" and _second_spaced(i, partner, b_at, second):
            before, char = a_chars[i - 1], a_chars[i]
            wanted = (before.isdigit() and char.isdigit()) if spaces == "digits" else (
                before.isdigit() or char.isdigit())
            out.append(" " if wanted else "")
        else:
            out.append(gap)
        out.append(replaced.get(i, first[at]))
        previous_end = at + 1
    out.append(first[previous_end:])
    return "".join(out)


def _solid(text: str) -> tuple[str, list[int]]:
    """The text's characters without whitespace, and where each stands in the text."""
    at = [i for i, c in enumerate(text) if not c.isspace()]
    return "".join(text[i] for i in at), at


def _between_digits(chars: str, before: int, after: int) -> bool:
    return before >= 0 and after < len(chars) and chars[before].isdigit() and chars[after].isdigit()


def _second_spaced(i: int, partner: dict[int, int], b_at: list[int], second: str) -> bool:
    """Whether `second` has whitespace between its partners of first's solid characters i-1 and i,
    both read alike and next to each other there too."""
    left, right = partner.get(i - 1), partner.get(i)
    if left is None or right is None or right != left + 1:
        return False
    return b_at[right] > b_at[left] + 1 and second[b_at[left] + 1:b_at[right]].strip() == ""
