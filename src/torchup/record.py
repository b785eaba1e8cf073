"""Frozen, keyword-only value classes that cost nothing to define.

``@dataclass`` writes each class's methods as source text and compiles it when the
module is imported, and ``dataclasses`` itself pulls in ``inspect``, ``ast`` and
``dis``: together about 30 ms of every ``torchup plan`` for the ~25 classes on its
path (issue 15).  ``@record`` gives those classes what they use of a frozen,
keyword-only dataclass -- ``__init__`` with defaults and ``field(default_factory=)``,
``__eq__``, ``__hash__``, ``__repr__``, assignment refused, a ``__post_init__`` check called
-- from shared functions,
with nothing compiled.  ``replace`` and ``fields`` work on records and dataclasses alike.
"""

from __future__ import annotations

from collections.abc import Callable

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:
    from typing import Any, TypeVar

    from typing_extensions import dataclass_transform

    T = TypeVar("T")
else:

    def dataclass_transform(**_kwargs):  # what type checkers read; nothing at run time
        return lambda fn: fn


__all__ = ["FrozenRecordError", "field", "fields", "record", "replace"]

_NAMES = "__record_fields__"  # the field names, in order
_SPEC = "__record_spec__"  # (names, required, name -> default, name -> factory, __post_init__ or None)


class FrozenRecordError(AttributeError):
    """Assigning to a field of a record (they are frozen, like ``FrozenInstanceError``)."""


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


def field(*, default_factory: Callable[[], Any]) -> Any:
    """A default made fresh for each instance (``field(default_factory=dict)``)."""
    return _Factory(default_factory)


def _init(self: Any, **values: Any) -> None:
    names, required, defaults, factories, post_init = getattr(type(self), _SPEC)
    if not names.issuperset(values):
        unknown = ", ".join(repr(n) for n in values if n not in names)
        raise TypeError(f"{type(self).__name__}() got unexpected keyword argument(s): {unknown}")
    if not required.issubset(values):
        missing = ", ".join(repr(n) for n in sorted(required - values.keys()))
        raise TypeError(f"{type(self).__name__}() missing keyword argument(s): {missing}")
    own = self.__dict__  # filled directly: the instance is frozen to everyone else
    own.update(defaults)
    for name, make in factories.items():
        if name not in values:
            own[name] = make()
    own.update(values)
    if post_init is not None:
        post_init(self)


def _values(self: Any) -> tuple:
    return tuple(getattr(self, name) for name in getattr(type(self), _NAMES))


def _eq(self: Any, other: Any) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self: Any) -> int:
    return hash(_values(self))


def _repr(self: Any) -> str:
    inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in getattr(type(self), _NAMES))
    return f"{type(self).__qualname__}({inner})"


def _setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenRecordError(f"cannot assign to field {name!r}")


def _delattr(self: Any, name: str) -> None:
    raise FrozenRecordError(f"cannot delete field {name!r}")


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
def record(cls: type[T]) -> type[T]:
    """Make ``cls`` (annotated fields, optional defaults; no record base) a frozen keyword-only value class."""
    names = tuple(cls.__dict__.get("__annotations__", {}))  # noqa: RUF063 -- inspect is what we avoid importing
    defaults: dict[str, Any] = {}
    factories: dict[str, Callable[[], Any]] = {}
    for name in names:
        if name in cls.__dict__:
            value = cls.__dict__[name]
            if isinstance(value, _Factory):
                factories[name] = value.make
            else:
                defaults[name] = value
            delattr(cls, name)  # the instance's own value is what getattr finds, not a class default
    setattr(cls, _NAMES, names)
    required = frozenset(names) - defaults.keys() - factories.keys()
    setattr(cls, _SPEC, (frozenset(names), required, defaults, factories, cls.__dict__.get("__post_init__")))
    methods = {"__init__": _init, "__eq__": _eq, "__hash__": _hash, "__setattr__": _setattr, "__delattr__": _delattr}
    if "__repr__" not in cls.__dict__:
        methods["__repr__"] = _repr
    for method, fn in methods.items():
        setattr(cls, method, fn)
    return cls


def fields(obj: Any) -> tuple[str, ...]:
    """The field names of a record or a dataclass (class or instance), in order."""
    cls = obj if isinstance(obj, type) else type(obj)
    names = getattr(cls, _NAMES, None)
    if names is not None:
        return names
    import dataclasses

    return tuple(f.name for f in dataclasses.fields(cls))


def replace(obj: T, **changes: Any) -> T:
    """A copy of ``obj`` (a record or a dataclass) with ``changes``."""
    names = getattr(type(obj), _NAMES, None)
    if names is None:
        import dataclasses

        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    unknown = set(changes) - set(names)
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field(s) {', '.join(sorted(unknown))}")
    return type(obj)(**{name: changes[name] if name in changes else getattr(obj, name) for name in names})
