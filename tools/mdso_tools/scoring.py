"""How the tools score an OCR output against its known text: CER and digit CER (the bench), and the
eval's edit counts (characters, words, numeric tokens) and identifier counts (SIRET, TVA, IBAN read,
flagged, recovered) that its tables sum per category."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from rapidfuzz.distance import Levenshtein

_STRIP = ".,;:()[]«»\"'!?€%"
_DIGIT = re.compile(r"[0-9]")
_SPACE = re.compile(r"\s+")


def norm(text: str) -> str:
    """Whitespace runs collapsed to one space."""
    return _SPACE.sub(" ", text).strip()


def cer(reference: str, hypothesis: str) -> float:
    ref, hyp = norm(reference), norm(hypothesis)
    return float(Levenshtein.distance(ref, hyp)) / max(1, len(ref))


def digit_cer(reference: str, hypothesis: str) -> float:
    """CER over the digits only (SIRET, amounts, dates, postal codes: what the quote checker needs)."""
    ref, hyp = re.sub(r"\D", "", reference), re.sub(r"\D", "", hypothesis)
    return float(Levenshtein.distance(ref, hyp)) / max(1, len(ref))


def numeric_tokens(text: str) -> Counter[str]:
    tokens = (t.strip(_STRIP) for t in text.split())
    return Counter(t for t in tokens if _DIGIT.search(t))


def score(reference: str, hypothesis: str, spaceless: bool = False) -> dict[str, int]:
    """Edit counts of one output. spaceless: both texts lose all whitespace first, for ground truth
    that lost its spaces (WildReceipt); words and numeric tokens then go unscored (0), since both
    are cut at spaces."""
    if spaceless:
        ref, hyp = _SPACE.sub("", reference), _SPACE.sub("", hypothesis)
        return {"chars": len(ref), "out_chars": len(hyp), "char_edits": int(Levenshtein.distance(ref, hyp)),
                "words": 0, "word_edits": 0, "nums": 0, "nums_found": 0}
    ref, hyp = norm(reference), norm(hypothesis)
    ref_words, hyp_words = ref.split(), hyp.split()
    ref_nums, hyp_nums = numeric_tokens(reference), numeric_tokens(hypothesis)
    return {
        "chars": len(ref),
        "out_chars": len(hyp),
        "char_edits": int(Levenshtein.distance(ref, hyp)),
        "words": len(ref_words),
        "word_edits": int(Levenshtein.distance(ref_words, hyp_words)),
        "nums": sum(ref_nums.values()),
        "nums_found": sum((ref_nums & hyp_nums).values()),
    }


# The identifiers whose check digits the eval scores (rge has none; postal codes are left to the
# numeric-token recall).
CHECKED_KINDS = ("siren", "siret", "tva_fr", "iban")
IDENTIFIER_COUNTS = ("id_truth", "id_exact", "id_misread", "id_missed", "id_flagged", "id_passed_wrong",
                     "id_recovered", "id_ambiguous_with_truth", "id_false_corrections", "id_spurious")


def identifier_counts(reference: str, pages: Sequence[str]) -> dict[str, int]:
    """How the identifiers of `reference` (all valid: the eval's corpus computes their keys) came out
    in the output `pages`, as mdso_sidecar.identifiers finds and checks them in each text (page by
    page, as the service does: corroboration stays within a page).

    Each reference identifier is paired with the output identifier of its kind nearest in edit
    distance (greedily, nearest pairs first, at most half its length apart).
    exact: read as printed; misread: paired but different; missed: not paired. Of the misread:
    flagged (its check fails), passed_wrong (its check holds on a wrong reading: undetectable),
    recovered (one unambiguous candidate, equal to the truth), ambiguous_with_truth (several
    candidates, the truth among them). false_corrections: a candidate offered on an exact reading, or
    an unambiguous candidate that is not the truth (on a misread or on a spurious identifier).
    spurious: output identifiers paired with nothing in the reference."""
    # Imported here: the bench uses this module with only tools on its path; the eval has sidecars too.
    from mdso_sidecar.identifiers import find_in_text  # noqa: PLC0415

    truth = [i for i in find_in_text(reference) if i.kind in CHECKED_KINDS]
    read = [i for page in pages for i in find_in_text(page) if i.kind in CHECKED_KINDS]
    pairs = sorted(
        (Levenshtein.distance(t.normalized, r.normalized), ti, ri)
        for ti, t in enumerate(truth) for ri, r in enumerate(read) if t.kind == r.kind)
    paired: dict[int, int] = {}
    used: set[int] = set()
    for distance, ti, ri in pairs:
        if ti in paired or ri in used or distance > len(truth[ti].normalized) // 2:
            continue
        paired[ti] = ri
        used.add(ri)
    counts = dict.fromkeys(IDENTIFIER_COUNTS, 0)
    counts["id_truth"] = len(truth)
    for ti, t in enumerate(truth):
        if ti not in paired:
            counts["id_missed"] += 1
            continue
        r = read[paired[ti]]
        values = [c.value for c in r.candidates]
        if r.normalized == t.normalized:
            counts["id_exact"] += 1
            counts["id_false_corrections"] += bool(values)
            continue
        counts["id_misread"] += 1
        counts["id_flagged"] += r.valid is False
        counts["id_passed_wrong"] += r.valid is True
        if values and not r.ambiguous:
            counts["id_recovered"] += values[0] == t.normalized
            counts["id_false_corrections"] += values[0] != t.normalized
        elif r.ambiguous:
            counts["id_ambiguous_with_truth"] += t.normalized in values
    for ri, r in enumerate(read):
        if ri not in used:
            counts["id_spurious"] += 1
            counts["id_false_corrections"] += bool(r.candidates) and not r.ambiguous
    return counts
