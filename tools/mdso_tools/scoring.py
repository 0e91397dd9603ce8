"""How the tools score an OCR output against its known text: CER and digit CER (the bench), and the
eval's edit counts (characters, words, numeric tokens) that its tables sum per category."""

from __future__ import annotations

import re
from collections import Counter

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
