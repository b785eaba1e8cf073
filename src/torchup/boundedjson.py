"""JSON that torchup did not just write itself (a doctor state, a catalog cache), read in bounded
time and memory: nesting, integers and runs of digits in strings have limits, and a value beyond
one is named by its path (``env.X[0]``) rather than crashing torchup deep inside.

The standard parser recurses once per nested list or object (``RecursionError`` near 1000 levels)
and CPython's ``int()`` refuses over 4300 digits and costs quadratic time below that.
"""

from __future__ import annotations

import json

from torchup.lazyre import lazy

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["MAX_DIGIT_RUN", "TooBig", "has_long_digit_run", "loads"]

MAX_DIGIT_RUN = 100  # no real text has more digits in a row; int() of 100 digits is cheap and allowed
_LONG_RUN = lazy(rf"\d{{{MAX_DIGIT_RUN + 1}}}")


class TooBig(ValueError):
    """The document is valid JSON beyond a limit; the message names where."""


class _LongInt(str):
    """An integer literal over the limit, kept as its text until the walk names its field."""


def loads(text: str, *, max_depth: int, max_digits: int = 20) -> Any:
    """``json.loads`` with limits: ``TooBig`` beyond one, ``ValueError`` when it is not JSON.

    ``max_digits`` bounds integers; a run of digits in a string or a key may be up to
    ``MAX_DIGIT_RUN`` long (versions in strings are converted to integers later).
    """
    try:
        data = json.loads(text, parse_int=lambda s: _LongInt(s) if len(s.lstrip("-")) > max_digits else int(s))
    except RecursionError:
        raise TooBig(f"nested over {max_depth} deep") from None
    problem = _problem(data, max_depth, max_digits)
    if problem:
        raise TooBig(problem)
    return data


def has_long_digit_run(text: str) -> bool:
    """Whether ``text`` holds over MAX_DIGIT_RUN digits in a row: a version no parser should be handed."""
    return _LONG_RUN.search(text) is not None


def _problem(data: Any, max_depth: int, max_digits: int) -> str | None:
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:  # not recursive: the depth is what is being checked
        value, where, depth = stack.pop()
        if isinstance(value, _LongInt):
            return f"{where or 'the document'}: an integer of {len(value)} digits (at most {max_digits})"
        if isinstance(value, str):
            if _LONG_RUN.search(value):
                return f"{where or 'the document'}: a number of over {MAX_DIGIT_RUN} digits in a string"
        elif isinstance(value, dict):
            if depth >= max_depth:
                return f"{where}: nested over {max_depth} deep"
            for k, v in value.items():
                if _LONG_RUN.search(k):
                    return f"{where or 'the document'}: a key with a number of over {MAX_DIGIT_RUN} digits"
                stack.append((v, f"{where}.{k}" if where else k, depth + 1))
        elif isinstance(value, list):
            if depth >= max_depth:
                return f"{where}: nested over {max_depth} deep"
            stack += [(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    return None
