"""`shared.mapping`: a Read or a view filled from a row's same-named attributes, the given
ones on top; a field the row lacks or a given name that is no field is an error, never a
default or a silent drop."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import pytest
from pydantic import BaseModel

from shared.mapping import read_of, view_of


class Colour(StrEnum):
    RED = "red"


class ThingRead(BaseModel):
    id: str
    colour: Colour
    size: float
    note: str | None = None


@dataclass(frozen=True)
class ThingView:
    id: str
    size: float
    tags: list[str] = field(default_factory=list)


class Row:
    def __init__(self, **attributes: object) -> None:
        self.__dict__.update(attributes)


class TestReadOf:
    def test_fields_are_read_by_name_and_validated_as_the_constructor_does(self) -> None:
        row = Row(id="t1", colour="red", size=2, note="n", extra="not a field")
        assert read_of(ThingRead, row) == ThingRead(id="t1", colour=Colour.RED, size=2.0, note="n")
        assert read_of(ThingRead, row).colour is Colour.RED

    def test_given_values_win_over_the_row(self) -> None:
        row = Row(id="t1", colour="red", size=2.0, note="n")
        assert read_of(ThingRead, row, note=None, size=3.5) == ThingRead(
            id="t1", colour=Colour.RED, size=3.5, note=None
        )

    def test_a_field_the_row_lacks_is_an_error_even_with_a_default(self) -> None:
        with pytest.raises(AttributeError, match="note"):
            read_of(ThingRead, Row(id="t1", colour="red", size=2.0))

    def test_a_given_name_that_is_no_field_is_an_error(self) -> None:
        with pytest.raises(TypeError, match=r"ThingRead has no field.*colur"):
            read_of(ThingRead, Row(id="t1", colour="red", size=2.0, note=None), colur="red")


class TestViewOf:
    def test_fields_are_read_by_name_with_given_ones_on_top(self) -> None:
        row = Row(id="t1", size=2.0, tags=["a"])
        assert view_of(ThingView, row) == ThingView("t1", 2.0, ["a"])
        assert view_of(ThingView, row, size=1.0) == ThingView("t1", 1.0, ["a"])

    def test_missing_and_unknown_names_are_errors(self) -> None:
        with pytest.raises(AttributeError, match="tags"):
            view_of(ThingView, Row(id="t1", size=2.0))
        with pytest.raises(TypeError, match=r"ThingView has no field.*colour"):
            view_of(ThingView, Row(id="t1", size=2.0, tags=[]), colour="red")
