"""The contract the sidecar prints for the gateway (`python -m mdso_sidecar --contract`): each engine's own
option declarations (OptionSpec), the page range, and every error type with its status, read from the
classes themselves; and the declarations' one generic validation (Engine.parse_options)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mdso_sidecar import errors
from mdso_sidecar.contract import contract
from mdso_sidecar.engines import SERVICES, engine_class
from mdso_sidecar.engines.base import OptionSpec
from mdso_sidecar.errors import BadOption, SidecarError
from mdso_sidecar.output_format import take_format
from mdso_sidecar.page_range import PAGE_RANGE_NAMES, PAGE_RANGE_PATTERN
from mdso_sidecar.settings import FALSE_WORDS, TRUE_WORDS, load_settings

from .conftest import SIDECARS
from .test_engines import HEAVY

# The command as the gateway runs it, reporting on stderr which heavy packages it imported.
_PRINT_CONTRACT = """
import json, sys
from mdso_sidecar.__main__ import main
code = main(["--contract"])
print(json.dumps(sorted(name for name in json.loads(sys.argv[1]) if name in sys.modules)), file=sys.stderr)
sys.exit(code)
"""


def test_printed_as_json_without_loading_a_model() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PRINT_CONTRACT, json.dumps(HEAVY)],
        cwd=SIDECARS,
        env={**os.environ, "PYTHONPATH": str(SIDECARS)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout) == contract()
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []


def test_every_service_with_its_engines_declarations() -> None:
    printed = contract()
    assert list(printed["services"]) == list(SERVICES)
    for name, service in printed["services"].items():
        cls = engine_class(name)
        assert service == {"options": [s.describe() for s in cls.options], "formats": list(cls.formats)}, name
    by_name = {name: [o["name"] for o in s["options"]] for name, s in printed["services"].items()}
    assert by_name == {
        "tesseract": ["lang", "mode", "layout"],
        "rapidocr": [],
        "hybrid": ["lang", "mode", "layout"],
        "marker": ["force_ocr"],
        "nanonets": [],
        "olmocr": [],
    }
    assert printed["page_range"]["names"] == list(PAGE_RANGE_NAMES)
    assert printed["page_range"]["pattern"] == PAGE_RANGE_PATTERN
    assert printed["booleans"] == {"true": list(TRUE_WORDS), "false": list(FALSE_WORDS)}
    assert printed["format"]["choices"] == ["text", "json", "markdown", "hocr", "alto", "pdf"]
    offers_markdown = [name for name, s in printed["services"].items() if "markdown" in s["formats"]]
    assert offers_markdown == ["marker", "nanonets", "olmocr"]


def test_every_error_type_with_its_status() -> None:
    # Read from the classes, not their source text: every answered error class, under the type name it
    # is answered with (ServiceStarting is a ServiceUnavailable), with a status and when it happens.
    classes = [
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, SidecarError) and cls is not SidecarError
    ]
    listed = {e["type"]: e for e in contract()["errors"]}
    assert set(listed) == {cls.__name__ for cls in classes if cls.answered_as is None}
    assert "ServiceStarting" not in listed and errors.ServiceStarting.answered_as in listed
    for cls in classes:
        entry = listed[cls.answered_as or cls.__name__]
        assert entry["status"] == cls.status and 400 <= cls.status < 600, cls
    for entry in listed.values():
        assert entry["when"], f"{entry['type']} says when a client gets it"
    assert (listed["QueueFull"]["status"], listed["QueueFull"]["retry_after"]) == (503, 5)
    assert errors.ServiceStarting("x").to_json()["type"] == "ServiceUnavailable"


def test_option_kinds() -> None:
    enum = OptionSpec("size", "enum", doc="How big.", example="s", choices=("s", "m", "l"), default="m")
    assert enum.parse(" l ") == "l"
    with pytest.raises(BadOption, match="size 'xl': expected s, m or l") as bad:
        enum.parse("xl")
    assert bad.value.details == {"option": "size", "value": "xl", "accepted": ["s", "m", "l"]}
    flag = OptionSpec("flag", "bool", doc="On or off.", example="false")
    assert [flag.parse(word) for word in ("TRUE", "on", "1", "no", "Off")] == ["true"] * 3 + ["false"] * 2
    with pytest.raises(BadOption, match="flag 'maybe': expected true or false"):
        flag.parse("maybe")
    count = OptionSpec("count", "int", doc="How many.", example="3", minimum=1, maximum=10)
    assert count.parse("007") == "7"
    for bad_count in ["0", "11", "-1", "1.5", "", "9" * 30]:
        with pytest.raises(BadOption, match=r"count '.*': expected a whole number from 1 to 10"):
            count.parse(bad_count)
    text = OptionSpec("code", "str", doc="A code.", example="ab1", pattern="^[a-z0-9]{1,8}$")
    assert text.parse("ab1") == "ab1"
    with pytest.raises(BadOption, match=r"code 'AB': not of the expected form, e\.g\. ab1"):
        text.parse("AB")
    assert OptionSpec("note", "str", doc="Free text.", example="anything").parse("  x y ") == "x y"
    assert enum.describe() == {
        "name": "size",
        "type": "enum",
        "doc": "How big.",
        "example": "s",
        "default": "m",
        "choices": ["s", "m", "l"],
    }
    assert count.describe()["minimum"] == 1 and "pattern" not in count.describe()


@pytest.mark.parametrize(
    "declaration",
    [
        {"name": "size", "kind": "enum", "example": "s"},  # an enum without choices
        {"name": "size", "kind": "str", "example": "s", "choices": ("s",)},  # choices on a str
        {"name": "code", "kind": "str", "example": "a", "pattern": "[a-z]+"},  # not anchored
        {"name": "code", "kind": "bool", "example": "true", "pattern": "^.*$"},  # a pattern on a bool
        {"name": "count", "kind": "int", "example": "1", "minimum": 1},  # one bound
        {"name": "count", "kind": "int", "example": "1", "minimum": -5, "maximum": 5},  # negative
        {"name": "size", "kind": "enum", "example": "xl", "choices": ("s",)},  # an example it refuses
        {"name": "size", "kind": "enum", "example": "s", "choices": ("s",), "default": "m"},  # default too
        {"name": "page_range", "kind": "str", "example": "1"},  # the pipeline's
        {"name": "Size", "kind": "str", "example": "1"},  # not a query option name
    ],
)
def test_declarations_the_gateway_could_not_enforce_are_refused(declaration: dict[str, object]) -> None:
    with pytest.raises((ValueError, BadOption)):
        OptionSpec(doc="Something.", **declaration)  # type: ignore[arg-type]


def test_engines_validate_from_their_declarations() -> None:
    marker = engine_class("marker")(load_settings("marker", {}))
    assert marker.parse_options({"force_ocr": "No"}) == {"force_ocr": "false"}
    accepted = "unknown option 'lang'; marker accepts: page_range, format, force_ocr"
    with pytest.raises(BadOption, match=accepted) as bad:
        marker.parse_options({"lang": "fra"})
    assert bad.value.details == {"option": "lang", "accepted": ["page_range", "format", "force_ocr"]}
    olmocr = engine_class("olmocr")(load_settings("olmocr", {}))
    with pytest.raises(BadOption, match=r"olmocr accepts: page_range, format$"):
        olmocr.parse_options({"lang": "fra"})
    # format is the pipeline's (output_format.py), taken out before the engine parses its options.
    params = {"format": "docx"}
    expected = "format 'docx': expected one of text, json, markdown, hocr, alto, pdf"
    with pytest.raises(BadOption, match=expected):
        take_format(params, engine_class("nanonets").formats, "nanonets")
    params = {"format": "markdown", "lang": "fra"}
    with pytest.raises(BadOption, match="format=markdown is not offered by tesseract; it offers text, json"):
        take_format(params, engine_class("tesseract").formats, "tesseract")
    params = {"format": "markdown", "lang": "fra"}
    assert take_format(params, engine_class("nanonets").formats, "nanonets") == "markdown"
    assert params == {"lang": "fra"}
    with pytest.raises(BadOption, match="format=hocr is not available yet"):
        take_format({"format": "hocr"}, engine_class("tesseract").formats, "tesseract")
