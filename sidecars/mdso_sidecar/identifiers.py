"""The identifiers a French quote carries (SIREN, SIRET, intra-community VAT number, IBAN, RGE
certificate numbers, postal codes), found in a page's words, with whether their check digits hold and,
when they do not, the readings that one plausible OCR confusion away would make them hold.

The reading itself is never rewritten: `raw` is what the reader saw, `normalized` the same characters
without separators; corrections are offered beside it as `candidates`.

Answer shape (`Identifier.to_json()`, one object per identifier, listed per page as `identifiers`):

    {
      "kind": "siret",               # siren | siret | tva_fr | iban | rge | postal_code
      "raw": "732 829 32O 00074",    # as read: its words joined by one space
      "normalized": "73282932O00074",  # as read, separators removed (an IBAN upper-cased)
      "valid": false,                # check digits hold (true/false); null where no check exists (rge)
      "check": "luhn",               # luhn | la-poste | tva-key | mod97 | departement | shape
      "label": "SIRET",              # the context word read before it on its line, or null
      "box": [120, 340, 610, 372],   # union of the words it spans (page pixels); null from plain text
      "conf": 0.91,                  # mean confidence (0-1) of those words; null from plain text
      "conf_min": 0.62,              # the least sure of them
      "candidates": [                # readings one OCR confusion away that pass the check, best first
        {"value": "73282932000074", "edits": ["O→0 at 9"]}
      ],
      "ambiguous": false             # true: several candidates are equally plausible; none is picked
    }

Checks: SIREN (9 digits) and SIRET (14) carry a Luhn key, except the SIRETs of La Poste (SIREN
356000000) other than its head office 356 000 000 00048, whose digits sum to a multiple of 5 instead
(the rule INSEE applies; python-stdnum's fr.siret does the same). The French VAT number is FR + a
two-digit key + the SIREN, key = (12 + 3 × (SIREN mod 97)) mod 97, the SIREN itself Luhn-valid. An
IBAN (ISO 13616) has its country's length (FR 27) and is 1 mod 97 once its first four characters are
moved to the end and letters read as 10..35. A postal code's first digits must be a département:
01–95 (Corsica's 2A/2B are 20xxx in postal codes), 97x or 98x. RGE certificate numbers have no check
digit, only a shape (`check: "shape"`, `valid: null`): Qualibat's `E-E` + 5–6 digits (`E` + digits
after an RGE/Qualibat label), Qualit'EnR's
family prefix and a number (`QPV/12345`, `QPAC/…`, `QB/…`, `QS/…`, `QV/…`); see docs/IDENTIFIERS.md.

Corrections: the confusions OCR makes in numbers — a letter read for a digit (O/o/D/Q→0, I/l/|/i/!→1,
Z→2, S/s→5, G/b→6, B→8, g→9) — are all undone together (a digit field cannot hold a letter), and at
most one more edit is tried: a doubled digit read once, or one digit read twice, when the length is
one short or one long. A space or a dot inside a number is tolerated when reading it, not a
correction. Each candidate passes the check; when several do at the same cost, all are listed and
`ambiguous` is true. A reading whose check holds gets no candidate.

Corroboration: a quote prints its SIREN several times (SIRET, VAT number, RCS line). A SIREN, SIRET or
VAT number that fails its check, whose SIREN is within two digits of the SIREN of a valid reading on
the same page, gets that reading's SIREN as its first candidate (when it passes its own check), which
also settles an ambiguity: this recovers the wrong digit that a check digit alone can only flag.

Nothing here imports an engine or a heavy package: the eval (tools/mdso_tools) scores plain texts
with `find_in_text`.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from .layout import Box, PageLayout

Kind = Literal["siren", "siret", "tva_fr", "iban", "rge", "postal_code"]
KINDS: tuple[Kind, ...] = ("siren", "siret", "tva_fr", "iban", "rge", "postal_code")

LA_POSTE_SIREN = "356000000"
LA_POSTE_HEAD_OFFICE = "35600000000048"

# A letter a reader puts where a digit is printed, and the digit it stands for.
DIGIT_FOR: dict[str, str] = {
    "O": "0", "o": "0", "D": "0", "Q": "0",
    "I": "1", "l": "1", "|": "1", "i": "1", "!": "1",
    "Z": "2", "z": "2",
    "S": "5", "s": "5",
    "G": "6", "b": "6",
    "B": "8",
    "g": "9",
}
# Characters that may stand inside one number as read: the digits and the letters above.
_DIGITISH = "0-9" + re.escape("".join(DIGIT_FOR))
# A group of digits (maybe misread as letters) holding at least one real digit, not glued to a word.
_GROUP = re.compile(rf"(?<![0-9A-Za-z])[{_DIGITISH}]*[0-9][{_DIGITISH}]*(?![0-9A-Za-z])")
# What may separate the groups of one number: one space (or no-break space) or one dot.
_SEPARATORS = " .\u00a0\u202f"

# Context words, matched case-insensitively in the text just before a number on its line; the
# nearest one wins. Positive ones name the identifier; negative ones name something else that is
# also a long number (a phone, a meter, an account) and keep an unlabelled run from being reported.
_LABELS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("SIRET", re.compile(r"\bS[I1l]RET\b", re.IGNORECASE)),
    ("SIREN", re.compile(r"\bS[I1l]REN\b", re.IGNORECASE)),
    ("RCS", re.compile(r"\bR\.?\s?C\.?\s?S\b\.?", re.IGNORECASE)),
    ("TVA", re.compile(r"\bTVA\b|\bintra-?\s?communautaire\b|\bintracom\b|\bVAT\b", re.IGNORECASE)),
    ("IBAN", re.compile(r"\bIBAN\b", re.IGNORECASE)),
    ("RGE", re.compile(r"\bRGE\b|\bQualibat\b|\bQualit'?.?EnR\b|\bQuali(?:PAC|PV|Bois|Sol)\b",
                       re.IGNORECASE)),
)
_NOT_AN_ID = re.compile(
    r"\b(?:t[ée]l|t[ée]l[ée]phone|fax|mobile|portable|ligne|PDL|PRM|PCE|client|compte|facture|mandat|"
    r"r[ée]f|r[ée]f[ée]rence|commande|contrat|capital|assurance|police|s[ée]rie|compteur|index|"
    r"d[ée]cennale|ICS)\b",
    re.IGNORECASE,
)
_LOOKBACK = 48  # characters before a number searched for its label
# A SEPA creditor id (ICS) looks like a VAT number with a business code inside: FR12ZZZ345678.
_SEPA_CREDITOR = re.compile(r"^FR..[A-Z]{3}")

_TVA_HEAD = re.compile(r"(?<![0-9A-Za-z])F\s?R(?=[ .\u00a0]?[" + _DIGITISH + r"])")
# ISO 13616 lengths of the countries a French quote's IBAN may come from.
IBAN_LENGTHS: dict[str, int] = {
    "FR": 27, "MC": 27, "DE": 22, "BE": 16, "ES": 24, "IT": 27, "LU": 20, "CH": 21, "GB": 22,
    "NL": 18, "PT": 25, "AT": 20, "IE": 22,
}
_IBAN_HEAD = re.compile(
    r"(?<![0-9A-Za-z])(" + "|".join(IBAN_LENGTHS) + r")\s?([" + _DIGITISH + r"]{2})(?=[ .\u00a0]?[0-9A-Z])")
_DIGITISH_RUN = re.compile(rf"[{_DIGITISH}]+")
_ALNUM_GROUP = re.compile(r"[0-9A-Za-z|]+")
_QUALIBAT = re.compile(r"(?<![0-9A-Za-z])E\s?-\s?E\s?([" + _DIGITISH + r"]{5,6})(?![0-9A-Za-z])")
# The same number printed without its "E-" after an RGE or Qualibat label: "RGE n° E123456".
_QUALIBAT_SHORT = re.compile(r"(?<![0-9A-Za-z-])E([" + _DIGITISH + r"]{5,6})(?![0-9A-Za-z])")
_QUALITENR = re.compile(
    r"(?<![0-9A-Za-z])(QPAC|QPV|QB|QS|QV)\s?/\s?([" + _DIGITISH + r"]{3,7})(?![0-9A-Za-z])")
_POSTAL = re.compile(r"(?<![0-9A-Za-z,.])([0-9]{5})(?=\s+[A-ZÉÈ][A-Za-zÀ-ÿ'-]{1,})")
# A number followed by a decimal comma is an amount, whatever its length.
_AMOUNT_TAIL = re.compile(r"^,[0-9]")


# -- checks ------------------------------------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def siren_ok(value: str) -> bool:
    return len(value) == 9 and luhn_ok(value)


def siret_ok(value: str) -> bool:
    if len(value) != 14 or not value.isdigit():
        return False
    if value.startswith(LA_POSTE_SIREN) and value != LA_POSTE_HEAD_OFFICE:
        return sum(int(c) for c in value) % 5 == 0
    return luhn_ok(value)


def tva_key(siren: str) -> str:
    """The two-digit key of the French VAT number of a SIREN."""
    return f"{(12 + 3 * (int(siren) % 97)) % 97:02d}"


def tva_ok(value: str) -> bool:
    """value: FR + key + SIREN, no separators."""
    if len(value) != 13 or not value.startswith("FR") or not value[2:].isdigit():
        return False
    return siren_ok(value[4:]) and value[2:4] == tva_key(value[4:])


def iban_ok(value: str) -> bool:
    if len(value) < 5 or IBAN_LENGTHS.get(value[:2]) != len(value) or not value[2:4].isdigit():
        return False
    if not value.isalnum() or not value.isascii():
        return False
    moved = value[4:] + value[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def postal_ok(value: str) -> bool:
    if len(value) != 5 or not value.isdigit():
        return False
    dept = int(value[:2])
    if 1 <= dept <= 95:
        return True
    return value[:3] in {"971", "972", "973", "974", "975", "976", "977", "978"} or value[:2] == "98"


CHECKS: dict[Kind, tuple[str, Callable[[str], bool]]] = {
    "siren": ("luhn", siren_ok),
    "siret": ("luhn", siret_ok),
    "tva_fr": ("tva-key", tva_ok),
    "iban": ("mod97", iban_ok),
    "postal_code": ("departement", postal_ok),
}
LENGTHS: dict[Kind, int] = {"siren": 9, "siret": 14, "tva_fr": 13, "iban": 27, "postal_code": 5}


# -- the answer --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    value: str
    edits: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "edits": list(self.edits)}


@dataclass(frozen=True)
class Identifier:
    kind: Kind
    raw: str
    """As read, separators included."""
    normalized: str
    """As read, separators removed (nothing corrected)."""
    valid: bool | None
    """Whether the check digits hold; None where the kind has none (rge)."""
    check: str
    label: str | None
    box: Box | None
    conf: float | None
    conf_min: float | None
    candidates: tuple[Candidate, ...] = field(default=())
    ambiguous: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "raw": self.raw,
            "normalized": self.normalized,
            "valid": self.valid,
            "check": self.check,
            "label": self.label,
            "box": self.box.to_json() if self.box is not None else None,
            "conf": round(self.conf, 3) if self.conf is not None else None,
            "conf_min": round(self.conf_min, 3) if self.conf_min is not None else None,
            "candidates": [c.to_json() for c in self.candidates],
            "ambiguous": self.ambiguous,
        }


# -- corrections -------------------------------------------------------------------------------------


def _undo_letters(value: str, start: int = 0) -> tuple[str, tuple[str, ...]]:
    """value with every letter from `start` on read back as the digit it stands for."""
    out, edits = list(value), []
    for i in range(start, len(value)):
        if value[i] in DIGIT_FOR:
            out[i] = DIGIT_FOR[value[i]]
            edits.append(f"{value[i]}→{out[i]} at {i + 1}")
    return "".join(out), tuple(edits)


def _length_edits(digits: str, want: int, start: int) -> list[tuple[str, str]]:
    """Readings one length edit away: a doubled digit read once (one short) or a digit read twice
    (one long), positions from `start` on."""
    found: list[tuple[str, str]] = []
    if len(digits) == want - 1:
        for i in range(start, len(digits)):
            found.append((digits[: i + 1] + digits[i:], f"{digits[i]} doubled at {i + 1}"))
    elif len(digits) == want + 1:
        for i in range(max(start, 1), len(digits)):
            if digits[i] == digits[i - 1]:
                found.append((digits[:i] + digits[i + 1:], f"{digits[i]} read twice at {i + 1}"))
    return found


def corrections(kind: Kind, value: str) -> tuple[tuple[Candidate, ...], bool]:
    """The readings one plausible OCR confusion away from `value` that pass `kind`'s check, best
    first, and whether the best are several (ambiguous)."""
    if kind not in CHECKS:
        return (), False
    ok = CHECKS[kind][1]
    want = IBAN_LENGTHS.get(value[:2], 27) if kind == "iban" else LENGTHS[kind]
    # The leading letters of a VAT number or an IBAN are letters; an IBAN's account part may hold
    # letters too, so there the letters are tried both ways.
    start = 2 if kind in ("tva_fr", "iban") else 0
    undone, letter_edits = _undo_letters(value, start)
    tries: list[tuple[int, str, tuple[str, ...]]] = []  # (cost, value, edits)
    bases = [(undone, letter_edits)]
    if kind == "iban" and letter_edits:
        bases.append((value, ()))
    for base, edits in bases:
        if len(base) == want:
            tries.append((1 if edits else 0, base, edits))
        for fixed, edit in _length_edits(base, want, start):
            tries.append(((1 if edits else 0) + 1, fixed, (*edits, edit)))
    seen: dict[str, tuple[int, tuple[str, ...]]] = {}
    for cost, candidate, edits in tries:
        if candidate != value and ok(candidate) and (candidate not in seen or seen[candidate][0] > cost):
            seen[candidate] = (cost, edits)
    if not seen:
        return (), False
    ranked = sorted(seen.items(), key=lambda item: (item[1][0], item[0]))
    best = ranked[0][1][0]
    ambiguous = sum(1 for _, (cost, _) in ranked if cost == best) > 1
    return tuple(Candidate(v, edits) for v, (_, edits) in ranked), ambiguous


# -- finding -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    text: str
    box: Box | None
    conf: float | None


@dataclass(frozen=True)
class _Found:
    kind: Kind
    start: int
    end: int
    value: str
    label: str | None


class _Line:
    """One line's words joined by single spaces, and where each word starts in that string."""

    def __init__(self, tokens: Sequence[_Token]) -> None:
        self.tokens = [t for t in tokens if t.text]
        self.starts: list[int] = []
        self.ends: list[int] = []
        parts: list[str] = []
        at = 0
        for t in self.tokens:
            self.starts.append(at)
            self.ends.append(at + len(t.text))
            parts.append(t.text)
            at += len(t.text) + 1
        self.text = " ".join(parts)

    def spanned(self, start: int, end: int) -> list[_Token]:
        """The tokens overlapping [start, end): in order and apart, so found by bisection (a line of
        thousands of numbers costs no quadratic scan)."""
        first = bisect.bisect_right(self.ends, start)
        last = bisect.bisect_left(self.starts, end)
        return self.tokens[first:last]


class _Spans:
    """Spans of a line already taken by an identifier, asked about by bisection: each question costs
    a logarithm, not a pass over every span found so far (a crafted line of thousands of numbers)."""

    def __init__(self, spans: Iterable[tuple[int, int]]) -> None:
        ordered = sorted(spans)
        self.starts = [s for s, _ in ordered]
        # The furthest end among the spans starting at or before each one: spans may overlap.
        self.reach = list(itertools.accumulate((e for _, e in ordered), max))

    def overlaps(self, start: int, end: int) -> bool:
        i = bisect.bisect_left(self.starts, end)
        return i > 0 and self.reach[i - 1] > start

    def covers(self, pos: int) -> bool:
        i = bisect.bisect_right(self.starts, pos)
        return i > 0 and self.reach[i - 1] > pos


def _label(text: str, pos: int) -> tuple[str | None, bool]:
    """The positive label nearest before `pos` in `text` (within _LOOKBACK characters), and whether
    a negative one is nearer."""
    window = text[max(0, pos - _LOOKBACK):pos]
    best: tuple[int, str] | None = None
    for name, pattern in _LABELS:
        for m in pattern.finditer(window):
            if best is None or m.end() > best[0]:
                best = (m.end(), name)
    negative = max((m.end() for m in _NOT_AN_ID.finditer(window)), default=-1)
    if best is None:
        return None, negative >= 0
    return best[1], negative > best[0]


def _runs(text: str, taken: _Spans) -> list[list[tuple[int, int]]]:
    """The numbers of a line: groups of digits joined by single separators, outside `taken` spans."""
    groups = [(m.start(), m.end()) for m in _GROUP.finditer(text) if not taken.overlaps(m.start(), m.end())]
    runs: list[list[tuple[int, int]]] = []
    for g in groups:
        if runs and g[0] == runs[-1][-1][1] + 1 and text[g[0] - 1] in _SEPARATORS:
            runs[-1].append(g)
        else:
            runs.append([g])
    return runs


def _compact(raw: str) -> str:
    return "".join(c for c in raw if c not in _SEPARATORS and not c.isspace())


def _find_ibans(text: str) -> list[_Found]:
    found = []
    for m in _IBAN_HEAD.finditer(text):
        want = IBAN_LENGTHS[m.group(1)] - 4
        got, end, pos, sizes = 0, m.end(), m.end(), []
        while got < want - 1:
            if pos < len(text) and text[pos] in _SEPARATORS:
                pos += 1
            g = _ALNUM_GROUP.match(text, pos)
            if g is None or not any(c.isdigit() for c in g.group()):
                break
            if got + len(g.group()) > want + 1:
                break
            got += len(g.group())
            sizes.append(len(g.group()))
            end = pos = g.end()
        # Cut short (a photo that lost the line's end) yet printed in groups of four: an IBAN that
        # fails its check, not a VAT number.
        if abs(got - want) <= 1 or (len(sizes) >= 2 and set(sizes[:2]) == {4}):
            found.append(_Found("iban", m.start(), end, _compact(text[m.start():end]).upper(),
                                _label(text, m.start())[0]))
    return found


def _find_tvas(text: str, taken: _Spans) -> list[_Found]:
    found = []
    for m in _TVA_HEAD.finditer(text):
        label, negative = _label(text, m.start())
        if taken.covers(m.start()) or negative:
            continue
        rest = m.end() + (1 if m.end() < len(text) and text[m.end()] in _SEPARATORS else 0)
        groups: list[tuple[int, int]] = []
        pos, digits = rest, 0
        while True:
            g = _DIGITISH_RUN.match(text, pos)
            if g is None or digits + len(g.group()) > 12:
                break
            groups.append((g.start(), g.end()))
            digits += len(g.group())
            pos = g.end()
            if pos < len(text) and text[pos] in _SEPARATORS and _DIGITISH_RUN.match(text, pos + 1):
                pos += 1
            else:
                break
        glued = groups and groups[-1][1] < len(text) and text[groups[-1][1]].isalnum()
        if not groups or glued or not 10 <= digits <= 12:
            continue
        end = groups[-1][1]
        value = "FR" + _compact(text[rest:end])
        if not _SEPA_CREDITOR.search(value):
            found.append(_Found("tva_fr", m.start(), end, value, label or "TVA"))
    return found


def _find_rges(text: str) -> list[_Found]:
    found = []
    for m in _QUALIBAT.finditer(text):
        found.append(_Found("rge", m.start(), m.end(), "E-E" + m.group(1), "Qualibat"))
    for m in _QUALIBAT_SHORT.finditer(text):
        if _label(text, m.start()) == ("RGE", False):
            found.append(_Found("rge", m.start(), m.end(), "E" + m.group(1), "RGE"))
    for m in _QUALITENR.finditer(text):
        found.append(_Found("rge", m.start(), m.end(), m.group(1) + "/" + m.group(2), "Qualit'EnR"))
    return found


def _find_numbers(text: str, taken: _Spans) -> list[_Found]:
    """SIREN, SIRET and postal codes among the line's plain numbers."""
    found = []
    for run in _runs(text, taken):
        start, end = run[0][0], run[-1][1]
        raw = text[start:end]
        value = _compact(raw)
        n = len(value)
        label, negative = _label(text, start)
        if _AMOUNT_TAIL.match(text[end:end + 2]):
            continue
        kind: Kind | None = None
        if label in ("SIRET", "SIREN", "RCS") and not negative:
            # After its label, a number too short or too long is a damaged one: reported, and flagged.
            if 12 <= n <= 16:
                kind = "siret"
            elif 6 <= n <= 11:
                kind = "siren"
        elif not negative and value.isdigit():
            # Unlabelled: only what the check confirms, in the groups a SIREN or SIRET is printed in.
            sizes = [e - s for s, e in run]
            if n == 14 and siret_ok(value) and sizes in ([14], [3, 3, 3, 5], [9, 5]):
                kind = "siret"
            elif n == 9 and siren_ok(value) and sizes in ([9], [3, 3, 3]):
                kind = "siren"
        if kind is not None:
            found.append(_Found(kind, start, end, value, label))
    numbers = _Spans((f.start, f.end) for f in found)
    for m in _POSTAL.finditer(text):
        if taken.overlaps(m.start(), m.end()) or numbers.overlaps(m.start(), m.end()):
            continue
        if m.start() > 1 and text[m.start() - 1] in _SEPARATORS and text[m.start() - 2].isdigit():
            continue  # the tail of a longer number
        found.append(_Found("postal_code", m.start(), m.end(), m.group(1), None))
    return found


def _identify(line: _Line) -> list[Identifier]:
    text = line.text
    found = _find_ibans(text)
    found += _find_rges(text)
    found += _find_tvas(text, _Spans((f.start, f.end) for f in found))
    found += _find_numbers(text, _Spans((f.start, f.end) for f in found))
    out = []
    for f in sorted(found, key=lambda f: f.start):
        words = line.spanned(f.start, f.end)
        boxes = [w.box for w in words if w.box is not None]
        confs = [w.conf for w in words if w.conf is not None]
        box = Box.around(boxes) if boxes and len(boxes) == len(words) else None
        if f.kind == "rge":
            valid: bool | None = None
            check = "shape"
            digits = re.split(r"[/E-]", f.value)[-1]  # the number after the prefix
            cands: tuple[Candidate, ...] = ()
            ambiguous = False
            if not digits.isdigit():
                fixed, edits = _undo_letters(f.value, len(f.value) - len(digits))
                cands = (Candidate(fixed, edits),)
        else:
            check, ok = CHECKS[f.kind]
            valid = ok(f.value)
            if f.kind == "siret" and f.value.startswith(LA_POSTE_SIREN) and f.value != LA_POSTE_HEAD_OFFICE:
                check = "la-poste"
            cands, ambiguous = ((), False) if valid else corrections(f.kind, f.value)
        out.append(Identifier(
            kind=f.kind, raw=text[f.start:f.end], normalized=f.value, valid=valid, check=check, label=f.label,
            box=box, conf=sum(confs) / len(confs) if confs else None, conf_min=min(confs) if confs else None,
            candidates=cands, ambiguous=ambiguous))
    return out


def _lines_of(layout: PageLayout) -> Iterable[_Line]:
    measured = layout.granularity != "page"  # a page-level reading measured no confidence
    for block in layout.blocks:
        for line in block.lines:
            yield _Line([_Token(w.text, w.box, w.conf if measured else None) for w in line.words])


# -- corroboration ----------------------------------------------------------------------------------


def _siren_part(kind: Kind, value: str) -> str | None:
    """The SIREN inside a SIREN, SIRET or VAT number read at its full length, letters undone."""
    if kind == "siren" and len(value) == 9:
        part = value
    elif kind == "siret" and len(value) == 14:
        part = value[:9]
    elif kind == "tva_fr" and len(value) == 13:
        part = value[4:]
    else:
        return None
    return _undo_letters(part)[0]


def _with_siren(kind: Kind, value: str, siren: str) -> str:
    if kind == "siret":
        return siren + _undo_letters(value[9:])[0]
    if kind == "tva_fr":
        return f"FR{tva_key(siren)}{siren}"
    return siren


_CORROBORATED_KINDS = ("siren", "siret", "tva_fr")
_CORROBORATION_DIGITS = 2  # at most this many of the SIREN's digits differ from the page's reading


def corroborate(found: Sequence[Identifier]) -> list[Identifier]:
    """The same identifiers, where one that fails its check carries a SIREN that another, valid,
    reading of the same text (the SIRET, the VAT number, the RCS line) spells within two digits: the
    reading with that SIREN, when it passes its own check, becomes the first candidate, and settles an
    ambiguity. A quote prints its SIREN three or four times; this recovers the wrong digit (8 read
    for 3) that a check digit alone can only flag."""
    witnesses: dict[str, Identifier] = {}
    for i in found:
        part = _siren_part(i.kind, i.normalized) if i.valid and i.kind in _CORROBORATED_KINDS else None
        if part is not None and siren_ok(part):
            witnesses.setdefault(part, i)
    out = []
    for i in found:
        if i.valid is not False or i.kind not in _CORROBORATED_KINDS:
            out.append(i)
            continue
        part = _siren_part(i.kind, i.normalized)
        if part is None:
            out.append(_settled(i, witnesses))
            continue
        ok = CHECKS[i.kind][1]
        backed: list[Candidate] = []
        for siren, witness in witnesses.items():
            differ = sum(1 for a, b in zip(part, siren, strict=True) if a != b)
            value = _with_siren(i.kind, i.normalized, siren)
            if differ <= _CORROBORATION_DIGITS and value != i.normalized and ok(value):
                backed.append(Candidate(value, (f"SIREN as in the {witness.kind} {witness.raw}",)))
        if not backed:
            out.append(i)
            continue
        rest = tuple(c for c in i.candidates if c.value not in {b.value for b in backed})
        out.append(replace(i, candidates=(*backed, *rest), ambiguous=len(backed) > 1))
    return out


def _settled(found: Identifier, witnesses: dict[str, Identifier]) -> Identifier:
    """An ambiguous reading whose candidates include exactly one with a SIREN read validly elsewhere
    on the page: that one first, no longer ambiguous."""
    if not found.ambiguous:
        return found
    agreeing = [c for c in found.candidates if _siren_part(found.kind, c.value) in witnesses]
    if len(agreeing) != 1:
        return found
    [chosen] = agreeing
    witness = witnesses[_siren_part(found.kind, chosen.value) or ""]
    first = Candidate(chosen.value, (*chosen.edits, f"SIREN as in the {witness.kind} {witness.raw}"))
    rest = tuple(c for c in found.candidates if c is not chosen)
    return replace(found, candidates=(first, *rest), ambiguous=False)


def find_identifiers(layout: PageLayout) -> list[Identifier]:
    """The identifiers on a page, in reading order, each with the union box of the words it spans
    and their mean and least confidence; corroborated across the page (`corroborate`)."""
    return corroborate([found for line in _lines_of(layout) for found in _identify(line)])


def find_in_text(text: str) -> list[Identifier]:
    """The identifiers in a plain text (one line per text line; no boxes, no confidence),
    corroborated across the text."""
    out: list[Identifier] = []
    for line in text.splitlines():
        out += _identify(_Line([_Token(word, None, None) for word in line.split()]))
    return corroborate(out)
