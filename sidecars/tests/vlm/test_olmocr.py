"""olmOCR's post-processing on recorded-style answers, through the real engine loop with a scripted
backend: front matter parsing, rotation retry, temperature ladder, fallback."""

from __future__ import annotations

import pytest
from PIL import Image

from mdso_sidecar.engines.olmocr import PROMPT_0825, PROMPT_V4, TEMPERATURES, OlmocrEngine
from mdso_sidecar.engines.olmocr_output import FrontMatterError, parse_answer
from mdso_sidecar.engines.vlm.backend import Generation
from mdso_sidecar.errors import ModelAnswerInvalid
from mdso_sidecar.settings import load_settings

from .conftest import ScriptedBackend

VALID = (
    "---\nprimary_language: fr\nis_rotation_valid: True\nrotation_correction: 0\nis_table: False\n"
    "is_diagram: False\n---\nDevis n° 117\n\nPompe à chaleur\n"
)
ROTATED = (
    "---\nprimary_language: null\nis_rotation_valid: false\nrotation_correction: 90\nis_table: false\n"
    "is_diagram: false\n---\n"
)
GARBAGE = "quQu�* quQu img tr f"


def engine(answers: list[Generation], **env: str) -> tuple[OlmocrEngine, ScriptedBackend]:
    olmocr = OlmocrEngine(load_settings("olmocr", env))
    backend = ScriptedBackend(answers)
    olmocr.backend = backend
    return olmocr, backend


def stop(text: str) -> Generation:
    return Generation(text=text, finish_reason="stop")


def test_parse_valid_answer() -> None:
    answer = parse_answer(VALID)
    assert answer.text == "Devis n° 117\n\nPompe à chaleur"
    assert answer.meta() == {
        "primary_language": "fr",
        "is_rotation_valid": True,
        "rotation_correction": 0,
        "is_table": False,
        "is_diagram": False,
    }


@pytest.mark.parametrize(
    "answer",
    [
        GARBAGE,
        "---\nprimary_language: en\n---\ntext",  # fields missing
        VALID.replace("rotation_correction: 0", "rotation_correction: 45"),
        VALID.replace("is_table: False", "is_table: maybe"),
        VALID.replace("is_diagram: False\n---", "is_diagram: False\nnotes: x\n---"),
    ],
)
def test_parse_refuses_invalid(answer: str) -> None:
    with pytest.raises(FrontMatterError):
        parse_answer(answer)


def test_valid_answer_first_try(portrait: Image.Image) -> None:
    olmocr, backend = engine([stop(VALID)])
    page = olmocr.recognize_page(portrait, {})
    assert page.text == "Devis n° 117\n\nPompe à chaleur"
    assert page.source == "ocr" and page.rotation == 0
    assert page.meta is not None and page.meta["primary_language"] == "fr" and page.meta["attempts"] == 1
    (request,) = backend.requests
    assert request.prompt == PROMPT_V4 and request.system is None and not request.image_first
    assert request.temperature == 0.1 and request.max_new_tokens == 8000


def test_rotation_correction_turns_the_page_and_retries(portrait: Image.Image) -> None:
    olmocr, backend = engine([stop(ROTATED), stop(VALID)])
    page = olmocr.recognize_page(portrait, {})
    assert backend.sizes == [(910, 1288), (1288, 910)]  # re-rendered turned
    assert page.rotation == 270  # 90° counter-clockwise = 270° clockwise
    assert page.meta is not None and page.meta["attempts"] == 2
    assert [r.temperature for r in backend.requests] == [0.1, 0.1]


def test_temperature_ladder_then_fallback(portrait: Image.Image) -> None:
    truncated = Generation(text=VALID[:40], finish_reason="length")
    answers = [truncated, stop(GARBAGE)] * 4
    olmocr, backend = engine(answers)
    page = olmocr.recognize_page(portrait, {})
    assert [r.temperature for r in backend.requests] == list(TEMPERATURES)
    assert page.source == "fallback:tesseract"
    assert page.meta is not None and page.meta["attempts"] == 8
    assert "invalid front matter" in page.meta["fallback_reason"]


def test_ladder_recovers_midway(portrait: Image.Image) -> None:
    olmocr, backend = engine([stop(GARBAGE), stop(GARBAGE), stop(VALID)])
    page = olmocr.recognize_page(portrait, {})
    assert page.source == "ocr" and page.meta is not None and page.meta["attempts"] == 3
    assert [r.temperature for r in backend.requests] == [0.1, 0.1, 0.2]


def test_no_fallback_fails_the_page(portrait: Image.Image) -> None:
    olmocr, _ = engine([stop(GARBAGE)] * 3, OLMOCR_MAX_ATTEMPTS="3", OLMOCR_FALLBACK="none")
    with pytest.raises(ModelAnswerInvalid, match="3 answer"):
        olmocr.recognize_page(portrait, {})


def test_older_model_gets_its_prompt(portrait: Image.Image) -> None:
    olmocr, backend = engine([stop(VALID)], OLMOCR_MODEL="allenai/olmOCR-7B-0825")
    olmocr.recognize_page(portrait, {})
    assert backend.requests[0].prompt == PROMPT_0825
    assert "tables to markdown" in PROMPT_0825 and "figures" not in PROMPT_0825
