"""The structured outputs (render/): hOCR checked by hocr-tools' and hocr-spec's validators, ALTO by
its XSD (when one is at hand) and its structure, the searchable PDF by poppler (pdftotext, pdfimages)
and pikepdf: the words come back out where they were read, the page images untouched."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from lxml import etree
from PIL import Image, ImageDraw, ImageFont

from mdso_sidecar.layout import Block, Box, Line, PageGeometry, PageLayout, Word
from mdso_sidecar.render.alto import NAMESPACE, render_alto
from mdso_sidecar.render.hocr import render_hocr
from mdso_sidecar.render.pages import RenderedPage
from mdso_sidecar.render.pdf import render_pdf

from .conftest import FIXTURES

BIN = Path(sys.executable).parent
LINES = (
    ("Devis", "n°", "2024-117", "Pompe", "à", "chaleur"),
    ("Œuvre", "d’art", "1", "250,00", "€", "TTC"),
    ("Příliš", "žluťoučký", "kůň", "SIRET", "12345678900000"),
)
WORDS = [w for line in LINES for w in line]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    dejavu = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    return ImageFont.truetype(str(dejavu), size) if dejavu.exists() else ImageFont.load_default(size=size)


def page_with_words(size: tuple[int, int] = (1240, 1754)) -> tuple[Image.Image, PageLayout]:
    """A white page with LINES drawn on it, and the layout a word-level reader would give of it: the
    boxes are where the words really are."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = _font(size[1] // 50)
    blocks_lines = []
    y = size[1] // 10
    for words in LINES:
        x = size[0] // 12
        placed = []
        for text in words:
            left, top, right, bottom = draw.textbbox((x, y), text, font=font)
            draw.text((x, y), text, fill="black", font=font)
            placed.append(Word(text, Box(left, top, right, bottom), 0.91))
            x = right + size[1] // 80
        blocks_lines.append(Line(tuple(placed), Box.around(w.box for w in placed), 0.91))
        y += size[1] // 25
    block = Block(tuple(blocks_lines), Box.around(line.box for line in blocks_lines))
    return image, PageLayout(size[0], size[1], (block,), "word")


def _pages(layout: PageLayout, count: int = 1, failed: tuple[int, ...] = ()) -> list[RenderedPage]:
    geometry = PageGeometry(layout.width, layout.height, 150.0)
    return [
        RenderedPage(
            page=n,
            layout=None if n in failed else layout,
            geometry=geometry,
            text="" if n in failed else "\n".join(" ".join(words) for words in LINES),
            failed=n in failed,
        )
        for n in range(1, count + 1)
    ]


def _pdftotext(path: Path, *args: str) -> str:
    done = subprocess.run(["pdftotext", *args, str(path), "-"], check=True, capture_output=True)
    return done.stdout.decode()


def _bboxes(path: Path) -> list[tuple[str, tuple[float, float, float, float]]]:
    """pdftotext -bbox: each word and its box in points, on the page as shown (after /Rotate)."""
    html = _pdftotext(path, "-bbox")
    found = re.findall(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', html
    )
    return [(text, (float(a), float(b), float(c), float(d))) for a, b, c, d, text in found]


def _unescape(text: str) -> str:
    return text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')


# -- hOCR --------------------------------------------------------------------------------------------


def test_hocr_passes_hocr_tools_and_hocr_spec(tmp_path: Path) -> None:
    _, layout = page_with_words()
    path = tmp_path / "out.hocr"
    path.write_bytes(render_hocr(_pages(layout), system="tesseract 5", lang="fra+eng", filename='a"b.pdf'))

    check = subprocess.run([str(BIN / "hocr-check"), str(path)], check=False, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "not ok" not in check.stderr and "ok " in check.stderr

    spec = subprocess.run(
        [str(BIN / "hocr-spec"), "-p", "standard", str(path)], check=False, capture_output=True, text=True
    )
    assert spec.returncode == 0, spec.stdout + spec.stderr


def test_hocr_has_every_word_with_box_and_confidence(tmp_path: Path) -> None:
    _, layout = page_with_words()
    hocr = render_hocr(_pages(layout, 2, failed=(2,)), system="tesseract 5", lang="fra", filename="x.png")
    root = etree.fromstring(hocr)
    ns = {"h": "http://www.w3.org/1999/xhtml"}
    words = root.findall(".//h:span[@class='ocrx_word']", ns)
    assert [w.text for w in words] == WORDS
    first = layout.blocks[0].lines[0].words[0]
    assert words[0].get("title") == f"bbox {' '.join(map(str, first.box.to_json()))}; x_wconf 91"
    pages = root.findall(".//h:div[@class='ocr_page']", ns)
    assert [p.get("id") for p in pages] == ["page_1", "page_2"]
    assert len(pages[1]) == 0  # the failed page: present, empty
    assert root.find(".//h:p[@class='ocr_par']", ns).get("lang") == "fr"
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "fr"
    system = root.find(".//h:meta[@name='ocr-system']", ns).get("content")
    assert system.startswith("mdso-ocr")


# -- ALTO --------------------------------------------------------------------------------------------

XSD = os.environ.get("ALTO_XSD")
"""An ALTO 4 schema file (https://www.loc.gov/standards/alto/v4/alto-4-4.xsd, from the altoxml/schema
repository; public domain, Library of Congress) with its xlink import reachable. Not shipped: when it
is absent, the structure is checked by hand below (test_alto_structure)."""


def _alto(tmp_path: Path) -> bytes:
    _, layout = page_with_words()
    return render_alto(_pages(layout, 2, failed=(2,)), system="tesseract 5", filename="devis & co.pdf")


@pytest.mark.skipif(not XSD, reason="ALTO_XSD names no ALTO 4 schema file")
def test_alto_is_valid_against_the_xsd(tmp_path: Path) -> None:
    assert XSD is not None
    schema = etree.XMLSchema(etree.parse(XSD))
    document = etree.fromstring(_alto(tmp_path))
    assert schema.validate(document), schema.error_log


def test_alto_is_read_by_alto_tools(tmp_path: Path) -> None:
    """A real ALTO consumer (alto-tools, which extracts text and confidences from ALTO files of
    digitised collections) reads our file: its namespace is known to it, and it finds each page's
    lines and words, and their confidence."""
    path = tmp_path / "devis.xml"
    path.write_bytes(_alto(tmp_path))
    tool = str(BIN / "alto-tools")
    text = subprocess.run([tool, "-t", str(path)], check=True, capture_output=True, text=True)
    assert "ERROR" not in text.stdout and "Error" not in text.stdout
    assert [line.split() for line in text.stdout.strip().splitlines()] == [list(words) for words in LINES]
    confidence = subprocess.run([tool, "-c", str(path)], check=True, capture_output=True, text=True)
    assert confidence.stdout.strip().endswith("Confidence: 91.0")  # the mean of WC, in per cent


def test_alto_structure(tmp_path: Path) -> None:
    root = etree.fromstring(_alto(tmp_path))
    ns = {"a": NAMESPACE}
    assert root.tag == f"{{{NAMESPACE}}}alto"
    assert root.findtext("a:Description/a:MeasurementUnit", namespaces=ns) == "pixel"
    source = "a:Description/a:sourceImageInformation/a:fileName"
    assert root.findtext(source, namespaces=ns) == "devis & co.pdf"
    pages = root.findall("a:Layout/a:Page", ns)
    assert [(p.get("ID"), p.get("PHYSICAL_IMG_NR")) for p in pages] == [("page_1", "1"), ("page_2", "2")]
    assert pages[1].findall(".//a:String", ns) == []
    lines = pages[0].findall("a:PrintSpace/a:TextBlock/a:TextLine", ns)
    assert len(lines) == len(LINES)
    for line, words in zip(lines, LINES, strict=True):
        children = [c.tag.split("}")[1] for c in line]
        assert children == ["String", *["SP", "String"] * (len(words) - 1)]
        strings = line.findall("a:String", ns)
        assert [s.get("CONTENT") for s in strings] == list(words)
        for s in strings:
            assert s.get("WC") == "0.91"
            assert all(s.get(k, "").isdigit() for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT"))
    # Every element and attribute is one ALTO 4 declares, in the order its schema wants.
    expected_order = ["Description", "Layout"]
    assert [c.tag.split("}")[1] for c in root] == expected_order


# -- searchable PDF ----------------------------------------------------------------------------------


def _words_in_order(text: str) -> list[str]:
    return text.split()


def test_pdf_of_a_png_keeps_its_pixels_and_gives_the_words(tmp_path: Path) -> None:
    image, layout = page_with_words()
    source = tmp_path / "scan.png"
    image.save(source, dpi=(150, 150))
    out = tmp_path / "out.pdf"
    render_pdf(_pages(layout), source, False, out)

    assert _words_in_order(_pdftotext(out)) == WORDS
    subprocess.run(["qpdf", "--check", str(out)], check=True, capture_output=True)
    # The page is the image's size at its density: 1240 × 1754 px at 150 dpi = 595.2 × 842 pt
    # (PNG stores pixels per metre: 149.99 dpi).
    with pikepdf.open(out) as pdf:
        width, height = (float(v) for v in pdf.pages[0].mediabox[2:])
        assert abs(width - 595.2) < 0.2 and abs(height - 841.9) < 0.2
    subprocess.run(["pdfimages", "-png", str(out), str(tmp_path / "img")], check=True)
    extracted = sorted(tmp_path.glob("img-*.png"))
    assert len(extracted) == 1
    with Image.open(extracted[0]) as back:
        assert back.mode == "RGB" and back.tobytes() == image.tobytes()


def test_pdf_puts_each_word_on_its_box(tmp_path: Path) -> None:
    image, layout = page_with_words()
    source = tmp_path / "scan.png"
    image.save(source)  # no density: 300 dpi assumed, 0.24 pt per pixel
    out = tmp_path / "out.pdf"
    render_pdf(_pages(layout), source, False, out)
    scale = 72 / 300
    found = dict(_bboxes(out))
    for word, top, bottom in _words_and_lines(layout):
        x0, y0, x1, y1 = found[_escape(word.text)]
        assert abs(x0 - word.box.left * scale) < 1 and abs(x1 - word.box.right * scale) < 1
        assert abs(y0 - top * scale) < 1 and abs(y1 - bottom * scale) < 1


def _words_and_lines(layout: PageLayout) -> list[tuple[Word, float, float]]:
    """Each word with its line's top and bottom: the text layer sets a line's words on one baseline
    (the line's bottom), one line high."""
    return [(w, line.box.top, line.box.bottom) for b in layout.blocks for line in b.lines for w in line.words]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_pdf_keeps_accents_euro_quotes_and_czech(tmp_path: Path) -> None:
    image, layout = page_with_words()
    source = tmp_path / "scan.jpg"
    image.save(source, quality=80)
    out = tmp_path / "out.pdf"
    render_pdf(_pages(layout), source, False, out)
    text = _pdftotext(out)
    for word in ("à", "Œuvre", "d’art", "€", "Příliš", "žluťoučký", "kůň"):
        assert word in text.split(), text


def test_pdf_of_a_jpeg_embeds_its_bytes(tmp_path: Path) -> None:
    image, layout = page_with_words()
    source = tmp_path / "scan.jpg"
    image.save(source, quality=80, dpi=(150, 150))
    out = tmp_path / "out.pdf"
    render_pdf(_pages(layout), source, False, out)
    with pikepdf.open(out) as pdf:
        (xobject,) = pdf.pages[0].get_images().values()
        assert xobject.Filter == "/DCTDecode"
        assert xobject.read_raw_bytes() == source.read_bytes()


def test_pdf_of_a_rotated_photo_shows_it_upright(tmp_path: Path) -> None:
    """EXIF orientation 6 (turned 90° clockwise to show): the engine read the upright image; the page
    shows it upright too, the stored pixels unchanged, the words where the upright image has them."""
    upright, layout = page_with_words((1000, 1400))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what the camera stored
    exif = Image.Exif()
    exif[0x0112] = 6
    source = tmp_path / "photo.jpg"
    stored.save(source, exif=exif, quality=90)
    out = tmp_path / "out.pdf"
    render_pdf(_pages(layout), source, False, out)
    assert _words_in_order(_pdftotext(out)) == WORDS
    with pikepdf.open(out) as pdf:
        assert [round(float(v)) for v in pdf.pages[0].mediabox] == [0, 0, 240, 336]
        (xobject,) = pdf.pages[0].get_images().values()
        assert xobject.read_raw_bytes() == source.read_bytes()
    subprocess.run(["pdftoppm", "-r", "72", "-gray", "-png", str(out), str(tmp_path / "shown")], check=True)
    with Image.open(next(tmp_path.glob("shown*.png"))) as shown:
        # The page as shown looks like the upright image (dark where its text is), not the stored one.
        grey = shown.convert("L")
        small = upright.convert("L").resize(grey.size)
        difference = sum(abs(a - b) for a, b in zip(grey.tobytes(), small.tobytes(), strict=True))
        assert difference / len(small.tobytes()) < 8


def _pdf_from_image(image: Image.Image, path: Path, **page: object) -> Path:
    """A scanned PDF: the image as its only page content (Pillow writes it as a JPEG stream), with
    page attributes set afterwards (/Rotate, an offset MediaBox...)."""
    image.save(path, resolution=150.0)
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        for key, value in page.items():
            pdf.pages[0].obj[f"/{key}"] = value
        pdf.save(path)
    return path


def _image_streams(path: Path) -> list[str]:
    with pikepdf.open(path) as pdf:
        return [
            hashlib.sha256(xobject.read_raw_bytes()).hexdigest()
            for page in pdf.pages
            for xobject in page.get_images().values()
        ]


def test_pdf_input_keeps_its_page_and_adds_the_words(tmp_path: Path) -> None:
    image, layout = page_with_words()
    source = _pdf_from_image(image, tmp_path / "scan.pdf")
    before = pikepdf.open(source)
    original_contents = [bytes(s.read_raw_bytes()) for s in _contents(before.pages[0])]
    before.close()
    out = tmp_path / "out.pdf"
    render_pdf(_pages(layout), source, True, out)

    assert _words_in_order(_pdftotext(out)) == WORDS
    assert _image_streams(out) == _image_streams(source)
    with pikepdf.open(out) as pdf:
        # q, the page's own stream as it was, then Q and the text layer.
        contents = [bytes(s.read_raw_bytes()) for s in _contents(pdf.pages[0])]
        assert contents[1:-1] == original_contents
        assert _contents(pdf.pages[0])[0].read_bytes() == b"q\n"
    # And the text layer is invisible: the page renders to the very same pixels.
    for name, path in (("before", source), ("after", out)):
        subprocess.run(["pdftoppm", "-r", "50", "-png", str(path), str(tmp_path / name)], check=True)
    shown = [Image.open(next(tmp_path.glob(f"{name}*.png"))) for name in ("before", "after")]
    assert shown[0].tobytes() == shown[1].tobytes()


def _contents(page: pikepdf.Page) -> list[pikepdf.Stream]:
    contents = page.obj.Contents
    return list(contents) if isinstance(contents, pikepdf.Array) else [contents]


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_pdf_input_minds_rotate_and_the_mediabox_origin(tmp_path: Path, rotate: int) -> None:
    """The engine read the page as shown (PDFium renders /Rotate and the CropBox): each word lands on
    its box of the page as shown, whatever the rotation and wherever the MediaBox starts."""
    image, layout = page_with_words()
    shown = image.rotate(rotate, expand=True)  # the page's content, stored turned back
    source = _pdf_from_image(shown, tmp_path / "scan.pdf")
    with pikepdf.open(source, allow_overwriting_input=True) as pdf:
        page = pdf.pages[0].obj
        x1, y1 = float(page.MediaBox[2]), float(page.MediaBox[3])
        page.MediaBox = [100, -50, 100 + x1, -50 + y1]
        page.Rotate = rotate
        # the content drawn at the new origin too
        pdf.pages[0].contents_add(pdf.make_stream(b"1 0 0 1 100 -50 cm\n"), prepend=True)
        pdf.save(source)
    out = tmp_path / "out.pdf"
    render_pdf(_pages(layout), source, True, out)
    assert _words_in_order(_pdftotext(out)) == WORDS
    scale = 72 / 150
    found = dict(_bboxes(out))
    for word, top, bottom in _words_and_lines(layout):
        x0, y0, x1, y1 = found[_escape(word.text)]
        assert abs(x0 - word.box.left * scale) < 1 and abs(x1 - word.box.right * scale) < 1, word.text
        assert abs(y0 - top * scale) < 1 and abs(y1 - bottom * scale) < 1, word.text


def test_pdf_input_of_several_pages_keeps_those_read(tmp_path: Path) -> None:
    image, layout = page_with_words()
    frames = [image, Image.new("RGB", image.size, "white"), image]
    source = tmp_path / "three.pdf"
    frames[0].save(source, save_all=True, append_images=frames[1:], resolution=150.0)
    pages = _pages(layout, 3, failed=(2,))
    out = tmp_path / "out.pdf"
    render_pdf([pages[1], pages[2]], source, True, out)  # page_range=2-3, page 2 failed
    with pikepdf.open(out) as pdf:
        assert len(pdf.pages) == 2
    assert _pdftotext(out, "-f", "1", "-l", "1").split() == []
    assert _words_in_order(_pdftotext(out, "-f", "2", "-l", "2")) == WORDS


def test_pdf_page_level_reading_keeps_lines_apart(tmp_path: Path) -> None:
    """A VLM measures only the page: each line gets the page's box. The text layer lays the lines one
    under the other, so pdftotext gives them as lines, in order."""
    image, _ = page_with_words()
    page_box = Box(0, 0, image.width, image.height)
    lines = tuple(Line((Word(" ".join(words), page_box, 1.0),), page_box, 1.0) for words in LINES)
    layout = PageLayout(image.width, image.height, (Block(lines, page_box),), "page")
    source = tmp_path / "scan.png"
    image.save(source)
    out = tmp_path / "out.pdf"
    render_pdf(_pages(layout), source, False, out)
    text_lines = [line.split() for line in _pdftotext(out).splitlines() if line.strip()]
    assert text_lines == [list(words) for words in LINES]


# -- the sidecar's file answers ----------------------------------------------------------------------


def test_sidecar_pdf_keeps_pages_own_text_alone(sidecar_factory: Any, tmp_path: Path) -> None:
    """A born-digital PDF read with OCR (mode=ocr, the default) keeps its own text and gets no second,
    invisible copy over it, as `ocrmypdf --skip-text` does: a copy would double every word a reader
    extracts or searches ("Page 1" read back as "Page 11")."""
    sidecar = sidecar_factory()
    sidecar.wait_state("ready")
    source = FIXTURES / "Devis_multi_pages.pdf"
    answer = sidecar.client.post("/ocr", content=source.read_bytes(), params={"format": "pdf"})
    assert answer.status_code == 200, answer.text
    out = tmp_path / "out.pdf"
    out.write_bytes(answer.content)
    assert _pdftotext(out).split() == _pdftotext(source).split() == ["Page", "1", "Page", "2"]
    with pikepdf.open(source) as before, pikepdf.open(out) as after:
        for old, new in zip(before.pages, after.pages, strict=True):
            assert "/GlyphLessFont" not in str(new.obj.get("/Resources", {}).get("/Font", {}))
            assert new.obj.Contents.read_bytes() == old.obj.Contents.read_bytes()


def test_sidecar_answers_each_file_format(sidecar_factory: Any, tmp_path: Path) -> None:
    """format=hocr|alto|pdf through a real tesseract sidecar: the file, its content type, the page
    headers; the words the default answer reads are in each file, and the PDF's page is the input's."""
    sidecar = sidecar_factory()
    sidecar.wait_state("ready")
    image, _ = page_with_words()
    source = tmp_path / "scan.png"
    image.save(source, dpi=(150, 150))
    data = source.read_bytes()
    default = sidecar.client.post("/ocr", content=data).json()
    expected = default["pages"][0]["text"].split()
    assert "2024-117" in expected and "12345678900000" in expected

    pdf = sidecar.client.post("/ocr", content=data, params={"format": "pdf"})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["x-page-count"] == "1" and "x-failed-pages" not in pdf.headers
    out = tmp_path / "out.pdf"
    out.write_bytes(pdf.content)
    assert int(pdf.headers["content-length"]) == len(pdf.content)
    assert _pdftotext(out).split() == expected
    subprocess.run(["pdfimages", "-png", str(out), str(tmp_path / "img")], check=True)
    with Image.open(tmp_path / "img-000.png") as back:
        assert back.tobytes() == image.tobytes()

    hocr = sidecar.client.post("/ocr", content=data, params={"format": "hocr"})
    assert hocr.headers["content-type"] == "text/vnd.hocr+html; charset=utf-8"
    xhtml_word = ".//{http://www.w3.org/1999/xhtml}span[@class='ocrx_word']"
    words = etree.fromstring(hocr.content).findall(xhtml_word)
    assert [w.text for w in words] == expected

    alto = sidecar.client.post("/ocr", content=data, params={"format": "alto"})
    assert alto.headers["content-type"] == "application/xml; charset=utf-8"
    strings = etree.fromstring(alto.content).iterfind(f".//{{{NAMESPACE}}}String")
    assert [s.get("CONTENT") for s in strings] == expected
    # Nothing is left behind in the spool: every file answer was removed once opened.
    assert sidecar.stop() == 0


def test_sidecar_pdf_of_a_scanned_pdf_names_blank_pages(sidecar_factory: Any, tmp_path: Path) -> None:
    """A PDF whose page 2 is blank: the searchable PDF keeps both pages, page 1 with its words, and the
    headers say page 2 is blank."""
    sidecar = sidecar_factory()
    sidecar.wait_state("ready")
    image, _ = page_with_words()
    source = tmp_path / "scan.pdf"
    image.save(source, save_all=True, append_images=[Image.new("RGB", image.size, "white")], resolution=150.0)
    answer = sidecar.client.post("/ocr", content=source.read_bytes(), params={"format": "pdf"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-blank-pages"] == "2" and answer.headers["x-document-pages"] == "2"
    out = tmp_path / "out.pdf"
    out.write_bytes(answer.content)
    assert _image_streams(out) == _image_streams(source)
    assert "12345678900000" in _pdftotext(out, "-f", "1", "-l", "1").split()
    assert _pdftotext(out, "-f", "2", "-l", "2").split() == []
    broken = sidecar.client.post("/ocr", content=b"%PDF-1.4 broken", params={"format": "pdf"})
    assert broken.status_code == 422 and broken.json()["type"] == "CorruptDocument"
    assert sidecar.stop() == 0


def test_sidecar_pdf_of_a_page_scanned_sideways(sidecar_factory: Any, tmp_path: Path) -> None:
    """The engine turns a sideways scan upright to read it (to_input maps back): the PDF shows the
    scan as it is, and its words lie along the sideways lines, in reading order."""
    sidecar = sidecar_factory()
    sidecar.wait_state("ready")
    source = tmp_path / "sideways.png"
    with Image.open(FIXTURES / "Devis_test.png") as devis:
        devis.convert("RGB").rotate(90, expand=True).save(source)
    data = source.read_bytes()
    default = sidecar.client.post("/ocr", content=data).json()
    assert default["pages"][0]["rotation"] in (90, 270)
    expected = default["pages"][0]["text"].split()
    assert "SIRET" in expected
    answer = sidecar.client.post("/ocr", content=data, params={"format": "pdf"})
    out = tmp_path / "out.pdf"
    out.write_bytes(answer.content)
    assert _pdftotext(out, "-raw").split() == expected
    with pikepdf.open(out) as pdf:
        width, height = (float(v) for v in pdf.pages[0].mediabox[2:])
    assert height > width  # the scan as it is: Devis_test.png is landscape, turned it stands
    assert sidecar.stop() == 0


def test_pdf_keeps_touching_words_apart(tmp_path: Path) -> None:
    """rapidocr splits a line at character positions: "n.:" ends where "E123456" starts. The text
    layer still leaves readers a gap to see two words."""
    image = Image.new("RGB", (1000, 400), "white")
    line_box = Box(100, 100, 400, 130)
    words = (Word("n.:", Box(100, 100, 150, 130), 0.9), Word("E123456", Box(150, 100, 400, 130), 0.9))
    layout = PageLayout(1000, 400, (Block((Line(words, line_box, 0.9),), line_box),), "word")
    source = tmp_path / "line.png"
    image.save(source)
    out = tmp_path / "out.pdf"
    render_pdf(_pages(layout), source, False, out)
    assert _pdftotext(out).split() == ["n.:", "E123456"]


def test_pdf_of_a_multipage_tiff_keeps_the_frames_read(tmp_path: Path) -> None:
    """page_range=2 of a 3-frame TIFF: one page, frame 2's pixels, its words."""
    image, layout = page_with_words()
    frames = [Image.new("RGB", image.size, "white"), image, Image.new("RGB", image.size, "grey")]
    source = tmp_path / "scan.tiff"
    frames[0].save(source, save_all=True, append_images=frames[1:], dpi=(150, 150), compression="tiff_lzw")
    out = tmp_path / "out.pdf"
    render_pdf([_pages(layout, 2)[1]], source, False, out)
    assert _words_in_order(_pdftotext(out)) == WORDS
    subprocess.run(["pdfimages", "-png", str(out), str(tmp_path / "img")], check=True)
    (extracted,) = tmp_path.glob("img-*.png")
    with Image.open(extracted) as back:
        assert back.tobytes() == image.tobytes()
