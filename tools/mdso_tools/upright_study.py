"""What a reading says about a page's orientation: for every page of the eval inputs (run `npm run eval`
first; run/eval/inputs) and of the bench inputs (run/bench), read as it comes and turned 90 and 180
degrees, prints Tesseract's mean word confidence, the share of words of 3+ letters found in the
dictionary, the block layout and whether engines/tesseract_reading.reads_upright() takes the reading as proof
that the page is upright. The thresholds in engines/tesseract_reading.py (UPRIGHT_*) come from this table.

Run with the sidecar's venv, which has the engine:
  PYTHONPATH=sidecars:tools .venv/bin/python -m mdso_tools.upright_study [FOLDER ...]

`... -m mdso_tools.upright_study compare FOLDER` reads every page of the scans, photos, faxes and
turned pages in FOLDER (e.g. a held-out corpus made with eval_inputs.build) twice, with the engine as it
is (read first, OSD when needed) and with OSD first as before, and prints the pages whose text or
rotation differ.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from PIL import Image
from tesserocr import OEM, PSM, RIL, PyTessBaseAPI, iterate_level  # type: ignore[import-untyped]

from mdso_sidecar.engines.base import EngineOptions, PageText
from mdso_sidecar.engines.page_cleanup import stretch_contrast
from mdso_sidecar.engines.photo import flatten_photo
from mdso_sidecar.engines.tesseract import TesseractEngine
from mdso_sidecar.engines.tesseract_reading import reads_upright
from mdso_sidecar.intake import open_document
from mdso_sidecar.settings import load_settings
from mdso_sidecar.sniff import DocumentKind
from mdso_tools import ROOT

KINDS = {".pdf": DocumentKind.PDF, ".tif": DocumentKind.TIFF, ".jpg": DocumentKind.JPEG,
         ".png": DocumentKind.PNG}


class OsdFirst(TesseractEngine):
    """The engine as it was: every page through OSD, then read once."""

    def recognize_page(self, image: Image.Image, options: EngineOptions) -> PageText:
        page = flatten_photo(image) or image
        page, rotation = self._orienter.upright(page)
        text, _, _ = self._read(page, options)
        return PageText(text=text.strip("\n\f "), rotation=rotation)


def compare(folder: Path) -> None:
    settings = load_settings("tesseract", {"OCR_THREADS": "1"})
    engines = (TesseractEngine(settings), OsdFirst(settings))
    for engine in engines:
        engine.load()
    same, seconds = 0, [0.0, 0.0]
    for path in sorted(folder.iterdir()):
        kind = KINDS.get(path.suffix.lower())
        if kind is None or path.name.startswith(("digital", "mixed")):
            continue
        document = open_document(path, kind)
        for number in range(1, document.page_count + 1):
            image = document.render(number, TesseractEngine.render_policy)
            engines[0]._local.last_turned = False  # each page judged on its own
            reads = []
            for i, engine in enumerate(engines):
                started = time.perf_counter()
                reads.append(engine.recognize_page(image, {}))
                seconds[i] += time.perf_counter() - started
            if (reads[0].text, reads[0].rotation) == (reads[1].text, reads[1].rotation):
                same += 1
            else:
                print(f"differs: {path.name} page {number}: "
                      f"rotation {reads[0].rotation} vs {reads[1].rotation}")
        document.close()
    print(f"{same} pages identical; seconds read first {seconds[0]:.1f}, OSD first {seconds[1]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="*", metavar="FOLDER",
                        help="folders of inputs (default run/eval/inputs run/bench); "
                             "`compare FOLDER` compares the engine with OSD first on FOLDER")
    args = parser.parse_args()
    if args.folders[:1] == ["compare"]:
        if len(args.folders) != 2:
            parser.error("compare takes one FOLDER")
        compare(Path(args.folders[1]))
        return
    folders = ([Path(arg) for arg in args.folders]
               or [ROOT / "run" / "eval" / "inputs", ROOT / "run" / "bench"])
    settings = load_settings("tesseract", {"OCR_THREADS": "1"})
    api = PyTessBaseAPI(path=str(settings.tesseract.tessdata), lang=settings.tesseract.lang,
                        oem=OEM.LSTM_ONLY, psm=PSM.AUTO)
    print("| file | page | turned | mean conf | dictionary words "
          "| blocks (orientation, direction, order) | proof of upright |")
    print("|---|---|---|---|---|---|---|")
    for folder in folders:
        for path in sorted(folder.iterdir()):
            kind = KINDS.get(path.suffix.lower())
            if kind is None or path.stat().st_size > 50_000_000:
                continue
            document = open_document(path, kind)
            for number in range(1, min(document.page_count, 2) + 1):
                image = document.render(number, TesseractEngine.render_policy)
                image = flatten_photo(image) or image
                for turn in (0, 90, 180):
                    api.SetImage(stretch_contrast(image.rotate(turn, expand=True)))
                    api.Recognize()
                    # Asked of each word as the iterator stands on it: iterate_level yields one iterator
                    # object, moved along, so a word kept for later would answer for the last one.
                    words = [bool(w.WordIsFromDictionary())
                             for w in iterate_level(api.GetIterator(), RIL.WORD)
                             if sum(c.isalpha() for c in (w.GetUTF8Text(RIL.WORD) or "")) >= 3]
                    in_dictionary = sum(words)
                    blocks = {tuple(int(v) for v in b.Orientation()[:3])
                              for b in iterate_level(api.GetIterator(), RIL.BLOCK)}
                    print(f"| {path.name} | {number} | {turn} | {api.MeanTextConf()} | "
                          f"{in_dictionary}/{len(words)} = {in_dictionary / max(len(words), 1):.2f} | "
                          f"{sorted(blocks)} | {reads_upright(api)} |", flush=True)
                    api.Clear()
            document.close()


if __name__ == "__main__":
    main()
