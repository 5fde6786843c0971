"""JSON Schema (2020-12, as OpenAPI 3.1 uses it) of the TypedDicts in ``reports/json_types.py``.

The API's documents are those TypedDicts serialised, so their schema is derived from them rather than written a
second time by hand: a key added to a document is a key added to ``/api/v1/openapi.json``, and the property test
(every response conforms) holds the two together.

Mapping: ``str`` string, ``int`` integer, ``float`` number, ``bool`` boolean, ``None`` null, ``X | None`` a type
that also allows null, ``list[X]`` array, ``dict[str, X]`` object, ``Any`` anything; a nested TypedDict becomes
``{"$ref": "#/components/schemas/<Name>"}`` with its schema added to ``defs`` once. A key is required unless its
TypedDict is ``total=False`` or it is ``NotRequired`` (read from the annotation itself: under Python 3.11 with
postponed annotations, ``__required_keys__`` still lists ``NotRequired`` keys). Other keys are allowed: documents
of closed cycles are stored and shown as an older version wrote them.
"""

from __future__ import annotations

import types
import typing
from typing import Any, NotRequired, Required, Union

REF_PREFIX = "#/components/schemas/"

_SIMPLE: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def schema_of(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """The schema of type ``tp``; TypedDicts it reaches are added to ``defs`` (by class name) and referenced.

    Raises TypeError for a type this mapping does not cover (a new kind of annotation in ``json_types``)."""
    if tp is Any:
        return {}
    if tp in _SIMPLE:
        return {"type": _SIMPLE[tp]}
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (NotRequired, Required):
        return schema_of(args[0], defs)
    if origin in (Union, types.UnionType):
        if all(a in _SIMPLE for a in args):
            return {"type": [_SIMPLE[a] for a in args]}
        return {"anyOf": [schema_of(a, defs) for a in args]}
    if origin is list:
        return {"type": "array", "items": schema_of(args[0], defs)}
    if origin is dict:
        if args[0] is not str:
            raise TypeError(f"JSON object keys are strings, not {args[0]!r}")
        return {"type": "object", "additionalProperties": schema_of(args[1], defs)}
    if typing.is_typeddict(tp):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}  # a placeholder first, so a type that reaches itself again does not recurse forever
            defs[name] = typed_dict_schema(tp, defs)
        return {"$ref": REF_PREFIX + name}
    raise TypeError(f"no JSON schema for {tp!r}")


def typed_dict_schema(td: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """The object schema of one TypedDict: its keys in declaration order (bases first), which are required."""
    hints = typing.get_type_hints(td, include_extras=True)
    required = [
        key for key, hint in hints.items() if key in td.__required_keys__ and typing.get_origin(hint) is not NotRequired
    ]
    out: dict[str, Any] = {
        "type": "object",
        "properties": {key: schema_of(hint, defs) for key, hint in hints.items()},
    }
    if required:
        out["required"] = required
    doc = typing.cast(str | None, td.__doc__)
    if doc and not doc.startswith(f"{td.__name__}("):  # the functional form's generated docstring says nothing
        out["description"] = " ".join(doc.split())
    return out
