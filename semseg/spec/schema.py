"""The JSON Schema of the spec format, generated from the pydantic model (never hand-written)."""

from __future__ import annotations

from typing import Any

from semseg.spec.model import Spec

SCHEMA_ID = "https://semseg.dev/schema/spec-v1.json"


def spec_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) for ``segment_specs/*.yml``; keys as written in YAML."""
    schema = Spec.model_json_schema(by_alias=True, mode="validation")
    # pydantic describes dict[Identifier, X] with patternProperties only; names that break the
    # pattern must be rejected too, as the model does.
    for prop in schema["properties"].values():
        if "patternProperties" in prop:
            prop["additionalProperties"] = False
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "semseg segment spec",
        **schema,
    }
