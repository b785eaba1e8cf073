"""torchup.record: what the plan path's value classes rely on, as a frozen keyword-only dataclass gives it."""

from dataclasses import dataclass

import pytest

from torchup.record import FrozenRecordError, field, fields, record, replace


@record
class Point:
    x: int
    y: int = 0
    tags: dict = field(default_factory=dict)

    def norm1(self) -> int:
        return abs(self.x) + abs(self.y)


def test_init_defaults_and_fresh_factories():
    a, b = Point(x=1), Point(x=2, y=3)
    assert (a.x, a.y, b.y, a.norm1(), b.norm1()) == (1, 0, 3, 1, 5)
    assert a.tags == {} and a.tags is not Point(x=1).tags
    assert fields(Point) == ("x", "y", "tags") == fields(a)


@pytest.mark.parametrize(
    "kwargs, message", [({}, "missing keyword argument.*'x'"), ({"x": 1, "z": 2}, "unexpected keyword argument.*'z'")]
)
def test_bad_arguments_are_type_errors(kwargs, message):
    with pytest.raises(TypeError, match=message):
        Point(**kwargs)
    with pytest.raises(TypeError):
        Point(1)  # keyword-only


def test_equality_hash_and_repr_come_from_the_fields():
    assert Point(x=1, y=2) == Point(x=1, y=2) != Point(x=1, y=3)
    assert Point(x=1) != (1, 0, {})
    assert repr(Point(x=1)) == "Point(x=1, y=0, tags={})"

    @record
    class Hashable:
        a: int
        b: str = "b"

    assert hash(Hashable(a=1)) == hash(Hashable(a=1)) and len({Hashable(a=1), Hashable(a=1), Hashable(a=2)}) == 2
    with pytest.raises(TypeError):
        hash(Point(x=1))  # a dict field is unhashable, as in a dataclass


def test_frozen():
    p = Point(x=1)
    with pytest.raises(FrozenRecordError):
        p.x = 2
    with pytest.raises(AttributeError):
        del p.y
    assert p.x == 1


def test_replace_works_on_records_and_dataclasses():
    p = Point(x=1, y=2)
    q = replace(p, y=5)
    assert (q.x, q.y, p.y) == (1, 5, 2)
    with pytest.raises(TypeError, match="no field"):
        replace(p, z=1)

    @dataclass(frozen=True)
    class Old:
        a: int

    assert replace(Old(a=1), a=2) == Old(a=2) and fields(Old) == ("a",)
