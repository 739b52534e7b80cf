"""The OpenAPI document's examples: real requests and answers, recorded by `python -m tests.examples_recorder`
into openapi_examples.json and put beside each operation's request body and responses when the document
is served."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from litestar import Request
from litestar.openapi.plugins import JsonRenderPlugin

EXAMPLES_FILE = Path(__file__).parent / "openapi_examples.json"
_METHODS = ("get", "put", "post", "delete", "patch")


def _examples(found: dict[str, Any]) -> dict[str, Any]:
    return {f"example{n}": {"summary": summary, "value": value} for n, (summary, value) in enumerate(found.items())}


def _ref(media: dict[str, Any]) -> str | None:
    ref = media.get("schema", {}).get("$ref")
    return ref if isinstance(ref, str) else None


def _by_schema(document: dict[str, Any], recorded: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Recorded answers by the schema they follow: an operation not seen answering some status shows what
    others answered in the same schema (an OrderView, or a problem of the same status)."""
    found: dict[str, dict[str, Any]] = {}
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            entry = recorded.get(f"{method.upper()} {path}")
            if entry is None or method not in item:
                continue
            for status, answers in entry["responses"].items():
                for media in item[method].get("responses", {}).get(status, {}).get("content", {}).values():
                    if (ref := _ref(media)) is not None:
                        key = f"{ref} {status}" if ref.endswith("/Problem") else ref
                        found.setdefault(key, {}).update(answers)
    return found


_PROBLEM_400 = {
    "description": "The body or a parameter could not be read",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


def _problems_for_litestars_400(document: dict[str, Any]) -> None:
    """Litestar documents a 400 of its own shape for any handler with parameters; ours answer problems."""
    for item in document.get("paths", {}).values():
        for method in _METHODS:
            responses = item.get(method, {}).get("responses", {})
            schema = responses.get("400", {}).get("content", {}).get("application/json", {}).get("schema", {})
            if schema.get("description") == "Validation Exception":
                responses["400"] = _PROBLEM_400


def add_examples(document: dict[str, Any], recorded: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Each JSON request body and response gets the examples recorded for its operation and status, else
    those recorded for its schema elsewhere."""
    _problems_for_litestars_400(document)
    by_schema = _by_schema(document, recorded)
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            entry = recorded.get(f"{method.upper()} {path}", {"requests": {}, "responses": {}})
            for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
                if "json" in media_type and entry["requests"] and not media.get("examples"):
                    media["examples"] = _examples(entry["requests"])
            for status, response in operation.get("responses", {}).items():
                for media_type, media in response.get("content", {}).items():
                    ref = _ref(media)
                    key = f"{ref} {status}" if ref is not None and ref.endswith("/Problem") else ref
                    answers = entry["responses"].get(status) or by_schema.get(key or "")
                    if "json" in media_type and answers and not media.get("examples"):
                        media["examples"] = _examples(answers)
    return document


class ExamplesJsonRenderPlugin(JsonRenderPlugin):
    """`/schema/openapi.json` with the recorded examples (added once, to the document Litestar caches)."""

    def __init__(self) -> None:
        super().__init__()
        self.recorded: dict[str, dict[str, Any]] = (
            json.loads(EXAMPLES_FILE.read_text(encoding="utf-8")) if EXAMPLES_FILE.exists() else {}
        )

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, add_examples(openapi_schema, self.recorded))
