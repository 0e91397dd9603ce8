"""Benchmark inputs with known text: a synthetic French renovation quote drawn with a TTF font, turned
into a scanned-style image-only PDF (noise, blur, slight skew, JPEG), a phone-photo-style JPEG and a
small one-page PNG. Deterministic (seeded), so every run and every engine reads the same pixels.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
)

DPI = 300
A4 = (2480, 3508)  # 300 dpi
MARGIN = 200
FONT_PT = 10.5
FOOTER_PT = 7
FOOTER_MARK = "\x00"  # drawing marker, not part of the text

_LOTS = [
    ("Dépose de l'ancienne chaudière fioul et évacuation", 1, "forfait", 450.00),
    ("Pompe à chaleur air/eau 11 kW Atlantic Alféa Excellia", 1, "u", 9_870.00),
    ("Ballon d'eau chaude thermodynamique 270 L", 1, "u", 2_340.50),
    ("Isolation des combles perdus, laine soufflée R=7", 86, "m²", 28.90),
    ("Fenêtre PVC double vitrage 120 x 135 cm, Uw=1,3", 4, "u", 685.00),
    ("Raccordement hydraulique et électrique", 1, "forfait", 1_150.00),
    ("Mise en service et réglage de la régulation", 1, "forfait", 320.00),
    ("Isolation des murs par l'extérieur, polystyrène 140 mm", 112, "m²", 134.75),
    ("Ventilation mécanique hygroréglable type B", 1, "u", 1_480.00),
    ("Échafaudage, protection du chantier et nettoyage", 1, "forfait", 890.00),
]

_CITIES = [
    ("75011", "Paris"), ("69003", "Lyon"), ("13008", "Marseille"), ("33000", "Bordeaux"),
    ("59800", "Lille"), ("44000", "Nantes"), ("67000", "Strasbourg"), ("31500", "Toulouse"),
]


def _money(value: float) -> str:
    whole, cents = f"{value:.2f}".split(".")
    groups: list[str] = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    return " ".join(groups) + "," + cents + " €"


def quote_pages(pages: int, seed: int = 7) -> list[list[str]]:
    """The lines of each page of a quote (known text)."""
    rng = random.Random(seed)
    out: list[list[str]] = []
    for number in range(1, pages + 1):
        cp, city = _CITIES[(number - 1) % len(_CITIES)]
        siret = "".join(str(rng.randint(0, 9)) for _ in range(14))
        lines = [
            f"DEVIS N° D-2024-{1000 + number * 37}   Page {number}/{pages}",
            "Rénovation Énergétique Dupont & Fils SARL",
            f"{rng.randint(2, 180)} rue de la République, {cp} {city}",
            f"SIRET : {siret[:3]} {siret[3:6]} {siret[6:9]} {siret[9:]}   "
            f"RGE QualiPAC n° QPAC/{rng.randint(10000, 99999)}",
            f"Date : {rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/2024   Validité : 3 mois",
            f"Client : M. et Mme Lefèvre, {rng.randint(1, 99)} allée des Tilleuls, {cp} {city}",
            "",
        ]
        total = 0.0
        for i in range(13):
            label, qty, unit, price = _LOTS[(i + number) % len(_LOTS)]
            qty = max(1, qty + rng.randint(-2, 3) if qty > 1 else qty)
            amount = qty * price
            total += amount
            lines.append(f"{i + 1}. {label}")
            lines.append(f"    Quantité : {qty} {unit}   P.U. HT : {_money(price)}   "
                         f"Total HT : {_money(amount)}")
        tva = total * 0.055
        lines += [
            "",
            f"Total HT : {_money(total)}",
            f"TVA 5,5 % : {_money(tva)}",
            f"Total TTC : {_money(total + tva)}",
            "Acompte de 30 % à la signature, solde à la réception des travaux.",
            "Garantie décennale AXA n° 4589 2210 7, assurance responsabilité civile.",
            "Bon pour accord, date et signature du client précédées de la mention manuscrite.",
        ]
        # Legal footer in small print (7 pt), where quotes often put the SIRET and the RCS number.
        lines += [
            FOOTER_MARK + f"SARL au capital de 20 000 € - RCS {city} B {siret[:9]} - "
            f"TVA FR{rng.randint(10, 99)}{siret[:9]}",
            FOOTER_MARK + f"Code APE 4322B - Assurance décennale n° {rng.randint(100000, 999999)} - "
            "IBAN FR76 3000 4000 0312 3456 7890 143",
        ]
        out.append(lines)
    return out


def find_font() -> Path:
    for candidate in FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    raise SystemExit(
        "no DejaVuSans.ttf found; install it: apt-get install -y fonts-dejavu-core"
    )


def plain(lines: list[str]) -> str:
    """The known text of a page (drawing markers removed)."""
    return "\n".join(line.removeprefix(FOOTER_MARK) for line in lines)


def draw_page(lines: list[str], font: ImageFont.FreeTypeFont, size: tuple[int, int] = A4) -> Image.Image:
    page = Image.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    small = font.font_variant(size=round(font.size * FOOTER_PT / FONT_PT))
    line_height = int(font.size * 1.55)
    y = MARGIN
    for line in lines:
        if line.startswith(FOOTER_MARK):
            draw.text((MARGIN, y), line.removeprefix(FOOTER_MARK), font=small, fill=0)
            y += int(small.size * 1.5)
            continue
        if line:
            draw.text((MARGIN, y), line, font=font, fill=0)
        y += line_height
    return page


def scanned(page: Image.Image, rng: random.Random) -> Image.Image:
    """What a cheap office scanner makes of a printed page: grey paper, slight skew, blur, noise."""
    angle = rng.uniform(-0.8, 0.8)
    out = page.rotate(angle, resample=Image.Resampling.BILINEAR, expand=False, fillcolor=255)
    out = out.filter(ImageFilter.GaussianBlur(0.9))
    out = out.point(lambda v: 40 + v * 195 // 255)  # grey paper (235), ink ~40
    noisy = _add(out, Image.effect_noise(out.size, 14))
    # a few specks
    draw = ImageDraw.Draw(noisy)
    for _ in range(400):
        x, y = rng.randrange(out.size[0]), rng.randrange(out.size[1])
        draw.point((x, y), fill=rng.choice((0, 60)))
    return noisy


def _add(image: Image.Image, noise: Image.Image) -> Image.Image:
    """image + (noise - 128), clipped: effect_noise is centred on 128."""
    return ImageChops.add(image, noise.convert("L"), 1.0, -128)


@dataclass
class Inputs:
    scan_pdf: Path
    scan_text: list[str]
    photo: Path
    photo_text: str
    small: Path
    small_text: str
    big_pdf: Path | None = None


def build(out: Path, pages: int = 6) -> Inputs:
    out.mkdir(parents=True, exist_ok=True)
    font = ImageFont.truetype(str(find_font()), int(FONT_PT * DPI / 72))
    rng = random.Random(42)
    texts = quote_pages(pages)
    images = [scanned(draw_page(lines, font), rng) for lines in texts]
    scan_pdf = out / "scan.pdf"
    images[0].save(
        scan_pdf, "PDF", resolution=DPI, save_all=True, append_images=images[1:], quality=75
    )

    # Phone photo: 4032 x 3024 landscape sensor held upright (3024 x 4032), the page covering ~80%,
    # slightly turned, uneven lighting, RGB JPEG.
    photo_lines = texts[0]
    page = draw_page(photo_lines, font)
    page = page.rotate(2.0, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    target_h = int(4032 * 0.86)
    page = page.resize((int(page.size[0] * target_h / page.size[1]), target_h), Image.Resampling.LANCZOS)
    canvas = Image.new("L", (3024, 4032), 90)
    canvas.paste(page, ((3024 - page.size[0]) // 2, (4032 - page.size[1]) // 2))
    light = Image.linear_gradient("L").resize(canvas.size).point(lambda v: 255 - v // 4)
    lit = ImageChops.multiply(canvas, light)
    lit = _add(lit, Image.effect_noise(lit.size, 10)).filter(ImageFilter.GaussianBlur(1.1))
    photo = out / "photo.jpg"
    Image.merge("RGB", [lit, lit, lit.point(lambda v: v * 92 // 100)]).save(photo, "JPEG", quality=85)

    # Small one-page image: a 4-line snippet (an email attachment crop), 150 dpi-ish.
    small_font = ImageFont.truetype(str(find_font()), 22)
    small_lines = texts[0][:4]
    small_img = Image.new("L", (1100, 200), 255)
    draw = ImageDraw.Draw(small_img)
    for i, line in enumerate(small_lines):
        draw.text((20, 20 + i * 40), line, font=small_font, fill=0)
    small = out / "small.png"
    small_img.save(small)

    return Inputs(
        scan_pdf=scan_pdf,
        scan_text=[plain(lines) for lines in texts],
        photo=photo,
        photo_text=plain(photo_lines),
        small=small,
        small_text=plain(small_lines),
    )


def build_big_pdf(out: Path, target_mb: int = 100) -> Path:
    """A ~target_mb image-only PDF of many noisy pages (for the streaming-memory measure)."""
    path = out / f"big-{target_mb}mb.pdf"
    if path.exists() and path.stat().st_size >= target_mb * 1024 * 1024:
        return path
    rng = random.Random(3)
    # Random noise does not compress: each 1600x1600 grey JPEG at q=95 is ~2.5 MB.
    frames: list[Image.Image] = []
    size = 0
    while size < target_mb * 1024 * 1024:
        frame = Image.effect_noise((1600, 1600), 60 + rng.randint(0, 20)).convert("L")
        frames.append(frame)
        size += 2_500_000
    frames[0].save(path, "PDF", resolution=150, save_all=True, append_images=frames[1:], quality=95)
    return path
