"""Rows → API shapes: a `<Thing>Read` filled from the attributes of the same names on its row
(or any object), so a mapper writes down only what it renames, computes or converts."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

__all__ = ["read_of"]

ReadT = TypeVar("ReadT", bound=BaseModel)


def read_of(model: type[ReadT], source: object, **given: object) -> ReadT:
    """`model` validated from `given` and, for every other field, `source`'s attribute of the
    field's name. Every field is either given or read: a field `source` lacks is an
    `AttributeError`, never a silent default, and a given name that is no field a `TypeError`.
    The same validation as calling `model(...)` with every field by name."""
    fields = model.model_fields
    unknown = given.keys() - fields.keys()
    if unknown:
        raise TypeError(f"{model.__name__} has no field(s) {', '.join(sorted(unknown))}")
    return model.model_validate(
        {name: given[name] if name in given else getattr(source, name) for name in fields}
    )
