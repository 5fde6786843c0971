"""What keeps loading a big configuration fast and its validated models small.

Measured on a 50,000-endpoint config (bench/bench_config.py): a validated http ``Endpoint`` with its ``HttpCheck``
took 2.1 KB, of which 0.94 KB were the two models' ``__pydantic_fields_set__`` (the names of the fields the file
set: a 9-name set is 728 bytes), the same few sets over and over. ``shared_fields_sets`` leaves one of each.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, get_args

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the block, back on after (if it was on).

    A load builds hundreds of thousands of containers and frees none in cycles, so the collections their number
    sets off find nothing, yet each scans everything still young: libyaml's parse of a 50,000-endpoint config
    took 11.8 s with them and 0.9 s without. The collector is per process: another thread's collections wait
    too, for as long as the block (a few seconds at most); objects are still freed by reference counting.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_SHARED: dict[tuple[type, frozenset[str]], set[str]] = {}  # a handful: one per model class and set of names
_NESTED: dict[type, tuple[str, ...]] = {}  # per model class, the fields whose type has a model in it


def shared_fields_sets(model: M) -> M:
    """``model``, with its ``__pydantic_fields_set__`` and those of the models in its fields each replaced by the
    one shared set equal to it (kept here for the life of the process: a few per model class).

    For frozen models only (others are left alone), which never add to the set: pydantic copies it in
    ``model_copy``, ``copy`` and ``deepcopy``, leaves it out of ``==``, and reads it for ``exclude_unset`` and
    ``model_fields_set``, which answer as before. Used as an ``AfterValidator`` (document.py), so each endpoint's
    own sets are freed as soon as it is validated.
    """
    stack: list[BaseModel] = [model]
    while stack:
        one = stack.pop()
        cls = type(one)
        if cls.model_config.get("frozen"):
            fields = one.__pydantic_fields_set__
            shared = _SHARED.setdefault((cls, frozenset(fields)), fields)
            if shared is not fields:
                object.__setattr__(one, "__pydantic_fields_set__", shared)
        nested = _NESTED.get(cls)
        if nested is None:
            nested = _NESTED[cls] = tuple(n for n, f in cls.model_fields.items() if _has_model(f.annotation))
        values = one.__dict__
        for name in nested:
            value = values[name]
            if isinstance(value, BaseModel):
                stack.append(value)
            elif isinstance(value, tuple | list):
                stack.extend(v for v in value if isinstance(v, BaseModel))
    return model


def _has_model(annotation: Any) -> bool:
    """Whether a field's type is or holds a pydantic model (``X | None``, ``tuple[X, ...]``, ``Annotated[X, ...]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_has_model(arg) for arg in get_args(annotation))
