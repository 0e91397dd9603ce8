"""Evaluation corpus for `npm run eval`: realistic French renovation quotes/invoices made as born-digital
PDFs with a real text layer (fpdf2, DejaVu fonts with ToUnicode maps), so the known text is exact, then
degraded into what clients really send: office scans (150-300 dpi, noise, blur, slight skew), pages
turned 90/180/270, phone photos (perspective, uneven light, JPEG, 12 MP), faxes (200x100 dpi, 1-bit
TIFF) and mixed PDFs (some pages with their text layer, others scanned images).

Seeded: every run builds the same bytes. Runs in the bench venv (.venv-bench: fpdf2, pypdfium2, Pillow).
Shared pieces (money format, cities, work items, scanner noise) come from bench_inputs.py.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from pathlib import Path

import bench_inputs
import pypdfium2 as pdfium  # type: ignore[import-untyped]
from bench_inputs import _add, _money
from fpdf import FPDF
from PIL import Image, ImageChops, ImageFilter

FONT_DIR = bench_inputs.find_font().parent
CATEGORIES = ("digital", "scan", "rotated", "photo", "fax", "mixed")

_COMPANIES = [
    ("Rénovation Énergétique Dupont & Fils", "SARL"),
    ("Thermi'Confort Habitat", "SAS"),
    ("Isol'Est Bâtiment", "EURL"),
    ("Les Artisans du Chauffage Réunis", "SARL"),
    ("Éco-Menuiserie Lefèbvre", "SAS"),
    ("Géothermie & Solaire Provençal", "SARL"),
]
_CLIENTS = [
    "M. et Mme Lefèvre", "Mme Amélie Rousseau", "M. François Lemaître", "SCI Les Châtaigniers",
    "M. Jérôme Gaëtan", "Mme Hélène Bérenger",
]
_STREETS = [
    "rue de la République", "avenue Jean-Jaurès", "allée des Tilleuls", "chemin des Écoliers",
    "boulevard Gambetta", "impasse du Moulin",
]
_EXTRA_LOTS = [
    ("Fourniture et pose d'un poêle à granulés 9 kW", "u", 4_290.00),
    ("Calorifugeage des réseaux de chauffage", "ml", 18.40),
    ("Thermostat connecté et sondes d'ambiance", "u", 265.00),
    ("Porte d'entrée isolante acier, Ud=1,2", "u", 2_180.00),
    ("Plaques de plâtre BA13 sur ossature métallique", "m²", 42.60),
    ("Désembouage du circuit de chauffage", "forfait", 540.00),
]
_TVA = (5.5, 10.0, 20.0)
_PAYMENT = [
    "Conditions de paiement : acompte de 30 % à la commande, solde à réception des travaux.",
    "Règlement à 30 jours fin de mois par virement ou chèque. Pénalités de retard : 3 fois le taux légal.",
    "Paiement : 40 % à la signature, 40 % au démarrage du chantier, 20 % à la réception.",
]


@dataclass
class Quote:
    """A generated document: its born-digital PDF and the known text of each page."""

    name: str
    pdf: bytes
    pages: list[str]


@dataclass
class Sample:
    """One evaluation input: a file and the known text of each of its pages."""

    category: str
    name: str
    path: Path
    pages: list[str]
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(self.pages)


def _pct(rate: float) -> str:
    return (f"{rate:.1f}" if rate % 1 else f"{rate:.0f}").replace(".", ",") + " %"


class _Writer:
    """Draws lines on fpdf2 pages and records the known text in reading order."""

    LEFT, RIGHT = 18.0, 192.0

    def __init__(self, pages_total: int) -> None:
        self.pdf = FPDF(unit="mm", format="A4")
        self.pdf.set_auto_page_break(False)
        self.pdf.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.pdf.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.pages: list[list[str]] = []
        self.pages_total = pages_total

    def new_page(self) -> None:
        self.pdf.add_page()
        self.pages.append([])

    def line(self, y: float, cells: list[tuple[float, str, str]], size: float = 9, bold: bool = False) -> None:
        """One text line at baseline y (mm): cells of (x, text, align 'L'|'R'); x is the right edge for 'R'."""
        self.pdf.set_font("DejaVu", "B" if bold else "", size)
        for x, text, align in cells:
            if align == "R":
                x -= self.pdf.get_string_width(text)
            self.pdf.text(x, y, text)
        self.pages[-1].append(" ".join(text for _, text, _ in cells))


def make_quote(seed: int, pages_total: int = 2) -> Quote:
    rng = random.Random(seed)
    company, form = _COMPANIES[seed % len(_COMPANIES)]
    cp, city = bench_inputs._CITIES[seed % len(bench_inputs._CITIES)]
    ccp, ccity = bench_inputs._CITIES[(seed * 3 + 1) % len(bench_inputs._CITIES)]
    siren = "".join(str(rng.randint(0, 9)) for _ in range(9))
    nic = "".join(str(rng.randint(0, 9)) for _ in range(5))
    tva_key = rng.randint(10, 99)
    kind = "DEVIS" if seed % 3 else "FACTURE"
    number = f"{'D' if kind == 'DEVIS' else 'F'}-{2024 + seed % 2}-{rng.randint(100, 9999):04d}"
    day, month = rng.randint(1, 28), rng.randint(1, 12)
    date = f"{day:02d}/{month:02d}/{2024 + seed % 2}"
    lots = list(bench_inputs._LOTS) + [(label, 1, unit, price) for label, unit, price in _EXTRA_LOTS]
    rng.shuffle(lots)
    n_items = 14 + rng.randint(0, 4)
    items = []
    for i in range(n_items):
        label, qty, unit, price = lots[i % len(lots)]
        if unit in ("m²", "ml"):
            qty = rng.randint(8, 140)
        elif unit == "u":
            qty = rng.randint(1, 6)
        items.append((label, qty, unit, price, _TVA[rng.randrange(3)] if i % 4 else 5.5))

    w = _Writer(pages_total)
    per_page = (n_items + pages_total - 1) // pages_total
    totals: dict[float, float] = {}
    for page in range(1, pages_total + 1):
        w.new_page()
        y = 20.0
        if page == 1:
            w.line(y, [(w.LEFT, f"{company} {form}", "L")], size=14, bold=True)
            y += 6
            w.line(y, [(w.LEFT, f"{rng.randint(2, 180)} {_STREETS[seed % len(_STREETS)]}, {cp} {city}", "L")])
            y += 4.5
            w.line(y, [(w.LEFT, f"Tél. 0{rng.randint(1, 5)} {rng.randint(10, 99)} {rng.randint(10, 99)} "
                                f"{rng.randint(10, 99)} {rng.randint(10, 99)} - contact@{company.split()[0].lower().strip(chr(39)).replace(chr(39), '')}.fr", "L")])
            y += 4.5
            w.line(y, [(w.LEFT, f"SIRET : {siren[:3]} {siren[3:6]} {siren[6:]} {nic}", "L")])
            y += 4.5
            w.line(y, [(w.LEFT, f"N° TVA intracommunautaire : FR{tva_key}{siren}", "L")])
            y += 4.5
            w.line(y, [(w.LEFT, f"Qualification RGE Qualibat n° E-E{rng.randint(100000, 999999)}, valable jusqu'au "
                                f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/2026", "L")])
            y += 10
            w.line(y, [(110, "Client :", "L")], bold=True)
            y += 4.5
            w.line(y, [(110, _CLIENTS[seed % len(_CLIENTS)], "L")])
            y += 4.5
            w.line(y, [(110, f"{rng.randint(1, 99)} {_STREETS[(seed + 2) % len(_STREETS)]}", "L")])
            y += 4.5
            w.line(y, [(110, f"{ccp} {ccity}", "L")])
            y += 10
            w.line(y, [(w.LEFT, f"{kind} N° {number}", "L")], size=12, bold=True)
            y += 5.5
            w.line(y, [(w.LEFT, f"Date : {date}   Validité : 3 mois   Début des travaux : {rng.randint(1, 28):02d}/"
                                f"{rng.randint(1, 12):02d}/2025", "L")])
            y += 9
        else:
            w.line(y, [(w.LEFT, f"{company} {form} - {kind} N° {number} du {date} (suite)", "L")], size=8)
            y += 9
        w.line(y, [(w.LEFT, "Désignation", "L"), (118, "Qté", "R"), (122, "Unité", "L"),
                   (158, "P.U. HT", "R"), (172, "TVA", "R"), (w.RIGHT, "Total HT", "R")], bold=True)
        y += 6
        for label, qty, unit, price, rate in items[(page - 1) * per_page: page * per_page]:
            amount = qty * price
            totals[rate] = totals.get(rate, 0.0) + amount
            w.line(y, [(w.LEFT, label[:52], "L"), (118, str(qty), "R"), (122, unit, "L"),
                       (158, _money(price), "R"), (172, _pct(rate), "R"), (w.RIGHT, _money(amount), "R")])
            y += 5.6
        if page == pages_total:
            y += 5
            total_ht = sum(totals.values())
            w.line(y, [(120, "Total HT", "L"), (w.RIGHT, _money(total_ht), "R")], bold=True)
            y += 5
            tva_total = 0.0
            for rate in sorted(totals):
                tva = round(totals[rate] * rate / 100, 2)
                tva_total += tva
                w.line(y, [(120, f"TVA {_pct(rate)}", "L"), (w.RIGHT, _money(tva), "R")])
                y += 5
            w.line(y, [(120, "Total TTC", "L"), (w.RIGHT, _money(total_ht + tva_total), "R")], bold=True)
            y += 5
            prime = rng.randint(8, 60) * 100
            w.line(y, [(120, "Prime MaPrimeRénov' estimée", "L"), (w.RIGHT, "- " + _money(prime), "R")])
            y += 10
            w.line(y, [(w.LEFT, _PAYMENT[seed % len(_PAYMENT)], "L")], size=8.5)
            y += 4.5
            w.line(y, [(w.LEFT, f"IBAN FR76 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)} "
                                f"{rng.randint(1000, 9999)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)} "
                                f"{rng.randint(100, 999)}   BIC CCBPFRPPXXX", "L")], size=8.5)
            y += 4.5
            w.line(y, [(w.LEFT, "Bon pour accord, date et signature précédées de la mention « lu et approuvé ».", "L")], size=8.5)
        # Footer: legal small print and the page number, kept by every reader.
        w.line(283, [(w.LEFT, f"{form} au capital de {rng.randint(2, 50) * 1000} € - RCS {city} {siren[:3]} {siren[3:6]} "
                              f"{siren[6:]} - Code APE 4322B - Assurance décennale n° {rng.randint(100000, 999999)}", "L")], size=7)
        w.line(289, [(w.RIGHT, f"Page {page}/{pages_total}", "R")], size=8)
    return Quote(name=f"{kind.lower()}-{seed}", pdf=bytes(w.pdf.output()), pages=["\n".join(p) for p in w.pages])


# -- degradations ----------------------------------------------------------------------------------


def render(pdf: bytes, dpi: float) -> list[Image.Image]:
    doc = pdfium.PdfDocument(pdf)
    try:
        out = []
        for i in range(len(doc)):
            page = doc[i]
            bitmap = page.render(scale=dpi / 72, grayscale=True)
            out.append(bitmap.to_pil().convert("L"))
            bitmap.close()
            page.close()
        return out
    finally:
        doc.close()


def scan(page: Image.Image, rng: random.Random, max_skew: float = 1.5) -> Image.Image:
    """Office scanner: slight skew, blur, grey paper, noise, specks (bench_inputs.scanned's recipe)."""
    angle = rng.uniform(-max_skew, max_skew)
    out = page.rotate(angle, resample=Image.Resampling.BILINEAR, expand=False, fillcolor=255)
    out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 0.9) * page.size[0] / 2480))
    ink, paper = rng.randint(20, 60), rng.randint(215, 240)
    out = out.point(lambda v: ink + v * (paper - ink) // 255)
    return _add(out, Image.effect_noise(out.size, rng.uniform(8, 16)))


def photo(page: Image.Image, rng: random.Random) -> Image.Image:
    """Phone photo of a printed page on a desk: 4032x3024 portrait frame, perspective (page tilted
    towards the camera), small turn, uneven light with a shadow, blur, RGB JPEG."""
    frame_w, frame_h = 3024, 4032
    scale = frame_h * rng.uniform(0.78, 0.9) / page.size[1]
    page = page.resize((round(page.size[0] * scale), round(page.size[1] * scale)), Image.Resampling.LANCZOS)
    canvas = Image.new("L", (frame_w, frame_h), rng.randint(60, 110))
    x0, y0 = (frame_w - page.size[0]) // 2, (frame_h - page.size[1]) // 2
    canvas.paste(page, (x0, y0))
    # Perspective: the top edge narrower than the bottom (phone held above, slightly tilted).
    inset = rng.uniform(0.03, 0.07) * page.size[0]
    shift = rng.uniform(-0.02, 0.02) * page.size[0]
    quad = (x0 - inset + shift, y0, x0 + page.size[0] + inset + shift, y0,
            x0 + page.size[0], y0 + page.size[1], x0, y0 + page.size[1])
    src = [(quad[0], quad[1]), (quad[2], quad[3]), (quad[4], quad[5]), (quad[6], quad[7])]
    dst = [(x0, y0), (x0 + page.size[0], y0), (x0 + page.size[0], y0 + page.size[1]), (x0, y0 + page.size[1])]
    coeffs = _perspective_coeffs(dst, src)
    canvas = canvas.transform(canvas.size, Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC, fillcolor=80)
    canvas = canvas.rotate(rng.uniform(-3, 3), resample=Image.Resampling.BICUBIC, fillcolor=80)
    # Uneven light: brightest off-centre (a lamp), darker towards the far corners; a smooth gradient.
    cx, cy = rng.randint(0, 76), rng.randint(0, 16)
    light = Image.radial_gradient("L").crop((cx, cy, cx + 180, cy + 240))
    light = light.resize(canvas.size, Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(20))
    depth = rng.randint(90, 130)
    light = light.point(lambda v: 255 - v * depth // 255)
    shadow = Image.new("L", canvas.size, 255)
    band_x = rng.randint(0, frame_w // 2)
    shadow.paste(185, (band_x, 0, band_x + frame_w // 3, frame_h))
    shadow = shadow.filter(ImageFilter.GaussianBlur(120))
    lit = ImageChops.multiply(ImageChops.multiply(canvas, light), shadow)
    lit = _add(lit, Image.effect_noise(lit.size, 9)).filter(ImageFilter.GaussianBlur(rng.uniform(1.0, 1.6)))
    warm = lit.point(lambda v: v * 90 // 100)
    return Image.merge("RGB", [lit, lit.point(lambda v: v * 96 // 100), warm])


def _perspective_coeffs(dst: list[tuple[float, float]], src: list[tuple[float, float]]) -> list[float]:
    """The 8 coefficients PIL's PERSPECTIVE transform takes to map output points dst to input src."""
    rows: list[list[float]] = []
    rhs: list[float] = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    return _solve(rows, rhs)


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(n):
            if r != col:
                f = m[r][col] / m[col][col]
                m[r] = [rv - f * cv for rv, cv in zip(m[r], m[col], strict=True)]
    return [m[i][n] / m[i][i] for i in range(n)]


def fax(page200: Image.Image, rng: random.Random) -> Image.Image:
    """A G3 fax in normal mode: 200 dpi across, 100 dpi down (half the rows), 1-bit, a little skew
    and line noise."""
    out = page200.rotate(rng.uniform(-0.8, 0.8), resample=Image.Resampling.BILINEAR, fillcolor=255)
    out = out.resize((out.size[0], out.size[1] // 2), Image.Resampling.BOX)
    out = _add(out, Image.effect_noise(out.size, 20))
    return out.point(lambda v: 255 if v > rng.randint(140, 170) else 0).convert("1")


def _image_pdf(images: list[Image.Image], dpi: float, quality: int = 80) -> bytes:
    buf = io.BytesIO()
    images[0].save(buf, "PDF", resolution=dpi, save_all=True, append_images=images[1:], quality=quality)
    return buf.getvalue()


def _mixed_pdf(digital: bytes, scanned: bytes, image_pages: set[int]) -> bytes:
    """The born-digital PDF with the pages in image_pages (0-based) replaced by the scanned ones."""
    out = pdfium.PdfDocument.new()
    src, img = pdfium.PdfDocument(digital), pdfium.PdfDocument(scanned)
    try:
        for i in range(len(src)):
            out.import_pages(img if i in image_pages else src, [i])
        buf = io.BytesIO()
        out.save(buf)
        return buf.getvalue()
    finally:
        src.close()
        img.close()
        out.close()


def build(out: Path, docs_per_category: int = 2, seed: int = 2024) -> list[Sample]:
    out.mkdir(parents=True, exist_ok=True)
    samples: list[Sample] = []
    for ci, category in enumerate(CATEGORIES):
        for d in range(docs_per_category):
            doc_seed = seed + ci * 10 + d
            rng = random.Random(doc_seed)
            quote = make_quote(doc_seed)
            base = out / f"{category}-{d + 1}-{quote.name}"
            if category == "digital":
                path = base.with_suffix(".pdf")
                path.write_bytes(quote.pdf)
                samples.append(Sample(category, path.name, path, quote.pages, {"kind": "born-digital PDF"}))
            elif category == "scan":
                dpi = (150, 200, 300)[(doc_seed) % 3]
                images = [scan(p, rng) for p in render(quote.pdf, dpi)]
                path = base.with_suffix(".pdf")
                path.write_bytes(_image_pdf(images, dpi, quality=rng.randint(70, 85)))
                samples.append(Sample(category, path.name, path, quote.pages, {"dpi": str(dpi)}))
            elif category == "rotated":
                turns = [(90, 180, 270)[(doc_seed + i) % 3] for i in range(len(quote.pages))]
                images = [scan(p, rng, 0.6).rotate(-t, expand=True) for p, t in zip(render(quote.pdf, 300), turns, strict=True)]
                path = base.with_suffix(".pdf")
                path.write_bytes(_image_pdf(images, 300))
                samples.append(Sample(category, path.name, path, quote.pages, {"turns": ",".join(map(str, turns))}))
            elif category == "photo":
                for i, page in enumerate(render(quote.pdf, 300)):
                    path = out / f"{category}-{d + 1}-{quote.name}-p{i + 1}.jpg"
                    photo(page, rng).save(path, "JPEG", quality=rng.randint(72, 88))
                    samples.append(Sample(category, path.name, path, [quote.pages[i]], {"kind": "12 MP JPEG"}))
            elif category == "fax":
                images = [fax(p, rng) for p in render(quote.pdf, 200)]
                path = base.with_suffix(".tif")
                images[0].save(path, "TIFF", compression="group4", dpi=(200, 100), save_all=True, append_images=images[1:])
                samples.append(Sample(category, path.name, path, quote.pages, {"dpi": "200x100"}))
            elif category == "mixed":
                images = [scan(p, rng) for p in render(quote.pdf, 300)]
                image_pages = {len(quote.pages) - 1} if d % 2 == 0 else {0}
                path = base.with_suffix(".pdf")
                path.write_bytes(_mixed_pdf(quote.pdf, _image_pdf(images, 300), image_pages))
                samples.append(Sample(category, path.name, path, quote.pages,
                                      {"image_pages": ",".join(str(p + 1) for p in sorted(image_pages))}))
    return samples


if __name__ == "__main__":
    import sys

    for sample in build(Path(sys.argv[1] if len(sys.argv) > 1 else "run/eval/inputs")):
        print(sample.category, sample.path, sample.notes)
