"""The OpenAPI document shows a realistic example for every JSON request body and response, and each
example is one the API really sent or answered (recorded by `python -m tests.examples_recorder`) and still
follows its schema."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
from litestar.testing import TestClient

Client = TestClient  # type: ignore[type-arg]


@pytest.fixture
def document(api: Client) -> dict[str, Any]:
    return dict(api.get("/schema/openapi.json").json())


def _media(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
                if "json" in media_type:
                    found.append((f"{method.upper()} {path} request", media))
            for status, response in operation.get("responses", {}).items():
                for media_type, media in response.get("content", {}).items():
                    if "json" in media_type and media.get("schema") != {"type": "null"}:
                        found.append((f"{method.upper()} {path} {status}", media))
    return found


def test_every_json_body_and_answer_has_an_example(document: dict[str, Any]) -> None:
    missing = [where for where, media in _media(document) if not media.get("examples")]
    assert not missing, missing


def test_every_example_follows_its_schema(document: dict[str, Any]) -> None:
    checked = 0
    for where, media in _media(document):
        schema = {**media["schema"], "components": document["components"]}
        validator = jsonschema_rs.Draft202012Validator(schema)
        for name, example in media.get("examples", {}).items():
            errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(example["value"])]
            assert not errors, f"{where} {name} ({example['summary']}): {errors[:3]}"
            checked += 1
    assert checked > 60


def test_examples_speak_vietnamese(document: dict[str, Any]) -> None:
    created = document["paths"]["/v1/orders"]["post"]["responses"]["201"]["content"]["application/json"]
    names = {example["value"]["procedure_name"] for example in created["examples"].values()}
    assert "Cấp bản sao trích lục hộ tịch" in names


def test_litestars_own_400_shape_is_not_documented(document: dict[str, Any]) -> None:
    for item in document["paths"].values():
        for operation in item.values():
            answer = operation.get("responses", {}).get("400", {})
            assert "application/json" not in answer.get("content", {}), answer
