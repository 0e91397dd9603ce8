"""Line by line, what the hybrid's second reading takes from its first: rapidocr's lines, but for those
on which its recognition broke down, where Tesseract's words in the same box are taken (docs/ACCURACY.md,
"Line-level combination").

rapidocr reads the typewritten Czech and Slovak photos best overall, but on some lines (mostly a
paragraph's indented first line) its detector finds the line and its recogniser returns a few letters
scattered with spaces (`Z        d` for "Z Bratislavy som sa vysťahoval dňa 4. júla 1932 do"), at a
lower score. Tesseract, which loses whole regions of those photos and reads their accents worse, reads
those lines whole. So each rapidocr line takes the Tesseract words whose centres lie in its box (both
in the pixels of the image the hybrid was handed); where rapidocr's line holds far fewer letters than
those words, at a lower score, the words replace it. Everything else is rapidocr's: its lines, its
reading order, its letters.

Pure geometry and strings, tested without an engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

BoxT = tuple[float, float, float, float]

# Measured on the 23 typewritten photos (docs/ACCURACY.md, "Line-level combination"; tools/mdso_tools/
# lines_study.py): the 23 lines replaced carry 5-32 % of the letters Tesseract reads in their box, at
# rapidocr scores 0.51-0.77, Tesseract's words at 0.63-0.92 mean confidence. The typewritten mean CER is
# the same for any share from 0.5 to 0.7 (0.3: Slovak 0.045 -> 0.047) and any score bound from 0.8 up;
# a word confidence of 0.7 gives back a third of the gain (broken Czech lines read at 0.63-0.7), none
# at all (0) takes Tesseract's noise on one more line (read at 0.42).
BROKEN_SHARE = 0.5
BROKEN_SCORE = 0.9
WORDS_MIN_CONF = 0.5


@dataclass(frozen=True)
class Piece:
    """A line or word as one reader read it: its text, its box (left, top, right, bottom) in the pixels
    of the image the hybrid was handed, its confidence 0-1."""

    text: str
    box: BoxT
    conf: float


def words_in_lines(lines: Sequence[Piece], words: Sequence[Piece]) -> list[list[Piece]]:
    """For each line, the words whose centre lies in its box, left to right; a word in two lines'
    boxes goes to the one whose vertical centre is nearest its own."""
    out: list[list[Piece]] = [[] for _ in lines]
    for word in words:
        cx = (word.box[0] + word.box[2]) / 2
        cy = (word.box[1] + word.box[3]) / 2
        best = -1
        best_distance = 0.0
        for index, line in enumerate(lines):
            left, top, right, bottom = line.box
            if left <= cx <= right and top <= cy <= bottom:
                distance = abs(cy - (top + bottom) / 2)
                if best < 0 or distance < best_distance:
                    best, best_distance = index, distance
        if best >= 0:
            out[best].append(word)
    for found in out:
        found.sort(key=lambda w: w.box[0])
    return out


def mended(text: str, score: float, words: Sequence[Piece]) -> str | None:
    """Tesseract's words in place of rapidocr's line `text` (read with `score`) when rapidocr's
    recognition broke down on that line: fewer than BROKEN_SHARE of the letters Tesseract read in
    the same box, a score below BROKEN_SCORE, and Tesseract's words read at a mean confidence of at
    least WORDS_MIN_CONF. None: rapidocr's line stands."""
    if not words or score >= BROKEN_SCORE:
        return None
    theirs = " ".join(w.text for w in words)
    if len("".join(text.split())) >= BROKEN_SHARE * len("".join(theirs.split())):
        return None
    if sum(w.conf for w in words) / len(words) < WORDS_MIN_CONF:
        return None
    return theirs
