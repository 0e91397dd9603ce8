"""Line-level combination of the hybrid's two readings on the real photos (issue 13): reads each photo
once in-process with the hybrid service's own readers and renders (tesseract on its grey render,
rapidocr on its colour render, format=json so both give their layouts), caches the readings, then
scores combination rules offline against the ground truth with the eval's own scoring.

  PYTHONPATH=sidecars:tools .venv/bin/python -m mdso_tools.lines_study cache --photos DIR
  PYTHONPATH=sidecars:tools .venv/bin/python -m mdso_tools.lines_study study --photos DIR
The cache goes to run/lines-study/readings.pickle (the readings only; no image is copied). The study
step scores with mdso_tools.scoring, which needs rapidfuzz in that venv (the bench venv's pin).
Figures: docs/ACCURACY.md, "Line-level combination".
"""

from __future__ import annotations

import argparse
import csv
import pickle
import time
from pathlib import Path
from typing import Any

from mdso_tools import ROOT

OUT = ROOT / "run" / "lines-study"
CACHE = OUT / "readings.pickle"
TYPEWRITTEN = ("cs", "sk", "da")


class RealPhoto:
    """A manifest row as the eval reads it (mdso_tools.eval.photo_sample; that module needs the
    eval's own venv): name, group, ground truth, whether scored without spaces (receipts)."""

    def __init__(self, folder: Path, row: dict[str, str]) -> None:
        receipt = row["kind"].startswith("receipt")
        self.name = row["name"]
        self.path = folder / f"{self.name}.jpg"
        self.truth = (folder / f"{self.name}.txt").read_text(encoding="utf-8")
        self.group = "receipts" if receipt else row["lang"]
        self.spaceless = receipt


def load_photos(folder: Path) -> list[RealPhoto]:
    with (folder / "manifest.tsv").open(encoding="utf-8", newline="") as f:
        return [RealPhoto(folder, row) for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]


def cache(photos: list[RealPhoto]) -> None:
    from mdso_sidecar.engines.hybrid import HybridEngine  # noqa: PLC0415
    from mdso_sidecar.intake import open_document  # noqa: PLC0415
    from mdso_sidecar.layout import scaled, turned  # noqa: PLC0415
    from mdso_sidecar.settings import load_settings  # noqa: PLC0415
    from mdso_sidecar.sniff import DocumentKind  # noqa: PLC0415

    engine = HybridEngine(load_settings("hybrid", {"OCR_THREADS": "1", "PATH": "/usr/bin:/bin"}))
    engine.load()
    options = {"format": "json"}
    readings: dict[str, Any] = {}
    for photo in photos:
        started = time.perf_counter()
        document = open_document(photo.path, DocumentKind.JPEG)
        image = document.render(1, engine.render_policy)
        tess = engine.tesseract.recognize_page(image, options)
        confidence = engine.tesseract.last_confidence()
        tess_s = time.perf_counter() - started
        colour = document.render(1, engine.rapidocr.render_policy)
        rapid = engine.rapidocr.recognize_page(colour, options)
        layout = rapid.layout
        if layout is not None:
            back = turned(rapid.rotation, image.width, image.height)
            layout = scaled(layout, image.width / colour.width, back)
        readings[photo.name] = {
            "tesseract": tess, "confidence": confidence, "rapidocr_text": rapid.text,
            "rapidocr_layout": layout, "rapidocr_rotation": rapid.rotation,
            "size": image.size, "tesseract_s": tess_s, "rapidocr_s": time.perf_counter() - started - tess_s,
        }
        print(f"{photo.name}: conf {confidence}, tesseract {tess_s:.1f} s, "
              f"rapidocr {readings[photo.name]['rapidocr_s']:.1f} s", flush=True)
        colour.close()
        image.close()
        document.close()
    OUT.mkdir(parents=True, exist_ok=True)
    CACHE.write_bytes(pickle.dumps(readings))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("step", choices=("cache", "study"))
    parser.add_argument("--photos", type=Path, required=True)
    args = parser.parse_args()
    photos = load_photos(args.photos)
    if args.step == "cache":
        cache(photos)
    else:
        study(photos)


def study(photos: list[RealPhoto]) -> None:
    from mdso_sidecar import layout as lay  # noqa: PLC0415
    from mdso_sidecar.engines import line_merge as lm  # noqa: PLC0415
    from mdso_sidecar.engines.reading_order import Line, rows_text  # noqa: PLC0415
    from mdso_tools.scoring import score  # noqa: PLC0415

    readings = pickle.loads(CACHE.read_bytes())  # noqa: S301 (our own cache)

    def cer(photo: RealPhoto, text: str) -> float:
        s = score(photo.truth, text, spaceless=photo.spaceless)
        return s["char_edits"] / max(1, s["chars"])

    def input_box(box: Any, matrix: Any) -> tuple[float, float, float, float]:
        pts = [lay.apply(matrix, x, y) for x in (box.left, box.right) for y in (box.top, box.bottom)]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        return (min(xs), min(ys), max(xs), max(ys))

    pages: dict[str, Any] = {}
    for photo in photos:
        r = readings[photo.name]
        tl, rl = r["tesseract"].layout, r["rapidocr_layout"]
        rlines = [ln for b in rl.blocks for ln in b.lines]
        lines = [lm.Piece(ln.text, input_box(ln.box, rl.to_input), ln.conf) for ln in rlines]
        words = [lm.Piece(w.text, input_box(w.box, tl.to_input), w.conf) for w in tl.words()]
        pages[photo.name] = (r, rlines, lines, lm.words_in_lines(lines, words))

    def rebuild(rlines: list[Any], texts: list[str]) -> str:
        return rows_text([
            Line((round(ln.box.left), round(ln.box.top), round(ln.box.right), round(ln.box.bottom)), None, t)
            for ln, t in zip(rlines, texts, strict=True)
        ])

    def hybrid(photo: RealPhoto, rule: Any) -> str:
        r, rlines, lines, aligned = pages[photo.name]
        tess = r["tesseract"].text
        if r["confidence"] >= 86 and len(tess.split()) >= 12:
            return str(tess)
        if rule is None:
            return str(r["rapidocr_text"])
        return rebuild(rlines, [rule(line, found) for line, found in zip(lines, aligned, strict=True)])

    def report(label: str, cers: dict[str, float]) -> dict[str, float]:
        groups: dict[str, list[float]] = {}
        for photo in photos:
            groups.setdefault(photo.group, []).append(cers[photo.name])
            if photo.group in TYPEWRITTEN:
                groups.setdefault("typewritten", []).append(cers[photo.name])
        means = {g: sum(v) / len(v) for g, v in groups.items()}
        print(f"| {label} | " + " | ".join(f"{means[g]:.4f}" for g in GROUPS if g in means) + " |")
        return means

    print("| rule | " + " | ".join(GROUPS) + " |")
    print("|---|" + "---|" * len(GROUPS))
    base = {p.name: cer(p, hybrid(p, None)) for p in photos}
    report("hybrid (page: tesseract if conf >= 86 and >= 12 words, else rapidocr)", base)
    rebuilt = {p.name: cer(p, hybrid(p, lambda line, found: line.text)) for p in photos}
    report("rapidocr's lines re-ordered here (no skew): the study's baseline", rebuilt)
    tess = {p.name: cer(p, readings[p.name]["tesseract"].text) for p in photos}
    rapid = {p.name: cer(p, readings[p.name]["rapidocr_text"]) for p in photos}
    report("tesseract", tess)
    report("rapidocr", rapid)
    report("oracle: the better page", {n: min(tess[n], rapid[n]) for n in tess})
    for min_conf in (0.0, 0.3, 0.5, 0.7, 0.8, 0.9):
        def accents(line: Any, found: Any, c: float = min_conf) -> str:
            return restore_accents(line.text, found, c)
        report(f"accents from tesseract, word conf >= {min_conf}",
               {p.name: cer(p, hybrid(p, accents)) for p in photos})
    for tconf in (0.7, 0.8, 0.85, 0.9, 0.95):
        def choose(line: Any, found: Any, t: float = tconf) -> str:
            if not found:
                return str(line.text)
            text = " ".join(w.text for w in found)
            mean = sum(w.conf for w in found) / len(found)
            similar = 0.8 <= len(text) / max(1, len(line.text)) <= 1.25
            return text if similar and mean >= t and mean > line.conf else str(line.text)
        report(f"tesseract's line when its mean word conf >= {tconf} and > rapidocr's",
               {p.name: cer(p, hybrid(p, choose)) for p in photos})
    def with_missing(photo: RealPhoto, min_conf: float, min_words: int) -> str:
        """rapidocr's lines, and Tesseract's lines of which no word lies in any rapidocr line (its
        words of at least min_conf, lines of at least min_words such words)."""
        r, rlines, lines, _ = pages[photo.name]
        tess = r["tesseract"].text
        if r["confidence"] >= 86 and len(tess.split()) >= 12:
            return str(tess)
        tl = r["tesseract"].layout
        extra: list[Any] = []
        for block in tl.blocks:
            for tline in block.lines:
                ws = [lm.Piece(w.text, input_box(w.box, tl.to_input), w.conf) for w in tline.words]
                free = [w for w in ws if not inside_any(w, lines)]
                keep = [w for w in free if w.conf >= min_conf]
                if len(free) < len(ws) or len(keep) < min_words:
                    continue
                box = (min(w.box[0] for w in keep), min(w.box[1] for w in keep),
                       max(w.box[2] for w in keep), max(w.box[3] for w in keep))
                extra.append(Line(tuple(round(v) for v in box), None, " ".join(w.text for w in keep)))  # type: ignore[arg-type]
        own = [Line((round(ln.box.left), round(ln.box.top), round(ln.box.right), round(ln.box.bottom)), None,
                    ln.text) for ln in rlines]
        return rows_text(own + extra)

    def inside_any(word: Any, lines: list[Any]) -> bool:
        cx = (word.box[0] + word.box[2]) / 2
        cy = (word.box[1] + word.box[3]) / 2
        return any(ln.box[0] <= cx <= ln.box[2] and ln.box[1] <= cy <= ln.box[3] for ln in lines)

    for ratio in (0.3, 0.5, 0.7):
        for tconf in (0.0, 0.5, 0.6, 0.7, 0.8):
            for rscore in (0.8, 0.9, 1.01):
                def broken(
                    line: Any, found: Any, q: float = ratio, t: float = tconf, sc: float = rscore
                ) -> str:
                    if not found:
                        return str(line.text)
                    text = " ".join(w.text for w in found)
                    mean = sum(w.conf for w in found) / len(found)
                    short = len(line.text.replace(" ", "")) < q * len(text.replace(" ", ""))
                    return text if short and mean >= t and line.conf < sc else str(line.text)
                report(f"tesseract's words where rapidocr's line has < {ratio} of their letters, "
                       f"tesseract conf >= {tconf}, rapidocr score < {rscore}",
                       {p.name: cer(p, hybrid(p, broken)) for p in photos})
    for min_conf in (0.0, 0.5, 0.7, 0.8, 0.9):
        for min_words in (1, 2, 3, 4):
            report(f"+ tesseract's lines outside rapidocr's, words conf >= {min_conf}, >= {min_words} words",
                   {p.name: cer(p, with_missing(p, min_conf, min_words)) for p in photos})
    # The rule that landed (engines/line_merge.py, mended), its lines and per photo.
    replaced: list[tuple[float, float, float]] = []
    kept: list[tuple[float, float, float]] = []

    def landed(line: Any, found: Any) -> str:
        theirs = "".join(" ".join(w.text for w in found).split())
        if found:
            share = len("".join(line.text.split())) / max(1, len(theirs))
            entry = (share, line.conf, sum(w.conf for w in found) / len(found))
            (replaced if lm.mended(line.text, line.conf, found) is not None else kept).append(entry)
        return lm.mended(line.text, line.conf, found) or str(line.text)

    final = {p.name: cer(p, hybrid(p, landed)) for p in photos}
    report("landed: tesseract's words where rapidocr's line broke (share < 0.5, score < 0.9, conf >= 0.5)",
           final)
    for label, entries in (("replaced", replaced), ("kept", kept)):
        if entries:
            print(f"{label}: {len(entries)} lines; share {min(e[0] for e in entries):.2f}-"
                  f"{max(e[0] for e in entries):.2f}, rapidocr score {min(e[1] for e in entries):.2f}-"
                  f"{max(e[1] for e in entries):.2f}, tesseract mean conf {min(e[2] for e in entries):.2f}-"
                  f"{max(e[2] for e in entries):.2f}")
    close = [e for e in kept if e[0] < 0.7 or e[1] < 0.9]
    print("kept lines with share < 0.7 or score < 0.9:", sorted((round(a, 2), round(b, 2), round(c, 2))
                                                              for a, b, c in close)[:40])
    print()
    print("| photo | group | hybrid | landed | tesseract | rapidocr |")
    print("|---|---|---|---|---|---|")
    for photo in photos:
        n = photo.name
        print(f"| {n} | {photo.group} | {base[n]:.4f} | {final[n]:.4f} | {tess[n]:.4f} | {rapid[n]:.4f} |")


def restore_accents(text: str, words: Any, min_conf: float) -> str:
    """Tried and dropped: rapidocr's line with each letter that Tesseract's aligned words read as the
    same letter with an accent (d/ď, l/ľ, i/í) taken from Tesseract, where that word's confidence is
    at least min_conf. Tesseract with the service's default languages (fra+eng) reads none of ď ľ ť ň í
    on these photos, so nothing changes."""
    import unicodedata  # noqa: PLC0415
    from difflib import SequenceMatcher  # noqa: PLC0415

    def bare(char: str) -> str:
        return "".join(c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c)) or char

    if not words or not text:
        return text
    other = ""
    confs: list[float] = []
    for word in words:
        if other:
            other += " "
            confs.append(0.0)
        other += word.text
        confs.extend([word.conf] * len(word.text))
    chars = list(text)
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, text, other, autojunk=False).get_opcodes():
        if tag != "replace" or i2 - i1 != j2 - j1:
            continue
        for k in range(i2 - i1):
            mine, theirs = text[i1 + k], other[j1 + k]
            if theirs != bare(theirs) and bare(theirs) == mine and confs[j1 + k] >= min_conf:
                chars[i1 + k] = theirs
    return "".join(chars)


GROUPS = ("cs", "sk", "da", "typewritten", "receipts")


if __name__ == "__main__":
    main()
