"""Rows → API shapes and views: a `<Thing>Read` (pydantic) or a domain view (dataclass) filled
from the attributes of the same names on its row, or on any object, so that a mapper writes
down only what it renames, computes or converts."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["read_of", "view_of"]

ReadT = TypeVar("ReadT", bound=BaseModel)
ViewT = TypeVar("ViewT", bound="DataclassInstance")


def _values(names: list[str], kind: str, source: object, given: dict[str, Any]) -> dict[str, Any]:
    unknown = given.keys() - set(names)
    if unknown:
        raise TypeError(f"{kind} has no field(s) {', '.join(sorted(unknown))}")
    return {name: given[name] if name in given else getattr(source, name) for name in names}


def read_of(model: type[ReadT], source: object, **given: Any) -> ReadT:
    """`model` validated from `given` and, for every other field, `source`'s attribute of the
    field's name. Every field is either given or read: a field `source` lacks is an
    `AttributeError`, never a silent default, and a given name that is no field a `TypeError`.
    The same validation as calling `model(...)` with every field by name."""
    return model.model_validate(_values(list(model.model_fields), model.__name__, source, given))


def view_of(view: type[ViewT], source: object, **given: Any) -> ViewT:
    """`view`, a dataclass, built as `read_of` builds a model: `given`, and for every other
    field `source`'s attribute of that name."""
    names = [f.name for f in dataclasses.fields(view) if f.init]
    return view(**_values(names, view.__name__, source, given))
