"""Turning validation findings into located `Problem`s that name the field and the fix.

Pydantic reports an error at a `loc` such as `("rules", 2, "match", "status")`; the
document knows where that path sits in the file. Messages start with the dotted path
(`rules[2].match.status: …`) so they read well after `FILE:LINE:COL:`.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable, Sequence, Sized
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from lifecycle.errors import Problem
from lifecycle.rules.document import Document, Mark, Path


def dotted(path: Path) -> str:
    """`("rules", 2, "match")` → `rules[2].match`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def problem_at(
    doc: Document,
    path: Path,
    message: str,
    *,
    file: str,
    at_key: bool = False,
    severity: str = "error",
) -> Problem:
    """A problem about `path`, located at its value (or its key), prefixed by the path."""
    found, place = doc.locate(path)
    mark: Mark = place.key if at_key and place.key is not None else place.value
    prefix = f"{dotted(found)}: " if found else ""
    return Problem(file, mark.line, mark.column, prefix + message, severity)


def from_validation(
    errors: Iterable[ErrorDetails], doc: Document, *, root: type[BaseModel], file: str
) -> list[Problem]:
    """One problem per pydantic error, located in `doc`."""
    return [_one(error, doc, root=root, file=file) for error in errors]


def _one(error: ErrorDetails, doc: Document, *, root: type[BaseModel], file: str) -> Problem:
    loc: Path = tuple(error["loc"])
    kind = error["type"]
    if kind == "missing":
        return problem_at(doc, loc[:-1], f"missing required key '{loc[-1]}'", file=file)
    if kind == "extra_forbidden":
        return _unknown_key(loc, doc, root=root, file=file)
    item = (error.get("ctx") or {}).get("item")
    if isinstance(item, int) and (*loc, item) in doc.places:
        loc = (*loc, item)
        found, place = doc.locate(loc)
        message = f"{dotted(found[:-1])}: {message_of(error)}"
        return Problem(file, place.value.line, place.value.column, message)
    return problem_at(doc, loc, message_of(error), file=file)


def _unknown_key(loc: Path, doc: Document, *, root: type[BaseModel], file: str) -> Problem:
    key = str(loc[-1])
    known = known_keys(root, loc[:-1])
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        hint = f" (did you mean '{close[0]}'?)"
    elif known:
        hint = f" (expected one of {', '.join(known)})"
    else:
        hint = ""
    return problem_at(doc, loc, f"unknown key '{key}'{hint}", file=file, at_key=True)


_PLAIN: dict[str, str] = {
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected a quoted string",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "set_type": "expected a list",
    "frozen_set_type": "expected a list",
    "dict_type": "expected a mapping (key: value)",
    "model_type": "expected a mapping (key: value)",
    "model_attributes_type": "expected a mapping (key: value)",
}


def message_of(error: ErrorDetails) -> str:
    """The human half of a pydantic error, without pydantic's boilerplate."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "rules":
        return str(ctx["message"])
    if kind == "calendar":  # lifecycle.rules.calendar's own messages
        return str(ctx["reason"])
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    if kind in _PLAIN:
        return f"{_PLAIN[kind]}, got {error['input']!r}"
    bounds = {
        "greater_than_equal": "must be at least {ge}",
        "greater_than": "must be more than {gt}",
        "less_than_equal": "must be at most {le}",
        "less_than": "must be less than {lt}",
        "too_short": "needs at least {min_length} item(s)",
        "too_long": "allows at most {max_length} items",
        "literal_error": "expected {expected}",
    }
    if kind == "too_long":
        # pydantic stops counting a mapping at the first entry past the limit
        actual = ctx.get("actual_length")
        if actual is None and isinstance(error["input"], Sized):
            actual = len(error["input"])
        return f"{bounds[kind].format(**ctx)}, got {actual}"
    if kind in bounds:
        return f"{bounds[kind].format(**ctx)}, got {error['input']!r}"
    msg = error["msg"]
    return msg[:1].lower() + msg[1:]


def known_keys(root: type[BaseModel], path: Sequence[str | int]) -> list[str]:
    """The keys the model at `path` (inside `root`) accepts; [] when it is not a model."""
    annotation: Any = root
    for part in path:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    model = _model_in(annotation)
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _step(annotation: Any, part: str | int) -> Any:
    model = _model_in(annotation)
    if model is not None:
        for name, field in model.model_fields.items():
            if part in (name, field.alias):
                return field.annotation
        return None
    inner = _unwrap(annotation)
    origin, args = get_origin(inner), get_args(inner)
    if origin in (list, tuple, set, frozenset) and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip `Annotated[...]` and `X | None` down to X when X is the only choice."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if origin in (Union, types.UnionType):
            choices = [a for a in get_args(annotation) if a is not type(None)]
            if len(choices) == 1:
                annotation = choices[0]
                continue
        return annotation


def _model_in(annotation: Any) -> type[BaseModel] | None:
    inner = _unwrap(annotation)
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return inner
    return None
