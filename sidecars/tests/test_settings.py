"""Settings both sides read: the words of a boolean, the bounds of MAX_UPLOAD_MB/MAX_PAGES and LOG_LEVEL's
words come from settings.json, the file the gateway's config.ts reads, and are checked here with the same
table of values as test/unit/config.test.ts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mdso_sidecar.settings import (
    SHARED_SETTINGS_FILE,
    SettingsError,
    bool_setting,
    choice_setting,
    int_setting,
    load_settings,
)
from tests.conftest import REPO

SHARED: dict[str, Any] = json.loads(SHARED_SETTINGS_FILE.read_text(encoding="utf-8"))
VALUES: dict[str, list[str]] = json.loads((REPO / "test" / "fixtures" / "settings-values.json").read_text())
MESSAGES: dict[str, str] = SHARED["messages"]


def error_line(variable: str, problem: str, got: str) -> str:
    """The SettingsError text: the gateway's line less its "Invalid configuration: " and with a colon."""
    return f"{variable}: {problem} (got {json.dumps(got, ensure_ascii=False)})"  # JSON.stringify's


def test_the_gateway_reads_this_file() -> None:
    config_ts = (REPO / "gateway" / "src" / "config.ts").read_text()
    assert "'sidecars', 'mdso_sidecar', 'settings.json'" in config_ts
    assert SHARED_SETTINGS_FILE == REPO / "sidecars" / "mdso_sidecar" / "settings.json"


@pytest.mark.parametrize("raw", VALUES["true"])
def test_boolean_true_words(raw: str) -> None:
    assert bool_setting({"FLAG": raw}, "FLAG", False) is True


@pytest.mark.parametrize("raw", VALUES["false"])
def test_boolean_false_words(raw: str) -> None:
    assert bool_setting({"FLAG": raw}, "FLAG", True) is False


@pytest.mark.parametrize("raw", VALUES["invalid_boolean"])
def test_boolean_other_words_are_refused_in_the_gateways_words(raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        bool_setting({"FLAG": raw}, "FLAG", False)
    assert str(caught.value) == error_line("FLAG", MESSAGES["boolean"], raw)
    assert caught.value.variable == "FLAG"


def test_boolean_unset_or_blank_is_the_default() -> None:
    assert bool_setting({}, "FLAG", True) is True
    assert bool_setting({"FLAG": "  "}, "FLAG", False) is False


@pytest.mark.parametrize("name", ["MAX_UPLOAD_MB", "MAX_PAGES"])
def test_shared_bounds_are_the_gateways(name: str) -> None:
    spec = SHARED["variables"][name]
    low, high = spec["min"], spec["max"]

    def read(value: str | None) -> int:
        settings = load_settings("tesseract", {} if value is None else {name: value})
        return settings.max_pages if name == "MAX_PAGES" else settings.max_upload_bytes // (1024 * 1024)

    assert read(None) == spec["default"]
    assert read(str(low)) == low
    assert read(f" {high} ") == high
    problem = MESSAGES["whole_number"].replace("{min}", str(low)).replace("{max}", str(high))
    for raw in [str(low - 1), str(high + 1), *VALUES["invalid_whole_number"]]:
        with pytest.raises(SettingsError) as caught:
            read(raw)
        assert str(caught.value) == error_line(name, problem, raw)


def test_max_upload_mb_is_bounded_as_the_gateway_bounds_it() -> None:
    # It was 1..100000 here and 1..10240 in the gateway.
    assert SHARED["variables"]["MAX_UPLOAD_MB"]["max"] == 10_240
    with pytest.raises(SettingsError, match="MAX_UPLOAD_MB"):
        load_settings("tesseract", {"MAX_UPLOAD_MB": "10241"})


@pytest.mark.parametrize("raw", VALUES["invalid_whole_number"])
def test_whole_numbers_are_ascii_digits_as_in_the_gateway(raw: str) -> None:
    with pytest.raises(SettingsError, match=r"^OCR_THREADS: must be a whole number between 1 and 64 \(got "):
        int_setting({"OCR_THREADS": raw}, "OCR_THREADS", 4, 1, 64)


def test_whole_numbers_of_any_length() -> None:
    assert int_setting({"MAX_PAGES": "0" * 30 + "7"}, "MAX_PAGES", 1, 1, 100) == 7
    with pytest.raises(SettingsError, match="MAX_PAGES: must be a whole number between 1 and 100"):
        int_setting({"MAX_PAGES": "9" * 5000}, "MAX_PAGES", 1, 1, 100)


def test_log_level_words() -> None:
    spec = SHARED["variables"]["LOG_LEVEL"]
    python_names = {"error": "error", "warn": "warning", "info": "info", "debug": "debug"}
    assert load_settings("tesseract", {}).log_level == python_names[spec["default"]]
    for word in spec["choices"]:
        assert load_settings("tesseract", {"LOG_LEVEL": word.upper()}).log_level == python_names[word]
    for alias, meaning in spec["aliases"].items():
        assert load_settings("tesseract", {"LOG_LEVEL": alias}).log_level == python_names[meaning]
    with pytest.raises(SettingsError) as caught:
        load_settings("tesseract", {"LOG_LEVEL": "verbose"})
    problem = MESSAGES["choice"].replace("{choices}", ", ".join(spec["choices"]))
    assert str(caught.value) == error_line("LOG_LEVEL", problem, "verbose")


def test_choice_setting() -> None:
    assert choice_setting({"X_DEVICE": " CUDA "}, "X_DEVICE", ("auto", "cuda"), "auto") == "cuda"
    assert choice_setting({}, "X_DEVICE", ("auto", "cuda"), "auto") == "auto"
    with pytest.raises(SettingsError) as caught:
        choice_setting({"X_DEVICE": "tpu"}, "X_DEVICE", ("auto", "cuda"), "auto")
    assert str(caught.value) == 'X_DEVICE: must be one of auto, cuda (got "tpu")'
