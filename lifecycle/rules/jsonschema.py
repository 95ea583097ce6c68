"""The rules file as a JSON Schema, for editors (`lifecycle schema`; README, Rules).

Made from the same pydantic models that validate the file, so a key added there is known
to the editor at once. Where the loader reads a value more freely than pydantic's own
schema would say (a duration such as `7d`, a zone name, one status or a list of them,
`passed` or `{within: 2h}`), the models carry the schema that says so (`WithJsonSchema`
in `schema`), and durations everywhere are written in the rules' grammar. The loader
stays the judge: an editor that knows this schema flags the common mistakes as you type.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import core_schema

from lifecycle.instant import DURATION_HINT, format_duration
from lifecycle.rules.schema import RulesFile

DURATION_JSON: dict[str, Any] = {
    "type": "string",
    # instant.parse_duration's grammar: units in this order, each at most once.
    "pattern": r"^\s*(?=\S)(\d+[wW])?(\d+[dD])?(\d+[hH])?(\d+[mM])?(\d+[sS])?\s*$",
    "description": DURATION_HINT,
    "examples": ["7d", "2h30m", "10m"],
}
DRAFT = "https://json-schema.org/draft/2020-12/schema"


class _RulesJsonSchema(GenerateJsonSchema):
    def timedelta_schema(self, schema: core_schema.TimedeltaSchema) -> dict[str, Any]:
        return dict(DURATION_JSON)

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, timedelta):
            return format_duration(dft).replace(" ", "")
        if isinstance(dft, BaseModel):
            dumped = dft.model_dump(by_alias=True, exclude_none=True)
            return {key: self.encode_default(value) for key, value in dumped.items()}
        return super().encode_default(dft)


def rules_json_schema() -> dict[str, Any]:
    schema = RulesFile.model_json_schema(schema_generator=_RulesJsonSchema)
    return {"$schema": DRAFT, **schema, "title": "lifecycle rules file"}
