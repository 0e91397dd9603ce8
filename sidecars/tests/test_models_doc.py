"""docs/MODELS.md follows the engines' WEIGHTS plans: its table of services, sources and sizes, its
layout of MODEL_DIR, the <SERVICE>_MODEL defaults and the "weights missing" example are read from the
page and compared with what the engines declare, so changing one without the other fails here."""

from __future__ import annotations

import re

import pytest

from mdso_sidecar.download import KNOWN_SERVICES, weights_plan
from mdso_sidecar.engines.marker import MarkerEngine
from mdso_sidecar.errors import EngineUnavailable
from mdso_sidecar.models import HubWeights, StoreWeights
from mdso_sidecar.settings import load_settings

from .conftest import REPO

DOC = (REPO / "docs" / "MODELS.md").read_text()
HUB_ID = re.compile(r"`([\w.-]+/[\w.-]+)`")


def section(title: str) -> str:
    """The text of `## title` up to the next `## ` heading."""
    start = DOC.index(f"\n## {title}\n")
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end >= 0 else len(DOC)]


def code_block(text: str) -> list[str]:
    """The lines of the first fenced block in `text`."""
    fenced = re.search(r"^```[^\n]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert fenced, "no code block"
    return fenced.group(1).splitlines()


def table(first_header: str) -> dict[str, list[str]]:
    """The markdown table whose first header cell is `first_header`: {first cell: other cells}."""
    rows: dict[str, list[str]] = {}
    lines = iter(DOC.splitlines())
    for line in lines:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_header:
            next(lines)  # the |---| line
            for row in lines:
                if not row.startswith("|"):
                    return rows
                first, *rest = (cell.strip() for cell in row.strip().strip("|").split("|"))
                rows[first.strip("`")] = rest
    raise AssertionError(f"no table headed {first_header!r} in docs/MODELS.md")


def test_the_table_lists_every_service_with_its_plan() -> None:
    rows = table("service")
    assert sorted(rows) == sorted(KNOWN_SERVICES), "one row per service of the registry"
    for service, (fetched, download, _gpu) in rows.items():
        weights = weights_plan(service)
        if weights is None:
            assert fetched.startswith("nothing") and download == "—", service
        elif isinstance(weights, HubWeights):
            ids = HUB_ID.findall(fetched)
            assert ids and ids[0] == weights.default.repo_id, f"{service}: the default model first"
            assert set(ids) <= set(weights.ids), f"{service}: {ids} not all in {weights.ids}"
            assert download == f"~{weights.default.approx_size}", service
        else:
            assert isinstance(weights, StoreWeights)
            assert f"{weights.package}'s" in fetched, f"{service}: names {weights.package}"
            listed = re.search(r"checkpoints \(([^)]*)\)", fetched)
            assert listed and len(listed.group(1).split(", ")) == len(weights.checkpoints), service
            assert download.startswith(f"~{weights.approx_size} "), service


def test_the_layout_is_where_the_plans_put_the_weights() -> None:
    entries: dict[str, list[str]] = {}
    descriptions: dict[str, str] = {}
    for line in code_block(section("Layout"))[1:]:  # below $MODEL_DIR/
        name, _, description = line.strip().partition(" ")
        if line.startswith("    "):
            entries[list(entries)[-1]].append(name)
        else:
            entries[name], descriptions[name] = [], description.strip()
    expected: dict[str, list[str]] = {}
    for service in KNOWN_SERVICES:
        weights = weights_plan(service)
        if isinstance(weights, HubWeights):
            top = f"{service}/{weights.default.dir_name}/"
            expected[top] = []
            assert descriptions.get(top) == f"Hugging Face snapshot of {weights.default.repo_id}", top
        elif isinstance(weights, StoreWeights):
            checkpoints = [f"{checkpoint.path}/" for checkpoint in weights.checkpoints]
            expected[f"{service}/"] = checkpoints + [file.path for file in weights.files]
    assert entries == expected
    # A hub model lives under $MODEL_DIR/<service>/<last part of its id>/, wherever the page says so.
    examples = re.findall(r"`(\w+)_MODEL=([\w./-]+)`\s+uses\s+`\$MODEL_DIR/\w+/([^/`]+)/`", DOC)
    assert examples
    for service, model, directory in examples:
        weights = weights_plan(service.lower())
        assert isinstance(weights, HubWeights) and (hub := weights.find(model)) is not None, model
        assert directory == hub.dir_name


def test_model_settings_default_to_the_plans() -> None:
    variables = table("variable")
    for service in KNOWN_SERVICES:
        weights = weights_plan(service)
        if not isinstance(weights, HubWeights):
            continue
        default, meaning = variables[f"{service.upper()}_MODEL"]
        assert default == f"`{weights.default.repo_id}`", service
        for model in weights.models[1:]:  # the other models a service accepts are named too
            assert f"`{model.repo_id}`" in meaning, f"{service}: {model.repo_id} undocumented"


def test_missing_weights_example_is_the_engines_message() -> None:
    example = " ".join(code_block(section("When weights are missing")))
    model_dir = re.search(r"\(MODEL_DIR=(\S+)\)", example)
    assert model_dir, example
    engine = MarkerEngine(load_settings("marker", {"MODEL_DIR": model_dir.group(1)}))
    with pytest.raises(EngineUnavailable) as raised:
        engine.load()  # the weights are looked for before marker is imported
    assert str(raised.value) == example
