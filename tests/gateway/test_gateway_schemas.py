"""The HTTP shapes of a span, a usage and a cited passage stay in step with the canonical Structs.

`events.Span`, `events.TokenUsage` and `events.Citation` are what the log, the read models and the
SDK use; the gateway's pydantic models are their faces in the OpenAPI document (and in the types a
web app generates from it). These tests compare field names and types, so that a field added to
one side and forgotten on the other fails here rather than in a client.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from events import Citation, Span, TokenUsage
from gateway.routes import include_routers
from gateway.schemas import MessageCitationPublic, SpanPublic, UsagePublic


def _struct_fields(struct: type[msgspec.Struct]) -> dict[str, Any]:
    return {f.name: f.type for f in msgspec.structs.fields(struct)}


def _model_fields(model: type[BaseModel]) -> dict[str, Any]:
    return {name: field.annotation for name, field in model.model_fields.items()}


def _json_types(schema: dict[str, Any]) -> set[str]:
    """The JSON types a property schema allows (`$ref`s by their target's name)."""
    if "anyOf" in schema:
        return set().union(*(_json_types(option) for option in schema["anyOf"]))
    if "$ref" in schema:
        return {schema["$ref"].rsplit("/", 1)[-1]}
    return {schema["type"]}


def _properties(schema: dict[str, Any]) -> dict[str, set[str]]:
    return {name: _json_types(prop) for name, prop in schema["properties"].items()}


@pytest.mark.parametrize(
    ("model", "struct"), [(SpanPublic, Span), (UsagePublic, TokenUsage)], ids=["span", "usage"]
)
def test_the_public_models_have_the_structs_fields_and_types(model, struct):
    assert _model_fields(model) == _struct_fields(struct)


def test_a_public_citation_is_the_events_citation_with_its_span_gathered():
    citation = _struct_fields(Citation)
    public = _model_fields(MessageCitationPublic)
    span = _struct_fields(Span)
    # The flat span fields of the event travel as `span`; everything else keeps its name and type.
    assert public.pop("span") is SpanPublic
    assert public.pop("source_name") is str
    assert public == {name: kind for name, kind in citation.items() if name not in span}
    assert {name: citation[name] for name in span} == span


def test_every_span_and_usage_in_the_openapi_document_matches_the_structs():
    app = FastAPI()
    include_routers(app)
    schemas = app.openapi()["components"]["schemas"]
    _, components = msgspec.json.schema_components([Span, TokenUsage])
    canonical = {"SpanPublic": components["Span"], "UsagePublic": components["TokenUsage"]}
    # Every copy counts, wherever a route module defines one (the document then names it by
    # module, e.g. `gateway__routes__chat__SpanPublic`).
    seen = 0
    for name, schema in schemas.items():
        for suffix, struct_schema in canonical.items():
            if name == suffix or name.endswith(f"__{suffix}"):
                assert _properties(schema) == _properties(struct_schema), name
                assert list(schema["properties"]) == list(struct_schema["properties"]), name
                seen += 1
    assert seen >= 2
