"""identifiers.py: the checks on real and computed identifiers, each OCR confusion recovered, no
correction of a valid reading, no identifier read into phone numbers, amounts or dates, boxes over
the words, ambiguity reported rather than resolved; a real sidecar answers them per page with
format=json."""

from __future__ import annotations

from typing import Any

import pytest

from mdso_sidecar.identifiers import (
    Identifier,
    find_identifiers,
    find_in_text,
    iban_ok,
    siren_ok,
    siret_ok,
    tva_key,
    tva_ok,
)
from mdso_sidecar.layout import Block, Box, Line, PageLayout, Word

from .conftest import FIXTURES

# Public identifiers: Google France's SIRET, Qualit'EnR's (printed on its own rules), La Poste.
GOOGLE_SIRET = "73282932000074"
QUALITENR_SIRET = "48990736000049"
LA_POSTE_SIREN = "356000000"


def luhn_completed(prefix: str) -> str:
    """prefix + the one digit that makes its Luhn sum hold."""
    return next(prefix + d for d in "0123456789" if siret_ok(prefix + d) or siren_ok(prefix + d))


def fr_iban(bank: str, branch: str, account: str) -> str:
    """A French IBAN from its RIB: the RIB key makes it 0 mod 97, which makes the IBAN's key 76."""
    rib = int(bank + branch + account) * 100
    key = 97 - rib % 97
    return f"FR76{bank}{branch}{account}{key:02d}"


def grouped(value: str, sizes: tuple[int, ...]) -> str:
    out, at = [], 0
    for size in sizes:
        out.append(value[at:at + size])
        at += size
    return " ".join(out)


SIREN = luhn_completed("84139104")
SIRET = luhn_completed(SIREN + "0001")
TVA = f"FR{tva_key(SIREN)}{SIREN}"
IBAN = fr_iban("30006", "00001", "12345678901")


def only(text: str, kind: str) -> Identifier:
    found = [i for i in find_in_text(text) if i.kind == kind]
    assert len(found) == 1, found
    return found[0]


# -- checks ------------------------------------------------------------------------------------------


def test_checks_hold_on_real_and_computed_identifiers() -> None:
    assert siret_ok(GOOGLE_SIRET) and siren_ok(GOOGLE_SIRET[:9])
    assert siret_ok(QUALITENR_SIRET)
    assert siren_ok(SIREN) and siret_ok(SIRET)
    assert tva_ok(TVA) and tva_ok("FR44732829320")  # Google France's VAT number
    assert iban_ok(IBAN) and iban_ok("FR1420041010050500013M02606")  # letters in the account
    assert iban_ok("DE89370400440532013000")  # the ISO 13616 example
    assert not siret_ok("73282932000075") and not tva_ok("FR45732829320") and not iban_ok(IBAN[:-1] + "0")


def test_la_poste_sirets_sum_to_a_multiple_of_five_except_its_head_office() -> None:
    assert siren_ok(LA_POSTE_SIREN)
    assert siret_ok("35600000000048")  # head office: Luhn
    assert siret_ok("35600000000001")  # an establishment: 3+5+6+1 = 15, not Luhn-valid
    assert not siret_ok("35600000000014")
    found = only("SIRET : 356 000 000 00001", "siret")
    assert found.valid and found.check == "la-poste"


# -- readings ----------------------------------------------------------------------------------------


def test_a_quote_header_yields_every_identifier_valid_and_uncorrected() -> None:
    text = "\n".join([
        "ACME Rénovation SARL",
        "12 rue de la Paix, 75011 Paris",
        "Tél. 01 23 45 67 89 - contact@acme.fr",
        f"SIRET : {grouped(SIRET, (3, 3, 3, 5))}",
        f"N° TVA intracommunautaire : {TVA}",
        "Qualification RGE Qualibat n° E-E123456, valable jusqu'au 12/05/2026",
        f"IBAN {grouped(IBAN, (4, 4, 4, 4, 4, 4, 3))}   BIC CCBPFRPPXXX",
        f"SARL au capital de 12000 € - RCS Paris {grouped(SIREN, (3, 3, 3))} - Code APE 4322B",
        "Certificat QualiPAC QPAC/12345",
    ])
    found = find_in_text(text)
    assert [(i.kind, i.normalized) for i in found] == [
        ("postal_code", "75011"), ("siret", SIRET), ("tva_fr", TVA), ("rge", "E-E123456"), ("iban", IBAN),
        ("siren", SIREN), ("rge", "QPAC/12345"),
    ]
    for i in found:
        assert i.valid in (True, None) and i.candidates == () and not i.ambiguous, i
    assert [i.label for i in found] == [None, "SIRET", "TVA", "Qualibat", "IBAN", "RCS", "Qualit'EnR"]
    assert found[1].raw == grouped(SIRET, (3, 3, 3, 5))


@pytest.mark.parametrize(("shown", "letter"), [("O", "0"), ("I", "1"), ("l", "1"), ("|", "1"),
                                                ("S", "5"), ("B", "8"), ("Z", "2"), ("G", "6")])
def test_each_letter_for_digit_confusion_is_recovered(shown: str, letter: str) -> None:
    siret = luhn_completed(f"84{letter}3910400001")
    read = siret[:2] + shown + siret[3:]
    found = only(f"SIRET {read}", "siret")
    assert found.valid is False
    assert [c.value for c in found.candidates] == [siret] and not found.ambiguous
    assert found.candidates[0].edits == (f"{shown}→{letter} at 3",)


def test_several_letters_in_one_number_are_undone_together() -> None:
    read = SIRET.replace("0", "O")
    found = only(f"SIRET : {read}", "siret")
    assert found.normalized == read and [c.value for c in found.candidates] == [SIRET] and not found.ambiguous


def test_a_doubled_digit_read_once_offers_every_candidate_and_says_ambiguous() -> None:
    # 73282932000074 read with one of its zeros lost.
    found = only("SIRET : 732 829 320 0074", "siret")
    assert found.valid is False
    values = [c.value for c in found.candidates]
    assert GOOGLE_SIRET in values
    assert len(values) > 1 and found.ambiguous


def test_a_digit_read_twice_is_recovered() -> None:
    iban_read = IBAN[:10] + IBAN[9] + IBAN[10:]  # "…0000 1…" with one 0 read twice
    found = only(f"IBAN {iban_read}", "iban")
    assert found.valid is False
    assert IBAN in [c.value for c in found.candidates]
    tva_read = TVA[:6] + TVA[5] + TVA[6:]
    found = only(f"TVA : {tva_read}", "tva_fr")
    assert found.valid is False and TVA in [c.value for c in found.candidates]


def test_a_space_or_dot_inside_a_number_is_read_through() -> None:
    for shown in ("732 829 3 20 00074", "732.829.320.00074", "7328 2932000074"):
        found = only(f"SIRET : {shown}", "siret")
        assert found.normalized == GOOGLE_SIRET and found.valid and found.candidates == ()


def test_a_wrong_digit_is_flagged_and_not_corrected() -> None:
    found = only("SIRET : 732 829 320 00075", "siret")
    assert found.valid is False and found.candidates == ()
    found = only(f"N° TVA : FR{int(tva_key(SIREN)) % 97 + 1:02d}{SIREN}", "tva_fr")
    assert found.valid is False


def test_no_correction_is_offered_for_a_valid_reading() -> None:
    texts = (f"SIRET {SIRET}", f"TVA {TVA}", f"IBAN {IBAN}", f"RCS Lyon {SIREN}", f"SIREN {LA_POSTE_SIREN}")
    for text in texts:
        for found in find_in_text(text):
            assert found.valid and found.candidates == () and not found.ambiguous, found


# -- what is not an identifier -----------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "Tél. 01 23 45 67 89",
    "Tél : 0123456789 - Fax 01.23.45.67.89",
    "Service clients 09 69 32 15 15",
    "Total TTC 123 456 789,00 €",
    "Montant 1 234 567,89 € - Date : 12/05/2025 - Début des travaux : 03/11/2025",
    "N° client : 1 234 567 890 - N° de compte : 732829320000",
    f"PDL : {GOOGLE_SIRET}",
    "Facture n° 73 282 932 000",
    "Assurance décennale n° 123456",
    "Code APE 4322B",
    "Le 14 juillet 2025 à 10 h",
])
def test_phones_amounts_dates_and_other_numbers_are_not_identifiers(text: str) -> None:
    found = [i for i in find_in_text(text) if i.kind in ("siren", "siret", "tva_fr", "iban")]
    assert found == []


def test_an_unlabelled_number_is_reported_only_when_its_check_holds() -> None:
    shown = grouped(GOOGLE_SIRET, (3, 3, 3, 5))
    assert [i.kind for i in find_in_text(f"Entreprise ACME {shown}")] == ["siret"]
    assert find_in_text("Entreprise ACME 732 829 320 00075") == []


def test_postal_codes_need_a_departement() -> None:
    assert only("5 rue Haute, 20000 Ajaccio", "postal_code").valid  # Corsica
    assert only("Les Abymes 97139 Les Abymes", "postal_code").valid
    assert only("3 rue X 00123 Nulle-Part", "postal_code").valid is False


# -- page layouts ------------------------------------------------------------------------------------


def word(text: str, left: float, conf: float) -> Word:
    return Word(text, Box(left, 100, left + 10 * len(text), 130), conf)


def test_a_layout_identifier_spans_its_words_box_and_confidence() -> None:
    words = [word("SIRET", 50, 0.95), word(":", 110, 0.9)]
    x = 130.0
    for group, conf in zip(grouped(SIRET, (3, 3, 3, 5)).split(), (0.9, 0.8, 0.7, 0.6), strict=True):
        words.append(word(group, x, conf))
        x += 10 * len(group) + 12
    words.append(word("Paris", x + 40, 0.99))
    line = Line(tuple(words), Box.around(w.box for w in words), 0.8)
    layout = PageLayout(1000, 1400, (Block((line,), line.box),), "word")
    [found] = find_identifiers(layout)
    assert found.kind == "siret" and found.valid
    assert found.box == Box(130, 100, words[5].box.right, 130)
    assert found.conf == pytest.approx(0.75) and found.conf_min == pytest.approx(0.6)
    assert found.to_json()["box"] == [130, 100, round(words[5].box.right), 130]


def test_to_json_is_the_documented_shape() -> None:
    found = only("SIRET : 732 829 32O 00074", "siret")
    assert found.to_json() == {
        "kind": "siret", "raw": "732 829 32O 00074", "normalized": "73282932O00074", "valid": False,
        "check": "luhn", "label": "SIRET", "box": None, "conf": None, "conf_min": None,
        "candidates": [{"value": GOOGLE_SIRET, "edits": ["O→0 at 9"]}], "ambiguous": False,
    }


def test_a_sepa_creditor_id_is_not_a_vat_number() -> None:
    assert find_in_text("Référence unique de mandat ENE12345678 - ICS FR17ZZZ325841") == []
    assert find_in_text("Identifiant créancier FR17ZZZ325841") == []


# -- corroboration -----------------------------------------------------------------------------------


def test_a_wrong_digit_is_recovered_from_the_siren_read_elsewhere_on_the_page() -> None:
    siret_read = "732 829 328 00074"  # 0 read as 8: Luhn fails, no confusion explains it
    found = find_in_text(f"SIRET : {siret_read}\nN° TVA intracommunautaire : FR44732829320")
    siret = next(i for i in found if i.kind == "siret")
    assert siret.valid is False and siret.raw == siret_read
    assert [c.value for c in siret.candidates] == [GOOGLE_SIRET] and not siret.ambiguous
    assert siret.candidates[0].edits == ("SIREN as in the tva_fr FR44732829320",)


def test_corroboration_settles_an_ambiguity_and_fixes_a_vat_key() -> None:
    # SIRET 562 241 547 99091 with one of the two 2s of its SIREN lost; its VAT key misread.
    siret_true, siren_true = "56224154799091", "562241547"
    alone = only("SIRET : 562 415 479 9091", "siret")
    assert alone.ambiguous and len(alone.candidates) == 3
    assert siret_true in [c.value for c in alone.candidates]
    bad_key = f"{(int(tva_key(siren_true)) + 1) % 97:02d}"
    text = "\n".join(["SIRET : 562 415 479 9091", "RCS Paris 562 241 547", f"TVA FR{bad_key}{siren_true}"])
    siret, siren, tva = find_in_text(text)
    assert siren.valid and siret.valid is False and tva.valid is False
    assert siret.candidates[0].value == siret_true and not siret.ambiguous
    assert siret.candidates[0].edits[-1] == "SIREN as in the siren 562 241 547"
    assert len(siret.candidates) == 3  # the other restorations stay listed, after it
    assert [c.value for c in tva.candidates] == [f"FR{tva_key(siren_true)}{siren_true}"]


def test_corroboration_needs_a_valid_witness_close_enough() -> None:
    # Another company's SIREN (more than two digits away) lends nothing.
    found = find_in_text("SIRET : 732 829 328 00074\nClient : SIREN 841 391 049")
    siret = next(i for i in found if i.kind == "siret")
    assert siret.candidates == ()


def test_rge_numbers_in_their_shapes() -> None:
    assert only("RGE n. : E123456", "rge").normalized == "E123456"  # the client's own fixture quote
    assert find_in_text("Modèle E123456") == []  # without its label, E + digits is anything
    misread = only("Qualibat E-E12O456", "rge")
    assert misread.valid is None and [c.value for c in misread.candidates] == ["E-E120456"]


# -- a real reader's words --------------------------------------------------------------------------


def test_tesseract_words_give_the_identifiers_their_boxes() -> None:
    from PIL import Image, ImageDraw, ImageFont

    from mdso_sidecar.engines.tesseract import TesseractEngine

    from .conftest import loaded_engine

    image = Image.new("L", (1240, 600), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=40)
    drawn: dict[str, Box] = {}
    for text, y in (("SIRET : 732 829 320 00074", 120), ("TVA intracommunautaire : FR44732829320", 320)):
        draw.text((100, y), text, fill=0, font=font)
        number = text.split(" : ")[1]
        left = 100 + draw.textlength(text[: text.index(number)], font=font)
        drawn[number.replace(" ", "")] = Box(*draw.textbbox((left, y), number, font=font))
    layout = loaded_engine(TesseractEngine, "tesseract").recognize_page(image, {"format": "json"}).layout
    assert layout is not None
    found = {i.normalized: i for i in find_identifiers(layout)}
    assert set(found) == set(drawn)
    for value, box in drawn.items():
        i = found[value]
        assert i.valid and i.box is not None and i.conf is not None and 0 < i.conf_min <= i.conf <= 1
        # The union of the words' boxes is the drawn number's box, give or take a few pixels.
        for got, want in zip(i.box.to_json(), box.to_json(), strict=True):
            assert abs(got - want) <= 8, (value, i.box, box)


# -- the sidecar's answer ----------------------------------------------------------------------------


def test_format_json_pages_carry_their_identifiers(sidecar_factory: Any) -> None:
    sidecar = sidecar_factory()
    sidecar.wait_state("ready")
    data = (FIXTURES / "Devis_test.pdf").read_bytes()
    default = sidecar.client.post("/ocr", content=data).json()
    assert "identifiers" not in default["pages"][0]
    page = sidecar.client.post("/ocr", content=data, params={"format": "json"}).json()["pages"][0]
    found = {i["kind"]: i for i in page["identifiers"]}
    assert set(found) == {"postal_code", "rge", "tva_fr", "siret"}
    # The fixture's SIRET 12345678900000 and VAT number are placeholders: their checks fail, and
    # nothing one confusion away passes, so no candidate is offered.
    siret = found["siret"]
    assert (siret["normalized"], siret["valid"], siret["label"], siret["candidates"]) == (
        "12345678900000", False, "SIRET", [])
    assert found["tva_fr"]["valid"] is False and found["rge"]["normalized"] == "E123456"
    words = [w for b in page["layout"]["blocks"] for line in b["lines"] for w in line["words"]]
    [word] = [w for w in words if w["text"] == "12345678900000"]
    assert siret["box"] == word["box"] and 0 < siret["conf"] <= 1
    assert sidecar.stop() == 0


def test_a_damaged_number_after_its_label_is_reported_and_flagged() -> None:
    # Read on a phone photo of an eval quote: "RCS Toulouse 242 711 927" lost three digits.
    found = only("SARL au capital de 2000 € - RCS Toulouse 242 71 1 - Code APE 4322B", "siren")
    assert (found.normalized, found.valid, found.candidates) == ("242711", False, ())


def test_an_iban_cut_short_is_an_iban_failing_its_check() -> None:
    # Read on a phone photo of an eval quote whose right edge was out of the frame.
    found = find_in_text(r"\BAN FR76 3741 3831 2431 > de retard : 3 fois le taux légal.")
    assert [(i.kind, i.normalized, i.valid) for i in found] == [("iban", "FR76374138312431", False)]
    assert find_in_text("TVA FR76 374138312")[0].kind == "tva_fr"
