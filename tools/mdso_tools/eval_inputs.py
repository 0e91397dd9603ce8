"""Evaluation corpus for `npm run eval`: realistic French renovation quotes/invoices made as born-digital
PDFs with a real text layer (fpdf2, DejaVu fonts with ToUnicode maps), so the known text is exact, then
degraded into what clients really send: office scans (150-300 dpi, noise, blur, slight skew), pages
turned 90/180/270, phone photos (perspective, uneven light, JPEG, 12 MP), faxes (200x100 dpi, 1-bit
TIFF) and mixed PDFs (some pages with their text layer, others scanned images); `phone` photographs
the photo quotes again the way real captures come (shadows, EXIF turns, small text: see its section);
`bill` is a dense two-page energy or telecom bill in small narrow type, ruled tables, scanned at 300 dpi.

Seeded: every run builds the same bytes. Runs in the bench venv (.venv-bench: fpdf2, pypdfium2, Pillow):
  PYTHONPATH=sidecars:tools .venv-bench/bin/python -m mdso_tools.eval_inputs [FOLDER] [--docs N] \
    [--categories a,b]
Shared pieces (money format, cities, work items, scanner noise) come from bench_inputs. The SIREN,
SIRET, VAT number and IBAN of each document are drawn at random, then their last digits are set so
that their check digits hold, as on a real document (mdso_sidecar.identifiers has the checks; the
draws are the same as before, so the rest of each document is unchanged).
"""

from __future__ import annotations

import argparse
import io
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import pypdfium2 as pdfium  # type: ignore[import-untyped]
from fpdf import FPDF
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from mdso_sidecar.identifiers import siren_ok, siret_ok, tva_key
from mdso_tools import bench_inputs
from mdso_tools.bench_inputs import _add, _money

FONT_DIR = bench_inputs.find_font().parent
CATEGORIES = ("digital", "scan", "rotated", "photo", "fax", "mixed", "phone", "bill")

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

    def line(self, y: float, cells: list[tuple[float, str, str]], size: float = 9,
             bold: bool = False) -> None:
        """One text line at baseline y (mm): cells of (x, text, align 'L'|'R'); x is the right edge for
        'R'."""
        self.pdf.set_font("DejaVu", "B" if bold else "", size)
        for x, text, align in cells:
            left = x - self.pdf.get_string_width(text) if align == "R" else x
            self.pdf.text(left, y, text)
        self.pages[-1].append(" ".join(text for _, text, _ in cells))


def make_quote(seed: int, pages_total: int = 2) -> Quote:
    rng = random.Random(seed)
    company, form = _COMPANIES[seed % len(_COMPANIES)]
    cp, city = bench_inputs._CITIES[seed % len(bench_inputs._CITIES)]
    ccp, ccity = bench_inputs._CITIES[(seed * 3 + 1) % len(bench_inputs._CITIES)]
    siren, nic = _company_ids("".join(str(rng.randint(0, 9)) for _ in range(9)),
                              "".join(str(rng.randint(0, 9)) for _ in range(5)))
    vat_no = _after_key_draw(rng, f"FR{tva_key(siren)}{siren}")
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
            domain = company.split()[0].lower().strip(chr(39)).replace(chr(39), "")
            w.line(y, [(w.LEFT, (f"Tél. 0{rng.randint(1, 5)} {rng.randint(10, 99)} {rng.randint(10, 99)} "
                                f"{rng.randint(10, 99)} {rng.randint(10, 99)} - contact@{domain}.fr"), "L")])
            y += 4.5
            w.line(y, [(w.LEFT, f"SIRET : {siren[:3]} {siren[3:6]} {siren[6:]} {nic}", "L")])
            y += 4.5
            w.line(y, [(w.LEFT, f"N° TVA intracommunautaire : {vat_no}", "L")])
            y += 4.5
            w.line(y, [(w.LEFT, (f"Qualification RGE Qualibat n° E-E{rng.randint(100000, 999999)}, "
                                f"valable jusqu'au {rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/2026"),
                        "L")])
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
            w.line(y, [(w.LEFT, (f"Date : {date}   Validité : 3 mois   Début des travaux : "
                                f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/2025"), "L")])
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
            iban = _fr_iban(" ".join(str(rng.randint(1000, 9999)) for _ in range(5))
                            + f" {rng.randint(100, 999)}")
            w.line(y, [(w.LEFT, f"IBAN {iban}   BIC CCBPFRPPXXX", "L")], size=8.5)
            y += 4.5
            w.line(y, [(w.LEFT, "Bon pour accord, date et signature précédées de la mention "
                                "« lu et approuvé ».", "L")], size=8.5)
        # Footer: legal small print and the page number, kept by every reader.
        w.line(283, [(w.LEFT, (f"{form} au capital de {rng.randint(2, 50) * 1000} € - RCS {city} "
                              f"{siren[:3]} {siren[3:6]} {siren[6:]} - Code APE 4322B - "
                              f"Assurance décennale n° {rng.randint(100000, 999999)}"), "L")], size=7)
        w.line(289, [(w.RIGHT, f"Page {page}/{pages_total}", "R")], size=8)
    return Quote(name=f"{kind.lower()}-{seed}", pdf=bytes(w.pdf.output()),
                 pages=["\n".join(p) for p in w.pages])


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
    canvas = canvas.transform(canvas.size, Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC,
                              fillcolor=80)
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


def _perspective_coeffs(dst: Sequence[tuple[float, float]],
                        src: Sequence[tuple[float, float]]) -> list[float]:
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
    m = [[*row, b[i]] for i, row in enumerate(a)]
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


# -- phone captures (category "phone") ------------------------------------------------------------------
# `photo` above is read at well under 1 % CER by every reader; real camera photos of printed pages at
# 10-45 % (docs/ACCURACY.md, "Real photos"). `phone` adds what those captures do and `photo` does not:
# light that falls off by half across the sheet and a cast shadow (the main cause of Tesseract's lost
# paragraphs there), a page filling the frame or a small part of it, EXIF orientations with the page
# also turned inside the frame, 10-20° camera tilt seen through a phone lens, curl and folds, a thumb
# on a corner, coloured headings and light-grey small print, sensor blur, noise, sharpening and JPEG.
# Pure Pillow (the bench venv has no numpy), every draw from the document's seeded generator: its
# randbytes for the noise, not effect_noise, whose C rand() the seed does not cover.

A4_MM = (210.0, 297.0)
# The page is rendered this fine: the near edge of a tilted page filling a 4000 px frame is ~16 px/mm.
PHONE_DPI = 400
PHONE_SENSORS = ((4000, 3000), (3648, 2736), (3264, 2448))
EXIF_ORIENTATION = 0x0112
# EXIF Orientation -> the transpose that stores an upright picture so that a viewer applying the tag
# shows it upright again (Pillow's exif_transpose applies the inverse).
_EXIF_STORE = {1: None, 3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90,
               8: Image.Transpose.ROTATE_270}
# Framings, taken in turn so that any four consecutive pages hold each: (page's long side as a share of
# the frame's, EXIF tag, quarter turns of the page inside the upright picture, thumb on a corner).
# 6 is a phone held upright, 8 and 3 the other ways; the turned pages are a sheet photographed sideways
# or from across the desk.
_FRAMINGS = (((0.40, 0.52), 6, 0, True), ((0.92, 1.0), 1, 0, False), ((0.70, 0.85), 8, 1, False),
             ((0.78, 0.9), 3, 2, True))
_HEADING_INKS = ((22, 62, 140), (150, 28, 40), (18, 110, 92), (205, 95, 20), (90, 40, 130))
_PAPERS = ((250, 249, 245), (247, 241, 224), (238, 236, 230))
_DESKS = ((112, 78, 50), (150, 150, 146), (60, 62, 70), (196, 190, 178), (150, 110, 72))
_SKINS = ((224, 172, 140), (198, 134, 102), (141, 85, 54), (236, 190, 160))
_LIGHTS = ((255, 236, 205), (255, 255, 255), (232, 240, 255))


@dataclass
class PhoneCapture:
    """A phone photo of a page: the upright picture, the EXIF tag its file carries, what was drawn."""

    image: Image.Image
    orientation: int
    notes: dict[str, str]

    def save(self, path: Path, quality: int) -> None:
        """The JPEG as the phone writes it: the sensor's pixels and the tag that turns them upright."""
        store = _EXIF_STORE[self.orientation]
        pixels = self.image if store is None else self.image.transpose(store)
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = self.orientation
        pixels.save(path, "JPEG", quality=quality, exif=exif.tobytes())


@dataclass
class _Camera:
    """A pinhole camera over the page: page millimetres (x right, y down, lifted towards the lens by
    `lift`) to pixels of the upright frame."""

    rot: tuple[float, ...]  # 3x3, row-major
    focal: float
    distance: float
    lift: tuple[str, float, float, float, float]  # curled edge, its width (share), height, fold, bow (mm)
    cx: float = 0.0
    cy: float = 0.0

    def height(self, x: float, y: float) -> float:
        """How far the sheet is lifted off the desk at (x, y) mm: a curled edge, tri-fold creases, a bow."""
        edge, width, curl, fold, bow = self.lift
        s = min(1.0, max(0.0, x / A4_MM[0]))
        t = min(1.0, max(0.0, y / A4_MM[1]))
        d = s if edge == "right" else 1 - s if edge == "left" else t if edge == "bottom" else 1 - t
        z = curl * max(0.0, (d - 1 + width) / width) ** 2
        z += fold * (1 - abs(2 * ((1.5 * t) % 1) - 1))  # creases at a third and two thirds
        return z + bow * math.sin(math.pi * s)

    def project(self, x: float, y: float) -> tuple[float, float]:
        px, py, pz = x - A4_MM[0] / 2, y - A4_MM[1] / 2, -self.height(x, y)
        r = self.rot
        cx = r[0] * px + r[1] * py + r[2] * pz
        cy = r[3] * px + r[4] * py + r[5] * pz
        cz = r[6] * px + r[7] * py + r[8] * pz + self.distance
        return self.focal * cx / cz + self.cx, self.focal * cy / cz + self.cy

    def unproject(self, fx: float, fy: float, x: float, y: float) -> tuple[float, float]:
        """The page point (mm) seen at frame pixel (fx, fy), by Newton's method from the guess (x, y)."""
        step = 0.05
        for _ in range(8):
            px, py = self.project(x, y)
            ex, ey = px - fx, py - fy
            if abs(ex) + abs(ey) < 0.02:
                break
            ax, ay = self.project(x + step, y)
            bx, by = self.project(x, y + step)
            j11, j21, j12, j22 = (ax - px) / step, (ay - py) / step, (bx - px) / step, (by - py) / step
            det = j11 * j22 - j12 * j21
            x -= (j22 * ex - j12 * ey) / det
            y -= (j11 * ey - j21 * ex) / det
        return x, y


def _rotation(turn: float, pitch: float, yaw: float) -> tuple[float, ...]:
    """Ry(yaw) Rx(pitch) Rz(turn), degrees: the page turned in its plane, then the phone tilted."""
    def mul(a: list[list[float]], b: list[list[float]]) -> list[list[float]]:
        return [[sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)] for i in range(3)]

    g, a, b = (math.radians(v) for v in (turn, pitch, yaw))
    rz = [[math.cos(g), -math.sin(g), 0.0], [math.sin(g), math.cos(g), 0.0], [0.0, 0.0, 1.0]]
    rx = [[1.0, 0.0, 0.0], [0.0, math.cos(a), -math.sin(a)], [0.0, math.sin(a), math.cos(a)]]
    ry = [[math.cos(b), 0.0, math.sin(b)], [0.0, 1.0, 0.0], [-math.sin(b), 0.0, math.cos(b)]]
    return tuple(v for row in mul(ry, mul(rx, rz)) for v in row)


def _text_lines(page: Image.Image) -> list[tuple[int, int]]:
    """The rendered page's text lines: runs of rows holding ink, (top, bottom) in pixels."""
    profile = page.point(lambda v: 255 if v < 160 else 0).convert("F")
    rows = list(profile.resize((1, page.size[1]), Image.Resampling.BOX).getdata())
    lines: list[tuple[int, int]] = []
    top = None
    for y, ink in enumerate([*rows, 0.0]):
        if ink > 0 and top is None:
            top = y
        elif ink <= 0 and top is not None:
            lines.append((top, y - 1))
            top = None
    return lines


def _print_colours(page: Image.Image, rng: random.Random) -> Image.Image:
    """The page as a colour printer made it: headings (the first line, the tall ones) in a brand colour,
    the small print at the foot in light grey, on tinted paper."""
    lines = _text_lines(page)
    heights = sorted(b - t for t, b in lines)
    median = heights[len(heights) // 2]
    ink = rng.choice(_HEADING_INKS)
    grey = rng.randint(130, 165)
    out = Image.merge("RGB", [page] * 3)
    for i, (top, bottom) in enumerate(lines):
        if i == 0 or bottom - top >= 1.25 * median:
            colour = ink
        elif i >= len(lines) - 2 and bottom - top < median:
            colour = (grey, grey, grey)
        else:
            continue
        band = page.crop((0, top, page.size[0], bottom + 1))
        out.paste(Image.merge("RGB", [band.point(lambda v, c=c: 255 - (255 - v) * (255 - c) // 255)
                                      for c in colour]), (0, top))
    return ImageChops.multiply(out, Image.new("RGB", out.size, rng.choice(_PAPERS)))


def _shading(cam: _Camera, size: tuple[int, int], rng: random.Random) -> Image.Image:
    """Light on the bent sheet (page coordinates): a face turned from the lamp is darker."""
    elevation, azimuth = math.radians(rng.uniform(35, 60)), rng.uniform(0, 2 * math.pi)
    lx, ly, lz = (math.cos(azimuth) * math.cos(elevation), math.sin(azimuth) * math.cos(elevation),
                  math.sin(elevation))
    ambient, step = 0.35, 2.0
    cols, rows = int(A4_MM[0] / step) + 1, int(A4_MM[1] / step) + 1
    flat = ambient + (1 - ambient) * lz
    values = []
    for j in range(rows):
        for i in range(cols):
            x, y = i * step, j * step
            dx = (cam.height(x + 0.5, y) - cam.height(x - 0.5, y))
            dy = (cam.height(x, y + 0.5) - cam.height(x, y - 0.5))
            norm = math.sqrt(dx * dx + dy * dy + 1)
            lit = max(0.0, (-dx * lx - dy * ly + lz) / norm)
            values.append(min(1.0, (ambient + (1 - ambient) * lit) / flat))
    small = Image.new("L", (cols, rows))
    small.putdata([round(255 * v) for v in values])
    return small.resize(size, Image.Resampling.BICUBIC)


def _warp(page: Image.Image, cam: _Camera, frame: tuple[int, int], cell: int = 48) -> Image.Image:
    """The page (RGBA, any resolution) as the camera sees it: transparent where it is not."""
    ppm = page.size[0] / A4_MM[0]
    # The flat page's homography, frame -> page mm: the first guess for each grid point.
    corners = [(0.0, 0.0), (A4_MM[0], 0.0), (A4_MM[0], A4_MM[1]), (0.0, A4_MM[1])]
    flat = _Camera(cam.rot, cam.focal, cam.distance, ("left", 1.0, 0.0, 0.0, 0.0), cam.cx, cam.cy)
    h = _perspective_coeffs([flat.project(x, y) for x, y in corners], corners)
    xs, ys = list(range(0, frame[0] + cell, cell)), list(range(0, frame[1] + cell, cell))
    grid: list[list[tuple[float, float]]] = []
    for fy in ys:
        row = []
        for fx in xs:
            w = h[6] * fx + h[7] * fy + 1
            row.append(cam.unproject(fx, fy, (h[0] * fx + h[1] * fy + h[2]) / w,
                                     (h[3] * fx + h[4] * fy + h[5]) / w))
        grid.append(row)
    mesh = []
    for j in range(len(ys) - 1):
        for i in range(len(xs) - 1):
            quad = (grid[j][i], grid[j + 1][i], grid[j + 1][i + 1], grid[j][i + 1])
            if (all(x < -1 for x, _ in quad) or all(x > A4_MM[0] + 1 for x, _ in quad)
                    or all(y < -1 for _, y in quad) or all(y > A4_MM[1] + 1 for _, y in quad)):
                continue
            mesh.append(((xs[i], ys[j], xs[i + 1], ys[j + 1]), tuple(v * ppm for p in quad for v in p)))
    return page.transform(frame, Image.Transform.MESH, mesh, Image.Resampling.BILINEAR,
                          fillcolor=(0, 0, 0, 0))


def _noise(size: tuple[int, int], sigma: float, rng: random.Random, scale: int = 1) -> Image.Image:
    """Seeded noise centred on 128 (triangular, standard deviation ~sigma), drawn at 1/scale size."""
    small = (max(1, size[0] // scale), max(1, size[1] // scale))
    a = Image.frombytes("L", small, rng.randbytes(small[0] * small[1]))
    b = Image.frombytes("L", small, rng.randbytes(small[0] * small[1]))
    k = sigma / 52  # the mean of two uniform bytes has a standard deviation of ~52
    out = ImageChops.add(a, b, 2.0).point(lambda v: max(0, min(255, round(128 + (v - 128) * k))))
    return out if scale == 1 else out.resize(size, Image.Resampling.BICUBIC)


def _desk(size: tuple[int, int], rng: random.Random) -> Image.Image:
    """A table top: a colour, a grain along one direction, some mottling."""
    base = Image.new("RGB", size, rng.choice(_DESKS))
    grain = _noise((size[0] // 4, size[1] // 96), 7, rng).resize(size, Image.Resampling.BICUBIC)
    mottle = _noise(size, 6, rng, scale=64)
    texture = ImageChops.add(grain, mottle, 1.0, -128)
    return _add_grey(base, texture)


def _add_grey(image: Image.Image, noise: Image.Image) -> Image.Image:
    """image + (noise - 128) on every channel, clipped."""
    return ImageChops.add(image, Image.merge(image.mode, [noise] * len(image.getbands())), 1.0, -128)


def _thumb(cam: _Camera, text_box: tuple[float, float, float, float], rng: random.Random
           ) -> list[list[tuple[float, float]]] | None:
    """A hand holding the sheet by a corner: outlines (page mm, palm first) of a palm beyond the corner
    and a thumb whose tip rests in the margin, clear of the text box (so the known text stays exact);
    None when no thumb fits the margin."""
    x0, y0, x1, y1 = text_box
    corner = rng.choice(((0.0, 0.0), (A4_MM[0], 0.0), (0.0, A4_MM[1]), A4_MM))
    inner = (x0 if corner[0] == 0 else x1, y0 if corner[1] == 0 else y1)
    angle = math.atan2(corner[1] - inner[1], corner[0] - inner[0]) + math.radians(rng.uniform(-25, 25))
    along, across = (math.cos(angle), math.sin(angle)), (-math.sin(angle), math.cos(angle))
    side = rng.choice((-1, 1))

    def ellipse(cx: float, cy: float, a: float, b: float) -> list[tuple[float, float]]:
        return [(cx + along[0] * a * math.cos(t) + across[0] * b * math.sin(t),
                 cy + along[1] * a * math.cos(t) + across[1] * b * math.sin(t))
                for t in (k * math.pi / 24 for k in range(48))]

    depth, length, width = rng.uniform(0.45, 0.7), rng.uniform(30, 38), rng.uniform(9, 11)
    for _ in range(12):
        tip = (corner[0] + (inner[0] - corner[0]) * depth, corner[1] + (inner[1] - corner[1]) * depth)
        thumb = ellipse(tip[0] + along[0] * length, tip[1] + along[1] * length, length, width)
        palm_at = (tip[0] + along[0] * (2 * length + 30) + across[0] * side * 25,
                   tip[1] + along[1] * (2 * length + 30) + across[1] * side * 25)
        palm = ellipse(*palm_at, 55, 42)
        mask = Image.new("L", (round(A4_MM[0]), round(A4_MM[1])), 0)
        draw = ImageDraw.Draw(mask)
        for outline in (palm, thumb):
            draw.polygon(outline, fill=255)
        clear = (math.floor(x0) - 1, math.floor(y0) - 1, math.ceil(x1) + 1, math.ceil(y1) + 1)
        if mask.crop(clear).getbbox() is None:
            return [palm, thumb]
        depth *= 0.85
        width *= 0.95
    return None


def _draw_hand(frame: Image.Image, cam: _Camera, outlines: list[list[tuple[float, float]]],
               rng: random.Random) -> None:
    """The hand over the frame, its shadow first: skin, darker towards the edges."""
    skin = rng.choice(_SKINS)
    shift = (rng.uniform(-6, 6), rng.uniform(3, 8))
    shadow = Image.new("L", (frame.size[0] // 8, frame.size[1] // 8), 255)
    draw = ImageDraw.Draw(shadow)
    for outline in outlines:
        draw.polygon([tuple(v / 8 for v in cam.project(x + shift[0], y + shift[1])) for x, y in outline],
                     fill=120)
    shadow = shadow.filter(ImageFilter.GaussianBlur(6)).resize(frame.size, Image.Resampling.BICUBIC)
    frame.paste(ImageChops.multiply(frame, Image.merge("RGB", [shadow] * 3)))
    draw = ImageDraw.Draw(frame)
    for outline in outlines:
        cx = sum(x for x, _ in outline) / len(outline)
        cy = sum(y for _, y in outline) / len(outline)
        for k in range(10):
            scale, shade = 1 - k * 0.085, 0.7 + 0.3 * math.sin(math.pi / 2 * k / 9)
            draw.polygon([cam.project(cx + (x - cx) * scale, cy + (y - cy) * scale) for x, y in outline],
                         fill=tuple(round(c * shade) for c in skin))


def _light(size: tuple[int, int], page_box: tuple[float, float, float, float], rng: random.Random
           ) -> tuple[Image.Image, str]:
    """The light falling on the scene, 255 = brightest: a lamp's fall-off across the frame, the lens's
    vignetting and a soft-edged cast shadow (the phone's, the photographer's) over part of the page;
    tinted by the light's colour."""
    scale = 16
    w, h = size[0] // scale, size[1] // scale
    theta = rng.uniform(0, 2 * math.pi)
    lamp, falloff = (math.cos(theta), math.sin(theta)), rng.uniform(0.3, 0.55)
    vignette = rng.uniform(0.15, 0.35)
    # The shadow's edge: a gently curved line across the page, shaded on one side.
    left, top, right, bottom = (v / scale for v in page_box)
    side = rng.choice(("left", "right", "top", "bottom"))
    cover = rng.uniform(0.3, 0.55)
    tilt = math.radians(rng.uniform(-25, 25))
    normal = {"left": (1.0, 0.0), "right": (-1.0, 0.0), "top": (0.0, 1.0), "bottom": (0.0, -1.0)}[side]
    normal = (normal[0] * math.cos(tilt) - normal[1] * math.sin(tilt),
              normal[0] * math.sin(tilt) + normal[1] * math.cos(tilt))
    anchor = {"left": (left + cover * (right - left), (top + bottom) / 2),
              "right": (right - cover * (right - left), (top + bottom) / 2),
              "top": ((left + right) / 2, top + cover * (bottom - top)),
              "bottom": ((left + right) / 2, bottom - cover * (bottom - top))}[side]
    level, soft = rng.uniform(0.4, 0.55), rng.uniform(0.02, 0.06) * min(w, h)
    bend = rng.uniform(-0.4, 0.4) / max(w, h)
    radius = math.hypot(w, h) / 2
    values = []
    for y in range(h):
        for x in range(w):
            along = (x - w / 2) * lamp[0] + (y - h / 2) * lamp[1]
            light = 1 - falloff * (0.5 + along / (2 * radius))
            light *= 1 - vignette * (math.hypot(x - w / 2, y - h / 2) / radius) ** 2
            dx, dy = x - anchor[0], y - anchor[1]
            across = dx * normal[1] - dy * normal[0]
            inside = (dx * normal[0] + dy * normal[1] + bend * across * across) / soft
            lit = min(1.0, max(0.0, 0.5 + inside))
            values.append(light * (level + (1 - level) * lit * lit * (3 - 2 * lit)))
    top_value = max(values)
    small = Image.new("L", (w, h))
    small.putdata([round(255 * v / top_value) for v in values])
    grey = small.resize(size, Image.Resampling.BICUBIC)
    tint = rng.choice(_LIGHTS)
    return Image.merge("RGB", [grey.point(lambda v, c=c: v * c // 255) for c in tint]), side


def phone(page: Image.Image, rng: random.Random, shot: int) -> PhoneCapture:
    """A phone photo of the page (rendered at PHONE_DPI, grey) on a desk; `shot` picks the framing
    (_FRAMINGS, in turn), everything else is drawn from rng."""
    (share_lo, share_hi), orientation, quarter, hand = _FRAMINGS[shot % len(_FRAMINGS)]
    sensor = rng.choice(PHONE_SENSORS)
    frame = (sensor[1], sensor[0]) if quarter % 2 == 0 else sensor  # the page's long side along the frame's
    ink = page.point(lambda v: 255 if v < 160 else 0).getbbox() or (0, 0, page.size[0], page.size[1])
    mm = A4_MM[0] / page.size[0]
    text_box = (ink[0] * mm, ink[1] * mm, ink[2] * mm, ink[3] * mm)
    turn = quarter * 90 + rng.choice((-1, 1)) * rng.uniform(2, 8)
    pitch, yaw = rng.choice((-1, 1)) * rng.uniform(10, 20), rng.uniform(-8, 8)
    lift = (rng.choice(("left", "right", "top", "bottom")), rng.uniform(0.15, 0.35), rng.uniform(6, 18),
            rng.choice((0.0, rng.uniform(2, 5))), rng.uniform(0, 4))
    focal = 0.75 * max(frame)  # a phone's main camera, ~26 mm equivalent
    share = rng.uniform(share_lo, share_hi)
    cam = _Camera(_rotation(turn, pitch, yaw), focal, focal * A4_MM[1] / (share * max(frame)), lift)
    # Place the page: the text (not necessarily the sheet's edges) inside the frame, off-centre.
    pad = 0.015 * min(frame)
    border = [(x, y) for k in range(11) for x, y in (
        (text_box[0] + (text_box[2] - text_box[0]) * k / 10, text_box[1]),
        (text_box[0] + (text_box[2] - text_box[0]) * k / 10, text_box[3]),
        (text_box[0], text_box[1] + (text_box[3] - text_box[1]) * k / 10),
        (text_box[2], text_box[1] + (text_box[3] - text_box[1]) * k / 10))]
    while True:
        seen = [cam.project(x, y) for x, y in border]
        lo_x, hi_x = pad - min(x for x, _ in seen), frame[0] - pad - max(x for x, _ in seen)
        lo_y, hi_y = pad - min(y for _, y in seen), frame[1] - pad - max(y for _, y in seen)
        if lo_x <= hi_x and lo_y <= hi_y:
            break
        cam.distance *= 1.04
    cam.cx = lo_x + (hi_x - lo_x) * rng.uniform(0.3, 0.7)
    cam.cy = lo_y + (hi_y - lo_y) * rng.uniform(0.3, 0.7)

    # The sheet: colours, then resampled to about the frame's scale, then the bends' shading.
    printed = _print_colours(page, rng)
    ppm = min(page.size[0] / A4_MM[0], 1.2 * focal / cam.distance)
    printed = printed.resize((round(A4_MM[0] * ppm), round(A4_MM[1] * ppm)), Image.Resampling.LANCZOS)
    printed = ImageChops.multiply(printed, Image.merge("RGB", [_shading(cam, printed.size, rng)] * 3))
    printed.putalpha(255)
    sheet = _warp(printed, cam, frame)
    alpha = sheet.getchannel("A")

    # The desk, the sheet's own soft shadow on it, the sheet, the hand.
    scene = _desk(frame, rng)
    drop = alpha.filter(ImageFilter.GaussianBlur(0.004 * max(frame))).point(lambda v: 255 - v * 70 // 255)
    drop = ImageChops.offset(drop, round(0.003 * max(frame)), round(0.004 * max(frame)))
    scene = ImageChops.multiply(scene, Image.merge("RGB", [drop] * 3))
    scene.paste(sheet.convert("RGB"), mask=alpha)
    outlines = _thumb(cam, text_box, rng) if hand else None
    if outlines is not None:
        _draw_hand(scene, cam, outlines, rng)

    # Light, then the camera: exposure with veiling flare, depth-of-field blur towards the far edge,
    # sensor noise, the phone's sharpening (JPEG is the caller's).
    corners = [cam.project(x, y) for x, y in ((0, 0), (A4_MM[0], 0), A4_MM, (0, A4_MM[1]))]
    page_box = (min(x for x, _ in corners), min(y for _, y in corners),
                max(x for x, _ in corners), max(y for _, y in corners))
    light, shadow_side = _light(frame, page_box, rng)
    scene = ImageChops.multiply(scene, light)
    flare = rng.randint(14, 34)
    scene = scene.point(lambda v: flare + v * (255 - flare) // 255)
    near = rng.uniform(0.5, 1.1) * max(frame) / 4000
    sharp = scene.filter(ImageFilter.GaussianBlur(near))
    soft = scene.filter(ImageFilter.GaussianBlur(near + rng.uniform(0.8, 1.6) * max(frame) / 4000))
    depth = Image.linear_gradient("L").resize(frame, Image.Resampling.BILINEAR)
    scene = Image.composite(soft if pitch > 0 else sharp, sharp if pitch > 0 else soft, depth)
    scene = _add_grey(scene, _noise(frame, rng.uniform(2.5, 5), rng))
    scene = scene.filter(ImageFilter.UnsharpMask(2, rng.randint(60, 120), 3))
    notes = {"kind": f"{frame[0]}x{frame[1]} phone JPEG", "exif": str(orientation),
             "turn": f"{turn:.0f}", "tilt": f"{pitch:.0f}/{yaw:.0f}", "share": f"{share:.2f}",
             "curl": f"{lift[0]} {lift[2]:.0f} mm", "shadow": shadow_side,
             "hand": "yes" if outlines is not None else "no"}
    return PhoneCapture(scene, orientation, notes)


# -- utility and telecom bills (category "bill") ----------------------------------------------------------
# Issue 13: dense multi-column bills in small print lost 10-45 % of their numbers on clean scans. A bill
# as French energy and telecom suppliers print them: A4, three columns of account facts under tinted
# header bands, a consumption table with thin rules, meter readings and a history side by side, the
# amount to pay white on a dark band, small print (6.5-8 pt) full of numbers: meter indexes, kWh, unit
# prices to 4 decimals, amounts with thousands separators, dates, a 14-digit PDL/PRM, SIRET, IBAN groups,
# phone numbers, call durations. Every number is drawn from the document's seed.

_SUPPLIERS = [
    ("Énergies du Rhône", "SA", "électricité et gaz naturel"),
    ("Atlantique Télécom", "SAS", "téléphonie fixe, mobile et internet"),
    ("Gaz & Électricité de Provence", "SA", "électricité et gaz naturel"),
    ("Hexa Mobile Réseaux", "SA", "téléphonie fixe, mobile et internet"),
]
_BILL_HEADS = ((225, 225, 225), (214, 228, 242), (222, 238, 222), (246, 226, 206))
_BILL_DARK = ((0, 84, 150), (120, 28, 60), (20, 96, 84))
_MONTHS = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc.")


def _amount(value: float) -> str:
    """An amount as bills print it: French thousands and comma, no currency sign (it is in the header)."""
    return _money(value).removesuffix(" €")


def _grouped(number: int) -> str:
    """An integer with French thousands separators: 12 345."""
    return _amount(number)[:-3]


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(n - 1))


def _company_ids(siren_drawn: str, nic_drawn: str) -> tuple[str, str]:
    """A SIREN and NIC from random digits, their last digit set so that the SIREN's and the SIRET's
    Luhn keys hold."""
    siren = next(siren_drawn[:8] + d for d in "0123456789" if siren_ok(siren_drawn[:8] + d))
    nic = next(nic_drawn[:4] + d for d in "0123456789" if siret_ok(siren + nic_drawn[:4] + d))
    return siren, nic


def _after_key_draw(rng: random.Random, vat_no: str) -> str:
    """vat_no, after spending the draw that made a random VAT key before the keys were computed, so
    that every later draw, and the rest of the document, stays as it was."""
    rng.randint(10, 99)
    return vat_no


def _fr_iban(bban_drawn: str) -> str:
    """A French IBAN, printed in groups of four, from 23 random digits (grouped 4 4 4 4 4 3): the last
    two become the RIB key (bank, branch and account make 0 mod 97 with it), which makes the IBAN's
    own key 76."""
    digits = bban_drawn.replace(" ", "")[:21]
    key = 97 - int(digits) * 100 % 97
    bban = f"{digits}{key:02d}"
    return "FR76 " + " ".join(bban[i:i + 4] for i in range(0, len(bban), 4))


def _price4(value: float) -> str:
    return f"{value:.4f}".replace(".", ",")


class _BillPage:
    """Text placed anywhere on an fpdf2 page; the known text is rebuilt row by row (same baseline, left
    to right), the order the service's row layout reads a page in."""

    def __init__(self, pdf: FPDF) -> None:
        self.pdf = pdf
        self.items: list[tuple[float, float, str]] = []

    def text(self, x: float, y: float, text: str, *, size: float = 7, bold: bool = False, align: str = "L",
             colour: tuple[int, int, int] = (0, 0, 0), family: str = "DejaVu", stretch: float = 100) -> None:
        self.pdf.set_font(family, "B" if bold else "", size)
        self.pdf.set_stretching(stretch)
        self.pdf.set_text_color(*colour)
        if align == "R":
            x -= self.pdf.get_string_width(text)
        self.pdf.text(x, y, text)
        self.items.append((round(y, 2), x, text))

    def band(self, x: float, y: float, w: float, h: float, fill: tuple[int, int, int]) -> None:
        self.pdf.set_fill_color(*fill)
        self.pdf.rect(x, y, w, h, style="F")

    def rule(self, x0: float, y0: float, x1: float, y1: float | None = None, *, grey: int = 150,
             width: float = 0.1) -> None:
        """A thin line from (x0, y0) to (x1, y1), horizontal when y1 is None."""
        self.pdf.set_draw_color(grey, grey, grey)
        self.pdf.set_line_width(width)
        self.pdf.line(x0, y0, x1, y0 if y1 is None else y1)

    def known_text(self) -> str:
        rows: dict[float, list[tuple[float, str]]] = {}
        for y, x, text in self.items:
            rows.setdefault(y, []).append((x, text))
        return "\n".join(" ".join(t for _, t in sorted(cells)) for _, cells in sorted(rows.items()))


@dataclass(frozen=True)
class BillStyle:
    """How a bill's tables are set (make_bill): the font family of the tables, every other row tinted,
    thin vertical rules between the columns."""

    family: str = "DejaVuCond"
    zebra: tuple[int, int, int] | None = (238, 238, 238)
    boxed: bool = True
    small_print: tuple[int, int, int] = (110, 110, 110)
    # Horizontal scale of the tables' type (percent): bills set them in narrow faces (Arial Narrow,
    # Helvetica Condensed), narrower than DejaVu Sans Condensed; their spaces are narrower too.
    stretch: float = 80


def _table(p: _BillPage, y: float, columns: list[tuple[float, str, str]], rows: list[list[str]], *,
           head: tuple[int, int, int], x0: float, x1: float, style: BillStyle, size: float = 6.5,
           pitch: float = 3.4) -> float:
    """A table: a tinted header band, rows separated by thin rules (optionally every other one tinted,
    the columns boxed); columns are (x, title, align), x the right edge for 'R'. Returns the y below it."""
    top = y - 2.9
    p.band(x0, top, x1 - x0, 4.0, head)
    for x, title, align in columns:
        p.text(x, y, title, size=size, bold=True, align=align, family=style.family, stretch=style.stretch)
    y += pitch + 0.6
    for i, row in enumerate(rows):
        if style.zebra is not None and i % 2:
            p.band(x0, y - pitch + 1.0, x1 - x0, pitch, style.zebra)
        for (x, _, align), cell in zip(columns, row, strict=True):
            if cell:
                p.text(x, y, cell, size=size, align=align, family=style.family, stretch=style.stretch)
        p.rule(x0, y + 1.0, x1)
        y += pitch
    if style.boxed:
        # Vertical rules between the columns, halfway across the gap between their texts.
        bottom = y - pitch + 1.0
        spans = []
        p.pdf.set_stretching(style.stretch)
        for j, (x, title, align) in enumerate(columns):
            p.pdf.set_font(style.family, "B", size)
            width = p.pdf.get_string_width(title)
            p.pdf.set_font(style.family, "", size)
            width = max([width, *(p.pdf.get_string_width(row[j]) for row in rows)])
            spans.append((x - width, x) if align == "R" else (x, x + width))
        for x in (x0, *((a[1] + b[0]) / 2 for a, b in pairwise(spans)), x1):
            p.rule(x, top, x, bottom)
    return y


def make_bill(seed: int, style: BillStyle | None = None) -> Quote:
    """A two-page energy (even seeds) or telecom (odd seeds) bill; deterministic from the seed."""
    style = style or BillStyle()
    rng = random.Random(seed)
    telecom = seed % 2 == 1
    supplier, form, trade = _SUPPLIERS[(seed // 2) % 2 * 2 + int(telecom)]
    head = _BILL_HEADS[seed % len(_BILL_HEADS)]
    dark = _BILL_DARK[seed % len(_BILL_DARK)]
    cp, city = bench_inputs._CITIES[seed % len(bench_inputs._CITIES)]
    ccp, ccity = bench_inputs._CITIES[(seed * 5 + 3) % len(bench_inputs._CITIES)]
    siren, nic = _company_ids(_digits(rng, 9), "".join(str(rng.randint(0, 9)) for _ in range(5)))
    vat_no = f"FR{tva_key(siren)}{siren}"
    year = 2025
    month = rng.randint(2, 11)
    issued = f"{rng.randint(1, 28):02d}/{month:02d}/{year}"
    due = f"{rng.randint(1, 28):02d}/{month + 1:02d}/{year}"
    start = f"{rng.randint(1, 28):02d}/{month - 1:02d}/{year}"
    end = f"{rng.randint(1, 28):02d}/{month:02d}/{year}"
    client_no, account_no, invoice_no = _digits(rng, 10), _digits(rng, 12), _digits(rng, 11)
    client_ref = f"{client_no[0]} {client_no[1:4]} {client_no[4:7]} {client_no[7:]}"
    invoice_ref = f"{invoice_no[:2]} {invoice_no[2:5]} {invoice_no[5:8]} {invoice_no[8:]}"
    iban = _fr_iban(" ".join(_digits(rng, 4) for _ in range(5)) + f" {rng.randint(100, 999)}")
    mandate = f"{supplier.split()[0][:3].upper()}{_digits(rng, 8)}"

    # The bill's lines: (designation, period/detail, quantity, unit price, amount, VAT rate).
    lines: list[tuple[str, str, str, str, float, float]] = []
    if telecom:
        box = rng.choice((29.99, 34.99, 39.99, 44.99))
        lines.append(("Abonnement Box Fibre 1 Gb/s", f"{start} - {end}", "1", _price4(box), box, 20.0))
        for label, price in (("Forfait mobile 100 Go", 12.99), ("Forfait mobile 5 Go", 4.99)):
            n = rng.randint(1, 3)
            lines.append((label, f"{start} - {end}", str(n), _price4(price), n * price, 20.0))
        for label in ("Appels vers mobiles hors forfait", "Appels internationaux", "SMS surtaxés",
                      "Data à l'étranger (Go)", "Numéros spéciaux 08 99", "Location décodeur TV"):
            qty = rng.randint(1, 240)
            price = rng.uniform(0.01, 0.6) if "Location" not in label else 3.0
            lines.append((label, f"{start} - {end}", str(qty), _price4(price), round(qty * price, 2), 20.0))
        lines.append(("Option bouquet Ciné Séries", f"{start} - {end}", "1", _price4(9.99), 9.99, 20.0))
        lines.append(("Remise fidélité 24 mois", f"{start} - {end}", "1", _price4(-5.0), -5.0, 20.0))
    else:
        kva = rng.choice((6, 9, 12))
        sub = {6: 12.44, 9: 15.63, 12: 18.89}[kva]
        lines.append((f"Abonnement électricité {kva} kVA", f"{start} - {end}", "2",
                      _price4(sub), 2 * sub, 5.5))
        for label in ("Consommation heures pleines", "Consommation heures creuses"):
            kwh = rng.randint(180, 2400)
            price = rng.uniform(0.16, 0.28)
            lines.append((label, f"{start} - {end}", _grouped(kwh), _price4(price), round(kwh * price, 2),
                          20.0))
        hp_hc = sum(int(line[2].replace(" ", "")) for line in lines[1:])
        lines.append(("Accise sur l'électricité", f"{start} - {end}", _grouped(hp_hc), _price4(0.0225),
                      round(hp_hc * 0.0225, 2), 20.0))
        lines.append(("Contribution tarifaire d'acheminement", f"{start} - {end}", "1",
                      _price4(rng.uniform(2, 6)), round(rng.uniform(2, 6), 2), 5.5))
        m3 = rng.randint(60, 900)
        coef = rng.uniform(10.5, 11.4)
        gas_kwh = round(m3 * coef)
        lines.append(("Abonnement gaz B1", f"{start} - {end}", "2", _price4(21.12), 42.24, 5.5))
        lines.append(("Consommation gaz naturel", f"{start} - {end}", _grouped(gas_kwh),
                      _price4(rng.uniform(0.09, 0.13)), round(gas_kwh * rng.uniform(0.09, 0.13), 2), 20.0))
        lines.append(("Accise sur le gaz naturel", f"{start} - {end}", _grouped(gas_kwh), _price4(0.01637),
                      round(gas_kwh * 0.01637, 2), 20.0))
        lines.append(("Contribution tarifaire gaz", f"{start} - {end}", "1", _price4(rng.uniform(3, 9)),
                      round(rng.uniform(3, 9), 2), 5.5))
        lines.append(("Prestation de relève spéciale", issued, "1", _price4(28.72), 28.72, 20.0))
    totals: dict[float, float] = {}
    for *_, amount, rate in lines:
        totals[rate] = totals.get(rate, 0.0) + amount
    vat = {rate: round(total * rate / 100, 2) for rate, total in totals.items()}
    total_ht = sum(totals.values())
    ttc = total_ht + sum(vat.values())
    # A past balance makes the amount to pay a four-figure one on some bills.
    previous = rng.choice((0.0, round(rng.uniform(800, 2600), 2)))
    to_pay = ttc + previous

    pdf = FPDF(unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.add_font("DejaVuCond", "", str(FONT_DIR / "DejaVuSansCondensed.ttf"))
    pdf.add_font("DejaVuCond", "B", str(FONT_DIR / "DejaVuSansCondensed-Bold.ttf"))
    left, right = 12.0, 198.0
    cols = (left, 76.0, 140.0)
    pages: list[str] = []

    # Page 1: the account in three columns, the amount to pay, the bill's lines, meters and history.
    pdf.add_page()
    p = _BillPage(pdf)
    p.text(left, 16, f"{supplier} {form}", size=12, bold=True)
    p.text(right, 16, "Facture " + ("de téléphonie" if telecom else "d'énergie"), size=10, bold=True,
           align="R")
    p.text(left, 21, f"Fournisseur d'{trade}" if not telecom else f"Opérateur de {trade}", size=7)
    y = 29.0
    for x, title in zip(cols, ("Votre fournisseur", "Vos références", "Votre facture"), strict=True):
        p.band(x, y - 3.0, 58, 4.2, head)
        p.text(x + 1, y, title, size=7.5, bold=True)
    # The bill's own facts on a tint of the header colour.
    red, green, blue = (c + (255 - c) // 2 for c in head)
    p.band(cols[2], y + 1.3, 58, 6 * 3.3 + 0.4, (red, green, blue))
    ref = f"{_digits(rng, 14)}"
    columns = [
        [f"{rng.randint(1, 180)} {_STREETS[seed % len(_STREETS)]}", f"{cp} {city}",
         f"Service clients 09 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} "
         f"{rng.randint(10, 99)}",
         f"du lundi au samedi de 8 h à {rng.choice((18, 19, 20))} h",
         f"SIRET {siren[:3]} {siren[3:6]} {siren[6:]} {nic}",
         f"TVA {_after_key_draw(rng, vat_no)}"],
        [_CLIENTS[seed % len(_CLIENTS)], f"{rng.randint(1, 99)} {_STREETS[(seed + 3) % len(_STREETS)]}",
         f"{ccp} {ccity}", f"N° client : {client_ref}", f"N° de compte : {account_no}",
         (f"Ligne fixe : 0{rng.randint(1, 5)} {rng.randint(10, 99)} {rng.randint(10, 99)} "
          f"{rng.randint(10, 99)} {rng.randint(10, 99)}") if telecom else f"PDL : {ref}"],
        [f"Facture n° {invoice_ref}", f"du {issued}", f"Période du {start} au {end}",
         f"Montant TTC : {_amount(ttc)} €", f"Solde antérieur : {_amount(previous)} €",
         f"Prélevé le {due}"],
    ]
    y += 4.4
    for i in range(6):
        for x, column in zip(cols, columns, strict=True):
            p.text(x + 1, y, column[i], size=7)
        y += 3.3
    # The amount to pay: white on the supplier's dark colour.
    y += 3
    p.band(left, y - 4.2, right - left, 6.0, dark)
    p.text(left + 2, y, f"Montant à payer avant le {due}", size=8, bold=True, colour=(255, 255, 255))
    p.text(right - 2, y, f"{_amount(to_pay)} €", size=8, bold=True, align="R", colour=(255, 255, 255))
    y += 8
    p.text(left, y, "Détail de votre facture (montants en euros)", size=8, bold=True)
    y += 5
    y = _table(p, y, [(left + 1, "Désignation", "L"), (92, "Période", "L"), (140, "Quantité", "R"),
                      (160, "Prix unit. HT", "R"), (181, "Montant HT", "R"), (right - 1, "TVA", "R")],
               [[label, period, qty, unit, _amount(amount), _pct(rate)]
                for label, period, qty, unit, amount, rate in lines],
               head=head, x0=left, x1=right, style=style)
    y += 1.5
    summary = [("Total hors taxes", total_ht)] + [(f"TVA {_pct(rate)}", vat[rate]) for rate in sorted(vat)]
    summary += [("Total TTC de la période", ttc), ("Solde antérieur", previous), ("Total à payer", to_pay)]
    for label, value in summary:
        p.text(150, y, label, size=7, bold=label.startswith("Total"))
        p.text(right - 1, y, _amount(value), size=7, bold=label.startswith("Total"), align="R")
        y += 3.3
    y += 4
    # Meters (or lines) and a 12-month history, side by side.
    mid = 108.0
    if telecom:
        meter_rows = [[f"06 {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)}",
                       f"{rng.randint(0, 99)},{rng.randint(10, 99)} Go",
                       f"{rng.randint(0, 30)} h {rng.randint(10, 59)}",
                       str(rng.randint(0, 400))] for _ in range(4)]
        meter_cols = [(left + 1, "Ligne mobile", "L"), (58, "Data", "R"), (78, "Appels", "R"),
                      (mid - 3, "SMS", "R")]
    else:
        meter_rows = []
        for label in ("Électricité HP", "Électricité HC", "Gaz (m³)", "Gaz (kWh)"):
            first = rng.randint(1000, 99999)
            used = rng.randint(60, 2400)
            meter_rows.append([label, _digits(rng, 6) if "Gaz" in label else _digits(rng, 8),
                               f"{first:06d}", f"{first + used:06d}", _grouped(used)])
        meter_cols = [(left + 1, "Compteur", "L"), (48, "N° de série", "R"), (67, "Index début", "R"),
                      (85, "Index fin", "R"), (mid - 3, "Conso.", "R")]
    y_meters = _table(p, y, meter_cols, meter_rows, head=head, x0=left, x1=mid - 2, style=style)
    history = [[f"{_MONTHS[(month - 12 + k) % 12]} {year - (1 if month - 12 + k < 0 else 0)}",
                _grouped(rng.randint(90, 1600)) + (" Mo" if telecom else " kWh"),
                _amount(rng.uniform(20, 240))] for k in range(6)]
    history2 = [[f"{_MONTHS[(month - 6 + k) % 12]} {year - (1 if month - 6 + k < 0 else 0)}",
                 _grouped(rng.randint(90, 1600)) + (" Mo" if telecom else " kWh"),
                 _amount(rng.uniform(20, 240))] for k in range(6)]
    y_hist = _table(p, y, [(mid + 1, "Mois", "L"), (136, "Conso.", "R"), (150, "€ TTC", "R"),
                           (153, "Mois", "L"), (181, "Conso.", "R"), (right - 1, "€ TTC", "R")],
                    [a + b for a, b in zip(history, history2, strict=True)],
                    head=head, x0=mid, x1=right, style=style)
    y = max(y_meters, y_hist) + 4
    for note in ((f"Réf. de paiement {invoice_no} {client_no} - Prélèvement SEPA sur le compte {iban}"),
                 (f"Référence unique de mandat {mandate} - ICS FR{rng.randint(10, 99)}ZZZ{_digits(rng, 6)}"),
                 (f"En cas de retard de paiement : pénalités de {rng.choice(('10', '12,5', '15'))} % l'an "
                  "et indemnité forfaitaire de 40 € pour frais de recouvrement.")):
        p.text(left, y, note, size=6.5, colour=style.small_print)
        y += 3.0
    p.rule(left, 283.5, right, grey=120, width=0.2)
    capital = _grouped(rng.randint(1_000_000, 2_000_000_000))
    p.text(left, 287, f"{supplier} {form} au capital de {capital} € - {siren[:3]} {siren[3:6]} {siren[6:]} "
                      f"RCS {city} - SIRET {siren}{nic} - TVA {_after_key_draw(rng, vat_no)}", size=6.5,
           colour=style.small_print)
    p.text(right, 291, "Page 1/2", size=7, align="R")
    pages.append(p.known_text())

    # Page 2: the detail, in two columns (calls, or daily readings), under the same header bands.
    pdf.add_page()
    p = _BillPage(pdf)
    p.text(left, 14, f"{supplier} - Facture n° {invoice_ref} du {issued} - N° client {client_ref}",
           size=7.5, bold=True)
    y = 27.0
    half = (left, 104.0), (106.0, right)
    for side, (x0, x1) in enumerate(half):
        rows = []
        if telecom:
            for _ in range(44):
                rows.append([f"{rng.randint(1, 28):02d}/{month:02d}",
                             f"{rng.randint(7, 22):02d}:{rng.randint(0, 59):02d}",
                             f"0{rng.choice((1, 2, 6, 7))} {_digits(rng, 2)} {_digits(rng, 2)} "
                             f"{_digits(rng, 2)} {_digits(rng, 2)}",
                             f"{rng.randint(0, 1):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
                             _amount(rng.choice((0.0, 0.0, rng.uniform(0.05, 4.8))))])
            cols2 = [(x0 + 1, "Date", "L"), (x0 + 17, "Heure", "L"), (x0 + 30, "Numéro appelé", "L"),
                     (x1 - 16, "Durée", "R"), (x1 - 1, "Montant", "R")]
        else:
            index = rng.randint(10000, 90000)
            for _ in range(44):
                day_use = rng.randint(3, 95)
                index += day_use
                rows.append([f"{rng.randint(1, 28):02d}/{month:02d}/{year}", f"{index:06d}",
                             _grouped(day_use), _price4(rng.uniform(0.09, 0.28)),
                             _amount(day_use * rng.uniform(0.09, 0.28))])
            cols2 = [(x0 + 1, "Date", "L"), (x0 + 36, "Index", "R"), (x0 + 50, "kWh", "R"),
                     (x1 - 18, "Prix €/kWh", "R"), (x1 - 1, "Montant", "R")]
        p.text(x0, y - 5, ("Détail des communications" if telecom else "Relevés journaliers")
               + f" ({side + 1}/2)", size=8, bold=True)
        y_end = _table(p, y, cols2, rows, head=head, x0=x0, x1=x1, style=style, pitch=3.3)
    y = y_end + 5
    p.text(left, y, "Vos informations pratiques", size=8, bold=True)
    y += 4
    infos = [
        (f"Dépannage 24 h/24 : 09 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} "
         f"{rng.randint(10, 99)}"
        f" - Médiateur national, {rng.randint(1, 99)} rue de la Boétie, 75008 Paris"),
        f"IBAN {iban} - BIC {supplier.split()[0][:4].upper().replace('É', 'E')}FRPPXXX - Mandat {mandate}",
        (f"Prochaine facture vers le {rng.randint(1, 28):02d}/{(month + 1) % 12 + 1:02d}/{year} - "
        f"Prochain relevé vers le {rng.randint(1, 28):02d}/{(month + 1) % 12 + 1:02d}/{year}"),
    ]
    for info in infos:
        p.text(left, y, info, size=7)
        y += 3.3
    p.rule(left, 283.5, right, grey=120, width=0.2)
    p.text(left, 287, f"{supplier} {form} - {siren[:3]} {siren[3:6]} {siren[6:]} RCS {city} - "
                      f"Facture n° {invoice_ref}", size=6.5,
           colour=style.small_print)
    p.text(right, 291, "Page 2/2", size=7, align="R")
    pages.append(p.known_text())
    return Quote(name=f"facture-{'telecom' if telecom else 'energie'}-{seed}", pdf=bytes(pdf.output()),
                 pages=pages)


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


def build(out: Path, docs_per_category: int = 2, seed: int = 2024,
          categories: tuple[str, ...] = CATEGORIES) -> list[Sample]:
    """The inputs of `categories` (all by default); a document's seed depends on its category's place in
    CATEGORIES, not on which others are built, so a category is the same bytes alone or with the rest."""
    out.mkdir(parents=True, exist_ok=True)
    samples: list[Sample] = []
    for ci, category in enumerate(CATEGORIES):
        if category not in categories:
            continue
        for d in range(docs_per_category):
            doc_seed = seed + ci * 10 + d
            rng = random.Random(doc_seed)
            if category == "bill":
                bill = make_bill(doc_seed)
                images = [scan(p, rng) for p in render(bill.pdf, 300)]
                path = (out / f"{category}-{d + 1}-{bill.name}").with_suffix(".pdf")
                path.write_bytes(_image_pdf(images, 300, quality=rng.randint(70, 85)))
                samples.append(Sample(category, path.name, path, bill.pages, {"dpi": "300"}))
                continue
            # phone photographs the photo category's quotes: the same text under both captures.
            quote = make_quote(seed + CATEGORIES.index("photo") * 10 + d if category == "phone" else doc_seed)
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
                images = [scan(p, rng, 0.6).rotate(-t, expand=True)
                          for p, t in zip(render(quote.pdf, 300), turns, strict=True)]
                path = base.with_suffix(".pdf")
                path.write_bytes(_image_pdf(images, 300))
                samples.append(Sample(category, path.name, path, quote.pages,
                                      {"turns": ",".join(map(str, turns))}))
            elif category == "photo":
                for i, page in enumerate(render(quote.pdf, 300)):
                    path = out / f"{category}-{d + 1}-{quote.name}-p{i + 1}.jpg"
                    photo(page, rng).save(path, "JPEG", quality=rng.randint(72, 88))
                    samples.append(Sample(category, path.name, path, [quote.pages[i]],
                                          {"kind": "12 MP JPEG"}))
            elif category == "fax":
                images = [fax(p, rng) for p in render(quote.pdf, 200)]
                path = base.with_suffix(".tif")
                images[0].save(path, "TIFF", compression="group4", dpi=(200, 100), save_all=True,
                               append_images=images[1:])
                samples.append(Sample(category, path.name, path, quote.pages, {"dpi": "200x100"}))
            elif category == "mixed":
                images = [scan(p, rng) for p in render(quote.pdf, 300)]
                image_pages = {len(quote.pages) - 1} if d % 2 == 0 else {0}
                path = base.with_suffix(".pdf")
                path.write_bytes(_mixed_pdf(quote.pdf, _image_pdf(images, 300), image_pages))
                samples.append(Sample(category, path.name, path, quote.pages,
                                      {"image_pages": ",".join(str(p + 1) for p in sorted(image_pages))}))
            elif category == "phone":
                for i, page in enumerate(render(quote.pdf, PHONE_DPI)):
                    capture = phone(page, rng, d * len(quote.pages) + i)
                    path = out / f"{category}-{d + 1}-{quote.name}-p{i + 1}.jpg"
                    capture.save(path, quality=rng.randint(72, 90))
                    samples.append(Sample(category, path.name, path, [quote.pages[i]], capture.notes))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description="Builds the eval's inputs (seeded: same bytes each run).")
    parser.add_argument("folder", nargs="?", type=Path, default=Path("run/eval/inputs"),
                        help="where to write them (default run/eval/inputs)")
    parser.add_argument("--docs", type=int, default=2, help="documents per category (default 2)")
    parser.add_argument("--categories", default=",".join(CATEGORIES),
                        help=f"comma list (default all: {','.join(CATEGORIES)})")
    args = parser.parse_args()
    chosen = tuple(c for c in args.categories.split(",") if c)
    unknown = set(chosen) - set(CATEGORIES)
    if unknown:
        parser.error(f"unknown categories: {', '.join(sorted(unknown))}")
    for sample in build(args.folder, args.docs, categories=chosen):
        print(sample.category, sample.path, sample.notes)


if __name__ == "__main__":
    main()
